"""RegressionMixture: mixtures of linear regressions and cluster-weighted models.

The model is

    p(y | x) = sum_k g_k(x) N(y | w_k . x + b_k, sigma_k^2)

with either a Gaussian gate ``g_k(x) ∝ pi_k N(x | mu_k, Sigma_k)`` (a
cluster-weighted model; EM fits the joint ``p(x, y)``) or constant weights
``g_k = pi_k`` (the classical mixture of linear regressions). It is fitted on
the same engine as :class:`~daskmix.GaussianMixture`: one pass over the data
per EM iteration, tree-reduced statistics, residual-shifted accumulation.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import dask.array as da
import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import r2_score
from sklearn.utils import check_random_state
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._core.em import EMModel, check_pass, fit_em
from .._core.engine import RowBlocks, default_tile_rows, one_blas_thread
from .._core.outputs import wrap_rows
from .._core.stats import Stats
from .._core.stepwise import (
    MIN_SMOOTHING,
    StepwiseModel,
    StepwiseState,
    check_first_batch,
    clip_batch_size,
    fit_stepwise,
    init_sample,
    record_stepwise,
    schedule_of,
    stepwise_update,
)
from .._core.validation import check_X, check_y
from ..gaussian.params import (
    COVARIANCE_TYPES,
    GaussianParams,
    precisions_from_cholesky,
)
from .kernels import (
    conditional_score_rows,
    em_kernel,
    gate_proba_rows,
    gate_score_rows,
    loglik_kernel,
    make_plan,
    posterior_rows,
    predict_rows,
    predict_std_rows,
    r2_kernel,
)
from .params import (
    GATINGS,
    NOISE_MODELS,
    RegressionConfig,
    RegressionParams,
    m_step,
    n_coefficients,
    n_parameters,
    reframe_stats,
    replace,
)
from .starts import initial_params

INIT_METHODS = (
    "kmeans",
    "k-means++",
    "random",
    "random_from_data",
    "gmm",
    "kmeans-chain",
    "kmeans-pairs",
    "short-em",
)
#: whether a minibatch fit ends with a full pass to report an exact lower bound
MINIBATCH_FINAL_PASS = False


def _has_input_model(estimator) -> bool:
    if estimator.gating != "gaussian":
        raise AttributeError(
            "sample() needs a model of x: it is available with gating='gaussian' "
            f"only, not gating={estimator.gating!r}."
        )
    return True


class RegressionMixture(RegressorMixin, BaseEstimator):
    """Mixture of linear regressions, optionally gated by Gaussians on x (CWM).

    ``p(y | x) = sum_k g_k(x) N(y | w_k . x + b_k, sigma_k^2)``. With
    ``gating='gaussian'`` (a cluster-weighted model) ``g_k(x) ∝ pi_k N(x | mu_k,
    Sigma_k)``: the joint ``p(x, y)`` is fitted by closed-form EM and
    ``predict`` is the gated conditional mean, so a curve is fitted piecewise
    linearly, each line with its region. With ``gating='none'`` the weights
    are constant (the mixture of linear regressions of R's flexmix and
    mixtools) and ``predict`` is ``sum_k pi_k (w_k . x + b_k)``.

    Each EM iteration is one pass over the data, whatever its type (numpy on
    all cores, dask on the active scheduler, lazily read data streamed block by
    block).

    Parameters
    ----------
    n_components : int, default=2
        Number of lines K.
    gating : {'gaussian', 'none'}, default='gaussian'
        Gaussian gate on x (cluster-weighted model) or constant weights.
    noise : {'component', 'shared'}, default='component'
        One noise variance per line, or one for all.
    fit_intercept : bool, default=True
        Whether each line has an intercept.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariances of the gate (ignored with ``gating='none'``).
    tol : float, default=1e-3
        EM stops when the lower bound (mean log-likelihood) changes by less.
    reg_covar : float, default=1e-6
        Added to every variance: the diagonal of the gate's covariances and
        the noise variances.
    reg_weights : float, default=0.0
        Ridge penalty on the slopes (not the intercepts) of every line: the
        weighted least squares of each M-step minimise
        ``sum_i r_ik (y_i - w_k . x_i - b_k)^2 + reg_weights |w_k|^2``.
    max_iter : int, default=100
        EM iterations (passes over the data) at most.
    n_init : int, default=1
        Initialisations; the run with the best lower bound is kept.
    init_params : {'short-em', 'kmeans', 'k-means++', 'random', \
            'random_from_data', 'gmm', 'kmeans-chain', 'kmeans-pairs'}, \
            default='short-em'
        How the starting lines are found. 'short-em' (the default) is the
        best of many short EM runs on a uniform sample of at most 4,000 rows
        held in memory: starts from most of the methods below and from lines
        through random rows each get 10 EM iterations, the best three run on
        to convergence, and the best fit that is not degenerate (see
        :mod:`daskmix.regression.degenerate`) starts EM on all the data. It
        costs no pass over the data (one read of the sample for dask input)
        and, on the problems of ``benchmarks/bench_starts.py``, reached the
        best optimum from a single start far more often than any one method.
        The first four of the others assign every row to one of K centres of
        the joint ``(x, y)`` (k-means, k-means++ seeds, random rows) or give it
        random responsibilities, then fit lines, noise and gate to that
        assignment; k-means in ``(x, y)`` tends to cut crossing lines at the
        crossing. 'gmm' fits a Gaussian mixture to a sample of ``(x, y)`` rows
        and starts each line at its component's conditional mean of y given
        x. 'kmeans-chain' orders ``K + 1`` k-means centres along their
        principal direction and joins neighbours; 'kmeans-pairs' pairs ``2K``
        k-means centres so that the K lines through the pairs fit a sample of
        rows best (least squared residual to the nearest line); each pair of
        centres gives the minimum-norm line through both. Every restart of
        ``n_init`` is a different draw.
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Continue from the fitted parameters on the next ``fit``.
    verbose : int, default=0
    verbose_interval : int, default=10
    algorithm : {'batch', 'minibatch'}, default='batch'
        'batch': EM, one pass over (X, y) per iteration. 'minibatch':
        stepwise EM (Cappé & Moulines 2009), as in
        :class:`~daskmix.GaussianMixture`: each step reads ``batch_size``
        random rows of randomly chosen blocks (sorted data give unbiased
        steps), updates running statistics ``s <- (1 - eta_t) s + eta_t s_B``
        with ``eta_t = (t + learning_offset) ** -learning_decay`` and
        re-derives lines, noise and gate. ``init_params`` runs on a sample of
        three batches' worth of rows (at least 1000), not on the data; the
        running statistics start from three more batches under the initial
        parameters. ``max_iter`` then counts passes' worth of steps and
        ``tol`` is the rise of the smoothed lower bound that counts as
        progress. Results depend on ``random_state`` and the chunking only,
        not on the scheduler.
    batch_size : int, default=8192
        Rows per step of ``algorithm='minibatch'``. Larger than n_samples:
        clipped to n_samples with a UserWarning.
    learning_offset : float, default=1.0
        ``t0 >= 0`` in the step size; larger values make the early steps
        smaller.
    learning_decay : float, default=0.75
        ``kappa`` in (0.5, 1] in the step size.
    max_no_improvement : int or None, default=20
        Stop a minibatch fit after this many consecutive steps in which the
        smoothed lower bound did not exceed its best value by more than
        ``tol``; None runs ``max_iter`` passes' worth of steps.

    Attributes
    ----------
    coef_ : ndarray of shape (n_components, n_features)
    intercept_ : ndarray of shape (n_components,)
    noise_variance_ : ndarray of shape (n_components,)
        All equal with ``noise='shared'``.
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
        Gate means (``gating='gaussian'`` only; likewise the next three).
    covariances_ : ndarray
        Gate covariances, shaped as in :class:`~daskmix.GaussianMixture`.
    precisions_ : ndarray
    precisions_cholesky_ : ndarray
    converged_ : bool
    n_iter_ : int
        EM iterations of the best run. Minibatch fit: passes' worth of steps,
        ``ceil(n_steps_ * batch_size / n_samples)``; after ``partial_fit``:
        the number of updates.
    n_steps_ : int
        Stepwise updates (minibatch fit of the best run, or ``partial_fit``
        calls so far); 0 after a batch fit.
    lower_bound_ : float
        Mean log-likelihood of the training data at the last iteration of the
        best run: of the joint ``log p(x, y)`` with ``gating='gaussian'``, of
        ``log p(y | x)`` with ``gating='none'``. Minibatch fit and
        ``partial_fit``: the mean of the batches' mean log-likelihoods over
        the last 10 steps, each under the parameters that entered its step.
    lower_bounds_ : list of float
        The lower bound at each iteration (minibatch: each step).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X had string feature names.

    Notes
    -----
    Statistics are accumulated in float64 around a fixed centre of x and
    around the previous lines' residuals, so offsets in x or y cost no
    accuracy. Degenerate components are floored, never NaN: a line whose
    points do not determine it gets the minimum-norm update; a component that
    loses all its points keeps its line and gate mean, with a weight of about
    zero and the variance floor; noise variances are ``RSS/n_k + reg_covar``
    and never below ``1e-10 * var(y)``, so points lying exactly on a line give
    a large but finite likelihood.

    Mini-batch statistics are the batch kernel's, taken under the parameters
    of their step: residuals of that step's lines and the gate's shifted,
    whitened moments. After every M-step the running statistics are moved to
    the new parameters by an exact change of coordinates
    (:func:`daskmix.regression.params.reframe_stats`), so they stay residual-
    shifted about the current lines. The M-step sees them multiplied by the
    number of rows they stand for (n_samples, or the rows passed to
    ``partial_fit`` so far), so that ``reg_weights`` weighs against the same
    sums as in a batch fit. The minibatch defaults are GaussianMixture's
    (measured there). On a cluster-weighted model of 2,000,000 x 8 rows with
    six lines (``benchmarks/bench_minibatch.py``, two cores, 'gmm' starts) a
    minibatch fit ended 0.0013 nats below batch EM in 0.16 of its time; data
    sorted by component, 0.0013 short as numpy and 0.0048 short as a dask
    array of 50k-row chunks, whose batches (32 of 40 blocks, one component per
    block) are lumpy (0.006 to 0.020 with 16 blocks per batch); 40
    ``partial_fit`` calls on 50k-row blocks, 0.00004 short. Like
    GaussianMixture's, a minibatch fit does not end with a full pass:
    ``score_samples`` gives the exact log-likelihood when wanted.

    Examples
    --------
    >>> import numpy as np
    >>> from daskmix import RegressionMixture
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-1, 1, (500, 1))
    >>> y = np.abs(x[:, 0]) + 0.1 * rng.standard_normal(500)
    >>> model = RegressionMixture(n_components=2, random_state=0).fit(x, y)
    >>> np.sort(model.coef_.ravel()).round(1)
    array([-1.,  1.])
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "gating": [StrOptions(set(GATINGS))],
        "noise": [StrOptions(set(NOISE_MODELS))],
        "fit_intercept": ["boolean"],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "reg_weights": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_METHODS))],
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

    def __init__(
        self,
        n_components: int = 2,
        *,
        gating: str = "gaussian",
        noise: str = "component",
        fit_intercept: bool = True,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        reg_weights: float = 0.0,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "short-em",
        random_state=None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        algorithm: str = "batch",
        batch_size: int = 8192,
        learning_offset: float = 1.0,
        learning_decay: float = 0.75,
        max_no_improvement: int | None = 20,
    ):
        self.n_components = n_components
        self.gating = gating
        self.noise = noise
        self.fit_intercept = fit_intercept
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.reg_weights = reg_weights
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.algorithm = algorithm
        self.batch_size = batch_size
        self.learning_offset = learning_offset
        self.learning_decay = learning_decay
        self.max_no_improvement = max_no_improvement

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Estimate the parameters with EM, one pass over (X, y) per iteration.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
        y : array-like, dask array, Series or DataArray of shape (n_samples,) \
                or (n_samples, 1)
            Targets; a dask array when X is one.

        Returns
        -------
        self : RegressionMixture
        """
        _require_y(self, y)
        X, _ = check_X(self, X, reset=True, ensure_min_samples=2)
        if getattr(y, "ndim", 1) == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. Please "
                "change the shape of y to (n_samples,), for example using ravel().",
                DataConversionWarning,
                stacklevel=2,
            )
        y = check_y(y, X)
        n_samples, n_features = X.shape
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {n_samples}"
            )
        data = RowBlocks([X, y])
        config = self._config()
        tile_rows = self._tile_rows(n_features)
        if self.algorithm == "minibatch":
            return self._fit_minibatch(data, config, tile_rows)

        def em_pass(params: RegressionParams):
            plan = make_plan(params, config.fit_intercept, data.dtype)
            stats = data.map_reduce(em_kernel, plan, tile_rows)
            return check_pass(stats, data, names=("X", "y"))

        model = EMModel(
            initialize=lambda rs: self._initialize_one_blas(
                data, rs, config, tile_rows
            ),
            em_pass=em_pass,
            m_step=lambda stats, params: _client_m_step(stats, params, config),
        )
        warm = self._warm_params(data)
        result = fit_em(
            model,
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=check_random_state(self.random_state),
            verbose=self.verbose,
            verbose_interval=self.verbose_interval,
            warm_params=warm,
            warm_lower_bound=self.lower_bound_ if warm is not None else -np.inf,
        )
        self._set_params(result.params)
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        self.lower_bound_ = result.lower_bound
        self.lower_bounds_ = result.lower_bounds
        self.n_steps_ = 0
        self._stepwise_state = None
        return self

    # ------------------------------------------------------------ stepwise EM
    def _stepwise_model(
        self, config: RegressionConfig, tile_rows: int, initialize, n_rows: float
    ) -> StepwiseModel:
        """The regression mixture as a :class:`~daskmix._core.em.StepwiseModel`.

        Batch statistics are the batch kernel's (``em_kernel``) under the
        parameters of the step; the running statistics (per-row averages) are
        multiplied by ``n_rows`` before the M-step, which changes nothing but
        the weight of the ridge penalty, and moved to the new parameters after
        it (:func:`~daskmix.regression.params.reframe_stats`).
        """

        def e_step(rows: RowBlocks, params: RegressionParams) -> Stats:
            plan = make_plan(params, config.fit_intercept, rows.dtype)
            stats = rows.map_reduce(em_kernel, plan, tile_rows)
            return check_pass(stats, rows, names=("X", "y"))

        def next_params(stats: Stats, params: RegressionParams) -> RegressionParams:
            return _client_m_step(stats.scale(n_rows), params, config)

        def reframe(
            stats: Stats, old: RegressionParams, new: RegressionParams
        ) -> Stats:
            return reframe_stats(stats, old, new, config)

        return StepwiseModel(initialize, e_step, next_params, reframe)

    def _fit_minibatch(self, data: RowBlocks, config: RegressionConfig, tile_rows):
        """``fit`` with ``algorithm='minibatch'``: stepwise EM on random batches."""
        batch_size = clip_batch_size(self.batch_size, data.n_samples)

        def initialize(random_state) -> RegressionParams:
            sample = init_sample(data, batch_size, random_state)
            return self._initialize_one_blas(sample, random_state, config, tile_rows)

        result = fit_stepwise(
            self._stepwise_model(config, tile_rows, initialize, data.n_samples),
            data,
            batch_size=batch_size,
            schedule=schedule_of(self),
            n_init=self.n_init,
            max_iter=self.max_iter,
            random_state=check_random_state(self.random_state),
            final_pass=MINIBATCH_FINAL_PASS,
            verbose=self.verbose,
            verbose_interval=self.verbose_interval,
            warm_params=self._warm_params(data),
        )
        self._set_params(result.params)
        record_stepwise(
            self, result.state, result.lower_bound, result.n_iter, result.converged
        )
        self._stepwise_rows = float(data.n_samples)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One stepwise EM update on the rows of (X, y) (a mini-batch).

        The first call (on an unfitted estimator) initialises on (X, y) with
        ``init_params``, then updates. Later calls continue the running
        statistics and the step-size schedule (``learning_offset``,
        ``learning_decay``); after a ``fit``, they continue from the fitted
        parameters. ``n_features_in_`` is set by the first call and checked by
        the others. ``batch_size``, ``max_no_improvement``, ``max_iter`` and
        ``n_init`` are not used: X is the batch, and the caller decides when
        to stop. ``reg_weights`` weighs against the sums over all the rows
        passed so far.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_batch, n_features)
            One mini-batch. A dask array is reduced on dask's scheduler (one
            pass over its blocks).
        y : array-like, dask array, Series or DataArray of shape (n_batch,)
            Its targets; a dask array when X is one.

        Returns
        -------
        self : RegressionMixture
        """
        _require_y(self, y)
        fitted = hasattr(self, "coef_")
        X, _ = check_X(self, X, reset=not fitted)
        y = check_y(y, X)
        data = RowBlocks([X, y])
        config = self._config()
        tile_rows = self._tile_rows(X.shape[1])
        state = getattr(self, "_stepwise_state", None)
        rows_before = getattr(self, "_stepwise_rows", 0.0) if state is not None else 0.0
        if not fitted:
            check_first_batch(data.n_samples, self.n_components)
            params = self._initialize_one_blas(
                data, check_random_state(self.random_state), config, tile_rows
            )
            state = StepwiseState(params)
        elif state is None:
            # after a batch fit: no running statistics, a centre exact in dtype
            state = StepwiseState(
                replace(self._params(), x_center=_exact_center(self._x_center, data))
            )
        else:
            center = _exact_center(state.params.x_center, data)
            if not np.array_equal(center, state.params.x_center):
                # a block of a coarser dtype: its shift is the rounded centre
                moved = replace(state.params, x_center=center)
                state.stats = reframe_stats(state.stats, state.params, moved, config)
                state.params = moved
        model = self._stepwise_model(
            config, tile_rows, None, rows_before + data.n_samples
        )
        with one_blas_thread():
            stepwise_update(model, state, data, schedule_of(self), MIN_SMOOTHING)
        self._set_params(state.params)
        record_stepwise(self, state, state.smoothed, state.n_steps, converged=False)
        self._stepwise_rows = rows_before + data.n_samples
        return self

    def _config(self) -> RegressionConfig:
        return RegressionConfig(
            gating=self.gating,
            noise=self.noise,
            fit_intercept=bool(self.fit_intercept),
            covariance_type=self.covariance_type,
            reg_covar=float(self.reg_covar),
            reg_weights=float(self.reg_weights),
        )

    def _tile_rows(self, n_features: int) -> int:
        n_coef = n_coefficients(n_features, self.fit_intercept)
        width = max(
            self.n_components * max(n_features, 2),
            n_coef * (n_coef + 1) // 2 + 2 * self.n_components,
        )
        return default_tile_rows(width)

    def _warm_params(self, data: RowBlocks) -> RegressionParams | None:
        if not (self.warm_start and hasattr(self, "converged_")):
            return None
        params = self._params()
        if (params.gate is None) != (self.gating == "none"):
            return None  # gating changed since the last fit: start afresh
        # the frame centre must be exact in the dtype of the data
        center = params.x_center.astype(data.dtype).astype(np.float64)
        return replace(params, x_center=center)

    # ------------------------------------------------------- initialisation
    def _initialize_one_blas(self, data, *args) -> RegressionParams:
        # the initialisers' client-side work is many tiny matrices (see
        # _client_m_step); passes hold BLAS to one thread anyway
        with one_blas_thread():
            try:
                return self._initialize(data, *args)
            except ValueError as exc:
                # centre pickers see the joint (x, y) as their "X": say which
                if "NaN" in str(exc) or "infinity" in str(exc):
                    _raise_if_not_finite(data)
                raise

    def _initialize(
        self,
        data: RowBlocks,
        random_state: np.random.RandomState,
        config: RegressionConfig,
        tile_rows: int,
    ) -> RegressionParams:
        return initial_params(
            data,
            random_state,
            n_components=self.n_components,
            method=self.init_params,
            config=config,
            reg_covar=self.reg_covar,
            tile_rows=tile_rows,
        )

    # ------------------------------------------------------------ attributes
    def _params(self) -> RegressionParams:
        gate = None
        if self.gating == "gaussian" and hasattr(self, "means_"):
            gate = GaussianParams(
                self.covariance_type,
                self.weights_,
                self.means_,
                self.covariances_,
                self.precisions_cholesky_,
            )
        return RegressionParams(
            weights=self.weights_,
            coef=self.coef_,
            intercept=self.intercept_,
            noise_variance=self.noise_variance_,
            gate=gate,
            x_center=self._x_center,
            noise_floor=self._noise_floor,
        )

    def _set_params(self, params: RegressionParams) -> None:
        self.weights_ = params.weights
        self.coef_ = params.coef
        self.intercept_ = params.intercept
        self.noise_variance_ = params.noise_variance
        self._x_center = params.x_center
        self._noise_floor = params.noise_floor
        for name in ("means_", "covariances_", "precisions_cholesky_", "precisions_"):
            if hasattr(self, name):
                delattr(self, name)
        if params.gate is not None:
            self.means_ = params.gate.means
            self.covariances_ = params.gate.covariances
            self.precisions_cholesky_ = params.gate.precisions_cholesky
            self.precisions_ = precisions_from_cholesky(
                params.gate.precisions_cholesky, self.covariance_type
            )

    # ------------------------------------------------------- per-row outputs
    def _prepare(self, X, y=None, *, need_y: bool = False):
        """Validate X (and y) against the fit; the rows and a plan for them."""
        check_is_fitted(self)
        X, info = check_X(self, X, reset=False)
        if y is None and need_y:
            raise ValueError("y is required here: pass the targets y with X.")
        arrays = [X]
        if y is not None:
            arrays.append(check_y(y, X))
        data = RowBlocks(arrays)
        plan = make_plan(self._params(), bool(self.fit_intercept), data.dtype)
        return data, plan, info

    def _map_rows(self, data, plan, info, fn, n_columns, name):
        result = data.map_rows(
            fn, plan, self._tile_rows(data.n_features), n_columns, np.float64
        )
        return wrap_rows(result, info, name=name)

    def predict(self, X, return_std: bool = False):
        """Conditional mean of y given x, optionally with its standard deviation.

        With ``gating='gaussian'`` the gated mean ``sum_k p(k | x) (w_k . x + b_k)``;
        with ``gating='none'``, ``sum_k pi_k (w_k . x + b_k)``.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
        return_std : bool, default=False
            Also return the standard deviation of ``p(y | x)`` (the mixture's
            moment-matched spread: noise plus disagreement between lines).

        Returns
        -------
        y_mean : ndarray, dask array or DataArray of shape (n_samples,)
            Lazy for dask input.
        y_std : same type and shape, only with ``return_std=True``
        """
        data, plan, info = self._prepare(X)
        if not return_std:
            return self._map_rows(data, plan, info, predict_rows, None, "prediction")
        both = data.map_rows(
            predict_std_rows, plan, self._tile_rows(data.n_features), 2, np.float64
        )
        return (
            wrap_rows(both[:, 0], info, name="prediction"),
            wrap_rows(both[:, 1], info, name="prediction_std"),
        )

    def component_proba(self, X, y=None):
        """Component probabilities: the gate ``p(k | x)``, or ``p(k | x, y)`` with y.

        (Not named ``predict_proba``: scikit-learn reserves that name for
        classifiers and its tools tell a regressor by its absence.)

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
            With targets, the posterior of each line given the point.

        Returns
        -------
        proba : ndarray, dask array or DataArray of shape (n_samples, n_components)
            For ``gating='none'`` without y, every row is ``weights_``.
        """
        data, plan, info = self._prepare(X, y)
        fn = gate_proba_rows if y is None else posterior_rows
        return self._map_rows(data, plan, info, fn, self.n_components, "probability")

    def score_samples(self, X, y=None):
        """Log-likelihood of each sample: ``log p(y | x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Targets. Without them (``gating='gaussian'`` only) the result is
            the log-density of x under the gate, ``log p(x)``, as
            :meth:`daskmix.GaussianMixture.score_samples` would give.

        Returns
        -------
        log_prob : ndarray, dask array or DataArray of shape (n_samples,)
        """
        if y is None and self.gating == "none":
            check_is_fitted(self)
            raise ValueError(
                "score_samples needs y with gating='none': the model is a "
                "conditional density p(y | x) and does not model x."
            )
        data, plan, info = self._prepare(X, y)
        if y is None:
            return self._map_rows(data, plan, info, gate_score_rows, None, "log_px")
        return self._map_rows(
            data, plan, info, conditional_score_rows, None, "log_likelihood"
        )

    def score(self, X, y, sample_weight=None) -> float:
        """Coefficient of determination R^2 of ``predict(X)`` (computed for dask too).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        float
        """
        data, plan, _ = self._prepare(X, y, need_y=True)
        if not data.is_dask:
            return float(
                r2_score(
                    data.arrays[1],
                    RowBlocks(data.arrays[:1]).map_rows(
                        predict_rows,
                        plan,
                        self._tile_rows(data.n_features),
                        None,
                    ),
                    sample_weight=sample_weight,
                )
            )
        X_, y_ = data.arrays
        if sample_weight is None:
            weight = da.ones_like(y_)
        else:
            weight = da.asarray(sample_weight).astype(np.float64)
            weight = weight.reshape(-1).rechunk((X_.chunks[0],))
        plan.y_center = float(
            self.weights_ @ (self.intercept_ + self.coef_ @ self._x_center)
        )
        stats = RowBlocks([X_, y_, weight]).map_reduce(
            r2_kernel, plan, self._tile_rows(data.n_features)
        )
        total = stats["s2"] - stats["s1"] ** 2 / stats["weight"]
        if total == 0.0:
            return 1.0 if stats["sse"] == 0.0 else 0.0
        return float(1.0 - stats["sse"] / total)

    def _total_loglik(self, X, y) -> tuple[float, int]:
        data, plan, _ = self._prepare(X, y, need_y=True)
        stats = check_pass(
            data.map_reduce(loglik_kernel, plan, self._tile_rows(data.n_features)),
            data,
            names=("X", "y"),
        )
        return float(stats["loglik"]), int(stats["n_rows"])

    def _n_parameters(self) -> int:
        return n_parameters(
            self.gating,
            self.noise,
            self.covariance_type,
            self.n_components,
            self.n_features_in_,
            bool(self.fit_intercept),
        )

    def bic(self, X, y) -> float:
        """Bayesian information criterion on (X, y) (lower is better).

        Uses the log-likelihood of the model actually fitted: the joint
        ``log p(x, y)`` with ``gating='gaussian'`` (gate parameters counted),
        ``log p(y | x)`` with ``gating='none'``.
        """
        loglik, n_samples = self._total_loglik(X, y)
        return -2.0 * loglik + self._n_parameters() * math.log(n_samples)

    def aic(self, X, y) -> float:
        """Akaike information criterion on (X, y) (lower is better); see :meth:`bic`."""
        loglik, _ = self._total_loglik(X, y)
        return -2.0 * loglik + 2.0 * self._n_parameters()

    @available_if(_has_input_model)
    def sample(self, n_samples: int = 1):
        """Draw (x, y) pairs from the fitted joint model (``gating='gaussian'``).

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Grouped by component.
        y : ndarray of shape (n_samples,)
        """
        from ..gaussian.mixture import GaussianMixture

        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling "
                "requires at least one sample."
            )
        rng = check_random_state(self.random_state)
        gate = GaussianMixture(
            self.n_components,
            covariance_type=self.covariance_type,
            random_state=rng.randint(np.iinfo(np.int32).max),
        )
        gate.weights_, gate.means_ = self.weights_, self.means_
        gate.covariances_ = self.covariances_
        gate.precisions_cholesky_ = self.precisions_cholesky_
        X, labels = gate.sample(n_samples)
        noise = np.sqrt(self.noise_variance_[labels]) * rng.standard_normal(n_samples)
        y = np.einsum("nd,nd->n", X, self.coef_[labels]) + self.intercept_[labels]
        return X, y + noise

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _require_y(estimator, y) -> None:
    """scikit-learn's error for a regressor fitted without targets."""
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y "
            "is None."
        )


def _client_m_step(stats, params, config, refit_lines: bool = True):
    """The M-step on tiny matrices, with BLAS on one thread.

    Waking a multi-threaded BLAS pool for 10 x 10 solves right after a pass
    (which held it to one thread) costs milliseconds per call on a busy
    machine, more than the whole M-step.
    """
    with one_blas_thread():
        return m_step(stats, params, config, refit_lines=refit_lines)


def _exact_center(center: np.ndarray, data: RowBlocks) -> np.ndarray:
    """``center`` rounded to the data dtype (the shift the kernels apply), float64."""
    return np.asarray(center, dtype=data.dtype).astype(np.float64)


def _raise_if_not_finite(data: RowBlocks) -> None:
    for name, array in zip(("X", "y"), data.arrays):
        if not RowBlocks(
            [array.reshape(-1, 1) if array.ndim == 1 else array]
        ).all_finite():
            raise ValueError(f"Input {name} contains NaN or infinity.")
