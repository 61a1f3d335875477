"""Compiled (numba) EM kernel of the regression mixture.

The numpy kernel (:func:`daskmix.regression.kernels.em_kernel`) is the
reference. Here the lines' residuals ``e = y - phi W`` (one small GEMM) are
the only numpy step; the gate's E-step, the log-sum-exp of gate plus lines
and the gate's statistics run in the Gaussian mixture's compiled sweep
(:mod:`daskmix.gaussian.compiled`, the lines' log-densities added to the
gate's), and the residual-shifted regression sums ``A_k = Phi^T R_k Phi``,
``b_k = Phi^T R_k e_k``, ``q_k = e_k^T R_k e_k`` in one more compiled loop
with rows in SIMD lanes. Statistics are float64, arithmetic float64.
"""

from __future__ import annotations

import numpy as np

from .._engine.jit import c_rows, jit, row_weights
from .._engine.stats import Stats
from .._engine.tiles import Tile
from ..gaussian import compiled as gaussian_compiled


def supports(tile: Tile, plan) -> bool:
    """Whether the compiled kernel serves this tile under ``plan``.

    It covers Gaussian components under no gate or a Gaussian gate, every
    column of X in both; other families, the logistic gate, column
    selections and offsets run the numpy kernel.
    """
    return (
        plan.backend == "compiled"
        and type(tile.X) is np.ndarray  # not a device array
        and tile.mask is None
        and plan.mode == "posterior"
        and plan.family.name == "gaussian"
        and plan.gating.name in ("none", "gaussian")
        and plan.expert_columns is None
        and plan.gate_columns is None
        and plan.offset_column is None
    )


@jit
def _sums(design_t, resp, residuals, grams, first, second):
    """Add ``sum_b r phi phi^T`` (upper), ``sum_b r e phi``, ``sum_b r e^2``."""
    n_components, n = resp.shape
    n_coef = design_t.shape[0]
    weighted = np.empty(n)
    for k in range(n_components):
        for b in range(n):
            weighted[b] = resp[k, b] * residuals[k, b]
        total = 0.0
        for b in range(n):
            total += weighted[b] * residuals[k, b]
        second[k] += total
        for i in range(n_coef):
            total = 0.0
            for b in range(n):
                total += weighted[b] * design_t[i, b]
            first[k, i] += total
            for j in range(i, n_coef):
                total = 0.0
                for b in range(n):
                    total += resp[k, b] * design_t[i, b] * design_t[j, b]
                grams[k, i, j] += total


def _design_t(x: np.ndarray, plan) -> np.ndarray:
    """The design's columns ``[x - c, 1]`` (or ``x``) as rows, (P, tile) float64."""
    n_rows, n_features = x.shape
    n_coef = n_features + 1 if plan.fit_intercept else n_features
    design_t = np.empty((n_coef, n_rows))
    if plan.fit_intercept:
        np.subtract(x.T, plan.center[:, None], out=design_t[:n_features])
        design_t[n_features] = 1.0
    else:
        design_t[:] = x.T
    return design_t


def em_kernel(tile: Tile, plan) -> Stats:
    """Compiled :func:`daskmix.regression.kernels.em_kernel` (same statistics).

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D), ``tile.y`` (tile,), row weights ``tile.weight``
        or None.
    plan : RegressionPlan
        With ``mode='posterior'``.

    Returns
    -------
    Stats
        ``nk``, ``A`` (K, P(P+1)/2), ``b`` (K, P), ``q`` (K,), the gate's
        ``s1``/``s2`` with a Gaussian gate, ``loglik``, ``n_rows``.
    """
    x, y, weight = tile.X, tile.y.reshape(-1), tile.weight
    design_t = _design_t(x, plan)
    predictions = plan.weights_t.astype(np.float64).T @ design_t
    residuals = y.astype(np.float64)[None, :] - predictions
    line_log_prob = (
        plan.noise_log_const[:, None]
        - 0.5 * plan.noise_precision[:, None] * residuals**2
    )
    n_components, n_rows = residuals.shape
    resp = np.empty((n_components, n_rows))
    if plan.gate is None:
        scalars = np.zeros(2)
        log_prob = c_rows(line_log_prob + plan.log_weights[:, None])
        gaussian_compiled.normalize(
            log_prob, row_weights(weight), gaussian_compiled.EM, resp, scalars
        )
        stats = Stats(nk=resp.sum(axis=1))
    else:
        nk, s1, s2, scalars = gaussian_compiled.sweep_tile(
            tile, plan.gate, gaussian_compiled.EM, weight, line_log_prob, resp
        )
        stats = Stats(nk=nk, s1=s1, s2=s2)
    n_coef = design_t.shape[0]
    grams = np.zeros((n_components, n_coef, n_coef))
    first = np.zeros((n_components, n_coef))
    second = np.zeros(n_components)
    _sums(design_t, resp, residuals, grams, first, second)
    stats["A"] = grams[:, plan.rows, plan.cols]
    stats["b"] = first
    stats["q"] = second
    stats["loglik"] = np.float64(scalars[0])
    stats["n_rows"] = tile.total_weight()
    return stats
