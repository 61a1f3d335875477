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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from .._core.stats import Stats

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

#: scikit-learn adds this many machine epsilons to every component count
NK_EPS = 10 * np.finfo(np.float64).eps

_ILL_DEFINED = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples). Try to decrease the number of components, "
    "increase reg_covar, or scale the input data."
)


def precision_shape(covariance_type: str, n_components: int, n_features: int):
    """Shape of the covariances / precisions of ``covariance_type``."""
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


def identity_precisions_cholesky(
    covariance_type: str, n_components: int, n_features: int
) -> np.ndarray:
    """Identity precision factors: the frame of an initialisation pass."""
    shape = precision_shape(covariance_type, n_components, n_features)
    if covariance_type in ("full", "tied"):
        return np.broadcast_to(np.eye(n_features), shape).copy()
    return np.ones(shape)


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


def precisions_cholesky_from_covariances(
    covariances: np.ndarray, covariance_type: str
) -> np.ndarray:
    """Upper-triangular ``U`` with ``U @ U.T = inv(covariance)`` (scikit-learn's)."""
    if covariance_type in ("full", "tied"):
        stack = covariances[None] if covariance_type == "tied" else covariances
        out = np.empty_like(stack)
        eye = np.eye(stack.shape[-1])
        for k, cov in enumerate(stack):
            try:
                cov_chol = linalg.cholesky(cov, lower=True)
            except linalg.LinAlgError:
                raise ValueError(_ILL_DEFINED) from None
            out[k] = linalg.solve_triangular(cov_chol, eye, lower=True).T
        return out[0] if covariance_type == "tied" else out
    if not np.all(covariances > 0.0):
        raise ValueError(_ILL_DEFINED)
    return 1.0 / np.sqrt(covariances)


def precisions_cholesky_from_precisions(
    precisions: np.ndarray, covariance_type: str
) -> np.ndarray:
    """Upper-triangular Cholesky factor of precisions (for ``precisions_init``)."""
    if covariance_type in ("full", "tied"):
        stack = precisions[None] if covariance_type == "tied" else precisions
        # reversing rows and columns turns the lower factor into the upper one
        out = np.stack(
            [linalg.cholesky(p[::-1, ::-1], lower=True)[::-1, ::-1] for p in stack]
        )
        return out[0] if covariance_type == "tied" else out
    return np.sqrt(precisions)


def precisions_from_cholesky(prec_chol: np.ndarray, covariance_type: str) -> np.ndarray:
    if covariance_type == "full":
        return prec_chol @ prec_chol.transpose(0, 2, 1)
    if covariance_type == "tied":
        return prec_chol @ prec_chol.T
    return prec_chol**2


def covariances_from_cholesky(
    prec_chol: np.ndarray, covariance_type: str
) -> np.ndarray:
    """Invert precision Cholesky factors back to covariances."""
    if covariance_type in ("full", "tied"):
        # precision = U U^T  =>  covariance = U^-T U^-1
        inv_u = _inverse_upper(prec_chol)
        return np.swapaxes(inv_u, -1, -2) @ inv_u
    return 1.0 / prec_chol**2


def _inverse_upper(prec_chol: np.ndarray) -> np.ndarray:
    """``inv(U)`` for one (D, D) or a stack (K, D, D) of upper-triangular U."""
    if prec_chol.ndim == 2:
        return linalg.solve_triangular(
            prec_chol, np.eye(prec_chol.shape[0]), lower=False
        )
    return np.stack([_inverse_upper(u) for u in prec_chol])


def log_det_cholesky(prec_chol: np.ndarray, covariance_type: str, n_features: int):
    """log det of the precision's Cholesky factor: (K,) or a scalar for tied."""
    if covariance_type == "full":
        return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.log(np.diag(prec_chol)).sum()
    if covariance_type == "diag":
        return np.log(prec_chol).sum(axis=1)
    return n_features * np.log(prec_chol)


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
    nk = stats["nk"] + NK_EPS
    n_features = center.shape[0]
    weights = nk / nk.sum()
    eye = np.eye(n_features)
    if covariance_type == "full":
        inv_u = _inverse_upper(frame_whiten)  # (K, D, D): x - c = y @ inv(U)
        shift_w = stats["s1"] / nk[:, None]
        scatter_w = stats["s2"] / nk[:, None, None] - np.einsum(
            "ki,kj->kij", shift_w, shift_w
        )
        means = frame_means + np.einsum("kd,kde->ke", shift_w, inv_u)
        covariances = np.swapaxes(inv_u, 1, 2) @ scatter_w @ inv_u
        covariances = 0.5 * (covariances + np.swapaxes(covariances, 1, 2))
        covariances += reg_covar * eye
    elif covariance_type == "tied":
        inv_u = _inverse_upper(frame_whiten)
        means_w = stats["s1"] / nk[:, None]
        scatter_w = (stats["s2"] - (nk[:, None] * means_w).T @ means_w) / nk.sum()
        means = center + means_w @ inv_u
        covariances = inv_u.T @ scatter_w @ inv_u
        covariances = 0.5 * (covariances + covariances.T) + reg_covar * eye
    else:
        shift = stats["s1"] / nk[:, None]
        means = center + shift
        if covariance_type == "diag":
            variances = stats["s2"] / nk[:, None] - shift**2
        else:
            variances = (stats["s2"] / nk - (shift**2).sum(axis=1)) / n_features
        # rounding can push a collapsed variance a hair below zero
        covariances = np.maximum(variances, 0.0) + reg_covar
    return GaussianParams(
        covariance_type,
        weights,
        means,
        covariances,
        precisions_cholesky_from_covariances(covariances, covariance_type),
    )


def n_parameters(covariance_type: str, n_components: int, n_features: int) -> int:
    """Free parameters of the model, as scikit-learn counts them for BIC/AIC."""
    cov_params = {
        "full": n_components * n_features * (n_features + 1) / 2.0,
        "diag": n_components * n_features,
        "tied": n_features * (n_features + 1) / 2.0,
        "spherical": n_components,
    }[covariance_type]
    return int(cov_params + n_features * n_components + n_components - 1)


# ------------------------------------------------------------- stepwise EM
@dataclass(frozen=True)
class StatsFrame:
    """The coordinates in which the kernel statistics of one pass are taken.

    The kernels accumulate around the parameters that entered the pass (see
    :mod:`daskmix.gaussian.kernels`): ``full`` in the whitened frame of each
    component, ``y_k = (x - c_k) U_k``; ``tied`` in ``y = (x - m) U``;
    ``diag`` and ``spherical`` around ``x - m``.

    Attributes
    ----------
    means : ndarray of shape (K, D)
        ``c_k``, the means that entered the pass.
    whiten : ndarray or None
        ``U_k`` (K, D, D) for full, ``U`` (D, D) for tied, None otherwise.
    center : ndarray of shape (D,)
        ``m``, float64 value of the shift actually applied to the data.
    """

    means: np.ndarray
    whiten: np.ndarray | None
    center: np.ndarray


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
    out = Stats(stats)
    nk = stats["nk"]
    s1, s2 = stats["s1"], stats["s2"]
    if covariance_type in ("full", "tied"):
        # y_old = (x - c) U  =>  y_new = (x - c') U' = y_old (U^-1 U') + (c - c') U'
        transform = _inverse_upper(old.whiten) @ new.whiten
        if covariance_type == "full":
            offset = np.einsum("kd,kde->ke", old.means - new.means, new.whiten)
            moved = np.einsum("kd,kde->ke", s1, transform)
            out["s1"] = moved + nk[:, None] * offset
            cross = np.einsum("ki,kj->kij", moved, offset)
            out["s2"] = (
                np.swapaxes(transform, 1, 2) @ s2 @ transform
                + cross
                + np.swapaxes(cross, 1, 2)
                + nk[:, None, None] * np.einsum("ki,kj->kij", offset, offset)
            )
        else:
            offset = (old.center - new.center) @ new.whiten
            moved = s1 @ transform
            out["s1"] = moved + nk[:, None] * offset
            # s2 sums over every row, and sum_k r_k = 1: its first moment is sum_k s1_k
            cross = np.outer(moved.sum(axis=0), offset)
            out["s2"] = (
                transform.T @ s2 @ transform
                + cross
                + cross.T
                + stats["n_rows"] * np.outer(offset, offset)
            )
        out["s2"] = 0.5 * (out["s2"] + np.swapaxes(out["s2"], -1, -2))
        return out
    shift = old.center - new.center  # x - m' = (x - m) + (m - m')
    out["s1"] = s1 + nk[:, None] * shift
    if covariance_type == "diag":
        out["s2"] = s2 + 2.0 * s1 * shift + nk[:, None] * shift**2
    else:
        out["s2"] = s2 + 2.0 * (s1 @ shift) + nk * (shift @ shift)
    return out
