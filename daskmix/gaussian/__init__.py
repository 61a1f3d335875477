"""Gaussian mixtures: parameters, kernels, starts and the estimator."""

from .mixture import GaussianMixture

__all__ = ["GaussianMixture"]
