"""Per-row outputs and sampling shared by the Gaussian mixture estimators."""

from __future__ import annotations

import numpy as np
from sklearn.base import DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._engine.namespaces import like
from .._estimator.outputs import check_same_namespace
from .._estimator.validation import check_n_samples
from .kernels import label_rows, proba_rows, score_rows
from .params import GaussianParams
from .sampling import sample_mixture


class GaussianOutputs(DensityMixin):
    """``predict``, ``predict_proba``, ``score_samples``, ``score``, ``sample``.

    For a :class:`~daskmix._estimator.base.BaseMixture` whose model's plan is a
    Gaussian kernel plan (GaussianMixture, and BayesianGaussianMixture with
    the variational expectations folded in).
    """

    def _gaussian_params(self) -> GaussianParams:
        """The mixture that ``sample`` draws from."""
        return self._params()

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

    def predict(self, X):
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.

        Returns
        -------
        labels : ndarray, dask array or DataArray of shape (n_samples,)
            Component labels. Lazy for dask input; along the sample dimension
            for xarray input.
        """
        check_same_namespace(self, X, "predict")
        return self._map_rows(self._fitted_rows(X), label_rows, None, "label", np.int64)

    def predict_proba(self, X):
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.

        Returns
        -------
        resp : ndarray, dask array or DataArray of shape (n_samples, n_components)
            ``p(k | x)``. For xarray input, dims (sample dim, ``component``).
        """
        check_same_namespace(self, X, "predict_proba")
        return self._map_rows(
            self._fitted_rows(X), proba_rows, self.n_components, "probability"
        )

    def score_samples(self, X):
        """Log-likelihood ``log p(x)`` of each sample.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.

        Returns
        -------
        log_prob : ndarray, dask array or DataArray of shape (n_samples,)
            Log-density of each sample under the mixture.
        """
        check_same_namespace(self, X, "score_samples")
        return self._map_rows(self._fitted_rows(X), score_rows, None, "log_likelihood")

    def score(self, X, y=None) -> float:
        """Mean log-likelihood of the samples of X (computed, also for dask).

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
            Mean of ``log p(x)`` over the samples.
        """
        check_same_namespace(self, X, "score")
        loglik, n_samples = self._total_loglik(X)
        return loglik / n_samples

    def sample(self, n_samples: int = 1):
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to draw, at least 1 (a float is truncated, as
            scikit-learn's ``GaussianMixture.sample`` does).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The samples, grouped by component; float64 whatever the dtype of
            the fitted attributes, as in scikit-learn. In the namespace and on
            the device of the fitted attributes (those of the training data for
            array-API input, such as cupy or torch arrays).
        y : ndarray of shape (n_samples,)
            Component of each sample, sorted.
        """
        check_is_fitted(self)
        X, labels = sample_mixture(
            self._gaussian_params(),
            check_n_samples(n_samples),
            check_random_state(self.random_state),
        )
        # fitted on array-API input: the samples where the parameters live
        return like(X, self.means_), like(labels, self.means_)
