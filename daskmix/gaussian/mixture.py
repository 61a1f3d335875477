"""GaussianMixture: scikit-learn's estimator, one pass per EM iteration on dask."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._core.atomic import fit_all_or_nothing
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
from .init_checks import check_means, check_precisions, check_weights
from .kernels import (
    em_kernel,
    label_rows,
    make_plan,
    proba_rows,
    score_rows,
)
from .params import (
    COVARIANCE_TYPES,
    GaussianParams,
    StatsFrame,
    m_step,
    n_parameters,
    precisions_from_cholesky,
    reframe_stats,
)
from .starts import initial_params

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data", "gmm")
#: whether a minibatch fit ends with a full pass to report an exact lower bound
MINIBATCH_FINAL_PASS = False


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by EM, on numpy, dask, pandas or xarray input.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the
    same parameters, defaults, fitted attributes, methods and semantics. Each
    EM iteration is one pass over the data: a fused E-step-and-statistics
    kernel runs on every row block and the statistics are tree-reduced, so
    responsibilities exist only inside one block. numpy input runs on all
    cores (threads over row blocks); dask input runs on whatever scheduler
    dask would use (threads, or the active ``distributed.Client``), streaming
    lazily read data block by block every iteration.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance parameterisation.
    tol : float, default=1e-3
        Convergence threshold: EM stops when the lower bound (mean
        log-likelihood) changes by less than this.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance, keeping it positive definite.
    max_iter : int, default=100
        Number of EM iterations (passes over the data) at most.
    n_init : int, default=1
        Number of initialisations; the run with the best lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', \
            'gmm'}, default='kmeans'
        How the starting parameters are chosen, and what each costs in passes
        over the data (details in :mod:`daskmix.cluster.seeding`):

        - 'kmeans': responsibilities from k-means labels. numpy input:
          scikit-learn's KMeans (as scikit-learn does); dask input:
          :class:`daskmix.KMeans` with k-means|| seeding (3 passes) and
          one pass per Lloyd iteration. Then one labelling pass.
        - 'k-means++': means from greedy k-means++ (numpy: scikit-learn's;
          dask: one pass per component), ``reg_covar`` covariances.
        - 'random': random responsibilities, one pass.
        - 'random_from_data': means at random rows, reads ``n_components``
          rows, ``reg_covar`` covariances.
        - 'gmm': the best of 3 mixtures fitted in memory on a uniform sample
          of at most 20,000 rows; reads the sample (about one pass for dask
          input) and no further pass. Restarts stay cheap, the long run
          happens once on all the data.
    weights_init : array-like of shape (n_components,), default=None
    means_init : array-like of shape (n_components, n_features), default=None
    precisions_init : array-like, default=None
        User-provided initial weights, means and precisions (inverse
        covariances; shape as ``precisions_``).
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Continue from the fitted parameters on the next ``fit``.
    verbose : int, default=0
    verbose_interval : int, default=10
    algorithm : {'batch', 'minibatch'}, default='batch'
        'batch': EM, one pass over X per iteration (scikit-learn's algorithm).
        'minibatch': stepwise EM (Cappé & Moulines 2009). Each step reads
        ``batch_size`` random rows of randomly chosen blocks (never whole
        consecutive blocks, so sorted data give unbiased steps), updates
        running statistics ``s <- (1 - eta_t) s + eta_t s_B`` with
        ``eta_t = (t + learning_offset) ** -learning_decay`` and re-derives
        the parameters. ``init_params`` runs on a sample of three batches'
        worth of rows (at least 1000), not on X; the running statistics start
        from three more batches under the initial parameters. ``max_iter``
        then counts passes' worth of steps (as in scikit-learn's
        ``MiniBatchKMeans``) and ``tol`` is the rise of the smoothed lower
        bound that counts as progress. Results depend on ``random_state`` and
        the chunking only, not on the scheduler.
    batch_size : int, default=8192
        Rows per step of ``algorithm='minibatch'``. Larger than n_samples:
        clipped to n_samples with a UserWarning (steps then draw n_samples
        rows with replacement).
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
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        (K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical.
    precisions_ : ndarray
        Inverses of ``covariances_``, same shapes.
    precisions_cholesky_ : ndarray
        Upper-triangular Cholesky factors of ``precisions_``.
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
        best run (under the parameters that entered that iteration). Minibatch
        fit and ``partial_fit``: the mean of the batches' mean log-likelihoods
        over the last 10 steps (see Notes); ``score(X)`` gives the exact value.
    lower_bounds_ : list of float
        The lower bound at each iteration (minibatch: each step) of the best
        run.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X had string feature names (pandas, xarray).

    Notes
    -----
    Statistics are accumulated around the previous means in float64, so
    data with a large offset (1e7 + N(0, 1)) lose no accuracy. A component
    that loses all its points keeps its mean, gets ``reg_covar`` variances and
    a weight of about zero; it never produces NaN.

    Mini-batch statistics are the batch kernel's, taken in the frame of the
    parameters of their step (shifted by the previous means and whitened by
    the previous precision factors). The running statistics are moved into
    the frame of the new parameters after every step by an exact change of
    coordinates, so they stay centred on the current means, as the batch
    statistics are (:func:`daskmix.gaussian.params.reframe_stats`).

    The minibatch defaults were measured on 2,000,000 x 8 rows from six
    full-covariance Gaussians (``benchmarks/bench_minibatch.py``, two cores;
    the gap is the batch-EM mean log-likelihood minus the minibatch one, worst
    of three seeds). From a k-means start, ``batch_size`` 1024 / 4096 / 16384
    gave gaps of 0.017 / 0.004 / 0.0004 nats at ``learning_decay=0.75``, in
    under 15% of the batch fit's time; from a poor start (means at random
    rows) 4096 reached 0.0006 while 16384 stayed 0.35 to 1.2 nats short (less
    noise, like batch EM, gets stuck): hence 8192. ``learning_decay`` 0.9 was
    about 20% closer than 0.75 from a k-means start but 0.05 to 0.13 nats
    short from a poor one (early statistics are forgotten too slowly); 0.6 was
    40% further than 0.75. ``max_no_improvement=20`` halves the gap of 10 for
    about 30% more time. Data sorted by component, as a dask array of 50k-row
    chunks (each batch reads 32 of 40 blocks), end 0.006 to 0.007 nats short
    at these settings (seeds 0, 1, 2; with 16 blocks per batch 0.008 to 0.020).

    A minibatch fit does not end with a full pass. In the benchmark at the
    defaults the smoothed lower bound it reports was within 0.0025 nats of the
    exact mean log-likelihood (shuffled data and sorted numpy data), but up to
    0.08 nats off on sorted dask data, whose batches (one component per
    block) are lumpy. Ending every fit with one batch EM
    iteration (exact lower bound, then an M-step on the full statistics;
    ``fit_stepwise(final_pass=True)``) closed the gap to batch EM completely
    in all six cases measured, but took the fit from 0.17-0.48 to 0.46-0.67
    of the batch fit's wall time on shuffled data, past the half that makes
    minibatch worth choosing, and its cost grows with n_samples while the
    stepwise fit's does not. ``score(X)`` gives the exact figure when wanted.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_METHODS))],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
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
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
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
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
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
    @fit_all_or_nothing
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Estimate the parameters with EM, one pass over X per iteration.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
        y : ignored

        Returns
        -------
        self : GaussianMixture
        """
        X, _ = check_X(self, X, reset=True, ensure_min_samples=2)
        n_samples, n_features = X.shape
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {n_samples}"
            )
        user_init = self._check_user_init(n_features)
        data = RowBlocks([X])
        tile_rows = self._tile_rows(n_features)
        reg_covar = self.reg_covar
        cov_type = self.covariance_type
        if self.algorithm == "minibatch":
            return self._fit_minibatch(data, user_init, tile_rows)

        def em_pass(params: GaussianParams) -> Stats:
            plan = make_plan(params, data.dtype)
            stats = data.map_reduce(em_kernel, plan, tile_rows)
            stats["center"] = plan.center.astype(np.float64)
            return check_pass(stats, data)

        def next_params(stats: Stats, params: GaussianParams) -> GaussianParams:
            return m_step(
                stats,
                params.means,
                params.precisions_cholesky,
                stats["center"],
                cov_type,
                reg_covar,
            )

        model = EMModel(
            initialize=lambda rs: self._initialize(data, rs, user_init, tile_rows),
            em_pass=em_pass,
            m_step=next_params,
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
        return self

    # ------------------------------------------------------------ stepwise EM
    def _stats_frame(self, params: GaussianParams, dtype) -> StatsFrame:
        """The frame the kernels take statistics in under ``params``."""
        whiten = (
            params.precisions_cholesky
            if self.covariance_type in ("full", "tied")
            else None
        )
        center = make_plan(params, dtype).center.astype(np.float64)
        return StatsFrame(params.means, whiten, center)

    def _stepwise_model(self, dtype, tile_rows: int, initialize) -> StepwiseModel:
        """The Gaussian mixture as a :class:`~daskmix._core.em.StepwiseModel`.

        Batch statistics are the batch kernel's (``em_kernel``), taken in the
        frame of the parameters of the step; the running statistics are moved
        into the frame of the new parameters after every M-step
        (:func:`~daskmix.gaussian.params.reframe_stats`).
        """
        cov_type, reg_covar = self.covariance_type, self.reg_covar

        def e_step(rows: RowBlocks, params: GaussianParams) -> Stats:
            plan = make_plan(params, rows.dtype)
            return check_pass(rows.map_reduce(em_kernel, plan, tile_rows), rows)

        def next_params(stats: Stats, params: GaussianParams) -> GaussianParams:
            frame = self._stats_frame(params, dtype)
            return m_step(
                stats,
                frame.means,
                params.precisions_cholesky,
                frame.center,
                cov_type,
                reg_covar,
            )

        def reframe(stats: Stats, old: GaussianParams, new: GaussianParams) -> Stats:
            return reframe_stats(
                stats,
                cov_type,
                self._stats_frame(old, dtype),
                self._stats_frame(new, dtype),
            )

        return StepwiseModel(initialize, e_step, next_params, reframe)

    def _fit_minibatch(self, data: RowBlocks, user_init: dict, tile_rows: int):
        """``fit`` with ``algorithm='minibatch'``: stepwise EM on random batches."""
        batch_size = clip_batch_size(self.batch_size, data.n_samples)

        def initialize(random_state) -> GaussianParams:
            sample = init_sample(data, batch_size, random_state)
            return self._initialize(sample, random_state, user_init, tile_rows)

        warm = self.warm_start and hasattr(self, "converged_")
        result = fit_stepwise(
            self._stepwise_model(data.dtype, tile_rows, initialize),
            data,
            batch_size=batch_size,
            schedule=schedule_of(self),
            n_init=self.n_init,
            max_iter=self.max_iter,
            random_state=check_random_state(self.random_state),
            final_pass=MINIBATCH_FINAL_PASS,
            verbose=self.verbose,
            verbose_interval=self.verbose_interval,
            warm_params=self._params() if warm else None,
        )
        self._set_params(result.params)
        record_stepwise(
            self, result.state, result.lower_bound, result.n_iter, result.converged
        )
        self._stepwise_dtype = data.dtype
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One stepwise EM update on the rows of X (a mini-batch).

        The first call (on an unfitted estimator) initialises on X with
        ``init_params`` (and the ``*_init`` arrays), then updates. Later calls
        continue the running statistics and the step-size schedule
        (``learning_offset``, ``learning_decay``); after a ``fit``, they
        continue from the fitted parameters. ``n_features_in_`` is set by the
        first call and checked by the others. ``batch_size``,
        ``max_no_improvement``, ``max_iter`` and ``n_init`` are not used: X is
        the batch, and the caller decides when to stop.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_batch, n_features)
            One mini-batch. A dask array is reduced on dask's scheduler (one
            pass over its blocks).
        y : ignored

        Returns
        -------
        self : GaussianMixture
        """
        fitted = hasattr(self, "means_")
        X, _ = check_X(self, X, reset=not fitted)
        data = RowBlocks([X])
        n_features = X.shape[1]
        tile_rows = self._tile_rows(n_features)
        state = getattr(self, "_stepwise_state", None)
        if not fitted:
            check_first_batch(data.n_samples, self.n_components)
            params = self._initialize(
                data,
                check_random_state(self.random_state),
                self._check_user_init(n_features),
                tile_rows,
            )
            state = StepwiseState(params)
        elif state is None:
            state = StepwiseState(self._params())
        elif state.stats is not None and self._stepwise_dtype != data.dtype:
            # the frame's common shift is rounded to the block dtype
            state.stats = reframe_stats(
                state.stats,
                self.covariance_type,
                self._stats_frame(state.params, self._stepwise_dtype),
                self._stats_frame(state.params, data.dtype),
            )
        model = self._stepwise_model(data.dtype, tile_rows, initialize=None)
        with one_blas_thread():  # see _core.em.blas_single_threaded
            stepwise_update(model, state, data, schedule_of(self), MIN_SMOOTHING)
        self._set_params(state.params)
        record_stepwise(self, state, state.smoothed, state.n_steps, converged=False)
        self._stepwise_dtype = data.dtype
        return self

    def fit_predict(self, X, y=None):
        """Fit, then return the most probable component of each sample.

        Equivalent to ``fit(X).predict(X)`` (one more pass over X).

        Returns
        -------
        labels : ndarray or dask array of shape (n_samples,)
        """
        return self.fit(X, y).predict(X)

    # ------------------------------------------------------- initialisation
    def _check_user_init(self, n_features: int) -> dict:
        """Validated copies of the ``*_init`` arrays (never written back)."""
        K, cov_type = self.n_components, self.covariance_type
        user = {}
        if self.weights_init is not None:
            user["weights"] = check_weights(self.weights_init, K)
        if self.means_init is not None:
            user["means"] = check_means(self.means_init, K, n_features)
        if self.precisions_init is not None:
            user["precisions"] = check_precisions(
                self.precisions_init, cov_type, K, n_features
            )
        return user

    def _initialize(self, data: RowBlocks, random_state, user: dict, tile_rows: int):
        return initial_params(
            data,
            random_state,
            n_components=self.n_components,
            covariance_type=self.covariance_type,
            method=self.init_params,
            reg_covar=self.reg_covar,
            tol=self.tol,
            tile_rows=tile_rows,
            user=user,
        )

    # ------------------------------------------------------------ attributes
    def _params(self) -> GaussianParams:
        return GaussianParams(
            self.covariance_type,
            self.weights_,
            self.means_,
            self.covariances_,
            self.precisions_cholesky_,
        )

    def _set_params(self, params: GaussianParams) -> None:
        self.weights_ = params.weights
        self.means_ = params.means
        self.covariances_ = params.covariances
        self.precisions_cholesky_ = params.precisions_cholesky
        self.precisions_ = precisions_from_cholesky(
            params.precisions_cholesky, self.covariance_type
        )

    def _tile_rows(self, n_features: int) -> int:
        return default_tile_rows(self.n_components * max(n_features, 2))

    # ------------------------------------------------------- per-row outputs
    def _map_rows(self, X, fn, n_columns, dtype=np.float64, name=None):
        check_is_fitted(self)
        X, info = check_X(self, X, reset=False)
        data = RowBlocks([X])
        plan = make_plan(self._params(), data.dtype)
        result = data.map_rows(fn, plan, self._tile_rows(X.shape[1]), n_columns, dtype)
        return wrap_rows(result, info, name=name)

    def predict(self, X):
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)

        Returns
        -------
        labels : ndarray, dask array or DataArray of shape (n_samples,)
            Lazy for dask input; along the sample dimension for xarray input.
        """
        return self._map_rows(X, label_rows, None, np.int64, name="label")

    def predict_proba(self, X):
        """Posterior probability of each component for each sample.

        Returns
        -------
        resp : ndarray, dask array or DataArray of shape (n_samples, n_components)
            For xarray input, dims (sample dim, ``component``).
        """
        return self._map_rows(X, proba_rows, self.n_components, name="probability")

    def score_samples(self, X):
        """Log-likelihood ``log p(x)`` of each sample.

        Returns
        -------
        log_prob : ndarray, dask array or DataArray of shape (n_samples,)
        """
        return self._map_rows(X, score_rows, None, name="log_likelihood")

    def score(self, X, y=None) -> float:
        """Mean log-likelihood of the samples of X (computed, also for dask).

        Returns
        -------
        float
        """
        check_is_fitted(self)
        X, _ = check_X(self, X, reset=False)
        data = RowBlocks([X])
        plan = make_plan(self._params(), data.dtype)
        stats = check_pass(
            data.map_reduce(_loglik_kernel, plan, self._tile_rows(X.shape[1])), data
        )
        return float(stats["loglik"] / stats["n_rows"])

    def _n_parameters(self) -> int:
        return n_parameters(self.covariance_type, *self.means_.shape)

    def bic(self, X) -> float:
        """Bayesian information criterion on X (lower is better)."""
        n_samples = _n_rows(X)
        return -2 * self.score(X) * n_samples + self._n_parameters() * math.log(
            n_samples
        )

    def aic(self, X) -> float:
        """Akaike information criterion on X (lower is better)."""
        return -2 * self.score(X) * _n_rows(X) + 2 * self._n_parameters()

    def sample(self, n_samples: int = 1):
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
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


def _loglik_kernel(x, plan) -> Stats:
    log_prob = score_rows(x, plan)
    return Stats(loglik=log_prob.sum(dtype=np.float64), n_rows=np.float64(x.shape[0]))


def _n_rows(X) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)
