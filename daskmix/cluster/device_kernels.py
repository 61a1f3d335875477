"""The k-means kernels on array-API arrays (cupy, torch, array-api-strict).

The Lloyd pass, the scoring pass and the per-row outputs of
:mod:`daskmix.cluster.kernels`, written against the namespace of the tile's
arrays so that they run where the data live. The statistics come back to the
host (the engine converts them): per-cluster sums and counts, and the few
farthest rows that re-seed empty clusters. The seedings run on a host copy of
device data (:mod:`daskmix.cluster.seeding`).
"""

from __future__ import annotations

import numpy as np

from .._engine.namespaces import device, namespace, register_device_kernel, to_host
from .._engine.stats import Stats
from .._engine.tiles import Tile
from .kernels import (
    LloydPlan,
    LloydStats,
    distance_rows,
    inertia_kernel,
    label_rows,
    lloyd_kernel,
)

F64 = np.float64


def _on(xp, array: np.ndarray, reference):
    return xp.asarray(np.ascontiguousarray(array), device=device(reference))


def _nearest(xp, x, plan: LloydPlan):
    """Shifted rows, labels, residuals and exact squared distances (float64)."""
    xs = x - _on(xp, plan.center, x)
    shifted = _on(xp, plan.shifted, x)
    scorer = _on(xp, plan.scorer, x)
    scores = xs @ scorer[:-1, :] + scorer[-1, :][None, :]
    labels = xp.argmin(scores, axis=1)
    residual = xs - xp.take(shifted, labels, axis=0)
    dist = xp.sum(xp.astype(residual, xp.float64) ** 2, axis=1)
    return xs, labels, residual, dist


def _onehot(xp, labels, n_clusters: int, dtype, reference):
    components = xp.arange(n_clusters, device=device(reference))
    return xp.astype(labels[None, :] == components[:, None], dtype)


def lloyd_kernel_device(tile: Tile, plan: LloydPlan) -> LloydStats:
    """:func:`daskmix.cluster.kernels.lloyd_kernel` on array-API arrays."""
    x = tile.X
    xp = namespace(x)
    weight = tile.weight
    n_rows = tile.n_rows
    xs, labels, residual, dist = _nearest(xp, x, plan)
    n_changed = n_rows
    if plan.previous is not None:
        previous = _on(xp, plan.previous, x)
        old = xp.argmin(xs @ previous[:-1, :] + previous[-1, :][None, :], axis=1)
        n_changed = int(xp.sum(xp.astype(old != labels, xp.int64)))
    onehot = _onehot(xp, labels, plan.n_clusters, x.dtype, x)
    members = xp.sum(xp.astype(onehot, xp.float64), axis=1)
    if weight is None:
        counts, inertia, weighted = members, xp.sum(dist), onehot
    else:
        w = xp.astype(weight, x.dtype)
        weighted = onehot * w[None, :]
        counts = xp.sum(xp.astype(weighted, xp.float64), axis=1)
        inertia = xp.sum(dist * xp.astype(w, xp.float64))
    stats = LloydStats(
        counts=counts,
        members=members,
        sums=weighted @ residual,
        inertia=inertia,
        n_rows=F64(n_rows),
        n_changed=F64(n_changed),
    )
    if plan.moments:
        xs64 = xp.astype(xs, xp.float64)
        stats["m1"] = xp.sum(xs64, axis=0)
        stats["m2"] = xp.sum(xs64 * xs64, axis=0)
    # the farthest rows (re-seeding empty clusters): a few, selected on the host
    n_keep = min(plan.n_far, n_rows)
    far = to_host(dist)
    top = np.argsort(-far, kind="stable")[:n_keep]
    stats["far_dist"] = far[top]
    stats["far_label"] = to_host(labels)[top].astype(F64)
    stats["far_weight"] = (
        np.ones(top.size) if weight is None else to_host(weight)[top].astype(F64)
    )
    rows = xp.asarray(top, device=device(x))
    stats["far_rows"] = to_host(xp.take(xs, rows, axis=0)).astype(F64)
    return stats


def inertia_kernel_device(tile: Tile, plan: LloydPlan) -> Stats:
    """Sum of (weighted) squared distances to the nearest centre, and members."""
    x = tile.X
    xp = namespace(x)
    _, labels, _, dist = _nearest(xp, x, plan)
    onehot = _onehot(xp, labels, plan.n_clusters, xp.float64, x)
    if tile.weight is None:
        inertia = xp.sum(dist)
    else:
        inertia = xp.sum(dist * xp.astype(tile.weight, xp.float64))
    return Stats(
        inertia=inertia, n_rows=F64(tile.n_rows), members=xp.sum(onehot, axis=1)
    )


def label_rows_device(tile: Tile, plan: LloydPlan):
    """Nearest centre of each row, (tile,) int32, as scikit-learn's labels."""
    x = tile.X
    xp = namespace(x)
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError("Input X contains NaN or infinity.")
    return xp.astype(_nearest(xp, x, plan)[1], xp.int32)


def distance_rows_device(tile: Tile, plan: LloydPlan):
    """Euclidean distance of each row to every centre, (tile, K), X's dtype."""
    x = tile.X
    xp = namespace(x)
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError("Input X contains NaN or infinity.")
    xs = xp.astype(x - _on(xp, plan.center, x), xp.float64)
    shifted = xp.astype(_on(xp, plan.shifted, x), xp.float64)
    diff = xs[:, None, :] - shifted[None, :, :]
    return xp.astype(xp.sqrt(xp.sum(diff * diff, axis=2)), x.dtype)


for _numpy, _device in (
    (lloyd_kernel, lloyd_kernel_device),
    (inertia_kernel, inertia_kernel_device),
    (label_rows, label_rows_device),
    (distance_rows, distance_rows_device),
):
    register_device_kernel(_numpy, _device)
