"""Gaussian-mixture parameters and the M-step, on the client (tiny arrays only).

Shapes follow scikit-learn, with ``K = n_components`` and ``D = n_features``:

===========  ==============  =================
type         covariances     precisions_cholesky
===========  ==============  =================
full         (K, D, D)       (K, D, D), upper triangular
tied         (D, D)          (D, D), upper triangular
diag         (K, D)          (K, D)
spherical    (K,)            (K,)
===========  ==============  =================

What differs between the covariance types is decided by one object per type
(:mod:`daskmix.gaussian.covariance`); the functions here take the type's name
and ask that object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._engine.stats import Stats
from .covariance import COVARIANCE_TYPES, NK_EPS, StatsFrame, covariance

__all__ = [
    "COVARIANCE_TYPES",
    "NK_EPS",
    "GaussianParams",
    "StatsFrame",
    "covariances_from_cholesky",
    "identity_precisions_cholesky",
    "log_det_cholesky",
    "m_step",
    "n_parameters",
    "precision_shape",
    "precisions_cholesky_from_covariances",
    "precisions_cholesky_from_precisions",
    "precisions_from_cholesky",
    "reframe_stats",
    "stats_frame",
]


@dataclass(frozen=True)
class GaussianParams:
    """The parameters of a Gaussian mixture (float64, scikit-learn shapes)."""

    covariance_type: str
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def n_features(self) -> int:
        return self.means.shape[1]


def precision_shape(
    covariance_type: str, n_components: int, n_features: int
) -> tuple[int, ...]:
    """Shape of the covariances / precisions of ``covariance_type``."""
    return covariance(covariance_type).shape(n_components, n_features)


def identity_precisions_cholesky(
    covariance_type: str, n_components: int, n_features: int
) -> np.ndarray:
    """Identity precision factors: the frame of an initialisation pass."""
    return covariance(covariance_type).identity_precisions_cholesky(
        n_components, n_features
    )


def precisions_cholesky_from_covariances(
    covariances: np.ndarray, covariance_type: str
) -> np.ndarray:
    """Upper-triangular ``U`` with ``U @ U.T = inv(covariance)`` (scikit-learn's)."""
    return covariance(covariance_type).precisions_cholesky_from_covariances(covariances)


def precisions_cholesky_from_precisions(
    precisions: np.ndarray, covariance_type: str
) -> np.ndarray:
    """Upper-triangular Cholesky factor of precisions (for ``precisions_init``)."""
    return covariance(covariance_type).precisions_cholesky_from_precisions(precisions)


def precisions_from_cholesky(prec_chol: np.ndarray, covariance_type: str) -> np.ndarray:
    """Precisions ``U U^T`` (or ``U**2``) from their Cholesky factors."""
    return covariance(covariance_type).precisions_from_cholesky(prec_chol)


def covariances_from_cholesky(
    prec_chol: np.ndarray, covariance_type: str
) -> np.ndarray:
    """Invert precision Cholesky factors back to covariances."""
    return covariance(covariance_type).covariances_from_cholesky(prec_chol)


def log_det_cholesky(prec_chol: np.ndarray, covariance_type: str, n_features: int):
    """log det of the precision's Cholesky factor: (K,) or a scalar for tied."""
    return covariance(covariance_type).log_det_cholesky(prec_chol, n_features)


def stats_frame(params: GaussianParams, center: np.ndarray) -> StatsFrame:
    """The frame the kernels take statistics in under ``params``.

    ``center`` (D,) is the shift actually applied to the data (the plan's
    ``center``, in float64).
    """
    whiten = covariance(params.covariance_type).whitening(params.precisions_cholesky)
    return StatsFrame(params.means, whiten, np.asarray(center, dtype=np.float64))


def m_step(
    stats: Stats,
    frame_means: np.ndarray,
    frame_whiten: np.ndarray | None,
    center: np.ndarray,
    covariance_type: str,
    reg_covar: float,
) -> GaussianParams:
    """New parameters from the statistics of one pass.

    The statistics were accumulated in a shifted (and for full/tied, whitened)
    frame; see :mod:`daskmix.gaussian.kernels`. ``frame_means`` (K, D) are
    the shifts ``c_k`` used for full covariances, ``frame_whiten`` the
    precision Cholesky factors ``U`` of that frame (identity during
    initialisation), ``center`` (D,) the common shift ``m`` of the other types.

    Returns
    -------
    GaussianParams
        Weights normalised to one; ``reg_covar`` added to every variance.
    """
    cov = covariance(covariance_type)
    weights, means, covariances = cov.m_step(
        stats, StatsFrame(frame_means, frame_whiten, center), reg_covar
    )
    return GaussianParams(
        covariance_type,
        weights,
        means,
        covariances,
        cov.precisions_cholesky_from_covariances(covariances),
    )


def n_parameters(covariance_type: str, n_components: int, n_features: int) -> int:
    """Free parameters of the model, as scikit-learn counts them for BIC/AIC."""
    return covariance(covariance_type).n_parameters(n_components, n_features)


# ------------------------------------------------------------- stepwise EM
def reframe_stats(
    stats: Stats, covariance_type: str, old: StatsFrame, new: StatsFrame
) -> Stats:
    """Re-express statistics taken in frame ``old`` as if taken in frame ``new``.

    Stepwise EM keeps running statistics ``s <- (1 - eta) s + eta s_B`` whose
    batches were accumulated under different parameters, hence in different
    frames; sums are only meaningful in one frame. After every M-step the
    running statistics are moved into the frame of the new parameters, where
    the next batch is accumulated. The move is an exact affine change of
    coordinates, ``y' = y A + b``, applied to the moments (responsibilities
    do not change):

    ``s1' = s1 A + n b``,
    ``s2' = A^T s2 A + (s1 A)^T b + b^T (s1 A) + n b^T b``.

    Numerics: the new frame is centred on the new means, which the M-step put
    at ``c + (s1 / n) U^-1``, so ``s1'`` is ~0 and ``s2'`` becomes the centred
    scatter ``A^T (s2 - s1^T s1 / n) A``: the only subtraction is of the
    squared *step* of the means, small against the spread, and the running
    statistics stay centred and whitened around the current parameters, as
    the batch statistics are. (Converting every batch to raw moments about a
    fixed reference point instead would lose digits as components drift from
    that point, which is the cancellation the shifted statistics exist to
    avoid.) Non-frame fields (``loglik``, ``n_rows``) are copied.

    Parameters
    ----------
    stats : Stats
        ``nk`` (K,), ``s1``, ``s2`` (shapes per covariance type), others.
    covariance_type : str
    old, new : StatsFrame

    Returns
    -------
    Stats
        The same fields, in frame ``new``.
    """
    return covariance(covariance_type).reframe(stats, old, new)
