"""BaseMixture: what every mixture estimator shares.

An estimator is its parameters, its docstring and its model
(:class:`~daskmix._em.model.MixtureModel`). This base class holds the rest:
the shared parameter constraints, ``fit`` dispatching to batch EM
(:func:`~daskmix._em.batch.fit_em`) or stepwise EM
(:func:`~daskmix._em.stepwise.fit_stepwise`), ``partial_fit``, warm starts,
the log-likelihood pass behind ``bic`` / ``aic``, per-row outputs that follow
the input type, and the bookkeeping of fitted attributes.

Subclasses implement :meth:`BaseMixture._model`, :meth:`BaseMixture._params`,
:meth:`BaseMixture._set_params` and :meth:`BaseMixture._structure`, and may
override :meth:`BaseMixture._validate` (RegressionMixture validates ``y``).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._em.batch import check_pass, fit_em
from .._em.model import MixtureModel
from .._em.stepwise import (
    StepwiseResult,
    StepwiseState,
    check_first_batch,
    clip_batch_size,
    fit_stepwise,
    record_stepwise,
    schedule_of,
    smoothing_weight,
    stepwise_update,
)
from .._engine.rows import RowBlocks, one_blas_thread
from .._engine.stats import Stats
from .._engine.tiles import Tile
from .all_or_nothing import fit_all_or_nothing
from .outputs import wrap_rows
from .validation import InputInfo, check_sample_weight, check_X


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
        data = data.small_in_memory()
        weighted = sample_weight is not None
        total_weight = None
        if weighted:
            total_weight = check_enough_weights(data, self.n_components)
        self._prepare_fit(data)
        model = self._model(data.n_features, fitting=True)
        warm = self._warm_start_params(data.n_features)
        random_state = check_random_state(self.random_state)
        if self.algorithm == "minibatch":
            return self._fit_minibatch(model, data, warm, random_state, total_weight)
        result = fit_em(
            model,
            data,
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=random_state,
            verbose=self.verbose,
            verbose_interval=self.verbose_interval,
            warm_params=warm,
            warm_lower_bound=self.lower_bound_ if warm is not None else -np.inf,
        )
        return self._record_fit(result, data)

    def _record_fit(self, result, data: RowBlocks):
        """Set the fitted attributes from a driver's result on ``data``.

        ``result`` is a batch :class:`~daskmix._em.batch.EMResult` or a
        :class:`~daskmix._em.stepwise.StepwiseResult`; the model-selection
        sweep records its candidates through this too.
        """
        self._set_params(result.params, data.dtype)
        self._fitted_structure = self._structure(data.n_features)
        if isinstance(result, StepwiseResult):
            record_stepwise(
                self, result.state, result.lower_bound, result.n_iter, result.converged
            )
            return self
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        self.lower_bound_ = result.lower_bound
        self.lower_bounds_ = result.lower_bounds
        self.n_steps_ = 0
        self._stepwise_state = None
        return self

    def _warm_start_params(self, n_features: int) -> Any:
        """Fitted parameters to continue from, or None to start afresh."""
        if not (self.warm_start and hasattr(self, "converged_")):
            return None
        if getattr(self, "_fitted_structure", None) != self._structure(n_features):
            return None
        return self._params()

    def _fit_minibatch(
        self,
        model: MixtureModel,
        data: RowBlocks,
        warm: Any,
        random_state,
        total_weight: float | None = None,
    ):
        """``fit`` with ``algorithm='minibatch'``: stepwise EM on random batches.

        ``total_weight``: the summed row weights of weighted ``data``, which
        the running statistics stand for (None: the number of rows).
        """
        result = fit_stepwise(
            model,
            data,
            batch_size=clip_batch_size(self.batch_size, data.n_samples),
            schedule=schedule_of(self),
            n_init=self.n_init,
            max_iter=self.max_iter,
            random_state=random_state,
            verbose=self.verbose,
            verbose_interval=self.verbose_interval,
            warm_params=warm,
            n_rows=total_weight,
        )
        return self._record_fit(result, data)

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
        afresh.

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
        repeated (:func:`~daskmix._em.stepwise.stepwise_update`).
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
        state = getattr(self, "_stepwise_state", None)
        if not fitted:
            check_first_batch(data.n_samples, self.n_components)
            if weighted:
                check_enough_weights(data, self.n_components)
            with one_blas_thread():
                params = model.initialize(data, check_random_state(self.random_state))
            state = StepwiseState(params)
        elif state is None:
            state = StepwiseState(self._params())
        elif state.stats is not None and state.dtype != data.dtype:
            # the frame's shift is rounded to the block dtype: move the sums
            state.stats = model.reframe(
                state.stats,
                model.frame(state.params, state.dtype),
                model.frame(state.params, data.dtype),
            )
        state.dtype = data.dtype
        with one_blas_thread():
            stepwise_update(
                model,
                state,
                data,
                schedule_of(self),
                smoothing_weight(1, None),
                count_rows=True,
            )
        self._set_params(state.params, data.dtype)
        self._fitted_structure = self._structure(data.n_features)
        record_stepwise(self, state, state.smoothed, state.n_steps, converged=False)
        return self

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
    def _fitted_rows(self, X, y=None) -> tuple[RowBlocks, Any, InputInfo]:
        """Validated rows of X (and y), and the plan of the fitted parameters."""
        check_is_fitted(self)
        data, info = self._validate(X, y, reset=False)
        model = self._model(data.n_features)
        return data, model.plan(self._params(), data.dtype), info

    def _map_rows(
        self,
        data: RowBlocks,
        plan: Any,
        info: InputInfo,
        fn,
        n_columns: int | None,
        name: str,
        dtype=None,
        allow_nan: bool | None = None,
    ):
        """Per-row outputs in the input's type; floats in the input's float dtype.

        ``allow_nan``: whether NaN in dask blocks of X pass (missing values);
        None: when the model takes them (``MixtureModel.allow_nan``).
        """
        dtype = data.dtype if dtype is None else dtype
        model = self._model(data.n_features)
        if allow_nan is None:
            allow_nan = model.allow_nan
        result = data.map_rows(
            fn,
            plan,
            model.tile_rows(data.n_features),
            n_columns,
            kernel_dtype(dtype),
            allow_nan=allow_nan,
        )
        return wrap_rows(result.astype(dtype, copy=False), info, name=name)

    def _score_pass(self, X, y=None) -> Stats:
        """``loglik``, ``entropy`` and ``n_rows`` of the data (one pass)."""
        data, plan, _ = self._fitted_rows(X, y)
        model = self._model(data.n_features)
        stats = data.map_reduce(
            model.score_kernel,
            plan,
            model.tile_rows(data.n_features),
            name=f"{model.name}-score",
        )
        return check_pass(stats, data, model.allow_nan)

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
    weight = check_sample_weight(sample_weight, X)
    return {} if weight is None else {"weight": weight}


def _count_positive(tile: Tile, plan) -> Stats:
    return Stats(
        n_positive=np.float64(np.count_nonzero(tile.X)),
        total=tile.X.sum(dtype=np.float64),
    )


def check_enough_weights(data: RowBlocks, n_components: int) -> float:
    """Raise unless at least ``n_components`` rows have a non-zero weight.

    The weights are the ``weight`` array of ``data``; counting them reads
    the weights only (one small pass for dask input).

    Returns
    -------
    float
        The summed weight (float64).
    """
    column = data.same_blocks({"X": data.weight.reshape(-1, 1)})
    counts = column.map_reduce(_count_positive, None, 1 << 16)
    n_positive = int(counts["n_positive"])
    if n_positive < n_components:
        raise ValueError(
            f"sample_weight has {n_positive} non-zero values; a mixture of "
            f"n_components={n_components} needs at least as many rows of non-zero "
            "weight."
        )
    return float(counts["total"])
