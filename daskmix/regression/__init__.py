"""Mixtures of linear regressions and cluster-weighted models."""

from .mixture import RegressionMixture

__all__ = ["RegressionMixture"]
