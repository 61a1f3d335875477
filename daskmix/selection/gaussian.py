"""GaussianMixtureIC: Gaussian mixtures over K and covariance types, by BIC/AIC/ICL."""

from __future__ import annotations

import pandas as pd
from sklearn.base import DensityMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._estimator.all_or_nothing import fit_all_or_nothing
from .._estimator.docstrings import fill_doc
from .._estimator.outputs import check_same_namespace
from ..gaussian.covariance import COVARIANCE_TYPES, DEFAULT_GRID
from ..gaussian.mixture import INIT_METHODS, GaussianMixture
from ._base import DEFAULT_COMPONENTS, SAMPLE_WEIGHT_SELECTION, _as_options, _MixtureIC


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
        Covariance types to try: scikit-learn's names and mclust's 14 models
        (``'EII'`` ... ``'VVV'``, see :class:`daskmix.GaussianMixture`), mixed
        as wished; :meth:`bic_table` shows the criteria as mclust does.
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
    missing : {'error', 'marginalize'}, default='error'
        What a NaN in X is, for every candidate (see
        :class:`daskmix.GaussianMixture`). With 'marginalize' the criteria
        use the observed-data log-likelihood (the marginal of each row's
        observed entries) and count the same parameters as without gaps:
        missing entries are integrated out, not estimated. ``n`` in BIC and
        ICL counts the rows with an observed feature.

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
        ``n_parameters``, ``bic``, ``aic``, ``icl``, ``n_iter``, ``converged``,
        ``degenerate`` (the model's collapsed-component rule; a degenerate
        candidate is never chosen over one that is not) and ``error``: why a
        candidate failed (its own numerics: an
        ill-defined covariance in its start or M-step), else None. A fit with
        failed candidates warns with their number and reasons; an error
        reading or computing the data is raised, never recorded here, and
        leaves the selector as it was.
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
        "init_params": [StrOptions(set(INIT_METHODS))],
        "missing": [StrOptions({"error", "marginalize"})],
    }
    _estimator = GaussianMixture
    _grid_keys = ("n_components", "covariance_type")

    def __init__(
        self,
        n_components=DEFAULT_COMPONENTS,
        *,
        covariance_type=DEFAULT_GRID,
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
        missing: str = "error",
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
        self.missing = missing

    def _shared_params(self) -> dict:
        return {**super()._shared_params(), "missing": self.missing}

    def _grid(self) -> list[dict]:
        types = _as_options(self.covariance_type, "covariance_type", COVARIANCE_TYPES)
        return [
            {"n_components": k, "covariance_type": t}
            for t in types
            for k in self._checked_components
        ]

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
        y : None
            Ignored.
        sample_weight : array-like or dask array of shape (n_samples,), optional
            {sample_weight}

        Returns
        -------
        self : GaussianMixtureIC
            The fitted selector.
        """
        self._sweep(X, sample_weight=sample_weight)
        self.covariance_type_ = self.best_estimator_.covariance_type
        return self

    def bic_table(self) -> pd.DataFrame:
        """BIC of every candidate as mclust shows it: K by covariance model.

        mclust's sign convention, ``BIC = 2 log L - p log n``: minus
        :attr:`criteria_`'s ``bic`` (higher is better). Models in the order
        they were tried; a candidate that failed is NaN, as mclust's are NA.
        With ``sample_weight``, ``log L`` and ``n`` are the weighted ones of
        ``criteria_``.

        Returns
        -------
        table : pandas.DataFrame
            One row per number of components (the index, ``n_components``)
            and one column per covariance type.
        """
        check_is_fitted(self)
        criteria = self.criteria_.drop_duplicates(["n_components", "covariance_type"])
        table = criteria.pivot(
            index="n_components", columns="covariance_type", values="bic"
        )
        types = list(dict.fromkeys(self.criteria_["covariance_type"]))
        table = -table.reindex(columns=types)
        table.columns.name = None
        return table

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
        check_same_namespace(self, X, "predict", fitted=self.best_estimator_)
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
        check_same_namespace(self, X, "predict_proba", fitted=self.best_estimator_)
        return self.best_estimator_.predict_proba(X)

    def impute(self, X):
        """X with each missing entry at its conditional expectation, chosen model.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data with NaN where entries are missing.

        Returns
        -------
        X_imputed : ndarray, dask array or DataArray of shape (n_samples, n_features)
            ``best_estimator_.impute(X)``.
        """
        check_is_fitted(self)
        check_same_namespace(self, X, "impute", fitted=self.best_estimator_)
        return self.best_estimator_.impute(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "marginalize"
        # every candidate is a GaussianMixture, which fits where the data live
        tags.array_api_support = True
        return tags

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
        check_same_namespace(self, X, "score", fitted=self.best_estimator_)
        return self.best_estimator_.score(X)
