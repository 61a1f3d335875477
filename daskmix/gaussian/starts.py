"""Starting parameters of a Gaussian mixture, one branch per ``init_params``."""

from __future__ import annotations

import numpy as np

from .. import config
from .._em.run import check_pass
from .._engine.batches import read_rows
from .._engine.rows import RowBlocks
from ..cluster.seeding import (
    kmeans_plusplus_centers,
    random_data_centers,
)
from ..cluster.starts import kmeans_start, split_weight
from .kernels import em_kernel, make_plan
from .params import (
    GaussianParams,
    covariances_from_cholesky,
    identity_precisions_cholesky,
    m_step,
    precisions_cholesky_from_covariances,
    precisions_cholesky_from_precisions,
)


def with_user_init(
    found: GaussianParams | None, user: dict, covariance_type: str
) -> GaussianParams:
    """Starting parameters: what a method found, overridden by ``*_init`` arrays.

    As in scikit-learn, the method runs only when some ``*_init`` array is
    missing (``found`` is None when all three are given), and each given
    array replaces what the method found.
    """
    weights = user.get("weights", None if found is None else found.weights)
    means = user.get("means", None if found is None else found.means)
    if "precisions" in user:
        prec_chol = precisions_cholesky_from_precisions(
            user["precisions"], covariance_type
        )
        covariances = covariances_from_cholesky(prec_chol, covariance_type)
    else:
        prec_chol, covariances = found.precisions_cholesky, found.covariances
    return GaussianParams(covariance_type, weights, means, covariances, prec_chol)


def params_from_method(
    data: RowBlocks,
    random_state: np.random.RandomState,
    *,
    n_components: int,
    covariance_type: str,
    method: str,
    reg_covar: float,
    tile_rows: int,
    restart: int = 0,
) -> GaussianParams:
    """Starting parameters by the named ``init_params`` method.

    Every method but ``'gmm'``, which fits the model itself on a sample
    (:func:`daskmix.gaussian.model.fit_on_sample`).

    When ``data`` carries row weights (its ``weight`` array, from
    ``sample_weight``), 'k-means++' and 'random_from_data' draw rows in
    proportion to them (a row of weight zero is never drawn), 'kmeans' is
    weighted k-means (:func:`~daskmix.cluster.starts.kmeans_start`), and
    the statistics of the first M-step ('kmeans', 'random') are weighted.
    """
    K, D = n_components, data.n_features
    rows_only, weight = split_weight(data)
    cov_type = covariance_type
    identity = identity_precisions_cholesky(cov_type, K, D)
    if method in ("random_from_data", "k-means++"):
        pick = (
            random_data_centers
            if method == "random_from_data"
            else kmeans_plusplus_centers
        )
        means = pick(rows_only, K, random_state, sample_weight=weight)
        # one point per component: what the M-step gives for one-hot
        # responsibilities on those points, reg_covar on every variance
        covariances = covariances_from_cholesky(identity, cov_type) * reg_covar
        return GaussianParams(
            cov_type,
            np.full(K, 1.0 / K),
            means,
            covariances,
            precisions_cholesky_from_covariances(covariances, cov_type),
        )
    if method == "kmeans":
        # k-means on (a sample of) the rows; the labelled rows give the start
        if restart:
            centers, labelled = kmeans_start(
                data,
                K,
                random_state,
                1,
                resample=True,
                n_rows=config.get("kmeans-start.restart-rows-per-cluster") * K,
            )
        else:
            centers, labelled = kmeans_start(data, K, random_state, warn=True)
        frame_center = centers.mean(axis=0)
        frame = GaussianParams(cov_type, np.full(K, 1.0 / K), centers, None, identity)
        plan = make_plan(
            frame, labelled.dtype, center=frame_center, resp_mode="nearest"
        )
        stats = labelled.map_reduce(em_kernel, plan, tile_rows, name="gmm-start")
    else:  # random responsibilities, indexed by global row number
        first_rows = read_rows(data, np.arange(min(data.n_samples, 1000)))["X"]
        frame_center = np.asarray(first_rows, dtype=np.float64).mean(axis=0)
        centers = np.tile(frame_center, (K, 1))
        frame = GaussianParams(cov_type, np.full(K, 1.0 / K), centers, None, identity)
        plan = make_plan(
            frame,
            data.dtype,
            center=frame_center,
            resp_mode="random",
            seed=int(random_state.randint(np.iinfo(np.int32).max)),
        )
        stats = data.map_reduce(em_kernel, plan, tile_rows, name="gmm-start")
    check_pass(stats, data)
    return m_step(
        stats,
        centers,
        identity,
        plan.center.astype(np.float64),
        cov_type,
        reg_covar,
    )
