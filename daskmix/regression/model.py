"""The regression mixture as a :class:`~daskmix._em.model.MixtureModel`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._em.model import MixtureModel
from .._engine.rows import RowBlocks, default_tile_rows, one_blas_thread
from .._engine.stats import Stats
from .degenerate import degenerate_components, degenerate_message
from .design import uses_pairwise_products
from .families import family
from .gates import gate
from .kernels import (
    RegressionPlan,
    conditional_loglik_kernel,
    em_kernel,
    loglik_kernel,
    make_plan,
)
from .params import (
    RegressionConfig,
    RegressionParams,
    m_step,
    n_coefficients,
    reframe_stats,
    replace,
)
from .starts import column_range, initial_params


def regression_tile_rows(
    n_components: int,
    n_features: int,
    fit_intercept: bool,
    gate_features: int | None = None,
):
    """Rows per tile of the regression kernels (gate and design temporaries).

    ``gate_features``: the logistic gate's columns, whose Hessian blocks need
    ``(K-1) K / 2`` weights and the gate design's products per row (None:
    no logistic gate).
    """
    n_coef = n_coefficients(n_features, fit_intercept)
    if uses_pairwise_products(n_coef):
        design = n_coef * (n_coef + 1) // 2 + 2 * n_components
    else:
        design = 2 * n_coef + 2 * n_components  # scaled design, per component
    width = max(n_components * max(n_features, 2), design)
    if gate_features is not None:
        gate_coef = gate_features + 1
        pairs = (n_components - 1) * n_components // 2
        products = gate_coef * (gate_coef + 1) // 2
        if not uses_pairwise_products(gate_coef):
            products = 2 * gate_coef
        width = max(width, pairs + products)
    return default_tile_rows(width)


@dataclass
class RegressionModel(MixtureModel):
    """A regression mixture with fixed hyper-parameters.

    Parameters
    ----------
    n_components : int
    config : RegressionConfig
        Gating, noise model, intercept, gate covariance type, regularisation.
    init_params : str
        The start method (:mod:`daskmix.regression.starts`).

    Data with row weights (a ``weight`` array) are weighted in every pass
    and in the start.
    """

    n_components: int
    config: RegressionConfig
    init_params: str = "kmeans"

    name = "regression"
    kernel = staticmethod(em_kernel)
    score_kernel = staticmethod(loglik_kernel)
    #: a scoring pass on ``log p(y | x)`` whatever the gating
    conditional_score_kernel = staticmethod(conditional_loglik_kernel)

    def tile_rows(self, n_features: int) -> int:
        config = self.config
        gate_features = None
        if config.gating == "logistic":
            gate_features = _count(config.gate_columns, n_features)
        return regression_tile_rows(
            self.n_components,
            _count(config.expert_columns, n_features),
            config.fit_intercept,
            gate_features,
        )

    def frame(self, params: RegressionParams, dtype) -> RegressionParams:
        # the design centre the kernels subtract is x_center rounded to dtype
        center = np.asarray(params.x_center, dtype=dtype).astype(np.float64)
        if np.array_equal(center, params.x_center):
            return params
        return replace(params, x_center=center)

    def plan(self, params: RegressionParams, dtype) -> RegressionPlan:
        return make_plan(self.frame(params, dtype), self.config, dtype)

    def m_step(
        self, stats: Stats, params: RegressionParams, frame: RegressionParams
    ) -> RegressionParams:
        # many tiny solves: a multi-threaded BLAS would cost more than they do
        with one_blas_thread():
            return m_step(stats, frame, self.config)

    def reframe(self, stats: Stats, old_frame, new_frame) -> Stats:
        return reframe_stats(stats, old_frame, new_frame, self.config)

    def degenerate(self, params: RegressionParams, stats: Stats) -> list[int]:
        # the rule and why: daskmix.regression.degenerate
        n_coef = n_coefficients(params.n_features, self.config.fit_intercept)
        return degenerate_components(params.noise_variance, stats["nk"], n_coef)

    def degenerate_message(self, components: list[int]) -> str:
        return degenerate_message(components)

    def needs_range(self) -> bool:
        """Whether the M-step takes safeguarded Newton steps (needs ``x_range``)."""
        return (
            family(self.config.family).growth != "none"
            or gate(self.config.gating).needs_range
        )

    def initialize(
        self, data: RowBlocks, random_state, restart: int = 0
    ) -> RegressionParams:
        with one_blas_thread():
            try:
                x_range = column_range(data) if self.needs_range() else None
                return initial_params(
                    data,
                    random_state,
                    n_components=self.n_components,
                    method=self.init_params,
                    config=self.config,
                    reg_covar=self.config.reg_covar,
                    tile_rows=self.tile_rows(data.n_features),
                    x_range=x_range,
                    warn=restart == 0,
                )
            except ValueError as exc:
                # centre pickers see the joint (x, y) as their "X": say which
                if "NaN" in str(exc) or "infinity" in str(exc):
                    data.raise_if_not_finite()
                raise


def _count(columns, n_features: int) -> int:
    """How many columns ``columns`` names (None: all ``n_features``)."""
    return n_features if columns is None else len(columns)
