"""Gaussian mixtures: parameters, kernels, starts and the estimators."""

from .bayesian_mixture import BayesianGaussianMixture
from .mixture import GaussianMixture

__all__ = ["BayesianGaussianMixture", "GaussianMixture"]
