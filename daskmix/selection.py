"""Choosing the model: fit a grid of mixtures in shared passes, keep the best.

:class:`GaussianMixtureIC` and :class:`RegressionMixtureIC` fit every
candidate of a grid (numbers of components times covariance types, or times
gating and noise models) with one sweep that reads the data once per EM
iteration (:func:`daskmix._core.sweep.fit_sweep`), score the fitted
candidates on the training data in one more shared pass, and keep the one
with the lowest information criterion (BIC, AIC or ICL; ties go to the
smaller model). Information criteria belong on the training data; to choose
K by held-out data instead, use :func:`daskmix.metrics.log_likelihood_scorer`
in ``GridSearchCV``.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import pandas as pd
from sklearn.base import BaseEstimator, DensityMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._core.base import BaseMixture
from ._core.stepwise import clip_batch_size, record_stepwise, schedule_of
from ._core.sweep import fit_sweep, fit_sweep_stepwise, score_candidates
from .gaussian.mixture import INIT_METHODS as GAUSSIAN_INITS
from .gaussian.mixture import GaussianMixture
from .gaussian.params import COVARIANCE_TYPES
from .regression.mixture import INIT_METHODS as REGRESSION_INITS
from .regression.mixture import RegressionMixture
from .regression.params import GATINGS, NOISE_MODELS

CRITERIA = ("bic", "aic", "icl")
#: K = 1..10 (a tuple: scikit-learn's checks want defaults of plain types)
DEFAULT_COMPONENTS = tuple(range(1, 11))


def _as_options(value, name: str, allowed=None) -> list:
    """A grid axis as a list: one value, or an iterable of them; checked."""
    options = [value] if isinstance(value, (str, Integral)) else list(value)
    if not options:
        raise ValueError(f"{name} is an empty grid: give at least one value.")
    if allowed is not None:
        unknown = [option for option in options if option not in allowed]
        if unknown:
            raise ValueError(
                f"{name} has unknown value(s) {unknown}; expected values among "
                f"{list(allowed)}."
            )
    return options


def _check_components(n_components, n_samples: int) -> list[int]:
    options = _as_options(n_components, "n_components")
    for k in options:
        if not isinstance(k, Integral) or isinstance(k, bool) or k < 1:
            raise ValueError(
                f"n_components must hold integers >= 1; got {k!r} in {options}."
            )
        if k > n_samples:
            raise ValueError(
                f"n_components={k} is larger than n_samples={n_samples}: every "
                "component needs at least one sample."
            )
    return [int(k) for k in options]


class _MixtureIC(BaseEstimator):
    """The sweep, the criteria table and the delegation, for both families."""

    _parameter_constraints: dict = {
        "n_components": ["array-like", Interval(Integral, 1, None, closed="left")],
        "criterion": [StrOptions(set(CRITERIA))],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "verbose": ["verbose"],
        "algorithm": [StrOptions({"batch", "minibatch"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    #: the estimator class the candidates are
    _estimator: type[BaseMixture]

    def _grid(self) -> list[dict]:
        """The candidates' own parameters (besides the shared ones)."""
        raise NotImplementedError

    def _shared_params(self) -> dict:
        return {
            "algorithm": self.algorithm,
            "batch_size": self.batch_size,
            "n_init": self.n_init,
            "init_params": self.init_params,
            "random_state": self.random_state,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "reg_covar": self.reg_covar,
        }

    def _sweep(self, X, y=None):
        probe = self._estimator(**self._shared_params())
        data, _ = probe._validate(X, y, reset=True, ensure_min_samples=2)
        self.n_features_in_ = probe.n_features_in_
        if hasattr(probe, "feature_names_in_"):
            self.feature_names_in_ = probe.feature_names_in_
        self._checked_components = _check_components(self.n_components, data.n_samples)
        candidates = [
            self._estimator(**grid_point, **self._shared_params())
            for grid_point in self._grid()
        ]
        models = [c._model(data.n_features, fitting=True) for c in candidates]
        if self.algorithm == "minibatch":
            results = fit_sweep_stepwise(
                models,
                data,
                batch_size=clip_batch_size(self.batch_size, data.n_samples),
                schedule=schedule_of(candidates[0]),
                n_init=self.n_init,
                max_iter=self.max_iter,
                random_state=self.random_state,
            )
        else:
            results = fit_sweep(
                models,
                data,
                n_init=self.n_init,
                max_iter=self.max_iter,
                tol=self.tol,
                random_state=self.random_state,
                verbose=self.verbose,
            )
        fitted = [i for i, r in enumerate(results) if r.result is not None]
        if not fitted:
            raise ValueError(
                "Every candidate failed; the first error: " + str(results[0].error)
            )
        scores = score_candidates(
            [models[i] for i in fitted],
            [results[i].result.params for i in fitted],
            data,
            self._score_kernel(),
        )
        rows = []
        score_of = dict(zip(fitted, scores))
        for index, (candidate, result) in enumerate(zip(candidates, results)):
            row = {name: getattr(candidate, name) for name in self._grid_keys}
            if result.result is None:
                row.update(error=result.error)
                rows.append(row)
                continue
            candidate._set_params(result.result.params, data.dtype)
            candidate.n_features_in_ = self.n_features_in_
            if hasattr(self, "feature_names_in_"):
                candidate.feature_names_in_ = self.feature_names_in_
            candidate._fitted_structure = candidate._structure(data.n_features)
            fit_result = result.result
            if self.algorithm == "minibatch":
                record_stepwise(
                    candidate,
                    fit_result.state,
                    fit_result.lower_bound,
                    fit_result.n_iter,
                    fit_result.converged,
                )
            else:
                candidate.converged_ = fit_result.converged
                candidate.n_iter_ = fit_result.n_iter
                candidate.lower_bound_ = fit_result.lower_bound
                candidate.lower_bounds_ = fit_result.lower_bounds
                candidate.n_steps_ = 0
                candidate._stepwise_state = None
            stats = score_of[index]
            loglik = float(stats["loglik"])
            n_params = candidate._n_parameters()
            bic = -2.0 * loglik + n_params * math.log(float(stats["n_rows"]))
            row.update(
                log_likelihood=loglik,
                n_parameters=n_params,
                bic=bic,
                aic=-2.0 * loglik + 2.0 * n_params,
                icl=bic + 2.0 * float(stats["entropy"]),
                n_iter=result.result.n_iter,
                converged=result.result.converged,
                error=None,
            )
            rows.append(row)
        table = pd.DataFrame(rows)
        ranked = sorted(
            fitted,
            key=lambda i: (rows[i][self.criterion], rows[i]["n_parameters"], i),
        )
        best = ranked[0]
        not_converged = [
            i for i in fitted if not results[i].result.converged and self.max_iter > 0
        ]
        if best in not_converged:
            warnings.warn(
                "The chosen candidate did not converge. Increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.best_estimator_ = candidates[best]
        self.best_index_ = best
        self.criteria_ = table
        self.n_components_ = candidates[best].n_components
        self.n_iter_ = candidates[best].n_iter_
        return self

    def _score_kernel(self) -> str:
        """The models' kernel attribute that scores the candidates."""
        return "score_kernel"

    # ---------------------------------------------------------- delegation
    def score_samples(self, X, y=None):
        """Per-sample log-likelihood under the chosen model.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.
        y : array-like of shape (n_samples,), optional
            Targets (regression mixtures).

        Returns
        -------
        log_prob : ndarray, dask array or DataArray of shape (n_samples,)
            ``best_estimator_.score_samples``.
        """
        check_is_fitted(self)
        if y is None:
            return self.best_estimator_.score_samples(X)
        return self.best_estimator_.score_samples(X, y)

    def sample(self, n_samples: int = 1):
        """Draw samples from the chosen model.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.

        Returns
        -------
        samples : tuple of ndarray
            As ``best_estimator_.sample``.
        """
        check_is_fitted(self)
        return self.best_estimator_.sample(n_samples)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class GaussianMixtureIC(DensityMixin, _MixtureIC):
    """Gaussian mixtures over a grid of K and covariance types, best by BIC/AIC/ICL.

    Fits every candidate with batch EM in one sweep whose passes are shared
    (each pass runs the E-steps of all candidates still iterating on each
    block while it is in memory), then keeps the candidate with the lowest
    criterion on the training data (ties: the one with fewer parameters). With
    an integer ``random_state`` the chosen model equals a
    :class:`daskmix.GaussianMixture` fitted alone with the same parameters.

    Parameters
    ----------
    n_components : int or iterable of int, default=(1, 2, ..., 10)
        Numbers of components to try.
    covariance_type : str or iterable of str, \
            default=('full', 'tied', 'diag', 'spherical')
        Covariance types to try.
    criterion : {'bic', 'aic', 'icl'}, default='bic'
        The information criterion that chooses (lower is better).
    n_init : int, default=1
        Restarts per candidate.
    init_params : str, default='kmeans'
        Start method of every candidate (see :class:`daskmix.GaussianMixture`).
    random_state : int, RandomState instance or None, default=None
        An int gives every candidate the start it would get alone.
    max_iter : int, default=100
        EM iterations per candidate at most.
    tol : float, default=1e-3
        Convergence threshold on the lower bound.
    reg_covar : float, default=1e-6
        Added to every covariance diagonal.
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
    best_estimator_ : GaussianMixture
        The chosen candidate, fitted.
    n_components_ : int
        Its number of components.
    covariance_type_ : str
        Its covariance type.
    criteria_ : pandas.DataFrame
        One row per candidate: ``n_components``, ``covariance_type``,
        ``log_likelihood`` (total, training data, fitted parameters),
        ``n_parameters``, ``bic``, ``aic``, ``icl``, ``n_iter``, ``converged``
        and ``error`` (the message of a candidate that failed, else None).
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
    daskmix.metrics.log_likelihood_scorer : Held-out log-likelihood for
        cross-validation.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from daskmix import GaussianMixtureIC
    >>> X, _ = make_blobs(600, centers=3, random_state=0)
    >>> GaussianMixtureIC(n_components=range(1, 6), random_state=0).fit(X).n_components_
    3
    """

    _parameter_constraints: dict = {
        **_MixtureIC._parameter_constraints,
        "covariance_type": ["array-like", StrOptions(set(COVARIANCE_TYPES))],
        "init_params": [StrOptions(set(GAUSSIAN_INITS))],
    }
    _estimator = GaussianMixture
    _grid_keys = ("n_components", "covariance_type")

    def __init__(
        self,
        n_components=DEFAULT_COMPONENTS,
        *,
        covariance_type=COVARIANCE_TYPES,
        criterion: str = "bic",
        n_init: int = 1,
        init_params: str = "kmeans",
        random_state=None,
        max_iter: int = 100,
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        verbose: int = 0,
        algorithm: str = "batch",
        batch_size: int = 8192,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
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

    def _grid(self) -> list[dict]:
        types = _as_options(self.covariance_type, "covariance_type", COVARIANCE_TYPES)
        return [
            {"n_components": k, "covariance_type": t}
            for t in types
            for k in self._checked_components
        ]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit every candidate in a shared sweep and keep the best.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : GaussianMixtureIC
            The fitted selector.
        """
        self._sweep(X)
        self.covariance_type_ = self.best_estimator_.covariance_type
        return self

    def predict(self, X):
        """Most probable component of each sample under the chosen model.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.

        Returns
        -------
        labels : ndarray, dask array or DataArray of shape (n_samples,)
            Component labels.
        """
        check_is_fitted(self)
        return self.best_estimator_.predict(X)

    def predict_proba(self, X):
        """Component probabilities under the chosen model.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.

        Returns
        -------
        resp : ndarray, dask array or DataArray of shape (n_samples, n_components_)
            ``p(k | x)``.
        """
        check_is_fitted(self)
        return self.best_estimator_.predict_proba(X)

    def score(self, X, y=None) -> float:
        """Mean log-likelihood of X under the chosen model.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.
        y : None
            Ignored.

        Returns
        -------
        log_likelihood : float
            Mean of ``log p(x)``.
        """
        check_is_fitted(self)
        return self.best_estimator_.score(X)


class RegressionMixtureIC(RegressorMixin, _MixtureIC):
    """Regression mixtures over a grid of K, gating and noise, best by BIC/AIC/ICL.

    Fits every candidate with batch EM in one sweep whose passes are shared,
    then keeps the candidate with the lowest criterion on the training data
    (ties: the one with fewer parameters). With one gating, each candidate's
    criterion uses the likelihood of the model it fits, as
    :meth:`daskmix.RegressionMixture.bic` does: ``log p(x, y)`` with
    ``gating='gaussian'``, ``log p(y | x)`` with ``gating='none'``. Those two
    are not on one scale, so a grid that mixes gatings compares every
    candidate on the conditional ``log p(y | x)`` (a gated model's gate
    parameters still counted), the likelihood of the regression both models
    answer. With an integer ``random_state`` the chosen model equals a
    :class:`daskmix.RegressionMixture` fitted alone.

    Parameters
    ----------
    n_components : int or iterable of int, default=(1, 2, ..., 10)
        Numbers of components (lines) to try.
    gating : str or iterable of str, default='gaussian'
        Gatings to try, among 'gaussian' and 'none' (see above).
    noise : str or iterable of str, default=('component', 'shared')
        Noise models to try.
    criterion : {'bic', 'aic', 'icl'}, default='bic'
        The information criterion that chooses (lower is better).
    n_init : int, default=1
        Restarts per candidate.
    init_params : str, default='kmeans'
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
        ``n_iter``, ``converged`` and ``error``.
    best_index_ : int
        Row of the chosen candidate in ``criteria_``.
    n_iter_ : int
        EM iterations of the chosen candidate.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when X had string feature names.
    """

    _parameter_constraints: dict = {
        **_MixtureIC._parameter_constraints,
        "gating": ["array-like", StrOptions(set(GATINGS))],
        "noise": ["array-like", StrOptions(set(NOISE_MODELS))],
        "init_params": [StrOptions(set(REGRESSION_INITS))],
    }
    _estimator = RegressionMixture
    _grid_keys = ("n_components", "gating", "noise")

    def __init__(
        self,
        n_components=DEFAULT_COMPONENTS,
        *,
        gating="gaussian",
        noise=NOISE_MODELS,
        criterion: str = "bic",
        n_init: int = 1,
        init_params: str = "kmeans",
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

    def _grid(self) -> list[dict]:
        gatings = _as_options(self.gating, "gating", GATINGS)
        noises = _as_options(self.noise, "noise", NOISE_MODELS)
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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit every candidate in a shared sweep and keep the best.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Targets.

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
        self._sweep(X, y)
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
