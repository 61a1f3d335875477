"""KMeans: scikit-learn's estimator, one pass over the data per Lloyd iteration.

Seeding (k-means||, k-means++, random rows) comes from :mod:`daskmix.cluster.seeding`;
the Lloyd iterations map :func:`~daskmix.cluster.kernels.lloyd_kernel` over
the row blocks and tree-reduce per-cluster residual sums, counts, inertia and
the few rows farthest from their centres, all in one ``compute``.
"""

from __future__ import annotations

import warnings
from functools import partial
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

from .._engine.namespaces import astype, is_device_array, numpy_dtype, to_host
from .._engine.rows import RowBlocks
from .._estimator.all_or_nothing import fit_all_or_nothing
from .._estimator.outputs import check_same_namespace, keep_namespace, wrap_rows
from .._estimator.validation import check_sample_weight, check_X, reject_booleans
from .lloyd import fit_kmeans, kmeans_tile_rows, warn_few_clusters
from .seeding import check_finite, with_weights
from .sparse import functions_for, is_sparse

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
    init : {'k-means||', 'k-means++', 'random'}, callable or array-like of \
            shape (n_clusters, n_features), default='k-means||'
        Seeding; costs in passes over the data (see :mod:`daskmix.cluster.seeding`):

        - 'k-means||' (Bahmani et al. 2012): ``init_max_iter`` oversampling
          rounds plus one weighting pass, then a weighted k-means++ and
          Lloyd on the candidates, on the client;
        - 'k-means++': scikit-learn's greedy k-means++, one pass per cluster;
        - 'random': ``n_clusters`` distinct rows drawn uniformly;
        - a callable: called as ``init(X, n_clusters, random_state)`` with
          the validated X (numpy array, SciPy CSR matrix or dask array) and
          the estimator's RandomState; it returns the centres;
        - an array: those centres.

        The rows drawn depend on ``random_state`` only, not on the container
        or the chunking: numpy and dask input of the same data give the same
        centres. They are not scikit-learn's draws (see the design notes).
    n_init : 'auto' or int, default='auto'
        Seedings tried; the run with the lowest inertia is kept. 'auto': 10
        for ``init='random'`` or a callable, else 1.
    max_iter : int, default=300
        Lloyd iterations (passes) at most per run.
    tol : float, default=1e-4
        Convergence when the summed squared centre shift is at most ``tol``
        times the mean per-feature variance of X.
    verbose : int, default=0
        Print the progress of the seeding and the inertia of every Lloyd
        iteration when positive.
    random_state : int, RandomState instance or None, default=None
        Seeds the seeding draws. The same value gives the same result for
        numpy and dask input, on any scheduler (threads or a distributed
        cluster); the chunking changes it by rounding only.
    copy_x : bool, default=True
        Accepted for scikit-learn's API: daskmix never modifies X (distances
        are taken on shifted tiles, not on a centred copy of X), whatever its
        value.
    algorithm : {'lloyd', 'elkan'}, default='lloyd'
        As in scikit-learn. Both run Lloyd's iterations, one pass over
        the data each: Elkan's bounds are an (n_samples, n_clusters) array
        carried from one iteration to the next, which a pass over row blocks
        does not keep. scikit-learn's two algorithms give the same clustering;
        so do these. 'elkan' with one cluster warns as scikit-learn does.
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
    labels_ : ndarray of shape (n_samples,), int32
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
    array([[ 1.,  2.],
           [10.,  2.]])
    >>> kmeans.predict(np.array([[0.0, 0.0], [12.0, 3.0]]))
    array([0, 1], dtype=int32)

    A dask array is fitted on dask's scheduler, one pass per Lloyd iteration,
    and its labels come back lazily:

    >>> labels = kmeans.fit(da.from_array(X, chunks=3)).predict(X)
    >>> labels
    array([0, 0, 0, 1, 1, 1], dtype=int32)
    """

    #: fit and the outputs run on array-API input (cupy, torch...) where it
    #: lives, with scikit-learn's array_api_dispatch on; seedings use a host copy
    _supports_array_api = True

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions(set(INIT_METHODS)), callable, "array-like"],
        "n_init": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "copy_x": ["boolean"],
        "algorithm": [StrOptions({"lloyd", "elkan"})],
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
        verbose: int = 0,
        random_state=None,
        copy_x: bool = True,
        algorithm: str = "lloyd",
        oversampling_factor: float = 2.0,
        init_max_iter: int | None = None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x
        self.algorithm = algorithm
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
            draw rows in proportion to the weights; not used by an
            ``init`` array or callable). Non-negative, not all zero. For dask
            ``X``: numpy or dask, rechunked to X's row blocks, checked with
            one small ``compute`` over the weights.

        Returns
        -------
        self : KMeans
            The fitted estimator.
        """
        X, info = check_X(self, X, reset=True, accept_sparse=True)
        weights = check_sample_weight(sample_weight, X)
        vars(self).pop("_labels_not_pickled", None)
        data = RowBlocks({"X": X})
        self._fit_blocks(X, *_small_in_memory(data, weights))
        labels = data.map_rows(
            functions_for(X).labels, self._plan(X), self._tile_rows(X), None, np.int32
        )
        self.labels_ = wrap_rows(labels, info, name="label")
        keep_namespace(self, X)
        return self

    def _fit_blocks(self, X, data: RowBlocks, sample_weight=None) -> KMeans:
        """Seed and run Lloyd on validated row blocks; no ``labels_``.

        ``X`` is the validated input, which a callable ``init`` is given.
        """
        self._n_init = self._check_n_init()
        if self.algorithm == "elkan" and self.n_clusters == 1:
            warnings.warn(
                "algorithm='elkan' doesn't make sense for a single cluster. Using "
                "'lloyd' instead.",
                RuntimeWarning,
                stacklevel=5,  # the caller of fit
            )
        init = self.init
        if callable(init):
            init = partial(_user_centers, init, X, self.n_clusters)
        elif not isinstance(init, str):
            init = _check_centers(init, self.n_clusters, data.n_features)
        best = fit_kmeans(
            data,
            self.n_clusters,
            check_random_state(self.random_state),
            init=init,
            n_init=self._n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            verbose=self.verbose,
            oversampling_factor=self.oversampling_factor,
            n_rounds=self.init_max_iter,
            sample_weight=sample_weight,
            progress_name=type(self).__name__,
        )
        # stacklevel 5: the caller of fit
        warn_few_clusters(best.n_distinct, self.n_clusters, stacklevel=5)
        # scikit-learn's dtype rule: centres in X's float dtype
        self.cluster_centers_ = best.centers.astype(data.dtype, copy=False)
        self.inertia_ = best.inertia
        self.n_iter_ = best.n_iter
        self.n_features_in_ = data.n_features
        self._n_features_out = self.n_clusters
        return self

    def _check_n_init(self) -> int:
        """Seedings to run: scikit-learn's ``_n_init`` rule and warning."""
        named = isinstance(self.init, str)
        explicit = not named and not callable(self.init)
        if self.n_init == "auto":
            return 10 if (named and self.init == "random") or callable(self.init) else 1
        if explicit and self.n_init != 1:
            warnings.warn(
                "Explicit initial center position passed: performing only one "
                f"init in {type(self).__name__} instead of n_init={self.n_init}.",
                RuntimeWarning,
                stacklevel=6,  # the caller of fit
            )
            return 1
        return self.n_init

    def _plan(self, X):
        """Plan of a pass under the fitted centres, for validated ``X``."""
        centers = to_host(self.cluster_centers_).astype(np.float64)
        dtype = numpy_dtype(X.dtype) if is_device_array(X) else X.dtype
        return functions_for(X).plan(centers, dtype)

    def _tile_rows(self, X) -> int:
        return kmeans_tile_rows(self.n_clusters, self.n_features_in_, is_sparse(X))

    # ------------------------------------------------------- per-row outputs
    def _map_rows(self, X, output: str, n_columns, dtype, name):
        """Per-row outputs in the input's type; ``dtype=None``: X's float dtype.

        ``output`` names the per-row function: ``'labels'`` or ``'distances'``
        (of :class:`~daskmix.cluster.sparse.KMeansFunctions`).
        """
        check_is_fitted(self)
        X, info = check_X(self, X, reset=False, accept_sparse=True)
        data = RowBlocks({"X": X})
        dtype = data.dtype if dtype is None else dtype
        # declared as computed (float64), so that astype casts dask blocks too
        kernel_dtype = np.float64 if np.dtype(dtype).kind == "f" else dtype
        fn = getattr(functions_for(X), output)
        result = data.map_rows(
            fn, self._plan(X), self._tile_rows(X), n_columns, kernel_dtype
        )
        return wrap_rows(astype(result, dtype), info, name=name)

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
        check_same_namespace(self, X, "predict")
        return self._map_rows(X, "labels", None, np.int32, "label")

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
        check_same_namespace(self, X, "transform")
        return self._map_rows(X, "distances", self.n_clusters, None, "distance")

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
        check_same_namespace(self, X, "score")
        check_is_fitted(self)
        X, _ = check_X(self, X, reset=False, accept_sparse=True)
        weights = check_sample_weight(sample_weight, X)
        data = RowBlocks({"X": X})
        rows = with_weights(data, weights)
        stats = rows.map_reduce(
            functions_for(X).inertia, self._plan(X), self._tile_rows(X)
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
        tags.input_tags.sparse = True
        tags.array_api_support = self._supports_array_api
        return tags


def _check_centers(centers, n_clusters: int, n_features: int) -> np.ndarray:
    """Starting centres, checked with scikit-learn's messages; float64."""
    if is_sparse(centers):
        centers = centers.toarray()
    centers = check_array(centers, dtype=np.float64)
    if centers.shape[0] != n_clusters:
        raise ValueError(
            f"The shape of the initial centers {centers.shape} does not match "
            f"the number of clusters {n_clusters}."
        )
    if centers.shape[1] != n_features:
        raise ValueError(
            f"The shape of the initial centers {centers.shape} does not match "
            f"the number of features of the data {n_features}."
        )
    return centers


def _user_centers(init, X, n_clusters: int, random_state) -> np.ndarray:
    """Centres from a callable ``init``, as scikit-learn calls and checks it."""
    centers = init(X, n_clusters, random_state=random_state)
    return _check_centers(centers, n_clusters, X.shape[1])


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
