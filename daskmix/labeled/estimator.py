"""Labeled N-D data: stack the sample dimensions, fit, unstack the results.

:class:`Labeled` wraps any daskmix estimator so that it takes an xarray
DataArray or Dataset with any number of sample dimensions and one or more
feature dimensions (time x lat x lon profiles over depth, several variables
over depth, image cubes) and gives every per-sample result back on the sample
dimensions, with their coordinates, lazily for dask-backed data.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone
from sklearn.utils import get_tags
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted

from .._estimator.outputs import (
    complete_rows,
    complete_rows_and_means,
    fill_incomplete,
    from_rows,
    is_lazy,
    mark_incomplete,
    scatter_complete,
    take_complete,
)
from .stacking import COMPONENT_DIM as COMPONENT_DIM  # kept importable here
from .stacking import DATASET_FEATURE_DIM as DATASET_FEATURE_DIM
from .stacking import (
    FeatureLayout,
    Rows,
    stack,
    stack_y,
    unstack,
    unstack_features,
)


def _estimator_has(name: str):
    """For ``available_if``: the fitted estimator has ``name``, else the given one."""

    def check(self) -> bool:
        fitted = getattr(self, "estimator_", None)
        getattr(self.estimator if fitted is None else fitted, name)
        return True

    return check


class Labeled(MetaEstimatorMixin, BaseEstimator):
    """Fit a daskmix estimator on N-D labeled data (xarray).

    The sample dimensions of ``X`` are stacked into rows and its feature
    dimensions (a Dataset's variables, and the dimensions named in
    ``feature_dim``) into columns; the wrapped estimator is fitted on those
    rows, and
    every per-sample result (labels, probabilities, log-likelihoods,
    predictions, distances) comes back as a DataArray on the sample
    dimensions of the data passed, in their order and with their
    coordinates. Results are lazy dask arrays, chunked as the input, when
    the input is dask-backed: stacking reshapes block by block and moves no
    data.

    Methods are those of the wrapped estimator: ``predict_proba`` exists only
    if it has one (GaussianMixture), ``transform`` only for KMeans,
    ``component_proba`` only for RegressionMixture, and so on.

    Parameters
    ----------
    estimator : estimator object
        A daskmix estimator (:class:`~daskmix.GaussianMixture`,
        :class:`~daskmix.RegressionMixture`, :class:`~daskmix.KMeans`) or any
        estimator that takes numpy and dask arrays of shape
        (n_samples, n_features). Cloned at ``fit``.
    feature_dim : hashable or tuple of hashable, default=None
        The dimension, or dimensions, of ``X`` that hold the features; every
        other dimension is a sample dimension. Several dimensions give one
        feature per combination of their values, the last varying fastest:
        ``("variable", "depth")`` on a DataArray of dims
        ``(variable, depth, time, lat, lon)`` gives one feature per
        (variable, depth) pair. A tuple is always several dimensions. None:
        the dimensions not in ``sample_dims``; without these, the last
        dimension of a DataArray.

        A Dataset's variables are always features, along a new dimension
        named by the one name in ``feature_dim`` that is not a dimension of
        the variables (default ``'variable'``): ``feature_dim="depth"`` on a
        Dataset of variables over ``(time, depth, lat, lon)`` gives one
        feature per (variable, depth) pair, pyxpcm's convention. A Dataset
        whose variables have more than one dimension needs ``feature_dim``
        or ``sample_dims`` to name at least one of them: Labeled does not
        guess whether a dimension such as depth holds samples or features.
    skipna : bool, default=False
        Leave out every sample with a NaN feature (land points in ocean
        data; with y, also a NaN target) from the fit, and give it back as
        NaN in every output, with label -1 in integer outputs (``predict``
        of a mixture or KMeans). Scores (``score``, ``bic``, ``aic``) are
        taken over the complete samples only. For dask-backed data, ``fit``
        computes the mask of complete samples and their mean first (one
        extra pass over the data); per-sample methods mask lazily and
        compute nothing. False: a NaN is an error, as in the wrapped
        estimator. With an estimator that marginalizes missing values
        (``GaussianMixture(missing="marginalize")``) a NaN is a missing
        entry either way: samples with some observed features are kept,
        fitted and classified, and ``skipna=True`` leaves out (and masks)
        only the samples with no observed feature.
    sample_dims : hashable or tuple of hashable, default=None
        The sample dimensions of the data at ``fit``; every other dimension
        is a feature dimension. With ``feature_dim`` as well, the two must
        name every dimension between them. Afterwards every dimension but
        the feature dimensions is a sample dimension, whatever its name.
        ``sample_dims=("time", "lat", "lon")`` on a Dataset of variables
        over ``(time, lat, lon)``: one feature per variable.

    Attributes
    ----------
    estimator_ : estimator object
        The wrapped estimator, fitted on the stacked rows of shape
        (n_samples, n_features), n_samples being the product of the sizes
        of the sample dimensions (less the incomplete samples with
        ``skipna=True``).
    feature_dim_ : hashable or tuple of hashable
        The feature dimension used, or the tuple of them (a Dataset's
        variables first) when there are several.
    sample_dims_ : tuple of hashable
        The sample dimensions of the data seen at ``fit``, in their order.
    n_features_in_ : int
        Number of features: the product of the lengths of the feature
        dimensions.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        With one feature dimension: the Dataset's variable names, or the
        feature coordinate's values when they are all strings; absent
        otherwise.
    feature_index_ : pandas.Index or pandas.MultiIndex
        The coordinate values of the features, in the order of the wrapped
        estimator's columns (a MultiIndex for several feature dimensions);
        absent when a feature dimension has no coordinate.

    See Also
    --------
    daskmix.GaussianMixture : A density to wrap.
    daskmix.RegressionMixture : A regressor to wrap (y over the sample dims).
    daskmix.KMeans : A clusterer to wrap.

    Notes
    -----
    At ``predict`` (and every other method after ``fit``) the sample
    dimensions may differ from those of the fit (another region, another
    period, a single map), but the feature dimensions must be there with the
    fitted lengths and, when the fit had coordinate values along them
    (depths, variable names), the same values; values in another order are
    reordered by label.

    Features that span several dimensions need no stacking by hand: the
    columns of the wrapped estimator's fitted attributes (``means_`` of
    shape (n_components, n_features_in_)) follow ``feature_index_``, and
    :meth:`unstack_features` puts them back on the feature dimensions.

    ``y`` (for :class:`~daskmix.RegressionMixture`) is a DataArray over the
    same sample dimensions as ``X``, in any order; it is aligned to ``X`` by
    dimension name and coordinate values. A plain array must have the shape
    of ``X``'s sample dimensions, in ``X``'s order.

    Model selection: :class:`~sklearn.model_selection.GridSearchCV` and
    :func:`~sklearn.model_selection.cross_val_score` split the *first*
    dimension of ``X`` (and of ``y``): put a sample dimension first (e.g.
    ``time``), the same in ``X`` and ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> from daskmix import GaussianMixture, Labeled
    >>> rng = np.random.default_rng(0)
    >>> depth = [0.0, 50.0, 100.0, 200.0]
    >>> warm = np.array([25.0, 22.0, 15.0, 8.0])
    >>> cold = np.array([10.0, 9.0, 7.0, 5.0])
    >>> north = np.arange(8) >= 4  # the northern half is cold
    >>> mean = np.where(north[None, :, None, None], cold, warm)  # time, lat, lon, depth
    >>> values = mean + 0.3 * rng.standard_normal((3, 8, 5, 4))
    >>> values[:, 0, 0, :] = np.nan  # land
    >>> temp = xr.DataArray(
    ...     values,
    ...     dims=("time", "lat", "lon", "depth"),
    ...     coords={"lat": np.linspace(-10, 10, 8), "depth": depth},
    ... )
    >>> model = Labeled(GaussianMixture(2, random_state=0), "depth", skipna=True)
    >>> labels = model.fit(temp).predict(temp)
    >>> labels.dims
    ('time', 'lat', 'lon')
    >>> int(labels[0, 0, 0])  # land
    -1
    >>> bool((labels[:, 4:] != labels[0, 1, 0]).all())  # north differs from south
    True
    >>> model.predict_proba(temp).dims
    ('time', 'lat', 'lon', 'component')
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"])],
        "feature_dim": [Hashable, list, None],
        "skipna": ["boolean"],
        "sample_dims": [Hashable, list, None],
    }

    def __init__(
        self,
        estimator,
        feature_dim: Hashable | tuple[Hashable, ...] | None = None,
        skipna: bool = False,
        *,
        sample_dims: Hashable | tuple[Hashable, ...] | None = None,
    ):
        self.estimator = estimator
        self.feature_dim = feature_dim
        self.skipna = skipna
        self.sample_dims = sample_dims

    # ------------------------------------------------------------- inputs
    def _marginalizes(self) -> bool:
        """Whether the wrapped estimator takes NaN as missing values."""
        estimator = getattr(self, "estimator_", self.estimator)
        return getattr(estimator, "missing", None) == "marginalize"

    def _valid(self, rows, *others):
        """The rows ``skipna`` keeps (lazy for dask): complete, or observed."""
        return complete_rows(rows, *others, any_observed=self._marginalizes())

    def _stack(self, X, y=None, *, fitting: bool = False):
        """X stacked into :class:`Rows`, and y as rows aligned with them (or None).

        While fitting, the feature dimensions are taken from ``X`` and the
        parameters; afterwards ``X`` is checked against the fit's
        :class:`FeatureLayout`. Also returns the Dataset's variables dimension
        (None for a DataArray).
        """
        layout = None if fitting else self._layout
        rows, variables_dim = stack(X, self.feature_dim, layout, self.sample_dims)
        return rows, None if y is None else stack_y(y, rows), variables_dim

    # ------------------------------------------------------------------ fit
    def _fit_rows(self, X, y):
        """Stacked (rows, y rows) for fitting, incomplete rows left out if asked.

        Returns the rows, the X and y to fit, the fill values of incomplete
        rows and the feature layout.
        """
        rows, y_rows, variables_dim = self._stack(X, y, fitting=True)
        X_fit, y_fit = rows.rows, y_rows
        fill = [None, None]
        if self.skipna:
            others = () if y_rows is None else (y_rows,)
            valid, means = complete_rows_and_means(
                rows.rows, *others, any_observed=self._marginalizes()
            )
            if not valid.any():
                what = (
                    "no observed feature" if self._marginalizes() else "a NaN feature"
                )
                raise ValueError(
                    f"Every sample of X has {what} (or a NaN target): "
                    "nothing left to fit with skipna=True."
                )
            X_fit = take_complete(rows.rows, valid)
            if y_rows is not None:
                y_fit = take_complete(y_rows, valid)
            fill = [means[0], means[1] if len(means) > 1 else None]
        layout = FeatureLayout.of(rows, type(self).__name__, variables_dim)
        return rows, X_fit, y_fit, fill, layout

    def _record(self, estimator, rows: Rows, layout: FeatureLayout, fill) -> None:
        """Set every fitted attribute at once, after the wrapped fit succeeded."""
        self.estimator_ = estimator
        self._fill = fill
        self._layout = layout
        self.feature_dim_ = layout.dim
        self.sample_dims_ = tuple(rows.sample_dims)
        self.n_features_in_ = layout.n_features
        for name, value in (
            ("feature_names_in_", layout.names),
            ("feature_index_", layout.index()),
        ):
            if value is not None:
                setattr(self, name, value)
            elif hasattr(self, name):
                delattr(self, name)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **fit_params):
        """Stack the sample dimensions of X and fit the wrapped estimator.

        Parameters
        ----------
        X : xarray.DataArray or xarray.Dataset
            A DataArray with dims ``(*sample_dims, feature_dim)`` in any order, of
            shape (..., n_features) once the feature dim is last; or a
            Dataset whose n_features variables share their sample dims.
        y : xarray.DataArray or array-like, optional
            Targets for a regression estimator: a DataArray over X's sample
            dims in any order (aligned by name and coordinates), or an
            array of the shape of X's sample dims in X's order.
        **fit_params : dict
            Passed to the wrapped estimator's ``fit``.

        Returns
        -------
        self : Labeled
            The fitted meta-estimator.
        """
        rows, X_fit, y_fit, fill, layout = self._fit_rows(X, y)
        estimator = clone(self.estimator)
        if y_fit is None:
            estimator.fit(X_fit, **fit_params)
        else:
            estimator.fit(X_fit, y_fit, **fit_params)
        self._record(estimator, rows, layout, fill)
        return self

    @available_if(_estimator_has("partial_fit"))
    def partial_fit(self, X, y=None, **fit_params):
        """One incremental update of the wrapped estimator on the samples of X.

        The first call clones the wrapped estimator and records the
        dimensions; later calls check the feature dimensions against them.
        A call that fails changes nothing: a failed first call leaves the
        meta-estimator unfitted, so that the next call is a first call again.

        Parameters
        ----------
        X : xarray.DataArray or xarray.Dataset
            A batch, as in :meth:`fit`.
        y : xarray.DataArray or array-like, optional
            Its targets, as in :meth:`fit`.
        **fit_params : dict
            Passed to the wrapped estimator's ``partial_fit``.

        Returns
        -------
        self : Labeled
            The fitted meta-estimator.
        """
        first = not hasattr(self, "estimator_")
        if first:
            self._validate_params()
            rows, X_fit, y_fit, fill, layout = self._fit_rows(X, y)
            estimator = clone(self.estimator)
        else:
            rows, y_rows, _ = self._stack(X, y)
            X_fit, y_fit = rows.rows, y_rows
            if self.skipna:
                others = () if y_rows is None else (y_rows,)
                valid, _ = complete_rows_and_means(
                    rows.rows, *others, any_observed=self._marginalizes()
                )
                X_fit = take_complete(rows.rows, valid)
                y_fit = None if y_rows is None else take_complete(y_rows, valid)
            estimator = self.estimator_
        # the wrapped partial_fit is all or nothing itself; the layout is
        # recorded only once it has succeeded
        if y_fit is None:
            estimator.partial_fit(X_fit, **fit_params)
        else:
            estimator.partial_fit(X_fit, y_fit, **fit_params)
        if first:
            self._record(estimator, rows, layout, fill)
        return self

    # ----------------------------------------------------- per-sample outputs
    def _per_sample(self, method: str, X, y=None, *, name, **kwargs):
        """Call ``estimator_.method`` on the rows of X and unstack the result(s)."""
        check_is_fitted(self)
        rows, y_rows, _ = self._stack(X, y)
        arrays = [rows.rows] + ([] if y_rows is None else [y_rows])
        fn = getattr(self.estimator_, method)
        valid = None
        if self.skipna:
            valid = self._valid(*arrays)
            numpy_rows = rows.sample_chunks is None and valid.any()
            if numpy_rows:  # compute on the complete rows only
                arrays = [a[valid] for a in arrays]
            else:  # dask: stay lazy, fill the incomplete rows, mask the results
                arrays = [
                    fill_incomplete(a, valid, f)
                    for a, f in zip(arrays, self._y_fills(y_rows))
                ]
        result = fn(*arrays, **kwargs)
        names = name if isinstance(result, tuple) else (name,)
        results = result if isinstance(result, tuple) else (result,)
        out = []
        for one, one_name in zip(results, names):
            if valid is not None:
                if numpy_rows:
                    one = scatter_complete(one, valid)
                else:
                    one = mark_incomplete(one, valid)
            out.append(unstack(one, rows, one_name))
        return tuple(out) if isinstance(result, tuple) else out[0]

    def _y_fills(self, y_rows):
        fill_x, fill_y = self._fill[0], self._fill[1]
        if y_rows is not None and fill_y is None:
            fill_y = 0.0  # the fit had no y: any finite value
        return [fill_x, fill_y]

    @available_if(_estimator_has("predict"))
    def predict(self, X, **predict_params):
        """The wrapped estimator's ``predict`` on every sample of X.

        Parameters
        ----------
        X : xarray.DataArray or xarray.Dataset
            With the feature dimension of the fit (same length and
            coordinate values) and any sample dimensions.
        **predict_params : dict
            Passed on, e.g. ``return_std=True`` for RegressionMixture.

        Returns
        -------
        xarray.DataArray of shape ``sample_shape``
            On X's sample dims, with their coordinates: labels (int, -1 for
            incomplete samples with ``skipna=True``) or predictions (float,
            NaN there); lazy for dask-backed X. A tuple of two with
            ``return_std=True``.
        """
        return self._per_sample(
            "predict",
            X,
            name=("prediction", "prediction_std")
            if predict_params.get("return_std")
            else "prediction",
            **predict_params,
        )

    @available_if(_estimator_has("fit_predict"))
    def fit_predict(self, X, y=None, **fit_params):
        """Fit, then :meth:`predict` X (one more pass over dask-backed X).

        Parameters
        ----------
        X : xarray.DataArray or xarray.Dataset
            Labeled data: the feature dim and any sample dims.
        y : None
            Ignored.
        **fit_params : dict
            Passed to :meth:`fit`.

        Returns
        -------
        labels : xarray.DataArray of shape ``sample_shape``
            Component labels on X's sample dims (-1 for incomplete samples).
        """
        return self.fit(X, y, **fit_params).predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Posterior probability of each component for every sample of X.

        Parameters
        ----------
        X : xarray.DataArray or xarray.Dataset
            Labeled data: the feature dim and any sample dims.

        Returns
        -------
        xarray.DataArray of shape ``(*sample_shape, n_components)``
            Dims ``(*sample_dims, 'component')``; NaN for incomplete
            samples with ``skipna=True``; lazy for dask-backed X.
        """
        return self._per_sample("predict_proba", X, name="probability")

    @available_if(_estimator_has("component_proba"))
    def component_proba(self, X, y=None):
        """Component probabilities ``p(k | x)`` (or ``p(k | x, y)`` with y).

        Parameters
        ----------
        X : xarray.DataArray or xarray.Dataset
            Labeled data: the feature dim and any sample dims.
        y : xarray.DataArray or array-like, optional
            Over X's sample dims, as in :meth:`fit`.

        Returns
        -------
        xarray.DataArray of shape ``(*sample_shape, n_components)``
            Dims ``(*sample_dims, 'component')``.
        """
        return self._per_sample("component_proba", X, y, name="probability")

    @available_if(_estimator_has("score_samples"))
    def score_samples(self, X, y=None):
        """Log-likelihood of every sample of X (and y, for a regression).

        Parameters
        ----------
        X : xarray.DataArray or xarray.Dataset
            Labeled data: the feature dim and any sample dims.
        y : xarray.DataArray or array-like, optional
            Over X's sample dims, as in :meth:`fit`.

        Returns
        -------
        xarray.DataArray of shape ``sample_shape``
            NaN for incomplete samples with ``skipna=True``; lazy for
            dask-backed X.
        """
        return self._per_sample("score_samples", X, y, name="log_likelihood")

    @available_if(_estimator_has("impute"))
    def impute(self, X, **impute_params):
        """X with each missing entry at its conditional expectation (GaussianMixture).

        Parameters
        ----------
        X : xarray.DataArray or xarray.Dataset
            Labeled data with NaN where entries are missing: the feature
            dims of the fit and any sample dims.
        **impute_params : dict
            Passed on, e.g. ``sample=True, random_state=0`` for draws.

        Returns
        -------
        xarray.DataArray or xarray.Dataset
            X's values, dimensions (sample dimensions first, then the feature
            dimensions) and coordinates, or a Dataset of its variables for a
            Dataset; lazy for dask-backed X.
            With ``skipna=True``, samples with no observed feature stay NaN.
        """
        check_is_fitted(self)
        rows, _, variables_dim = self._stack(X)
        result = self.estimator_.impute(rows.rows, **impute_params)
        if self.skipna:
            result = mark_incomplete(result, self._valid(rows.rows))
        stacked = rows.stacked
        values = from_rows(result, rows.sample_shape, rows.sample_chunks)
        imputed = stacked.copy(data=values.reshape(stacked.shape))
        if variables_dim is not None:
            return imputed.to_dataset(dim=variables_dim)
        return imputed

    @available_if(_estimator_has("transform"))
    def transform(self, X):
        """The wrapped estimator's ``transform`` (KMeans: distance to each centre).

        Parameters
        ----------
        X : xarray.DataArray or xarray.Dataset
            Labeled data: the feature dim and any sample dims.

        Returns
        -------
        xarray.DataArray of shape ``(*sample_shape, n_clusters)``
            Dims ``(*sample_dims, 'component')``.
        """
        return self._per_sample("transform", X, name="distance")

    def unstack_features(self, values, name: Hashable | None = None):
        """Per-feature values back on the feature dimensions of the fit.

        Parameters
        ----------
        values : array-like of shape (n_features_in_,) or (K, n_features_in_)
            One value per feature, in the wrapped estimator's column order:
            ``estimator_.means_``, a row of it, ``estimator_.cluster_centers_``.
        name : hashable, optional
            The DataArray's name.

        Returns
        -------
        xarray.DataArray
            On the feature dimensions ``feature_dim_`` (a Dataset's variables
            first), after ``'component'`` for 2-D values, with the coordinate
            values seen at fit. ``.to_dataset("variable")`` makes a Dataset of
            it again.
        """
        check_is_fitted(self)
        return unstack_features(values, self._layout, name)

    # ------------------------------------------------------------- scores
    def _complete_rows(self, X, y):
        """The stacked rows of X (and y) with the incomplete ones left out."""
        check_is_fitted(self)
        rows, y_rows, _ = self._stack(X, y)
        arrays = [rows.rows] + ([] if y_rows is None else [y_rows])
        if self.skipna:
            valid = self._valid(*arrays)
            if is_lazy(valid):
                valid = valid.compute()
            arrays = [take_complete(a, np.asarray(valid)) for a in arrays]
        return arrays

    @available_if(_estimator_has("score"))
    def score(self, X, y=None, **score_params) -> float:
        """The wrapped estimator's ``score`` on the (complete) samples of X.

        Parameters
        ----------
        X : xarray.DataArray or xarray.Dataset
            Labeled data: the feature dim and any sample dims.
        y : xarray.DataArray or array-like, optional
            Over X's sample dims, as in :meth:`fit`; required for a regression.
        **score_params : dict
            Passed on (e.g. ``sample_weight``).

        Returns
        -------
        float
            Mean log-likelihood (mixtures), R^2 (RegressionMixture) or
            minus the inertia (KMeans).
        """
        return float(self.estimator_.score(*self._complete_rows(X, y), **score_params))

    @available_if(_estimator_has("bic"))
    def bic(self, X, y=None) -> float:
        """Bayesian information criterion on the (complete) samples of X.

        Parameters
        ----------
        X : xarray.DataArray or xarray.Dataset
            Labeled data: the feature dim and any sample dims.
        y : xarray.DataArray or array-like, optional
            Targets over the same sample dims (RegressionMixture).

        Returns
        -------
        bic : float
            The wrapped estimator's BIC on the complete samples.
        """
        return float(self.estimator_.bic(*self._complete_rows(X, y)))

    @available_if(_estimator_has("aic"))
    def aic(self, X, y=None) -> float:
        """Akaike information criterion on the (complete) samples of X.

        Parameters
        ----------
        X : xarray.DataArray or xarray.Dataset
            Labeled data: the feature dim and any sample dims.
        y : xarray.DataArray or array-like, optional
            Targets over the same sample dims (RegressionMixture).

        Returns
        -------
        aic : float
            The wrapped estimator's AIC on the complete samples.
        """
        return float(self.estimator_.aic(*self._complete_rows(X, y)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.target_tags = inner.target_tags
        tags.transformer_tags = inner.transformer_tags
        tags.regressor_tags = inner.regressor_tags
        tags.classifier_tags = inner.classifier_tags
        tags.input_tags.allow_nan = bool(self.skipna) or self._marginalizes()
        return tags
