"""BayesianGaussianMixture: scikit-learn's variational estimator, on dask."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.utils import check_random_state
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
from .._core.validation import check_X
from .bayesian import (
    PRIOR_TYPES,
    BayesianParams,
    Priors,
    global_terms,
    lower_bound,
    posterior,
    stats_frame,
    variational_kernel,
    variational_m_step,
    variational_plan,
)
from .bayesian_starts import check_resp, data_priors, start_moments
from .kernels import label_rows, proba_rows, score_rows
from .params import (
    COVARIANCE_TYPES,
    GaussianParams,
    precisions_from_cholesky,
    reframe_stats,
)

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")


class BayesianGaussianMixture(DensityMixin, BaseEstimator):
    """Variational Bayesian Gaussian mixture, on numpy, dask, pandas or xarray.

    A drop-in replacement for :class:`sklearn.mixture.BayesianGaussianMixture`:
    the same parameters, defaults, fitted attributes, methods and lower bound.
    Each iteration is one pass over the data: the variational E-step is the
    Gaussian mixture's kernel with the variational expectations folded into
    its per-component constants, and only small statistics leave each block.

    Parameters
    ----------
    n_components : int, default=1
        Upper bound on the number of components; the posterior may leave some
        with weights close to zero.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance parameterisation.
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound (of all the
        rows, not a mean, as in scikit-learn).
    reg_covar : float, default=1e-6
        Added to the diagonal of the responsibilities' covariances.
    max_iter : int, default=100
        Iterations (passes over the data) at most.
    n_init : int, default=1
        Initialisations; the one with the best lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'} or \
            array-like of shape (n_samples, n_components), default='kmeans'
        How the initial responsibilities are formed (see
        :class:`daskmix.GaussianMixture` for what each method costs), or the
        initial responsibilities themselves (rows of non-negative numbers,
        usually summing to one; a dask array for dask input). Given
        responsibilities start every ``n_init`` run from the same point.
    weight_concentration_prior_type : {'dirichlet_process', \
            'dirichlet_distribution'}, default='dirichlet_process'
        Stick-breaking (truncated Dirichlet process) or Dirichlet weights.
    weight_concentration_prior : float or None, default=None
        Concentration of the weights' prior (``gamma``); None: ``1 / n_components``.
    mean_precision_prior : float or None, default=None
        Precision of the means' prior (``beta_0``); None: 1.
    mean_prior : array-like of shape (n_features,), default=None
        Mean of the means' prior; None: the mean of X.
    degrees_of_freedom_prior : float or None, default=None
        Wishart degrees of freedom (``nu_0 > n_features - 1``); None: n_features.
    covariance_prior : float or array-like, default=None
        Wishart prior on the covariances: (D, D) full and tied, (D,) diag,
        float spherical. None: the covariance (diag: variances, spherical:
        mean variance) of X.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the mini-batch draws and ``sample``.
    warm_start : bool, default=False
        Continue from the fitted posterior on the next ``fit``.
    verbose : int, default=0
        1 prints each initialisation and iteration, 2 also the change of the
        lower bound and timings.
    verbose_interval : int, default=10
        Iterations between messages.
    algorithm : {'batch', 'minibatch'}, default='batch'
        'batch': variational EM, one pass per iteration (scikit-learn's
        algorithm). 'minibatch': stochastic variational inference (Hoffman et
        al. 2013) by stepwise updates of the statistics on random mini-batches
        (see :class:`daskmix.GaussianMixture`): the posterior after each step
        is the prior plus ``n_samples`` times the running per-row statistics.
        The priors take one pass over X (when not given); the initialisation
        runs on a sample. ``lower_bound_`` is then a smoothed estimate of the
        lower bound from the mini-batches.
    batch_size : int, default=8192
        Rows per step of ``algorithm='minibatch'``.
    learning_offset : float, default=1.0
        ``t0 >= 0`` in the step size ``(t + t0) ** -learning_decay``.
    learning_decay : float, default=0.75
        ``kappa`` in (0.5, 1] in the step size.
    max_no_improvement : int or None, default=20
        Stop a minibatch fit after this many steps without progress of the
        smoothed lower bound by more than ``tol``; None runs ``max_iter``
        passes' worth of steps.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Posterior-mean mixture weights.
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        (K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical; the Wishart
        scale's inverse divided by the degrees of freedom.
    precisions_ : ndarray
        Inverses of ``covariances_``, same shapes.
    precisions_cholesky_ : ndarray
        Upper-triangular Cholesky factors of ``precisions_``.
    converged_ : bool
    n_iter_ : int
        Iterations of the best run (minibatch: passes' worth of steps;
        after ``partial_fit``: the number of updates).
    n_steps_ : int
        Stepwise updates (0 after a batch fit).
    lower_bound_ : float
        Lower bound of the best run's last iteration.
    lower_bounds_ : list of float
        The lower bound at each iteration (minibatch: each step) of the best
        run.
    weight_concentration_prior_ : float
    weight_concentration_ : ndarray of shape (n_components,) or tuple
        Dirichlet parameters, or the two stick-breaking Beta parameter arrays.
    mean_precision_prior_ : float
    mean_precision_ : ndarray of shape (n_components,)
    mean_prior_ : ndarray of shape (n_features,)
    degrees_of_freedom_prior_ : float
    degrees_of_freedom_ : ndarray of shape (n_components,), or float for tied
    covariance_prior_ : float or ndarray
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X had string feature names (pandas, xarray).

    Notes
    -----
    The E-step statistics are the Gaussian mixture's shifted, float64 ones
    plus the sum of ``r log r`` the lower bound needs; responsibilities never
    leave a block. ``partial_fit`` computes the data priors from its first
    batch and scales the running statistics by the number of rows seen so far.

    float32 input is computed in float32 inside the blocks (statistics in
    float64), as :class:`daskmix.GaussianMixture` does. The lower bound is a
    sum over all the rows, not a mean, so its float32 rounding can exceed the
    default ``tol`` and a float32 fit may run a few more iterations than a
    float64 one (scikit-learn computes in float64 whatever the input dtype).
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_METHODS)), "array-like"],
        "weight_concentration_prior_type": [StrOptions(set(PRIOR_TYPES))],
        "weight_concentration_prior": [
            None,
            Interval(Real, 0.0, None, closed="neither"),
        ],
        "mean_precision_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_prior": [None, "array-like"],
        "degrees_of_freedom_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "covariance_prior": [
            None,
            "array-like",
            Interval(Real, 0.0, None, closed="neither"),
        ],
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
        *,
        n_components: int = 1,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params="kmeans",
        weight_concentration_prior_type: str = "dirichlet_process",
        weight_concentration_prior: float | None = None,
        mean_precision_prior: float | None = None,
        mean_prior=None,
        degrees_of_freedom_prior: float | None = None,
        covariance_prior=None,
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
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
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
        """Fit the variational posterior, one pass over X per iteration.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : BayesianGaussianMixture
            The fitted estimator.
        """
        X, _ = check_X(self, X, reset=True, ensure_min_samples=2)
        n_samples, n_features = X.shape
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {n_samples}"
            )
        data = RowBlocks([X])
        priors = self._check_parameters(data)
        tile_rows = self._tile_rows(n_features)
        if self.algorithm == "minibatch":
            return self._fit_minibatch(data, priors, tile_rows)
        reg_covar, dtype = self.reg_covar, data.dtype

        def em_pass(params: BayesianParams) -> Stats:
            plan = variational_plan(params, dtype)
            return check_pass(
                data.map_reduce(variational_kernel, plan, tile_rows), data
            )

        def next_params(stats: Stats, params: BayesianParams) -> BayesianParams:
            return variational_m_step(
                stats, stats_frame(params, dtype), priors, reg_covar
            )

        model = EMModel(
            initialize=lambda rs: self._initial(data, rs, priors, tile_rows),
            em_pass=em_pass,
            m_step=next_params,
            lower_bound=lambda stats, _, params: lower_bound(
                stats["resp_log_resp"], params
            ),
        )
        warm = self.warm_start and hasattr(self, "converged_")
        result = fit_em(
            model,
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=check_random_state(self.random_state),
            verbose=self.verbose,
            verbose_interval=self.verbose_interval,
            warm_params=self._params() if warm else None,
            warm_lower_bound=self.lower_bound_ if warm else -np.inf,
        )
        self._set_params(result.params)
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        self.lower_bound_ = result.lower_bound
        self.lower_bounds_ = result.lower_bounds
        self.n_steps_ = 0
        self._stepwise_state = None
        self._n_seen = n_samples
        return self

    def fit_predict(self, X, y=None):
        """Fit, then return the most probable component of each sample.

        Equivalent to ``fit(X).predict(X)`` (one more pass over X).

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        labels : ndarray, dask array or DataArray of shape (n_samples,)
            Component labels.
        """
        return self.fit(X, y).predict(X)

    # ------------------------------------------------------- stochastic VI
    def _stepwise_model(
        self, priors: Priors, dtype, tile_rows: int, n_rows, initialize
    ) -> StepwiseModel:
        """SVI as a :class:`~daskmix._core.stepwise.StepwiseModel`.

        ``n_rows()`` is the number of rows the running per-row statistics
        stand for. A batch's reported bound is ``n_rows`` times its mean
        ``-r log r`` plus the parameter terms of the lower bound under the
        step's parameters: an estimate of the full-data lower bound.
        """
        reg_covar = self.reg_covar

        def e_step(rows: RowBlocks, params: BayesianParams) -> Stats:
            plan = variational_plan(params, rows.dtype)
            stats = check_pass(
                rows.map_reduce(variational_kernel, plan, tile_rows), rows
            )
            # loglik / n_rows (what the driver smooths) = the bound's estimate
            stats["loglik"] = -n_rows() * stats["resp_log_resp"] + stats[
                "n_rows"
            ] * global_terms(params, params.gaussian.n_features)
            return stats

        def next_params(stats: Stats, params: BayesianParams) -> BayesianParams:
            return variational_m_step(
                stats, stats_frame(params, dtype), priors, reg_covar, scale=n_rows()
            )

        def reframe(stats: Stats, old: BayesianParams, new: BayesianParams) -> Stats:
            return reframe_stats(
                stats,
                self.covariance_type,
                stats_frame(old, dtype),
                stats_frame(new, dtype),
            )

        return StepwiseModel(initialize, e_step, next_params, reframe)

    def _fit_minibatch(self, data: RowBlocks, priors: Priors, tile_rows: int):
        batch_size = clip_batch_size(self.batch_size, data.n_samples)
        n_samples = data.n_samples

        def initialize(random_state) -> BayesianParams:
            sample = data
            if isinstance(self.init_params, str):
                sample = init_sample(data, batch_size, random_state)
            return self._initial(
                sample, random_state, priors, tile_rows, n_total=n_samples
            )

        warm = self.warm_start and hasattr(self, "converged_")
        result = fit_stepwise(
            self._stepwise_model(
                priors, data.dtype, tile_rows, lambda: n_samples, initialize
            ),
            data,
            batch_size=batch_size,
            schedule=schedule_of(self),
            n_init=self.n_init,
            max_iter=self.max_iter,
            random_state=check_random_state(self.random_state),
            verbose=self.verbose,
            verbose_interval=self.verbose_interval,
            warm_params=self._params() if warm else None,
        )
        self._set_params(result.params)
        record_stepwise(
            self, result.state, result.lower_bound, result.n_iter, result.converged
        )
        self._stepwise_dtype = data.dtype
        self._n_seen = n_samples
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One stochastic variational update on the rows of X (a mini-batch).

        The first call on an unfitted estimator computes the data priors from
        X and initialises on it, then updates. Later calls continue the
        running statistics, which stand for all the rows seen so far. After a
        ``fit``, the first call starts the running statistics from X under the
        fitted posterior (as :meth:`daskmix.GaussianMixture.partial_fit`
        does); they then stand for the fit's rows plus X.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_batch, n_features)
            One mini-batch.
        y : None
            Ignored.

        Returns
        -------
        self : BayesianGaussianMixture
            The updated estimator.
        """
        fitted = hasattr(self, "means_")
        X, _ = check_X(self, X, reset=not fitted)
        data = RowBlocks([X])
        tile_rows = self._tile_rows(X.shape[1])
        state = getattr(self, "_stepwise_state", None)
        if not fitted:
            check_first_batch(data.n_samples, self.n_components)
            priors = self._check_parameters(data)
            params = self._initial(
                data, check_random_state(self.random_state), priors, tile_rows
            )
            state = StepwiseState(params)
            self._n_seen = 0
        else:
            priors = self._priors()
            if state is None:
                state = StepwiseState(self._params())
            dtype = getattr(self, "_stepwise_dtype", data.dtype)
            if state.stats is not None and dtype != data.dtype:
                state.stats = reframe_stats(
                    state.stats,
                    self.covariance_type,
                    stats_frame(state.params, dtype),
                    stats_frame(state.params, data.dtype),
                )
        self._n_seen = getattr(self, "_n_seen", 0) + data.n_samples
        n_seen = self._n_seen
        model = self._stepwise_model(
            priors, data.dtype, tile_rows, lambda: n_seen, initialize=None
        )
        with one_blas_thread():
            stepwise_update(model, state, data, schedule_of(self), MIN_SMOOTHING)
        self._set_params(state.params)
        record_stepwise(self, state, state.smoothed, state.n_steps, converged=False)
        self._stepwise_dtype = data.dtype
        return self

    # ------------------------------------------------------- priors, start
    def _check_parameters(self, X) -> Priors:
        """Validate the priors, fill in the data-dependent ones, set ``*_prior_``.

        The mean and covariance of X, when needed, take one pass.
        """
        data = X if isinstance(X, RowBlocks) else RowBlocks([np.asarray(X)])
        priors = data_priors(
            data,
            covariance_type=self.covariance_type,
            n_components=self.n_components,
            weight_concentration_prior_type=self.weight_concentration_prior_type,
            weight_concentration_prior=self.weight_concentration_prior,
            mean_precision_prior=self.mean_precision_prior,
            mean_prior=self.mean_prior,
            degrees_of_freedom_prior=self.degrees_of_freedom_prior,
            covariance_prior=self.covariance_prior,
        )
        self.weight_concentration_prior_ = priors.weight_concentration
        self.mean_precision_prior_ = priors.mean_precision
        self.mean_prior_ = priors.mean
        self.degrees_of_freedom_prior_ = priors.degrees_of_freedom
        self.covariance_prior_ = priors.covariance
        return priors

    def _priors(self) -> Priors:
        return Priors(
            self.weight_concentration_prior_type,
            self.weight_concentration_prior_,
            self.mean_precision_prior_,
            np.asarray(self.mean_prior_, dtype=np.float64),
            self.degrees_of_freedom_prior_,
            np.asarray(self.covariance_prior_, dtype=np.float64)
            if self.covariance_type != "spherical"
            else float(self.covariance_prior_),
            self.covariance_type,
        )

    def _initial(
        self,
        data: RowBlocks,
        random_state,
        priors: Priors,
        tile_rows: int,
        n_total: int | None = None,
    ) -> BayesianParams:
        """The posterior after the first M-step from the initial responsibilities.

        ``n_total``: rows the start stands for when ``data`` is a sample of
        them (minibatch); the counts are scaled up to it.
        """
        K = self.n_components
        resp = None
        method = self.init_params
        if not isinstance(method, str):
            resp, method = check_resp(method, data, K), "resp"
        nk, xk, sk, n_rows = start_moments(
            data,
            random_state,
            method=method,
            n_components=K,
            covariance_type=self.covariance_type,
            reg_covar=self.reg_covar,
            tile_rows=tile_rows,
            resp=resp,
        )
        if n_total is not None and method in ("kmeans", "random"):
            # counts of a sample stand for all the rows
            nk = nk * (n_total / n_rows)
        elif method == "kmeans":
            nk = nk * (data.n_samples / n_rows)
        return posterior(nk, xk, sk, priors)

    def _initialize_parameters(self, X, random_state) -> None:
        """Set the parameters of the first M-step (scikit-learn's hook).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        random_state : RandomState
        """
        data = RowBlocks([np.asarray(X)])
        params = self._initial(
            data, random_state, self._priors(), self._tile_rows(data.n_features)
        )
        self._set_params(params)

    # ------------------------------------------------------------ attributes
    def _params(self) -> BayesianParams:
        gaussian = GaussianParams(
            self.covariance_type,
            self.weights_,
            self.means_,
            self.covariances_,
            self.precisions_cholesky_,
        )
        return BayesianParams(
            gaussian,
            self.weight_concentration_,
            self.mean_precision_,
            self.degrees_of_freedom_,
        )

    def _set_params(self, params: BayesianParams) -> None:
        gaussian = params.gaussian
        self.weight_concentration_ = params.weight_concentration
        self.mean_precision_ = params.mean_precision
        self.degrees_of_freedom_ = params.degrees_of_freedom
        self.weights_ = gaussian.weights
        self.means_ = gaussian.means
        self.covariances_ = gaussian.covariances
        self.precisions_cholesky_ = gaussian.precisions_cholesky
        self.precisions_ = precisions_from_cholesky(
            gaussian.precisions_cholesky, self.covariance_type
        )

    def _tile_rows(self, n_features: int) -> int:
        return default_tile_rows(self.n_components * max(n_features, 2))

    # ------------------------------------------------------- per-row outputs
    def _map_rows(self, X, fn, n_columns, dtype=np.float64, name=None):
        check_is_fitted(self)
        X, info = check_X(self, X, reset=False)
        data = RowBlocks([X])
        plan = variational_plan(self._params(), data.dtype)
        result = data.map_rows(fn, plan, self._tile_rows(X.shape[1]), n_columns, dtype)
        return wrap_rows(result, info, name=name)

    def predict(self, X):
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Samples.

        Returns
        -------
        labels : ndarray, dask array or DataArray of shape (n_samples,)
            Lazy for dask input; along the sample dimension for xarray input.
        """
        return self._map_rows(X, label_rows, None, np.int64, name="label")

    def predict_proba(self, X):
        """Variational posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Samples.

        Returns
        -------
        resp : ndarray, dask array or DataArray of shape (n_samples, n_components)
            For xarray input, dims (sample dim, ``component``).
        """
        return self._map_rows(X, proba_rows, self.n_components, name="probability")

    def score_samples(self, X):
        """Log of the normaliser of the variational E-step, per sample.

        scikit-learn's ``score_samples``: ``log sum_k exp(E[log pi_k] +
        E[log N(x | mu_k, Lambda_k)])``.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Samples.

        Returns
        -------
        log_prob : ndarray, dask array or DataArray of shape (n_samples,)
            One value per sample.
        """
        return self._map_rows(X, score_rows, None, name="log_likelihood")

    def score(self, X, y=None) -> float:
        """Mean of :meth:`score_samples` over X (computed, also for dask).

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Samples.
        y : None
            Ignored.

        Returns
        -------
        float
            The mean per-sample score.
        """
        check_is_fitted(self)
        X, _ = check_X(self, X, reset=False)
        data = RowBlocks([X])
        plan = variational_plan(self._params(), data.dtype)
        stats = check_pass(
            data.map_reduce(_score_kernel, plan, self._tile_rows(X.shape[1])), data
        )
        return float(stats["loglik"] / stats["n_rows"])

    def sample(self, n_samples: int = 1):
        """Draw samples from the mixture with the fitted (posterior-mean) weights.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The samples.
        y : ndarray of shape (n_samples,)
            Component of each sample, sorted.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling "
                "requires at least one sample."
            )
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        n_features = self.means_.shape[1]
        cov_type = self.covariance_type
        pieces = []
        for k, (mean, count) in enumerate(zip(self.means_, counts)):
            if cov_type in ("full", "tied"):
                cov = self.covariances_[k] if cov_type == "full" else self.covariances_
                pieces.append(rng.multivariate_normal(mean, cov, int(count)))
            else:
                scale = np.sqrt(self.covariances_[k])
                pieces.append(mean + rng.standard_normal((count, n_features)) * scale)
        labels = np.repeat(np.arange(self.n_components), counts)
        return np.vstack(pieces), labels

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _score_kernel(x, plan) -> Stats:
    log_prob = score_rows(x, plan)
    return Stats(loglik=log_prob.sum(dtype=np.float64), n_rows=np.float64(x.shape[0]))
