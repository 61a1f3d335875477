"""Compiled (numba) kernels of the Gaussian mixtures: one fused sweep a tile.

The numpy kernels of :mod:`daskmix.gaussian.kernels` are the reference;
these compute the same statistics (to rounding) from the same
:class:`~daskmix.gaussian.kernels.GaussianPlan`, for the four E-step *forms*
(full, tied, diag, spherical: the ``form`` of a covariance object, which
every covariance model reuses), in one pass over the rows:

* rows are taken ``block`` at a time (256 for K*D = 80), transposed so that
  each row sits in a SIMD lane, shifted by the plan's centre;
* the E-step: full forms whiten with the K triangular factors (half the
  multiply-adds of a dense GEMM), tied with the shared one; diag and
  spherical sum ``prec (x - c_k)^2`` directly (no expanded form, so no
  cancellation);
* log-sum-exp with a vectorised exponential
  (:func:`daskmix._engine.jit.exp_inplace`);
* the statistics of the block (``nk``, ``s1``, upper triangle of ``s2``)
  while its rows are still in cache, added in float64.

Arithmetic is in the plan's dtype (float64, or float32 for the opt-in
float32 path of full covariances); log-probabilities, responsibilities and
statistics are float64. Row weights multiply the responsibilities, as in
the reference. Tiles with missing entries (``tile.mask``) and random
initial responsibilities are left to the numpy kernels (:func:`supports`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import blas

from .._engine.jit import c_rows, exp_inplace, jit, row_weights
from .._engine.stats import Stats
from .._engine.tiles import Tile

#: the E-step forms, as the kernels number them
FORMS = {"full": 0, "tied": 1, "diag": 2, "spherical": 3}
FULL, TIED, DIAG, SPHERICAL = 0, 1, 2, 3

#: what a sweep computes: EM statistics (posterior or hard responsibilities),
#: a score (log-likelihood and entropy), variational statistics (EM plus
#: ``sum r log r``), or each row's weighted log-probabilities
EM, NEAREST, SCORE, VARIATIONAL, ROWS = 0, 1, 2, 3, 4

#: temporaries of one block stay within this many values (L2 cache)
BLOCK_VALUES = 32_768


def supports(tile: Tile, plan) -> bool:
    """Whether the compiled kernels serve this tile under ``plan``."""
    return (
        plan.backend == "compiled"
        and type(tile.X) is np.ndarray  # not a device array
        and tile.mask is None
        and plan.resp_mode in ("posterior", "nearest")
    )


def block_rows(n_components: int, n_features: int, form: int) -> int:
    """Rows per block: the block's whitened rows, (K, D, block), fit the budget."""
    width = n_components * n_features if form == FULL else n_components + n_features
    rows = BLOCK_VALUES // max(width, 1)
    return int(min(256, max(16, rows - rows % 8)))


@jit
def _whiten(factors, offsets, xs, nb, out, squares):
    """``out[e] = sum_{d <= e} factors[e, d] xs[d] - offsets[e]``, and norms.

    ``factors`` is lower triangular (``U^T``, zeros above the diagonal), so the
    sums run four terms at a time past the diagonal at no cost in accuracy:
    four loads of ``xs`` per load and store of ``out``.
    """
    n_features = factors.shape[0]
    for b in range(nb):
        squares[b] = 0.0
    for e in range(n_features):
        offset = offsets[e]
        for b in range(nb):
            out[e, b] = -offset
        d = 0
        while d + 4 <= min(n_features, e + 4 - e % 4):
            t0 = factors[e, d]
            t1 = factors[e, d + 1]
            t2 = factors[e, d + 2]
            t3 = factors[e, d + 3]
            for b in range(nb):
                out[e, b] += (
                    t0 * xs[d, b]
                    + t1 * xs[d + 1, b]
                    + t2 * xs[d + 2, b]
                    + t3 * xs[d + 3, b]
                )
            d += 4
        while d <= e:
            t0 = factors[e, d]
            for b in range(nb):
                out[e, b] += t0 * xs[d, b]
            d += 1
        for b in range(nb):
            squares[b] += out[e, b] * out[e, b]


@jit
def _upper_products(left, right, nb, out):
    """``out[e, f] += sum_b left[e, b] right[f, b]`` for ``e <= f``.

    Two rows of each side at a time: four sums share four loads.
    """
    n_features = left.shape[0]
    for e in range(0, n_features, 2):
        e1 = min(e + 1, n_features - 1)
        for f in range(e, n_features, 2):
            f1 = min(f + 1, n_features - 1)
            a = 0.0
            b_ = 0.0
            c = 0.0
            d = 0.0
            for b in range(nb):
                le = left[e, b]
                le1 = left[e1, b]
                rf = right[f, b]
                rf1 = right[f1, b]
                a += le * rf
                b_ += le * rf1
                c += le1 * rf
                d += le1 * rf1
            out[e, f] += a
            if f1 > f:
                out[e, f1] += b_
            if e1 > e and e1 <= f:
                out[e1, f] += c
            if e1 > e and f1 > f:
                out[e1, f1] += d


@jit
def _shift_by_top(log_prob, n_components, n_rows, top, resp):
    """``top`` the largest of each row's K log-probabilities (first ``n_rows``
    columns), ``resp`` the log-probabilities less it: the log-sum-exp's
    exponents, each at most zero."""
    for b in range(n_rows):
        top[b] = log_prob[0, b]
    for k in range(1, n_components):
        for b in range(n_rows):
            v = log_prob[k, b]
            if v > top[b]:
                top[b] = v
    for k in range(n_components):
        for b in range(n_rows):
            resp[k, b] = log_prob[k, b] - top[b]


@jit
def _sweep(
    x,
    weight,
    center,
    transform,
    offsets,
    log_const,
    form,
    mode,
    block,
    nk,
    s1,
    s2,
    scalars,
    rows_out,
    added,
    resp_out,
):
    """E-step and statistics of the rows of ``x``, added into the outputs.

    ``transform`` is (K, D, D) ``U_k^T`` (full), (1, D, D) ``U^T`` (tied),
    (K, 1, D) precisions (diag), (K, 1, 1) precisions (spherical);
    ``offsets`` (K, D) as in the plan. ``s2`` is (K, D, D) (upper triangle),
    (1, D, D) (upper triangle), (K, 1, D) or (K, 1, 1). ``scalars`` gets
    ``[loglik, entropy or sum r log r]``. ``added`` (K, n), when not empty,
    is added to the log-probabilities (a regression's lines); ``resp_out``
    (K, n), when not empty, receives the (weighted) responsibilities.
    """
    n, n_features = x.shape
    n_components = offsets.shape[0]
    weighted = weight.shape[0] > 0
    xs = np.empty((n_features, block), dtype=center.dtype)
    if form == FULL:
        whitened = np.empty((n_components, n_features, block), dtype=center.dtype)
    elif form == TIED:
        whitened = np.empty((1, n_features, block), dtype=center.dtype)
    else:
        whitened = np.empty((1, 1, 1), dtype=center.dtype)
    maha = np.empty((n_components, block), dtype=center.dtype)
    log_prob = np.zeros((n_components, block))
    resp = np.zeros((n_components, block))
    resp_flat = resp.reshape(n_components * block)
    bits = np.empty(n_components * block, dtype=np.int64)
    top = np.empty(block)
    inv_total = np.empty(block)
    log_norm = np.empty(block)
    row_terms = np.empty(block)
    scratch = np.empty((n_features, block))
    no_offsets = np.zeros(n_features, dtype=center.dtype)
    loglik = 0.0
    extra = 0.0
    adding = added.shape[0] > 0
    keep_resp = resp_out.shape[0] > 0
    for start in range(0, n, block):
        nb = min(block, n - start)
        for b in range(nb):
            for d in range(n_features):
                xs[d, b] = x[start + b, d] - center[d]
        # ------------------------------------------------ squared distances
        if form == FULL:
            for k in range(n_components):
                _whiten(transform[k], offsets[k], xs, nb, whitened[k], maha[k])
        elif form == TIED:
            _whiten(transform[0], no_offsets, xs, nb, whitened[0], top)
            for k in range(n_components):
                for b in range(nb):
                    maha[k, b] = 0.0
                for e in range(n_features):
                    offset = offsets[k, e]
                    for b in range(nb):
                        v = whitened[0, e, b] - offset
                        maha[k, b] += v * v
        else:
            for k in range(n_components):
                for b in range(nb):
                    maha[k, b] = 0.0
                for d in range(n_features):
                    offset = offsets[k, d]
                    precision = transform[k, 0, d] if form == DIAG else 1.0
                    for b in range(nb):
                        v = xs[d, b] - offset
                        maha[k, b] += precision * v * v
                if form == SPHERICAL:
                    precision = transform[k, 0, 0]
                    for b in range(nb):
                        maha[k, b] *= precision
        for k in range(n_components):
            constant = log_const[k]
            for b in range(nb):
                log_prob[k, b] = constant - 0.5 * maha[k, b]
            if adding:
                for b in range(nb):
                    log_prob[k, b] += added[k, start + b]
        if mode == ROWS:
            for b in range(nb):
                for k in range(n_components):
                    rows_out[start + b, k] = log_prob[k, b]
            continue
        # ----------------------------------------------------- log-sum-exp
        _shift_by_top(log_prob, n_components, nb, top, resp)
        exp_inplace(resp_flat, bits)
        for b in range(nb):
            inv_total[b] = 0.0
        for k in range(n_components):
            for b in range(nb):
                inv_total[b] += resp[k, b]
        for b in range(nb):
            log_norm[b] = math.log(inv_total[b]) + top[b]
            inv_total[b] = 1.0 / inv_total[b]
        for k in range(n_components):
            for b in range(nb):
                resp[k, b] *= inv_total[b]
        if mode == SCORE:
            for b in range(nb):
                row_terms[b] = 0.0
            for k in range(n_components):
                for b in range(nb):
                    r = resp[k, b]
                    term = r * (log_prob[k, b] - log_norm[b])
                    row_terms[b] -= term if r > 0.0 else 0.0
            for b in range(nb):
                if weighted:
                    w = weight[start + b]
                    if w > 0.0:
                        loglik += w * log_norm[b]
                        extra += w * row_terms[b]
                else:
                    loglik += log_norm[b]
                    extra += row_terms[b]
            continue
        if mode == VARIATIONAL:
            for k in range(n_components):
                for b in range(nb):
                    r = resp[k, b]
                    term = r * (log_prob[k, b] - log_norm[b])
                    extra += term if r > 0.0 else 0.0
        if mode == NEAREST:
            for b in range(nb):
                best = 0
                for k in range(1, n_components):
                    if log_prob[k, b] > log_prob[best, b]:
                        best = k
                for k in range(n_components):
                    resp[k, b] = 1.0 if k == best else 0.0
        for b in range(nb):
            loglik += (weight[start + b] if weighted else 1.0) * log_norm[b]
        if weighted:
            for k in range(n_components):
                for b in range(nb):
                    resp[k, b] *= weight[start + b]
        if keep_resp:
            for k in range(n_components):
                for b in range(nb):
                    resp_out[k, start + b] = resp[k, b]
        # ------------------------------------------------------ statistics
        for k in range(n_components):
            total = 0.0
            for b in range(nb):
                total += resp[k, b]
            nk[k] += total
        if form == FULL:
            for k in range(n_components):
                for e in range(n_features):
                    total = 0.0
                    for b in range(nb):
                        v = resp[k, b] * whitened[k, e, b]
                        scratch[e, b] = v
                        total += v
                    s1[k, e] += total
                _upper_products(scratch, whitened[k], nb, s2[k])
        elif form == TIED:
            for k in range(n_components):
                for e in range(n_features):
                    total = 0.0
                    for b in range(nb):
                        total += resp[k, b] * whitened[0, e, b]
                    s1[k, e] += total
            for e in range(n_features):
                for b in range(nb):
                    w = weight[start + b] if weighted else 1.0
                    scratch[e, b] = w * whitened[0, e, b]
            _upper_products(scratch, whitened[0], nb, s2[0])
        else:
            for b in range(nb):
                row_terms[b] = 0.0
            for d in range(n_features):
                for b in range(nb):
                    v = xs[d, b] * xs[d, b]
                    scratch[d, b] = v
                    row_terms[b] += v
            for k in range(n_components):
                for d in range(n_features):
                    first = 0.0
                    second = 0.0
                    for b in range(nb):
                        first += resp[k, b] * xs[d, b]
                        second += resp[k, b] * scratch[d, b]
                    s1[k, d] += first
                    if form == DIAG:
                        s2[k, 0, d] += second
                if form == SPHERICAL:
                    total = 0.0
                    for b in range(nb):
                        total += resp[k, b] * row_terms[b]
                    s2[k, 0, 0] += total
    scalars[0] += loglik
    scalars[1] += extra


def normalize(log_prob, weight, mode, resp, scalars):
    """Responsibilities ``resp`` (K, n) of log-probabilities (K, n), float64.

    The log-sum-exp of the compiled sweep for log-probabilities computed
    elsewhere; ``weight`` from :func:`daskmix._engine.jit.row_weights`;
    ``scalars`` gets ``[loglik, entropy or sum r log r]`` added.
    """
    bits = np.empty(log_prob.size, dtype=np.int64)
    _normalize(log_prob, weight, mode, resp, bits, scalars)


@jit
def _normalize(log_prob, weight, mode, resp, bits, scalars):
    """Responsibilities of (K, n) log-probabilities, with the sweep's scalars.

    The log-sum-exp, scoring and hard-label steps of :func:`_sweep` for
    log-probabilities computed elsewhere (the BLAS path of wide full
    covariances). ``resp`` (K, n) receives the (weighted) responsibilities.
    """
    n_components, n = log_prob.shape
    weighted = weight.shape[0] > 0
    top = np.empty(n)
    inv_total = np.zeros(n)
    log_norm = np.empty(n)
    row_terms = np.zeros(n)
    _shift_by_top(log_prob, n_components, n, top, resp)
    exp_inplace(resp.reshape(n_components * n), bits)
    for k in range(n_components):
        for b in range(n):
            inv_total[b] += resp[k, b]
    for b in range(n):
        log_norm[b] = math.log(inv_total[b]) + top[b]
        inv_total[b] = 1.0 / inv_total[b]
    for k in range(n_components):
        for b in range(n):
            resp[k, b] *= inv_total[b]
    loglik = 0.0
    extra = 0.0
    if mode == SCORE or mode == VARIATIONAL:
        for k in range(n_components):
            for b in range(n):
                r = resp[k, b]
                term = r * (log_prob[k, b] - log_norm[b])
                row_terms[b] -= term if r > 0.0 else 0.0
    if mode == NEAREST:
        for b in range(n):
            best = 0
            for k in range(1, n_components):
                if log_prob[k, b] > log_prob[best, b]:
                    best = k
            for k in range(n_components):
                resp[k, b] = 1.0 if k == best else 0.0
    for b in range(n):
        w = weight[b] if weighted else 1.0
        if mode == SCORE:
            if w > 0.0:
                loglik += w * log_norm[b]
                extra += w * row_terms[b]
        else:
            loglik += w * log_norm[b]
            extra -= row_terms[b]
    if weighted and mode != SCORE:
        for k in range(n_components):
            for b in range(n):
                resp[k, b] *= weight[b]
    scalars[0] += loglik
    scalars[1] += extra


#: full covariances of at least this many features take the BLAS path
BLAS_MIN_FEATURES = 24


def _full_blas(
    x, weight, center, transform, offsets, log_const, mode, added=None, resp_out=None
):
    """The full form through BLAS: one GEMM whitens, K ``syrk`` take ``s2``.

    Wide factors (D >= :data:`BLAS_MIN_FEATURES`) make the whitening and the
    second moments level-3 work that BLAS does best. ``s2_k = Z^T Z`` with
    ``Z = sqrt(r_k) y_k`` is a rank-n update (``syrk``): half the
    multiply-adds of the GEMM of the numpy kernel.
    """
    n_components, n_features = offsets.shape
    n = x.shape[0]
    shifted = x - center
    # (n, K*D): row i holds y_1 ... y_K of row i
    stacked = transform.reshape(n_components * n_features, n_features)
    whitened = shifted @ stacked.T
    whitened -= offsets.reshape(-1)
    log_prob = np.empty((n_components, n))
    for k in range(n_components):
        y = whitened[:, k * n_features : (k + 1) * n_features]
        squares = np.einsum("nd,nd->n", y, y)
        log_prob[k] = log_const[k] - 0.5 * squares
    if added is not None:
        log_prob += added
    resp = np.empty((n_components, n)) if resp_out is None else resp_out
    scalars = np.zeros(2)
    bits = np.empty(n_components * n, np.int64)
    _normalize(log_prob, weight, mode, resp, bits, scalars)
    if mode in (SCORE, ROWS):
        return None, None, None, scalars, log_prob
    nk = resp.sum(axis=1)
    s1 = np.empty((n_components, n_features))
    s2 = np.empty((n_components, n_features, n_features))
    root = np.sqrt(resp)
    for k in range(n_components):
        y = whitened[:, k * n_features : (k + 1) * n_features]
        s1[k] = resp[k] @ y
        # float64 statistics, also of a float32 frame (root is float64)
        scaled = y * root[k][:, None]
        s2[k] = blas.dsyrk(1.0, scaled.T, trans=0, lower=0)
    return nk, s1, s2, scalars, log_prob


_NO_ROWS = np.empty((0, 0))


def _kernel_arrays(plan):
    """The plan's transform and offsets in the kernel's fixed shapes."""
    form = FORMS[plan.covariance.form]
    n_components = plan.n_components
    offsets = plan.offsets.reshape(n_components, -1)
    n_features = offsets.shape[1]
    shapes = {
        FULL: (n_components, n_features, n_features),
        TIED: (1, n_features, n_features),
        DIAG: (n_components, 1, n_features),
        SPHERICAL: (n_components, 1, 1),
    }
    transform = plan.transform.reshape(shapes[form])
    log_const = plan.log_const.astype(np.float64, copy=False)
    return form, c_rows(transform), c_rows(offsets), c_rows(log_const)


def sweep_tile(tile: Tile, plan, mode: int, weight=None, added=None, resp_out=None):
    """One sweep over ``tile``: (nk, s1, s2 in its form's shape, scalars).

    ``mode`` is one of :data:`EM`, :data:`NEAREST`, :data:`SCORE`,
    :data:`VARIATIONAL`; ``weight`` the rows' weights (tile,) or None.

    ``added`` (K, tile) float64 is added to the log-probabilities, and
    ``resp_out`` (K, tile) float64 receives the responsibilities (times the
    row weights), when given.
    """
    x = c_rows(tile.X)
    form, transform, offsets, log_const = _kernel_arrays(plan)
    n_components, n_features = offsets.shape
    nk = np.zeros(n_components)
    s1 = np.zeros((n_components, n_features))
    s2 = np.zeros(
        (
            1 if form == TIED else n_components,
            1 if form in (DIAG, SPHERICAL) else n_features,
            1 if form == SPHERICAL else n_features,
        )
    )
    if form == FULL and n_features >= BLAS_MIN_FEATURES:
        nk, s1, s2u, scalars, _ = _full_blas(
            x,
            row_weights(weight),
            plan.center,
            transform,
            offsets,
            log_const,
            mode,
            added,
            resp_out,
        )
        if nk is None:
            return nk, s1, s2u, scalars
        return nk, s1, s2u + np.swapaxes(np.triu(s2u, 1), -1, -2), scalars
    scalars = np.zeros(2)
    _sweep(
        x,
        row_weights(weight),
        c_rows(plan.center),
        transform,
        offsets,
        log_const,
        form,
        mode,
        block_rows(n_components, n_features, form),
        nk,
        s1,
        s2,
        scalars,
        _NO_ROWS,
        _NO_ROWS if added is None else c_rows(added),
        _NO_ROWS if resp_out is None else resp_out,
    )
    if form in (FULL, TIED):
        s2 = s2 + np.swapaxes(np.triu(s2, 1), -1, -2)
        if form == TIED:
            s2 = s2[0]
    elif form == DIAG:
        s2 = s2[:, 0, :]
    else:
        s2 = s2[:, 0, 0]
    return nk, s1, s2, scalars


def em_kernel(tile: Tile, plan) -> Stats:
    """Compiled :func:`daskmix.gaussian.kernels.em_kernel` (same statistics).

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D) and the row weights ``tile.weight`` (tile,) or
        None.
    plan : GaussianPlan
        With ``resp_mode`` 'posterior' or 'nearest'.

    Returns
    -------
    Stats
        ``nk`` (K,), ``s1``, ``s2`` (shapes per form), ``loglik``, ``n_rows``.
    """
    mode = NEAREST if plan.resp_mode == "nearest" else EM
    nk, s1, s2, scalars = sweep_tile(tile, plan, mode, tile.weight)
    return Stats(
        nk=nk,
        s1=s1,
        s2=s2,
        loglik=np.float64(scalars[0]),
        n_rows=tile.total_weight(),
    )


def variational_kernel(tile: Tile, plan) -> Stats:
    """Compiled :func:`daskmix.gaussian.variational.posterior.variational_kernel`.

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D).
    plan : GaussianPlan
        The variational plan.

    Returns
    -------
    Stats
        ``nk``, ``s1``, ``s2``, ``resp_log_resp``, ``loglik``, ``n_rows``.
    """
    nk, s1, s2, scalars = sweep_tile(tile, plan, VARIATIONAL)
    return Stats(
        nk=nk,
        s1=s1,
        s2=s2,
        resp_log_resp=np.float64(scalars[1]),
        loglik=np.float64(scalars[0]),
        n_rows=np.float64(tile.n_rows),
    )


def loglik_kernel(tile: Tile, plan) -> Stats:
    """Compiled :func:`daskmix.gaussian.model.loglik_kernel` (a scoring pass).

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D) and the row weights ``tile.weight`` or None.
    plan : GaussianPlan

    Returns
    -------
    Stats
        ``loglik``, ``entropy`` and ``n_rows`` (weighted sums with weights).
    """
    _, _, _, scalars = sweep_tile(tile, plan, SCORE, tile.weight)
    return Stats(
        loglik=np.float64(scalars[0]),
        entropy=np.float64(scalars[1]),
        n_rows=tile.total_weight(),
    )


def log_prob_rows(tile: Tile, plan) -> np.ndarray:
    """``log w_k + log N(x | mu_k, Sigma_k)`` of each row, (K, tile) float64.

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D).
    plan : GaussianPlan

    Returns
    -------
    ndarray of shape (K, tile)
    """
    x = c_rows(tile.X)
    form, transform, offsets, log_const = _kernel_arrays(plan)
    n_components, n_features = offsets.shape
    if form == FULL and n_features >= BLAS_MIN_FEATURES:
        *_, log_prob = _full_blas(
            x, row_weights(None), plan.center, transform, offsets, log_const, ROWS
        )
        return log_prob
    out = np.empty((x.shape[0], n_components))
    _sweep(
        x,
        row_weights(None),
        c_rows(plan.center),
        transform,
        offsets,
        log_const,
        form,
        ROWS,
        block_rows(n_components, n_features, form),
        np.zeros(n_components),
        np.zeros((n_components, n_features)),
        np.zeros((1, 1, 1)),
        np.zeros(2),
        out,
        _NO_ROWS,
        _NO_ROWS,
    )
    return out.T
