"""GaussianMixture: scikit-learn's estimator, one pass per EM iteration on dask."""

from __future__ import annotations

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._engine.namespaces import is_device_array, to_host
from .._engine.rows import RowBlocks
from .._estimator.all_or_nothing import fit_all_or_nothing
from .._estimator.base import BaseMixture, float_dtype, kernel_dtype
from .._estimator.docstrings import (
    SAMPLE_WEIGHT_FIT,
    SAMPLE_WEIGHT_PARTIAL_FIT,
    fill_doc,
)
from .._estimator.outputs import wrap_like
from .._estimator.validation import check_X, naming_missing_option
from .init_checks import check_means, check_precisions, check_weights
from .kernels import draw_rows, impute_rows, make_plan
from .model import GaussianModel
from .outputs import GaussianOutputs
from .params import (
    COVARIANCE_TYPES,
    GaussianParams,
    n_parameters,
    precisions_from_cholesky,
)

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data", "gmm")


class GaussianMixture(GaussianOutputs, BaseMixture):
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
    covariance_type : {'full', 'tied', 'diag', 'spherical', 'EII', 'VII', \
            'EEI', 'VEI', 'EVI', 'VVI', 'EEE', 'VEE', 'EVE', 'VVE', 'EEV', \
            'VEV', 'EVV', 'VVV'}, default='full'
        Covariance parameterisation: scikit-learn's four, or one of mclust's
        14 models (Celeux & Govaert 1995), ``Sigma_k = lambda_k D_k A_k
        D_k^T`` with the volume ``lambda``, shape ``A`` and orientation ``D``
        each equal across components (E), variable (V) or the identity (I).
        VII, VVI, EEE and VVV are 'spherical', 'diag', 'tied' and 'full'.
        Each model stores its covariances in the shape of the
        scikit-learn type it constrains: (K,) for EII and VII; (K, D) for
        EEI, VEI, EVI, VVI; (D, D) for EEE; (K, D, D) for the others. The
        number of parameters (BIC, AIC) is mclust's. See the user guide's
        "Covariance models" page.
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

        - 'kmeans': the first M-step takes the labels of
          :class:`daskmix.KMeans` (k-means|| seeding, best of 3) run on a
          uniform sample of ``max(20000, 1000 * n_components)`` rows held in
          memory (smaller data whole, read once): no pass over numpy data,
          one read of the sampled rows for dask input. Not scikit-learn's
          algorithm (a k-means++ KMeans on all rows). Restarts after the
          first cluster a smaller sample (50 rows per component) so that
          ``n_init`` tries genuinely different starts.
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
        User-provided initial weights; they must sum to 1 within the
        tolerance of the data's float dtype.
    means_init : array-like of shape (n_components, n_features), default=None
        User-provided initial means.
    precisions_init : array-like, default=None
        User-provided initial precisions (inverse covariances; shape as
        ``precisions_``). Each given ``*_init`` array replaces what
        ``init_params`` finds; with all three, no start method runs.
    random_state : int, RandomState instance or None, default=None
        Seeds the start and, for ``algorithm='minibatch'``, the batch draws.
        The same seed and chunking give the same model on any scheduler.
    warm_start : bool, default=False
        Continue from the fitted parameters on the next ``fit``, while the
        number of features, ``n_components`` and ``covariance_type`` are
        unchanged (otherwise the fit starts afresh).
    verbose : int, default=0
        1 prints the start and end of each initialisation, 2 also the lower
        bound change every ``verbose_interval`` iterations (scikit-learn's
        messages).
    verbose_interval : int, default=10
        Iterations between two progress messages.
    algorithm : {'batch', 'minibatch'}, default='batch'
        'batch': EM, one pass over X per iteration (scikit-learn's algorithm).
        'minibatch': stepwise EM (Cappé & Moulines 2009). Each step reads
        ``batch_size`` rows (numpy: random rows; dask: 32 windows of
        consecutive rows, one at a random place in each 32nd of the data, so
        every row is equally likely and sorted data give unbiased steps), updates
        running statistics :math:`s \\leftarrow (1 - \\eta_t) s + \\eta_t s_B`
        with :math:`\\eta_t = (t + t_0)^{-\\kappa}`, :math:`t_0` =
        ``learning_offset`` and :math:`\\kappa` = ``learning_decay``, and re-derives
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
    missing : {'error', 'marginalize'}, default='error'
        What a NaN in X is. 'error': a ValueError, as in scikit-learn.
        'marginalize': a missing entry, taken as missing at random (its
        being missing may depend on the observed entries of its row, not on
        its own value); infinity stays an error. EM then runs on the
        observed entries (Ghahramani & Jordan 1994), still one pass per
        iteration: a row's E-step uses the marginal of its observed
        features, and the statistics take its missing entries at their
        conditional expectation, plus their conditional covariance. A row
        with no observed feature counts for nothing: it is left out of the
        fit, ``score``, ``bic`` and ``aic``; ``predict_proba`` gives it the
        mixing weights, ``predict`` the heaviest component, ``score_samples``
        0 (the log-likelihood of nothing) and :meth:`impute` the mixture
        mean. ``predict``, ``predict_proba``, ``score_samples`` and ``score``
        use the marginal likelihood of each row's observed entries. The start
        runs on rows without gaps (see the user guide's page on missing
        data); data without a NaN give the fit of ``missing='error'``, bit
        for bit.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        (K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical; mclust's
        models in the shape of the type they constrain (above), with
        ``reg_covar`` added to every variance after the constrained estimate.
    precisions_ : ndarray
        Inverses of ``covariances_``, same shapes.
    precisions_cholesky_ : ndarray
        Upper-triangular Cholesky factors of ``precisions_``.
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
        best run (under the parameters that entered that iteration); with
        ``sample_weight``, the weighted mean (over the sum of the weights). Minibatch
        fit and ``partial_fit``: the mean of the batches' mean log-likelihoods
        (weighted means with ``sample_weight``) over the last 10 steps (see
        Notes); ``score(X)`` gives the exact value. A minibatch fit with
        ``n_init > 1`` compares its restarts by their exact (weighted) mean
        log-likelihood (one shared full pass) and reports it.
    lower_bounds_ : list of float
        The lower bound at each iteration (minibatch: each step) of the best
        run.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X had string feature names (pandas, xarray).

    See Also
    --------
    sklearn.mixture.GaussianMixture : The estimator this one replaces.
    daskmix.GaussianMixtureIC : Choose K and the covariance type in one sweep.
    daskmix.BayesianGaussianMixture : The variational version.

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
    about 30% more time. Data sorted by component, as a dask array, are in
    the mini-batch guide ("Mini-batches from disk").

    A minibatch fit does not end with a full pass. In the benchmark at the
    defaults the smoothed lower bound it reports was within 0.0025 nats of the
    exact mean log-likelihood (shuffled data and sorted numpy data), but up to
    0.08 nats off on sorted dask data with the earlier block-wise batches.
    Ending every fit with one batch EM iteration (exact lower bound, then an
    M-step on the full statistics) closed
    the gap to batch EM completely in all six cases measured, but took the fit
    from 0.17-0.48 to 0.46-0.67 of the batch fit's wall time on shuffled data,
    past the half that makes minibatch worth choosing, and its cost grows with
    n_samples while the stepwise fit's does not. ``score(X)`` gives the exact
    figure when wanted.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from daskmix import GaussianMixture
    >>> X, _ = make_blobs(1000, centers=[[0, 0], [5, 5]], random_state=0)
    >>> model = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> model.means_[model.means_[:, 0].argsort()].round(0) + 0.0
    array([[0., 0.],
           [5., 5.]])
    """

    _supports_array_api = True

    _parameter_constraints: dict = {
        **BaseMixture._parameter_constraints,
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "init_params": [StrOptions(set(INIT_METHODS))],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "missing": [StrOptions({"error", "marginalize"})],
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
        missing: str = "error",
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
        self.missing = missing

    # ------------------------------------------------------------------ fit
    @fill_doc(sample_weight_fit=SAMPLE_WEIGHT_FIT)
    @fit_all_or_nothing
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM, one pass over the data per iteration.

        With ``algorithm='minibatch'``, stepwise EM on random mini-batches.
        ``warm_start=True`` continues from the fitted parameters while the
        number of components and features and the covariance type are
        unchanged; after such a change the fit starts afresh.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Training data.
        y : None
            Ignored.
        sample_weight : array-like or dask array of shape (n_samples,), \
                default=None
            {sample_weight_fit}

        Returns
        -------
        self : GaussianMixture
            The fitted estimator.
        """
        with naming_missing_option(self):
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
        y : None
            Ignored.
        sample_weight : array-like or dask array of shape (n_batch,), \
                default=None
            {sample_weight_partial_fit}

        Returns
        -------
        self : GaussianMixture
            The updated estimator.
        """
        with naming_missing_option(self):
            return self._partial_fit(X, y, sample_weight)

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most probable component of each sample.

        Equivalent to ``fit(X, sample_weight=sample_weight).predict(X)`` (one
        more pass over X).

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Training data.
        y : None
            Ignored.
        sample_weight : array-like or dask array of shape (n_samples,), \
                default=None
            As in :meth:`fit`.

        Returns
        -------
        labels : ndarray, dask array or DataArray of shape (n_samples,)
            Component labels.
        """
        return self.fit(X, y, sample_weight=sample_weight).predict(X)

    # ------------------------------------------------------------- the model
    def _model(self, n_features: int, *, fitting: bool = False) -> GaussianModel:
        return GaussianModel(
            n_components=self.n_components,
            covariance_type=self.covariance_type,
            reg_covar=self.reg_covar,
            init_params=self.init_params,
            tol=self.tol,
            user_init=self._check_user_init(n_features) if fitting else {},
            missing=self.missing,
        )

    def _structure(self, n_features: int) -> dict:
        return {
            "n_features": n_features,
            "n_components": self.n_components,
            "covariance_type": self.covariance_type,
        }

    # ------------------------------------------------------- initialisation
    def _check_user_init(self, n_features: int) -> dict:
        """Validated copies of the ``*_init`` arrays (never written back)."""
        K, cov_type = self.n_components, self.covariance_type
        # array-API arrays (cupy, torch...) are read on the host: they are tiny
        weights, means, precisions = (
            to_host(a) if is_device_array(a) else a
            for a in (self.weights_init, self.means_init, self.precisions_init)
        )
        user = {}
        if weights is not None:
            user["weights"] = check_weights(weights, K)
        if means is not None:
            user["means"] = check_means(means, K, n_features)
        if precisions is not None:
            user["precisions"] = check_precisions(precisions, cov_type, K, n_features)
        return user

    # ------------------------------------------------------------ attributes
    def _params(self) -> GaussianParams:
        def f64(a):
            return to_host(a).astype(np.float64, copy=False)

        return GaussianParams(
            self.covariance_type,
            f64(self.weights_),
            f64(self.means_),
            f64(self.covariances_),
            f64(self.precisions_cholesky_),
        )

    def _set_params(self, params: GaussianParams, dtype) -> None:
        dtype = float_dtype(dtype)
        self.weights_ = params.weights.astype(dtype)
        self.means_ = params.means.astype(dtype)
        self.covariances_ = params.covariances.astype(dtype)
        self.precisions_cholesky_ = params.precisions_cholesky.astype(dtype)
        self.precisions_ = precisions_from_cholesky(
            params.precisions_cholesky, self.covariance_type
        ).astype(dtype)

    def _n_parameters(self) -> int:
        return n_parameters(self.covariance_type, *self.means_.shape)

    # ---------------------------------------------------------- missing data
    def impute(self, X, *, sample: bool = False, random_state=None):
        """X with each missing entry (NaN) at its conditional expectation.

        ``sum_k p(k | x_o) E[x_m | x_o, k]`` under the fitted mixture, for
        the observed entries ``x_o`` and missing entries ``x_m`` of each
        row; observed entries are kept as they are. A row with no observed
        feature becomes the mixture mean ``sum_k w_k mu_k``. Whatever
        ``missing`` the mixture was fitted with; infinity is an error.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data with NaN where entries are missing.
        sample : bool, default=False
            Draw the missing entries of each row from their distribution
            given its observed entries instead: a component from
            ``p(k | x_o)``, then the conditional Gaussian of that component
            (a row with no observed feature: a draw from the mixture).
            Repeated with different ``random_state``, the draws are multiple
            imputations; their spread is that of the data, which the
            conditional expectation's is not.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws of ``sample=True``. A row's draws depend on the
            seed and the row's position only, not on the chunking.

        Returns
        -------
        X_imputed : ndarray, dask array or DataArray of shape (n_samples, n_features)
            In X's float dtype. Lazy for dask input; for a DataArray, a
            DataArray with X's dimensions and coordinates.
        """
        check_is_fitted(self)
        checked, info = check_X(self, X, reset=False, allow_nan=True)
        data = RowBlocks({"X": checked})
        model = self._model(data.n_features)
        seed = 0
        if sample:
            seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
        plan = make_plan(self._params(), data.dtype, marginalize=True, seed=seed)
        dtype = float_dtype(data.dtype)
        result = data.map_rows(
            draw_rows if sample else impute_rows,
            plan,
            model.tile_rows(data.n_features),
            data.n_features,
            kernel_dtype(dtype),
            allow_nan=True,
        )
        return wrap_like(result.astype(dtype, copy=False), X, info)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "marginalize"
        return tags
