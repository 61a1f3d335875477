"""Gaussian mixtures through missing values: the masked E-step and statistics.

With ``GaussianMixture(missing="marginalize")`` a NaN in X is a missing
entry, taken as missing at random, and EM runs on the observed entries
(Ghahramani & Jordan 1994). For a row whose features ``o`` are observed and
``m`` missing, under component k with mean ``mu``, covariance ``S`` and
precision ``P = S^-1``:

* the E-step uses the marginal of the observed entries,
  ``log w_k + log N(x_o | mu_o, S_oo)``;
* the statistics take the missing entries at their conditional expectation
  and add their conditional covariance to the second moment.

Both come from the precision's missing block, which is small when few
entries are missing: with ``e`` the row's deviation from ``mu`` with zeros at
the missing entries and ``g = P e``, the conditional expectation of the
missing entries is ``mu_m - P_mm^-1 g_m``, their conditional covariance
``P_mm^-1``, the observed entries' Mahalanobis distance
``e^T P e - g_m^T P_mm^-1 g_m`` and ``log det S_oo = log det S + log det
P_mm`` (the Schur complements of a partitioned Gaussian).

One kernel serves every covariance model: it asks the covariance object for
the K precisions (:meth:`~daskmix.gaussian.covariance.Covariance.component_precisions`:
matrices, or diagonals where they are diagonal) and gives the expected
moments back to it
(:meth:`~daskmix.gaussian.covariance.Covariance.stats_from_moments`), which
expresses them in the frame its M-step reads (whitened per component,
whitened around the common shift, or around the common shift). The M-step,
and the stepwise re-framing, run unchanged.

* **Matrices** (full, tied and the models built on them). Every row with a
  gap goes through one batched GEMM, ``g = P_k e`` for all K at once, as in
  the ordinary E-step. The rows are then grouped by missingness pattern:
  for each pattern and component ``P_mm`` is factored once (Cholesky,
  batched over the patterns with the same number of missing entries), and
  each row needs only ``d_m``-sized products with its pattern's factor. The
  factors and their per-row copies are held for at most
  ``daskmix.missing.pattern-budget-bytes`` worth of rows at once, whatever
  the number of distinct patterns.
* **Diagonals** (diag, spherical). The features are conditionally
  independent: no factorisation and no grouping, three GEMMs over the
  zero-filled tile, as the diagonal kernel does.

Only the rows of a tile that have a gap come here: the others go through the
ordinary kernel (the caller's ``complete`` function), and a tile without a
NaN never reaches this module, so a fit of data without gaps is the fit with
``missing="error"``, bit for bit. The mask is computed from X inside the
kernel (:func:`masked`): the NaN are the mask, and a separate mask array would
be read, shipped and cut into mini-batch windows alongside X for nothing.

A row with no observed feature carries no information: it adds nothing to the
statistics, the log-likelihood or the row count; its responsibilities are
the mixing weights, its log-likelihood (of nothing) is 0 and its imputed
value the mixture mean.

Everything here is computed in float64, whatever the dtype of X.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from weakref import WeakKeyDictionary

import numpy as np

from .. import config
from .._engine.rows import RowBlocks
from .._engine.stats import Stats
from .._engine.tiles import Tile
from .._engine.workspace import FRESH, workspace
from ..cluster.seeding import sample_indices
from ..cluster.starts import kmeans_sample_size, weighted_sample
from .covariance import Covariance

LOG_2PI = np.log(2 * np.pi)


@dataclass(frozen=True)
class GapPlan:
    """What the masked kernel needs, float64, precomputed once per pass.

    Attributes
    ----------
    covariance : Covariance
        The covariance object (its form decides the statistics frame).
    center : ndarray of shape (D,)
        The common shift ``m`` the ordinary kernel applies (its float64 value).
    log_weights : ndarray of shape (K,)
    log_det_cholesky : ndarray of shape (K,)
        ``log det U_k = -1/2 log det S_k``.
    rel_means : ndarray of shape (K, D)
        The means less ``m``.
    precisions : ndarray of shape (K, D, D) or (K, D)
        Matrices, or diagonals where the covariances are diagonal.
    whiten : ndarray or None
        The statistics frame's whitening (``Covariance.whitening``).
    budget_bytes : int
        Bytes of per-pattern factors, and their per-row copies, held at once.
    """

    covariance: Covariance
    center: np.ndarray
    log_weights: np.ndarray
    log_det_cholesky: np.ndarray
    rel_means: np.ndarray
    precisions: np.ndarray
    whiten: np.ndarray | None
    budget_bytes: int

    @property
    def n_components(self) -> int:
        return self.log_weights.shape[0]


def gap_plan(
    cov: Covariance,
    weights: np.ndarray,
    means: np.ndarray,
    prec_chol: np.ndarray,
    center: np.ndarray,
) -> GapPlan:
    """The :class:`GapPlan` of a mixture, for the shift ``center`` (D,)."""
    n_components, n_features = means.shape
    center = np.asarray(center, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    log_det = np.broadcast_to(
        cov.log_det_cholesky(prec_chol, n_features), weights.shape
    )
    return GapPlan(
        cov,
        center,
        log_weights,
        np.array(log_det, dtype=np.float64),
        means - center,
        cov.component_precisions(prec_chol, n_components, n_features),
        cov.whitening(prec_chol),
        config.get("missing.pattern-budget-bytes"),
    )


def masked(tile: Tile, gaps: GapPlan | None) -> Tile:
    """The tile with its missing entries as ``tile.mask``, if it has any.

    ``gaps`` None (a fit that takes no missing values) or a tile without NaN
    give the tile back as it is; so does a tile that already has a mask.
    """
    if gaps is None or tile.mask is not None:
        return tile
    x = tile.X
    with np.errstate(all="ignore"):
        # one sum decides for the tiles without NaN
        if not np.isnan(np.sum(x)):
            return tile
    mask = np.isnan(x)
    if not mask.any():
        return tile
    return Tile({**tile.arrays, "mask": mask}, tile.start)


def _rows_of(tile: Tile, rows: np.ndarray) -> Tile:
    """The tile of some rows, without the mask (for the ordinary kernel)."""
    return Tile(
        {name: a[rows] for name, a in tile.arrays.items() if name != "mask"},
        tile.start,
    )


# ------------------------------------------------------------------ kernels
def em_kernel(tile: Tile, plan, complete: Callable[..., Stats]) -> Stats:
    """E-step and statistics of a tile with gaps (``tile.mask``).

    Parameters
    ----------
    tile : Tile
        With ``mask`` (tile, D); ``weight`` (tile,) optional.
    plan : GaussianPlan
        With ``gaps`` (a :class:`GapPlan`).
    complete : callable
        The ordinary kernel ``complete(tile, plan)``, run on the rows
        without a gap.

    Returns
    -------
    Stats
        The ordinary kernel's fields (``nk``, ``s1``, ``s2``, ``loglik``,
        ``n_rows``), in the covariance form's frame.
    """
    gappy = tile.mask.any(axis=1)
    rows = np.flatnonzero(gappy)
    weight = tile.weight
    stats = gap_stats(
        tile.X[rows],
        tile.mask[rows],
        None if weight is None else weight[rows],
        plan.gaps,
    )
    if rows.size < tile.n_rows:
        stats = complete(_rows_of(tile, ~gappy), plan) + stats
    return stats


def gap_stats(
    x: np.ndarray, mask: np.ndarray, weight: np.ndarray | None, gaps: GapPlan
) -> Stats:
    """Expected statistics of rows with gaps.

    Parameters
    ----------
    x : ndarray of shape (n, D)
        NaN where ``mask``.
    mask : ndarray of bool, shape (n, D)
    weight : ndarray of shape (n,) or None
    gaps : GapPlan

    Returns
    -------
    Stats
        ``nk``, ``s1``, ``s2``, ``loglik``, ``n_rows`` (rows with no observed
        feature left out).
    """
    cov = gaps.covariance
    n_components, n_features = gaps.rel_means.shape
    keep = ~mask.all(axis=1)
    if not keep.all():
        x, mask = x[keep], mask[keep]
        weight = None if weight is None else weight[keep]
    w = None if weight is None else weight.reshape(-1).astype(np.float64)
    xs = _zero_filled(x, mask, gaps.center)
    n_rows = np.float64(xs.shape[0] if w is None else w.sum())
    if not xs.shape[0]:
        second = (n_features,) * (2 if cov.matrix else 1)
        stats = cov.stats_from_moments(
            np.zeros(n_components),
            np.zeros((n_components, n_features)),
            np.zeros((n_components, *second)),
            gaps.whiten,
        )
        stats["loglik"], stats["n_rows"] = np.float64(0.0), n_rows
        return stats
    rel = gaps.rel_means
    if cov.matrix:
        with workspace() as work:
            estep = _matrix_estep(xs, mask, gaps, work)
            if w is not None:
                w = w[estep.order]
            resp, log_norm = _normalize(estep.log_prob, w)
            dev = estep.dev
            if not cov.centred_per_component:
                dev += rel[:, None, :]
            resp_t = np.ascontiguousarray(resp.T)
            first = np.matmul(resp_t[:, None, :], dev)[:, 0]
            weighted = work.array("gap_weighted", dev.shape, dev.dtype)
            np.multiply(dev, resp_t[:, :, None], out=weighted)
            second = np.matmul(weighted.transpose(0, 2, 1), dev)
            second += estep.conditional_covariance(resp)
    else:
        observed = (~mask).astype(np.float64)
        resp, log_norm = _normalize(_diagonal_log_prob(xs, observed, gaps), w)
        # a missing entry under component k: mean rel_k, variance 1 / prec_k
        missing_mass = resp.T @ (1.0 - observed)
        first = resp.T @ xs + missing_mass * rel
        second = resp.T @ (xs * xs) + missing_mass * (rel * rel + 1.0 / gaps.precisions)
    stats = cov.stats_from_moments(resp.sum(axis=0), first, second, gaps.whiten)
    stats["loglik"] = log_norm.sum() if w is None else w @ log_norm
    stats["n_rows"] = n_rows
    return stats


def log_prob(
    tile: Tile, gaps: GapPlan, complete: Callable[[Tile], np.ndarray]
) -> np.ndarray:
    """``log w_k + log p(x_o | k)`` of every row of a tile with gaps, (K, tile).

    ``complete(tile)`` gives the same (K, rows) for rows without a gap (the
    ordinary E-step). Rows with no observed feature get ``log w_k``.
    """
    mask = tile.mask
    out = np.empty((gaps.n_components, tile.n_rows))
    gappy = mask.any(axis=1)
    if not gappy.all():
        out[:, ~gappy] = complete(_rows_of(tile, ~gappy))
    rows = np.flatnonzero(gappy)
    empty = mask[rows].all(axis=1)
    out[:, rows[empty]] = gaps.log_weights[:, None]
    rows = rows[~empty]
    if rows.size:
        x, row_mask = tile.X[rows], mask[rows]
        xs = _zero_filled(x, row_mask, gaps.center)
        if gaps.covariance.matrix:
            with workspace() as work:
                estep = _matrix_estep(xs, row_mask, gaps, work)
                out[:, rows[estep.order]] = estep.log_prob.T
        else:
            observed = (~row_mask).astype(np.float64)
            out[:, rows] = _diagonal_log_prob(xs, observed, gaps).T
    return out


def impute_rows(tile: Tile, gaps: GapPlan) -> np.ndarray:
    """X with each gap at its conditional expectation under the mixture, (tile, D).

    ``sum_k p(k | x_o) E[x_m | x_o, k]``, float64; observed entries are
    copied. A row with no observed feature becomes the mixture mean.
    """
    x = np.array(tile.X, dtype=np.float64)
    mask = masked(tile, gaps).mask
    if mask is None:
        return x
    rows = np.flatnonzero(mask.any(axis=1))
    filled = _conditional_means(x[rows], mask[rows], gaps)
    x[rows] = np.where(mask[rows], filled, x[rows])
    return x


def _conditional_means(x: np.ndarray, mask: np.ndarray, gaps: GapPlan) -> np.ndarray:
    """``E[x | x_o]`` under the mixture, (n, D), for rows with gaps."""
    out = np.empty(x.shape)
    empty = mask.all(axis=1)
    weights = np.exp(gaps.log_weights)
    out[empty] = gaps.center + weights @ gaps.rel_means
    rows = np.flatnonzero(~empty)
    if not rows.size:
        return out
    x, mask = x[rows], mask[rows]
    xs = _zero_filled(x, mask, gaps.center)
    if gaps.covariance.matrix:
        estep = _matrix_estep(xs, mask, gaps)
        resp, _ = _normalize(estep.log_prob)
        # E[x | x_o, k] - m = (mu_k - m) + (E[x | x_o, k] - mu_k)
        estep.dev += gaps.rel_means[:, None, :]
        expected = np.einsum("nk,knd->nd", resp, estep.dev)
        out[rows[estep.order]] = gaps.center + expected
    else:
        observed = (~mask).astype(np.float64)
        resp, _ = _normalize(_diagonal_log_prob(xs, observed, gaps))
        # independent features: a missing entry's expectation is the mean's
        out[rows] = gaps.center + resp @ gaps.rel_means
    return out


# --------------------------------------------------------------- the maths
def _zero_filled(x: np.ndarray, mask: np.ndarray, center: np.ndarray) -> np.ndarray:
    """``x - m`` in float64, 0 where missing."""
    xs = x.astype(np.float64) - center
    xs[mask] = 0.0
    return xs


def _normalize(
    log_prob: np.ndarray, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Responsibilities (n, K), times the rows' weights, and ``log p(x_o)`` (n,)."""
    top = log_prob.max(axis=1, keepdims=True)
    resp = np.exp(log_prob - top)
    total = resp.sum(axis=1, keepdims=True)
    resp /= total
    if weight is not None:
        resp *= weight[:, None]
    return resp, np.log(total[:, 0]) + top[:, 0]


def _diagonal_log_prob(
    xs: np.ndarray, observed: np.ndarray, gaps: GapPlan
) -> np.ndarray:
    """Marginal log-probabilities (n, K) under diagonal covariances.

    ``xs`` is zero where missing and ``observed`` is 1.0 where observed, so
    each sum runs over the observed entries only.
    """
    precisions, rel = gaps.precisions, gaps.rel_means
    # prec . x^2 - 2 (prec * mu) . x + prec . mu^2, over the observed entries
    maha = (xs * xs) @ precisions.T
    maha -= 2.0 * (xs @ (precisions * rel).T)
    maha += observed @ (precisions * rel * rel).T
    log_det = observed @ np.log(precisions).T
    n_observed = observed.sum(axis=1)
    return gaps.log_weights - 0.5 * (n_observed[:, None] * LOG_2PI - log_det + maha)


@dataclass
class _Piece:
    """Rows of some patterns with the same number ``d`` of missing entries.

    Attributes
    ----------
    starts : ndarray of shape (P,)
        Where each pattern's rows begin, in the sorted rows.
    stop : int
        Where the last pattern's rows end.
    missing : ndarray of shape (P, d)
        The missing features of each pattern.
    cond_cov : ndarray of shape (P, K, d, d)
        ``P_mm^-1`` of each pattern and component.
    """

    starts: np.ndarray
    stop: int
    missing: np.ndarray
    cond_cov: np.ndarray


@dataclass
class _MatrixEStep:
    """The E-step of rows with gaps under matrix covariances, rows sorted by pattern.

    Attributes
    ----------
    order : ndarray of shape (n,)
        The rows' positions in the arrays given to :func:`_matrix_estep`.
    log_prob : ndarray of shape (n, K)
        ``log w_k + log N(x_o | mu_o, S_oo)``.
    dev : ndarray of shape (K, n, D)
        ``E[x | x_o, k] - mu_k``.
    pieces : list of _Piece
    n_features : int
    """

    order: np.ndarray
    log_prob: np.ndarray
    dev: np.ndarray
    pieces: list
    n_features: int

    def conditional_covariance(self, resp: np.ndarray) -> np.ndarray:
        """``sum_rows r_k Cov[x | x_o, k]`` (K, D, D), for responsibilities (n, K)."""
        n_components, n_features = resp.shape[1], self.n_features
        flat = []
        values = []
        for piece in self.pieces:
            if not piece.missing.shape[1]:
                continue
            # responsibilities summed over each pattern's rows: (P, K)
            mass = np.add.reduceat(
                resp[piece.starts[0] : piece.stop], piece.starts - piece.starts[0]
            )
            mis = piece.missing[:, None, :, None], piece.missing[:, None, None, :]
            component = np.arange(n_components)[None, :, None, None]
            flat.append(
                ((component * n_features + mis[0]) * n_features + mis[1]).reshape(-1)
            )
            values.append((mass[:, :, None, None] * piece.cond_cov).reshape(-1))
        size = n_components * n_features * n_features
        if not flat:
            return np.zeros((n_components, n_features, n_features))
        total = np.bincount(
            np.concatenate(flat), np.concatenate(values), minlength=size
        )
        return total.reshape(n_components, n_features, n_features)


def _by_pattern(mask: np.ndarray):
    """Rows sorted by missingness pattern, patterns by their number of gaps.

    Returns the patterns (P, D) and their number of missing entries (P,),
    the bounds of each pattern's rows in the sorted rows (P + 1,) and the
    sort order (n,).
    """
    n_rows, n_features = mask.shape
    n_missing = mask.sum(axis=1)
    if n_features <= 56:
        # one sort on (number missing, pattern bits), packed in one integer
        bits = np.packbits(mask, axis=1, bitorder="little")
        key = n_missing.astype(np.uint64) << np.uint64(56)
        for byte in range(bits.shape[1]):
            key |= bits[:, byte].astype(np.uint64) << np.uint64(8 * byte)
    else:
        packed = np.ascontiguousarray(np.packbits(mask, axis=1))
        codes = packed.view(np.dtype((np.void, packed.shape[1])))[:, 0]
        _, pattern = np.unique(codes, return_inverse=True)
        key = n_missing.astype(np.int64) * n_rows + pattern.reshape(-1)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    bounds = np.r_[starts, n_rows]
    return mask[order[starts]], n_missing[order[starts]], bounds, order


def _matrix_estep(
    xs: np.ndarray, mask: np.ndarray, gaps: GapPlan, work=FRESH
) -> _MatrixEStep:
    """Marginal log-probabilities and completed deviations of rows with gaps.

    ``xs`` (n, D) is zero where ``mask``; every row has an observed entry.
    The deviations are held in ``work``.
    """
    n_components, n_features = gaps.rel_means.shape
    patterns, n_missing, bounds, order = _by_pattern(mask)
    xs, mask = xs[order], mask[order]
    n_rows = xs.shape[0]
    shape = (n_components, n_rows, n_features)
    # e: the deviation from mu_k, zero at the missing entries; g = P_k e
    dev = work.array("gap_dev", shape, np.float64)
    np.subtract(xs[None, :, :], gaps.rel_means[:, None, :], out=dev)
    np.multiply(dev, ~mask, out=dev)
    grad = work.array("gap_grad", shape, np.float64)
    np.matmul(dev, gaps.precisions, out=grad)
    maha = np.einsum("knd,knd->kn", dev, grad)
    n_observed = n_features - mask.sum(axis=1)
    log_const = (gaps.log_weights + gaps.log_det_cholesky)[:, None] - (
        0.5 * LOG_2PI * n_observed
    )
    pieces = []
    for d in np.unique(n_missing).tolist():
        chosen = np.flatnonzero(n_missing == d)
        # patterns in pieces whose factors and per-row copies fit the budget
        row_bytes = 8 * n_components * (d * d + 2 * d + 1)
        max_rows = max(1, gaps.budget_bytes // row_bytes)
        first = chosen[0]
        while first <= chosen[-1]:
            last = first + 1
            while last <= chosen[-1] and bounds[last + 1] - bounds[first] <= max_rows:
                last += 1
            pieces.append(
                _fill_missing(
                    dev, grad, maha, log_const, patterns, bounds, first, last, d, gaps
                )
            )
            first = last
    log_prob = (log_const - 0.5 * maha).T
    return _MatrixEStep(order, log_prob, dev, pieces, n_features)


def _fill_missing(
    dev, grad, maha, log_const, patterns, bounds, first, last, d, gaps
) -> _Piece:
    """Patterns ``first`` to ``last`` (excluded): condition on the observed entries.

    In place: ``dev`` gets the conditional expectations of the missing
    entries, ``maha`` becomes the observed entries' distance and
    ``log_const`` takes ``- 1/2 log det P_mm``.
    """
    start, stop = bounds[first], bounds[last]
    counts = np.diff(bounds[first : last + 1])
    # the missing features of each pattern, in increasing order
    missing = np.nonzero(patterns[first:last])[1].reshape(last - first, d)
    components = np.arange(gaps.n_components)[None, :, None, None]
    block = gaps.precisions[
        components, missing[:, None, :, None], missing[:, None, None, :]
    ]
    if d == 1:
        cond_cov = 1.0 / block
        log_det = np.log(block[:, :, 0, 0])
    else:
        factor = np.linalg.cholesky(block)
        log_det = 2.0 * np.log(np.diagonal(factor, axis1=-2, axis2=-1)).sum(axis=-1)
        # one batched LAPACK call: cheaper than inverting the factors
        cond_cov = np.linalg.inv(block)
    n_features = dev.shape[2]
    # flat positions, in (rows, D), of each sorted row's missing entries
    flat = (np.arange(start, stop) * n_features)[:, None] + np.repeat(
        missing, counts, axis=0
    )
    flat_dev = dev.reshape(dev.shape[0], -1)
    flat_grad = grad.reshape(grad.shape[0], -1)
    g_m = [flat_grad[:, flat[:, j]] for j in range(d)]
    # each row's d x d product with its pattern's factor, entry by entry
    cond_rows = np.repeat(cond_cov.transpose(2, 3, 1, 0), counts, axis=3)
    shift = np.empty_like(g_m[0])
    for i in range(d):
        np.multiply(cond_rows[i, 0], g_m[0], out=shift)
        for j in range(1, d):
            shift += cond_rows[i, j] * g_m[j]
        np.negative(shift, out=shift)
        maha[:, start:stop] += g_m[i] * shift
        flat_dev[:, flat[:, i]] = shift
    log_const[:, start:stop] -= 0.5 * np.repeat(log_det.T, counts, axis=1)
    return _Piece(bounds[first:last], stop, missing, cond_cov)


# ------------------------------------------------------------------- starts
#: the gap survey of each data object, so that restarts and sweeps read once
_SURVEYS: WeakKeyDictionary = WeakKeyDictionary()


def _count_gaps(tile: Tile, plan) -> Stats:
    missing = np.isnan(tile.X)
    return Stats(
        gaps=np.float64(missing.sum()),
        empty=np.float64(missing.all(axis=1).sum()),
    )


def has_gaps(data: RowBlocks, n_components: int = 1) -> bool:
    """Whether X has a NaN (one pass over dask data, once per data object).

    Raises
    ------
    ValueError
        If fewer than ``n_components`` rows have an observed feature.
    """
    survey = _SURVEYS.get(data)
    if survey is None:
        survey = data.same_blocks({"X": data.X}).map_reduce(
            _count_gaps, None, 1 << 14, name="gaps"
        )
        _SURVEYS[data] = survey
    if data.n_samples - survey["empty"] < n_components:
        raise ValueError(
            f"X has {int(data.n_samples - survey['empty'])} rows with an observed "
            f"feature (the others are all NaN); n_components={n_components} "
            "needs at least as many."
        )
    return bool(survey["gaps"])


def start_rows(
    data: RowBlocks, n_components: int, random_state: np.random.RandomState
) -> RowBlocks:
    """In-memory rows without gaps that a start method runs on.

    A uniform sample of the rows (as many as the ``'kmeans'`` start clusters;
    all rows of smaller data; weighted data keep their weights, see
    :func:`~daskmix.cluster.starts.weighted_sample`). When at least
    ``daskmix.missing.start-complete-rows-per-component`` per component are
    complete, the complete ones; otherwise every sampled row with an observed
    feature, its gaps filled with the (weighted) column means of the sample's
    observed entries.

    Returns
    -------
    RowBlocks
        numpy, float64 ``X`` without NaN (and ``weight`` for weighted data).

    Raises
    ------
    ValueError
        If fewer than ``n_components`` rows remain.
    """
    n_draw = kmeans_sample_size(n_components)
    if data.weight is not None:
        sample = weighted_sample(data, n_draw, random_state, n_components).named()
    else:
        sample = data.take_rows(sample_indices(data.n_samples, n_draw, random_state))
    x = np.asarray(sample["X"], dtype=np.float64)
    weight = sample.get("weight")
    missing = np.isnan(x)
    complete = ~missing.any(axis=1)
    per_component = config.get("missing.start-complete-rows-per-component")
    if np.count_nonzero(complete) >= per_component * n_components:
        keep = complete
    else:
        keep = ~missing.all(axis=1)
        w = np.ones(len(x)) if weight is None else np.asarray(weight, np.float64)
        observed_weight = w @ ~missing
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (w @ np.where(missing, 0.0, x)) / observed_weight
        means[observed_weight == 0] = 0.0
        x = np.where(missing, means, x)
    if np.count_nonzero(keep) < n_components:
        raise ValueError(
            f"The start of a fit with missing='marginalize' found "
            f"{np.count_nonzero(keep)} rows with an observed feature in its "
            f"sample; n_components={n_components} needs at least as many."
        )
    rows = {"X": x[keep]}
    if weight is not None:
        rows["weight"] = np.asarray(weight, dtype=np.float64)[keep]
    return RowBlocks(rows)
