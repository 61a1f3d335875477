"""Scorers for model selection by cross-validation."""

from __future__ import annotations

from sklearn.pipeline import Pipeline


def _final_step(estimator, X):
    """The last step of a pipeline and X transformed by the steps before it."""
    while isinstance(estimator, Pipeline):
        for _, step in estimator.steps[:-1]:
            if step is not None and step != "passthrough":
                X = step.transform(X)
        estimator = estimator.steps[-1][1]
    return estimator, X


def log_likelihood_scorer(estimator, X, y=None) -> float:
    """Mean held-out log-likelihood: a scorer for ``GridSearchCV`` and friends.

    ``mean log p(x)`` for a density (GaussianMixture and every estimator whose
    ``score_samples`` takes X alone), ``mean log p(y | x)`` for a
    RegressionMixture (its conditional density, whatever the gating). Higher
    is better, as scikit-learn's scorers are. Works for numpy, pandas, dask
    (computed) and xarray inputs and for a Pipeline ending in a mixture.

    Unlike ``RegressionMixture.score`` (R^2 of the mixture mean, which cannot
    see how many lines there are), this scorer chooses the number of
    components: pass it as ``scoring=log_likelihood_scorer``.

    Parameters
    ----------
    estimator : estimator
        Fitted; a daskmix mixture or a Pipeline ending in one.
    X : array-like, dask array, DataFrame or DataArray of shape \
            (n_samples, n_features)
        Held-out data.
    y : array-like of shape (n_samples,), optional
        Held-out targets (required for a RegressionMixture).

    Returns
    -------
    score : float
        Mean log-likelihood of the held-out rows.

    Raises
    ------
    TypeError
        If the estimator (or a Pipeline's last step) has no ``score_samples``
        (KMeans, a classifier): it has no likelihood to score. scikit-learn's
        searches turn a scorer's error into a NaN score and a warning by
        default, and then pick among NaN scores; pass
        ``error_score='raise'`` to ``GridSearchCV`` to get the error itself.

    See Also
    --------
    daskmix.GaussianMixtureIC : Choose K by BIC, AIC or ICL on training data.
    daskmix.RegressionMixtureIC : The same for regression mixtures.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from sklearn.model_selection import GridSearchCV
    >>> from daskmix import GaussianMixture
    >>> from daskmix.metrics import log_likelihood_scorer
    >>> X, _ = make_blobs(600, centers=3, random_state=0)
    >>> search = GridSearchCV(
    ...     GaussianMixture(random_state=0),
    ...     {"n_components": [1, 2, 3, 4]},
    ...     scoring=log_likelihood_scorer,
    ... ).fit(X)
    >>> search.best_params_["n_components"]
    3
    """
    final, Xt = _final_step(estimator, X)
    if not callable(getattr(final, "score_samples", None)):
        raise TypeError(
            f"log_likelihood_scorer needs an estimator with a score_samples method "
            f"(a mixture's log-likelihood of each sample); "
            f"{type(final).__name__} has none. Score it with one of its own "
            "metrics instead."
        )
    if getattr(final, "_requires_y", False):
        if y is None:
            raise ValueError(
                "log_likelihood_scorer needs y for a regression mixture: it scores "
                "log p(y | x)."
            )
        log_prob = final.score_samples(Xt, y)
    else:
        log_prob = final.score_samples(Xt)
    # numpy, dask (float() computes the lazy mean) or xarray alike
    return float(log_prob.mean())
