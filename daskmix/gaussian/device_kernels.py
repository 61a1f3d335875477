"""The Gaussian kernels on array-API arrays (cupy, torch, array-api-strict).

The same fused E-step and statistics as :mod:`daskmix.gaussian.kernels`,
written against the namespace of the tile's arrays so that they run where the
data live (a GPU). One implementation per E-step *form* (full, tied, diag,
spherical), not per covariance model: every model shares its form's E-step and
differs only in its M-step, which runs on the host. The statistics come back
to the host as float64 (the engine converts them); the plan's small arrays go
to the device once per tile.

The numpy kernels stay the reference: ``tests/test_array_api.py`` checks these
against them on random tiles of every form.
"""

from __future__ import annotations

import numpy as np

from .._em.scoring import score_stats
from .._engine.namespaces import device, namespace, register_device_kernel, to_host
from .._engine.stats import Stats
from .._engine.tiles import Tile
from .kernels import (
    GaussianPlan,
    em_kernel,
    label_rows,
    log_resp_rows,
    proba_rows,
    random_resp,
    score_rows,
)


def form_of(plan: GaussianPlan) -> str:
    """The E-step form of the plan's covariance model."""
    cov = plan.covariance
    form = getattr(cov, "form", None)
    if form is not None:
        return form
    if cov.ndim == 3:
        return "full"
    if cov.ndim == 1:
        return "spherical"
    return "tied" if cov.shared else "diag"


def _on(xp, array: np.ndarray, reference):
    """A plan array on the device of ``reference``, in its dtype."""
    return xp.asarray(np.ascontiguousarray(array), device=device(reference))


def _distances(xp, xs, plan: GaussianPlan):
    """Squared Mahalanobis distances (tile, K) and the frame for the statistics.

    Rows first, components last: every reduction over components then runs
    along the contiguous axis (on a CPU device a reduction across rows of a
    (K, tile) array was several times slower).
    """
    form = form_of(plan)
    transform = _on(xp, plan.transform, xs)
    offsets = _on(xp, plan.offsets, xs)
    n_components = plan.n_components
    if form == "full":
        # (tile, K*D) whitened rows, then (tile, K, D)
        whitened = xs @ xp.permute_dims(transform, (1, 0)) - offsets[:, 0][None, :]
        whitened = xp.reshape(whitened, (xs.shape[0], n_components, -1))
        return xp.sum(whitened * whitened, axis=2), whitened
    if form == "tied":
        whitened = xs @ xp.permute_dims(transform, (1, 0))
        maha = (
            xp.sum(whitened * whitened, axis=1)[:, None]
            - 2.0 * (whitened @ xp.permute_dims(offsets, (1, 0)))
            + xp.sum(offsets * offsets, axis=1)[None, :]
        )
        return maha, whitened
    if form == "diag":
        squares = xs * xs
        maha = (
            squares @ xp.permute_dims(transform, (1, 0))
            - 2.0 * (xs @ xp.permute_dims(transform * offsets, (1, 0)))
            + xp.sum(transform * offsets * offsets, axis=1)[None, :]
        )
        return maha, squares
    squared_norms = xp.sum(xs * xs, axis=1)
    maha = (
        squared_norms[:, None]
        - 2.0 * (xs @ xp.permute_dims(offsets, (1, 0)))
        + xp.sum(offsets * offsets, axis=1)[None, :]
    ) * transform[None, :]
    return maha, squared_norms


def _log_prob(xp, x, plan: GaussianPlan):
    """``log w_k + log N(x | k)`` (tile, K), the shifted rows and the frame."""
    xs = x - _on(xp, plan.center, x)
    maha, frame = _distances(xp, xs, plan)
    log_const = _on(xp, plan.log_const, x)
    return log_const[None, :] - 0.5 * maha, xs, frame


def _normalize(xp, weighted_log_prob):
    """Responsibilities (tile, K) and per-row ``log p(x)`` (tile,)."""
    top = xp.max(weighted_log_prob, axis=1)
    resp = xp.exp(weighted_log_prob - top[:, None])
    total = xp.sum(resp, axis=1)
    return resp / total[:, None], xp.log(total) + top


def _accumulate(xp, form: str, xs, frame, resp, weight) -> Stats:
    """``nk``, ``s1``, ``s2`` in the form's frame (see the numpy covariances).

    ``resp`` is (tile, K), already weighted.
    """
    nk = xp.sum(resp, axis=0)
    resp_t = xp.permute_dims(resp, (1, 0))
    if form == "full":
        by_component = xp.permute_dims(frame, (1, 2, 0))  # (K, D, tile)
        weighted = by_component * resp_t[:, None, :]
        s1 = xp.sum(weighted, axis=2)
        s2 = weighted @ xp.permute_dims(frame, (1, 0, 2))
    elif form == "tied":
        s1 = resp_t @ frame
        scaled = frame if weight is None else frame * weight[:, None]
        s2 = xp.permute_dims(scaled, (1, 0)) @ frame
    else:
        s1 = resp_t @ xs
        s2 = resp_t @ frame
    return Stats(nk=nk, s1=s1, s2=s2)


def em_kernel_device(tile: Tile, plan: GaussianPlan) -> Stats:
    """:func:`daskmix.gaussian.kernels.em_kernel` on array-API arrays."""
    x = tile.X
    xp = namespace(x)
    weight = None if tile.weight is None else xp.astype(tile.weight, x.dtype)
    weighted_log_prob, xs, frame = _log_prob(xp, x, plan)
    log_norm = None
    if plan.resp_mode == "random":
        drawn = random_resp(tile.rows(), plan.n_components, plan.seed, np.float64)
        resp = xp.astype(_on(xp, np.ascontiguousarray(drawn.T), x), x.dtype)
    else:
        resp, log_norm = _normalize(xp, weighted_log_prob)
    if plan.resp_mode == "nearest":
        labels = xp.argmax(weighted_log_prob, axis=1)
        components = xp.arange(plan.n_components, device=device(x))
        resp = xp.astype(labels[:, None] == components[None, :], x.dtype)
    if weight is not None:
        resp = resp * weight[:, None]
    stats = _accumulate(xp, form_of(plan), xs, frame, resp, weight)
    if log_norm is None:
        stats["loglik"] = np.float64(0.0)
    elif weight is None:
        stats["loglik"] = xp.sum(xp.astype(log_norm, xp.float64))
    else:
        stats["loglik"] = xp.sum(xp.astype(weight * log_norm, xp.float64))
    stats["n_rows"] = np.float64(
        tile.n_rows if weight is None else float(xp.sum(xp.astype(weight, xp.float64)))
    )
    return stats


def loglik_kernel_device(tile: Tile, plan: GaussianPlan) -> Stats:
    """Summed ``log p(x)``, entropy and rows of one tile (the scoring pass)."""
    x = tile.X
    xp = namespace(x)
    weighted_log_prob, _, _ = _log_prob(xp, x, plan)
    # the scoring statistics are K x tile at most: computed on the host
    weight = None if tile.weight is None else to_host(tile.weight)
    return score_stats(np.ascontiguousarray(to_host(weighted_log_prob).T), weight)


def log_resp_rows_device(tile: Tile, plan: GaussianPlan):
    """log p(k | x) of each row, (tile, K), in the tile's namespace."""
    xp = namespace(tile.X)
    weighted_log_prob, _, _ = _log_prob(xp, tile.X, plan)
    _, log_norm = _normalize(xp, weighted_log_prob)
    return weighted_log_prob - log_norm[:, None]


def proba_rows_device(tile: Tile, plan: GaussianPlan):
    """p(k | x) of each row, (tile, K)."""
    xp = namespace(tile.X)
    return xp.exp(log_resp_rows_device(tile, plan))


def score_rows_device(tile: Tile, plan: GaussianPlan):
    """log p(x) of each row, (tile,)."""
    xp = namespace(tile.X)
    weighted_log_prob, _, _ = _log_prob(xp, tile.X, plan)
    return _normalize(xp, weighted_log_prob)[1]


def label_rows_device(tile: Tile, plan: GaussianPlan):
    """Most probable component of each row, (tile,) int64."""
    xp = namespace(tile.X)
    weighted_log_prob, _, _ = _log_prob(xp, tile.X, plan)
    return xp.astype(xp.argmax(weighted_log_prob, axis=1), xp.int64)


def variational_kernel_device(tile: Tile, plan: GaussianPlan) -> Stats:
    """The variational E-step and statistics on array-API arrays.

    :func:`daskmix.gaussian.variational.posterior.variational_kernel`'s
    statistics: the E-step's, ``resp_log_resp`` and ``loglik``.
    """
    x = tile.X
    xp = namespace(x)
    weighted_log_prob, xs, frame = _log_prob(xp, x, plan)
    resp, log_norm = _normalize(xp, weighted_log_prob)
    stats = _accumulate(xp, form_of(plan), xs, frame, resp, None)
    log_resp = xp.astype(weighted_log_prob - log_norm[:, None], xp.float64)
    terms = xp.astype(resp, xp.float64) * log_resp
    # 0 log 0 = 0, as the numpy kernel's dot gives for underflowed rows
    stats["resp_log_resp"] = xp.sum(xp.where(xp.isfinite(terms), terms, 0.0))
    stats["loglik"] = xp.sum(xp.astype(log_norm, xp.float64))
    stats["n_rows"] = np.float64(tile.n_rows)
    return stats


for _numpy, _device in (
    (em_kernel, em_kernel_device),
    (log_resp_rows, log_resp_rows_device),
    (proba_rows, proba_rows_device),
    (score_rows, score_rows_device),
    (label_rows, label_rows_device),
):
    register_device_kernel(_numpy, _device)
