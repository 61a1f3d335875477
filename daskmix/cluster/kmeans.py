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
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._engine.rows import RowBlocks
from .._estimator.all_or_nothing import fit_all_or_nothing
from .._estimator.outputs import wrap_rows
from .._estimator.validation import check_sample_weight, check_X, reject_booleans
from .kernels import (
    distance_rows,
    inertia_kernel,
    label_rows,
    make_lloyd_plan,
)
from .lloyd import fit_kmeans, kmeans_tile_rows
from .seeding import check_finite, with_weights

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
        Nearest centre of each training row: numpy for numpy/pandas input, a
        DataArray for xarray input, and for dask input (arrays, DataFrames,
        dask-backed DataArrays) a *lazy* dask array, computed when asked
        (``labels_.compute()``, one pass) and valid while the training data
        can still be read. A lazy ``labels_`` holds the training data's graph,
        so it is left out of the pickle (the pickle's size does not depend on
        the number of rows): after unpickling, ``labels_`` raises an
        AttributeError that says to call ``predict(X)`` on the training data.
    inertia_ : float
        Sum of squared distances of the training rows to their centres
        (weighted by ``sample_weight``).
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
    Convergence follows scikit-learn: a run stops when no label changed in
    a pass (strict convergence, whatever ``tol``; each pass counts the
    changes at the cost of scoring the previous centres in the same GEMM),
    or when the centre shift is within ``tol``.

    ``fit`` is all or nothing: interrupted (``KeyboardInterrupt``) or
    failing, it leaves the estimator as it was before the call, unfitted or
    with its previous fitted state.

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

    def _validate_params(self) -> None:
        """scikit-learn's parameter validation, booleans refused as integers."""
        super()._validate_params()
        reject_booleans(self)

    # ------------------------------------------------------------------ fit
    @fit_all_or_nothing
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute k-means clustering.

        Seeds the centres (``init``), then runs Lloyd iterations, one pass over
        X each, until the centres move less than ``tol``; ``n_init`` such runs,
        the lowest inertia wins.

        Parameters
        ----------
        X : array-like, dask array, DataFrame, dask DataFrame or DataArray \
                of shape (n_samples, n_features)
            Training data. A dask array is read block by block every pass
            (never loaded whole).
        y : None
            Ignored; present for scikit-learn's API.
        sample_weight : array-like or dask array of shape (n_samples,), \
                default=None
            Weight of each row (scikit-learn's semantics: weighted centres
            and inertia; the 'k-means++', 'random' and 'k-means||' seedings
            draw rows in proportion to the weights; not used with an
            explicit ``init`` array). Non-negative, not all zero. For dask
            ``X``: numpy or dask, rechunked to X's row blocks, checked with
            one small ``compute`` over the weights.

        Returns
        -------
        self : KMeans
            The fitted estimator.
        """
        X, info = check_X(self, X, reset=True)
        weights = check_sample_weight(sample_weight, X)
        vars(self).pop("_labels_not_pickled", None)
        data = RowBlocks({"X": X})
        self._fit_blocks(*_small_in_memory(data, weights))
        plan = self._plan(data.dtype)
        labels = data.map_rows(label_rows, plan, self._tile_rows(), None, np.int64)
        self.labels_ = wrap_rows(labels, info, name="label")
        return self

    def _fit_blocks(self, data: RowBlocks, sample_weight=None) -> KMeans:
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
            sample_weight=sample_weight,
            progress_name=type(self).__name__,
        )
        if 0 <= best.n_distinct < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({best.n_distinct}) found smaller than "
                f"n_clusters ({self.n_clusters}). Possibly due to duplicate points "
                "in X.",
                ConvergenceWarning,
                stacklevel=5,  # the caller of fit
            )
        # scikit-learn's dtype rule: centres in X's float dtype
        self.cluster_centers_ = best.centers.astype(data.dtype, copy=False)
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
        data = RowBlocks({"X": X})
        dtype = data.dtype if dtype is None else dtype
        # declared as computed (float64), so that astype casts dask blocks too
        kernel_dtype = np.float64 if np.dtype(dtype).kind == "f" else dtype
        result = data.map_rows(
            fn, self._plan(data.dtype), self._tile_rows(), n_columns, kernel_dtype
        )
        return wrap_rows(result.astype(dtype, copy=False), info, name=name)

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return ``labels_`` (no extra pass for dask input).

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for scikit-learn's API.
        sample_weight : array-like or dask array of shape (n_samples,), \
                default=None
            As in :meth:`fit`.

        Returns
        -------
        labels : ndarray, dask array or DataArray of shape (n_samples,)
            Index of the nearest centre of each sample (``labels_``); lazy for
            dask input.
        """
        return self.fit(X, sample_weight=sample_weight).labels_

    def fit_transform(self, X, y=None, sample_weight=None):
        """Fit, then return the distances of X to the centres.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for scikit-learn's API.
        sample_weight : array-like or dask array of shape (n_samples,), \
                default=None
            As in :meth:`fit`.

        Returns
        -------
        distances : ndarray, dask array or DataArray of shape \
                (n_samples, n_clusters)
            Distance of each sample to each of ``cluster_centers_``.
        """
        return self.fit(X, sample_weight=sample_weight).transform(X)

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
            (computed in float64). Lazy for dask input, where NaN or infinity
            in X raises a ValueError when the result is computed; for xarray
            input, dims (sample dim, ``component``).
        """
        return self._map_rows(X, distance_rows, self.n_clusters, None, "distance")

    def score(self, X, y=None, sample_weight=None) -> float:
        """Opposite of the inertia of X under the centres (computed, one pass).

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data to score.
        y : None
            Ignored; present for scikit-learn's API.
        sample_weight : array-like or dask array of shape (n_samples,), \
                default=None
            Weights of the rows' squared distances.

        Returns
        -------
        float
            Minus the sum of squared distances of the samples to their nearest
            centre (higher is better, as scikit-learn's scorers expect).
        """
        check_is_fitted(self)
        X, _ = check_X(self, X, reset=False)
        weights = check_sample_weight(sample_weight, X)
        data = RowBlocks({"X": X})
        rows = with_weights(data, weights)
        stats = rows.map_reduce(
            inertia_kernel, self._plan(data.dtype), self._tile_rows()
        )
        check_finite(rows, stats["inertia"])
        return -float(stats["inertia"])

    # -------------------------------------------------------------- pickling
    def __getstate__(self):
        state = super().__getstate__()
        labels = state.get("labels_")
        if getattr(labels, "chunks", None) is not None:
            # lazy (dask-backed): it holds the training data's graph
            state = dict(state)
            del state["labels_"]
            state["_labels_not_pickled"] = True
        return state

    def __getattr__(self, name):
        if name == "labels_" and vars(self).get("_labels_not_pickled"):
            raise AttributeError(
                f"labels_ is not available: this {type(self).__name__} was fitted "
                "on dask input, whose lazy labels_ is not pickled (it would hold "
                "the training data's graph). Call predict(X) on the training data "
                "to get the labels."
            )
        raise AttributeError(
            f"'{type(self).__name__}' object has no attribute '{name}'"
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _small_in_memory(data: RowBlocks, sample_weight) -> tuple[RowBlocks, object]:
    """``data`` and its weights, read once into memory when they are small.

    :meth:`~daskmix._engine.rows.RowBlocks.small_in_memory`'s rule, for the
    rows and their weights together: the fit's passes then run on the
    client's threads over dask's own blocks, with the streamed fit's result.
    ``labels_`` stay lazy: they are mapped over the input, not these rows.
    """
    if sample_weight is None:
        return data.small_in_memory(), None
    rows = data.with_array("weight", sample_weight).small_in_memory()
    return rows.without("weight"), rows.weight
