"""The model protocol: what a mixture family gives the drivers.

One object per fitted model family (its hyper-parameters fixed: number of
components, covariance type, regularisation, start method). The batch EM
driver (:mod:`daskmix._em.batch`), the stepwise driver
(:mod:`daskmix._em.stepwise`) and the model-selection sweep all talk to a
model through these methods only, and they own the E-step call: a pass is
always ``data.map_reduce(model.kernel, model.plan(params, dtype), ...)``.

Parameters (``params``) are whatever small object the family uses (a frozen
dataclass of float64 arrays); the drivers never look inside them.

Statistics are taken in a *frame* that depends on the parameters that
entered the pass (shifted by the previous means, whitened by the previous
precision factors) and on the dtype of the blocks (the shift actually applied
is rounded to it). :meth:`MixtureModel.frame` names that frame,
:meth:`MixtureModel.m_step` reads statistics taken in it, and
:meth:`MixtureModel.reframe` moves running statistics from one frame to
another (stepwise EM).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from .._engine.rows import RowBlocks
from .._engine.stats import Stats


class MixtureModel(ABC):
    """A mixture family as the drivers see it.

    Attributes
    ----------
    name : str
        Short name of the family (dashboard task names, messages).
    kernel : callable
        The pure block kernel ``kernel(tile, plan) -> Stats`` on a
        :class:`~daskmix._engine.tiles.Tile` (numpy only, never dask). Its
        statistics add over rows and include ``loglik`` (summed
        log-likelihood under the plan's parameters) and ``n_rows``. Rows
        with weights (``tile.weight``) count that many times, in every
        statistic, ``loglik`` and ``n_rows`` (their summed weight).
    score_kernel : callable
        ``score_kernel(tile, plan) -> Stats`` with ``loglik``, ``entropy``
        and ``n_rows``: a scoring pass (``score``, ``bic``, ``aic``, ``icl``).
    allow_nan : bool
        Whether NaN in X are missing values that the kernels handle (then
        only infinity is an error); False by default.
    """

    name: str = "mixture"
    allow_nan: bool = False
    kernel: Callable[..., Stats]
    score_kernel: Callable[..., Stats]

    @abstractmethod
    def tile_rows(self, n_features: int) -> int:
        """Rows per tile that keep the kernel's temporaries within budget."""

    @abstractmethod
    def plan(self, params: Any, dtype: np.dtype) -> Any:
        """The small picklable object a pass ships to every block kernel."""

    @abstractmethod
    def frame(self, params: Any, dtype: np.dtype) -> Any:
        """The coordinates a pass under ``params`` takes its statistics in."""

    @abstractmethod
    def m_step(self, stats: Stats, params: Any, frame: Any) -> Any:
        """New parameters from statistics taken in ``frame``.

        ``params`` entered the pass. Statistics may be sums over rows (batch
        EM) or running averages scaled to the number of rows they stand for
        (stepwise EM); either way they are sums over ``stats["n_rows"]`` rows.
        """

    @abstractmethod
    def reframe(self, stats: Stats, old_frame: Any, new_frame: Any) -> Stats:
        """The same statistics re-expressed in ``new_frame`` (exact)."""

    @abstractmethod
    def initialize(
        self, data: RowBlocks, random_state: np.random.RandomState, restart: int = 0
    ) -> Any:
        """Starting parameters from (a sample of) the data.

        ``restart`` is the index of the ``n_init`` run: a start may vary its
        method with it so that restarts differ even where its random draws
        would not change the result (k-means on small data).
        """

    def lower_bound(self, stats: Stats, params_in: Any, params_out: Any) -> float:
        """The objective EM reports and tests for convergence.

        Default: the mean log-likelihood of the pass, under ``params_in``
        (scikit-learn's GaussianMixture). Variational models override it.
        """
        return float(stats["loglik"] / stats["n_rows"])

    def batch_bound(self, stats: Stats, params: Any, n_rows: float) -> float:
        """A mini-batch's estimate of the lower bound (smoothed by stepwise EM).

        ``stats`` are the batch's under ``params``; ``n_rows`` is the number of
        rows the running statistics stand for. Default: the batch's mean
        log-likelihood.
        """
        return float(stats["loglik"] / stats["n_rows"])

    def degenerate(self, params: Any, stats: Stats) -> list[int]:
        """Components of a fitted run that collapsed (none by default).

        ``stats`` are the last pass's. The drivers prefer a run without
        degenerate components when picking among ``n_init`` restarts, and
        warn (:meth:`degenerate_message`) when none avoided them.
        """
        return []

    def degenerate_message(self, components: list[int]) -> str:
        """The warning naming the degenerate ``components`` of the kept run."""
        return (
            f"Component(s) {components} of the fitted {self.name} collapsed; no "
            "restart avoided them. Try more n_init, another init_params, or fewer "
            "components."
        )
