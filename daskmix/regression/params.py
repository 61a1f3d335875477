"""Regression-mixture parameters and the M-step, on the client (tiny arrays only).

Shapes, with ``K = n_components``, ``D`` the number of features the experts
regress on (``expert_features``) and ``P`` the number of regression
coefficients per component (``D + 1`` with an intercept, else ``D``):

=================  ==========  ===============================================
name               shape       meaning
=================  ==========  ===============================================
weights            (K,)        mixing weights ``pi_k``
coef               (K, D)      slopes ``w_k``
intercept          (K,)        intercepts ``b_k`` (zeros without intercept)
noise_variance     (K,)        ``sigma_k^2`` (all equal for ``noise='shared'``;
                               ones, unused, for the Poisson and binomial
                               families)
gate               --          a :class:`GaussianParams` (``gating='gaussian'``)
                               or :class:`~.gates.LogisticGateParams`
                               (``gating='logistic'``)
=================  ==========  ===============================================

The kernels work in a *frame*: the design row is ``phi = [x_e - c, 1]`` with a
fixed shift ``c`` (``x_center`` of the experts' columns ``x_e``) when there
is an intercept, and ``phi = x_e`` without one (a line through the origin
cannot be shifted). The frame weights ``W`` (K, P) are ``[w_k, b_k + w_k . c]``
or ``w_k``. The M-step of the Gaussian family solves the residual-shifted
least squares exactly; that of the Poisson and binomial families takes one
safeguarded Newton step (:mod:`daskmix.regression.newton`).

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

from .. import config as settings
from .._engine.stats import Stats
from ..gaussian.params import NK_EPS, GaussianParams
from .design import select, shift_transform, triangle, unpack
from .families import family
from .gates import gate
from .newton import design_box, growth_exponent, solve_psd, step_length

NOISE_MODELS = ("component", "shared")


@dataclass(frozen=True)
class RegressionConfig:
    """The settings the M-step needs (from the estimator's parameters).

    Attributes
    ----------
    gating, noise, fit_intercept, covariance_type, reg_covar, reg_weights
        As the estimator's parameters.
    family : str
        A name of :data:`~daskmix.regression.families.FAMILIES`.
    expert_columns, gate_columns : tuple of int or None
        The columns of X the experts and the gate see (None: all).
    offset_column : int or None
        A column of X added to every linear predictor (not a feature).
    offset_log : bool
        Whether that column is an exposure, whose log is added.
    """

    gating: str
    noise: str
    fit_intercept: bool
    covariance_type: str
    reg_covar: float
    reg_weights: float
    family: str = "gaussian"
    expert_columns: tuple | None = None
    gate_columns: tuple | None = None
    offset_column: int | None = None
    offset_log: bool = False


@dataclass(frozen=True)
class RegressionParams:
    """The parameters of a regression mixture (float64).

    Attributes
    ----------
    weights : ndarray of shape (K,)
    coef : ndarray of shape (K, D)
    intercept : ndarray of shape (K,)
    noise_variance : ndarray of shape (K,)
    gate : GaussianParams, LogisticGateParams or None
        The gate ``N(x_g | mu_k, Sigma_k)`` for ``gating='gaussian'`` (its
        ``weights`` equal ``weights``), the logits' coefficients for
        ``gating='logistic'``.
    x_center : ndarray of shape (n_features_in,)
        The shift ``c`` of the frame, for every column of X; exactly
        representable in the data dtype.
    noise_floor : float
        Smallest noise variance allowed.
    expert_columns, gate_columns : tuple of int or None
        The columns of X the experts and the gate see (None: all).
    x_range : ndarray of shape (2, n_features_in) or None
        The smallest and largest value of every column of X over the data:
        the safeguard of the Newton steps (Poisson and binomial families,
        logistic gate) needs it; None otherwise.
    """

    weights: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    noise_variance: np.ndarray
    gate: object
    x_center: np.ndarray
    noise_floor: float
    expert_columns: tuple | None = None
    gate_columns: tuple | None = None
    x_range: np.ndarray | None = None

    @property
    def n_components(self) -> int:
        return self.coef.shape[0]

    @property
    def n_features(self) -> int:
        """Features the experts regress on."""
        return self.coef.shape[1]

    @property
    def expert_center(self) -> np.ndarray:
        """The frame shift of the experts' columns."""
        return select(self.x_center[None, :], self.expert_columns)[0]


# ---------------------------------------------------------------- the frame
def n_coefficients(n_features: int, fit_intercept: bool) -> int:
    """``P``: coefficients per component."""
    return n_features + int(fit_intercept)


def frame_weights(params: RegressionParams, fit_intercept: bool) -> np.ndarray:
    """``W`` (K, P): the lines in the frame ``phi = [x - c, 1]`` (or ``x``)."""
    if not fit_intercept:
        return params.coef.copy()
    shifted = params.intercept + params.coef @ params.expert_center
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
def normal_matrices(stats: Stats, n_coef: int) -> np.ndarray:
    """Unpack the summed upper triangles ``A`` into (K, P, P) symmetric matrices."""
    return unpack(stats["A"], n_coef)


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
        delta = solve_psd(A[k] + np.diag(penalty), rhs)
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


def newton_lines(
    stats: Stats, params: RegressionParams, config: RegressionConfig
) -> np.ndarray:
    """One safeguarded Newton step of every component's GLM coefficients.

    ``A`` and ``b`` are the negated Hessian and the gradient of each
    component's weighted log-likelihood at ``W_old`` (the Poisson and
    binomial families); ``reg_weights`` adds ``lambda/2 |w_k|^2`` to the
    objective, as for the Gaussian family. The step along the Newton
    direction is the one the statistics certify not to lower the objective
    (:mod:`daskmix.regression.newton`).

    Returns
    -------
    W : ndarray of shape (K, P)
    """
    W_old = frame_weights(params, config.fit_intercept)
    n_components, n_coef = W_old.shape
    A = normal_matrices(stats, n_coef)
    penalty = np.full(n_coef, config.reg_weights)
    if config.fit_intercept:
        penalty[-1] = 0.0
    kind = family(config.family).growth
    box = design_box(
        params.x_range,
        params.expert_columns,
        params.expert_center,
        config.fit_intercept,
        config.fit_intercept,
    )
    W = W_old.copy()
    for k in range(n_components):
        rhs = stats["b"][k] - penalty * W_old[k]
        delta = solve_psd(A[k] + np.diag(penalty), rhs)
        step = step_length(
            float(rhs @ delta),
            float(delta @ A[k] @ delta),
            float(delta @ (penalty * delta)),
            growth_exponent(kind, delta, box),
        )
        W[k] = W_old[k] + step * delta
    return W


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
        ``nk`` (K,), ``A`` (K, P(P+1)/2), ``b`` (K, P), ``q`` (K,) (Gaussian
        family), and the gate's fields (:mod:`daskmix.regression.gates`).
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
    gate_params, weights = gate(config.gating).m_step(stats, params, config)
    W_old = frame_weights(params, config.fit_intercept)
    if family(config.family).has_noise:
        if refit_lines:
            W, rss = solve_lines(stats, W_old, config.reg_weights, config.fit_intercept)
        else:
            W, rss = W_old, np.maximum(stats["q"], 0.0)
        noise_variance = noise_variances(
            rss, nk, config.noise, config.reg_covar, params.noise_floor
        )
    else:
        W = newton_lines(stats, params, config) if refit_lines else W_old
        noise_variance = np.ones(nk.shape[0])
    coef, intercept = lines_from_frame(W, params.expert_center, config.fit_intercept)
    return replace(
        params,
        weights=weights,
        coef=coef,
        intercept=intercept,
        noise_variance=noise_variance,
        gate=gate_params,
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

    For the Poisson and binomial families (no ``q``) ``A`` and ``b`` are the
    negated Hessian and the gradient of ``Q`` at ``W_from``: the same change
    moves the gradient of their quadratic model of ``Q`` to ``W_to``, exact
    for the model, not for ``Q``.

    Returns
    -------
    Stats
        A copy with ``b`` and ``q`` replaced.
    """
    d = W_to - W_from
    Ad = np.einsum("kpq,kq->kp", A, d)
    out = stats.copy()
    out["b"] = stats["b"] - Ad
    if "q" in stats:
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
    transform = shift_transform(n_coef, old_center, new_center)
    A = normal_matrices(stats, n_coef)
    moved = transform.T @ A @ transform
    rows, cols = triangle(n_coef)
    out = stats.copy()
    out["A"] = moved[:, rows, cols]
    out["b"] = stats["b"] @ transform
    return out


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
      to the new one, :func:`daskmix.gaussian.params.reframe_stats`; the
      logistic gate: its gradient moved along its quadratic model
      (:meth:`daskmix.regression.gates.LogisticGate.reframe`).

    Exact for the Gaussian family and the Gaussian gate, whose expected
    complete-data log-likelihoods are quadratic in the moved coordinates; for
    the Poisson and binomial families and the logistic gate the running
    statistics are a quadratic model of ``Q`` (its gradient and Hessian at
    the parameters of the batches), which the change moves exactly: stepwise
    EM then takes Newton steps on averaged curvature, a stochastic IRLS.

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
    if config.fit_intercept and not np.array_equal(
        old.expert_center, new.expert_center
    ):
        out = shift_design_center(out, n_coef, old.expert_center, new.expert_center)
        W_old = frame_weights(replace(old, x_center=new.x_center), True)
    out = recenter_stats(
        out,
        normal_matrices(out, n_coef),
        W_old,
        frame_weights(new, config.fit_intercept),
    )
    return gate(config.gating).reframe(out, old, new, config)


def n_parameters(
    config: RegressionConfig,
    n_components: int,
    n_features: int,
    n_gate_features: int | None = None,
) -> int:
    """Free parameters of the fitted model (for BIC/AIC).

    The lines (``K * P``), the noise variances (``K`` or 1; none for the
    Poisson and binomial families), and the gate: a Gaussian mixture on
    ``x_g`` (weights included), ``(K - 1) (D_g + 1)`` logit coefficients, or
    ``K - 1`` weights. ``n_features`` counts the experts' features,
    ``n_gate_features`` the gate's (default: the same).
    """
    if n_gate_features is None:
        n_gate_features = n_features
    lines = n_components * n_coefficients(n_features, config.fit_intercept)
    noises = 0
    if family(config.family).has_noise:
        noises = n_components if config.noise == "component" else 1
    mixing = gate(config.gating).n_parameters(n_components, n_gate_features, config)
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
        coef[k] = solve_psd(moment[:D, :D], moment[:D, D])
        if fit_intercept:
            intercept[k] = mean[D] - coef[k] @ mean[:D]
    return coef, intercept
