"""Choosing the model: fit a grid of mixtures in shared passes, keep the best.

:class:`GaussianMixtureIC` and :class:`RegressionMixtureIC` fit every
candidate of a grid with one sweep that reads the data once per EM iteration
(:func:`daskmix._em.sweep.fit_sweep`) and keep the lowest information
criterion. To choose by held-out data instead, use
:func:`daskmix.metrics.log_likelihood_scorer` in ``GridSearchCV``.
"""

from .gaussian import GaussianMixtureIC
from .regression import RegressionMixtureIC

__all__ = ["GaussianMixtureIC", "RegressionMixtureIC"]
