"""Block kernels of the regression mixture: pure numpy, never dask.

One call of :func:`em_kernel` on a tile ``(x, y)`` does the E-step and
accumulates everything the M-step needs, in one sweep over the tile:

* the gate: ``log pi_k + log N(x | mu_k, Sigma_k)`` from the Gaussian mixture's
  own kernel (:func:`daskmix.gaussian.kernels.component_log_prob`), or just
  ``log pi_k`` for ``gating='none'``;
* the lines: residuals of the *previous* lines ``e = y - phi W_old`` (K, tile),
  one small GEMM, and ``log N(e | 0, sigma_k^2)``;
* responsibilities by log-sum-exp of the sum, and the row's log-likelihood;
* statistics: the gate's (``nk``, ``s1``, ``s2``: exactly GaussianMixture's,
  the covariance object's ``accumulate``) and the residual-shifted
  regression statistics ``A_k = Phi^T R_k Phi`` (upper triangle, one GEMM of
  the responsibilities against the pairwise products of the design columns),
  ``b_k = Phi^T R_k e_k`` and ``q_k = e_k^T R_k e_k``.

Accumulating residuals of the previous lines rather than ``y`` itself is the
regression analogue of shifted moments: ``q - b^T A^-1 b`` is a difference of
two numbers of the size of the residuals, not of ``|y|^2``. The design is
``phi = [x - c, 1]`` around a fixed centre ``c`` (see
:mod:`daskmix.regression.params`), so a large offset in x costs nothing either.

Tiles stay in the input dtype (float32 data move as float32) except for the
residuals and responsibilities, which are float64 because ``y`` is; the
statistics are returned in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import config
from .._em.scoring import score_stats
from .._engine.stats import Stats
from .._engine.tiles import Tile
from ..gaussian.covariance import covariance
from ..gaussian.kernels import (
    LOG_2PI,
    GaussianPlan,
    component_log_prob,
    normalize_log_prob,
    random_resp,
    weigh_resp,
    weighted_shared_scatter,
)
from ..gaussian.kernels import make_plan as make_gate_plan
from ..gaussian.params import GaussianParams
from .params import (
    RegressionParams,
    frame_weights,
    n_coefficients,
    triangle,
)

#: how an initialisation pass forms its responsibilities
INIT_MODES = ("nearest", "random", "joint_posterior")


@dataclass
class RegressionPlan:
    """Everything a kernel needs for one pass, precomputed on the client.

    Attributes
    ----------
    center : ndarray of shape (D,), data dtype
        The frame shift ``c``.
    fit_intercept : bool
    gate : GaussianPlan or None
        Plan of the gate (shift ``center``); None for ``gating='none'``.
    log_weights : ndarray of shape (K,)
        ``log pi_k`` (used when ``gate`` is None).
    weights_t : ndarray of shape (P, K), data dtype
        Transposed frame weights: ``phi @ weights_t`` are the K predictions.
    noise_log_const : ndarray of shape (K,)
        ``-0.5 log(2 pi sigma_k^2)``.
    noise_precision : ndarray of shape (K,)
        ``1 / sigma_k^2``.
    rows, cols : ndarray of shape (P(P+1)/2,)
        Upper-triangle indices of the design's pairwise products.
    pairwise : bool
        Whether the normal matrices are built from the pairwise products
        (:func:`uses_pairwise_products`), decided on the client.
    mode : str
        'posterior' for EM; an entry of :data:`INIT_MODES` for an
        initialisation pass.
    centers : ndarray of shape (K, D + 1), optional
        Joint centres (x shifted by ``center``, y by ``y_center``) for 'nearest'.
    y_center : float
    joint_gate : GaussianPlan, optional
        Plan of a Gaussian mixture on the joint (x, y) for 'joint_posterior'.
    seed : int
        Key of the counter-based generator for 'random'.
    """

    center: np.ndarray
    fit_intercept: bool
    gate: GaussianPlan | None
    log_weights: np.ndarray
    weights_t: np.ndarray
    noise_log_const: np.ndarray
    noise_precision: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    pairwise: bool = True
    mode: str = "posterior"
    centers: np.ndarray | None = None
    y_center: float = 0.0
    joint_gate: GaussianPlan | None = None
    seed: int = 0

    @property
    def n_components(self) -> int:
        return self.log_weights.shape[0]


def make_plan(
    params: RegressionParams, fit_intercept: bool, dtype, **init_fields
) -> RegressionPlan:
    """Precompute the per-pass constants of ``params`` for tiles of ``dtype``.

    ``params.x_center`` must be exactly representable in ``dtype``, so that the
    shift applied to the data is the one the M-step assumes.
    """
    dtype = np.dtype(dtype)
    center = np.asarray(params.x_center, dtype=dtype)
    gate = None
    if params.gate is not None:
        gate = make_gate_plan(params.gate, dtype, center=params.x_center)
    with np.errstate(divide="ignore"):
        log_weights = np.log(params.weights)
    variance = params.noise_variance
    n_coef = n_coefficients(params.n_features, fit_intercept)
    rows, cols = triangle(n_coef)
    return RegressionPlan(
        center=center,
        fit_intercept=fit_intercept,
        gate=gate,
        log_weights=log_weights,
        weights_t=np.ascontiguousarray(
            frame_weights(params, fit_intercept).T, dtype=dtype
        ),
        noise_log_const=-0.5 * (LOG_2PI + np.log(variance)),
        noise_precision=1.0 / variance,
        rows=rows,
        cols=cols,
        pairwise=uses_pairwise_products(n_coef),
        **init_fields,
    )


def identity_gate(
    covariance_type: str, n_components: int, center: np.ndarray
) -> GaussianParams:
    """A gate with every mean at ``center`` and identity whitening.

    Its only use is as the frame of an initialisation pass: with it, the gate
    statistics are plain shifted moments (as in GaussianMixture's initialiser).
    """
    prec_chol = covariance(covariance_type).identity_precisions_cholesky(
        n_components, center.shape[0]
    )
    return GaussianParams(
        covariance_type,
        np.full(n_components, 1.0 / n_components),
        np.tile(center, (n_components, 1)),
        None,
        prec_chol,
    )


# ------------------------------------------------------------------ pieces
def _design(x: np.ndarray, xs: np.ndarray, plan: RegressionPlan) -> np.ndarray:
    """Design rows ``[x - c, 1]`` (or ``x`` without intercept), (tile, P)."""
    if not plan.fit_intercept:
        return x
    phi = np.empty((xs.shape[0], xs.shape[1] + 1), dtype=xs.dtype)
    phi[:, :-1] = xs
    phi[:, -1] = 1.0
    return phi


def _gate_log_prob(xs: np.ndarray, plan: RegressionPlan):
    """``log pi_k + log N(x | gate_k)`` (K, tile) or ``log pi_k`` (K, 1); frame."""
    if plan.gate is None:
        return plan.log_weights[:, None], None
    return component_log_prob(xs, plan.gate)


def _residuals(phi: np.ndarray, y: np.ndarray, plan: RegressionPlan) -> np.ndarray:
    """``e = y - phi W`` as (K, tile), float64 and C-ordered.

    C order matters: every later reduction over components (softmax, sums)
    runs along axis 0, which on a transposed (F-ordered) array was 5x slower.
    """
    predictions = plan.weights_t.T @ phi.T
    return y.astype(np.float64, copy=False)[None, :] - predictions


def _line_log_prob(residuals: np.ndarray, plan: RegressionPlan) -> np.ndarray:
    """``log N(e_k | 0, sigma_k^2)`` (K, tile)."""
    return (
        plan.noise_log_const[:, None]
        - 0.5 * plan.noise_precision[:, None] * residuals**2
    )


def _upper_products(phi: np.ndarray) -> np.ndarray:
    """``phi_i * phi_j`` for ``i <= j`` (``np.triu_indices`` order), (P(P+1)/2, tile).

    Built row by row from the transposed design, so every product is a
    contiguous vector operation: 4x faster than gathering the column pairs
    with fancy indexing (measured 56 vs 241 ms per million rows, P = 11).
    """
    design_t = np.ascontiguousarray(phi.T)
    n_coef = design_t.shape[0]
    products = np.empty((n_coef * (n_coef + 1) // 2, phi.shape[0]), dtype=phi.dtype)
    start = 0
    for i in range(n_coef):
        stop = start + n_coef - i
        np.multiply(design_t[i], design_t[i:], out=products[start:stop])
        start = stop
    return products


def uses_pairwise_products(n_coef: int) -> bool:
    """Whether :func:`_packed_grams` builds ``A`` from pairwise products.

    The products' temporary holds ``P(P+1)/2`` values per row; beyond
    ``daskmix.regression.pairwise-max-width`` (by default, tiles of at least
    256 rows within the default tile budget) it would force small tiles (one
    row for ``P = 1001``), so wide designs take one GEMM per component.
    """
    return n_coef * (n_coef + 1) // 2 <= config.get("regression.pairwise-max-width")


def _packed_grams(phi: np.ndarray, resp: np.ndarray, plan: RegressionPlan):
    """Upper triangles of ``Phi^T diag(r_k) Phi`` for every k, (K, P(P+1)/2).

    Narrow designs: one GEMM of the responsibilities against the pairwise
    products of the columns. Wide designs: one ``(P, tile) @ (tile, P)`` GEMM
    per component, whose temporaries grow with ``P`` per row, not ``P^2``.
    """
    if plan.pairwise:
        return resp @ _upper_products(phi).T
    packed = np.empty((resp.shape[0], plan.rows.size), dtype=phi.dtype)
    for k, resp_k in enumerate(resp):
        gram = (phi.T * resp_k) @ phi
        packed[k] = gram[plan.rows, plan.cols]
    return packed


def _statistics(
    xs: np.ndarray,
    frame,
    phi: np.ndarray,
    residuals: np.ndarray,
    resp: np.ndarray,
    plan: RegressionPlan,
) -> Stats:
    """Gate and residual-shifted regression statistics of one tile, float64."""
    f64 = np.float64
    dtype = phi.dtype
    resp_d = resp.astype(dtype, copy=False)
    if plan.gate is not None:
        stats = plan.gate.covariance.accumulate(xs, frame, resp_d)
    else:
        stats = Stats(nk=resp.sum(axis=1, dtype=f64))
    weighted = resp * residuals
    stats["A"] = _packed_grams(phi, resp_d, plan).astype(f64, copy=False)
    stats["b"] = (weighted.astype(dtype, copy=False) @ phi).astype(f64, copy=False)
    stats["q"] = np.einsum("kn,kn->k", weighted, residuals)
    return stats


def _weighted_statistics(xs, frame, phi, residuals, resp, sample_weight, plan):
    """:func:`_statistics` with each row's responsibilities times its weight.

    ``sample_weight`` None: the unweighted statistics.
    """
    if sample_weight is None:
        return _statistics(xs, frame, phi, residuals, resp, plan)
    stats = _statistics(
        xs, frame, phi, residuals, weigh_resp(resp, sample_weight), plan
    )
    if plan.gate is not None and plan.gate.covariance.shared:
        weighted_shared_scatter(stats, frame, sample_weight)
    return stats


def _posterior(x: np.ndarray, y: np.ndarray, plan: RegressionPlan):
    """Shared front of the E-step: frame, design, residuals, joint log-probs."""
    xs = x - plan.center
    gate_log_prob, frame = _gate_log_prob(xs, plan)
    phi = _design(x, xs, plan)
    residuals = _residuals(phi, y, plan)
    weighted_log_prob = gate_log_prob + _line_log_prob(residuals, plan)
    return xs, frame, phi, residuals, weighted_log_prob


# ----------------------------------------------------------------- kernels
def em_kernel(tile: Tile, plan: RegressionPlan) -> Stats:
    """E-step and M-step statistics of one tile.

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D), ``tile.y`` (tile,), and row weights
        ``tile.weight`` (tile,) or None: each row's contribution to every
        statistic, to ``loglik`` and to ``n_rows`` is multiplied by its
        weight (``n_rows`` is then the summed weight).
    plan : RegressionPlan

    Returns
    -------
    Stats
        ``nk`` (K,), ``A`` (K, P(P+1)/2), ``b`` (K, P), ``q`` (K,), the gate's
        ``s1``/``s2`` for ``gating='gaussian'``, ``loglik`` (summed
        ``log p(x, y)``, or ``log p(y | x)`` for ``gating='none'``), ``n_rows``.
    """
    x, y, sample_weight = tile.X, tile.y.reshape(-1), tile.weight
    xs, frame, phi, residuals, weighted_log_prob = _posterior(x, y, plan)
    resp, log_norm = normalize_log_prob(weighted_log_prob)
    stats = _weighted_statistics(xs, frame, phi, residuals, resp, sample_weight, plan)
    if sample_weight is None:
        stats["loglik"] = log_norm.sum(dtype=np.float64)
    else:
        weights = sample_weight.reshape(-1).astype(np.float64, copy=False)
        stats["loglik"] = weights @ log_norm.astype(np.float64, copy=False)
    stats["n_rows"] = tile.total_weight()
    return stats


def _init_resp(x, xs, y, rows, plan: RegressionPlan) -> np.ndarray:
    """Responsibilities (K, tile) of an initialisation pass."""
    n_components = plan.n_components
    if plan.mode == "random":
        return random_resp(rows, n_components, plan.seed, np.float64)
    if plan.mode == "nearest":
        joint = np.column_stack([xs, y - plan.y_center])
        centers = plan.centers
        distances = np.einsum("kd,kd->k", centers, centers)[:, None] - 2.0 * (
            centers @ joint.T
        )
        labels = distances.argmin(axis=0)
        resp = np.zeros((n_components, x.shape[0]))
        resp[labels, np.arange(x.shape[0])] = 1.0
        return resp
    joint = np.column_stack([x, y])
    joint_gate = plan.joint_gate
    weighted_log_prob, _ = component_log_prob(joint - joint_gate.center, joint_gate)
    resp, _ = normalize_log_prob(weighted_log_prob.astype(np.float64))
    return resp


def init_kernel(tile: Tile, plan: RegressionPlan) -> Stats:
    """Statistics of one tile under initial responsibilities (see ``plan.mode``).

    The tile's global row numbers key 'random'. The statistics are those of
    :func:`em_kernel` (weighted likewise), with ``loglik`` zero.
    """
    x, y, sample_weight = tile.X, tile.y.reshape(-1), tile.weight
    xs = x - plan.center
    _, frame = _gate_log_prob(xs, plan)
    phi = _design(x, xs, plan)
    residuals = _residuals(phi, y, plan)
    resp = _init_resp(x, xs, y, tile.rows(), plan)
    stats = _weighted_statistics(xs, frame, phi, residuals, resp, sample_weight, plan)
    # zero, unless NaN/inf in the tile: then NaN, for ``check_pass`` to report
    stats["loglik"] = 0.0 * (stats["q"].sum() + stats["A"].sum())
    stats["n_rows"] = tile.total_weight()
    return stats


def loglik_kernel(tile: Tile, plan: RegressionPlan) -> Stats:
    """Summed ``log p(x, y)`` (gaussian gating) or ``log p(y | x)``, entropy, rows.

    With row weights, weighted sums: with integer weights, those of the rows
    repeated. See :func:`daskmix._em.scoring.score_stats`.
    """
    *_, weighted_log_prob = _posterior(tile.X, tile.y.reshape(-1), plan)
    return score_stats(weighted_log_prob, tile.weight)


def conditional_loglik_kernel(tile: Tile, plan: RegressionPlan) -> Stats:
    """:func:`loglik_kernel` with ``loglik`` the conditional ``log p(y | x)``.

    For ``gating='gaussian'`` the joint log-likelihood less the gate's
    ``log p(x)``; the same as :func:`loglik_kernel` for ``gating='none'``.
    """
    stats = loglik_kernel(tile, plan)
    if plan.gate is not None:
        gate = _gate_score(tile.X, plan)
        if tile.weight is None:
            stats["loglik"] = stats["loglik"] - gate.sum()
        else:
            weights = tile.weight.reshape(-1).astype(np.float64, copy=False)
            positive = weights > 0
            stats["loglik"] = stats["loglik"] - gate[positive] @ weights[positive]
    return stats


def r2_kernel(tile: Tile, plan: RegressionPlan) -> Stats:
    """Sums for R^2: total weight, SSE, and moments of ``y - y_center``.

    Rows weigh their ``tile.weight`` (one each without weights).
    """
    y = tile.y.reshape(-1).astype(np.float64, copy=False)
    if tile.weight is None:
        w = np.ones(tile.n_rows)
    else:
        w = tile.weight.reshape(-1).astype(np.float64, copy=False)
    shifted = y - plan.y_center
    error = y - _predict(tile.X, plan)
    return Stats(
        weight=w.sum(),
        sse=w @ error**2,
        s1=w @ shifted,
        s2=w @ shifted**2,
    )


# ---------------------------------------------------------- per-row outputs
def _log_gate(xs: np.ndarray, plan: RegressionPlan) -> np.ndarray:
    """``log g_k(x)`` (K, tile): the gate's posterior, or the log-weights."""
    if plan.gate is None:
        return np.broadcast_to(
            plan.log_weights[:, None], (plan.n_components, xs.shape[0])
        )
    weighted_log_prob, _ = component_log_prob(xs, plan.gate)
    _, log_norm = normalize_log_prob(weighted_log_prob)
    return weighted_log_prob - log_norm


def _component_means(x, xs, plan: RegressionPlan) -> np.ndarray:
    """Each line's prediction (K, tile), float64."""
    return (_design(x, xs, plan) @ plan.weights_t).T.astype(np.float64, copy=False)


def _predict(x: np.ndarray, plan: RegressionPlan) -> np.ndarray:
    """Gated conditional mean ``sum_k g_k(x) m_k(x)`` of rows ``x``, (tile,)."""
    xs = x - plan.center
    with np.errstate(under="ignore"):
        gate = np.exp(_log_gate(xs, plan))
    return np.einsum("kn,kn->n", gate, _component_means(x, xs, plan))


def predict_rows(tile: Tile, plan: RegressionPlan) -> np.ndarray:
    """Gated conditional mean ``sum_k g_k(x) m_k(x)``, (tile,)."""
    return _predict(tile.X, plan)


def predict_std_rows(tile: Tile, plan: RegressionPlan) -> np.ndarray:
    """Mean and moment-matched standard deviation of ``p(y | x)``, (tile, 2).

    ``var = sum_k g_k (sigma_k^2 + m_k^2) - mean^2``, computed as
    ``sum_k g_k (sigma_k^2 + (m_k - mean)^2)`` (no cancellation).
    """
    x = tile.X
    xs = x - plan.center
    with np.errstate(under="ignore"):
        gate = np.exp(_log_gate(xs, plan))
    means = _component_means(x, xs, plan)
    mean = np.einsum("kn,kn->n", gate, means)
    spread = (means - mean) ** 2 + (1.0 / plan.noise_precision)[:, None]
    return np.column_stack([mean, np.sqrt(np.einsum("kn,kn->n", gate, spread))])


def gate_proba_rows(tile: Tile, plan: RegressionPlan) -> np.ndarray:
    """``p(k | x)``: the gate, (tile, K)."""
    with np.errstate(under="ignore"):
        return np.exp(_log_gate(tile.X - plan.center, plan)).T.astype(np.float64)


def posterior_rows(tile: Tile, plan: RegressionPlan) -> np.ndarray:
    """``p(k | x, y)``, (tile, K)."""
    *_, weighted_log_prob = _posterior(tile.X, tile.y.reshape(-1), plan)
    resp, _ = normalize_log_prob(weighted_log_prob)
    return np.ascontiguousarray(resp.T)


def conditional_score_rows(tile: Tile, plan: RegressionPlan) -> np.ndarray:
    """``log p(y | x)``, (tile,)."""
    x, y = tile.X, tile.y.reshape(-1)
    xs = x - plan.center
    residuals = _residuals(_design(x, xs, plan), y, plan)
    _, log_norm = normalize_log_prob(
        _log_gate(xs, plan) + _line_log_prob(residuals, plan)
    )
    return log_norm


def gate_score_rows(tile: Tile, plan: RegressionPlan) -> np.ndarray:
    """``log p(x)`` under the gate, (tile,)."""
    return _gate_score(tile.X, plan)


def _gate_score(x: np.ndarray, plan: RegressionPlan) -> np.ndarray:
    """``log p(x)`` under the gate of rows ``x``, (tile,)."""
    weighted_log_prob, _ = component_log_prob(x - plan.center, plan.gate)
    return normalize_log_prob(weighted_log_prob)[1].astype(np.float64)
