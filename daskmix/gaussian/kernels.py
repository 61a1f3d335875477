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

What each covariance type computes lives in its object
(:mod:`daskmix.gaussian.covariance`); the functions here are the same for all
four. A plan with ``gaps`` (``missing="marginalize"``) sends every tile that
has a NaN to the masked kernel of :mod:`daskmix.gaussian.missing`, one
dispatch at the top of each function; other tiles run the code below.
Tile-sized temporaries go to a per-thread workspace
(:mod:`daskmix._engine.workspace`), so a kernel call does not allocate megabytes
afresh; what a kernel returns is always its own array.

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

from .._engine.stats import Stats
from .._engine.tiles import Tile
from .._engine.workspace import FRESH, workspace
from . import missing
from .covariance import Covariance, covariance
from .params import GaussianParams

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
    gaps : GapPlan or None
        What the masked kernel needs (:mod:`daskmix.gaussian.missing`) when
        NaN entries are missing values; None when they are errors.
    """

    covariance_type: str
    center: np.ndarray
    log_const: np.ndarray
    transform: np.ndarray
    offsets: np.ndarray
    resp_mode: str = "posterior"
    seed: int = 0
    gaps: missing.GapPlan | None = None

    @property
    def n_components(self) -> int:
        return self.log_const.shape[0]

    @property
    def covariance(self) -> Covariance:
        """The object of ``covariance_type``."""
        return covariance(self.covariance_type)


def make_plan(
    params: GaussianParams,
    dtype,
    center: np.ndarray | None = None,
    resp_mode: str = "posterior",
    seed: int = 0,
    marginalize: bool = False,
) -> GaussianPlan:
    """Precompute the per-pass constants of ``params`` for blocks of ``dtype``.

    ``marginalize``: NaN entries are missing values (the plan carries
    ``gaps``); only for ``resp_mode='posterior'``.
    """
    cov = covariance(params.covariance_type)
    n_features = params.means.shape[1]
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
        + cov.log_det_cholesky(prec_chol, n_features)
        - 0.5 * n_features * LOG_2PI
    )
    transform, offsets = cov.plan_arrays(prec_chol, rel_means)
    gaps = None
    if marginalize:
        if resp_mode != "posterior":
            raise ValueError("Missing values are marginalized in the E-step only.")
        gaps = missing.gap_plan(
            cov, params.weights, params.means, prec_chol, center.astype(np.float64)
        )
    return GaussianPlan(
        params.covariance_type,
        center,
        np.asarray(log_const, dtype=dtype),
        np.ascontiguousarray(transform, dtype=dtype),
        np.ascontiguousarray(offsets, dtype=dtype),
        resp_mode,
        seed,
        gaps,
    )


# --------------------------------------------------------------------- E-step
def _shifted(x: np.ndarray, plan: GaussianPlan, work) -> np.ndarray:
    """``x - m`` in ``work``."""
    xs = work.array("xs", x.shape, np.result_type(x, plan.center))
    return np.subtract(x, plan.center, out=xs)


def component_log_prob(xs: np.ndarray, plan: GaussianPlan, work=FRESH):
    """``log w_k + log N(x | mu_k, Sigma_k)`` as (K, tile), and the frame data.

    Both arrays are held in ``work`` (fresh arrays by default).
    """
    maha, frame = plan.covariance.mahalanobis(
        xs, plan.transform, plan.offsets, plan.n_components, work
    )
    log_const = plan.log_const[:, None]
    if np.result_type(log_const, maha) != maha.dtype:
        return log_const - 0.5 * maha, frame
    # log_const - 0.5 maha, in place (the same roundings)
    maha *= -0.5
    maha += log_const
    return maha, frame


def normalize_log_prob(weighted_log_prob: np.ndarray, work=FRESH):
    """Responsibilities (K, tile) and per-row ``log p(x)`` (tile,).

    The responsibilities are held in ``work`` (a fresh array by default).
    """
    top = weighted_log_prob.max(axis=0)
    resp = work.array(
        "resp",
        weighted_log_prob.shape,
        np.result_type(weighted_log_prob, top),
    )
    with np.errstate(under="ignore", invalid="ignore"):
        np.subtract(weighted_log_prob, top, out=resp)
        np.exp(resp, out=resp)
    total = resp.sum(axis=0)
    resp /= total
    return resp, np.log(total) + top


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


def em_kernel(tile: Tile, plan: GaussianPlan) -> Stats:
    """E-step and M-step statistics of one tile of rows (tile, D).

    With row weights (``tile.weight``) each row's contribution to every
    statistic, to ``loglik`` and to ``n_rows`` is multiplied by its weight
    (``n_rows`` is then the summed weight).

    Returns
    -------
    Stats
        ``nk`` (K,), ``s1``, ``s2`` (shapes per covariance type, see
        :mod:`daskmix.gaussian.covariance`), ``loglik`` (summed ``log p(x)``),
        ``n_rows``. On rows with gaps, expected statistics and the marginal
        likelihood of the observed entries (:mod:`daskmix.gaussian.missing`).
    """
    tile = missing.masked(tile, plan.gaps)
    if tile.mask is not None:
        return missing.em_kernel(tile, plan, em_kernel)
    x, sample_weight = tile.X, tile.weight
    with workspace() as work:
        xs = _shifted(x, plan, work)
        weighted_log_prob, frame = component_log_prob(xs, plan, work)
        if plan.resp_mode == "random":
            resp = random_resp(tile.rows(), plan.n_components, plan.seed, xs.dtype)
            log_norm = None
        else:
            resp, log_norm = normalize_log_prob(weighted_log_prob, work)
        if plan.resp_mode == "nearest":
            labels = weighted_log_prob.argmax(axis=0)
            resp = np.zeros_like(weighted_log_prob)
            resp[labels, np.arange(x.shape[0])] = 1.0
        if sample_weight is not None:
            resp = weigh_resp(resp, sample_weight)
        stats = plan.covariance.accumulate(xs, frame, resp, work)
        if sample_weight is not None and plan.covariance.shared:
            weighted_shared_scatter(stats, frame, sample_weight)
    if log_norm is None:  # random responsibilities: no likelihood
        stats["loglik"] = np.float64(0.0)
    elif sample_weight is None:
        stats["loglik"] = log_norm.sum(dtype=np.float64)
    else:
        weights = sample_weight.reshape(-1).astype(np.float64, copy=False)
        stats["loglik"] = weights @ log_norm.astype(np.float64, copy=False)
    stats["n_rows"] = tile.total_weight()
    return stats


def weigh_resp(resp: np.ndarray, sample_weight: np.ndarray) -> np.ndarray:
    """``resp * w`` for the rows' weights ``w`` (tile,), in ``resp``'s dtype.

    Every statistic of the kernels is linear in each row's responsibilities,
    so weighted responsibilities give weighted statistics: a row of integer
    weight w counts as w copies of it. In place when ``resp`` is writeable.
    """
    weights = sample_weight.reshape(-1).astype(resp.dtype, copy=False)
    if resp.flags.writeable:
        resp *= weights
        return resp
    return resp * weights


def weighted_shared_scatter(
    stats: Stats, frame: np.ndarray, sample_weight: np.ndarray
) -> Stats:
    """Replace ``s2`` of a shared-covariance tile by ``sum w y y^T``.

    A shared covariance (tied) takes ``s2`` over every row without
    responsibilities (``sum_k r_k = 1``), so weighting the responsibilities
    does not reach it. ``frame`` is the whitened tile (D, tile).
    """
    weights = sample_weight.reshape(-1).astype(frame.dtype, copy=False)
    stats["s2"] = ((frame * weights) @ frame.T).astype(np.float64, copy=False)
    return stats


# ------------------------------------------------------------ per-row outputs
def tile_log_prob(tile: Tile, plan: GaussianPlan, work=FRESH) -> np.ndarray:
    """``log w_k + log p(x | k)`` of each row, (K, tile).

    On rows with gaps, of the observed entries (the marginal).
    """
    tile = missing.masked(tile, plan.gaps)
    if tile.mask is not None:
        return missing.log_prob(tile, plan.gaps, lambda rows: tile_log_prob(rows, plan))
    xs = _shifted(tile.X, plan, work)
    return component_log_prob(xs, plan, work)[0]


def log_resp_rows(tile: Tile, plan: GaussianPlan) -> np.ndarray:
    """log p(k | x) of each row, (tile, K)."""
    with workspace() as work:
        weighted_log_prob = tile_log_prob(tile, plan, work)
        _, log_norm = normalize_log_prob(weighted_log_prob, work)
        return (weighted_log_prob - log_norm).T.astype(np.float64)


def proba_rows(tile: Tile, plan: GaussianPlan) -> np.ndarray:
    """p(k | x) of each row, (tile, K)."""
    with np.errstate(under="ignore"):
        return np.exp(log_resp_rows(tile, plan))


def score_rows(tile: Tile, plan: GaussianPlan) -> np.ndarray:
    """log p(x) of each row, (tile,)."""
    with workspace() as work:
        weighted_log_prob = tile_log_prob(tile, plan, work)
        return normalize_log_prob(weighted_log_prob, work)[1].astype(np.float64)


def label_rows(tile: Tile, plan: GaussianPlan) -> np.ndarray:
    """Most probable component of each row, (tile,)."""
    with workspace() as work:
        return tile_log_prob(tile, plan, work).argmax(axis=0)


def impute_rows(tile: Tile, plan: GaussianPlan) -> np.ndarray:
    """Each row with its gaps at their conditional expectation, (tile, D) float64.

    ``plan`` must carry ``gaps`` (:func:`make_plan` with ``marginalize``).
    """
    return missing.impute_rows(tile, plan.gaps)


def draw_rows(tile: Tile, plan: GaussianPlan) -> np.ndarray:
    """Each row with its gaps drawn given its observed entries, (tile, D) float64.

    ``plan`` must carry ``gaps``; its ``seed`` keys the draws.
    """
    return missing.draw_rows(tile, plan.gaps, plan.seed)
