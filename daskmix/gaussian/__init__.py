"""Gaussian mixtures: parameters, kernels, starts and the estimators."""

from .mixture import GaussianMixture
from .variational.mixture import BayesianGaussianMixture

__all__ = ["BayesianGaussianMixture", "GaussianMixture"]
