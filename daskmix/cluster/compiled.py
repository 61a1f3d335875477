"""Compiled (numba) Lloyd kernels: one fused sweep a tile.

The numpy kernels of :mod:`daskmix.cluster.kernels` are the reference. A
Lloyd step here takes 256 rows at a time: one small GEMM scores them against
every centre (``|x - c|^2 - |x|^2``, transposed so that the argmin runs with
rows in SIMD lanes), then one loop takes each row's nearest centre, its exact
residual and squared distance, and adds them into the cluster sums, counts
and inertia: no one-hot matrix, no gather of residuals, no second GEMM.

Label changes against the previous centres (scikit-learn's strict
convergence test) are counted from bounds: a row whose nearest centre ``l``
beats the runner-up by more than the centres moved,
``|x - c_l| + delta_l < |x - c_2| - max(delta)``, kept its label; only the
rows that fail the bound are scored against the previous centres, by one
small GEMM of those rows per 256.

Arithmetic follows the reference: the scores in the data's dtype, distances,
sums and inertia in float64.
"""

from __future__ import annotations

import math

import numpy as np

from .._engine.jit import c_rows, jit, row_weights
from .._engine.stats import Stats
from .._engine.tiles import Tile

F64 = np.float64

#: rows scored by one GEMM
CHUNK = 256

#: what a sweep computes
LLOYD, INERTIA, LABELS = 0, 1, 2


def supports(tile: Tile, plan) -> bool:
    """Whether the compiled kernels serve this tile under ``plan``."""
    return (
        plan.backend == "compiled"
        and type(tile.X) is np.ndarray  # not scipy.sparse, not a device array
        and tile.mask is None
    )


@jit
def _sweep(
    x,
    weight,
    center,
    shifted,
    scorer_t,
    previous_t,
    moved,
    mode,
    counts,
    members,
    sums,
    scalars,
    m1,
    m2,
    labels_out,
    dist_out,
    far_index,
):
    """Nearest centres of the rows of ``x``, their sums added into the outputs.

    ``scorer_t`` (K, D + 1): the transposed scorer ``[-2 c, |c|^2]``;
    ``previous_t`` (K, D + 1) the previous pass's (or (0, D + 1));
    ``moved`` (K,) how far each centre moved since. ``scalars`` gets
    ``[inertia, n_changed]``. ``labels_out`` and ``dist_out`` (n,) receive
    each row's label and squared distance; ``far_index`` (n_far,), filled
    with -1, the rows of the largest distances (in no order).
    """
    n, n_features = x.shape
    n_clusters = shifted.shape[0]
    weighted = weight.shape[0] > 0
    compare = previous_t.shape[0] > 0 and mode == LLOYD
    moments = m1.shape[0] > 0
    largest_move = 0.0
    largest_center = 0.0
    for k in range(n_clusters):
        largest_move = max(largest_move, moved[k])
        size = 0.0
        for d in range(n_features):
            size += np.float64(shifted[k, d]) * np.float64(shifted[k, d])
        largest_center = max(largest_center, size)
    rounding = 64.0 * np.finfo(center.dtype).eps
    n_far = far_index.shape[0]
    far_dist = np.full(n_far, -1.0)
    far_floor = -1.0 if n_far > 0 else np.inf
    rows_t = np.empty((n_features + 1, CHUNK), dtype=center.dtype)
    scores = np.empty((n_clusters, CHUNK), dtype=center.dtype)
    best = np.empty(CHUNK)
    second = np.empty(CHUNK)
    label = np.zeros(CHUNK, dtype=np.int64)
    residual = np.empty(n_features, dtype=center.dtype)
    inertia = 0.0
    changed = 0.0
    failing = np.empty(CHUNK, dtype=np.int64)
    for start in range(0, n, CHUNK):
        nb = min(CHUNK, n - start)
        n_failing = 0
        if nb < CHUNK:
            rows_t = np.zeros((n_features + 1, nb), dtype=center.dtype)
            scores = np.empty((n_clusters, nb), dtype=center.dtype)
        for b in range(nb):
            for d in range(n_features):
                rows_t[d, b] = x[start + b, d] - center[d]
            rows_t[n_features, b] = 1.0
        np.dot(scorer_t, rows_t, scores)
        for b in range(nb):
            best[b] = scores[0, b]
            second[b] = np.inf
            label[b] = 0
        if compare:
            for k in range(1, n_clusters):
                for b in range(nb):
                    v = scores[k, b]
                    if v < best[b]:
                        second[b] = best[b]
                        best[b] = v
                        label[b] = k
                    elif v < second[b]:
                        second[b] = v
        else:
            for k in range(1, n_clusters):
                for b in range(nb):
                    v = scores[k, b]
                    if v < best[b]:
                        best[b] = v
                        label[b] = k
        for b in range(nb):
            i = start + b
            own = label[b]
            w = weight[i] if weighted else 1.0
            dist = 0.0
            for d in range(n_features):
                residual[d] = rows_t[d, b] - shifted[own, d]
                r = np.float64(residual[d])
                dist += r * r
            inertia += w * dist
            members[own] += 1.0
            labels_out[i] = own
            dist_out[i] = dist
            if dist > far_floor:
                # keep the n_far largest distances: replace the smallest kept
                low = 0
                for j in range(1, n_far):
                    if far_dist[j] < far_dist[low]:
                        low = j
                far_dist[low] = dist
                far_index[low] = i
                far_floor = far_dist[0]
                for j in range(1, n_far):
                    far_floor = min(far_floor, far_dist[j])
            if mode != LLOYD:
                continue
            counts[own] += w
            for d in range(n_features):
                sums[own, d] += w * residual[d]
            if moments:
                for d in range(n_features):
                    value = np.float64(rows_t[d, b])
                    m1[d] += value
                    m2[d] += value * value
            if compare:
                # the runner-up's distance comes from the scores: the margin
                # covers their rounding (``sqrt`` of its bound)
                near = math.sqrt(dist)
                norm = 0.0
                for d in range(n_features):
                    norm += np.float64(rows_t[d, b]) * np.float64(rows_t[d, b])
                runner_up = math.sqrt(max(second[b] + norm, 0.0))
                margin = math.sqrt(rounding * (norm + largest_center))
                if near + moved[own] + largest_move + margin >= runner_up:
                    failing[n_failing] = b
                    n_failing += 1
        if n_failing > 0:
            # the rows the bound could not settle: scored against the
            # previous centres by one GEMM of theirs
            rows = np.empty((n_features + 1, n_failing), dtype=center.dtype)
            for j in range(n_failing):
                for d in range(n_features + 1):
                    rows[d, j] = rows_t[d, failing[j]]
            old_scores = np.dot(previous_t, rows)
            old_best = old_scores[0].copy()
            old_label = np.zeros(n_failing, dtype=np.int64)
            for k in range(1, n_clusters):
                for j in range(n_failing):
                    v = old_scores[k, j]
                    if v < old_best[j]:
                        old_best[j] = v
                        old_label[j] = k
            for j in range(n_failing):
                if old_label[j] != label[failing[j]]:
                    changed += 1.0
    scalars[0] += inertia
    scalars[1] += changed


_NONE = np.empty(0)


def _run(tile: Tile, plan, mode: int, weight=None):
    x = c_rows(tile.X)
    n_rows, n_features = x.shape
    n_clusters = plan.n_clusters
    dtype = plan.center.dtype
    scorer_t = c_rows(np.ascontiguousarray(plan.scorer.T))
    if plan.previous is not None and mode == LLOYD:
        previous_t = c_rows(np.ascontiguousarray(plan.previous.T, dtype=dtype))
        # the previous scorer is [-2 C^T; |C|^2]: its centres, exactly
        previous = -0.5 * plan.previous[:-1].T.astype(F64)
        moved = np.sqrt(((plan.shifted.astype(F64) - previous) ** 2).sum(axis=1))
        moved = moved * (1.0 + 1e-9)
    else:
        previous_t = np.empty((0, n_features + 1), dtype=dtype)
        moved = np.zeros(n_clusters)
    counts = np.zeros(n_clusters)
    members = np.zeros(n_clusters)
    sums = np.zeros((n_clusters, n_features))
    scalars = np.zeros(2)
    moments = mode == LLOYD and plan.moments
    m1 = np.zeros(n_features) if moments else _NONE
    m2 = np.zeros(n_features) if moments else _NONE
    labels = np.empty(n_rows, dtype=np.int64)
    dist = np.empty(n_rows)
    far_index = np.full(plan.n_far if mode == LLOYD else 0, -1, dtype=np.int64)
    _sweep(
        x,
        row_weights(weight),
        c_rows(plan.center),
        c_rows(np.asarray(plan.shifted, dtype=dtype)),
        scorer_t,
        previous_t,
        moved,
        mode,
        counts,
        members,
        sums,
        scalars,
        m1,
        m2,
        labels,
        dist,
        far_index,
    )
    far = far_index[far_index >= 0]
    # largest first, ties in row order (as the numpy kernel's stable sort)
    far = far[np.lexsort((far, -dist[far]))]
    return counts, members, sums, scalars, m1, m2, labels, dist, far


def lloyd_kernel(tile: Tile, plan, stats_type):
    """Compiled :func:`daskmix.cluster.kernels.lloyd_kernel` (same statistics).

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D) and the row weights ``tile.weight`` or None.
    plan : LloydPlan
    stats_type : type
        The statistics class to return (``LloydStats``).

    Returns
    -------
    LloydStats
    """
    w = tile.weight
    counts, members, sums, scalars, m1, m2, labels, dist, top = _run(
        tile, plan, LLOYD, w
    )
    stats = stats_type(
        counts=counts,
        members=members,
        sums=sums,
        inertia=F64(scalars[0]),
        n_rows=F64(tile.n_rows),
        n_changed=F64(scalars[1] if plan.previous is not None else tile.n_rows),
    )
    if plan.moments:
        stats["m1"] = m1
        stats["m2"] = m2
    stats["far_dist"] = dist[top]
    stats["far_label"] = labels[top].astype(F64)
    stats["far_weight"] = np.ones(top.size) if w is None else w[top].astype(F64)
    stats["far_rows"] = (tile.X[top] - plan.center).astype(F64)
    return stats


def inertia_kernel(tile: Tile, plan) -> Stats:
    """Compiled :func:`daskmix.cluster.kernels.inertia_kernel`.

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D) and the row weights ``tile.weight`` or None.
    plan : LloydPlan

    Returns
    -------
    Stats
        ``inertia``, ``n_rows``, ``members`` (K,).
    """
    _, members, _, scalars, *_ = _run(tile, plan, INERTIA, tile.weight)
    return Stats(inertia=F64(scalars[0]), n_rows=F64(tile.n_rows), members=members)


def nearest_rows(tile: Tile, plan) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre (int64) and squared distance (float64) of each row.

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D).
    plan : LloydPlan

    Returns
    -------
    labels : ndarray of shape (tile,)
    dist : ndarray of shape (tile,)
    """
    *_, labels, dist, _ = _run(tile, plan, LABELS)
    return labels, dist
