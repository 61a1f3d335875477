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
from .._engine.batches import read_rows
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
        ``n_rows``), in the covariance form's frame. Rows with no observed
        feature are left out.
    """
    rows = _SortedRows(tile.mask)
    arrays = {name: a[rows.order] for name, a in tile.arrays.items() if name != "mask"}
    x, weight = arrays["X"], arrays.get("weight")
    gappy = rows.gappy
    stats = gap_stats(
        x[gappy],
        None if weight is None else weight[gappy],
        rows.gappy_part(),
        plan.gaps,
    )
    if rows.complete.stop:
        part = {name: a[rows.complete] for name, a in arrays.items()}
        stats = complete(Tile(part, tile.start), plan) + stats
    return stats


def gap_stats(
    x: np.ndarray, weight: np.ndarray | None, part: tuple, gaps: GapPlan
) -> Stats:
    """Expected statistics of rows with gaps, sorted by missingness pattern.

    Parameters
    ----------
    x : ndarray of shape (n, D)
        NaN where missing; every row has an observed and a missing entry.
    weight : ndarray of shape (n,) or None
    part : tuple
        The rows' patterns (:meth:`_SortedRows.gappy_part`).
    gaps : GapPlan

    Returns
    -------
    Stats
        ``nk``, ``s1``, ``s2``, ``loglik``, ``n_rows``.
    """
    cov = gaps.covariance
    n_components, n_features = gaps.rel_means.shape
    w = None if weight is None else weight.reshape(-1).astype(np.float64)
    n_rows = np.float64(x.shape[0] if w is None else w.sum())
    if not x.shape[0]:
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
        conditional = np.zeros(n_components * n_features * n_features)
        component = np.arange(n_components)[None, :, None, None]

        def add_conditional(piece: _Piece, log_prob: np.ndarray) -> None:
            # sum_rows r_k Cov[x | x_o, k]: once per pattern and component
            first = piece.starts[0]
            piece_weight = None if w is None else w[first : piece.stop]
            resp, _ = _normalize(log_prob, piece_weight)
            mass = np.add.reduceat(resp, piece.starts - first)
            rows = piece.missing[:, None, :, None]
            cols = piece.missing[:, None, None, :]
            index = (component * n_features + rows) * n_features + cols
            values = mass[:, :, None, None] * piece.cond_cov
            conditional[:] += np.bincount(
                index.reshape(-1), values.reshape(-1), conditional.size
            )

        with workspace() as work:
            estep = _matrix_estep(x, part, gaps, work, add_conditional)
            resp, log_norm = _normalize(estep.log_prob, w)
            dev = estep.dev
            if not cov.centred_per_component:
                dev += rel[:, None, :]
            resp_t = np.ascontiguousarray(resp.T)
            first = np.matmul(resp_t[:, None, :], dev)[:, 0]
            weighted = work.array("gap_weighted", dev.shape, dev.dtype)
            np.multiply(dev, resp_t[:, :, None], out=weighted)
            second = np.matmul(weighted.transpose(0, 2, 1), dev)
            second += conditional.reshape(second.shape)
    else:
        mask = np.isnan(x)
        xs = _zero_filled(x, mask, gaps.center)
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
    rows = _SortedRows(tile.mask)
    x = tile.X[rows.order]
    out = np.empty((gaps.n_components, tile.n_rows))
    if rows.complete.stop:
        arrays = {"X": x[rows.complete]}
        out[:, : rows.complete.stop] = complete(Tile(arrays, tile.start))
    out[:, rows.empty] = gaps.log_weights[:, None]
    gappy = x[rows.gappy]
    if gappy.shape[0] and gaps.covariance.matrix:
        with workspace() as work:
            out[:, rows.gappy] = _matrix_estep(
                gappy, rows.gappy_part(), gaps, work
            ).log_prob.T
    elif gappy.shape[0]:
        mask = np.isnan(gappy)
        xs = _zero_filled(gappy, mask, gaps.center)
        out[:, rows.gappy] = _diagonal_log_prob(xs, (~mask).astype(np.float64), gaps).T
    unsorted = np.empty_like(out)
    unsorted[:, rows.order] = out
    return unsorted


def impute_rows(tile: Tile, gaps: GapPlan) -> np.ndarray:
    """X with each gap at its conditional expectation under the mixture, (tile, D).

    ``sum_k p(k | x_o) E[x_m | x_o, k]``, float64; observed entries are
    copied. A row with no observed feature becomes the mixture mean.
    """
    x = np.array(tile.X, dtype=np.float64)
    mask = masked(tile, gaps).mask
    if mask is None:
        return x
    rows = _SortedRows(mask)
    sorted_x = x[rows.order]
    filled = np.empty_like(sorted_x)
    weights = np.exp(gaps.log_weights)
    filled[rows.empty] = gaps.center + weights @ gaps.rel_means
    gappy = sorted_x[rows.gappy]
    if gappy.shape[0] and gaps.covariance.matrix:
        estep = _matrix_estep(gappy, rows.gappy_part(), gaps)
        resp, _ = _normalize(estep.log_prob)
        # E[x | x_o, k] - m = (mu_k - m) + (E[x | x_o, k] - mu_k)
        estep.dev += gaps.rel_means[:, None, :]
        filled[rows.gappy] = gaps.center + np.einsum("nk,knd->nd", resp, estep.dev)
    elif gappy.shape[0]:
        gap_mask = np.isnan(gappy)
        xs = _zero_filled(gappy, gap_mask, gaps.center)
        resp, _ = _normalize(_diagonal_log_prob(xs, (~gap_mask).astype(float), gaps))
        # independent features: a missing entry's expectation is the mean's
        filled[rows.gappy] = gaps.center + resp @ gaps.rel_means
    start = rows.complete.stop
    x[rows.order[start:]] = np.where(
        mask[rows.order[start:]], filled[start:], x[rows.order[start:]]
    )
    return x


def draw_rows(tile: Tile, gaps: GapPlan, seed: int) -> np.ndarray:
    """X with each row's gaps drawn from their distribution given its entries.

    A component from ``p(k | x_o)``, then the missing entries from that
    component's conditional Gaussian, ``N(E[x_m | x_o, k], Cov[x_m | x_o,
    k])``; a row with no observed feature is a draw from the mixture.
    float64; observed entries are copied. The random numbers of a row come
    from a counter-based generator keyed by ``seed`` and the row's number in
    the data, so a draw does not depend on the chunking.
    """
    x = np.array(tile.X, dtype=np.float64)
    mask = masked(tile, gaps).mask
    if mask is None:
        return x
    n_components, n_features = gaps.rel_means.shape
    uniform, normal = _row_draws(tile.rows(), n_features, seed)
    rows = _SortedRows(mask)
    uniform, normal = uniform[rows.order], normal[rows.order]
    drawn = np.empty_like(x)
    empty = rows.empty
    if empty.stop > empty.start:
        weights = np.exp(gaps.log_weights)
        chosen = _choose(
            np.broadcast_to(weights, (empty.stop - empty.start, n_components)),
            uniform[empty],
        )
        drawn[empty] = (
            gaps.center
            + gaps.rel_means[chosen]
            + np.einsum("nij,nj->ni", _component_factors(gaps)[chosen], normal[empty])
        )
    gappy = x[rows.order][rows.gappy]
    if gappy.shape[0] and gaps.covariance.matrix:
        z = normal[rows.gappy]
        u = uniform[rows.gappy]
        noise = np.zeros(gappy.shape)
        flat_noise = noise.reshape(-1)

        def add_noise(piece: _Piece, log_prob: np.ndarray) -> None:
            # the chosen component's conditional covariance, factored
            start, stop = piece.starts[0], piece.stop
            chosen = _choose(_normalize(log_prob)[0], u[start:stop])
            counts = np.diff(np.r_[piece.starts, stop])
            size = piece.missing.shape[1]
            pad = ~(piece.real[:, :, None] & piece.real[:, None, :])[:, None]
            factor = np.linalg.cholesky(piece.cond_cov + pad * np.eye(size))
            pattern = np.repeat(np.arange(len(counts)), counts)
            slots = np.repeat(piece.missing, counts, axis=0)
            real = np.repeat(piece.real, counts, axis=0)
            local = np.arange(start, stop)
            values = np.einsum(
                "nij,nj->ni", factor[pattern, chosen], z[local[:, None], slots]
            )
            flat = (local * n_features)[:, None] + slots
            flat_noise[flat[real]] = values[real]

        estep = _matrix_estep(gappy, rows.gappy_part(), gaps, on_piece=add_noise)
        chosen = _choose(_normalize(estep.log_prob)[0], u)
        mean = gaps.rel_means[chosen] + estep.dev[chosen, np.arange(gappy.shape[0])]
        drawn[rows.gappy] = gaps.center + mean + noise
    elif gappy.shape[0]:
        gap_mask = np.isnan(gappy)
        xs = _zero_filled(gappy, gap_mask, gaps.center)
        resp, _ = _normalize(_diagonal_log_prob(xs, (~gap_mask).astype(float), gaps))
        chosen = _choose(resp, uniform[rows.gappy])
        scale = 1.0 / np.sqrt(gaps.precisions[chosen])
        drawn[rows.gappy] = (
            gaps.center + gaps.rel_means[chosen] + scale * normal[rows.gappy]
        )
    start = rows.complete.stop
    order = rows.order[start:]
    x[order] = np.where(mask[order], drawn[start:], x[order])
    return x


def _row_draws(rows: np.ndarray, n_features: int, seed: int):
    """One uniform (n,) and ``n_features`` standard normals (n, D) per row.

    Philox is counter based: row ``i`` always reads the same counters, so a
    row gets the same numbers whatever tile or block it falls in. The normals
    come from uniforms (Box-Muller), a fixed number of them per row.
    """
    pairs = -(-n_features // 2)
    width = 1 + 2 * pairs
    per_row = -(-width // 4)  # each counter yields 4 uint64
    counter = np.array([int(rows[0]) * per_row, 0, 0, 0], dtype=np.uint64)
    generator = np.random.Generator(np.random.Philox(key=seed, counter=counter))
    draws = generator.random((rows.shape[0], 4 * per_row))[:, :width]
    radius = np.sqrt(-2.0 * np.log1p(-draws[:, 1 : 1 + pairs]))
    angle = 2.0 * np.pi * draws[:, 1 + pairs : width]
    normal = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return draws[:, 0], normal[:, :n_features]


def _choose(resp: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """The component each row draws, from its probabilities (n, K)."""
    chosen = (np.cumsum(resp, axis=1) < uniform[:, None]).sum(axis=1)
    return np.minimum(chosen, resp.shape[1] - 1)


def _component_factors(gaps: GapPlan) -> np.ndarray:
    """Lower Cholesky factors of the K covariances, (K, D, D)."""
    precisions = gaps.precisions
    if gaps.covariance.matrix:
        return np.linalg.cholesky(np.linalg.inv(precisions))
    return np.stack([np.diag(1.0 / np.sqrt(p)) for p in precisions])


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


class _SortedRows:
    """The rows of a tile sorted by missingness pattern.

    Patterns come in order of their number of missing entries: the complete
    rows first, the rows with no observed feature last.

    Attributes
    ----------
    order : ndarray of shape (n,)
        The sort: sorted row ``i`` is row ``order[i]``.
    patterns : ndarray of bool, shape (P, D)
    n_missing : ndarray of shape (P,)
    bounds : ndarray of shape (P + 1,)
        Where each pattern's rows begin (and the last ends).
    complete, gappy, empty : slice
        The sorted rows without a gap, with some observed and some missing
        entries, and with no observed entry.
    """

    def __init__(self, mask: np.ndarray):
        n_rows, n_features = mask.shape
        n_missing = mask.sum(axis=1)
        if n_features <= 56:
            # one sort on (number missing, pattern bits), packed in one
            # integer: 16 bits (numpy's radix sort) up to 12 features
            dtype = np.uint16 if n_features <= 12 else np.uint64
            shift = 12 if n_features <= 12 else 56
            key = n_missing.astype(dtype) << dtype(shift)
            bits = np.packbits(mask, axis=1, bitorder="little")
            for byte in range(bits.shape[1]):
                key |= bits[:, byte].astype(dtype) << dtype(8 * byte)
        else:
            packed = np.ascontiguousarray(np.packbits(mask, axis=1))
            codes = packed.view(np.dtype((np.void, packed.shape[1])))[:, 0]
            _, pattern = np.unique(codes, return_inverse=True)
            key = n_missing.astype(np.int64) * n_rows + pattern.reshape(-1)
        self.order = np.argsort(key, kind="stable")
        sorted_key = key[self.order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        self.bounds = np.r_[starts, n_rows]
        first_rows = self.order[starts]
        self.patterns = mask[first_rows]
        self.n_missing = n_missing[first_rows]
        lo = 1 if self.n_missing[0] == 0 else 0
        hi = len(starts) - (1 if self.n_missing[-1] == n_features else 0)
        self._gappy_patterns = lo, hi
        self.complete = slice(0, self.bounds[lo])
        self.gappy = slice(self.bounds[lo], self.bounds[hi])
        self.empty = slice(self.bounds[hi], n_rows)

    def gappy_part(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Patterns, their numbers of gaps and row bounds of the rows with gaps.

        The bounds count from the first such row.
        """
        lo, hi = self._gappy_patterns
        bounds = self.bounds[lo : hi + 1]
        return self.patterns[lo:hi], self.n_missing[lo:hi], bounds - bounds[0]


@dataclass
class _Piece:
    """Rows of patterns whose missing blocks are factored together.

    Attributes
    ----------
    starts : ndarray of shape (P,)
        Where each pattern's rows begin, in the sorted rows.
    stop : int
        Where the last pattern's rows end.
    missing : ndarray of shape (P, d)
        The missing features of each pattern, padded with observed ones.
    cond_cov : ndarray of shape (P, K, d, d)
        ``P_mm^-1`` of each pattern and component; zero in the padding.
    real : ndarray of bool, shape (P, d)
        Which of ``missing`` are missing (the others are padding).
    """

    starts: np.ndarray
    stop: int
    missing: np.ndarray
    cond_cov: np.ndarray
    real: np.ndarray


@dataclass
class _MatrixEStep:
    """The E-step of rows with gaps under matrix covariances.

    Attributes
    ----------
    log_prob : ndarray of shape (n, K)
        ``log w_k + log N(x_o | mu_o, S_oo)``.
    dev : ndarray of shape (K, n, D)
        ``E[x | x_o, k] - mu_k``.
    """

    log_prob: np.ndarray
    dev: np.ndarray


def _buckets(n_missing: np.ndarray) -> list[tuple[int, int, int]]:
    """Runs of patterns factored together: (first, last, padded size).

    One run for one missing entry, one for two, then runs for 3-4, 5-8,
    9-16, ... missing entries, each padded to the largest it holds: few
    batched calls however many sizes occur, at most four times the work of
    each row's own size.
    """
    runs = []
    upper = 1
    while upper < max(int(n_missing[-1]), 1) * 2:
        lower = upper // 2 + 1
        first, last = np.searchsorted(n_missing, [lower, upper + 1])
        if last > first:
            runs.append((int(first), int(last), int(n_missing[last - 1])))
        upper *= 2
    return runs


def _matrix_estep(
    x: np.ndarray,
    part: tuple,
    gaps: GapPlan,
    work=FRESH,
    on_piece: Callable[[_Piece, np.ndarray], None] | None = None,
) -> _MatrixEStep:
    """Marginal log-probabilities and completed deviations of rows with gaps.

    ``x`` (n, D) is NaN where missing, sorted by pattern as ``part`` says
    (:meth:`_SortedRows.gappy_part`); every row has an observed and a
    missing entry. The deviations are held in ``work``. ``on_piece(piece,
    log_prob)`` sees each piece's factors and its rows' final (rows, K)
    log-probabilities as soon as they are done; nothing keeps a piece after
    it, so that memory stays within the budget whatever the number of
    patterns.
    """
    patterns, n_missing, bounds = part
    n_components, n_features = gaps.rel_means.shape
    n_rows = x.shape[0]
    shape = (n_components, n_rows, n_features)
    # e: the deviation from mu_k, zero at the missing entries; g = P_k e
    dev = work.array("gap_dev", shape, np.float64)
    means = gaps.center + gaps.rel_means
    np.subtract(x[None, :, :], means[:, None, :], out=dev)
    np.copyto(dev, 0.0, where=np.isnan(x))
    grad = work.array("gap_grad", shape, np.float64)
    np.matmul(dev, gaps.precisions, out=grad)
    maha = np.einsum("knd,knd->kn", dev, grad)
    n_observed = n_features - np.repeat(n_missing, np.diff(bounds))
    log_const = (gaps.log_weights + gaps.log_det_cholesky)[:, None] - (
        0.5 * LOG_2PI * n_observed
    )
    for first, last, size in _buckets(n_missing):
        # pieces whose factors and per-row copies fit the budget
        row_bytes = 8 * n_components * (size * size + 2 * size + 1)
        max_rows = max(1, gaps.budget_bytes // row_bytes)
        while first < last:
            stop = first + 1
            ends = bounds[stop + 1 : last + 1]
            stop += int(np.searchsorted(ends, bounds[first] + max_rows, "right"))
            piece = _fill_missing(
                dev, grad, maha, log_const, part, first, stop, size, gaps
            )
            if on_piece is not None:
                rows = slice(bounds[first], bounds[stop])
                on_piece(piece, (log_const[:, rows] - 0.5 * maha[:, rows]).T)
            first = stop
    return _MatrixEStep((log_const - 0.5 * maha).T, dev)


def _fill_missing(dev, grad, maha, log_const, part, first, last, size, gaps) -> _Piece:
    """Patterns ``first`` to ``last`` (excluded): condition on the observed entries.

    In place: ``dev`` gets the conditional expectations of the missing
    entries, ``maha`` becomes the observed entries' distance and
    ``log_const`` takes ``- 1/2 log det P_mm``. Patterns with fewer than
    ``size`` missing entries are padded with observed ones, whose block is
    the identity and whose gradient is zero, so that they change nothing.
    """
    patterns, n_missing, bounds = part
    start, stop = bounds[first], bounds[last]
    counts = np.diff(bounds[first : last + 1])
    # the missing features of each pattern first, then observed ones
    missing = np.argsort(~patterns[first:last], axis=1, kind="stable")[:, :size]
    real = np.arange(size) < n_missing[first:last, None]
    components = np.arange(gaps.n_components)[None, :, None, None]
    block = gaps.precisions[
        components, missing[:, None, :, None], missing[:, None, None, :]
    ]
    padded = not real.all()
    pair = (real[:, :, None] & real[:, None, :])[:, None]
    if padded:
        block = np.where(pair, block, np.eye(size))
    cond_cov, log_det = _spd_inverse(block)
    n_features = dev.shape[2]
    # flat positions, in (rows, D), of each sorted row's (padded) missing entries
    flat = (np.arange(start, stop) * n_features)[:, None] + np.repeat(
        missing, counts, axis=0
    )
    flat_dev = dev.reshape(dev.shape[0], -1)
    flat_grad = grad.reshape(grad.shape[0], -1)
    g_m = [flat_grad[:, flat[:, j]] for j in range(size)]
    if padded:
        for j in range(size):
            g_m[j] *= np.repeat(real[:, j], counts)
    # each row's d x d product with its pattern's factor, entry by entry
    cond_rows = np.repeat(cond_cov.transpose(2, 3, 1, 0), counts, axis=3)
    shift = np.empty_like(g_m[0])
    for i in range(size):
        np.multiply(cond_rows[i, 0], g_m[0], out=shift)
        for j in range(1, size):
            shift += cond_rows[i, j] * g_m[j]
        np.negative(shift, out=shift)
        maha[:, start:stop] += g_m[i] * shift
        if padded:
            # the padding's shift is zero: added to an observed entry
            flat_dev[:, flat[:, i]] += shift
        else:
            flat_dev[:, flat[:, i]] = shift
    log_const[:, start:stop] -= 0.5 * np.repeat(log_det.T, counts, axis=1)
    if padded:
        cond_cov = cond_cov * pair
    return _Piece(bounds[first:last], stop, missing, cond_cov, real)


#: largest blocks inverted entry by entry, in numpy; LAPACK above
_ELEMENTWISE_SIZE = 4


def _spd_inverse(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses and log-determinants of positive definite ``block`` (..., s, s).

    Up to :data:`_ELEMENTWISE_SIZE`, a Cholesky factorisation and the
    inverse written out entry by entry, each step one vectorised operation
    over all the blocks: several times faster than LAPACK's per-matrix calls
    on the thousands of tiny blocks (pattern times component) of a tile.
    """
    size = block.shape[-1]
    if size > _ELEMENTWISE_SIZE:
        factor = np.linalg.cholesky(block)
        log_det = 2.0 * np.log(np.diagonal(factor, axis1=-2, axis2=-1)).sum(axis=-1)
        return np.linalg.inv(block), log_det
    # block = L L^T, entry by entry
    lower = [[None] * size for _ in range(size)]
    log_det = np.zeros(block.shape[:-2])
    for j in range(size):
        pivot = block[..., j, j] - sum(lower[j][k] ** 2 for k in range(j))
        log_det += np.log(pivot)
        lower[j][j] = np.sqrt(pivot)
        for i in range(j + 1, size):
            cross = block[..., i, j] - sum(lower[i][k] * lower[j][k] for k in range(j))
            lower[i][j] = cross / lower[j][j]
    # M = L^-1, lower triangular
    inv = [[None] * size for _ in range(size)]
    for i in range(size):
        inv[i][i] = 1.0 / lower[i][i]
        for j in range(i):
            total = sum(lower[i][k] * inv[k][j] for k in range(j, i))
            inv[i][j] = -total * inv[i][i]
    # block^-1 = M^T M
    out = np.empty(block.shape)
    for i in range(size):
        for j in range(i, size):
            value = sum(inv[k][i] * inv[k][j] for k in range(j, size))
            out[..., i, j] = value
            out[..., j, i] = value
    return out, log_det


# ------------------------------------------------------------------- starts
#: the gap survey of each data object, so that restarts and sweeps read once
_SURVEYS: WeakKeyDictionary = WeakKeyDictionary()


def _count_gaps(tile: Tile, plan) -> Stats:
    missing = np.isnan(tile.X)
    return Stats(
        gaps=np.float64(missing.sum()),
        empty=np.float64(missing.all(axis=1).sum()),
        infinite=np.float64(np.isinf(tile.X).sum()),
    )


def has_gaps(data: RowBlocks, n_components: int = 1) -> bool:
    """Whether X has a NaN (one pass over dask data, once per data object).

    Raises
    ------
    ValueError
        If X holds infinity, or if fewer than ``n_components`` rows have an
        observed feature.
    """
    survey = _SURVEYS.get(data)
    if survey is None:
        survey = data.same_blocks({"X": data.X}).map_reduce(
            _count_gaps, None, 1 << 14, name="gaps"
        )
        _SURVEYS[data] = survey
    if survey["infinite"]:
        raise ValueError("Input X contains infinity.")
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
        sample = read_rows(data, sample_indices(data.n_samples, n_draw, random_state))
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
