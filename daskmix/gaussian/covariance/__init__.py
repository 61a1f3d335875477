"""Covariance types of a Gaussian mixture, one object each.

Everything that differs between ``'full'``, ``'tied'``, ``'diag'`` and
``'spherical'`` lives here, in one class per type: the parameter shapes, the
precision Cholesky factors, the per-tile component log-probabilities (the
E-step), the accumulation of shifted statistics, the M-step, the exact
re-framing of running statistics for stepwise EM, the number of free
parameters and sampling. The rest of the package asks :func:`covariance` for
the object of a type and never branches on the type's name.

Shapes, with ``K = n_components`` and ``D = n_features`` (scikit-learn's):

===========  ==============  ===========================  =================
type         covariances     precisions_cholesky          statistics frame
===========  ==============  ===========================  =================
full         (K, D, D)       (K, D, D), upper triangular  ``(x - c_k) U_k``
tied         (D, D)          (D, D), upper triangular     ``(x - m) U``
diag         (K, D)          (K, D)                       ``x - m``
spherical    (K,)            (K,)                         ``x - m``
===========  ==============  ===========================  =================

Statistics are shifted (and for full and tied, whitened) around the
parameters that entered the pass: ``c_k`` are the previous means, ``m`` the
common shift of the tile, ``U`` the previous precision factors; see
:class:`StatsFrame` and :mod:`daskmix.gaussian.kernels`.

The E-step methods write their tile-sized temporaries into a workspace (see
:mod:`daskmix._engine.workspace`); pass :data:`~daskmix._engine.workspace.FRESH`
to get arrays of one's own.
"""

from __future__ import annotations

from .base import NK_EPS, REGISTRY, Covariance, StatsFrame, inverse_upper
from .matrix import Full, Tied
from .vector import Diag, Spherical

#: the covariance object of each ``covariance_type``
COVARIANCES: dict[str, Covariance] = {
    cov.name: cov for cov in (Full(), Tied(), Diag(), Spherical())
}

REGISTRY.update(COVARIANCES)

#: the names of the covariance types, in scikit-learn's order
COVARIANCE_TYPES = tuple(COVARIANCES)


def covariance(name: str) -> Covariance:
    """The covariance object of ``covariance_type`` ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`COVARIANCE_TYPES`.
    """
    try:
        return COVARIANCES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}, got {name!r}"
        ) from None


__all__ = [
    "COVARIANCES",
    "COVARIANCE_TYPES",
    "NK_EPS",
    "Covariance",
    "Diag",
    "Full",
    "Spherical",
    "StatsFrame",
    "Tied",
    "covariance",
    "inverse_upper",
]
