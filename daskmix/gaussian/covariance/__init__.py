"""Covariance models of a Gaussian mixture, one object each.

Everything that differs between covariance models lives here, in one class
per model: the parameter shapes, the precision Cholesky factors, the per-tile
component log-probabilities (the E-step), the accumulation of shifted
statistics, the M-step, the exact re-framing of running statistics for
stepwise EM, the number of free parameters and sampling. The rest of the
package asks :func:`covariance` for the object of a name and never branches
on the name.

Four *forms* hold the E-step, the statistics and the re-framing, in
scikit-learn's shapes (``K = n_components``, ``D = n_features``):

===========  ==============  ===========================  =================
form         covariances     precisions_cholesky          statistics frame
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

mclust's 14 models (Celeux & Govaert 1995: ``Sigma_k = lambda_k D_k A_k
D_k^T``, volume, shape, orientation; E equal, V variable, I identity) each
take the form whose shapes they have and change only its M-step
(:mod:`.mclust`, :mod:`.constraints`) and its parameter count (mclust's).
``covariances_`` and ``precisions_`` have the form's shape and ``precisions_``
are always the inverses of ``covariances_``:

=====  ========================  =========  ==========  =====================
model  Sigma_k                   form       shape       M-step
=====  ========================  =========  ==========  =====================
EII    lambda I                  spherical  (K,)        closed form
VII    lambda_k I                spherical  (K,)        ``'spherical'``
EEI    lambda A                  diag       (K, D)      closed form
VEI    lambda_k A                diag       (K, D)      iterative
EVI    lambda A_k                diag       (K, D)      closed form
VVI    lambda_k A_k              diag       (K, D)      ``'diag'``
EEE    lambda D A D^T            tied       (D, D)      ``'tied'``
VEE    lambda_k D A D^T          full       (K, D, D)   iterative
EVE    lambda D A_k D^T          full       (K, D, D)   iterative
VVE    lambda_k D A_k D^T        full       (K, D, D)   iterative
EEV    lambda D_k A D_k^T        full       (K, D, D)   closed form
VEV    lambda_k D_k A D_k^T      full       (K, D, D)   iterative
EVV    lambda D_k A_k D_k^T      full       (K, D, D)   closed form
VVV    lambda_k D_k A_k D_k^T    full       (K, D, D)   ``'full'``
=====  ========================  =========  ==========  =====================

Equal parts are stored repeated (EII's K equal variances, EEI's K equal
rows). ``reg_covar`` is added to every variance after the constrained
estimate, so ``covariances_ - reg_covar * I`` satisfies the constraint
exactly. scikit-learn's four names are the same models as VII, VVI, EEE and
VVV (same estimates, parameter counts and shapes), under their own name.

The E-step methods write their tile-sized temporaries into a workspace (see
:mod:`daskmix._engine.workspace`); pass :data:`~daskmix._engine.workspace.FRESH`
to get arrays of one's own.
"""

from __future__ import annotations

from .base import COVARIANCES, NK_EPS, Covariance, StatsFrame, inverse_upper
from .matrix import Full, Tied
from .mclust import MCLUST_MODELS
from .vector import Diag, Spherical

for _cov in (Full(), Tied(), Diag(), Spherical(), *MCLUST_MODELS):
    COVARIANCES[_cov.name] = _cov
del _cov

#: every accepted ``covariance_type``: scikit-learn's four, then mclust's 14
COVARIANCE_TYPES = tuple(COVARIANCES)

#: scikit-learn's names, in scikit-learn's order
SKLEARN_TYPES = ("full", "tied", "diag", "spherical")

#: mclust's model names, in mclust's order
MCLUST_TYPES = tuple(cov.name for cov in MCLUST_MODELS)

#: the covariance types GaussianMixtureIC tries by default
DEFAULT_GRID = SKLEARN_TYPES

#: the types of BayesianGaussianMixture (its posterior knows only these)
VARIATIONAL_TYPES = SKLEARN_TYPES


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
    "DEFAULT_GRID",
    "MCLUST_TYPES",
    "NK_EPS",
    "SKLEARN_TYPES",
    "VARIATIONAL_TYPES",
    "Covariance",
    "Diag",
    "Full",
    "Spherical",
    "StatsFrame",
    "Tied",
    "covariance",
    "inverse_upper",
]
