"""Starting parameters of a regression mixture, one branch per ``init_params``."""

from __future__ import annotations

import numpy as np

from .._core.em import check_pass
from .._core.engine import RowBlocks
from ..cluster.seeding import kmeans_plusplus_centers, random_data_centers
from ..cluster.starts import kmeans_start
from ..gaussian.kernels import make_plan as make_gate_plan
from ..gaussian.model import fit_on_sample
from ..gaussian.params import GaussianParams
from .kernels import identity_gate, init_kernel, make_plan
from .params import (
    RegressionConfig,
    RegressionParams,
    chain_segments,
    closest_pairs,
    conditional_lines,
    line_through,
    m_step,
    noise_floor_from_sample,
)

#: rows read to place the frame centre and the noise floor
HEAD_ROWS = 1000


def initial_params(
    data: RowBlocks,
    random_state: np.random.RandomState,
    *,
    n_components: int,
    method: str,
    config: RegressionConfig,
    reg_covar: float,
    tile_rows: int,
) -> RegressionParams:
    """Starting parameters: one initialisation pass over (X, y), then an M-step.

    Every method yields responsibilities for all rows and, for some,
    lines; the pass accumulates the usual statistics under them. Methods
    that choose lines keep them and only estimate noise, weights and gate.
    """
    K = n_components
    head_x, head_y = data.take_rows(np.arange(min(data.n_samples, HEAD_ROWS)))
    x_center = np.asarray(head_x, dtype=np.float64).mean(axis=0)
    x_center = x_center.astype(data.dtype).astype(np.float64)
    y_center = float(np.mean(head_y))
    n_coef_x = data.n_features
    coef = np.zeros((K, n_coef_x))
    # the residuals of the first pass are y - mean(y): shifted statistics
    intercept = np.full(K, y_center if config.fit_intercept else 0.0)
    init_fields: dict = {"y_center": y_center}
    refit = True
    if method in ("kmeans", "k-means++", "random_from_data"):
        pick = {
            "kmeans": lambda *args: kmeans_start(*args, n_restarts=1)[0],
            "k-means++": kmeans_plusplus_centers,
            "random_from_data": random_data_centers,
        }[method]
        centers = pick(data.joined(), K, random_state)
        init_fields.update(mode="nearest", centers=_shift(centers, x_center, y_center))
    elif method == "random":
        init_fields.update(
            mode="random", seed=int(random_state.randint(np.iinfo(np.int32).max))
        )
    elif method == "gmm":
        gmm = joint_gmm(data, n_components, random_state, reg_covar)
        coef, intercept = conditional_lines(gmm, config.fit_intercept)
        init_fields.update(
            mode="joint_posterior", joint_gate=make_gate_plan(gmm, np.float64)
        )
        refit = False
    else:  # kmeans-chain, kmeans-pairs
        n_centers = K + 1 if method == "kmeans-chain" else 2 * K
        if data.n_samples < n_centers:
            raise ValueError(
                f"init_params={method!r} needs {n_centers} k-means centres but "
                f"there are only {data.n_samples} samples."
            )
        centers, _ = kmeans_start(data.joined(), n_centers, random_state, n_restarts=1)
        segments = (
            chain_segments(centers)
            if method == "kmeans-chain"
            else closest_pairs(centers)
        )
        for k, (a, b) in enumerate(segments):
            coef[k], intercept[k] = line_through(
                centers[a], centers[b], config.fit_intercept
            )
        midpoints = np.array([0.5 * (centers[a] + centers[b]) for a, b in segments])
        init_fields.update(
            mode="nearest", centers=_shift(midpoints, x_center, y_center)
        )
        refit = False
    frame = RegressionParams(
        weights=np.full(K, 1.0 / K),
        coef=coef,
        intercept=intercept,
        noise_variance=np.ones(K),
        gate=(
            identity_gate(config.covariance_type, K, x_center)
            if config.gating == "gaussian"
            else None
        ),
        x_center=x_center,
        noise_floor=noise_floor_from_sample(head_y),
    )
    plan = make_plan(frame, config.fit_intercept, data.dtype, **init_fields)
    indexed = data.with_row_index()
    stats = indexed.map_reduce(init_kernel, plan, tile_rows)
    check_pass(stats, data, names=("X", "y"))
    return m_step(stats, frame, config, refit_lines=refit)


def joint_gmm(
    data: RowBlocks,
    n_components: int,
    random_state: np.random.RandomState,
    reg_covar: float,
) -> GaussianParams:
    """A full-covariance Gaussian mixture on a sample of joint (x, y) rows."""
    return fit_on_sample(
        data,
        n_components,
        random_state,
        covariance_type="full",
        reg_covar=max(reg_covar, 1e-6),
        joint=True,
    )


def _shift(centers: np.ndarray, x_center: np.ndarray, y_center: float) -> np.ndarray:
    """Joint centres in the kernels' frame: x less ``x_center``, y less ``y_center``."""
    return centers - np.append(x_center, y_center)
