"""The gates of a regression mixture, ``g_k(x)``: one object each.

==============  =============================================  ================
gate            ``g_k(x)``                                     fitted by
==============  =============================================  ================
``none``        ``pi_k``                                       closed form
``gaussian``    ``∝ pi_k N(x_g | mu_k, Sigma_k)`` (a cluster-  closed form (the
                weighted model; EM fits the joint p(x, y))      Gaussian mixture's)
``logistic``    ``softmax(z gamma)_k``, ``z = [x_g, 1]``, with  safeguarded Newton
                ``gamma_0 = 0`` (flexmix's ``FLXPmultinom``,    step per pass
                a mixture of experts)
==============  =============================================  ================

``x_g`` are the columns of X the gate sees (``gate_features``; all by
default). The kernels and the M-step ask the gate object; the Gaussian gate
asks its covariance object (:mod:`daskmix.gaussian.covariance`) in turn and
never looks at a covariance model's name.

Every gate's statistics hold ``nk`` (K,), the summed responsibilities. The
logistic gate adds, at the coefficients of the pass, the gradient of its
expected log-likelihood ``gate_grad`` ((K-1), P_g) and the packed blocks of
its negated Hessian ``gate_hess`` (one per pair k <= l of non-reference
components, each ``sum_i w_i (delta_kl g_ik - g_ik g_il) z_i z_i^T``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._engine.stats import Stats
from ..gaussian.covariance import covariance
from ..gaussian.kernels import (
    GaussianPlan,
    component_log_prob,
    normalize_log_prob,
    weighted_shared_scatter,
)
from ..gaussian.kernels import make_plan as make_gaussian_plan
from ..gaussian.params import NK_EPS, GaussianParams, StatsFrame
from ..gaussian.params import m_step as gaussian_m_step
from ..gaussian.params import reframe_stats as reframe_gaussian_stats
from .design import (
    pack,
    packed_grams,
    select,
    shift_transform,
    triangle,
    unpack,
    uses_pairwise_products,
    with_intercept,
)
from .newton import design_box, gate_growth_exponent, solve_psd, step_length

F64 = np.float64


@dataclass(frozen=True)
class LogisticGateParams:
    """Coefficients of a multinomial-logit gate (float64).

    Attributes
    ----------
    coef : ndarray of shape (K, D_g)
        Slopes of each component's logit; row 0 (the reference) is zero.
    intercept : ndarray of shape (K,)
        Intercepts of the logits; ``intercept[0] = 0``.
    """

    coef: np.ndarray
    intercept: np.ndarray


@dataclass(frozen=True)
class LogisticPlan:
    """What the kernels need of a logistic gate for one pass.

    Attributes
    ----------
    weights_t : ndarray of shape (P_g, K), data dtype
        The logits' coefficients in the frame ``z = [x_g - c_g, 1]``.
    rows, cols : ndarray of shape (P_g (P_g + 1) / 2,)
        Upper-triangle indices of the gate design's products.
    pairwise : bool
        Whether the Hessian blocks come from the design's pairwise products.
    pair_k, pair_l : ndarray of shape (M,)
        Pairs ``1 <= k <= l < K`` of non-reference components.
    """

    weights_t: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    pairwise: bool
    pair_k: np.ndarray
    pair_l: np.ndarray


def gate_pairs(n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``1 <= k <= l < K`` (the Hessian blocks of a logistic gate)."""
    k, l = np.triu_indices(n_components - 1)
    return k + 1, l + 1


def gate_center(params) -> np.ndarray:
    """The frame shift of the gate's columns."""
    return select(params.x_center[None, :], params.gate_columns)[0]


class Gate(ABC):
    """A gate of the regression mixture (see the module docstring).

    Attributes
    ----------
    name : str
    models_x : bool
        Whether the gate is a density of x: the likelihood is then the joint
        ``p(x, y)`` (``score_samples`` without y, ``sample``).
    needs_range : bool
        Whether its M-step needs the range of the data (``x_range``).
    """

    name: str = "gate"
    models_x: bool = False
    needs_range: bool = False

    @abstractmethod
    def plan(self, params, dtype) -> Any:
        """The gate's part of a pass's plan (``RegressionPlan.gate``)."""

    @abstractmethod
    def log_prob(self, xs: np.ndarray, plan, phi=None) -> tuple[np.ndarray, Any]:
        """What the gate adds to each component's log-density, and its frame.

        ``log pi_k + log N(x_g | mu_k, Sigma_k)`` for the Gaussian gate (a
        joint density), ``log g_k(x)`` for the others; (K, tile), or (K, 1)
        when it does not depend on x. ``xs`` is ``x - x_center``; ``phi``
        the experts' design rows, which a logistic gate on the same columns
        uses as its own.
        """

    @abstractmethod
    def log_gate(self, xs: np.ndarray, plan) -> np.ndarray:
        """``log g_k(x)`` (K, tile), normalised over components."""

    @abstractmethod
    def statistics(
        self, xs, frame, resp, resp_d, sample_weight, plan, shared=None
    ) -> Stats:
        """``nk`` and the gate's own sums of one tile (responsibilities weighted).

        ``shared``: a :class:`~daskmix.regression.design.SharedGrams` of the
        experts' design, which a logistic gate on that design asks for its
        Hessian's Grams.
        """

    @abstractmethod
    def m_step(self, stats: Stats, params, config) -> tuple[Any, np.ndarray]:
        """The new gate parameters and mixing weights."""

    def reframe(self, stats: Stats, old, new, config) -> Stats:
        """The gate's statistics moved from the frame of ``old`` to ``new``."""
        return stats

    @abstractmethod
    def n_parameters(self, n_components: int, n_features: int, config) -> int:
        """Free parameters of the gate, weights included (``n_features``: x_g's)."""

    @abstractmethod
    def start(self, x: np.ndarray, weights: np.ndarray, config, row_weight=None):
        """A gate that does not prefer any component by x, with these weights.

        ``x`` (n, D_g) is a sample of the gate's columns.
        """

    @abstractmethod
    def identity(self, config, n_components: int, center: np.ndarray):
        """The gate of an initialisation pass's frame (statistics as plain sums)."""


class NoGate(Gate):
    """Constant mixing weights ``g_k = pi_k``."""

    name = "none"

    def plan(self, params, dtype) -> None:
        return None

    def log_prob(self, xs, plan, phi=None):
        return plan.log_weights[:, None], None

    def log_gate(self, xs, plan):
        return np.broadcast_to(
            plan.log_weights[:, None], (plan.n_components, xs.shape[0])
        )

    def statistics(
        self, xs, frame, resp, resp_d, sample_weight, plan, shared=None
    ) -> Stats:
        return Stats(nk=resp.sum(axis=1, dtype=F64))

    def m_step(self, stats, params, config):
        nk = stats["nk"]
        return None, (nk + NK_EPS) / (nk + NK_EPS).sum()

    def n_parameters(self, n_components, n_features, config) -> int:
        return n_components - 1

    def start(self, x, weights, config, row_weight=None):
        return None

    def identity(self, config, n_components, center):
        return None


class GaussianGate(Gate):
    """``g_k(x) ∝ pi_k N(x_g | mu_k, Sigma_k)``: a Gaussian mixture on x."""

    name = "gaussian"
    models_x = True

    def plan(self, params, dtype) -> GaussianPlan:
        return make_gaussian_plan(params.gate, dtype, center=gate_center(params))

    def log_prob(self, xs, plan, phi=None):
        return component_log_prob(select(xs, plan.gate_columns), plan.gate)

    def log_gate(self, xs, plan):
        weighted_log_prob, _ = component_log_prob(
            select(xs, plan.gate_columns), plan.gate
        )
        _, log_norm = normalize_log_prob(weighted_log_prob)
        return weighted_log_prob - log_norm

    def statistics(
        self, xs, frame, resp, resp_d, sample_weight, plan, shared=None
    ) -> Stats:
        cov = plan.gate.covariance
        stats = cov.accumulate(select(xs, plan.gate_columns), frame, resp_d)
        if sample_weight is not None and cov.shared:
            weighted_shared_scatter(stats, frame, sample_weight)
        return stats

    def m_step(self, stats, params, config):
        gate = gaussian_m_step(
            stats,
            params.gate.means,
            params.gate.precisions_cholesky,
            gate_center(params),
            config.covariance_type,
            config.reg_covar,
        )
        return gate, gate.weights

    def reframe(self, stats, old, new, config):
        return reframe_gaussian_stats(
            stats, config.covariance_type, stats_frame(old), stats_frame(new)
        )

    def n_parameters(self, n_components, n_features, config) -> int:
        return covariance(config.covariance_type).n_parameters(n_components, n_features)

    def start(self, x, weights, config, row_weight=None) -> GaussianParams:
        n_components = weights.shape[0]
        cov_type = config.covariance_type
        n_features = x.shape[1]
        pooled = np.atleast_2d(np.cov(x, rowvar=False, aweights=row_weight))
        pooled = pooled + config.reg_covar * np.eye(n_features)
        cov = covariance(cov_type)
        covariances = cov.from_pooled(pooled, n_components)
        return GaussianParams(
            cov_type,
            weights,
            np.tile(np.average(x, axis=0, weights=row_weight), (n_components, 1)),
            covariances,
            cov.precisions_cholesky_from_covariances(covariances),
        )

    def identity(self, config, n_components, center) -> GaussianParams:
        prec_chol = covariance(config.covariance_type).identity_precisions_cholesky(
            n_components, center.shape[0]
        )
        return GaussianParams(
            config.covariance_type,
            np.full(n_components, 1.0 / n_components),
            np.tile(center, (n_components, 1)),
            None,
            prec_chol,
        )


def stats_frame(params) -> StatsFrame:
    """The frame the kernels take a Gaussian gate's statistics in under ``params``.

    The gate plan is shifted by the gate columns' ``x_center``; full and tied
    covariances are whitened by the gate's precision factors, as in
    GaussianMixture.
    """
    gate = params.gate
    whiten = covariance(gate.covariance_type).whitening(gate.precisions_cholesky)
    return StatsFrame(gate.means, whiten, np.asarray(gate_center(params), F64))


class LogisticGate(Gate):
    """``g_k(x) = softmax(z gamma)_k``, ``z = [x_g, 1]``; component 0 the reference."""

    name = "logistic"
    needs_range = True

    def plan(self, params, dtype) -> LogisticPlan:
        n_coef = params.gate.coef.shape[1] + 1
        rows, cols = triangle(n_coef)
        pair_k, pair_l = gate_pairs(params.n_components)
        return LogisticPlan(
            weights_t=np.ascontiguousarray(logistic_frame(params).T, dtype=dtype),
            rows=rows,
            cols=cols,
            pairwise=uses_pairwise_products(n_coef),
            pair_k=pair_k,
            pair_l=pair_l,
        )

    def design(self, xs: np.ndarray, plan) -> np.ndarray:
        """The gate's design rows ``z = [x_g - c_g, 1]``, (tile, P_g)."""
        return with_intercept(select(xs, plan.gate_columns))

    def log_prob(self, xs, plan, phi=None):
        z = phi if phi is not None and plan.gate_shares_design else None
        if z is None:
            z = self.design(xs, plan)
        # (K, P) @ (P, tile): C-ordered (K, tile) with no transposed copy
        logits = (plan.gate.weights_t.T @ z.T).astype(F64, copy=False)
        gate, log_norm = normalize_log_prob(logits)
        log_gate = logits - log_norm
        return log_gate, (z, log_gate, gate)

    def log_gate(self, xs, plan):
        return self.log_prob(xs, plan)[0]

    def statistics(
        self, xs, frame, resp, resp_d, sample_weight, plan, shared=None
    ) -> Stats:
        z, _, gate = frame
        gate_plan = plan.gate
        weighted = gate
        if sample_weight is not None:
            weighted = gate * sample_weight.reshape(-1).astype(F64, copy=False)
        stats = Stats(nk=resp.sum(axis=1, dtype=F64))
        dtype = z.dtype
        stats["gate_grad"] = (
            (resp[1:] - weighted[1:]).astype(dtype, copy=False) @ z
        ).astype(F64, copy=False)
        curvatures = _pair_curvatures(gate, weighted).astype(dtype, copy=False)
        if shared is not None:
            shared.request(stats, "gate_hess", curvatures)
            return stats
        stats["gate_hess"] = packed_grams(
            z, curvatures, gate_plan.pairwise, gate_plan.rows, gate_plan.cols
        ).astype(F64, copy=False)
        return stats

    def m_step(self, stats, params, config):
        nk = stats["nk"]
        weights = (nk + NK_EPS) / (nk + NK_EPS).sum()
        frame = logistic_frame(params)
        n_components, n_coef = frame.shape
        if n_components == 1:
            return params.gate, weights
        hessian = gate_hessian(stats["gate_hess"], n_components, n_coef)
        gradient = stats["gate_grad"].ravel()
        direction = solve_psd(hessian, gradient)
        box = design_box(
            params.x_range, params.gate_columns, gate_center(params), True, True
        )
        steps = np.vstack([np.zeros(n_coef), direction.reshape(-1, n_coef)])
        step = step_length(
            float(gradient @ direction),
            float(direction @ hessian @ direction),
            0.0,
            gate_growth_exponent(steps, box),
        )
        new_frame = frame + step * steps
        coef, intercept = unframe(new_frame, gate_center(params))
        return LogisticGateParams(coef, intercept), weights

    def reframe(self, stats, old, new, config):
        n_components = old.n_components
        if n_components == 1:
            return stats
        out = stats.copy()
        n_coef = old.gate.coef.shape[1] + 1
        old_frame = logistic_frame(old)
        old_center, new_center = gate_center(old), gate_center(new)
        hessian_blocks = stats["gate_hess"]
        if not np.array_equal(old_center, new_center):
            transform = shift_transform(n_coef, old_center, new_center)
            blocks = unpack(hessian_blocks, n_coef)
            hessian_blocks = pack(transform.T @ blocks @ transform)
            out["gate_hess"] = hessian_blocks
            out["gate_grad"] = stats["gate_grad"] @ transform
            old_frame = frame_of(old.gate, new_center)
        shift = (logistic_frame(new) - old_frame)[1:].ravel()
        hessian = gate_hessian(hessian_blocks, n_components, n_coef)
        out["gate_grad"] = out["gate_grad"] - (hessian @ shift).reshape(
            n_components - 1, n_coef
        )
        return out

    def n_parameters(self, n_components, n_features, config) -> int:
        return (n_components - 1) * (n_features + 1)

    def start(self, x, weights, config, row_weight=None) -> LogisticGateParams:
        n_components = weights.shape[0]
        with np.errstate(divide="ignore"):
            logits = np.log(weights) - np.log(weights[0])
        return LogisticGateParams(
            np.zeros((n_components, x.shape[1])), np.nan_to_num(logits, neginf=-30.0)
        )

    def identity(self, config, n_components, center) -> LogisticGateParams:
        return LogisticGateParams(
            np.zeros((n_components, center.shape[0])), np.zeros(n_components)
        )


def _pair_curvatures(gate: np.ndarray, weighted: np.ndarray) -> np.ndarray:
    """``w (delta_kl g_k - g_k g_l)`` for the pairs ``1 <= k <= l < K``, (M, tile).

    In :func:`gate_pairs` order, where each k's pairs are consecutive: one
    contiguous product per k, no gathers.
    """
    n_components = gate.shape[0]
    n_pairs = (n_components - 1) * n_components // 2
    out = np.empty((n_pairs, gate.shape[1]))
    start = 0
    for k in range(1, n_components):
        stop = start + n_components - k
        np.multiply(weighted[k], gate[k:], out=out[start:stop])
        np.negative(out[start:stop], out=out[start:stop])
        out[start] += weighted[k]
        start = stop
    return out


def frame_of(gate: LogisticGateParams, center: np.ndarray) -> np.ndarray:
    """Logit coefficients (K, P_g) in the frame ``[x_g - center, 1]``."""
    return np.column_stack([gate.coef, gate.intercept + gate.coef @ center])


def logistic_frame(params) -> np.ndarray:
    """The logistic gate of ``params`` in its frame, (K, P_g)."""
    return frame_of(params.gate, gate_center(params))


def unframe(frame: np.ndarray, center: np.ndarray):
    """``coef`` (K, D_g) and ``intercept`` (K,) from frame coefficients (K, P_g)."""
    coef = frame[:, :-1].copy()
    return coef, frame[:, -1] - coef @ center


def gate_hessian(packed: np.ndarray, n_components: int, n_coef: int) -> np.ndarray:
    """The negated Hessian ((K-1) P_g, (K-1) P_g) from its packed pair blocks."""
    blocks = unpack(packed, n_coef)
    pair_k, pair_l = gate_pairs(n_components)
    size = (n_components - 1) * n_coef
    hessian = np.zeros((size, size))
    for block, k, l in zip(blocks, pair_k - 1, pair_l - 1):
        rows = slice(k * n_coef, (k + 1) * n_coef)
        cols = slice(l * n_coef, (l + 1) * n_coef)
        hessian[rows, cols] = block
        hessian[cols, rows] = block
    return hessian


_GATES = {gate.name: gate for gate in (GaussianGate(), NoGate(), LogisticGate())}
#: the gatings ``RegressionMixture(gating=...)`` accepts
GATINGS = tuple(_GATES)


def gate(name: str) -> Gate:
    """The gate object of ``name`` (one of :data:`GATINGS`)."""
    try:
        return _GATES[name]
    except KeyError:
        raise ValueError(
            f"Unknown gating {name!r}; expected one of {list(GATINGS)}."
        ) from None
