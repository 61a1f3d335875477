"""mclust's 14 covariance models, each on the form whose shapes it has.

A model reuses its form's E-step, statistics and stepwise re-framing, and
overrides two things: the M-step estimate (the form's unconstrained estimate
gives each component's weighted scatter ``W_k = n_k S_k``; the constraint
then applies, :mod:`.constraints`; ``reg_covar`` is added last) and the
number of free covariance parameters (mclust's ``nVarParams``, so that BIC
and AIC count as mclust counts). Four models are scikit-learn's types under
mclust's name: VII is ``'spherical'``, VVI ``'diag'``, EEE ``'tied'`` and VVV
``'full'``.
"""

from __future__ import annotations

import numpy as np

from .base import StatsFrame
from .constraints import (
    common_axes,
    common_eigenvalues,
    common_orientation,
    equal_volume,
    from_eigen,
    positive_part,
    proportional,
    sorted_eigh,
    varying_volume,
)
from .matrix import Full, Tied
from .vector import Diag, Spherical


def _orientation_count(n_components: int, n_features: int) -> float:
    """Free parameters of ``n_components`` orientations: ``K d (d - 1) / 2``."""
    return n_components * n_features * (n_features - 1) / 2.0


# ------------------------------------------------------------ spherical form
class EII(Spherical):
    """One variance for every component and feature: ``Sigma_k = lambda I``.

    ``lambda = sum_k tr(W_k) / (n d)``; ``covariances_`` (K,), all equal.
    """

    name = "EII"

    def n_covariance_parameters(self, n_components, n_features):
        return 1

    def _estimate(self, stats, nk, frame, reg_covar):
        means, variances = super()._estimate(stats, nk, frame, 0.0)
        pooled = nk @ variances / nk.sum()
        return means, np.full_like(variances, pooled) + reg_covar


class VII(Spherical):
    """``Sigma_k = lambda_k I``: scikit-learn's ``'spherical'``."""

    name = "VII"


# ------------------------------------------------------------- diagonal form
class _DiagModel(Diag):
    """A diagonal-form model: a constraint on the diagonals of the ``W_k``."""

    def _estimate(self, stats, nk, frame, reg_covar):
        means, variances = super()._estimate(stats, nk, frame, 0.0)
        return means, self._constrain(nk[:, None] * variances, nk) + reg_covar

    def _constrain(self, diagonals: np.ndarray, nk: np.ndarray) -> np.ndarray:
        """Covariance diagonals (K, d) from the scatter diagonals (K, d)."""
        raise NotImplementedError


class EEI(_DiagModel):
    """One diagonal covariance for all: ``Sigma_k = lambda A``.

    ``lambda A = sum_k diag(W_k) / n``; ``covariances_`` (K, D), rows equal.
    """

    name = "EEI"

    def n_covariance_parameters(self, n_components, n_features):
        return n_features

    def _constrain(self, diagonals, nk):
        return np.broadcast_to(diagonals.sum(axis=0) / nk.sum(), diagonals.shape)


class VEI(_DiagModel):
    """Free volumes, one diagonal shape: ``Sigma_k = lambda_k A`` (iterative)."""

    name = "VEI"

    def n_covariance_parameters(self, n_components, n_features):
        return n_components + n_features - 1

    def _constrain(self, diagonals, nk):
        return varying_volume(diagonals, nk)


class EVI(_DiagModel):
    """One volume, free diagonal shapes: ``Sigma_k = lambda A_k``."""

    name = "EVI"

    def n_covariance_parameters(self, n_components, n_features):
        return 1 + n_components * (n_features - 1)

    def _constrain(self, diagonals, nk):
        return equal_volume(diagonals, nk.sum())


class VVI(Diag):
    """``Sigma_k = lambda_k A_k``, diagonal: scikit-learn's ``'diag'``."""

    name = "VVI"


# ---------------------------------------------------------------- tied form
class EEE(Tied):
    """``Sigma_k = lambda D A D^T``, one matrix: scikit-learn's ``'tied'``."""

    name = "EEE"


# ----------------------------------------------------------------- full form
class _FullModel(Full):
    """A full-form model: a constraint on the ``W_k`` (K, d, d)."""

    def _estimate(self, stats, nk, frame, reg_covar):
        means, sample = super()._estimate(stats, nk, frame, 0.0)
        scatter = positive_part(nk[:, None, None] * sample)
        covariances = self._constrain(scatter, nk, frame)
        covariances += reg_covar * np.eye(sample.shape[1])
        return means, covariances

    def _constrain(
        self, scatter: np.ndarray, nk: np.ndarray, frame: StatsFrame
    ) -> np.ndarray:
        """Covariances (K, d, d) from the scatters ``W_k`` (K, d, d)."""
        raise NotImplementedError


class VEE(_FullModel):
    """Free volumes, one shape and orientation: ``Sigma_k = lambda_k C``.

    Iterative (:func:`~.constraints.proportional`).
    """

    name = "VEE"

    def n_covariance_parameters(self, n_components, n_features):
        return n_components + n_features - 1 + _orientation_count(1, n_features)

    def _constrain(self, scatter, nk, frame):
        return proportional(scatter, nk)


class _CommonOrientation(_FullModel):
    """EVE and VVE: one orientation, started from the previous parameters'."""

    equal_volumes = False

    def _constrain(self, scatter, nk, frame):
        if frame.whiten is None:
            start = np.eye(scatter.shape[1])
        else:
            # the previous precisions U_k U_k^T share their eigenvectors
            start = common_axes(frame.whiten @ np.swapaxes(frame.whiten, 1, 2))
        orientation, eigenvalues = common_orientation(
            scatter, nk, start, self.equal_volumes
        )
        return from_eigen(eigenvalues, np.broadcast_to(orientation, scatter.shape))


class EVE(_CommonOrientation):
    """One volume and orientation, free shapes: ``Sigma_k = lambda D A_k D^T``.

    Iterative (:func:`~.constraints.common_orientation`).
    """

    name = "EVE"
    equal_volumes = True

    def n_covariance_parameters(self, n_components, n_features):
        return 1 + n_components * (n_features - 1) + _orientation_count(1, n_features)


class VVE(_CommonOrientation):
    """One orientation, free volumes and shapes: ``Sigma_k = lambda_k D A_k D^T``.

    Iterative (:func:`~.constraints.common_orientation`).
    """

    name = "VVE"

    def n_covariance_parameters(self, n_components, n_features):
        return n_components * n_features + _orientation_count(1, n_features)


class _Eigen(_FullModel):
    """EEV, VEV, EVV: each component keeps the eigenvectors of its ``W_k``."""

    def _constrain(self, scatter, nk, frame):
        values, vectors = sorted_eigh(scatter)
        return from_eigen(self._eigenvalues(values, nk), vectors)

    def _eigenvalues(self, values: np.ndarray, nk: np.ndarray) -> np.ndarray:
        """Covariance eigenvalues (K, d) from the ascending ones of the ``W_k``."""
        raise NotImplementedError


class EEV(_Eigen):
    """One volume and shape, free orientations: ``Sigma_k = lambda D_k A D_k^T``."""

    name = "EEV"

    def n_covariance_parameters(self, n_components, n_features):
        return n_features + _orientation_count(n_components, n_features)

    def _eigenvalues(self, values, nk):
        return common_eigenvalues(values, nk.sum())


class VEV(_Eigen):
    """One shape, free volumes and orientations: ``lambda_k D_k A D_k^T``.

    Iterative (:func:`~.constraints.varying_volume` on the eigenvalues).
    """

    name = "VEV"

    def n_covariance_parameters(self, n_components, n_features):
        return (
            n_components + n_features - 1 + _orientation_count(n_components, n_features)
        )

    def _eigenvalues(self, values, nk):
        return varying_volume(values, nk)


class EVV(_Eigen):
    """One volume, free shapes and orientations: ``Sigma_k = lambda C_k``."""

    name = "EVV"

    def n_covariance_parameters(self, n_components, n_features):
        return (
            1
            + n_components * (n_features - 1)
            + _orientation_count(n_components, n_features)
        )

    def _eigenvalues(self, values, nk):
        return equal_volume(values, nk.sum())


class VVV(Full):
    """``Sigma_k = lambda_k D_k A_k D_k^T``: scikit-learn's ``'full'``."""

    name = "VVV"


#: mclust's models in mclust's order
MCLUST_MODELS = (
    EII(),
    VII(),
    EEI(),
    VEI(),
    EVI(),
    VVI(),
    EEE(),
    VEE(),
    EVE(),
    VVE(),
    EEV(),
    VEV(),
    EVV(),
    VVV(),
)
