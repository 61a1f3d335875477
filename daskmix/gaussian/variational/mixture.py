"""BayesianGaussianMixture: scikit-learn's variational estimator, on dask."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..._engine.namespaces import to_host
from ..._engine.rows import RowBlocks
from ..._estimator.base import BaseMixture, float_dtype
from ..covariance import VARIATIONAL_TYPES, covariance
from ..outputs import GaussianOutputs
from ..params import GaussianParams, precisions_from_cholesky
from .model import BayesianModel
from .posterior import PRIOR_TYPES, BayesianParams, Priors
from .starts import data_priors

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")


class BayesianGaussianMixture(GaussianOutputs, BaseMixture):
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

    See Also
    --------
    sklearn.mixture.BayesianGaussianMixture : The estimator this one replaces.
    daskmix.GaussianMixture : Maximum-likelihood mixtures on the same engine.

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

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from daskmix import BayesianGaussianMixture
    >>> X, _ = make_blobs(1000, centers=[[0, 0], [6, 6]], random_state=0)
    >>> model = BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    >>> model.means_[model.means_[:, 0].argsort()].round(0) + 0.0
    array([[0., 0.],
           [6., 6.]])
    """

    _supports_array_api = True

    _parameter_constraints: dict = {
        **BaseMixture._parameter_constraints,
        "covariance_type": [StrOptions(set(VARIATIONAL_TYPES))],
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

    #: a variational posterior has no likelihood for BIC, AIC or ICL
    _has_information_criteria = False

    # ------------------------------------------------------------- the model
    def _prepare_fit(self, data: RowBlocks) -> None:
        """Fill in the data-dependent priors (one pass when not given)."""
        self._check_parameters(data)
        self._n_fit_rows = data.n_samples

    def _model(self, n_features: int, *, fitting: bool = False) -> BayesianModel:
        minibatch_fit = fitting and self.algorithm == "minibatch"
        return BayesianModel(
            n_components=self.n_components,
            covariance_type=self.covariance_type,
            reg_covar=self.reg_covar,
            priors=self._priors(),
            init_params=self.init_params,
            n_total=getattr(self, "_n_fit_rows", None) if minibatch_fit else None,
        )

    def _structure(self, n_features: int) -> dict:
        return {
            "n_features": n_features,
            "n_components": self.n_components,
            "covariance_type": self.covariance_type,
            "weight_concentration_prior_type": self.weight_concentration_prior_type,
        }

    def _n_parameters(self) -> int:
        raise AttributeError("a variational posterior has no information criteria")

    # ------------------------------------------------------- priors, start
    def _check_parameters(self, X) -> Priors:
        """Validate the priors, fill in the data-dependent ones, set ``*_prior_``.

        The mean and covariance of X, when needed, take one pass.
        """
        data = X if isinstance(X, RowBlocks) else RowBlocks({"X": np.asarray(X)})
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
            to_host(self.mean_prior_).astype(np.float64),
            self.degrees_of_freedom_prior_,
            covariance(self.covariance_type).as_prior(to_host(self.covariance_prior_)),
            self.covariance_type,
        )

    def _initialize_parameters(self, X, random_state) -> None:
        """Set the parameters of the first M-step (scikit-learn's hook).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        random_state : RandomState
        """
        data = RowBlocks({"X": np.asarray(X)})
        params = self._model(data.n_features).initialize(data, random_state)
        self._set_params(params, data.dtype)

    # ------------------------------------------------------------ attributes
    def _params(self) -> BayesianParams:
        def f64(a):
            return to_host(a).astype(np.float64, copy=False)

        def host(a):
            return tuple(map(host, a)) if isinstance(a, tuple) else to_host(a)

        gaussian = GaussianParams(
            self.covariance_type,
            f64(self.weights_),
            f64(self.means_),
            f64(self.covariances_),
            f64(self.precisions_cholesky_),
        )
        return BayesianParams(
            gaussian,
            host(self.weight_concentration_),
            host(self.mean_precision_),
            host(self.degrees_of_freedom_),
        )

    def _gaussian_params(self) -> GaussianParams:
        return self._params().gaussian

    def _set_params(self, params: BayesianParams, dtype) -> None:
        dtype = float_dtype(dtype)
        gaussian = params.gaussian
        self.weight_concentration_ = params.weight_concentration
        self.mean_precision_ = params.mean_precision
        self.degrees_of_freedom_ = params.degrees_of_freedom
        self.weights_ = gaussian.weights.astype(dtype)
        self.means_ = gaussian.means.astype(dtype)
        self.covariances_ = gaussian.covariances.astype(dtype)
        self.precisions_cholesky_ = gaussian.precisions_cholesky.astype(dtype)
        self.precisions_ = precisions_from_cholesky(
            gaussian.precisions_cholesky, self.covariance_type
        ).astype(dtype)
