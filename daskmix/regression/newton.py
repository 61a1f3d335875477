"""Safeguarded Newton steps: the M-step of the GLM families and the logistic gate.

The expected complete-data log-likelihood ``Q`` of a Poisson or binomial
component, or of the logistic gate, has no closed-form maximiser. Each EM
iteration's pass returns its gradient ``g`` and Hessian ``-H`` at the current
coefficients, and the M-step moves them along the Newton direction
``d = H^+ g`` by a step ``s`` in (0, 1]. Generalised EM (Dempster, Laird and
Rubin 1977) needs only that ``Q`` does not decrease; then the observed
log-likelihood does not either. The step is chosen from a lower bound on the
gain that the same statistics certify, so no further pass is needed:

    Q(beta + s d) - Q(beta) >= s g.d - (s^2 / 2) (exp(s G) d^T H d + d^T R d)

where ``R`` is an exactly quadratic part (a ridge penalty) and ``G`` bounds
how much the curvature can grow along the step, from the range of the design
over the data (``x_range``, the smallest and largest value of every column):

* Poisson: the weights ``mu e^(phi . d)`` grow by at most ``exp(max(phi . d, 0))``;
* binomial: ``p (1 - p)`` changes by at most ``exp(|phi . d|)``;
* logistic gate: the variance of ``z . d_k`` over components under the
  softmax grows by at most ``exp(max_k z . d_k - min_k z . d_k)``.

(Taylor's theorem with the remainder's curvature bounded on the segment.) The
full Newton step is taken whenever the bound certifies that it does not lower
``Q`` (for a Newton step, when ``G`` is below about ``log 2``), which it
always does near the optimum, where ``d`` is small; otherwise the step that
maximises the bound, shorter and a certified gain. Because ``x_range`` is the
data's, the certificate holds for batch EM; a stepwise (minibatch) fit takes
its range from the rows its start saw, and stepwise EM is not monotone
anyway.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from .. import config

#: bisection steps of the step length (far below any meaningful precision)
_BISECTIONS = 60


def design_box(
    x_range: np.ndarray, columns, center: np.ndarray, shifted: bool, intercept: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest value of every design column over the data.

    Parameters
    ----------
    x_range : ndarray of shape (2, D)
        Minimum and maximum of every column of X over the rows.
    columns : sequence of int or None
        The columns of X in the design (None: all).
    center : ndarray of shape (D_design,)
        The frame shift of those columns.
    shifted : bool
        Whether the design holds ``x - center`` (with an intercept) or ``x``.
    intercept : bool
        Whether a constant column ends the design.

    Returns
    -------
    low, high : ndarray of shape (P,)
    """
    low, high = x_range
    if columns is not None:
        low, high = low[list(columns)], high[list(columns)]
    if shifted:
        low, high = low - center, high - center
    if intercept:
        low, high = np.append(low, 1.0), np.append(high, 1.0)
    return low, high


def box_max(direction: np.ndarray, box: tuple[np.ndarray, np.ndarray]) -> float:
    """An upper bound on ``max_i phi_i . direction`` over the design box."""
    low, high = box
    return float(np.maximum(direction * low, direction * high).sum())


def growth_exponent(kind: str, direction: np.ndarray, box) -> float:
    """``G`` for a line's step ``direction`` (P,) (see the module docstring)."""
    if kind == "none":
        return 0.0
    up = box_max(direction, box)
    if kind == "positive":
        return max(up, 0.0)
    return max(up, box_max(-direction, box), 0.0)


def gate_growth_exponent(directions: np.ndarray, box) -> float:
    """``G`` of a logistic gate step: ``directions`` (K, P), the reference's zero."""
    n_components = directions.shape[0]
    exponent = 0.0
    for k in range(n_components):
        for j in range(n_components):
            if k != j:
                exponent = max(exponent, box_max(directions[k] - directions[j], box))
    return exponent


def step_length(gain: float, curvature: float, quadratic: float, exponent: float):
    """The step ``s`` in [0, 1] along a Newton direction that the bound certifies.

    The bound on the gain is ``s gain - (s^2 / 2) (exp(s exponent) curvature +
    quadratic)`` (``gain = g.d``, ``curvature = d^T H d``, ``quadratic =
    d^T R d``). The full step is taken whenever the bound certifies that it
    does not lower ``Q`` (all generalised EM needs); otherwise the step that
    maximises the bound, which then certifies a strict gain.

    Returns
    -------
    float
        0 when the direction is not an ascent direction (or not finite).
    """
    if not (np.isfinite(gain) and np.isfinite(curvature) and np.isfinite(exponent)):
        return 0.0
    if gain <= 0.0:
        return 0.0

    def bound(s: float) -> float:
        return s * gain - 0.5 * s * s * (np.exp(s * exponent) * curvature + quadratic)

    # on an exactly quadratic Q (no growth) the Newton step's bound is gain / 2
    if bound(1.0) >= -1e-12 * gain:
        return 1.0

    def slope(s: float) -> float:
        grow = np.exp(s * exponent)
        return (
            gain
            - s * (grow * curvature + quadratic)
            - 0.5 * s * s * exponent * grow * curvature
        )

    low, high = 0.0, 1.0
    for _ in range(_BISECTIONS):
        middle = 0.5 * (low + high)
        if slope(middle) >= 0.0:
            low = middle
        else:
            high = middle
    return low


def solve_psd(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Minimum-norm solution of ``matrix @ x = rhs`` for a PSD ``matrix``.

    The matrix is scaled to unit diagonal first (Jacobi), so that features of
    very different scales do not decide which directions count as singular.
    A component whose rows do not determine its coefficients (fewer rows
    than coefficients, a constant feature) thus moves only along the
    directions they do determine, and one without rows not at all.
    """
    diagonal = np.diag(matrix).copy()
    scale = np.sqrt(np.where(diagonal > 0.0, diagonal, 1.0))
    scaled = matrix / np.outer(scale, scale)
    eigenvalues, vectors = linalg.eigh(0.5 * (scaled + scaled.T))
    top = eigenvalues.max(initial=0.0)
    keep = (
        eigenvalues > config.get("regression.pinv-rcond") * top
        if top > 0.0
        else np.zeros_like(eigenvalues, bool)
    )
    if not keep.any():
        return np.zeros_like(rhs)
    kept = vectors[:, keep]
    solution = kept @ ((kept.T @ (rhs / scale)) / eigenvalues[keep])
    return solution / scale
