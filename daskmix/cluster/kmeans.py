"""KMeans: scikit-learn's estimator, one pass over the data per Lloyd iteration.

Seeding (k-means||, k-means++, random rows) comes from :mod:`daskmix.cluster.seeding`;
the Lloyd iterations map :func:`~daskmix.cluster.kernels.lloyd_kernel` over
the row blocks and tree-reduce per-cluster residual sums, counts, inertia and
the few rows farthest from their centres, all in one ``compute``.
"""

from __future__ import annotations

import warnings
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

from .._core.em import check_pass
from .._core.engine import RowBlocks
from .._core.outputs import wrap_rows
from .._core.stats import Stats
from .._core.validation import check_X
from .kernels import distance_rows, inertia_kernel, label_rows, make_lloyd_plan
from .lloyd import fit_kmeans, kmeans_tile_rows

INIT_METHODS = ("k-means||", "k-means++", "random")


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
        Seeding; costs in passes over the data (see :mod:`daskmix.cluster.seeding`):

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
        Seeds the seeding draws. The same value and the same chunking give the
        same result on any scheduler (threads or a distributed cluster).
    verbose : int, default=0
        Print the progress of the seeding and the inertia of every Lloyd
        iteration when positive.
    oversampling_factor : float, default=2.0
        Expected candidates per round and per cluster of the 'k-means||'
        seeding.
    init_max_iter : int or None, default=None
        Oversampling rounds (one pass each) of the 'k-means||' seeding; None
        means 2 (as Spark MLlib).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        In X's float dtype (float32 for float32 input), as in scikit-learn;
        Lloyd's statistics are accumulated in float64.
    labels_ : ndarray of shape (n_samples,)
        Nearest centre of each training row: numpy for numpy/pandas input,
        a lazy dask array for dask input, a DataArray for xarray input.
    inertia_ : float
        Sum of squared distances of the training rows to their centres.
    n_iter_ : int
        Lloyd iterations of the best run.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen during ``fit``; only when X had string
        feature names (pandas, xarray).

    See Also
    --------
    sklearn.cluster.KMeans : The in-memory estimator whose API this follows.
    GaussianMixture : Soft clustering with a covariance per cluster; its
        default ``init_params='kmeans'`` start runs this class on a sample.

    Notes
    -----
    Distances are taken on rows shifted by the mean of the centres, and the
    accumulated quantities (residual sums, inertia) from exact residuals, so
    data with a large offset lose no accuracy. As in scikit-learn,
    ``cluster_centers_`` are the last update of the centres and ``inertia_``
    its exact inertia; measuring it costs one pass after the last Lloyd
    iteration, skipped when that iteration moved no centre.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from daskmix import KMeans
    >>> X = np.array([[1.0, 2.0], [1.0, 4.0], [1.0, 0.0],
    ...               [10.0, 2.0], [10.0, 4.0], [10.0, 0.0]])
    >>> kmeans = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> kmeans.cluster_centers_
    array([[10.,  2.],
           [ 1.,  2.]])
    >>> kmeans.predict(np.array([[0.0, 0.0], [12.0, 3.0]]))
    array([1, 0])

    A dask array is fitted on dask's scheduler, one pass per Lloyd iteration,
    and its labels come back lazily:

    >>> labels = kmeans.fit(da.from_array(X, chunks=3)).predict(X)
    >>> labels
    array([1, 1, 1, 0, 0, 0])
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

        Seeds the centres (``init``), then runs Lloyd iterations, one pass over
        X each, until the centres move less than ``tol``; ``n_init`` such runs,
        the lowest inertia wins.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Training data. A dask array is read block by block every pass
            (never loaded whole).
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        self : KMeans
            The fitted estimator.
        """
        X, info = check_X(self, X, reset=True)
        data = RowBlocks([X])
        self._fit_blocks(data)
        plan = self._plan(data.dtype)
        labels = data.map_rows(label_rows, plan, self._tile_rows(), None, np.int64)
        self.labels_ = wrap_rows(labels, info, name="label")
        return self

    def _fit_blocks(self, data: RowBlocks) -> KMeans:
        """Seed and run Lloyd on validated row blocks; no ``labels_``."""
        init_centers = self._check_init(data.n_features)
        best = fit_kmeans(
            data,
            self.n_clusters,
            check_random_state(self.random_state),
            init=self.init if init_centers is None else "k-means||",
            init_centers=init_centers,
            n_init=self._n_init(init_centers),
            max_iter=self.max_iter,
            tol=self.tol,
            verbose=self.verbose,
            oversampling_factor=self.oversampling_factor,
            n_rounds=self.init_max_iter,
        )
        # in the input's float dtype, as scikit-learn's; Lloyd ran in float64
        self.cluster_centers_ = best.centers.astype(data.dtype)
        self.inertia_ = best.inertia
        self.n_iter_ = best.n_iter
        self.n_features_in_ = data.n_features
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

    def _plan(self, dtype):
        """Plan of a pass under the fitted centres, for blocks of ``dtype``."""
        return make_lloyd_plan(self.cluster_centers_.astype(np.float64), dtype)

    def _tile_rows(self, n_features: int | None = None) -> int:
        n_features = self.n_features_in_ if n_features is None else n_features
        return kmeans_tile_rows(self.n_clusters, n_features)

    # ------------------------------------------------------- per-row outputs
    def _map_rows(self, X, fn, n_columns, dtype, name):
        """Per-row outputs in the input's type; ``dtype=None``: X's float dtype."""
        check_is_fitted(self)
        X, info = check_X(self, X, reset=False)
        data = RowBlocks([X])
        dtype = data.dtype if dtype is None else dtype
        # declared as computed (float64), so that astype casts dask blocks too
        kernel_dtype = np.float64 if np.dtype(dtype).kind == "f" else dtype
        result = data.map_rows(
            fn, self._plan(data.dtype), self._tile_rows(), n_columns, kernel_dtype
        )
        return wrap_rows(result.astype(dtype, copy=False), info, name=name)

    def fit_predict(self, X, y=None):
        """Fit, then return ``labels_`` (no extra pass for dask input).

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        labels : ndarray, dask array or DataArray of shape (n_samples,)
            Index of the nearest centre of each sample (``labels_``); lazy for
            dask input.
        """
        return self.fit(X).labels_

    def predict(self, X):
        """Nearest centre of each sample.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            New data.

        Returns
        -------
        labels : ndarray, dask array or DataArray of shape (n_samples,)
            Index of the nearest centre of each sample. Lazy for dask input;
            along the sample dimension for xarray input.
        """
        return self._map_rows(X, label_rows, None, np.int64, "label")

    def transform(self, X):
        """Euclidean distance of each sample to every centre.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            New data.

        Returns
        -------
        distances : ndarray, dask array or DataArray of shape \
                (n_samples, n_clusters)
            Distance to each of ``cluster_centers_``, in X's float dtype
            (computed in float64). Lazy for dask input; for xarray input,
            dims (sample dim, ``component``).
        """
        return self._map_rows(X, distance_rows, self.n_clusters, None, "distance")

    def score(self, X, y=None) -> float:
        """Opposite of the inertia of X under the centres (computed, one pass).

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data to score.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        float
            Minus the sum of squared distances of the samples to their nearest
            centre (higher is better, as scikit-learn's scorers expect).
        """
        check_is_fitted(self)
        X, _ = check_X(self, X, reset=False)
        data = RowBlocks([X])
        stats = data.map_reduce(
            inertia_kernel, self._plan(data.dtype), self._tile_rows()
        )
        check_pass(Stats(loglik=-stats["inertia"]), data)
        return -float(stats["inertia"])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
