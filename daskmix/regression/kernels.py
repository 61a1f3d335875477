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

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._em.scoring import score_stats
from .._engine.jit import kernel_backend
from .._engine.stats import Stats
from .._engine.tiles import Tile
from ..gaussian.kernels import (
    LOG_2PI,
    GaussianPlan,
    component_log_prob,
    normalize_log_prob,
    random_resp,
    weigh_resp,
)
from . import compiled
from .design import (
    SharedGrams,
    packed_grams,
    select,
    triangle,
    uses_pairwise_products,
    with_intercept,
)
from .families import Family, family
from .gates import Gate, gate
from .params import (
    RegressionConfig,
    RegressionParams,
    frame_weights,
    n_coefficients,
)

#: how an initialisation pass forms its responsibilities
INIT_MODES = ("nearest", "random", "joint_posterior")


@dataclass
class RegressionPlan:
    """Everything a kernel needs for one pass, precomputed on the client.

    Attributes
    ----------
    center : ndarray of shape (D,), data dtype
        The frame shift ``c`` of every column of X.
    fit_intercept : bool
    gate : GaussianPlan, LogisticPlan or None
        The gate's plan (:meth:`daskmix.regression.gates.Gate.plan`).
    log_weights : ndarray of shape (K,)
        ``log pi_k`` (used by ``gating='none'``).
    weights_t : ndarray of shape (P, K), data dtype
        Transposed frame weights: ``phi @ weights_t`` are the K linear
        predictors.
    noise_log_const : ndarray of shape (K,)
        ``-0.5 log(2 pi sigma_k^2)`` (Gaussian family).
    noise_precision : ndarray of shape (K,)
        ``1 / sigma_k^2`` (Gaussian family).
    rows, cols : ndarray of shape (P(P+1)/2,)
        Upper-triangle indices of the design's pairwise products.
    pairwise : bool
        Whether the normal matrices are built from the pairwise products
        (:func:`~daskmix.regression.design.uses_pairwise_products`), decided
        on the client.
    family : Family
        The components' response family.
    gating : Gate
        The gate object.
    expert_columns, gate_columns : tuple of int or None
        Columns of X the experts and the gate see (None: all).
    offset_column : int or None
        Column of X added to every linear predictor (its log if
        ``offset_log``).
    offset_log : bool
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
    backend : {'numpy', 'compiled'}
        Which kernels run the pass (:mod:`daskmix.regression.compiled`).
    """

    center: np.ndarray
    fit_intercept: bool
    gate: Any
    log_weights: np.ndarray
    weights_t: np.ndarray
    noise_log_const: np.ndarray
    noise_precision: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    pairwise: bool = True
    family: Family = family("gaussian")
    gating: Gate = gate("none")
    expert_columns: tuple | None = None
    gate_columns: tuple | None = None
    offset_column: int | None = None
    offset_log: bool = False
    mode: str = "posterior"
    centers: np.ndarray | None = None
    y_center: float = 0.0
    joint_gate: GaussianPlan | None = None
    seed: int = 0
    backend: str = "numpy"

    @property
    def n_components(self) -> int:
        return self.log_weights.shape[0]

    def grams(self, phi: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Upper triangles of ``Phi^T diag(w_k) Phi`` for every k, (K, P(P+1)/2)."""
        return packed_grams(phi, weights, self.pairwise, self.rows, self.cols)

    @property
    def gate_shares_design(self) -> bool:
        """Whether a logistic gate's design rows are the experts' (``z = phi``)."""
        return (
            self.gating.name == "logistic"
            and self.fit_intercept
            and self.gate_columns == self.expert_columns
        )

    def offset_of(self, x: np.ndarray) -> np.ndarray | None:
        """The rows' offsets of the linear predictors (tile,), float64, or None."""
        if self.offset_column is None:
            return None
        offset = x[:, self.offset_column].astype(np.float64)
        if self.offset_log:
            with np.errstate(divide="ignore"):
                offset = np.log(offset)
        return offset


def make_plan(
    params: RegressionParams, config: RegressionConfig, dtype, **init_fields
) -> RegressionPlan:
    """Precompute the per-pass constants of ``params`` for tiles of ``dtype``.

    ``params.x_center`` must be exactly representable in ``dtype``, so that the
    shift applied to the data is the one the M-step assumes.
    """
    dtype = np.dtype(dtype)
    fit_intercept = config.fit_intercept
    gating = gate(config.gating)
    center = np.asarray(params.x_center, dtype=dtype)
    with np.errstate(divide="ignore"):
        log_weights = np.log(params.weights)
    variance = params.noise_variance
    n_coef = n_coefficients(params.n_features, fit_intercept)
    rows, cols = triangle(n_coef)
    return RegressionPlan(
        center=center,
        fit_intercept=fit_intercept,
        gate=gating.plan(params, dtype),
        log_weights=log_weights,
        weights_t=np.ascontiguousarray(
            frame_weights(params, fit_intercept).T, dtype=dtype
        ),
        noise_log_const=-0.5 * (LOG_2PI + np.log(variance)),
        noise_precision=1.0 / variance,
        rows=rows,
        cols=cols,
        pairwise=uses_pairwise_products(n_coef),
        family=family(config.family),
        gating=gating,
        expert_columns=config.expert_columns,
        gate_columns=config.gate_columns,
        offset_column=config.offset_column,
        offset_log=config.offset_log,
        backend=kernel_backend(),
        **init_fields,
    )


# ------------------------------------------------------------------ pieces
def _design(x: np.ndarray, xs: np.ndarray, plan: RegressionPlan) -> np.ndarray:
    """Experts' design rows ``[x_e - c, 1]`` (or ``x_e`` without one), (tile, P)."""
    if not plan.fit_intercept:
        return select(x, plan.expert_columns)
    return with_intercept(select(xs, plan.expert_columns))


def _statistics(
    xs: np.ndarray,
    frame,
    phi: np.ndarray,
    terms,
    resp: np.ndarray,
    sample_weight,
    plan: RegressionPlan,
) -> Stats:
    """Gate and line statistics of one tile, float64 (``resp`` weighted)."""
    resp_d = resp.astype(phi.dtype, copy=False)
    shared = None
    if plan.gate_shares_design and plan.pairwise:
        # the gate's Hessian and the lines' normal matrices: Grams of phi alike
        shared = SharedGrams(phi, plan.rows, plan.cols)
    stats = plan.gating.statistics(xs, frame, resp, resp_d, sample_weight, plan, shared)
    line_stats = plan.family.statistics(phi, terms, resp, resp_d, plan, shared)
    if shared is not None:
        shared.fill()
    stats.update(line_stats)
    return stats


def _weighted_statistics(xs, frame, phi, terms, resp, sample_weight, plan):
    """:func:`_statistics` with each row's responsibilities times its weight.

    ``sample_weight`` None: the unweighted statistics.
    """
    if sample_weight is not None:
        resp = weigh_resp(resp, sample_weight)
    return _statistics(xs, frame, phi, terms, resp, sample_weight, plan)


def _posterior(tile: Tile, plan: RegressionPlan):
    """Shared front of the E-step: frame, design, line terms, joint log-probs."""
    x = tile.X
    xs = x - plan.center
    phi = _design(x, xs, plan)
    gate_log_prob, frame = plan.gating.log_prob(xs, plan, phi)
    terms = plan.family.terms(phi, tile, plan)
    weighted_log_prob = gate_log_prob + plan.family.log_prob(terms, plan)
    return xs, frame, phi, terms, weighted_log_prob


# ----------------------------------------------------------------- kernels
def em_kernel(tile: Tile, plan: RegressionPlan) -> Stats:
    """E-step and M-step statistics of one tile.

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D), ``tile.y`` (tile,), the binomial family's
        ``trials`` when given, and row weights ``tile.weight`` (tile,) or
        None: each row's contribution to every statistic, to ``loglik`` and
        to ``n_rows`` is multiplied by its weight (``n_rows`` is then the
        summed weight).
    plan : RegressionPlan

    Returns
    -------
    Stats
        ``nk`` (K,), ``A`` (K, P(P+1)/2), ``b`` (K, P), ``q`` (K,) (Gaussian
        family), the gate's fields (:mod:`daskmix.regression.gates`),
        ``loglik`` (summed ``log p(x, y)`` for ``gating='gaussian'``, else
        ``log p(y | x)``) and ``n_rows``.
    """
    if compiled.supports(tile, plan):
        return compiled.em_kernel(tile, plan)
    sample_weight = tile.weight
    xs, frame, phi, terms, weighted_log_prob = _posterior(tile, plan)
    resp, log_norm = normalize_log_prob(weighted_log_prob)
    stats = _weighted_statistics(xs, frame, phi, terms, resp, sample_weight, plan)
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
    phi = _design(x, xs, plan)
    _, frame = plan.gating.log_prob(xs, plan, phi)
    terms = plan.family.terms(phi, tile, plan)
    resp = _init_resp(x, xs, y, tile.rows(), plan)
    stats = _weighted_statistics(xs, frame, phi, terms, resp, sample_weight, plan)
    # zero, unless NaN/inf in the tile: then NaN, for ``check_pass`` to report
    stats["loglik"] = 0.0 * (stats["b"].sum() + stats["A"].sum())
    stats["n_rows"] = tile.total_weight()
    return stats


def loglik_kernel(tile: Tile, plan: RegressionPlan) -> Stats:
    """Summed ``log p(x, y)`` (gaussian gating) or ``log p(y | x)``, entropy, rows.

    With row weights, weighted sums: with integer weights, those of the rows
    repeated. See :func:`daskmix._em.scoring.score_stats`.
    """
    *_, weighted_log_prob = _posterior(tile, plan)
    return score_stats(weighted_log_prob, tile.weight)


def conditional_loglik_kernel(tile: Tile, plan: RegressionPlan) -> Stats:
    """:func:`loglik_kernel` with ``loglik`` the conditional ``log p(y | x)``.

    For ``gating='gaussian'`` the joint log-likelihood less the gate's
    ``log p(x)``; the same as :func:`loglik_kernel` for the other gates.
    """
    stats = loglik_kernel(tile, plan)
    if plan.gating.models_x:
        gate_score = _gate_score(tile.X, plan)
        if tile.weight is None:
            stats["loglik"] = stats["loglik"] - gate_score.sum()
        else:
            weights = tile.weight.reshape(-1).astype(np.float64, copy=False)
            positive = weights > 0
            stats["loglik"] = stats["loglik"] - gate_score[positive] @ weights[positive]
    return stats


def r2_kernel(tile: Tile, plan: RegressionPlan) -> Stats:
    """Sums for R^2: total weight, SSE, and moments of ``y - y_center``.

    ``y`` on the response scale (the success proportion for the binomial
    family). Rows weigh their ``tile.weight`` (one each without weights).
    """
    y = plan.family.response(tile)
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
OVERFLOW_MESSAGE = (
    "{what} overflowed float64 for some rows: their values of X (or y) are "
    "too large in magnitude for the fitted model's arithmetic. Scale the "
    "data, e.g. with sklearn.preprocessing.StandardScaler, before fitting."
)


def finite_rows(what: str):
    """Run a per-row function without floating-point warnings, then check it.

    Finite rows of extreme magnitude can overflow inside the arithmetic
    (squared residuals, exponentials): the result is returned when every
    value is finite, and a ValueError naming the output is raised otherwise,
    never NaN or infinity.
    """

    def decorate(fn):
        @functools.wraps(fn)
        def checked(tile: Tile, plan) -> np.ndarray:
            with np.errstate(all="ignore"):
                values = fn(tile, plan)
            if not np.isfinite(values).all():
                raise ValueError(OVERFLOW_MESSAGE.format(what=what))
            return values

        return checked

    return decorate


def _log_gate(xs: np.ndarray, plan: RegressionPlan) -> np.ndarray:
    """``log g_k(x)`` (K, tile): the gate's posterior, or the log-weights."""
    return plan.gating.log_gate(xs, plan)


def _component_means(x, xs, plan: RegressionPlan) -> np.ndarray:
    """Each component's mean of y on the response scale (K, tile), float64."""
    eta = (_design(x, xs, plan) @ plan.weights_t).T.astype(np.float64, copy=False)
    offset = plan.offset_of(x)
    if offset is not None:
        eta = eta + offset[None, :]
    return plan.family.component_means(eta)


def _gated_mean(gate: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``sum_k g_k m_k`` (tile,), without ``0 * inf``: a zero gate drops its line."""
    mean = np.einsum("kn,kn->n", gate, means)
    lost = np.isnan(mean)
    if lost.any():
        gate, means = gate[:, lost], means[:, lost]
        mean[lost] = np.where(gate == 0.0, 0.0, gate * means).sum(axis=0)
    return mean


def _predict(x: np.ndarray, plan: RegressionPlan) -> np.ndarray:
    """Gated conditional mean ``sum_k g_k(x) m_k(x)`` of rows ``x``, (tile,)."""
    xs = x - plan.center
    with np.errstate(under="ignore"):
        gate_proba = np.exp(_log_gate(xs, plan))
    return _gated_mean(gate_proba, _component_means(x, xs, plan))


@finite_rows("The prediction")
def predict_rows(tile: Tile, plan: RegressionPlan) -> np.ndarray:
    """Gated conditional mean ``sum_k g_k(x) m_k(x)``, (tile,)."""
    return _predict(tile.X, plan)


@finite_rows("The prediction or its standard deviation")
def predict_std_rows(tile: Tile, plan: RegressionPlan) -> np.ndarray:
    """Mean and moment-matched standard deviation of ``p(y | x)``, (tile, 2).

    ``var = sum_k g_k (v_k + m_k^2) - mean^2``, computed as
    ``sum_k g_k (v_k + (m_k - mean)^2)`` (no cancellation), with ``v_k`` the
    component's variance (``sigma_k^2``; the mean for Poisson; ``p (1 - p)``
    per trial for the binomial).
    """
    x = tile.X
    xs = x - plan.center
    with np.errstate(under="ignore"):
        gate_proba = np.exp(_log_gate(xs, plan))
    means = _component_means(x, xs, plan)
    mean = _gated_mean(gate_proba, means)
    spread = (means - mean) ** 2 + plan.family.component_variances(means, plan)
    return np.column_stack([mean, np.sqrt(_gated_mean(gate_proba, spread))])


@finite_rows("The gate's probabilities")
def gate_proba_rows(tile: Tile, plan: RegressionPlan) -> np.ndarray:
    """``p(k | x)``: the gate, (tile, K)."""
    with np.errstate(under="ignore"):
        return np.exp(_log_gate(tile.X - plan.center, plan)).T.astype(np.float64)


@finite_rows("The posterior")
def posterior_rows(tile: Tile, plan: RegressionPlan) -> np.ndarray:
    """``p(k | x, y)``, (tile, K)."""
    *_, weighted_log_prob = _posterior(tile, plan)
    resp, _ = normalize_log_prob(weighted_log_prob)
    return np.ascontiguousarray(resp.T)


@finite_rows("The log-likelihood")
def conditional_score_rows(tile: Tile, plan: RegressionPlan) -> np.ndarray:
    """``log p(y | x)``, (tile,)."""
    x = tile.X
    xs = x - plan.center
    terms = plan.family.terms(_design(x, xs, plan), tile, plan)
    _, log_norm = normalize_log_prob(
        _log_gate(xs, plan) + plan.family.log_prob(terms, plan)
    )
    return log_norm


@finite_rows("The log-density of x")
def gate_score_rows(tile: Tile, plan: RegressionPlan) -> np.ndarray:
    """``log p(x)`` under the gate, (tile,)."""
    return _gate_score(tile.X, plan)


def _gate_score(x: np.ndarray, plan: RegressionPlan) -> np.ndarray:
    """``log p(x)`` under the (Gaussian) gate of rows ``x``, (tile,)."""
    weighted_log_prob, _ = component_log_prob(
        select(x - plan.center, plan.gate_columns), plan.gate
    )
    return normalize_log_prob(weighted_log_prob)[1].astype(np.float64)


def label_rows(tile: Tile, plan: RegressionPlan) -> np.ndarray:
    """The most probable component: of ``p(k | x, y)`` with y, else of the gate.

    Overflowing rows raise the ValueError of :func:`finite_rows`.
    """
    if tile.y is None:
        proba = gate_proba_rows(tile, plan)
    else:
        proba = posterior_rows(tile, plan)
    return proba.argmax(axis=1)
