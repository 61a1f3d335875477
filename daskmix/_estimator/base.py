"""BaseMixture: what every mixture estimator shares.

An estimator is its parameters, its docstring and its model
(:class:`~daskmix._em.model.MixtureModel`). This base class holds the rest:
the shared parameter constraints, ``fit`` dispatching to batch EM
(:func:`~daskmix._em.batch.fit_em`) or stepwise EM
(:func:`~daskmix._em.stepwise.fit_stepwise`), ``partial_fit``, warm starts,
the log-likelihood pass behind ``bic`` / ``aic``, per-row outputs that follow
the input type, and the bookkeeping of fitted attributes: it is the only
place that turns estimator parameters into an EM job
(:class:`~daskmix._em.run.EMJob`) and an EM result into fitted attributes,
for a lone fit and for the model-selection estimators' candidates alike.

Subclasses implement :meth:`BaseMixture._model`, :meth:`BaseMixture._params`,
:meth:`BaseMixture._set_params` and :meth:`BaseMixture._structure`, and may
override :meth:`BaseMixture._validate` (RegressionMixture validates ``y``).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._em.batch import fit_em
from .._em.model import MixtureModel
from .._em.run import EMJob, EMResult, StepSchedule, StepwiseState, check_pass
from .._em.stepwise import clip_batch_size, fit_stepwise, partial_step
from .._engine.namespaces import astype, to_host
from .._engine.rows import RowBlocks, one_blas_thread
from .._engine.stats import Stats
from .._engine.tiles import Tile
from .all_or_nothing import fit_all_or_nothing
from .outputs import keep_namespace, wrap_rows
from .validation import InputInfo, check_sample_weight, check_X, reject_booleans


@dataclass(frozen=True)
class FittedRows:
    """Validated rows for a fitted estimator's per-row outputs or scores.

    Attributes
    ----------
    data : RowBlocks
    info : InputInfo
        Where X came from (outputs follow it).
    model : MixtureModel
    plan : object
        The fitted parameters as the kernels read them.
    tile_rows : int
        The model's tile size for these rows.
    """

    data: RowBlocks
    info: InputInfo
    model: MixtureModel
    plan: Any
    tile_rows: int


@dataclass(frozen=True)
class TrainingRows:
    """Validated training data, ready for EM.

    Attributes
    ----------
    data : RowBlocks
        The rows (small dask data read into memory), with their ``weight``
        array when ``sample_weight`` was given.
    total_weight : float or None
        The summed weight of weighted data.
    batch_size : int or None
        Rows per mini-batch (``algorithm='minibatch'``, at most n_samples).
    """

    data: RowBlocks
    total_weight: float | None
    batch_size: int | None


def _information_criteria(estimator) -> bool:
    return estimator._has_information_criteria


class BaseMixture(BaseEstimator):
    """Base class of the mixture estimators (not an estimator itself)."""

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "algorithm": [StrOptions({"batch", "minibatch"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_offset": [Interval(Real, 0.0, None, closed="left")],
        "learning_decay": [Interval(Real, 0.5, 1.0, closed="right")],
        "max_no_improvement": [Interval(Integral, 1, None, closed="left"), None],
    }

    #: whether fit and partial_fit need targets y (regressors)
    _requires_y = False
    #: whether bic, aic and icl exist (not for a variational posterior)
    _has_information_criteria = True
    #: whether fit and the outputs run on array-API input (cupy, torch...)
    #: where it lives, with scikit-learn's array_api_dispatch on
    _supports_array_api = False

    def _validate_params(self) -> None:
        """scikit-learn's parameter validation, booleans refused as integers."""
        super()._validate_params()
        reject_booleans(self)

    # ------------------------------------------------------ subclass hooks
    @abstractmethod
    def _model(self, n_features: int, *, fitting: bool = False) -> MixtureModel:
        """The model of the current hyper-parameters.

        ``fitting=True`` also validates what only a fit needs (the user's
        ``*_init`` arrays).
        """

    @abstractmethod
    def _params(self) -> Any:
        """The fitted parameters, read from the fitted attributes."""

    @abstractmethod
    def _set_params(self, params: Any, dtype: np.dtype) -> None:
        """Set the fitted attributes from ``params``, in the float ``dtype``."""

    @abstractmethod
    def _structure(self, n_features: int) -> dict:
        """The hyper-parameters that fix the shapes of the parameters.

        Warm starts and ``partial_fit`` continue only while these are
        unchanged.
        """

    def _prepare_fit(self, data: RowBlocks) -> None:
        """Work a fit needs from the data before its model is built (none here).

        Called by ``fit`` and by the first ``partial_fit``, after validation.
        """

    def _validate(
        self,
        X,
        y=None,
        *,
        reset: bool,
        ensure_min_samples: int = 1,
        sample_weight=None,
    ) -> tuple[RowBlocks, InputInfo]:
        """Validated row blocks of the inputs, and where X came from.

        Validated ``sample_weight``, when given, is the last array.
        """
        X, info = check_X(self, X, reset=reset, ensure_min_samples=ensure_min_samples)
        return RowBlocks({"X": X, **weight_arrays(sample_weight, X)}), info

    def _check_y_given(self, y) -> None:
        """scikit-learn's error for a regressor fitted without targets."""
        if self._requires_y and y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )

    # ------------------------------------------------------------------ fit
    @fit_all_or_nothing
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Estimate the parameters with EM, one pass over the data per iteration.

        With ``algorithm='minibatch'``, stepwise EM on random mini-batches.
        ``warm_start=True`` continues from the fitted parameters while the
        structural parameters (number of components and features, covariance
        type, and for RegressionMixture ``gating`` and ``fit_intercept``) are
        unchanged; after such a change the fit starts afresh.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), optional
            Targets: required by RegressionMixture, ignored by GaussianMixture.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y)

    def _fit(self, X, y=None, sample_weight=None):
        """``fit``, with row weights for the estimators whose ``fit`` takes them.

        ``sample_weight`` travels as the last array of the row blocks (and
        of every mini-batch drawn from them) and the model's weighted kernel
        multiplies every row's contribution to the statistics, to the
        log-likelihood and to the row count by its weight; ``None`` runs the
        unweighted kernel.
        """
        self._check_y_given(y)
        data, _ = self._validate(
            X, y, reset=True, ensure_min_samples=2, sample_weight=sample_weight
        )
        if data.n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {data.n_samples}"
            )
        rows = self._training_rows(data, self.n_components)
        result = self._run_em(self._em_job(rows), rows.data)
        return self._record_fit(result, rows.data)

    def _training_rows(self, data: RowBlocks, n_components: int) -> TrainingRows:
        """Validated rows made ready for fits of up to ``n_components`` components.

        Small dask data are read into memory; row weights (``data.weight``)
        must leave ``n_components`` rows of non-zero weight; the mini-batch
        size is clipped to the rows.
        """
        data = data.small_in_memory()
        total_weight = None
        if data.weight is not None:
            total_weight = check_enough_weights(data, n_components)
        batch_size = None
        if self.algorithm == "minibatch":
            batch_size = clip_batch_size(self.batch_size, data.n_samples)
        return TrainingRows(data, total_weight, batch_size)

    def _em_job(self, rows: TrainingRows) -> EMJob:
        """What EM is to do for this estimator on ``rows``.

        The one place that reads the estimator's EM parameters: a lone fit
        and a model-selection candidate get their job here alike.
        """
        data = rows.data
        self._prepare_fit(data)
        model = self._model(data.n_features, fitting=True)
        warm = self._warm_start_params(data.n_features)
        return EMJob(
            model,
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=check_random_state(self.random_state),
            verbose=self.verbose,
            verbose_interval=self.verbose_interval,
            warm_params=warm,
            warm_lower_bound=self.lower_bound_ if warm is not None else -np.inf,
            batch_size=rows.batch_size,
            schedule=self._schedule() if rows.batch_size is not None else None,
            n_rows=rows.total_weight,
        )

    def _schedule(self) -> StepSchedule:
        """Stepwise EM's step sizes and stopping rule, from the parameters."""
        return StepSchedule(
            learning_offset=self.learning_offset,
            learning_decay=self.learning_decay,
            max_no_improvement=self.max_no_improvement,
            tol=self.tol,
        )

    @staticmethod
    def _run_em(job: EMJob, data: RowBlocks) -> EMResult:
        """A lone fit's EM: batch or stepwise, as ``job`` says."""
        if job.batch_size is None:
            return fit_em(
                job.model,
                data,
                n_init=job.n_init,
                max_iter=job.max_iter,
                tol=job.tol,
                random_state=job.random_state,
                verbose=job.verbose,
                verbose_interval=job.verbose_interval,
                warm_params=job.warm_params,
                warm_lower_bound=job.warm_lower_bound,
            )
        return fit_stepwise(
            job.model,
            data,
            batch_size=job.batch_size,
            schedule=job.schedule,
            n_init=job.n_init,
            max_iter=job.max_iter,
            random_state=job.random_state,
            verbose=job.verbose,
            verbose_interval=job.verbose_interval,
            warm_params=job.warm_params,
            n_rows=job.n_rows,
        )

    def _record_fit(self, result: EMResult, data: RowBlocks):
        """Set the fitted attributes from an EM result on ``data``.

        The model-selection estimators record their candidates through this
        too. A stepwise result's state is kept for ``partial_fit`` to
        continue from.
        """
        self._set_params(result.params, data.dtype)
        keep_namespace(self, data.X)
        self._fitted_structure = self._structure(data.n_features)
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        self.n_steps_ = result.n_steps
        self.lower_bound_ = result.lower_bound
        self.lower_bounds_ = list(result.lower_bounds)
        self._stepwise_state = result.state
        return self

    def _warm_start_params(self, n_features: int) -> Any:
        """Fitted parameters to continue from, or None to start afresh."""
        if not (self.warm_start and hasattr(self, "converged_")):
            return None
        if getattr(self, "_fitted_structure", None) != self._structure(n_features):
            return None
        return self._params()

    @fit_all_or_nothing
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One stepwise EM update on the rows of X (a mini-batch).

        The first call (on an unfitted estimator) initialises on X with
        ``init_params`` (and any ``*_init`` arrays), then updates. Later calls
        continue the running statistics and the step-size schedule
        (``learning_offset``, ``learning_decay``); after a ``fit``, they
        continue from the fitted parameters. ``n_features_in_`` is set by the
        first call and checked by the others. ``batch_size``,
        ``max_no_improvement``, ``max_iter`` and ``n_init`` are not used: X is
        the batch, and the caller decides when to stop. Changing a structural
        parameter (number of components, covariance type, and for
        RegressionMixture ``gating`` and ``fit_intercept``) between calls
        raises a ValueError: call ``fit`` or clone the estimator to start
        afresh. A call that fails or is interrupted leaves the estimator as
        it was, running statistics and counts included.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_batch, n_features)
            One mini-batch. A dask array is reduced on dask's scheduler (one
            pass over its blocks).
        y : array-like of shape (n_batch,), optional
            Its targets: required by RegressionMixture, ignored by
            GaussianMixture.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._partial_fit(X, y)

    def _partial_fit(self, X, y=None, sample_weight=None):
        """``partial_fit``, with row weights for the estimators that take them.

        The weights are validated as ``fit``'s (the first call, which
        initialises, needs ``n_components`` rows of non-zero weight) and
        travel as the last array of the rows. The update divides the call's
        weighted statistics by its summed weight, and the rows seen so far
        (what the M-step scales the running statistics to) grow by it: a
        call with integer weights is the same update as one on its rows
        repeated (:func:`~daskmix._em.stepwise.stepwise_update`). The update
        works on a copy of the running state
        (:func:`~daskmix._em.stepwise.partial_step`), which replaces the
        kept one only once the call has succeeded.
        """
        self._check_y_given(y)
        fitted = hasattr(self, "weights_")
        if fitted:
            self._check_same_structure()
        data, _ = self._validate(X, y, reset=not fitted, sample_weight=sample_weight)
        weighted = sample_weight is not None
        if not fitted:
            self._prepare_fit(data)
        model = self._model(data.n_features, fitting=not fitted)
        if not fitted and data.n_samples < self.n_components:
            raise ValueError(
                "The first call to partial_fit initialises the model and needs "
                f"n_samples >= n_components; got n_components = "
                f"{self.n_components}, n_samples = {data.n_samples}"
            )
        if weighted:
            check_enough_weights(data, 1 if fitted else self.n_components)
        state = getattr(self, "_stepwise_state", None)
        if not fitted:
            with one_blas_thread():
                params = model.initialize(data, check_random_state(self.random_state))
            state = StepwiseState(params)
        elif state is None:
            state = StepwiseState(self._params())
        with one_blas_thread():
            result = partial_step(model, state, data, self._schedule())
        return self._record_fit(result, data)

    def _check_same_structure(self) -> None:
        """Raise when a structural parameter changed since the last fit."""
        before = getattr(self, "_fitted_structure", None)
        if before is None:
            return
        now = self._structure(before["n_features"])
        changed = [name for name in before if before[name] != now[name]]
        if changed:
            details = ", ".join(
                f"{name}: {before[name]!r} -> {now[name]!r}" for name in changed
            )
            raise ValueError(
                f"partial_fit cannot continue: {details} changed since the model "
                "was fitted. Call fit, or clone the estimator, to start afresh."
            )

    # ------------------------------------------------------- per-row outputs
    def _fitted_rows(self, X, y=None) -> FittedRows:
        """Validated rows of X (and y), the fitted model and its plan."""
        check_is_fitted(self)
        data, info = self._validate(X, y, reset=False)
        model = self._model(data.n_features)
        plan = model.plan(self._params(), data.dtype)
        return FittedRows(data, info, model, plan, model.tile_rows(data.n_features))

    def _map_rows(
        self, rows: FittedRows, fn, n_columns: int | None, name: str, dtype=None
    ):
        """Per-row outputs in the input's type; floats in the input's float dtype.

        NaN in dask blocks of X pass (as missing values) when the model takes
        them (``MixtureModel.allow_nan``).
        """
        data = rows.data
        dtype = data.dtype if dtype is None else dtype
        result = data.map_rows(
            fn,
            rows.plan,
            rows.tile_rows,
            n_columns,
            kernel_dtype(dtype),
            allow_nan=rows.model.allow_nan,
        )
        return wrap_rows(astype(result, dtype), rows.info, name=name)

    def _score_pass(self, X, y=None) -> Stats:
        """``loglik``, ``entropy`` and ``n_rows`` of the data (one pass)."""
        rows = self._fitted_rows(X, y)
        model = rows.model
        stats = rows.data.map_reduce(
            model.score_kernel, rows.plan, rows.tile_rows, name=f"{model.name}-score"
        )
        return check_pass(stats, rows.data, model.allow_nan)

    def _total_loglik(self, X, y=None) -> tuple[float, int]:
        """Summed log-likelihood of the rows and their number (one pass)."""
        stats = self._score_pass(X, y)
        return float(stats["loglik"]), int(stats["n_rows"])

    @abstractmethod
    def _n_parameters(self) -> int:
        """Free parameters of the fitted model (for the information criteria)."""

    @available_if(_information_criteria)
    def bic(self, X, y=None) -> float:
        """Bayesian information criterion on the data (lower is better).

        ``-2 log L + p log n`` with ``L`` the likelihood of the model actually
        fitted and ``p`` its free parameters.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.
        y : array-like of shape (n_samples,), optional
            Targets: required by RegressionMixture, ignored by GaussianMixture.

        Returns
        -------
        bic : float
            The criterion.
        """
        loglik, n_samples = self._total_loglik(X, y)
        return -2.0 * loglik + self._n_parameters() * math.log(n_samples)

    @available_if(_information_criteria)
    def aic(self, X, y=None) -> float:
        """Akaike information criterion on the data (lower is better).

        ``-2 log L + 2 p``; see :meth:`bic`.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.
        y : array-like of shape (n_samples,), optional
            Targets: required by RegressionMixture, ignored by GaussianMixture.

        Returns
        -------
        aic : float
            The criterion.
        """
        loglik, _ = self._total_loglik(X, y)
        return -2.0 * loglik + 2.0 * self._n_parameters()

    @available_if(_information_criteria)
    def icl(self, X, y=None) -> float:
        """Integrated completed likelihood on the data (lower is better).

        BIC plus twice the entropy of the responsibilities,
        ``BIC - 2 sum_i sum_k r_ik log r_ik`` (Biernacki, Celeux & Govaert
        2000): it penalises components that overlap, so it prefers
        well-separated clusters where BIC may add components to fit a
        non-Gaussian shape.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.
        y : array-like of shape (n_samples,), optional
            Targets: required by RegressionMixture, ignored by GaussianMixture.

        Returns
        -------
        icl : float
            The criterion.
        """
        stats = self._score_pass(X, y)
        bic = -2.0 * float(stats["loglik"]) + self._n_parameters() * math.log(
            float(stats["n_rows"])
        )
        return bic + 2.0 * float(stats["entropy"])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.array_api_support = self._supports_array_api
        return tags


def kernel_dtype(dtype) -> np.dtype:
    """The dtype per-row functions return for an output of ``dtype``.

    Float outputs are computed in float64: a dask result must declare that,
    so that its ``astype(dtype)`` casts the blocks (an ``astype`` to the
    declared dtype is a no-op in dask).
    """
    dtype = np.dtype(dtype)
    return np.dtype(np.float64) if dtype.kind == "f" else dtype


def float_dtype(dtype) -> np.dtype:
    """The float dtype fitted attributes and outputs take for data of ``dtype``."""
    dtype = np.dtype(dtype)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def weight_arrays(sample_weight, X) -> dict:
    """``{"weight": validated sample_weight}`` for ``X``, or ``{}`` without.

    :func:`~daskmix._estimator.validation.check_sample_weight`'s rules and
    messages (non-negative, finite, 1-D of X's length, not all zero; dask
    weights rechunked to X's row blocks).
    """
    if sample_weight is None:
        return {}
    return {"weight": check_sample_weight(sample_weight, X, read_dask=False)}


def _count_weights(tile: Tile, plan) -> Stats:
    weight = tile.X
    return Stats(
        n_positive=np.float64(np.count_nonzero(weight)),
        total=weight.sum(dtype=np.float64),
        n_negative=np.float64(np.count_nonzero(weight < 0)),
        n_not_finite=np.float64(weight.size - np.count_nonzero(np.isfinite(weight))),
    )


def check_enough_weights(data: RowBlocks, n_components: int) -> float:
    """Check the row weights and that ``n_components`` rows have a non-zero one.

    The weights are the ``weight`` array of ``data``; one pass reads the
    weights only (for dask weights, which validation checks for shape and
    dtype only, it also finds NaN, infinity and negative values, with
    scikit-learn's messages).

    Returns
    -------
    float
        The summed weight (float64).
    """
    if data.on_device:  # the weights alone, a vector, counted on the host
        counts = _count_weights(Tile({"X": to_host(data.weight)}), None)
    else:
        column = data.same_blocks({"X": data.weight[:, None]})
        counts = column.map_reduce(_count_weights, None, 1 << 16)
    if counts["n_not_finite"]:
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if counts["n_negative"]:
        raise ValueError("Negative values in data passed to `sample_weight`.")
    n_positive = int(counts["n_positive"])
    if n_positive == 0:
        raise ValueError("Sample weights must contain at least one non-zero number.")
    if n_positive < n_components:
        raise ValueError(
            f"sample_weight has {n_positive} non-zero values; a mixture of "
            f"n_components={n_components} needs at least as many rows of non-zero "
            "weight."
        )
    return float(counts["total"])
