"""Lloyd's algorithm on row blocks, and k-means with seeding and restarts.

One pass over the data per Lloyd iteration: the pass labels every row under
the current centres and tree-reduces per-cluster residual sums, counts,
inertia and the few rows farthest from their centres.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .. import config
from .._em.progress import fit_progress
from .._engine.rows import RowBlocks, default_tile_rows
from .._engine.stats import Stats
from . import device_kernels as _device_kernels  # noqa: F401 (registers them)
from .kernels import LloydPlan
from .seeding import (
    check_finite,
    kmeans_parallel_centers,
    kmeans_plusplus_centers,
    random_data_centers,
    with_weights,
)
from .sparse import functions_for


@dataclass
class LloydResult:
    """Outcome of :func:`lloyd`: centres, their inertia, iterations."""

    centers: np.ndarray
    inertia: float
    n_iter: int
    converged: bool
    #: clusters that own at least one row under ``centers``
    n_distinct: int = -1


def update_centers(stats: Stats, plan: LloydPlan) -> np.ndarray:
    """New centres from one pass's statistics; empty clusters re-seeded.

    A cluster that received no weight takes the farthest row of the pass (as
    scikit-learn does) that is not alone in its own cluster and has a
    positive weight; that row leaves its old cluster's sums. With no such
    row left (all rows sit on their centres), the empty cluster keeps its
    centre. Never NaN.

    Parameters
    ----------
    stats : LloydStats
    plan : LloydPlan
        The plan of that pass (its frame, as rounded to the data dtype).

    Returns
    -------
    centers : ndarray of shape (K, D), float64
    """
    center = plan.center.astype(np.float64)
    shifted = plan.shifted.astype(np.float64)
    counts = stats["counts"].copy()
    members = stats["members"].copy()
    sums = stats["sums"].copy()
    new = shifted.copy()
    empty = np.flatnonzero(counts == 0)
    far = iter(range(stats["far_dist"].shape[0]))
    for cluster in empty:
        for i in far:
            donor = int(stats["far_label"][i])
            weight = stats["far_weight"][i]
            if stats["far_dist"][i] > 0 and members[donor] > 1 and weight > 0:
                row = stats["far_rows"][i]
                counts[donor] -= weight
                members[donor] -= 1
                sums[donor] -= weight * (row - shifted[donor])
                new[cluster] = row
                break
    filled = counts > 0
    new[filled] += sums[filled] / counts[filled, None]
    return center + new


def lloyd(
    data: RowBlocks,
    centers: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    tile_rows: int,
    verbose: int = 0,
    sample_weight=None,
    progress=None,
) -> LloydResult:
    """Lloyd iterations from ``centers``, one pass over the data each.

    Each pass labels every row under the current centres and returns the
    statistics of the next ones, so the inertia of a pass belongs to the
    centres that entered it. The loop stops as scikit-learn's does: when no
    row changed its label since the previous pass (strict convergence; the
    pass counts the changes by scoring the previous centres in the same
    GEMM), or when the squared centre shift is at most ``tol`` times the
    mean feature variance (measured in the first pass, at no extra cost).
    As in scikit-learn, the result is the last *update* of the centres;
    unless the labels stopped changing, one more pass measures its exact
    inertia and the clusters that own rows, so that ``labels_``, ``inertia_``
    and ``cluster_centers_`` agree. Passes: ``n_iter``, plus at most one.

    Parameters
    ----------
    data : RowBlocks
        ``X`` only, dense or sparse (CSR).
    centers : ndarray of shape (K, D)
    max_iter : int
    tol : float
    tile_rows : int
    verbose : int
    sample_weight : ndarray or dask array of shape (n_samples,), optional
        Row weights, blocked as ``X`` (validated).
    progress : FitProgress, optional
        Told the inertia of every pass.

    Returns
    -------
    LloydResult
    """
    n_clusters = centers.shape[0]
    centers = np.asarray(centers, dtype=np.float64)
    functions = functions_for(data.X)
    rows = with_weights(data, sample_weight)
    tol_abs = None
    result = LloydResult(centers, np.inf, 0, False)
    previous = None
    shift = 0.0
    for n_iter in range(1, max_iter + 1):
        plan = functions.plan(
            centers,
            data.dtype,
            n_far=n_clusters,
            moments=tol_abs is None,
            previous=previous,
        )
        stats = rows.map_reduce(functions.lloyd, plan, tile_rows, name="kmeans")
        check_finite(rows, stats["inertia"], stats["sums"])
        if tol_abs is None:
            n_rows = stats["n_rows"]
            variance = stats["m2"] / n_rows - (stats["m1"] / n_rows) ** 2
            tol_abs = tol * float(np.mean(variance))
        inertia = float(stats["inertia"])
        if progress is not None:
            progress.step(n_iter, inertia)
        if verbose:
            print(f"Iteration {n_iter - 1}, inertia {inertia}.")
        if previous is not None and stats["n_changed"] == 0:
            # the update would give these centres again, up to rounding
            if verbose:
                print(f"Converged at iteration {n_iter - 1}: strict convergence.")
            n_distinct = int(np.count_nonzero(stats["members"]))
            return LloydResult(centers, inertia, n_iter, True, n_distinct)
        new_centers = update_centers(stats, plan)
        shift = float(((new_centers - centers) ** 2).sum())
        result = LloydResult(centers, inertia, n_iter, shift <= tol_abs)
        if result.converged:
            if verbose:
                print(
                    f"Converged at iteration {n_iter - 1}: center shift {shift} "
                    f"within tolerance {tol_abs}."
                )
            break
        previous, centers = centers, new_centers
    if shift > 0.0:
        # scikit-learn's final relabelling: evaluate the last update
        plan = functions.plan(new_centers, data.dtype)
        stats = rows.map_reduce(functions.inertia, plan, tile_rows)
        check_finite(rows, stats["inertia"])
        result.centers, result.inertia = new_centers, float(stats["inertia"])
    # else converged with no shift: the last pass labelled under these centres
    result.n_distinct = int(np.count_nonzero(stats["members"]))
    return result


def warn_few_clusters(n_distinct: int, n_clusters: int, stacklevel: int) -> None:
    """scikit-learn's ConvergenceWarning when fewer clusters own rows than K.

    Parameters
    ----------
    n_distinct : int
        Clusters that own at least one row (:attr:`LloydResult.n_distinct`).
    n_clusters : int
    stacklevel : int
        As for :func:`warnings.warn`, counted from the caller of this function.
    """
    if n_distinct < n_clusters:
        warnings.warn(
            f"Number of distinct clusters ({n_distinct}) found smaller than "
            f"n_clusters ({n_clusters}). Possibly due to duplicate points in X.",
            ConvergenceWarning,
            stacklevel=stacklevel + 1,
        )


def kmeans_tile_rows(n_clusters: int, n_features: int, sparse: bool = False) -> int:
    """Rows per tile of the k-means kernels.

    A dense tile's widest temporary is (tile, K + D); a sparse tile's is its
    (tile, K) scores (its rows are never densified).
    """
    return default_tile_rows(n_clusters + (0 if sparse else n_features))


def seed_centers(
    data: RowBlocks,
    n_clusters: int,
    init: str,
    random_state: np.random.RandomState,
    *,
    oversampling_factor: float = 2.0,
    n_rounds: int | None = None,
    sample_weight=None,
) -> np.ndarray:
    """Starting centres by the named seeding algorithm.

    Parameters
    ----------
    data : RowBlocks
    n_clusters : int
    init : {'k-means||', 'k-means++', 'random'}
    random_state : RandomState
    oversampling_factor : float, default=2.0
        k-means|| only: expected candidates per round, per centre.
    n_rounds : int, optional
        k-means|| only: oversampling rounds (default
        ``daskmix.seeding.parallel-rounds``).
    sample_weight : ndarray or dask array of shape (n_samples,), optional
        Row weights: every method draws rows in proportion to them.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), float64
    """
    if init == "k-means||":
        return kmeans_parallel_centers(
            data,
            n_clusters,
            random_state,
            oversampling_factor=oversampling_factor,
            n_rounds=n_rounds,
            sample_weight=sample_weight,
        )
    if init == "k-means++":
        return kmeans_plusplus_centers(
            data, n_clusters, random_state, sample_weight=sample_weight
        )
    return random_data_centers(
        data, n_clusters, random_state, sample_weight=sample_weight
    )


def fit_kmeans(
    data: RowBlocks,
    n_clusters: int,
    random_state: np.random.RandomState,
    *,
    init: str | np.ndarray | Callable = "k-means||",
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    verbose: int = 0,
    oversampling_factor: float = 2.0,
    n_rounds: int | None = None,
    sample_weight=None,
    progress_name: str | None = None,
) -> LloydResult:
    """k-means: ``n_init`` seedings, Lloyd from each, the lowest inertia wins.

    Parameters
    ----------
    data : RowBlocks
        ``X`` only, dense or sparse (CSR).
    n_clusters : int
    random_state : RandomState
        Drawn from by every seeding, in order.
    init : {'k-means||', 'k-means++', 'random'}, ndarray or callable, \
            default='k-means||'
        A seeding method; or starting centres (n_clusters, n_features);
        or ``init(random_state) -> centers``, called once per run.
        Neither an array nor a callable sees ``sample_weight``.
    n_init, max_iter, tol, verbose
        As for :class:`daskmix.KMeans`.
    oversampling_factor, n_rounds
        See :func:`seed_centers`.
    sample_weight : ndarray or dask array of shape (n_samples,), optional
        Validated row weights, blocked as ``X`` (scikit-learn's semantics:
        weighted seeding, centres and inertia).
    progress_name : str, optional
        Show a progress bar under this name when
        :func:`daskmix.show_progress` is on.

    Returns
    -------
    LloydResult
        The run with the lowest inertia. A run replaces the best so far only
        when its inertia is lower by more than the fraction
        ``daskmix.kmeans.restart-rtol``: as scikit-learn keeps the first of
        runs that find the same clustering, so that rounding (which follows
        the chunking) does not choose between runs that found the same
        clusters in another order.
    """
    if data.n_samples < n_clusters:
        raise ValueError(
            f"n_samples={data.n_samples} should be >= n_clusters={n_clusters}."
        )
    tile_rows = kmeans_tile_rows(
        n_clusters, data.n_features, functions_for(data.X).sparse
    )
    progress = fit_progress(progress_name, "inertia") if progress_name else None
    rtol = config.get("kmeans.restart-rtol")
    best = None
    try:
        for run in range(n_init):
            if progress is not None:
                progress.begin(run)
            if isinstance(init, str):
                centers = seed_centers(
                    data,
                    n_clusters,
                    init,
                    random_state,
                    oversampling_factor=oversampling_factor,
                    n_rounds=n_rounds,
                    sample_weight=sample_weight,
                )
            elif callable(init):
                centers = init(random_state)
            else:
                centers = np.array(init, dtype=np.float64)
            if verbose:
                print("Initialization complete")
            result = lloyd(
                data,
                centers,
                max_iter=max_iter,
                tol=tol,
                tile_rows=tile_rows,
                verbose=verbose,
                sample_weight=sample_weight,
                progress=progress,
            )
            if progress is not None:
                progress.end(result.inertia, result.converged)
            if best is None or result.inertia < best.inertia * (1.0 - rtol):
                best = result
    finally:
        if progress is not None:
            progress.close()
    return best
