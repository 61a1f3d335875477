"""Block kernels of k-means and its seedings: pure numpy, never dask.

Every kernel works on a tile shifted by a common centre ``m`` (the mean of
the current centres): ``xs = x - m``. Nearest centres come from the GEMM form
``|xs|^2 - 2 xs.c + |c|^2`` (fast, and accurate enough to *choose* a centre
because the shift removes any large common offset); the distance that is
*accumulated* is then recomputed exactly from the residual ``xs - c_label``,
so inertia, sampling weights and centre updates never suffer from the
cancellation of the expanded form.

Four statistics types extend :class:`~daskmix._engine.stats.Stats` with fields that
do not add but *select*, so that the engine's fixed-order tree reduction also
carries a few chosen rows:

* :class:`LloydStats` keeps the rows farthest from their centre (to re-seed
  empty clusters without another pass);
* :class:`CandidateStats` keeps the rows that k-means|| oversampling selects;
* :class:`TrialStats` keeps the D^2-sampled trial rows of greedy k-means++;
* :class:`DrawStats` keeps the row numbers of a draw (uniform, or in
  proportion to the rows' weights).

Kernels take a :class:`~daskmix._engine.tiles.Tile`; with row weights
(``tile.weight``) counts, sums, inertia and sampling chances are weighted, as
scikit-learn's ``sample_weight`` defines them.

Random draws are counter based (Philox keyed by a seed, counter = global row
number), so the rows drawn depend neither on the tiles nor on the scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._engine.stats import Stats
from .._engine.tiles import Tile, takes_sparse

F64 = np.float64


# ------------------------------------------------------------------ helpers
def shift_frame(centers: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Common shift ``m`` and shifted centres ``c - m``, both in ``dtype``.

    Parameters
    ----------
    centers : ndarray of shape (K, D), float64
    dtype : numpy dtype of the data blocks

    Returns
    -------
    center : ndarray of shape (D,)
    shifted : ndarray of shape (K, D)
        ``centers - center`` rounded to ``dtype``; the client adds back
        ``center`` and ``shifted`` *as rounded* so that updates are exact.
    """
    center = np.asarray(centers.mean(axis=0), dtype=dtype)
    shifted = np.ascontiguousarray(centers - center.astype(F64), dtype=dtype)
    return center, shifted


def make_scorer(shifted: np.ndarray) -> np.ndarray:
    """``[-2 C^T; |C|^2]`` of shape (D + 1, K), in the dtype of ``shifted``.

    ``[xs, 1] @ scorer`` is ``|xs - c|^2 - |xs|^2`` for every centre in one
    GEMM: the argmin needs nothing else, so no further sweep over the
    (tile, K) scores is spent on it.
    """
    sq_norms = np.einsum("kd,kd->k", shifted, shifted)
    return np.ascontiguousarray(np.vstack([-2.0 * shifted.T, sq_norms[None]]))


def shift_rows(x: np.ndarray, center: np.ndarray) -> np.ndarray:
    """``[x - center, 1]`` of shape (tile, D + 1), in the dtype of ``center``."""
    n_rows, n_features = x.shape
    out = np.empty((n_rows, n_features + 1), dtype=center.dtype)
    np.subtract(x, center, out=out[:, :n_features])
    out[:, n_features] = 1.0
    return out


def nearest(xs1: np.ndarray, shifted: np.ndarray, scorer: np.ndarray):
    """Nearest centre of each row and the exact squared distance to it.

    Parameters
    ----------
    xs1 : ndarray of shape (tile, D + 1)
        Shifted rows with a column of ones (:func:`shift_rows`).
    shifted : ndarray of shape (K, D)
        Shifted centres.
    scorer : ndarray of shape (D + 1, K)
        :func:`make_scorer` of ``shifted``.

    Returns
    -------
    labels : ndarray of shape (tile,), intp
    residual : ndarray of shape (tile, D)
        ``xs - shifted[labels]``, in the tile's dtype.
    dist : ndarray of shape (tile,), float64
        ``|residual|^2``.
    """
    labels = (xs1 @ scorer).argmin(axis=1)
    return (labels, *residuals(xs1, shifted, labels))


def residuals(xs1: np.ndarray, shifted: np.ndarray, labels: np.ndarray):
    """``xs - shifted[labels]`` and its squared norm per row (float64)."""
    residual = xs1[:, :-1] - shifted[labels]
    dist = np.einsum("ij,ij->i", residual, residual, dtype=F64)
    return residual, dist


def frame(centers: np.ndarray, dtype, shift: bool = True):
    """:func:`shift_frame`, or the origin's frame in float64 (``shift=False``).

    Sparse rows are never shifted (it would fill them in): their plans take
    the centres as they are, and their kernels compute in float64.
    """
    if shift:
        return shift_frame(centers, dtype)
    shifted = np.ascontiguousarray(centers, dtype=F64)
    return np.zeros(shifted.shape[1]), shifted


def sparse_sq_norms(x) -> np.ndarray:
    """``|x|^2`` of each row of a sparse tile, (tile,) float64."""
    return np.asarray(x.multiply(x).sum(axis=1), dtype=F64).ravel()


def sparse_nearest(x, scorer: np.ndarray):
    """Nearest centre of each sparse row and the squared distance to it.

    Parameters
    ----------
    x : sparse matrix of shape (tile, D), float64
    scorer : ndarray of shape (D + 1, K), float64
        :func:`make_scorer` of the (unshifted) centres.

    Returns
    -------
    labels : ndarray of shape (tile,), intp
    dist : ndarray of shape (tile,), float64
        ``|x|^2 - 2 x.c + |c|^2``, clipped at zero (scikit-learn's form for
        sparse input).
    """
    scores = x @ scorer[:-1] + scorer[-1]
    labels = scores.argmin(axis=1)
    best = scores[np.arange(x.shape[0]), labels]
    return labels, np.maximum(sparse_sq_norms(x) + best, 0.0)


def nearest_dist(x, plan) -> np.ndarray:
    """Squared distance of each row (dense or sparse) to its nearest centre.

    ``plan`` has ``center``, ``shifted`` and ``scorer`` (a frame from
    :func:`frame`, unshifted for sparse rows).
    """
    if sp.issparse(x):
        return sparse_nearest(x.astype(F64, copy=False), plan.scorer)[1]
    return nearest(shift_rows(x, plan.center), plan.shifted, plan.scorer)[2]


def dense_rows(rows) -> np.ndarray:
    """Rows taken from a tile, as a dense float64 array."""
    return rows.toarray().astype(F64) if sp.issparse(rows) else rows.astype(F64)


def weighted(values: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """``values`` times the row weights ``w`` (broadcast over trailing axes)."""
    if w is None:
        return values
    return values * w.reshape((-1,) + (1,) * (values.ndim - 1))


def row_uniforms(rows: np.ndarray, n_draws: int, seed: int) -> np.ndarray:
    """``n_draws`` uniforms in (0, 1] per global row, independent of tiling.

    Row ``i`` reads outputs ``[i * n_draws, (i + 1) * n_draws)`` of one
    Philox stream (keyed by ``seed``; each counter step yields four), so it
    gets the same numbers whatever tile, block or machine it falls in.

    Parameters
    ----------
    rows : ndarray of shape (tile,)
        Global row numbers of a contiguous range.
    n_draws : int
    seed : int
        Philox key.

    Returns
    -------
    ndarray of shape (tile, n_draws), float64
    """
    first, skip = divmod(int(rows[0]) * n_draws, 4) if rows.size else (0, 0)
    counter = np.array([first, 0, 0, 0], dtype=np.uint64)
    generator = np.random.Generator(np.random.Philox(key=seed, counter=counter))
    draws = generator.random(skip + rows.shape[0] * n_draws)[skip:]
    return 1.0 - draws.reshape(rows.shape[0], n_draws)  # (0, 1]: safe for log


# ------------------------------------------------------------------- Lloyd
@dataclass(frozen=True)
class LloydPlan:
    """Per-pass constants of a Lloyd iteration (or a labelling pass).

    Attributes
    ----------
    center : ndarray of shape (D,)
        Common shift ``m``, block dtype.
    shifted : ndarray of shape (K, D)
        ``centres - m``, block dtype.
    scorer : ndarray of shape (D + 1, K)
        :func:`make_scorer` of ``shifted``, block dtype.
    n_far : int
        Farthest rows to keep (re-seeding of empty clusters).
    moments : bool
        Also sum ``xs`` and ``xs**2`` per feature (data variance, for ``tol``).
    previous : ndarray of shape (D + 1, K) or None
        :func:`make_scorer` of the previous pass's centres in this pass's
        frame: the pass then counts the rows whose label changed
        (``n_changed``), scikit-learn's strict convergence test, for one
        more small GEMM and argmin per tile.
    """

    center: np.ndarray
    shifted: np.ndarray
    scorer: np.ndarray
    n_far: int = 0
    moments: bool = False
    previous: np.ndarray | None = None

    @property
    def n_clusters(self) -> int:
        return self.shifted.shape[0]


def make_lloyd_plan(
    centers: np.ndarray,
    dtype,
    n_far: int = 0,
    moments: bool = False,
    previous: np.ndarray | None = None,
) -> LloydPlan:
    """Plan of a pass under ``centers`` (K, D) float64 for blocks of ``dtype``.

    ``previous`` (K, D) float64: the centres of the previous pass, whose
    labels this pass compares its own with (see :class:`LloydPlan`).
    """
    center, shifted = shift_frame(centers, dtype)
    old = None
    if previous is not None:
        old = make_scorer(np.asarray(previous - center.astype(F64), dtype=dtype))
    return LloydPlan(center, shifted, make_scorer(shifted), n_far, moments, old)


class LloydStats(Stats):
    """Lloyd statistics; the ``far_*`` fields keep the ``n_far`` farthest rows.

    Summed fields: ``counts`` (K,) the (weighted) rows per cluster,
    ``members`` (K,) the rows per cluster, ``sums`` (K, D) of (weighted)
    residuals to the own centre, ``inertia``, ``n_rows``, ``n_changed`` and,
    when asked, ``m1``/``m2`` (D,). Selected fields: ``far_dist`` (n,),
    ``far_label`` (n,), ``far_weight`` (n,), ``far_rows`` (n, D) shifted
    rows, largest distances first.
    """

    def __add__(self, other):
        summed = {
            name: self[name] + other[name]
            for name in self
            if not name.startswith("far_")
        }
        dist = np.concatenate([self["far_dist"], other["far_dist"]])
        n_keep = max(self["far_dist"].shape[0], other["far_dist"].shape[0])
        keep = np.argsort(-dist, kind="stable")[:n_keep]
        for name in FAR_FIELDS:
            summed[name] = np.concatenate([self[name], other[name]])[keep]
        return LloydStats(summed)


FAR_FIELDS = ("far_dist", "far_label", "far_weight", "far_rows")


def _top_rows(dist: np.ndarray, n_keep: int) -> np.ndarray:
    """Indices of the ``n_keep`` largest distances, largest first."""
    if n_keep >= dist.shape[0]:
        return np.argsort(-dist, kind="stable")
    part = np.argpartition(-dist, n_keep - 1)[:n_keep]
    return part[np.argsort(-dist[part], kind="stable")]


def lloyd_kernel(tile: Tile, plan: LloydPlan) -> LloydStats:
    """Labels, per-cluster residual sums and weights, inertia of one tile.

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D), and the row weights ``tile.weight`` (tile,) or
        None (all ones).
    plan : LloydPlan

    Returns
    -------
    LloydStats
    """
    x, w = tile.X, tile.weight
    xs1 = shift_rows(x, plan.center)
    xs = xs1[:, :-1]
    n_rows = x.shape[0]
    n_clusters = plan.n_clusters
    labels, residual, dist = nearest(xs1, plan.shifted, plan.scorer)
    n_changed = n_rows
    if plan.previous is not None:
        # two small GEMMs with contiguous outputs argmin faster than one wide
        n_changed = np.count_nonzero(labels != (xs1 @ plan.previous).argmin(axis=1))
    onehot = np.zeros((n_clusters, n_rows), dtype=xs.dtype)
    onehot[labels, np.arange(n_rows)] = 1.0 if w is None else w
    members = np.bincount(labels, minlength=n_clusters).astype(F64)
    stats = LloydStats(
        counts=members if w is None else np.bincount(labels, w, n_clusters),
        members=members,
        # residuals are of the size of the clusters' spread, so even float32
        # sums over a tile keep the digits the update needs
        sums=(onehot @ residual).astype(F64),
        inertia=dist.sum() if w is None else dist @ w.astype(F64),
        n_rows=F64(n_rows),
        n_changed=F64(n_changed),
    )
    if plan.moments:
        # scikit-learn's tolerance uses the unweighted variance of X
        stats["m1"] = xs.sum(axis=0, dtype=F64)
        stats["m2"] = np.einsum("ij,ij->j", xs, xs, dtype=F64)
    top = _top_rows(dist, plan.n_far)
    stats["far_dist"] = dist[top]
    stats["far_label"] = labels[top].astype(F64)
    stats["far_weight"] = np.ones(top.size) if w is None else w[top].astype(F64)
    stats["far_rows"] = xs[top].astype(F64)
    return stats


def require_finite(x: np.ndarray) -> None:
    """Raise numpy input's ValueError for NaN or infinity in a tile.

    Per-row outputs of dask input are computed later, block by block: the
    check runs there, before any arithmetic (so no RuntimeWarning first).
    """
    if not np.isfinite(x).all():
        raise ValueError("Input X contains NaN or infinity.")


def label_rows(tile: Tile, plan: LloydPlan) -> np.ndarray:
    """Nearest centre of each row, (tile,) int32 (scikit-learn's labels)."""
    x = tile.X
    require_finite(x)
    labels, _, _ = nearest(shift_rows(x, plan.center), plan.shifted, plan.scorer)
    return labels.astype(np.int32)


def distance_rows(tile: Tile, plan: LloydPlan) -> np.ndarray:
    """Euclidean distance of each row to every centre, (tile, K), X's dtype.

    Computed exactly (one subtraction per centre, no expanded form), as the
    output is a result and not just a choice.
    """
    x = tile.X
    require_finite(x)
    xs = x - plan.center
    out = np.empty((x.shape[0], plan.n_clusters), dtype=F64)
    for k, center in enumerate(plan.shifted):
        diff = xs - center
        out[:, k] = np.einsum("ij,ij->i", diff, diff, dtype=F64)
    return np.sqrt(out, out=out).astype(x.dtype, copy=False)


def inertia_kernel(tile: Tile, plan: LloydPlan) -> Stats:
    """Sum of (weighted) squared distances to the nearest centre (``score``).

    Also ``members`` (K,): the rows nearest to each centre.
    """
    x, w = tile.X, tile.weight
    labels, _, dist = nearest(shift_rows(x, plan.center), plan.shifted, plan.scorer)
    inertia = dist.sum() if w is None else dist @ w.astype(F64)
    members = np.bincount(labels, minlength=plan.n_clusters).astype(F64)
    return Stats(inertia=inertia, n_rows=F64(x.shape[0]), members=members)


# ------------------------------------------------------------------ row draws
@dataclass(frozen=True)
class DrawPlan:
    """Draw ``n_draws`` distinct rows, in proportion to weight if rows have one."""

    n_draws: int
    seed: int


class DrawStats(Stats):
    """``n_rows`` adds; ``draw_key``/``draw_index`` keep the smallest keys."""

    def __add__(self, other):
        key = np.concatenate([self["draw_key"], other["draw_key"]])
        keep = np.argsort(key, kind="stable")[
            : max(self["draw_key"].size, other["draw_key"].size)
        ]
        merged = DrawStats(n_rows=self["n_rows"] + other["n_rows"])
        for name in ("draw_key", "draw_index"):
            merged[name] = np.concatenate([self[name], other[name]])[keep]
        return merged


@takes_sparse
def draw_kernel(tile: Tile, plan: DrawPlan) -> DrawStats:
    """The rows of one tile with the smallest keys ``E / w``, ``E ~ Exp(1)``.

    ``E`` is drawn per global row (:func:`row_uniforms`), so the ``n_draws``
    smallest keys over all rows are the same rows, in the same order,
    whatever the blocks and tiles. They are a sample without replacement
    with probabilities proportional to ``w`` (successive sampling, as
    ``RandomState.choice(replace=False, p=w / w.sum())`` defines it, though
    with other random numbers), in the order of the draws; without weights
    (``w = 1``) a uniform one. Weights that are all equal draw the rows that
    no weights draw. Zero weights never win (their key is infinite).

    Parameters
    ----------
    tile : Tile
        Only the tile's rows count (``tile.rows()``) and its ``tile.weight``;
        ``tile.X`` is not read.
    plan : DrawPlan

    Returns
    -------
    DrawStats
        ``draw_key`` and ``draw_index`` (row numbers, float64), of shape
        (min(n_draws, tile),), smallest key first.
    """
    w, rows = tile.weight, tile.rows()
    key = -np.log(row_uniforms(rows, 1, plan.seed)[:, 0])
    if w is not None:
        with np.errstate(divide="ignore"):
            key = key / w.astype(F64)
    top = _smallest(key, plan.n_draws)
    return DrawStats(
        n_rows=F64(rows.size), draw_key=key[top], draw_index=rows[top].astype(F64)
    )


def _smallest(key: np.ndarray, n_keep: int) -> np.ndarray:
    """Indices of the ``n_keep`` smallest keys, smallest first."""
    if n_keep < key.shape[0]:
        part = np.argpartition(key, n_keep - 1)[:n_keep]
        return part[np.argsort(key[part], kind="stable")]
    return np.argsort(key, kind="stable")


# --------------------------------------------------------- k-means|| rounds
@dataclass(frozen=True)
class OversamplePlan:
    """One k-means|| round: candidates so far, oversampling ``ell``, seed."""

    center: np.ndarray
    shifted: np.ndarray
    scorer: np.ndarray
    ell: float
    seed: int


def make_oversample_plan(
    candidates: np.ndarray, dtype, ell: float, seed: int, shift: bool = True
) -> OversamplePlan:
    """Plan of a round with current ``candidates`` (M, D) float64.

    ``shift=False`` for sparse rows (see :func:`frame`).
    """
    center, shifted = frame(candidates, dtype, shift)
    return OversamplePlan(center, shifted, make_scorer(shifted), float(ell), int(seed))


class CandidateStats(Stats):
    """``phi`` (the cost) adds; ``cand_*`` rows are kept while ``t >= phi``.

    A row is a k-means|| candidate with probability ``min(1, ell d^2 / phi)``
    (Bahmani et al. 2012), i.e. when ``t = ell d^2 / u >= phi`` for its own
    uniform ``u``. ``phi`` of any subset of rows is a lower bound of the total,
    so a tile or a partial sum can already drop the rows below its own
    ``phi``: each keeps about ``ell`` rows, and the final filter against the
    total cost is exact. One pass per round, whatever the number of blocks.
    """

    def __add__(self, other):
        phi = self["phi"] + other["phi"]
        t = np.concatenate([self["cand_t"], other["cand_t"]])
        keep = t >= phi
        merged = CandidateStats(
            phi=phi,
            n_rows=self["n_rows"] + other["n_rows"],
            cand_t=t[keep],
        )
        for name in ("cand_index", "cand_rows"):
            merged[name] = np.concatenate([self[name], other[name]])[keep]
        return merged


@takes_sparse
def oversample_kernel(tile: Tile, plan: OversamplePlan) -> CandidateStats:
    """Cost ``phi`` of one tile and its rows with ``ell d^2 / u >= phi_tile``.

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D), dense or sparse (CSR); with row weights
        ``tile.weight``, the cost and the chance of a row are ``w d^2``;
        ``tile.rows()`` key the draws.
    plan : OversamplePlan

    Returns
    -------
    CandidateStats
    """
    x, w, rows = tile.X, tile.weight, tile.rows()
    dist = weighted(nearest_dist(x, plan), w)
    phi = dist.sum()
    t = plan.ell * dist / row_uniforms(rows, 1, plan.seed)[:, 0]
    keep = (dist > 0.0) & (t >= phi)
    return CandidateStats(
        phi=phi,
        n_rows=F64(x.shape[0]),
        cand_t=t[keep],
        cand_index=rows[keep].astype(F64),
        cand_rows=dense_rows(x[keep]),
    )


# --------------------------------------------------- greedy k-means++ passes
@dataclass(frozen=True)
class TrialPlan:
    """One k-means++ pass: chosen centres, trial centres to score, seed.

    Attributes
    ----------
    center, shifted, scorer
        Frame and chosen centres (k, D).
    trials : ndarray of shape (J, D) or None
        Shifted trial centres whose potentials this pass measures (the
        candidates for the next centre); None in the first pass.
    n_trials : int
        Trials to draw for the following centre (0: last pass, draw none).
    seed : int
    """

    center: np.ndarray
    shifted: np.ndarray
    scorer: np.ndarray
    trials: np.ndarray | None
    n_trials: int
    seed: int


def make_trial_plan(
    chosen: np.ndarray,
    trials: np.ndarray | None,
    dtype,
    n_trials: int,
    seed: int,
    shift: bool = True,
) -> TrialPlan:
    """Plan of a k-means++ pass (``chosen`` (k, D), ``trials`` (J, D), float64).

    ``shift=False`` for sparse rows (see :func:`frame`).
    """
    center, shifted = frame(chosen, dtype, shift)
    shifted_trials = None
    if trials is not None:
        shifted_trials = np.ascontiguousarray(
            trials - center.astype(F64), dtype=shifted.dtype
        )
    return TrialPlan(
        center, shifted, make_scorer(shifted), shifted_trials, n_trials, int(seed)
    )


class TrialStats(Stats):
    """``potential`` (J,) adds; ``trial_*`` keep the smallest sampling keys.

    ``trial_key[j, l]`` is the smallest ``E / d_j^2`` over the rows seen, with
    ``E ~ Exp(1)`` drawn per row and per draw ``l``: the row that attains it
    is a draw with probability proportional to ``d_j^2`` (exponential race),
    where ``d_j`` is the distance to the chosen centres plus trial ``j``.
    """

    def __add__(self, other):
        take_other = other["trial_key"] < self["trial_key"]
        merged = TrialStats(
            potential=self["potential"] + other["potential"],
            n_rows=self["n_rows"] + other["n_rows"],
            trial_key=np.where(take_other, other["trial_key"], self["trial_key"]),
            trial_index=np.where(take_other, other["trial_index"], self["trial_index"]),
            trial_rows=np.where(
                take_other[..., None], other["trial_rows"], self["trial_rows"]
            ),
        )
        return merged


def _trial_distances(x, plan: TrialPlan) -> np.ndarray:
    """Squared distance of each row to the chosen centres plus each trial.

    The expanded form ``|x|^2 - 2 x.c + |c|^2`` in the plan's frame (shifted
    dense rows; sparse rows as they are), clipped at zero: one product scores
    the chosen centres and the trials together. A draw needs no more
    precision than scikit-learn's seeding uses, and the pass then costs about
    what scikit-learn's in-memory k-means++ spends on one centre.

    Returns
    -------
    ndarray of shape (tile, J), float64
        ``J = 1`` (the chosen centres alone) when the plan has no trials.
    """
    scorer = plan.scorer
    if plan.trials is not None:
        scorer = np.hstack([scorer, make_scorer(plan.trials)])
    if sp.issparse(x):
        x = x.astype(F64, copy=False)
        scores = x @ scorer[:-1] + scorer[-1]
        squares = sparse_sq_norms(x)
    else:
        xs1 = shift_rows(x, plan.center)
        scores = xs1 @ scorer
        squares = np.einsum("ij,ij->i", xs1[:, :-1], xs1[:, :-1], dtype=F64)
    n_chosen = plan.shifted.shape[0]
    dist = np.maximum(squares + scores[:, :n_chosen].min(axis=1), 0.0)
    if plan.trials is None:
        return dist[:, None]
    to_trials = np.maximum(squares[:, None] + scores[:, n_chosen:], 0.0)
    return np.minimum(dist[:, None], to_trials)


@takes_sparse
def trial_kernel(tile: Tile, plan: TrialPlan) -> TrialStats:
    """Potentials of the trials and D^2 draws of the next trials, one tile.

    With row weights ``tile.weight``, potentials and draws use ``w d^2``
    (scikit-learn's weighted k-means++). ``tile.X`` is dense or sparse (CSR).

    Returns
    -------
    TrialStats
        ``potential`` (J,), ``trial_key``/``trial_index`` (J, L),
        ``trial_rows`` (J, L, D) float64, with ``J = 1`` when the plan has no
        trials and ``L = plan.n_trials``.
    """
    x, w, rows = tile.X, tile.weight, tile.rows()
    d2 = weighted(_trial_distances(x, plan), w)
    n_draws = plan.n_trials
    n_options = d2.shape[1]
    stats = TrialStats(
        potential=d2.sum(axis=0),
        n_rows=F64(x.shape[0]),
        trial_key=np.full((n_options, n_draws), np.inf),
        trial_index=np.zeros((n_options, n_draws)),
        trial_rows=np.zeros((n_options, n_draws, x.shape[1])),
    )
    if n_draws == 0:
        return stats
    exp_draws = -np.log(row_uniforms(rows, n_draws, plan.seed)).T  # (L, tile)
    with np.errstate(divide="ignore"):
        # rows last, so that the race's argmin runs along contiguous memory
        keys = exp_draws[None, :, :] / d2.T[:, None, :]  # (J, L, tile); d=0 -> inf
    best = keys.argmin(axis=2)  # (J, L)
    stats["trial_key"] = np.take_along_axis(keys, best[..., None], axis=2)[..., 0]
    stats["trial_index"] = rows[best].astype(F64)
    stats["trial_rows"] = dense_rows(x[best.ravel()]).reshape(*best.shape, -1)
    return stats
