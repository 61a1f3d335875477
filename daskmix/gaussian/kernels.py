"""Block kernels of the Gaussian mixture: pure numpy, never dask.

One call of :func:`em_kernel` on a tile of rows does the E-step and
accumulates the statistics the M-step needs, in one sweep over the tile:

* ``full``: one GEMM whitens the tile against all K components at once,
  ``Y = X_s @ [U_1 ... U_K] - [(c_1 - m) U_1 ... (c_K - m) U_K]``, computed
  transposed as a ``(K*D, tile)`` array so that every later reduction runs over
  contiguous memory. The Mahalanobis distances are the squared column norms of
  ``Y``; the statistics ``s1_k = sum r y_k`` and ``s2_k = sum r y_k y_k^T`` are
  taken in that whitened frame, which is centred on each component's previous
  mean ``c_k``. This is the shifted accumulation of the design: nothing
  large is ever subtracted from anything large.
* ``tied``: one small GEMM whitens the tile with the shared factor.
* ``diag`` / ``spherical``: two small GEMMs on ``X_s`` and ``X_s**2``.

``X_s = X - m`` is the tile shifted by the mixture mean ``m`` of the previous
parameters. It stays in the input dtype, so float32 data move as float32;
statistics are returned in float64 and summed in float64 across tiles and
blocks.

The same kernels give the initial M-step: with identity whitening, equal
weights and ``resp_mode='nearest'`` the responsibilities are hard nearest-
centre labels (k-means), and ``resp_mode='random'`` draws them from a
counter-based generator indexed by the global row number, so they do not
depend on the chunking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._core.stats import Stats
from .params import GaussianParams, log_det_cholesky

LOG_2PI = np.log(2 * np.pi)


@dataclass(frozen=True)
class GaussianPlan:
    """What a block kernel needs, precomputed once per pass on the client.

    Attributes
    ----------
    covariance_type : str
    center : ndarray of shape (D,)
        Common shift ``m``, in the block dtype.
    log_const : ndarray of shape (K,)
        ``log w_k + log det U_k - D/2 log(2 pi)``.
    transform : ndarray
        full: (K*D, D) stacked ``U_k.T``; tied: (D, D) ``U.T``;
        diag: (K, D) precisions; spherical: (K,) precisions.
    offsets : ndarray
        full: (K*D, 1) whitened ``(c_k - m) U_k``; tied: (K, D) whitened
        ``(c_k - m) U``; diag, spherical: (K, D) ``c_k - m``.
    resp_mode : {'posterior', 'nearest', 'random'}
        How responsibilities are formed (E-step, hard labels, random draws).
    seed : int
        Key of the counter-based generator for ``resp_mode='random'``.
    """

    covariance_type: str
    center: np.ndarray
    log_const: np.ndarray
    transform: np.ndarray
    offsets: np.ndarray
    resp_mode: str = "posterior"
    seed: int = 0

    @property
    def n_components(self) -> int:
        return self.log_const.shape[0]


def make_plan(
    params: GaussianParams,
    dtype,
    center: np.ndarray | None = None,
    resp_mode: str = "posterior",
    seed: int = 0,
) -> GaussianPlan:
    """Precompute the per-pass constants of ``params`` for blocks of ``dtype``."""
    cov_type = params.covariance_type
    n_components, n_features = params.means.shape
    if center is None:
        center = params.weights @ params.means
    center = np.asarray(center, dtype=dtype)
    # the shift actually applied to the data is the rounded ``center``
    rel_means = params.means - center.astype(np.float64)
    prec_chol = params.precisions_cholesky
    with np.errstate(divide="ignore"):
        log_weights = np.log(params.weights)
    log_const = (
        log_weights
        + log_det_cholesky(prec_chol, cov_type, n_features)
        - 0.5 * n_features * LOG_2PI
    )
    if cov_type == "full":
        transform = prec_chol.transpose(0, 2, 1).reshape(n_components * n_features, -1)
        offsets = np.einsum("kd,kde->ke", rel_means, prec_chol).reshape(-1, 1)
    elif cov_type == "tied":
        transform = prec_chol.T
        offsets = rel_means @ prec_chol
    else:
        transform = prec_chol**2
        offsets = rel_means
    return GaussianPlan(
        cov_type,
        center,
        np.asarray(log_const, dtype=dtype),
        np.ascontiguousarray(transform, dtype=dtype),
        np.ascontiguousarray(offsets, dtype=dtype),
        resp_mode,
        seed,
    )


# --------------------------------------------------------------------- E-step
def component_log_prob(xs: np.ndarray, plan: GaussianPlan):
    """``log w_k + log N(x | mu_k, Sigma_k)`` as (K, tile), and the frame data."""
    n_components = plan.n_components
    cov_type = plan.covariance_type
    if cov_type == "full":
        whitened = plan.transform @ xs.T
        whitened -= plan.offsets
        whitened = whitened.reshape(n_components, -1, xs.shape[0])
        maha = np.einsum("kdb,kdb->kb", whitened, whitened)
        frame = whitened
    elif cov_type == "tied":
        whitened = plan.transform @ xs.T
        offsets = plan.offsets
        maha = (
            np.einsum("db,db->b", whitened, whitened)
            - 2.0 * (offsets @ whitened)
            + np.einsum("kd,kd->k", offsets, offsets)[:, None]
        )
        frame = whitened
    elif cov_type == "diag":
        squares = xs * xs
        prec = plan.transform
        maha = (
            prec @ squares.T
            - 2.0 * ((prec * plan.offsets) @ xs.T)
            + (prec * plan.offsets**2).sum(axis=1)[:, None]
        )
        frame = squares
    else:
        squared_norms = np.einsum("bd,bd->b", xs, xs)
        offsets = plan.offsets
        maha = plan.transform[:, None] * (
            squared_norms
            - 2.0 * (offsets @ xs.T)
            + np.einsum("kd,kd->k", offsets, offsets)[:, None]
        )
        frame = squared_norms
    return plan.log_const[:, None] - 0.5 * maha, frame


def normalize_log_prob(weighted_log_prob: np.ndarray):
    """Responsibilities (K, tile) and per-row ``log p(x)`` (tile,)."""
    top = weighted_log_prob.max(axis=0)
    with np.errstate(under="ignore", invalid="ignore"):
        resp = np.subtract(weighted_log_prob, top)
        np.exp(resp, out=resp)
    total = resp.sum(axis=0)
    resp /= total
    return resp, np.log(total) + top


def accumulate(xs, frame, resp, cov_type: str) -> Stats:
    """Sufficient statistics of one tile, float64."""
    f64 = np.float64
    nk = resp.sum(axis=1, dtype=f64)
    if cov_type == "full":
        s1 = np.matmul(frame, resp[:, :, None])[:, :, 0]
        s2 = np.empty((frame.shape[0], frame.shape[1], frame.shape[1]), dtype=f64)
        for k, whitened_k in enumerate(frame):
            s2[k] = (whitened_k * resp[k]) @ whitened_k.T
    elif cov_type == "tied":
        s1 = resp @ frame.T
        s2 = frame @ frame.T
    else:  # diag: frame = xs**2; spherical: frame = |xs|**2
        s1 = resp @ xs
        s2 = resp @ frame
    return Stats(nk=nk, s1=s1.astype(f64, copy=False), s2=s2.astype(f64, copy=False))


def random_resp(rows: np.ndarray, n_components: int, seed: int, dtype) -> np.ndarray:
    """Uniform responsibilities for global rows ``rows`` (a contiguous range).

    Philox is counter based: row ``i`` always reads counters
    ``[i * c, (i + 1) * c)``, so a row gets the same numbers whatever tile or
    block it falls in.
    """
    counters_per_row = -(-n_components // 4)  # each counter yields 4 uint64
    counter = np.array([int(rows[0]) * counters_per_row, 0, 0, 0], dtype=np.uint64)
    generator = np.random.Generator(np.random.Philox(key=seed, counter=counter))
    draws = generator.random((rows.shape[0], 4 * counters_per_row))[:, :n_components]
    resp = (draws / draws.sum(axis=1, keepdims=True)).T
    return np.ascontiguousarray(resp, dtype=dtype)


def em_kernel(x: np.ndarray, plan: GaussianPlan) -> Stats:
    """E-step and M-step statistics of one tile ``x`` (tile, D).

    Returns
    -------
    Stats
        ``nk`` (K,), ``s1``, ``s2`` (shapes per covariance type, see
        :func:`accumulate`), ``loglik`` (summed ``log p(x)``), ``n_rows``.
    """
    xs = x - plan.center
    weighted_log_prob, frame = component_log_prob(xs, plan)
    resp, log_norm = normalize_log_prob(weighted_log_prob)
    if plan.resp_mode == "nearest":
        labels = weighted_log_prob.argmax(axis=0)
        resp = np.zeros_like(weighted_log_prob)
        resp[labels, np.arange(x.shape[0])] = 1.0
    stats = accumulate(xs, frame, resp, plan.covariance_type)
    stats["loglik"] = log_norm.sum(dtype=np.float64)
    stats["n_rows"] = np.float64(x.shape[0])
    return stats


def random_resp_kernel(x: np.ndarray, rows: np.ndarray, plan: GaussianPlan) -> Stats:
    """Statistics of one tile under random responsibilities (``init='random'``)."""
    xs = x - plan.center
    _, frame = component_log_prob(xs, plan)
    resp = random_resp(rows, plan.n_components, plan.seed, xs.dtype)
    stats = accumulate(xs, frame, resp, plan.covariance_type)
    stats["loglik"] = np.float64(0.0)
    stats["n_rows"] = np.float64(x.shape[0])
    return stats


# ------------------------------------------------------------ per-row outputs
def log_resp_rows(x: np.ndarray, plan: GaussianPlan) -> np.ndarray:
    """log p(k | x) of each row, (tile, K)."""
    weighted_log_prob, _ = component_log_prob(x - plan.center, plan)
    _, log_norm = normalize_log_prob(weighted_log_prob)
    return (weighted_log_prob - log_norm).T.astype(np.float64)


def proba_rows(x: np.ndarray, plan: GaussianPlan) -> np.ndarray:
    """p(k | x) of each row, (tile, K)."""
    with np.errstate(under="ignore"):
        return np.exp(log_resp_rows(x, plan))


def score_rows(x: np.ndarray, plan: GaussianPlan) -> np.ndarray:
    """log p(x) of each row, (tile,)."""
    weighted_log_prob, _ = component_log_prob(x - plan.center, plan)
    return normalize_log_prob(weighted_log_prob)[1].astype(np.float64)


def label_rows(x: np.ndarray, plan: GaussianPlan) -> np.ndarray:
    """Most probable component of each row, (tile,)."""
    weighted_log_prob, _ = component_log_prob(x - plan.center, plan)
    return weighted_log_prob.argmax(axis=0)
