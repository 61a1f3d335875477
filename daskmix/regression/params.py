"""Regression-mixture parameters and the M-step, on the client (tiny arrays only).

Shapes, with ``K = n_components``, ``D = n_features`` and ``P`` the number of
regression coefficients per component (``D + 1`` with an intercept, else
``D``):

=================  ==========  ===============================================
name               shape       meaning
=================  ==========  ===============================================
weights            (K,)        mixing weights ``pi_k``
coef               (K, D)      slopes ``w_k``
intercept          (K,)        intercepts ``b_k`` (zeros without intercept)
noise_variance     (K,)        ``sigma_k^2`` (all equal for ``noise='shared'``)
gate               --          a :class:`GaussianParams` (``gating='gaussian'``)
=================  ==========  ===============================================

The kernels work in a *frame*: the design row is ``phi = [x - c, 1]`` with a
fixed shift ``c`` (``x_center``) when there is an intercept, and ``phi = x``
without one (a line through the origin cannot be shifted). The frame weights
``W`` (K, P) are ``[w_k, b_k + w_k . c]`` or ``w_k``.

Floors (what happens to degenerate components)
----------------------------------------------
* Weighted least squares are solved with a Jacobi-scaled symmetric
  pseudo-inverse: a component whose points do not determine its line (fewer
  points than coefficients, or a constant feature) gets the minimum-norm
  update, and a component that lost all its points (``n_k = 0``, so
  ``A = 0`` and ``b = 0``) keeps its line unchanged.
* ``noise_variance = RSS_k / n_k + reg_covar``, and never below
  ``noise_floor`` (1e-10 times the variance of y, see
  :func:`noise_floor_from_sample`). Points lying exactly on a line, or an empty
  component, thus get a small positive variance and a large but finite
  likelihood, even with ``reg_covar=0``.
* Mixing weights are ``(n_k + 10 eps) / sum``, as in scikit-learn: an empty
  component keeps a weight of about ``1e-15 / n`` and a finite log-weight.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from .. import config as settings
from .._engine.stats import Stats
from ..gaussian.covariance import covariance
from ..gaussian.params import NK_EPS, GaussianParams, StatsFrame
from ..gaussian.params import m_step as gaussian_m_step
from ..gaussian.params import reframe_stats as reframe_gate_stats

GATINGS = ("gaussian", "none")
NOISE_MODELS = ("component", "shared")


@dataclass(frozen=True)
class RegressionConfig:
    """The settings the M-step needs (from the estimator's parameters)."""

    gating: str
    noise: str
    fit_intercept: bool
    covariance_type: str
    reg_covar: float
    reg_weights: float


@dataclass(frozen=True)
class RegressionParams:
    """The parameters of a regression mixture (float64).

    Attributes
    ----------
    weights : ndarray of shape (K,)
    coef : ndarray of shape (K, D)
    intercept : ndarray of shape (K,)
    noise_variance : ndarray of shape (K,)
    gate : GaussianParams or None
        The gate ``N(x | mu_k, Sigma_k)`` for ``gating='gaussian'``; its
        ``weights`` equal ``weights``.
    x_center : ndarray of shape (D,)
        The shift ``c`` of the frame; exactly representable in the data dtype.
    noise_floor : float
        Smallest noise variance allowed.
    """

    weights: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    noise_variance: np.ndarray
    gate: GaussianParams | None
    x_center: np.ndarray
    noise_floor: float

    @property
    def n_components(self) -> int:
        return self.coef.shape[0]

    @property
    def n_features(self) -> int:
        return self.coef.shape[1]


# ---------------------------------------------------------------- the frame
def n_coefficients(n_features: int, fit_intercept: bool) -> int:
    """``P``: coefficients per component."""
    return n_features + int(fit_intercept)


def triangle(n_coef: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the upper triangle of a (P, P) matrix."""
    return np.triu_indices(n_coef)


def frame_weights(params: RegressionParams, fit_intercept: bool) -> np.ndarray:
    """``W`` (K, P): the lines in the frame ``phi = [x - c, 1]`` (or ``x``)."""
    if not fit_intercept:
        return params.coef.copy()
    shifted = params.intercept + params.coef @ params.x_center
    return np.column_stack([params.coef, shifted])


def lines_from_frame(
    W: np.ndarray, x_center: np.ndarray, fit_intercept: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``coef`` (K, D) and ``intercept`` (K,) from frame weights ``W`` (K, P)."""
    if not fit_intercept:
        return W.copy(), np.zeros(W.shape[0])
    coef = W[:, :-1].copy()
    return coef, W[:, -1] - coef @ x_center


def noise_floor_from_sample(y: np.ndarray) -> float:
    """``1e-10 * var(y)`` of a sample of targets (or of ``max(mean(y)^2, 1)``).

    Only used to keep noise variances away from zero; the sample need not be
    representative.
    """
    y = np.asarray(y, dtype=np.float64)
    scale = float(np.var(y)) if y.size > 1 else 0.0
    if not scale > 0.0:
        scale = max(float(np.mean(y)) ** 2 if y.size else 0.0, 1.0)
    return settings.get("regression.noise-floor-relative") * scale


# -------------------------------------------------------------- the M-step
def _solve_psd(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Minimum-norm solution of ``matrix @ x = rhs`` for a PSD ``matrix``.

    The matrix is scaled to unit diagonal first (Jacobi), so that features of
    very different scales do not decide which directions count as singular.
    """
    diagonal = np.diag(matrix).copy()
    scale = np.sqrt(np.where(diagonal > 0.0, diagonal, 1.0))
    scaled = matrix / np.outer(scale, scale)
    eigenvalues, vectors = linalg.eigh(0.5 * (scaled + scaled.T))
    top = eigenvalues.max(initial=0.0)
    keep = (
        eigenvalues > settings.get("regression.pinv-rcond") * top
        if top > 0.0
        else np.zeros_like(eigenvalues, bool)
    )
    if not keep.any():
        return np.zeros_like(rhs)
    kept = vectors[:, keep]
    solution = kept @ ((kept.T @ (rhs / scale)) / eigenvalues[keep])
    return solution / scale


def normal_matrices(stats: Stats, n_coef: int) -> np.ndarray:
    """Unpack the summed upper triangles ``A`` into (K, P, P) symmetric matrices."""
    rows, cols = triangle(n_coef)
    packed = stats["A"]
    A = np.zeros((packed.shape[0], n_coef, n_coef))
    A[:, rows, cols] = packed
    A[:, cols, rows] = packed
    return A


def solve_lines(
    stats: Stats, W_old: np.ndarray, reg_weights: float, fit_intercept: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted (ridge) least squares for every component, from shifted statistics.

    With ``e = y - phi W_old``, ``A = Phi^T R Phi``, ``b = Phi^T R e`` and
    ``q = e^T R e``, the step ``delta`` solves
    ``(A + lambda M) delta = b - lambda M W_old`` (``M`` selects the slopes)
    and the weighted residual sum of squares at ``W_old + delta`` is
    ``q - 2 b . delta + delta^T A delta`` (``q - b^T A^-1 b`` without ridge).

    Returns
    -------
    W : ndarray of shape (K, P)
    rss : ndarray of shape (K,), non-negative
    """
    n_components, n_coef = W_old.shape
    A = normal_matrices(stats, n_coef)
    b, q = stats["b"], stats["q"]
    penalty = np.ones(n_coef)
    if fit_intercept:
        penalty[-1] = 0.0
    penalty *= reg_weights
    W = np.empty_like(W_old)
    rss = np.empty(n_components)
    for k in range(n_components):
        rhs = b[k] - penalty * W_old[k]
        delta = _solve_psd(A[k] + np.diag(penalty), rhs)
        W[k] = W_old[k] + delta
        rss[k] = q[k] - 2.0 * (b[k] @ delta) + delta @ A[k] @ delta
    return W, np.maximum(rss, 0.0)


def noise_variances(
    rss: np.ndarray, nk: np.ndarray, noise: str, reg_covar: float, floor: float
) -> np.ndarray:
    """``RSS_k / n_k + reg_covar`` (or pooled for ``'shared'``), floored."""
    if noise == "shared":
        variance = np.full(rss.shape, rss.sum() / (nk.sum() + NK_EPS))
    else:
        variance = rss / (nk + NK_EPS)
    return np.maximum(variance + reg_covar, floor)


def m_step(
    stats: Stats,
    params: RegressionParams,
    config: RegressionConfig,
    refit_lines: bool = True,
) -> RegressionParams:
    """New parameters from the summed statistics of one pass.

    Parameters
    ----------
    stats : Stats
        ``nk`` (K,), ``A`` (K, P(P+1)/2), ``b`` (K, P), ``q`` (K,), and for
        ``gating='gaussian'`` the gate's ``s1``, ``s2`` (see
        :mod:`daskmix.gaussian.kernels`).
    params : RegressionParams
        The parameters the statistics were accumulated under: they define the
        frame (``x_center``, the previous lines, the gate's whitening).
    config : RegressionConfig
    refit_lines : bool
        False keeps the lines of ``params`` and only re-estimates the noise
        (about those lines), the weights and the gate (initialisers that
        choose lines themselves).

    Returns
    -------
    RegressionParams
    """
    nk = stats["nk"]
    if config.gating == "gaussian":
        gate = gaussian_m_step(
            stats,
            params.gate.means,
            params.gate.precisions_cholesky,
            params.x_center,
            config.covariance_type,
            config.reg_covar,
        )
        weights = gate.weights
    else:
        gate = None
        weights = (nk + NK_EPS) / (nk + NK_EPS).sum()
    W_old = frame_weights(params, config.fit_intercept)
    if refit_lines:
        W, rss = solve_lines(stats, W_old, config.reg_weights, config.fit_intercept)
    else:
        W, rss = W_old, np.maximum(stats["q"], 0.0)
    coef, intercept = lines_from_frame(W, params.x_center, config.fit_intercept)
    return RegressionParams(
        weights=weights,
        coef=coef,
        intercept=intercept,
        noise_variance=noise_variances(
            rss, nk, config.noise, config.reg_covar, params.noise_floor
        ),
        gate=gate,
        x_center=params.x_center,
        noise_floor=params.noise_floor,
    )


def recenter_stats(stats: Stats, A: np.ndarray, W_from: np.ndarray, W_to: np.ndarray):
    """Express residual statistics taken about ``W_from`` about ``W_to`` instead.

    ``A`` does not depend on the lines; with ``d = W_to - W_from``,
    ``b' = b - A d`` and ``q' = q - 2 b . d + d^T A d``. Statistics from
    different passes (stepwise EM) must share lines before they are added.

    Parameters
    ----------
    stats : Stats
    A : ndarray of shape (K, P, P)
        From :func:`normal_matrices`.
    W_from, W_to : ndarray of shape (K, P)

    Returns
    -------
    Stats
        A copy with ``b`` and ``q`` replaced.
    """
    d = W_to - W_from
    Ad = np.einsum("kpq,kq->kp", A, d)
    out = stats.copy()
    out["b"] = stats["b"] - Ad
    out["q"] = (
        stats["q"]
        - 2.0 * np.einsum("kp,kp->k", stats["b"], d)
        + np.einsum("kp,kp->k", d, Ad)
    )
    return out


def shift_design_center(
    stats: Stats, n_coef: int, old_center: np.ndarray, new_center: np.ndarray
) -> Stats:
    """Move regression statistics from the design ``[x - c, 1]`` to ``[x - c', 1]``.

    ``phi' = phi T`` with ``T`` the identity but for its last row,
    ``T[D, :D] = c - c'``; hence ``A' = T^T A T`` and ``b' = T^T b``. The
    residuals do not change (the same lines, re-expressed in the new design),
    so ``q`` and ``nk`` do not either. Only for designs with an intercept:
    without one ``phi = x`` does not depend on the centre.

    Parameters
    ----------
    stats : Stats
        ``A`` (K, P(P+1)/2) packed upper triangles, ``b`` (K, P), others.
    n_coef : int
        ``P = D + 1``.
    old_center, new_center : ndarray of shape (D,)

    Returns
    -------
    Stats
        A copy with ``A`` and ``b`` replaced.
    """
    transform = np.eye(n_coef)
    transform[-1, :-1] = np.asarray(old_center) - np.asarray(new_center)
    A = normal_matrices(stats, n_coef)
    moved = transform.T @ A @ transform
    rows, cols = triangle(n_coef)
    out = stats.copy()
    out["A"] = moved[:, rows, cols]
    out["b"] = stats["b"] @ transform
    return out


def gate_frame(params: RegressionParams) -> StatsFrame:
    """The frame the kernels take the gate's statistics in under ``params``.

    The gate plan is shifted by ``x_center`` (see
    :func:`daskmix.regression.kernels.make_plan`); full and tied covariances
    are whitened by the gate's precision factors, as in GaussianMixture.
    """
    gate = params.gate
    whiten = covariance(gate.covariance_type).whitening(gate.precisions_cholesky)
    return StatsFrame(gate.means, whiten, np.asarray(params.x_center, np.float64))


def reframe_stats(
    stats: Stats,
    old: RegressionParams,
    new: RegressionParams,
    config: RegressionConfig,
) -> Stats:
    """Re-express statistics taken under ``old`` as if taken under ``new``.

    Stepwise EM adds statistics of batches taken under different parameters;
    after every M-step the running statistics are moved into the frame of the
    new parameters, where the next batch is accumulated. An exact change of
    coordinates (responsibilities and ``nk`` unchanged):

    * the design centre: when ``x_center`` differs (``partial_fit`` on a block
      of another dtype, whose centre is rounded to it),
      :func:`shift_design_center`;
    * the lines: residuals of ``W_old`` become residuals of ``W_new``,
      :func:`recenter_stats` (``b <- b - A dW``,
      ``q <- q - 2 b . dW + dW^T A dW``); ``A`` does not depend on the lines;
    * the gate (``gating='gaussian'``): ``s1``, ``s2`` from the old gate frame
      to the new one, :func:`daskmix.gaussian.params.reframe_stats`.

    The new lines are the M-step's solution of these very statistics, so the
    moved ``b`` is about zero and ``q`` becomes the residual sum of squares
    about the current lines: the running statistics stay residual-shifted,
    as the batch statistics are. Other fields (``loglik``, ``n_rows``) are
    copied.

    Parameters
    ----------
    stats : Stats
        ``nk`` (K,), ``A`` (K, P(P+1)/2), ``b`` (K, P), ``q`` (K,), and the
        gate's ``s1``, ``s2`` for ``gating='gaussian'``; taken under ``old``.
    old, new : RegressionParams
    config : RegressionConfig

    Returns
    -------
    Stats
        The same fields, in the frame of ``new``.
    """
    n_coef = n_coefficients(old.n_features, config.fit_intercept)
    out = stats.copy()
    W_old = frame_weights(old, config.fit_intercept)
    if config.fit_intercept and not np.array_equal(old.x_center, new.x_center):
        out = shift_design_center(out, n_coef, old.x_center, new.x_center)
        W_old = frame_weights(replace(old, x_center=new.x_center), True)
    out = recenter_stats(
        out,
        normal_matrices(out, n_coef),
        W_old,
        frame_weights(new, config.fit_intercept),
    )
    if config.gating == "gaussian":
        out = reframe_gate_stats(
            out, config.covariance_type, gate_frame(old), gate_frame(new)
        )
    return out


def n_parameters(
    gating: str,
    noise: str,
    covariance_type: str,
    n_components: int,
    n_features: int,
    fit_intercept: bool,
) -> int:
    """Free parameters of the fitted model (for BIC/AIC).

    The lines (``K * P``), the noise variances (``K`` or 1), and either the
    gate (a Gaussian mixture on x, weights included) or ``K - 1`` weights.
    """
    lines = n_components * n_coefficients(n_features, fit_intercept)
    noises = n_components if noise == "component" else 1
    if gating == "gaussian":
        mixing = covariance(covariance_type).n_parameters(n_components, n_features)
    else:
        mixing = n_components - 1
    return int(lines + noises + mixing)


def replace(params: RegressionParams, **changes) -> RegressionParams:
    """A copy of ``params`` with some fields changed."""
    return dataclasses.replace(params, **changes)


# ---------------------------------------------------- lines for initialisers
def conditional_lines(
    gmm: GaussianParams, fit_intercept: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Each joint Gaussian's conditional mean of y given x: (coef, intercept).

    Parameters
    ----------
    gmm : GaussianParams
        Full covariances on the joint (x, y), y last.

    Returns
    -------
    coef : ndarray of shape (K, D)
    intercept : ndarray of shape (K,)
        Without an intercept, the least-squares line through the origin under
        each component (second moments instead of covariances).
    """
    K, D1 = gmm.means.shape
    D = D1 - 1
    coef = np.empty((K, D))
    intercept = np.zeros(K)
    for k in range(K):
        mean, cov = gmm.means[k], gmm.covariances[k]
        moment = cov if fit_intercept else cov + np.outer(mean, mean)
        coef[k] = _solve_psd(moment[:D, :D], moment[:D, D])
        if fit_intercept:
            intercept[k] = mean[D] - coef[k] @ mean[:D]
    return coef, intercept
