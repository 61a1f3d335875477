"""Data-dependent parts of the variational mixture: priors and starts.

The priors scikit-learn derives from X (its mean and covariance: one pass of
shifted moments) and the statistics of the initial responsibilities, formed
as scikit-learn forms them, for
:func:`daskmix.gaussian.variational.posterior.posterior`.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from sklearn.utils import check_array

from ..._em.run import check_pass
from ..._engine.batches import read_rows
from ..._engine.namespaces import device, namespace, register_device_kernel
from ..._engine.rows import RowBlocks, default_tile_rows
from ..._engine.stats import Stats
from ..._engine.tiles import Tile
from ...cluster.seeding import kmeans_plusplus_centers, random_data_centers
from ...cluster.starts import kmeans_start
from ..covariance import covariance
from ..kernels import (
    GaussianPlan,
    component_log_prob,
    em_kernel,
    make_plan,
)
from ..params import NK_EPS, GaussianParams, StatsFrame, identity_precisions_cholesky
from .posterior import Priors, ml_moments


# ------------------------------------------------------------------ priors
def moments_kernel(tile: Tile, plan: tuple[np.ndarray, bool]) -> Stats:
    """Shifted first and second moments of one tile, for the data priors.

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D): rows of X.
    plan : tuple of (ndarray of shape (D,), bool)
        ``(shift, full)``: ``s2`` is the (D, D) scatter when ``full``, else
        the per-feature sums of squares.

    Returns
    -------
    Stats
        ``n_rows``, ``s1`` (D,), ``s2``.
    """
    shift, full = plan
    xs = (tile.X - shift).astype(np.float64, copy=False)
    s2 = xs.T @ xs if full else np.einsum("bd,bd->d", xs, xs)
    return Stats(n_rows=np.float64(tile.n_rows), s1=xs.sum(axis=0), s2=np.asarray(s2))


def moments_kernel_device(tile: Tile, plan: tuple[np.ndarray, bool]) -> Stats:
    """:func:`moments_kernel` on array-API arrays (cupy, torch...)."""
    shift, full = plan
    x = tile.X
    xp = namespace(x)
    xs = xp.astype(x, xp.float64) - xp.asarray(shift, device=device(x))
    s2 = xp.permute_dims(xs, (1, 0)) @ xs if full else xp.sum(xs * xs, axis=0)
    return Stats(n_rows=np.float64(tile.n_rows), s1=xp.sum(xs, axis=0), s2=s2)


register_device_kernel(moments_kernel, moments_kernel_device)


def data_moments(stats: Stats, shift: np.ndarray, full: bool):
    """Mean and unbiased covariance (or variances) from :func:`moments_kernel`.

    Parameters
    ----------
    stats : Stats
        The summed statistics of :func:`moments_kernel`.
    shift : ndarray of shape (D,)
        The shift they were taken around.
    full : bool
        Whether ``s2`` is the full scatter.

    Returns
    -------
    mean : ndarray of shape (D,)
        The mean.
    covariance : ndarray of shape (D, D) or (D,)
        The unbiased covariance, or variances.
    """
    n = stats["n_rows"]
    step = stats["s1"] / n
    mean = shift + step
    if full:
        scatter = stats["s2"] - n * np.outer(step, step)
        scatter = 0.5 * (scatter + scatter.T)
    else:
        scatter = np.maximum(stats["s2"] - n * step**2, 0.0)
    return mean, scatter / (n - 1)


def sample_moments(data: RowBlocks, full: bool):
    """Mean and unbiased covariance (full) or variances of the rows (one pass).

    Parameters
    ----------
    data : RowBlocks
        The rows.
    full : bool
        Whether to return the full covariance, or the variances.

    Returns
    -------
    mean : ndarray of shape (n_features,)
        The mean.
    covariance : ndarray of shape (n_features, n_features) or (n_features,)
        The unbiased covariance, or variances.
    """
    shift = np.asarray(read_rows(data, np.arange(1))["X"][0], dtype=np.float64)
    stats = data.map_reduce(
        moments_kernel, (shift, full), default_tile_rows(data.n_features)
    )
    check_pass(stats, data)
    return data_moments(stats, shift, full)


def data_priors(
    data: RowBlocks,
    *,
    covariance_type: str,
    n_components: int,
    weight_concentration_prior_type: str,
    weight_concentration_prior: float | None,
    mean_precision_prior: float | None,
    mean_prior,
    degrees_of_freedom_prior: float | None,
    covariance_prior,
) -> Priors:
    """The priors, validated, with scikit-learn's defaults filled in from X.

    The mean and covariance of X, when needed, take one pass
    (:func:`sample_moments`). Error messages are scikit-learn's.

    Parameters
    ----------
    data : RowBlocks
        The training data.
    covariance_type : str
        One of 'full', 'tied', 'diag', 'spherical'.
    n_components : int
        ``K``.
    weight_concentration_prior_type : str
        'dirichlet_process' or 'dirichlet_distribution'.
    weight_concentration_prior, mean_precision_prior : float or None
        As for :class:`daskmix.BayesianGaussianMixture`.
    mean_prior : array-like of shape (n_features,) or None
        As for :class:`daskmix.BayesianGaussianMixture`.
    degrees_of_freedom_prior : float or None
        As for :class:`daskmix.BayesianGaussianMixture`.
    covariance_prior : float, array-like or None
        As for :class:`daskmix.BayesianGaussianMixture`.

    Returns
    -------
    Priors
        Every prior set.
    """
    n_features = data.n_features
    cov_type = covariance_type
    if weight_concentration_prior is None:
        weight_concentration_prior = 1.0 / n_components
    if mean_precision_prior is None:
        mean_precision_prior = 1.0
    if degrees_of_freedom_prior is None:
        degrees_of_freedom_prior = n_features
    elif degrees_of_freedom_prior <= n_features - 1.0:
        raise ValueError(
            "The parameter 'degrees_of_freedom_prior' should be greater than "
            f"{n_features - 1}, but got {degrees_of_freedom_prior:.3f}."
        )
    if mean_prior is not None:
        mean_prior = check_array(
            mean_prior,
            dtype=[np.float64, np.float32],
            ensure_2d=False,
            input_name="mean_prior",
        )
        _check_shape(mean_prior, (n_features,), "means")
    cov = covariance(cov_type)
    if covariance_prior is not None:
        covariance_prior = cov.check_prior_covariance(covariance_prior, n_features)
    if mean_prior is None or covariance_prior is None:
        mean, scatter = sample_moments(data, full=cov.matrix)
        if mean_prior is None:
            mean_prior = mean
        if covariance_prior is None:
            covariance_prior = cov.prior_covariance(scatter)
    return Priors(
        weight_concentration_prior_type,
        weight_concentration_prior,
        mean_precision_prior,
        np.asarray(mean_prior, dtype=np.float64),
        degrees_of_freedom_prior,
        cov.as_prior(covariance_prior),
        cov_type,
    )


def _check_shape(param: np.ndarray, shape: tuple, name: str) -> None:
    if param.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}, "
            f"but got {param.shape}"
        )


# ------------------------------------------------------------------- starts
def check_resp(resp, data: RowBlocks, n_components: int):
    """User-given initial responsibilities, validated and row-aligned with data.

    Parameters
    ----------
    resp : array-like or dask array of shape (n_samples, n_components)
        The ``init_params`` array: numpy-like for in-memory data, a dask array
        for dask data.
    data : RowBlocks
        The training data.
    n_components : int
        ``K``.

    Returns
    -------
    ndarray or dask array of shape (n_samples, n_components)
        The float64 array for numpy; for dask, rechunked to the row blocks
        of ``data``.
    """
    expected = (data.n_samples, n_components)
    if data.from_dask and not isinstance(resp, da.Array):
        raise TypeError(
            "init_params: responsibilities for dask input X must be a "
            f"dask array; got {type(resp).__name__}."
        )
    if not data.is_dask:  # small dask X is fitted in memory: so are these
        resp = check_array(resp, dtype=np.float64, input_name="init_params")
    if resp.shape != expected:
        raise ValueError(
            f"init_params: responsibilities should have shape {expected} "
            f"(n_samples, n_components); got {resp.shape}."
        )
    if data.is_dask:
        return resp.rechunk({0: data.row_chunks, 1: -1})
    if np.any(resp < 0):
        raise ValueError(
            "init_params: responsibilities should be non-negative; got "
            f"minimum {resp.min()}."
        )
    return resp


def resp_kernel(tile: Tile, plan: GaussianPlan) -> Stats:
    """Statistics of one tile under given responsibilities.

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D), rows of X, and ``tile["resp"]`` (tile, K), their
        responsibilities.
    plan : GaussianPlan
        An identity-precision frame (as for the random start).

    Returns
    -------
    Stats
        ``nk``, ``s1``, ``s2`` in the frame of ``plan``, and ``n_rows``.
    """
    xs = tile.X - plan.center
    _, frame = component_log_prob(xs, plan)
    resp = np.ascontiguousarray(tile["resp"].T, dtype=xs.dtype)
    stats = plan.covariance.accumulate(xs, frame, resp)
    stats["n_rows"] = np.float64(tile.n_rows)
    return stats


def start_moments(
    data: RowBlocks,
    random_state: np.random.RandomState,
    *,
    method: str,
    n_components: int,
    covariance_type: str,
    reg_covar: float,
    tile_rows: int,
    resp=None,
    warn: bool = False,
):
    """The statistics of the initial responsibilities, as scikit-learn forms them.

    Parameters
    ----------
    data : RowBlocks
        The training data.
    random_state : RandomState
        Drawn from by the method.
    method : {'kmeans', 'k-means++', 'random', 'random_from_data', 'resp'}
        'kmeans': hard labels of k-means centres (on a sample of at most
        :func:`~daskmix.cluster.starts.kmeans_sample_size` rows, then the
        counts stand for that sample); 'random': random responsibilities (one
        pass); 'random_from_data' and 'k-means++': one row per component;
        'resp': the given responsibilities ``resp`` (one pass).
    n_components : int
        ``K``.
    covariance_type : str
        One of 'full', 'tied', 'diag', 'spherical'.
    reg_covar : float
        Added to the diagonal of the covariances.
    tile_rows : int
        Largest tile a kernel sees.
    resp : ndarray or dask array of shape (n_samples, n_components), optional
        Row-aligned with ``data`` (same row chunks for dask input).
    warn : bool, default=False
        'kmeans': warn as scikit-learn when k-means finds fewer distinct
        clusters than components (see
        :func:`~daskmix.cluster.starts.kmeans_start`).

    Returns
    -------
    nk : ndarray of shape (K,)
        Counts, ``10 eps`` added.
    xk, sk : ndarray
        Means and covariances (``reg_covar`` added) of the responsibilities.
    n_rows : int
        Rows the counts are taken over (the k-means sample, or all rows).
    """
    K, n_features, cov_type = n_components, data.n_features, covariance_type
    identity = identity_precisions_cholesky(cov_type, K, n_features)
    if method in ("random_from_data", "k-means++"):
        pick = (
            random_data_centers
            if method == "random_from_data"
            else (kmeans_plusplus_centers)
        )
        means = pick(data, K, random_state)
        return np.ones(K) + NK_EPS, means, identity * reg_covar, data.n_samples
    if method == "kmeans":
        centers, rows = kmeans_start(data, K, random_state, warn=warn)
        frame = GaussianParams(cov_type, np.full(K, 1.0 / K), centers, None, identity)
        plan = make_plan(
            frame, rows.dtype, center=centers.mean(axis=0), resp_mode="nearest"
        )
        stats = rows.map_reduce(em_kernel, plan, tile_rows)
    else:
        rows = data
        first_rows = read_rows(data, np.arange(min(data.n_samples, 1000)))["X"]
        center = np.asarray(first_rows, dtype=np.float64).mean(axis=0)
        centers = np.tile(center, (K, 1))
        frame = GaussianParams(cov_type, np.full(K, 1.0 / K), centers, None, identity)
        if method == "random":
            plan = make_plan(
                frame,
                data.dtype,
                center=center,
                resp_mode="random",
                seed=int(random_state.randint(np.iinfo(np.int32).max)),
            )
            stats = data.map_reduce(em_kernel, plan, tile_rows)
        else:
            plan = make_plan(frame, data.dtype, center=center)
            joint = data.with_array("resp", resp)
            stats = joint.map_reduce(resp_kernel, plan, tile_rows)
    check_pass(stats, data)
    whiten = covariance(cov_type).whitening(identity)
    xk, sk = ml_moments(
        stats,
        StatsFrame(centers, whiten, plan.center.astype(np.float64)),
        cov_type,
        reg_covar,
    )
    return stats["nk"] + NK_EPS, xk, sk, rows.n_samples
