"""The Gaussian mixture as a :class:`~daskmix._em.model.MixtureModel`."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .. import config
from .._em.batch import fit_em
from .._em.model import MixtureModel
from .._em.scoring import score_stats
from .._engine.batches import read_rows
from .._engine.namespaces import register_device_kernel
from .._engine.rows import RowBlocks, default_tile_rows
from .._engine.stats import Stats
from .._engine.tiles import Tile
from ..cluster.seeding import sample_indices
from ..cluster.starts import weighted_sample
from . import compiled, missing
from .covariance import covariance
from .device_kernels import loglik_kernel_device
from .kernels import GaussianPlan, em_kernel, make_plan, tile_log_prob
from .params import GaussianParams, StatsFrame, m_step, reframe_stats
from .starts import params_from_method, with_user_init


def loglik_kernel(tile: Tile, plan: GaussianPlan) -> Stats:
    """Summed ``log p(x)``, responsibility entropy and rows of one tile.

    With row weights, weighted sums: with integer weights, those of the rows
    repeated. See :func:`daskmix._em.scoring.score_stats`. Rows with gaps
    score the marginal likelihood of their observed entries; rows with no
    observed feature count for nothing (weight zero).
    """
    tile = missing.masked(tile, plan.gaps)
    if tile.mask is None and compiled.supports(tile, plan):
        return compiled.loglik_kernel(tile, plan)
    weight = tile.weight
    if tile.mask is not None:
        observed = ~tile.mask.all(axis=1)
        weight = observed if weight is None else weight * observed
    return score_stats(tile_log_prob(tile, plan), weight)


register_device_kernel(loglik_kernel, loglik_kernel_device)


def gaussian_tile_rows(n_components: int, n_features: int) -> int:
    """Rows per tile of the Gaussian kernels (a (K * D, tile) temporary)."""
    return default_tile_rows(n_components * max(n_features, 2))


@dataclass
class GaussianModel(MixtureModel):
    """A Gaussian mixture with fixed hyper-parameters.

    Parameters
    ----------
    n_components : int
    covariance_type : str
        One of :data:`~daskmix.gaussian.covariance.COVARIANCE_TYPES`.
    reg_covar : float
        Added to every covariance diagonal in the M-step.
    init_params : str
        The start method (:mod:`daskmix.gaussian.starts`).
    tol : float
        Convergence threshold of the ``'gmm'`` start's in-memory fits.
    user_init : dict
        Validated ``weights``, ``means``, ``precisions`` given by the user;
        each replaces what the start method finds.
    missing : {'error', 'marginalize'}
        'marginalize': NaN entries are missing values; the kernels use the
        marginal of the observed entries and expected statistics
        (:mod:`daskmix.gaussian.missing`), and the start runs on rows
        without gaps (:func:`~daskmix.gaussian.missing.start_rows`).

    Data with row weights (a ``weight`` array) are weighted in every pass
    and in the start.
    """

    n_components: int
    covariance_type: str
    reg_covar: float
    init_params: str = "kmeans"
    tol: float = 1e-3
    user_init: dict = field(default_factory=dict)
    missing: str = "error"

    name = "gmm"
    kernel = staticmethod(em_kernel)
    score_kernel = staticmethod(loglik_kernel)

    @property
    def allow_nan(self) -> bool:
        return self.missing == "marginalize"

    def tile_rows(self, n_features: int) -> int:
        return gaussian_tile_rows(self.n_components, n_features)

    def plan(self, params: GaussianParams, dtype) -> GaussianPlan:
        return make_plan(params, dtype, marginalize=self.allow_nan)

    def frame(self, params: GaussianParams, dtype) -> StatsFrame:
        whiten = covariance(self.covariance_type).whitening(params.precisions_cholesky)
        # the shift the kernels apply is the mixture mean rounded to the dtype
        center = np.asarray(params.weights @ params.means, dtype=dtype)
        return StatsFrame(params.means, whiten, center.astype(np.float64))

    def m_step(
        self, stats: Stats, params: GaussianParams, frame: StatsFrame
    ) -> GaussianParams:
        return m_step(
            stats,
            frame.means,
            params.precisions_cholesky,
            frame.center,
            self.covariance_type,
            self.reg_covar,
        )

    def reframe(self, stats: Stats, old_frame: StatsFrame, new_frame: StatsFrame):
        return reframe_stats(stats, self.covariance_type, old_frame, new_frame)

    def initialize(
        self, data: RowBlocks, random_state, restart: int = 0
    ) -> GaussianParams:
        found = None
        if (
            len(self.user_init) < 3
            and self.allow_nan
            and missing.has_gaps(data, self.n_components)
        ):
            data = missing.start_rows(data, self.n_components, random_state)
        if len(self.user_init) < 3 and self.init_params == "gmm":
            found = fit_on_sample(
                data,
                self.n_components,
                random_state,
                covariance_type=self.covariance_type,
                reg_covar=self.reg_covar,
                tol=self.tol,
            )
        elif len(self.user_init) < 3:
            found = params_from_method(
                data,
                random_state,
                n_components=self.n_components,
                covariance_type=self.covariance_type,
                method=self.init_params,
                reg_covar=self.reg_covar,
                tile_rows=self.tile_rows(data.n_features),
                restart=restart,
            )
        return with_user_init(found, self.user_init, self.covariance_type)


def fit_on_sample(
    data: RowBlocks,
    n_components: int,
    random_state: np.random.RandomState,
    *,
    covariance_type: str = "full",
    reg_covar: float = 1e-6,
    tol: float = 1e-3,
    max_iter: int = 100,
    n_restarts: int | None = None,
    n_rows: int | None = None,
    joint: bool = False,
) -> GaussianParams:
    """A Gaussian mixture fitted on a uniform random sample of rows (``'gmm'``).

    The sample is read once; the ``n_restarts`` k-means-started fits run in
    memory on it and the one with the best lower bound is returned, so that
    restarts are cheap and the long run on all the data happens once.

    Parameters
    ----------
    data : RowBlocks
    n_components : int
    random_state : RandomState
    covariance_type, reg_covar, tol, max_iter
        As for :class:`daskmix.GaussianMixture`.
    n_restarts : int, optional
        Mixtures fitted on the sample (default:
        ``daskmix.gmm-start.restarts``).
    n_rows : int, optional
        Rows to sample (all rows when there are fewer; default:
        ``daskmix.gmm-start.sample-rows``).
    joint : bool, default=False
        Fit the joint space of all the arrays of ``data`` (``X`` and ``y``,
        for regression mixtures) instead of ``X`` alone.
    Row weights of ``data`` (its ``weight`` array) are kept by the sample
    (:func:`~daskmix.cluster.starts.weighted_sample`, rows of weight zero
    left out) and the mixture fitted on it is weighted.

    Returns
    -------
    GaussianParams
        Of ``n_features`` or, when ``joint``, all columns.
    """
    if n_restarts is None:
        n_restarts = config.get("gmm-start.restarts")
    if n_rows is None:
        n_rows = config.get("gmm-start.sample-rows")
    if data.weight is not None:
        taken = weighted_sample(data, n_rows, random_state, n_components).named()
    else:
        taken = read_rows(data, sample_indices(data.n_samples, n_rows, random_state))
    weight = taken.pop("weight", None)
    arrays = [taken["X"], taken["y"]] if joint else [taken["X"]]
    n_taken = len(arrays[0])
    rows = np.hstack(
        [np.asarray(a, dtype=np.float64).reshape(n_taken, -1) for a in arrays]
    )
    model = GaussianModel(n_components, covariance_type, reg_covar, "kmeans", tol)
    sample = {"X": rows} if weight is None else {"X": rows, "weight": weight}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = fit_em(
            model,
            RowBlocks(sample),
            n_init=n_restarts,
            max_iter=max_iter,
            tol=tol,
            random_state=random_state,
        )
    return result.params
