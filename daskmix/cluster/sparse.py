"""k-means passes over SciPy sparse rows (CSR), such as text features.

A sparse tile is never shifted nor densified: centering would fill it in.
Distances take scikit-learn's expanded form ``|x|^2 - 2 x.c + |c|^2`` (one
sparse-dense product per tile, in float64, clipped at zero), and the plans
use the frame of the origin: a :class:`~daskmix.cluster.kernels.LloydPlan`
whose ``center`` is zero and whose ``shifted`` are the centres themselves,
so that the Lloyd driver's update (:func:`~daskmix.cluster.lloyd.update_centers`)
serves both layouts. Only the few rows a pass keeps (farthest rows,
candidates, trials) become dense.

:func:`functions_for` picks the dense or the sparse functions of a pass for
the data at hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._engine.stats import Stats
from .._engine.tiles import Tile, takes_sparse
from .kernels import (
    F64,
    LloydPlan,
    LloydStats,
    _top_rows,
    distance_rows,
    inertia_kernel,
    label_rows,
    lloyd_kernel,
    make_lloyd_plan,
    make_scorer,
    sparse_nearest,
    sparse_sq_norms,
)


def is_sparse(X) -> bool:
    """Whether ``X`` is a SciPy sparse matrix or array."""
    return sp.issparse(X)


def make_sparse_plan(
    centers: np.ndarray,
    dtype=None,
    n_far: int = 0,
    moments: bool = False,
    previous: np.ndarray | None = None,
) -> LloydPlan:
    """:func:`~daskmix.cluster.kernels.make_lloyd_plan` for sparse rows.

    The frame is the origin and every array is float64 (``dtype`` is only
    accepted for the same signature): sparse tiles are computed in float64.

    Parameters
    ----------
    centers : ndarray of shape (K, D)
    dtype : ignored
    n_far, moments : as for ``make_lloyd_plan``
    previous : ndarray of shape (K, D), optional
        The previous pass's centres (counts the changed labels).

    Returns
    -------
    LloydPlan
    """
    shifted = np.ascontiguousarray(centers, dtype=F64)
    old = None if previous is None else make_scorer(np.asarray(previous, dtype=F64))
    center = np.zeros(shifted.shape[1])
    return LloydPlan(center, shifted, make_scorer(shifted), n_far, moments, old)


def _float64(x):
    return x if x.dtype == F64 else x.astype(F64)


@takes_sparse
def sparse_lloyd_kernel(tile: Tile, plan: LloydPlan) -> LloydStats:
    """:func:`~daskmix.cluster.kernels.lloyd_kernel` for a sparse tile.

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D) CSR; ``tile.weight`` (tile,) or None.
    plan : LloydPlan
        From :func:`make_sparse_plan`.

    Returns
    -------
    LloydStats
        As the dense kernel's: ``sums`` are residuals to each row's own
        centre, ``far_rows`` dense rows (the frame is the origin).
    """
    x, w = _float64(tile.X), tile.weight
    n_rows, n_clusters = x.shape[0], plan.n_clusters
    labels, dist = sparse_nearest(x, plan.scorer)
    n_changed = n_rows
    if plan.previous is not None:
        before = (x @ plan.previous[:-1] + plan.previous[-1]).argmin(axis=1)
        n_changed = np.count_nonzero(labels != before)
    weight = np.ones(n_rows) if w is None else w.astype(F64)
    members = np.bincount(labels, minlength=n_clusters).astype(F64)
    counts = members if w is None else np.bincount(labels, weight, n_clusters)
    onehot = sp.csr_array(
        (weight, (labels, np.arange(n_rows))), shape=(n_clusters, n_rows)
    )
    sums = (onehot @ x).toarray() - counts[:, None] * plan.shifted
    stats = LloydStats(
        counts=counts,
        members=members,
        sums=sums,
        inertia=dist.sum() if w is None else dist @ weight,
        n_rows=F64(n_rows),
        n_changed=F64(n_changed),
    )
    if plan.moments:
        stats["m1"] = np.asarray(x.sum(axis=0)).ravel()
        stats["m2"] = np.asarray(x.multiply(x).sum(axis=0)).ravel()
    top = _top_rows(dist, plan.n_far)
    stats["far_dist"] = dist[top]
    stats["far_label"] = labels[top].astype(F64)
    stats["far_weight"] = weight[top]
    stats["far_rows"] = x[top].toarray()
    return stats


@takes_sparse
def sparse_inertia_kernel(tile: Tile, plan: LloydPlan) -> Stats:
    """:func:`~daskmix.cluster.kernels.inertia_kernel` for a sparse tile."""
    x, w = _float64(tile.X), tile.weight
    labels, dist = sparse_nearest(x, plan.scorer)
    members = np.bincount(labels, minlength=plan.n_clusters).astype(F64)
    inertia = dist.sum() if w is None else dist @ w.astype(F64)
    return Stats(inertia=inertia, n_rows=F64(x.shape[0]), members=members)


@takes_sparse
def sparse_label_rows(tile: Tile, plan: LloydPlan) -> np.ndarray:
    """Nearest centre of each sparse row, (tile,) int32."""
    labels, _ = sparse_nearest(_float64(tile.X), plan.scorer)
    return labels.astype(np.int32)


@takes_sparse
def sparse_distance_rows(tile: Tile, plan: LloydPlan) -> np.ndarray:
    """Euclidean distance of each sparse row to every centre, (tile, K).

    In X's dtype; the expanded form, as scikit-learn's ``transform`` of
    sparse input.
    """
    x = _float64(tile.X)
    squared = sparse_sq_norms(x)[:, None] + (x @ plan.scorer[:-1] + plan.scorer[-1])
    np.maximum(squared, 0.0, out=squared)
    return np.sqrt(squared, out=squared).astype(tile.X.dtype, copy=False)


@dataclass(frozen=True)
class KMeansFunctions:
    """The kernels, per-row functions and plan of k-means passes, one layout.

    Attributes
    ----------
    lloyd, inertia : callable
        Block kernels ``(tile, plan) -> Stats``.
    labels, distances : callable
        Per-row functions ``(tile, plan) -> ndarray``.
    plan : callable
        ``plan(centers, dtype, n_far=0, moments=False, previous=None)``.
    sparse : bool
        Whether these are the sparse functions (tiles are sized by their
        (tile, K) temporaries, not by the width of a dense row).
    """

    lloyd: Callable
    inertia: Callable
    labels: Callable
    distances: Callable
    plan: Callable
    sparse: bool


DENSE = KMeansFunctions(
    lloyd_kernel, inertia_kernel, label_rows, distance_rows, make_lloyd_plan, False
)
SPARSE = KMeansFunctions(
    sparse_lloyd_kernel,
    sparse_inertia_kernel,
    sparse_label_rows,
    sparse_distance_rows,
    make_sparse_plan,
    True,
)


def functions_for(X) -> KMeansFunctions:
    """The pass functions for rows like ``X`` (an array or its RowBlocks' X)."""
    return SPARSE if is_sparse(X) else DENSE
