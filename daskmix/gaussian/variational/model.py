"""The variational Gaussian mixture as a :class:`~daskmix._em.model.MixtureModel`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..._em.model import MixtureModel
from ..._engine.rows import RowBlocks
from ..._engine.stats import Stats
from ..model import gaussian_tile_rows, loglik_kernel
from ..params import StatsFrame, reframe_stats
from .posterior import (
    BayesianParams,
    Priors,
    global_terms,
    lower_bound,
    posterior,
    stats_frame,
    variational_kernel,
    variational_m_step,
    variational_plan,
)
from .starts import check_resp, start_moments


@dataclass
class BayesianModel(MixtureModel):
    """A variational Gaussian mixture with fixed hyper-parameters and priors.

    Parameters
    ----------
    n_components : int
    covariance_type : str
    reg_covar : float
        Added to the diagonal of the responsibilities' covariances.
    priors : Priors
        The filled-in priors (from the data where not given).
    init_params : str or array-like
        The start method, or initial responsibilities.
    n_total : int or None
        Rows a start on a sample stands for (``algorithm='minibatch'``); None:
        the rows it is given.
    """

    n_components: int
    covariance_type: str
    reg_covar: float
    priors: Priors
    init_params: Any = "kmeans"
    n_total: int | None = None

    name = "bgm"
    array_names = ("X",)
    kernel = staticmethod(variational_kernel)
    score_kernel = staticmethod(loglik_kernel)

    def tile_rows(self, n_features: int) -> int:
        return gaussian_tile_rows(self.n_components, n_features)

    def plan(self, params: BayesianParams, dtype):
        return variational_plan(params, dtype)

    def frame(self, params: BayesianParams, dtype) -> StatsFrame:
        return stats_frame(params, dtype)

    def m_step(
        self, stats: Stats, params: BayesianParams, frame: StatsFrame
    ) -> BayesianParams:
        return variational_m_step(stats, frame, self.priors, self.reg_covar)

    def reframe(self, stats: Stats, old_frame: StatsFrame, new_frame: StatsFrame):
        return reframe_stats(stats, self.covariance_type, old_frame, new_frame)

    def lower_bound(self, stats: Stats, params_in, params_out) -> float:
        # scikit-learn's bound: the E-step's entropy under the M-step's posterior
        return lower_bound(stats["resp_log_resp"], params_out)

    def batch_bound(self, stats: Stats, params: BayesianParams, n_rows: float):
        # n_rows times the batch's mean r log r, plus the posterior's own terms
        n_batch = float(stats["n_rows"])
        n_features = params.gaussian.n_features
        return -n_rows * float(stats["resp_log_resp"]) / n_batch + global_terms(
            params, n_features
        )

    def initialize(
        self, data: RowBlocks, random_state, restart: int = 0
    ) -> BayesianParams:
        """The posterior after a first M-step on the initial responsibilities."""
        resp, method = None, self.init_params
        if not isinstance(method, str):
            resp, method = check_resp(method, data, self.n_components), "resp"
        nk, xk, sk, n_rows = start_moments(
            data,
            random_state,
            method=method,
            n_components=self.n_components,
            covariance_type=self.covariance_type,
            reg_covar=self.reg_covar,
            tile_rows=self.tile_rows(data.n_features),
            resp=resp,
            warn=restart == 0,
        )
        if method in ("kmeans", "random"):
            # counts taken on a sample stand for all the rows
            stands_for = self.n_total if self.n_total is not None else data.n_samples
            nk = nk * (stands_for / n_rows)
        return posterior(nk, xk, sk, self.priors)
