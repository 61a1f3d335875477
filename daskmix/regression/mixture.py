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

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.exceptions import DataConversionWarning, UndefinedMetricWarning
from sklearn.utils import check_random_state
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._em.run import check_pass
from .._engine.rows import RowBlocks
from .._estimator.all_or_nothing import fit_all_or_nothing
from .._estimator.base import BaseMixture, float_dtype, weight_arrays
from .._estimator.docstrings import (
    SAMPLE_WEIGHT_FIT,
    SAMPLE_WEIGHT_PARTIAL_FIT,
    fill_doc,
)
from .._estimator.outputs import wrap_rows
from .._estimator.validation import (
    check_n_samples,
    check_sample_weight,
    check_X,
    check_y,
)
from ..gaussian.covariance import SKLEARN_TYPES
from ..gaussian.params import GaussianParams, precisions_from_cholesky
from ..gaussian.sampling import sample_mixture
from .families import FAMILIES, family
from .gates import GATINGS, LogisticGateParams, gate
from .inference import information_summary
from .kernels import (
    conditional_score_rows,
    gate_proba_rows,
    gate_score_rows,
    label_rows,
    posterior_rows,
    predict_rows,
    predict_std_rows,
    r2_kernel,
)
from .model import RegressionModel
from .params import (
    NOISE_MODELS,
    RegressionConfig,
    RegressionParams,
    n_parameters,
)

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


def _has_input_model(estimator) -> bool:
    if estimator.gating != "gaussian" or estimator.family != "gaussian":
        raise AttributeError(
            "sample() needs a model of x: it is available with gating='gaussian' "
            f"and family='gaussian' only, not gating={estimator.gating!r}, "
            f"family={estimator.family!r}."
        )
    return True


ONE_TRIAL_WARNING = (
    "family='binomial' with one trial per row (0/1 responses) and "
    "n_components > 1: a mixture of logistic regressions is not identifiable "
    "from such data (only the mixed probability of success at each x is), so "
    "the components and their standard errors mean nothing. Fit data with "
    "several trials per row (y as two columns: successes, failures), or one "
    "component."
)


def _as_columns(value, name: str, n_features: int, names) -> tuple[int, ...]:
    """Column indices from indices or feature names, checked."""
    items = [value] if isinstance(value, (str, int, np.integer)) else list(value)
    if not items:
        raise ValueError(f"{name} is empty: name at least one column of X.")
    columns = []
    for item in items:
        if isinstance(item, str):
            if names is None:
                raise ValueError(
                    f"{name} names the column {item!r} but X has no feature names "
                    "(pass a DataFrame, or column indices)."
                )
            found = np.flatnonzero(np.asarray(names) == item)
            if found.size != 1:
                raise ValueError(f"{name}: X has no column named {item!r}.")
            columns.append(int(found[0]))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not -n_features <= item < n_features:
                raise ValueError(
                    f"{name}: column {item} is out of range for X with "
                    f"{n_features} features."
                )
            columns.append(int(item) % n_features)
        else:
            raise ValueError(f"{name} must hold column indices or names; got {item!r}.")
    if len(set(columns)) != len(columns):
        raise ValueError(f"{name} names a column twice: {items}.")
    return tuple(columns)


def _column(y, j: int):
    """Column ``j`` of a two-column target (numpy, pandas, dask or xarray)."""
    if hasattr(y, "iloc"):
        return y.iloc[:, j]
    if not hasattr(y, "shape"):
        y = np.asarray(y)
    return y[:, j]


class RegressionMixture(RegressorMixin, BaseMixture):
    """Mixtures of regressions and of experts; cluster-weighted models.

    .. math::

        p(y \\mid x) = \\sum_{k=1}^K g_k(x)\\,
        \\mathcal{N}(y \\mid w_k^\\top x + b_k,\\ \\sigma_k^2)

    for the Gaussian family; ``family='poisson'`` and ``'binomial'`` put
    Poisson counts (log link) or binomial successes (logit link) in place of
    the normal lines, as R's flexmix ``FLXMRglm``.

    With ``gating='gaussian'`` (a cluster-weighted model)
    :math:`g_k(x) \\propto \\pi_k \\mathcal{N}(x \\mid \\mu_k, \\Sigma_k)`: the joint
    :math:`p(x, y)` is fitted by closed-form EM and ``predict`` is the gated
    conditional mean, so a curve is fitted piecewise linearly, each line with
    its region. With ``gating='none'`` the weights are constant,
    :math:`g_k = \\pi_k` (the mixture of linear regressions of R's flexmix and
    mixtools), and ``predict`` is :math:`\\sum_k \\pi_k (w_k^\\top x + b_k)`.
    With ``gating='logistic'`` the weights are a multinomial logit of x,
    :math:`g_k(x) = \\mathrm{softmax}(z^\\top \\gamma)_k` (a mixture of experts;
    flexmix's concomitant ``FLXPmultinom``), fitted by a safeguarded Newton
    step per EM pass. :meth:`summary` gives standard errors, z and p values.

    Each EM iteration is one pass over the data, whatever its type (numpy on
    all cores, dask on the active scheduler, lazily read data streamed block by
    block).

    Parameters
    ----------
    n_components : int, default=2
        Number of lines K.
    gating : {'gaussian', 'none', 'logistic'}, default='gaussian'
        Gaussian gate on x (cluster-weighted model), constant weights, or a
        multinomial-logit gate ``softmax(z gamma)`` on ``z = [x_g, 1]`` (a
        mixture of experts; flexmix's concomitant ``FLXPmultinom``) with
        component 0 the reference.
    family : {'gaussian', 'poisson', 'binomial'}, default='gaussian'
        The components' response distribution, with its canonical link:
        normal lines, Poisson counts with a log link, or binomial successes
        with a logit link (y of 0/1, or two columns: successes, failures).
    expert_features : int, str or sequence of them, default=None
        Columns of X (indices, or names for a DataFrame) the components
        regress on. None: every column (but an offset or exposure column).
    gate_features : int, str or sequence of them, default=None
        Columns of X the gate sees (``gating='gaussian'`` or
        ``'logistic'``). None: every column (but an offset or exposure
        column).
    offset_feature : int or str, default=None
        A column of X added to every component's linear predictor (a known
        offset; for counts, the log of an exposure). Not a feature.
    exposure_feature : int or str, default=None
        A column of X holding a positive exposure ``t``: ``log t`` is the
        offset (a Poisson mean ``t exp(phi . W_k)``). Not a feature; not
        with ``offset_feature``.
    noise : {'component', 'shared'}, default='component'
        One noise variance per line, or one for all (Gaussian family).
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
        Seeds the start and, for ``algorithm='minibatch'``, the batch draws.
        The same seed and chunking give the same model on any scheduler.
    warm_start : bool, default=False
        Continue from the fitted parameters on the next ``fit``, while the
        number of features, ``n_components``, ``gating``,
        ``covariance_type`` and ``fit_intercept`` are unchanged (otherwise
        the fit starts afresh).
    verbose : int, default=0
        1 prints the start and end of each initialisation, 2 also the lower
        bound change every ``verbose_interval`` iterations.
    verbose_interval : int, default=10
        Iterations between two progress messages.
    algorithm : {'batch', 'minibatch'}, default='batch'
        'batch': EM, one pass over (X, y) per iteration. 'minibatch':
        stepwise EM (Cappé & Moulines 2009), as in
        :class:`~daskmix.GaussianMixture`: each step reads ``batch_size``
        rows drawn so that every row is equally likely (sorted data give
        unbiased steps), updates running statistics
        :math:`s \\leftarrow (1 - \\eta_t) s + \\eta_t s_B` with
        :math:`\\eta_t = (t + t_0)^{-\\kappa}`, :math:`t_0` = ``learning_offset``
        and :math:`\\kappa` = ``learning_decay``, and
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
    coef_ : ndarray of shape (n_components, n_expert_features)
        Slopes on the linear-predictor scale (log for Poisson, logit for
        binomial), one column per expert feature.
    intercept_ : ndarray of shape (n_components,)
    noise_variance_ : ndarray of shape (n_components,)
        All equal with ``noise='shared'``. Gaussian family only.
    weights_ : ndarray of shape (n_components,)
        Mixing weights; with ``gating='logistic'``, the share of the data
        each component explains.
    gate_coef_ : ndarray of shape (n_components, n_gate_features)
        Logit slopes of the gate (``gating='logistic'`` only; row 0, the
        reference, is zero).
    gate_intercept_ : ndarray of shape (n_components,)
        Logit intercepts (``gating='logistic'`` only).
    means_ : ndarray of shape (n_components, n_gate_features)
        Gate means (``gating='gaussian'`` only; likewise the next three).
    covariances_ : ndarray
        Gate covariances, shaped as in :class:`~daskmix.GaussianMixture`.
    precisions_ : ndarray
    precisions_cholesky_ : ndarray
    converged_ : bool
    n_iter_ : int
        EM iterations of the best run. Minibatch fit: passes' worth of steps,
        ``ceil(n_steps_ * batch_size / n_samples)`` (with ``sample_weight``,
        batches of zero weight drawn and skipped count too); after
        ``partial_fit``: the number of updates.
    n_steps_ : int
        Stepwise updates (minibatch fit of the best run, or ``partial_fit``
        calls so far); 0 after a batch fit.
    lower_bound_ : float
        Mean log-likelihood of the training data at the last iteration of the
        best run: of the joint ``log p(x, y)`` with ``gating='gaussian'``, of
        ``log p(y | x)`` with ``gating='none'``; with ``sample_weight``, the
        weighted mean (over the sum of the weights). Minibatch fit and
        ``partial_fit``: the mean of the batches' (weighted) mean
        log-likelihoods over the last 10 steps, each under the parameters that
        entered its step; with ``n_init > 1``, the exact (weighted) mean
        log-likelihood of the kept run's parameters, by which the restarts
        were compared (one shared pass).
    lower_bounds_ : list of float
        The lower bound at each iteration (minibatch: each step).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X had string feature names.

    See Also
    --------
    daskmix.RegressionMixtureIC : Choose K, gating and noise in one sweep.
    daskmix.GaussianMixture : The mixture its Gaussian gate is.

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
    ``partial_fit`` so far; with ``sample_weight``, the summed weights), so
    that ``reg_weights`` weighs against the same sums as in a batch fit. The
    minibatch defaults are GaussianMixture's (measured there). On a
    cluster-weighted model of 2,000,000 x 8 rows with six lines
    (``benchmarks/bench_minibatch.py``, two cores, 'gmm' starts) a minibatch
    fit ended 0.0013 nats below batch EM in 0.16 of its time; data sorted by
    component, 0.0013 short as numpy and 0.0048 short as a dask array of
    50k-row chunks with the earlier block-wise batches (batches are now
    windows of consecutive rows, see the mini-batch guide); 40 ``partial_fit``
    calls on 50k-row blocks, 0.00004 short. Like GaussianMixture's, a
    minibatch fit does not end with a full pass: ``score_samples`` gives the
    exact log-likelihood when wanted.

    ``score`` is R^2, the regressor contract of scikit-learn: it measures
    the mixture's mean prediction only and must not be used to choose
    ``n_components`` (it barely changes with K). Use
    :class:`daskmix.RegressionMixtureIC` (BIC, AIC, ICL on the training
    data) or :func:`daskmix.metrics.log_likelihood_scorer` (held-out
    ``log p(y | x)``) in ``GridSearchCV``.

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
        **BaseMixture._parameter_constraints,
        "gating": [StrOptions(set(GATINGS))],
        "family": [StrOptions(set(FAMILIES))],
        "expert_features": ["array-like", Integral, str, None],
        "gate_features": ["array-like", Integral, str, None],
        "offset_feature": [Integral, str, None],
        "exposure_feature": [Integral, str, None],
        "noise": [StrOptions(set(NOISE_MODELS))],
        "fit_intercept": ["boolean"],
        "covariance_type": [StrOptions(set(SKLEARN_TYPES))],
        "reg_weights": [Interval(Real, 0.0, None, closed="left")],
        "init_params": [StrOptions(set(INIT_METHODS))],
    }

    def __init__(
        self,
        n_components: int = 2,
        *,
        gating: str = "gaussian",
        family: str = "gaussian",
        expert_features=None,
        gate_features=None,
        offset_feature=None,
        exposure_feature=None,
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
        self.family = family
        self.expert_features = expert_features
        self.gate_features = gate_features
        self.offset_feature = offset_feature
        self.exposure_feature = exposure_feature
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
    @fill_doc(sample_weight_fit=SAMPLE_WEIGHT_FIT)
    @fit_all_or_nothing
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM, one pass over (X, y) per iteration.

        With ``algorithm='minibatch'``, stepwise EM on random mini-batches.
        ``warm_start=True`` continues from the fitted parameters while the
        number of features, ``n_components``, ``gating``,
        ``covariance_type`` and ``fit_intercept`` are unchanged; after such a
        change the fit starts afresh.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Inputs.
        y : array-like or dask array of shape (n_samples,) or (n_samples, 2)
            Targets: real values (Gaussian family), counts (Poisson), 0/1
            responses or two columns of successes and failures (binomial).
        sample_weight : array-like or dask array of shape (n_samples,), \
                default=None
            {sample_weight_fit}

        Returns
        -------
        self : RegressionMixture
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight)

    @fill_doc(sample_weight_partial_fit=SAMPLE_WEIGHT_PARTIAL_FIT)
    @fit_all_or_nothing
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """One stepwise EM update on the rows of X (a mini-batch).

        The first call (on an unfitted estimator) initialises on X with
        ``init_params`` (and any ``*_init`` arrays), then updates. Later calls
        continue the running statistics and the step-size schedule
        (``learning_offset``, ``learning_decay``); after a ``fit``, they
        continue from the fitted parameters. ``n_features_in_`` is set by the
        first call and checked by the others. ``batch_size``,
        ``max_no_improvement``, ``max_iter`` and ``n_init`` are not used: X is
        the batch, and the caller decides when to stop. Changing a structural
        parameter between calls raises a ValueError: call ``fit`` or clone the
        estimator to start afresh.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_batch, n_features)
            One mini-batch. A dask array is reduced on dask's scheduler (one
            pass over its blocks).
        y : array-like or dask array of shape (n_batch,) or (n_batch, 2)
            Its targets.
        sample_weight : array-like or dask array of shape (n_batch,), \
                default=None
            {sample_weight_partial_fit}

        Returns
        -------
        self : RegressionMixture
            The updated estimator.
        """
        return self._partial_fit(X, y, sample_weight)

    # ------------------------------------------------------------- the model
    _requires_y = True

    def _model(self, n_features: int, *, fitting: bool = False) -> RegressionModel:
        return RegressionModel(
            n_components=self.n_components,
            config=self._config(n_features),
            init_params=self.init_params,
        )

    def _config(self, n_features: int) -> RegressionConfig:
        experts, gate_columns, offset, offset_log = self._columns(n_features)
        return RegressionConfig(
            gating=self.gating,
            noise=self.noise,
            fit_intercept=bool(self.fit_intercept),
            covariance_type=self.covariance_type,
            reg_covar=float(self.reg_covar),
            reg_weights=float(self.reg_weights),
            family=self.family,
            expert_columns=experts,
            gate_columns=gate_columns,
            offset_column=offset,
            offset_log=offset_log,
        )

    def _columns(self, n_features: int):
        """Experts' and gate's columns, the offset column, whether it is an exposure.

        None for "every column" when no offset is set, so that the kernels
        take X as it is.
        """
        names = getattr(self, "feature_names_in_", None)
        if self.offset_feature is not None and self.exposure_feature is not None:
            raise ValueError(
                "Give offset_feature or exposure_feature, not both: an exposure "
                "t is the offset log t."
            )
        special = self.offset_feature
        if special is None:
            special = self.exposure_feature
        offset = None
        if special is not None:
            which = (
                "offset_feature"
                if self.offset_feature is not None
                else ("exposure_feature")
            )
            (offset,) = _as_columns(special, which, n_features, names)
        rest = tuple(c for c in range(n_features) if c != offset)
        if not rest:
            raise ValueError("X has no feature besides the offset column.")
        chosen = []
        for name, value in (
            ("expert_features", self.expert_features),
            ("gate_features", self.gate_features),
        ):
            if value is None:
                chosen.append(None if offset is None else rest)
                continue
            columns = _as_columns(value, name, n_features, names)
            if offset is not None and offset in columns:
                raise ValueError(
                    f"{name} lists the offset column {special!r}; it is not a feature."
                )
            chosen.append(None if columns == tuple(range(n_features)) else columns)
        return chosen[0], chosen[1], offset, self.exposure_feature is not None

    def _structure(self, n_features: int) -> dict:
        experts, gate_columns, offset, offset_log = self._columns(n_features)
        return {
            "n_features": n_features,
            "n_components": self.n_components,
            "gating": self.gating,
            "family": self.family,
            "covariance_type": self.covariance_type,
            "fit_intercept": bool(self.fit_intercept),
            "expert_features": experts,
            "gate_features": gate_columns,
            "offset": (offset, offset_log),
        }

    def _validate(
        self,
        X,
        y=None,
        *,
        reset: bool,
        ensure_min_samples: int = 1,
        sample_weight=None,
    ):
        """Validated rows of X (and y, and the row weights, when given)."""
        X, info = check_X(self, X, reset=reset, ensure_min_samples=ensure_min_samples)
        if y is None:
            return RowBlocks({"X": X}), info
        fam = family(self.family)
        targets = {}
        if (
            self.family == "binomial"
            and getattr(y, "ndim", 1) == 2
            and getattr(y, "shape", (0, 0))[1] == 2
        ):
            successes, failures = (_column(y, j) for j in (0, 1))
            targets["y"] = check_y(successes, X, info)
            targets["trials"] = targets["y"] + check_y(failures, X, info)
        else:
            if reset and getattr(y, "ndim", 1) == 2 and y.shape[1] == 1:
                warnings.warn(
                    "A column-vector y was passed when a 1d array was expected. "
                    "Please change the shape of y to (n_samples,), for example "
                    "using ravel().",
                    DataConversionWarning,
                    stacklevel=3,
                )
            targets["y"] = check_y(y, X, info)
        if isinstance(targets["y"], np.ndarray):
            fam.check_y(targets["y"], targets.get("trials"))
            if self.exposure_feature is not None:
                self._check_exposure(X)
        if reset and self.family == "binomial" and self.n_components > 1:
            trials = targets.get("trials")
            if trials is None or (
                isinstance(trials, np.ndarray) and np.all(trials <= 1)
            ):
                warnings.warn(ONE_TRIAL_WARNING, UserWarning, stacklevel=3)
        return RowBlocks({"X": X, **targets, **weight_arrays(sample_weight, X)}), info

    def _check_exposure(self, X) -> None:
        """Raise unless the exposure column of numpy X is positive."""
        offset = self._columns(X.shape[1])[2]
        if np.any(np.asarray(X[:, offset]) <= 0):
            raise ValueError(
                "exposure_feature must be positive: its log is the offset; some "
                "values are <= 0."
            )

    # ------------------------------------------------------------ attributes
    def _params(self) -> RegressionParams:
        def f64(a):
            return np.asarray(a, dtype=np.float64)

        gate_params = None
        if self.gating == "gaussian" and hasattr(self, "means_"):
            gate_params = GaussianParams(
                self.covariance_type,
                f64(self.weights_),
                f64(self.means_),
                f64(self.covariances_),
                f64(self.precisions_cholesky_),
            )
        elif self.gating == "logistic" and hasattr(self, "gate_coef_"):
            gate_params = LogisticGateParams(
                f64(self.gate_coef_), f64(self.gate_intercept_)
            )
        noise = getattr(self, "noise_variance_", None)
        experts, gate_columns, _, _ = self._columns(self.n_features_in_)
        return RegressionParams(
            weights=f64(self.weights_),
            coef=f64(self.coef_),
            intercept=f64(self.intercept_),
            noise_variance=(
                np.ones(self.coef_.shape[0]) if noise is None else f64(noise)
            ),
            gate=gate_params,
            x_center=self._x_center,
            noise_floor=self._noise_floor,
            expert_columns=experts,
            gate_columns=gate_columns,
            x_range=getattr(self, "_x_range", None),
        )

    def _set_params(self, params: RegressionParams, dtype) -> None:
        dtype = float_dtype(dtype)
        self.weights_ = params.weights.astype(dtype)
        self.coef_ = params.coef.astype(dtype)
        self.intercept_ = params.intercept.astype(dtype)
        self._x_center = params.x_center
        self._noise_floor = params.noise_floor
        self._x_range = params.x_range
        for name in (
            "noise_variance_",
            "means_",
            "covariances_",
            "precisions_cholesky_",
            "precisions_",
            "gate_coef_",
            "gate_intercept_",
        ):
            if hasattr(self, name):
                delattr(self, name)
        if family(self.family).has_noise:
            self.noise_variance_ = params.noise_variance.astype(dtype)
        if isinstance(params.gate, LogisticGateParams):
            self.gate_coef_ = params.gate.coef.astype(dtype)
            self.gate_intercept_ = params.gate.intercept.astype(dtype)
        elif params.gate is not None:
            self.means_ = params.gate.means.astype(dtype)
            self.covariances_ = params.gate.covariances.astype(dtype)
            self.precisions_cholesky_ = params.gate.precisions_cholesky.astype(dtype)
            self.precisions_ = precisions_from_cholesky(
                params.gate.precisions_cholesky, self.covariance_type
            ).astype(dtype)

    # ------------------------------------------------------- per-row outputs
    def _rows_with_y(self, X, y):
        """Validated (X, y) rows for methods that need the targets."""
        if y is None:
            check_is_fitted(self)
            raise ValueError("y is required here: pass the targets y with X.")
        return self._fitted_rows(X, y)

    def predict(self, X, return_std: bool = False):
        """Conditional mean of y given x, optionally with its standard deviation.

        With ``gating='gaussian'`` the gated mean ``sum_k p(k | x) (w_k . x + b_k)``;
        with ``gating='none'``, ``sum_k pi_k (w_k . x + b_k)``.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.
        return_std : bool, default=False
            Also return the standard deviation of ``p(y | x)`` (the mixture's
            moment-matched spread: noise plus disagreement between lines).

        Returns
        -------
        y_mean : ndarray, dask array or DataArray of shape (n_samples,)
            The conditional mean; lazy for dask input.
        y_std : ndarray, dask array or DataArray of shape (n_samples,)
            Its standard deviation; only with ``return_std=True``.
        """
        rows = self._fitted_rows(X)
        if not return_std:
            return self._map_rows(rows, predict_rows, None, "prediction")
        data = rows.data
        both = data.map_rows(predict_std_rows, rows.plan, rows.tile_rows, 2, np.float64)
        both = both.astype(data.dtype, copy=False)
        return (
            wrap_rows(both[:, 0], rows.info, name="prediction"),
            wrap_rows(both[:, 1], rows.info, name="prediction_std"),
        )

    def component_proba(self, X, y=None):
        """Component probabilities: the gate ``p(k | x)``, or ``p(k | x, y)`` with y.

        (Not named ``predict_proba``: scikit-learn reserves that name for
        classifiers and its tools tell a regressor by its absence.)

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.
        y : array-like of shape (n_samples,) or (n_samples, 2), optional
            With targets, the posterior of each line given the point.

        Returns
        -------
        proba : ndarray, dask array or DataArray of shape (n_samples, n_components)
            For ``gating='none'`` without y, every row is ``weights_``.
        """
        fn = gate_proba_rows if y is None else posterior_rows
        return self._map_rows(
            self._fitted_rows(X, y), fn, self.n_components, "probability"
        )

    def score_samples(self, X, y=None):
        """Log-likelihood of each sample: ``log p(y | x)``.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.
        y : array-like of shape (n_samples,) or (n_samples, 2)
            Targets. Without them (``gating='gaussian'`` only) the result is
            the log-density of x under the gate, ``log p(x)``, as
            :meth:`daskmix.GaussianMixture.score_samples` would give.

        Returns
        -------
        log_prob : ndarray, dask array or DataArray of shape (n_samples,)
            ``log p(y | x)`` (or ``log p(x)`` without y) of each sample.
        """
        if y is None and not gate(self.gating).models_x:
            check_is_fitted(self)
            raise ValueError(
                f"score_samples needs y with gating={self.gating!r}: the model is "
                "a conditional density p(y | x) and does not model x."
            )
        rows = self._fitted_rows(X, y)
        if y is None:
            return self._map_rows(rows, gate_score_rows, None, "log_px")
        return self._map_rows(rows, conditional_score_rows, None, "log_likelihood")

    def score(self, X, y, sample_weight=None) -> float:
        """Coefficient of determination R^2 of ``predict(X)`` (computed for dask too).

        R^2 measures the mixture's mean prediction and must not be used to
        choose ``n_components``: see :class:`daskmix.RegressionMixtureIC` and
        :func:`daskmix.metrics.log_likelihood_scorer`.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.
        y : array-like of shape (n_samples,)
            Targets.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the samples.

        Returns
        -------
        score : float
            R^2 of ``predict(X)`` against y; NaN, with an
            ``UndefinedMetricWarning``, for fewer than two samples (as
            :func:`sklearn.metrics.r2_score`).
        """
        rows = self._rows_with_y(X, y)
        data, plan, tile_rows = rows.data, rows.plan, rows.tile_rows
        if data.n_samples < 2:
            warnings.warn(
                "R^2 score is not well-defined with less than two samples.",
                UndefinedMetricWarning,
                stacklevel=2,
            )
            return float("nan")
        if sample_weight is not None:
            weight = check_sample_weight(sample_weight, data.X)
            data = data.with_array("weight", weight)
        plan.y_center = self._y_center()
        stats = check_pass(data.map_reduce(r2_kernel, plan, tile_rows), data)
        total = stats["s2"] - stats["s1"] ** 2 / stats["weight"]
        if total == 0.0:
            return 1.0 if stats["sse"] == 0.0 else 0.0
        return float(1.0 - stats["sse"] / total)

    def _y_center(self) -> float:
        """A typical response, about which R^2's sums are taken (any will do)."""
        params = self._params()
        eta = self.intercept_ + self.coef_ @ params.expert_center
        return float(self.weights_ @ family(self.family).component_means(eta))

    def _score_pass(self, X, y=None):
        if y is None:
            check_is_fitted(self)
            raise ValueError("y is required here: pass the targets y with X.")
        return super()._score_pass(X, y)

    def _n_parameters(self) -> int:
        config = self._config(self.n_features_in_)
        n_gate = (
            self.n_features_in_
            if config.gate_columns is None
            else len(config.gate_columns)
        )
        return n_parameters(config, self.n_components, self.coef_.shape[1], n_gate)

    def predict_component(self, X, y=None):
        """The most probable component of each row: hard labels.

        From the posterior ``p(k | x, y)`` when y is given, from the gate
        ``p(k | x)`` otherwise (with ``gating='none'`` that is the largest
        weight for every row).

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.
        y : array-like of shape (n_samples,) or (n_samples, 2), optional
            Targets (two columns, successes and failures, for a binomial
            family with several trials).

        Returns
        -------
        labels : ndarray, dask array or DataArray of shape (n_samples,)
            Component indices, int64; lazy for dask input.
        """
        return self._map_rows(
            self._fitted_rows(X, y), label_rows, None, "component", dtype=np.int64
        )

    def summary(self, X, y, sample_weight=None, eps: float = 1e-4):
        """Estimates, standard errors, z and p values: flexmix's ``summary(refit())``.

        One pass over (X, y) computes the observed information of the
        mixture log-likelihood at the fitted parameters, exactly (Louis'
        identity: the expected complete-data information less the
        information missing from not knowing the components, per row; see
        :mod:`daskmix.regression.inference`); standard errors are the square
        roots of the diagonal of its inverse, mapped to the reported
        parameters by the delta method. They are asymptotic, conditional on
        the number of components, and unreliable near label switching (two
        components whose roles the data cannot tell apart) or at a fit that
        is not a maximum.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            The training data (or other data from the same population).
        y : array-like of shape (n_samples,) or (n_samples, 2)
            Its targets.
        sample_weight : array-like or dask array of shape (n_samples,), \
                default=None
            Frequency weights, as in ``fit``.
        eps : float, default=1e-4
            A row counts in a component's ``post>0`` when its posterior
            exceeds this (flexmix's ``summary``).

        Returns
        -------
        table : pandas.DataFrame
            One row per parameter: ``component``, ``parameter``,
            ``estimate``, ``std_error``, ``z`` and ``p_value`` (two-sided,
            normal). Per component: ``intercept`` and the expert features'
            slopes (on the linear-predictor scale), ``noise_variance``
            (Gaussian family); then the gate: ``weight`` of every component
            (``gating='none'``) or ``gate:intercept`` and ``gate:<feature>``
            of every component but the reference 0 (``gating='logistic'``).
            ``z`` and ``p_value`` test a coefficient against zero; they are
            NaN for variances and weights. ``table.attrs`` holds
            ``components`` (a DataFrame per component: ``prior``, ``size``
            (rows it is most probable for), ``post>0`` and ``ratio`` =
            size / post>0, as flexmix's ``summary``), ``log_likelihood``,
            ``n_samples`` and ``max_abs_score`` (the largest gradient
            component of the log-likelihood: near zero at a maximum).

        Raises
        ------
        NotImplementedError
            For ``gating='gaussian'``: the cluster-weighted model's gate
            covariances have no parametrisation here.
        """
        check_is_fitted(self)
        if self.gating == "gaussian":
            raise NotImplementedError(
                "summary() covers gating='none' and 'logistic' (flexmix's "
                "models); the cluster-weighted model's standard errors would "
                "need its gate covariances' parametrisation. Use a bootstrap."
            )
        rows = self._rows_with_y(X, y)
        data = rows.data
        if sample_weight is not None:
            data = data.with_array("weight", check_sample_weight(sample_weight, data.X))
        feature_names = self._feature_labels()
        config = rows.model.config
        return information_summary(
            data,
            self._params(),
            config,
            tile_budget=rows.tile_rows,
            expert_names=[feature_names[c] for c in _all(config.expert_columns, data)],
            gate_names=[feature_names[c] for c in _all(config.gate_columns, data)],
            eps=eps,
        )

    def _feature_labels(self) -> list[str]:
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(name) for name in names]
        return [f"x{j}" for j in range(self.n_features_in_)]

    @available_if(_has_input_model)
    def sample(self, n_samples: int = 1):
        """Draw (x, y) pairs from the fitted joint model (``gating='gaussian'``).

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to draw, at least 1 (a float is truncated, as
            :meth:`daskmix.GaussianMixture.sample` and scikit-learn's do).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Inputs, grouped by component.
        y : ndarray of shape (n_samples,)
            Their targets, drawn from each component's line and noise.
        """
        check_is_fitted(self)
        n_samples = check_n_samples(n_samples)
        rng = check_random_state(self.random_state)
        X, labels = sample_mixture(self._params().gate, n_samples, rng)
        noise = np.sqrt(self.noise_variance_[labels]) * rng.standard_normal(n_samples)
        y = np.einsum("nd,nd->n", X, self.coef_[labels]) + self.intercept_[labels]
        return X, y + noise


def _all(columns, data) -> list[int]:
    """The columns ``columns`` stands for (None: every column of ``data``)."""
    return list(range(data.n_features)) if columns is None else list(columns)
