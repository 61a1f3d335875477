"""Starting parameters of a Gaussian mixture, one function per ``init_params``."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._core.em import check_pass
from .._core.engine import RowBlocks
from ..cluster.seeding import (
    kmeans_plusplus_centers,
    random_data_centers,
    sample_indices,
)
from ..cluster.starts import RESTART_ROWS_PER_CLUSTER, kmeans_start
from .kernels import em_kernel, make_plan, random_resp_kernel
from .params import (
    GaussianParams,
    covariances_from_cholesky,
    identity_precisions_cholesky,
    m_step,
    precisions_cholesky_from_covariances,
    precisions_cholesky_from_precisions,
)

#: rows of the uniform sample that ``init_params='gmm'`` fits
GMM_SAMPLE_ROWS = 20_000
#: restarts of the mixture fitted on that sample (the best lower bound wins)
GMM_RESTARTS = 3


def gmm_sample_init(
    data: RowBlocks,
    n_components: int,
    random_state: np.random.RandomState,
    *,
    covariance_type: str = "full",
    reg_covar: float = 1e-6,
    tol: float = 1e-3,
    max_iter: int = 100,
    n_restarts: int = GMM_RESTARTS,
    n_rows: int = GMM_SAMPLE_ROWS,
    joint: bool = False,
):
    """A Gaussian mixture fitted on a uniform random sample of rows.

    The sample is read once; the ``n_restarts`` k-means-initialised fits run
    in memory on it, and the one with the best lower bound is returned, so
    that restarts are cheap and the long run on all the data happens once.

    Parameters
    ----------
    data : RowBlocks
    n_components : int
    random_state : RandomState
    covariance_type, reg_covar, tol, max_iter
        As for :class:`daskmix.GaussianMixture`.
    n_restarts : int, default=GMM_RESTARTS
    n_rows : int, default=GMM_SAMPLE_ROWS
        Rows to sample (all rows when there are fewer).
    joint : bool, default=False
        Fit the joint space of all the arrays of ``data`` (``X`` and ``y``,
        for regression mixtures) instead of ``X`` alone.

    Returns
    -------
    daskmix.GaussianMixture
        Fitted on the sample (of ``n_features`` or, when ``joint``, all
        columns).
    """
    from .mixture import GaussianMixture

    indices = sample_indices(data.n_samples, n_rows, random_state)
    taken = data.take_rows(indices)
    arrays = taken if joint else taken[:1]
    rows = np.hstack(
        [np.asarray(a, dtype=np.float64).reshape(len(indices), -1) for a in arrays]
    )
    model = GaussianMixture(
        n_components,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        tol=tol,
        max_iter=max_iter,
        n_init=n_restarts,
        init_params="kmeans",
        random_state=random_state,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(rows)


def initial_params(
    data: RowBlocks,
    random_state: np.random.RandomState,
    *,
    n_components: int,
    covariance_type: str,
    method: str,
    reg_covar: float,
    tol: float,
    tile_rows: int,
    user: dict,
    restart: int = 0,
) -> GaussianParams:
    """Starting parameters: the chosen method, overridden by ``*_init`` arrays.

    As in scikit-learn, the method runs only when some ``*_init`` array is
    missing, and each given array replaces what the method found.
    ``restart`` is the index of the ``n_init`` run (see
    :func:`params_from_method`).
    """
    cov_type = covariance_type
    if len(user) < 3:
        found = params_from_method(
            data,
            random_state,
            n_components=n_components,
            covariance_type=covariance_type,
            method=method,
            reg_covar=reg_covar,
            tol=tol,
            tile_rows=tile_rows,
            restart=restart,
        )
        weights, means = found.weights, found.means
        prec_chol, covariances = found.precisions_cholesky, found.covariances
    weights = user.get("weights", weights if len(user) < 3 else None)
    means = user.get("means", means if len(user) < 3 else None)
    if "precisions" in user:
        prec_chol = precisions_cholesky_from_precisions(user["precisions"], cov_type)
        covariances = covariances_from_cholesky(prec_chol, cov_type)
    return GaussianParams(cov_type, weights, means, covariances, prec_chol)


def params_from_method(
    data: RowBlocks,
    random_state: np.random.RandomState,
    *,
    n_components: int,
    covariance_type: str,
    method: str,
    reg_covar: float,
    tol: float,
    tile_rows: int,
    restart: int = 0,
) -> GaussianParams:
    """Starting parameters by the named ``init_params`` method.

    ``restart`` is the index of the ``n_init`` run. Every method but
    ``'kmeans'`` differs from run to run through ``random_state`` alone. k-means
    on all the rows (or a large sample) ends in the same partition whatever
    its seeding draws when the data have one k-means optimum, so restarts
    after the first (``restart >= 1``) cluster a small uniform sample of
    :data:`~daskmix.cluster.starts.RESTART_ROWS_PER_CLUSTER` rows per
    component instead, whose partition varies with the draw; the first run is
    scikit-learn's k-means start.
    """
    K, D = n_components, data.n_features
    cov_type = covariance_type
    identity = identity_precisions_cholesky(cov_type, K, D)
    if method == "gmm":
        fitted = gmm_sample_init(
            data,
            K,
            random_state,
            covariance_type=cov_type,
            reg_covar=reg_covar,
            tol=tol,
        )
        return GaussianParams(
            cov_type,
            fitted.weights_,
            fitted.means_,
            fitted.covariances_,
            fitted.precisions_cholesky_,
        )
    if method in ("random_from_data", "k-means++"):
        pick = (
            random_data_centers
            if method == "random_from_data"
            else kmeans_plusplus_centers
        )
        means = pick(data, K, random_state)
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
                n_rows=RESTART_ROWS_PER_CLUSTER * K,
            )
        else:
            centers, labelled = kmeans_start(data, K, random_state)
        frame_center = centers.mean(axis=0)
        frame = GaussianParams(cov_type, np.full(K, 1.0 / K), centers, None, identity)
        plan = make_plan(
            frame, labelled.dtype, center=frame_center, resp_mode="nearest"
        )
        stats = labelled.map_reduce(em_kernel, plan, tile_rows)
    else:  # random responsibilities, indexed by global row number
        (first_rows,) = data.take_rows(np.arange(min(data.n_samples, 1000)))
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
        indexed = data.with_row_index()
        stats = indexed.map_reduce(random_resp_kernel, plan, tile_rows)
    check_pass(stats, data)
    return m_step(
        stats,
        centers,
        identity,
        plan.center.astype(np.float64),
        cov_type,
        reg_covar,
    )
