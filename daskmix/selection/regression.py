"""RegressionMixtureIC: regression mixtures over K, gating and noise, by BIC/AIC/ICL."""

from __future__ import annotations

from numbers import Integral

from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._estimator.all_or_nothing import fit_all_or_nothing
from .._estimator.docstrings import fill_doc
from ..regression.families import FAMILIES, family
from ..regression.gates import GATINGS
from ..regression.mixture import INIT_METHODS, RegressionMixture
from ..regression.params import NOISE_MODELS
from ._base import DEFAULT_COMPONENTS, SAMPLE_WEIGHT_SELECTION, _as_options, _MixtureIC

#: the default gatings (a tuple: scikit-learn's checks want plain defaults)
DEFAULT_GATINGS = ("none", "logistic")


class RegressionMixtureIC(RegressorMixin, _MixtureIC):
    """Regression mixtures over a grid of K, gating and noise, best by BIC/AIC/ICL.

    Fits every candidate with batch EM in one sweep whose passes are shared,
    then keeps the candidate with the lowest criterion on the training data
    (ties: the one with fewer parameters; a degenerate candidate never beats
    one that is not). With one gating, each candidate's criterion uses the
    likelihood of the model it fits, as :meth:`daskmix.RegressionMixture.bic`
    does: ``log p(x, y)`` with ``gating='gaussian'``, ``log p(y | x)``
    otherwise. Those are not on one scale, so a grid that mixes the Gaussian
    gate with others compares every candidate on the conditional
    ``log p(y | x)`` (a gated model's gate parameters still counted), the
    likelihood of the regression all of them answer. With an integer
    ``random_state`` the chosen model equals a
    :class:`daskmix.RegressionMixture` fitted alone.

    The default grid, constant weights and a logistic gate scored by BIC on
    ``log p(y | x)``, was chosen by measurement
    (``benchmarks/bench_regression_selection.py``, the table in the user
    guide): it picks the true number of lines on crossing lines, parallel
    lines, a line and a parabola, and cluster-weighted data, where the
    Gaussian gate alone, scored on the joint likelihood, spends components on
    the shape of x (six for three crossing lines with x uniform).

    Parameters
    ----------
    n_components : int or iterable of int, default=(1, 2, ..., 10)
        Numbers of components (lines) to try.
    gating : str or iterable of str, default=('none', 'logistic')
        Gatings to try, among 'gaussian', 'none' and 'logistic' (see above).
    noise : str or iterable of str, default=('component', 'shared')
        Noise models to try (Gaussian family; the other families have no
        noise parameter and try the first only).
    family : {'gaussian', 'poisson', 'binomial'}, default='gaussian'
        The components' family, for every candidate.
    expert_features, gate_features, offset_feature, exposure_feature : \
            default=None
        As for :class:`daskmix.RegressionMixture`, for every candidate.
    criterion : {'bic', 'aic', 'icl'}, default='bic'
        The information criterion that chooses (lower is better).
    n_init : int, default=1
        Restarts per candidate.
    init_params : str, default='short-em'
        Start method of every candidate (see :class:`daskmix.RegressionMixture`).
    random_state : int, RandomState instance or None, default=None
        An int gives every candidate the start it would get alone.
    max_iter : int, default=100
        EM iterations per candidate at most.
    tol : float, default=1e-3
        Convergence threshold on the lower bound.
    reg_covar : float, default=1e-6
        Added to every gate covariance diagonal and noise variance.
    verbose : int, default=0
        1 or more prints a line per shared pass.
    algorithm : {'batch', 'minibatch'}, default='batch'
        'minibatch': every candidate is fitted by stepwise EM on the same
        mini-batches (each batch is read once for all of them); the criteria
        are then computed in one full pass.
    batch_size : int, default=8192
        Rows per mini-batch with ``algorithm='minibatch'``.

    Attributes
    ----------
    best_estimator_ : RegressionMixture
        The chosen candidate, fitted.
    n_components_ : int
        Its number of components.
    gating_ : str
        Its gating.
    noise_ : str
        Its noise model.
    criteria_ : pandas.DataFrame
        One row per candidate: ``n_components``, ``gating``, ``noise``,
        ``log_likelihood``, ``n_parameters``, ``bic``, ``aic``, ``icl``,
        ``n_iter``, ``converged``, ``degenerate`` and ``error`` (as in
        :class:`daskmix.GaussianMixtureIC`: a candidate's own numerical
        failure, warned about; data errors are raised). A degenerate
        candidate (components collapsed onto a few rows,
        :mod:`daskmix.regression.degenerate`) is never chosen over one that is
        not: its likelihood is a spike of an unbounded likelihood, and an
        information criterion would prefer it.
    best_index_ : int
        Row of the chosen candidate in ``criteria_``.
    n_iter_ : int
        EM iterations of the chosen candidate.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when X had string feature names.

    See Also
    --------
    daskmix.GaussianMixtureIC : The same for Gaussian mixtures.
    daskmix.metrics.log_likelihood_scorer : Held-out ``log p(y | x)`` for
        cross-validation.

    Examples
    --------
    >>> import numpy as np
    >>> from daskmix import RegressionMixtureIC
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-3, 3, (900, 1))
    >>> line = rng.integers(0, 3, 900)
    >>> y = np.array([2.0, -2.0, 0.5])[line] * x[:, 0] + 0.2 * rng.standard_normal(900)
    >>> selector = RegressionMixtureIC([1, 2, 3, 4], gating="none", random_state=0)
    >>> selector.fit(x, y).n_components_
    3
    """

    _parameter_constraints: dict = {
        **_MixtureIC._parameter_constraints,
        "gating": ["array-like", StrOptions(set(GATINGS))],
        "noise": ["array-like", StrOptions(set(NOISE_MODELS))],
        "family": [StrOptions(set(FAMILIES))],
        "expert_features": ["array-like", Integral, str, None],
        "gate_features": ["array-like", Integral, str, None],
        "offset_feature": [Integral, str, None],
        "exposure_feature": [Integral, str, None],
        "init_params": [StrOptions(set(INIT_METHODS))],
    }
    _estimator = RegressionMixture
    _grid_keys = ("n_components", "gating", "noise")

    def __init__(
        self,
        n_components=DEFAULT_COMPONENTS,
        *,
        gating=DEFAULT_GATINGS,
        noise=NOISE_MODELS,
        family: str = "gaussian",
        expert_features=None,
        gate_features=None,
        offset_feature=None,
        exposure_feature=None,
        criterion: str = "bic",
        n_init: int = 1,
        init_params: str = "short-em",
        random_state=None,
        max_iter: int = 100,
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        verbose: int = 0,
        algorithm: str = "batch",
        batch_size: int = 8192,
    ):
        self.n_components = n_components
        self.gating = gating
        self.noise = noise
        self.family = family
        self.expert_features = expert_features
        self.gate_features = gate_features
        self.offset_feature = offset_feature
        self.exposure_feature = exposure_feature
        self.criterion = criterion
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.verbose = verbose
        self.algorithm = algorithm
        self.batch_size = batch_size

    def _shared_params(self) -> dict:
        return {
            **super()._shared_params(),
            "family": self.family,
            "expert_features": self.expert_features,
            "gate_features": self.gate_features,
            "offset_feature": self.offset_feature,
            "exposure_feature": self.exposure_feature,
        }

    def _grid(self) -> list[dict]:
        gatings = _as_options(self.gating, "gating", GATINGS)
        noises = _as_options(self.noise, "noise", NOISE_MODELS)
        if not family(self.family).has_noise:
            noises = noises[:1]
        return [
            {"n_components": k, "gating": gating, "noise": noise}
            for gating in gatings
            for noise in noises
            for k in self._checked_components
        ]

    def _score_kernel(self) -> str:
        if len(set(_as_options(self.gating, "gating"))) > 1:
            return "conditional_score_kernel"
        return "score_kernel"

    @fit_all_or_nothing
    @_fit_context(prefer_skip_nested_validation=True)
    @fill_doc(sample_weight=SAMPLE_WEIGHT_SELECTION)
    def fit(self, X, y=None, sample_weight=None):
        """Fit every candidate in a shared sweep and keep the best.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Targets.
        sample_weight : array-like or dask array of shape (n_samples,), optional
            {sample_weight}

        Returns
        -------
        self : RegressionMixtureIC
            The fitted selector.
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        self._sweep(X, y, sample_weight=sample_weight)
        self.gating_ = self.best_estimator_.gating
        self.noise_ = self.best_estimator_.noise
        return self

    def predict(self, X, return_std: bool = False):
        """Conditional mean of y given x under the chosen model.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.
        return_std : bool, default=False
            Also return the standard deviation of ``p(y | x)``.

        Returns
        -------
        y_mean : ndarray, dask array or DataArray of shape (n_samples,)
            Predictions.
        y_std : ndarray, dask array or DataArray of shape (n_samples,)
            Only with ``return_std=True``.
        """
        check_is_fitted(self)
        return self.best_estimator_.predict(X, return_std=return_std)

    def component_proba(self, X, y=None):
        """Component probabilities under the chosen model.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.
        y : array-like of shape (n_samples,), optional
            With targets, the posterior of each line given the point.

        Returns
        -------
        proba : ndarray, dask array or DataArray of shape (n_samples, n_components_)
            ``p(k | x)``, or ``p(k | x, y)`` with y.
        """
        check_is_fitted(self)
        return self.best_estimator_.component_proba(X, y)

    def score(self, X, y, sample_weight=None) -> float:
        """R^2 of the chosen model's predictions (the regressor contract).

        R^2 measures the mixture mean only and must not be used to choose K;
        the criteria of ``criteria_`` (or held-out log-likelihood,
        :func:`daskmix.metrics.log_likelihood_scorer`) do that.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.
        y : array-like of shape (n_samples,)
            Targets.
        sample_weight : array-like of shape (n_samples,), optional
            Weights.

        Returns
        -------
        score : float
            R^2.
        """
        check_is_fitted(self)
        return self.best_estimator_.score(X, y, sample_weight=sample_weight)
