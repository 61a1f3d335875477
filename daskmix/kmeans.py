"""KMeans: scikit-learn's estimator, one pass over the data per Lloyd iteration.

Seeding (k-means||, k-means++, random rows) comes from :mod:`daskmix.init`;
the Lloyd iterations map :func:`~daskmix._kmeans_kernels.lloyd_kernel` over
the row blocks and tree-reduce per-cluster residual sums, counts, inertia and
the few rows farthest from their centres, all in one ``compute``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from . import init as _init
from ._em import check_pass
from ._engine import RowBlocks, default_tile_rows
from ._kmeans_kernels import (
    LloydPlan,
    distance_rows,
    inertia_kernel,
    label_rows,
    lloyd_kernel,
    make_lloyd_plan,
)
from ._stats import Stats
from ._validation import check_X
from ._xarray import wrap_rows

INIT_METHODS = ("k-means||", "k-means++", "random")


@dataclass
class LloydResult:
    """Outcome of :func:`lloyd`: centres, their inertia, iterations."""

    centers: np.ndarray
    inertia: float
    n_iter: int
    converged: bool


def update_centers(stats: Stats, plan: LloydPlan) -> np.ndarray:
    """New centres from one pass's statistics; empty clusters re-seeded.

    A cluster that received no row takes the farthest row of the pass (as
    scikit-learn does) that is not alone in its own cluster; that row leaves
    its old cluster's sums. With no such row left (all rows sit on their
    centres), the empty cluster keeps its centre. Never NaN.

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
    sums = stats["sums"].copy()
    new = shifted.copy()
    empty = np.flatnonzero(counts == 0)
    far = iter(range(stats["far_dist"].shape[0]))
    for cluster in empty:
        for i in far:
            donor = int(stats["far_label"][i])
            if stats["far_dist"][i] > 0 and counts[donor] > 1:
                row = stats["far_rows"][i]
                counts[donor] -= 1
                sums[donor] -= row - shifted[donor]
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
    measure_last: bool = True,
) -> LloydResult:
    """Lloyd iterations from ``centers``, one pass over the data each.

    Each pass labels every row under the current centres and returns the
    statistics of the next ones, so the inertia of a pass belongs to the
    centres that entered it. The loop stops when the squared centre shift
    is at most ``tol`` times the mean feature variance (scikit-learn's rule;
    the variance is measured in the first pass, at no extra cost). As in
    scikit-learn, the result is the last *update* of the centres; unless
    that update moved nothing (the labels stopped changing), one more pass
    measures its exact inertia, so that ``labels_``, ``inertia_`` and
    ``cluster_centers_`` agree. Passes: ``n_iter``, plus at most one.
    With ``measure_last=False`` that pass is skipped and the inertia is the
    one of the centres before the update (an upper bound): for callers that
    only need the centres.

    Parameters
    ----------
    data : RowBlocks
    centers : ndarray of shape (K, D)
    max_iter : int
    tol : float
    tile_rows : int
    verbose : int
    measure_last : bool, default=True

    Returns
    -------
    LloydResult
    """
    n_clusters = centers.shape[0]
    centers = np.asarray(centers, dtype=np.float64)
    tol_abs = None
    result = LloydResult(centers, np.inf, 0, False)
    shift = 0.0
    for n_iter in range(1, max_iter + 1):
        plan = make_lloyd_plan(
            centers, data.dtype, n_far=n_clusters, moments=tol_abs is None
        )
        stats = data.map_reduce(lloyd_kernel, plan, tile_rows)
        check_pass(Stats(loglik=-stats["inertia"]), data)
        if tol_abs is None:
            n_rows = stats["n_rows"]
            variance = stats["m2"] / n_rows - (stats["m1"] / n_rows) ** 2
            tol_abs = tol * float(np.mean(variance))
        inertia = float(stats["inertia"])
        new_centers = update_centers(stats, plan)
        shift = float(((new_centers - centers) ** 2).sum())
        result = LloydResult(centers, inertia, n_iter, shift <= tol_abs)
        if verbose:
            print(f"Iteration {n_iter - 1}, inertia {inertia}.")
        if result.converged:
            if verbose:
                print(
                    f"Converged at iteration {n_iter - 1}: center shift {shift} "
                    f"within tolerance {tol_abs}."
                )
            break
        centers = new_centers
    if shift > 0.0 and not measure_last:
        result.centers = new_centers
    elif shift > 0.0:
        # scikit-learn's final relabelling: evaluate the last update
        plan = make_lloyd_plan(new_centers, data.dtype)
        stats = data.map_reduce(inertia_kernel, plan, tile_rows)
        check_pass(Stats(loglik=-stats["inertia"]), data)
        result.centers, result.inertia = new_centers, float(stats["inertia"])
    return result


class KMeans(
    ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator
):
    """K-means clustering on numpy, dask, pandas or xarray input.

    scikit-learn's :class:`~sklearn.cluster.KMeans` API on the daskmix
    engine: each Lloyd iteration is one pass over the data (labels,
    per-cluster sums and counts, inertia and the farthest rows, tree-reduced
    in one ``compute``), and the default k-means|| seeding needs a handful of
    passes whatever the number of clusters. Empty clusters are re-seeded with
    the farthest rows of the pass, never NaN.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters.
    init : {'k-means||', 'k-means++', 'random'} or array-like of shape \
            (n_clusters, n_features), default='k-means||'
        Seeding; costs in passes over the data (see :mod:`daskmix.init`):

        - 'k-means||' (Bahmani et al. 2012): ``init_max_iter`` oversampling
          rounds plus one weighting pass, then a weighted k-means++ and
          Lloyd on the candidates, on the client;
        - 'k-means++': greedy k-means++; scikit-learn's in memory for numpy
          input, one pass per cluster for dask input;
        - 'random': ``n_clusters`` distinct rows drawn uniformly;
        - an array: those centres.
    n_init : 'auto' or int, default='auto'
        Seedings tried; the run with the lowest inertia is kept. 'auto': 10
        for ``init='random'``, else 1.
    max_iter : int, default=300
        Lloyd iterations (passes) at most per run.
    tol : float, default=1e-4
        Convergence when the summed squared centre shift is at most ``tol``
        times the mean per-feature variance of X.
    random_state : int, RandomState instance or None, default=None
        The same value and the same chunking give the same result on any
        scheduler (threads or a distributed cluster).
    verbose : int, default=0
    oversampling_factor : float, default=2.0
        k-means||: expected candidates per round, per cluster.
    init_max_iter : int or None, default=None
        k-means||: oversampling rounds (passes); None means 2 (as Spark MLlib).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,)
        Nearest centre of each training row: numpy for numpy/pandas input,
        a lazy dask array for dask input, a DataArray for xarray input.
    inertia_ : float
        Sum of squared distances of the training rows to their centres.
    n_iter_ : int
        Lloyd iterations of the best run.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X had string feature names.

    Notes
    -----
    Distances are taken on rows shifted by the mean of the centres, and the
    accumulated quantities (residual sums, inertia) from exact residuals, so
    data with a large offset lose no accuracy. As in scikit-learn,
    ``cluster_centers_`` are the last update of the centres and ``inertia_``
    its exact inertia; measuring it costs one pass after the last Lloyd
    iteration, skipped when that iteration moved no centre.
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions(set(INIT_METHODS)), "array-like"],
        "n_init": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "oversampling_factor": [Interval(Real, 0, None, closed="neither")],
        "init_max_iter": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init="k-means||",
        n_init="auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        random_state=None,
        verbose: int = 0,
        oversampling_factor: float = 2.0,
        init_max_iter: int | None = None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.oversampling_factor = oversampling_factor
        self.init_max_iter = init_max_iter

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute k-means clustering.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
        y : ignored

        Returns
        -------
        self : KMeans
        """
        X, info = check_X(self, X, reset=True)
        data = RowBlocks([X])
        self._fit_blocks(data)
        plan = make_lloyd_plan(self.cluster_centers_, data.dtype)
        labels = data.map_rows(label_rows, plan, self._tile_rows(), None, np.int64)
        self.labels_ = wrap_rows(labels, info, name="label")
        return self

    def _fit_blocks(self, data: RowBlocks, measure_last: bool = True) -> KMeans:
        """Seed and run Lloyd on validated row blocks; no ``labels_``.

        ``measure_last=False`` (initialisers needing only the centres) skips
        the pass measuring the inertia of the final update; ``inertia_`` is
        then that of the centres before it.
        """
        n_samples, n_features = data.n_samples, data.n_features
        if n_samples < self.n_clusters:
            raise ValueError(
                f"n_samples={n_samples} should be >= n_clusters={self.n_clusters}."
            )
        init_centers = self._check_init(n_features)
        n_init = self._n_init(init_centers)
        random_state = check_random_state(self.random_state)
        tile_rows = self._tile_rows(n_features)
        best = None
        for _ in range(n_init):
            centers = self._seed(data, random_state, init_centers)
            if self.verbose:
                print("Initialization complete")
            run = lloyd(
                data,
                centers,
                max_iter=self.max_iter,
                tol=self.tol,
                tile_rows=tile_rows,
                verbose=self.verbose,
                measure_last=measure_last,
            )
            if best is None or run.inertia < best.inertia:
                best = run
        self.cluster_centers_ = best.centers
        self.inertia_ = best.inertia
        self.n_iter_ = best.n_iter
        self.n_features_in_ = n_features
        self._n_features_out = self.n_clusters
        return self

    def _check_init(self, n_features: int) -> np.ndarray | None:
        if isinstance(self.init, str):
            return None
        centers = check_array(self.init, dtype=np.float64)
        if centers.shape[0] != self.n_clusters:
            raise ValueError(
                f"The shape of the initial centers {centers.shape} does not match "
                f"the number of clusters {self.n_clusters}."
            )
        if centers.shape[1] != n_features:
            raise ValueError(
                f"The shape of the initial centers {centers.shape} does not match "
                f"the number of features of the data {n_features}."
            )
        return centers

    def _n_init(self, init_centers: np.ndarray | None) -> int:
        if self.n_init == "auto":
            return 10 if (init_centers is None and self.init == "random") else 1
        if init_centers is not None and self.n_init != 1:
            warnings.warn(
                "Explicit initial center position passed: performing only one "
                f"init in {type(self).__name__} instead of n_init={self.n_init}.",
                RuntimeWarning,
                stacklevel=3,
            )
            return 1
        return self.n_init

    def _seed(self, data: RowBlocks, random_state, init_centers) -> np.ndarray:
        if init_centers is not None:
            return init_centers.copy()
        if self.init == "k-means||":
            return _init.kmeans_parallel_centers(
                data,
                self.n_clusters,
                random_state,
                oversampling_factor=self.oversampling_factor,
                n_rounds=self.init_max_iter or _init.KMEANS_PARALLEL_ROUNDS,
            )
        if self.init == "k-means++":
            return _init.kmeans_plusplus_centers(data, self.n_clusters, random_state)
        return _init.random_data_centers(data, self.n_clusters, random_state)

    def _tile_rows(self, n_features: int | None = None) -> int:
        n_features = self.n_features_in_ if n_features is None else n_features
        return default_tile_rows(self.n_clusters + n_features)

    # ------------------------------------------------------- per-row outputs
    def _map_rows(self, X, fn, n_columns, dtype, name):
        check_is_fitted(self)
        X, info = check_X(self, X, reset=False)
        data = RowBlocks([X])
        plan = make_lloyd_plan(self.cluster_centers_, data.dtype)
        result = data.map_rows(fn, plan, self._tile_rows(), n_columns, dtype)
        return wrap_rows(result, info, name=name)

    def fit_predict(self, X, y=None):
        """Fit, then return ``labels_`` (no extra pass for dask input).

        Returns
        -------
        labels : ndarray, dask array or DataArray of shape (n_samples,)
        """
        return self.fit(X).labels_

    def predict(self, X):
        """Nearest centre of each sample.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)

        Returns
        -------
        labels : ndarray, dask array or DataArray of shape (n_samples,)
            Lazy for dask input; along the sample dimension for xarray input.
        """
        return self._map_rows(X, label_rows, None, np.int64, "label")

    def transform(self, X):
        """Euclidean distance of each sample to every centre.

        Returns
        -------
        distances : ndarray, dask array or DataArray of shape \
                (n_samples, n_clusters)
        """
        return self._map_rows(X, distance_rows, self.n_clusters, np.float64, "distance")

    def score(self, X, y=None) -> float:
        """Opposite of the inertia of X under the centres (computed, one pass).

        Returns
        -------
        float
        """
        check_is_fitted(self)
        X, _ = check_X(self, X, reset=False)
        data = RowBlocks([X])
        plan = make_lloyd_plan(self.cluster_centers_, data.dtype)
        stats = data.map_reduce(inertia_kernel, plan, self._tile_rows())
        check_pass(Stats(loglik=-stats["inertia"]), data)
        return -float(stats["inertia"])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
