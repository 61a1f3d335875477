"""The constrained covariance estimates of mclust's models, from weighted scatters.

Celeux & Govaert (1995) write a component covariance as
``Sigma_k = lambda_k D_k A_k D_k^T``: a volume ``lambda_k = det(Sigma_k)^(1/d)``,
a shape ``A_k`` (diagonal, ``det A_k = 1``) and an orientation ``D_k``
(orthogonal). A model holds each of the three equal across components (E),
free (V), or, for the shape and the orientation, the identity (I). Its
M-step minimises, over the covariances its constraint allows,

``f = sum_k [ n_k log det Sigma_k + tr(W_k Sigma_k^-1) ]``

(minus twice the covariance part of the expected complete-data
log-likelihood), where ``W_k = n_k S_k`` is the weighted scatter of component
``k`` about its new mean and ``n_k`` its weight. Every function here takes
the ``W_k`` (or their diagonals, traces or eigenvalues) and returns the
covariances before ``reg_covar``; they know no statistics frame and no kernel.

Closed forms: equal volume with free shapes (EVI, EVV, and EVE's shapes for
a given orientation), the pooled estimates (EII, EEI, EEE), EEV. Iterative:

* free volumes with a common shape (VEI, VEV) and free volumes with a common
  shape and orientation (VEE) alternate the volumes and the common matrix,
  each step the exact minimiser of ``f`` over its block (Celeux & Govaert's
  fixed-point iterations). These problems are convex in the logarithms of the
  volumes and shape values (VEI, VEV) or geodesically convex (VEE), so the
  iteration reaches the one minimum from any start.
* a common orientation with free shapes (EVE, VVE) alternates the shapes (in
  closed form) with a majorisation-minimisation step of the orientation
  (Browne & McNicholas 2014): with ``m_k`` the largest eigenvalue of
  ``W_k``, ``f`` restricted to orthogonal ``D`` is majorised by a function
  linear in ``D``, minimised by the orthogonal polar factor of
  ``F = sum_k (m_k I - W_k) D Lambda_k^-1``. Every step lowers ``f``, but the
  problem is not convex: the loop starts from the orientation of the previous
  parameters (as mclust's does), which makes each EM iteration a generalised
  EM step that cannot lower the likelihood.

Each loop runs until no log-eigenvalue of the covariances moves by more than
:data:`INNER_TOL` (and, for an orientation, until ``f`` no longer falls by
more than ``INNER_TOL`` relative), for at most :data:`MAX_INNER_ITER`
iterations; it is deterministic.

Degenerate components never give NaN. A component without mass (``W_k = 0``)
takes no part in the common volume, shape or orientation; its covariance is
the common volume times the common shape where those exist (E models), zero
otherwise (V models: only ``reg_covar`` is left, as for the unconstrained
types). Scatter eigenvalues below :data:`VALUE_FLOOR` times a component's
largest are raised to that floor before a shape is normalised, so a singular
scatter gives a very thin, but finite, shape.
"""

from __future__ import annotations

import numpy as np

#: an inner loop stops when no log-eigenvalue moves by more than this
INNER_TOL = 1e-10
#: an orientation's loop stops when a sweep lowers ``f`` by less than this
#: per row and feature
ORIENTATION_TOL = 1e-12
#: rotation angles are this multiple of the round's exact minimiser
OVER_RELAXATION = 1.3
#: inner iterations of one M-step at most
MAX_INNER_ITER = 2000
#: eigenvalues below this fraction of the component's largest count as this
VALUE_FLOOR = 1e-14


# ------------------------------------------------------------------ helpers
def normalized_shape(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Volumes and unit-determinant shapes of positive values, row by row.

    Parameters
    ----------
    values : ndarray of shape (..., d)
        Non-negative (rounding below zero is clipped).

    Returns
    -------
    volumes : ndarray of shape (...)
        Geometric means of the rows (0 for a row of zeros).
    shapes : ndarray of shape (..., d)
        ``values / volume``, whose product is one; a row of zeros gives ones.
    """
    values = np.maximum(values, 0.0)
    floored = np.maximum(values, VALUE_FLOOR * values.max(axis=-1, keepdims=True))
    with np.errstate(divide="ignore"):
        volumes = np.exp(np.log(floored).mean(axis=-1))
    positive = volumes[..., None] > 0.0
    shapes = np.divide(
        floored, volumes[..., None], out=np.ones_like(floored), where=positive
    )
    return volumes, shapes


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` where ``den > 0``, else 0."""
    return np.divide(
        num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0
    )


def _log_change(new: np.ndarray, old: np.ndarray) -> float:
    """Largest change of the logarithms of positive entries (0 where either is 0)."""
    both = (new > 0) & (old > 0)
    if not both.any():
        return 0.0
    return float(np.abs(np.log(new[both]) - np.log(old[both])).max())


def sorted_eigh(scatter: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending, clipped at zero) and eigenvectors of a stack."""
    values, vectors = np.linalg.eigh(scatter)
    return np.maximum(values, 0.0), vectors


def from_eigen(values: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``V diag(values) V^T`` for stacks (K, d) and (K, d, d), or (d,), (d, d)."""
    matrices = (vectors * values[..., None, :]) @ np.swapaxes(vectors, -1, -2)
    return 0.5 * (matrices + np.swapaxes(matrices, -1, -2))


# ----------------------------------------------------------- closed forms
def equal_volume(values: np.ndarray, n: float) -> np.ndarray:
    """Eigenvalues of ``lambda A_k``: one volume, free shapes (EVI, EVV).

    ``values`` (K, d) are the eigenvalues (or diagonals) of the ``W_k``;
    ``A_k = values_k / det(values_k)^(1/d)`` and
    ``lambda = sum_k det(W_k)^(1/d) / n``.
    """
    volumes, shapes = normalized_shape(values)
    return volumes.sum() / n * shapes


def common_eigenvalues(values: np.ndarray, n: float) -> np.ndarray:
    """Eigenvalues of EEV's ``lambda A``: the summed sorted eigenvalues over n.

    ``values`` (K, d) are the ``W_k``'s eigenvalues in one (ascending) order;
    pairing equal ranks is optimal (von Neumann's trace inequality), so the
    result holds for every component, each in its own eigenvectors.
    """
    return np.broadcast_to(values.sum(axis=0) / n, values.shape).copy()


# -------------------------------------------------------------- iterative
def varying_volume(values: np.ndarray, nk: np.ndarray) -> np.ndarray:
    """Eigenvalues of ``lambda_k A``: free volumes, one shape (VEI, VEV).

    Alternates ``A = normalised(sum_k values_k / lambda_k)`` and
    ``lambda_k = sum_j (values_kj / a_j) / (d n_k)``, from the shape of the
    summed values.

    Parameters
    ----------
    values : ndarray of shape (K, d)
        Diagonals (VEI) or eigenvalues in one order (VEV) of the ``W_k``.
    nk : ndarray of shape (K,)

    Returns
    -------
    ndarray of shape (K, d)
    """
    d = values.shape[1]
    _, shape = normalized_shape(values.sum(axis=0))
    volumes = (values / shape).sum(axis=1) / (d * nk)
    for _ in range(MAX_INNER_ITER):
        _, shape = normalized_shape(_safe_divide(values, volumes[:, None]).sum(axis=0))
        new = (values / shape).sum(axis=1) / (d * nk)
        change = _log_change(new, volumes)
        volumes = new
        if change <= INNER_TOL:
            break
    return volumes[:, None] * shape


def proportional(scatter: np.ndarray, nk: np.ndarray) -> np.ndarray:
    """VEE's ``lambda_k C``: free volumes, one shape and orientation.

    Alternates ``C = normalised(sum_k W_k / lambda_k)`` (``det C = 1``) and
    ``lambda_k = tr(W_k C^-1) / (d n_k)``, from the normalised pooled
    scatter.

    Parameters
    ----------
    scatter : ndarray of shape (K, d, d)
        The ``W_k``.
    nk : ndarray of shape (K,)

    Returns
    -------
    ndarray of shape (K, d, d)
    """
    d = scatter.shape[1]

    def common(matrix):
        values, vectors = sorted_eigh(matrix)
        _, shape = normalized_shape(values)
        return from_eigen(shape, vectors), from_eigen(1.0 / shape, vectors)

    shape_matrix, inverse = common(scatter.sum(axis=0))
    volumes = np.einsum("kij,ji->k", scatter, inverse) / (d * nk)
    for _ in range(MAX_INNER_ITER):
        weighted = _safe_divide(scatter, volumes[:, None, None]).sum(axis=0)
        new_shape, inverse = common(weighted)
        new = np.einsum("kij,ji->k", scatter, inverse) / (d * nk)
        change = max(
            _log_change(new, volumes), float(np.abs(new_shape - shape_matrix).max())
        )
        volumes, shape_matrix = new, new_shape
        if change <= INNER_TOL:
            break
    return volumes[:, None, None] * shape_matrix


def _objective(values: np.ndarray, eigen: np.ndarray, nk: np.ndarray) -> float:
    """``f`` for covariance eigenvalues ``eigen`` and scatter diagonals ``values``.

    ``sum_k [n_k sum_j log e_kj + sum_j v_kj / e_kj]`` over positive ``e``
    (a component without mass has none).
    """
    positive = eigen > 0
    logs = np.log(eigen, out=np.zeros_like(eigen), where=positive)
    return float((nk[:, None] * logs).sum() + _safe_divide(values, eigen).sum())


def round_robin(d: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pairs of axes ``0..d-1`` in rounds of disjoint pairs (the circle method).

    Every pair appears once in the ``d - 1`` rounds (``d`` rounds when ``d``
    is odd); each round is two index arrays ``(i, j)`` with ``i < j``.
    """
    players = list(range(d + d % 2))
    rounds = []
    for _ in range(len(players) - 1):
        half = len(players) // 2
        pairs = [
            (min(a, b), max(a, b))
            for a, b in zip(players[:half], players[::-1][:half])
            if max(a, b) < d
        ]
        rounds.append(
            (np.array([a for a, _ in pairs]), np.array([b for _, b in pairs]))
        )
        players = [players[0], players[-1], *players[1:-1]]
    return rounds


def common_orientation(
    scatter: np.ndarray, nk: np.ndarray, start: np.ndarray, equal_volumes: bool
) -> tuple[np.ndarray, np.ndarray]:
    """EVE's and VVE's ``D diag(e_k) D^T``: one orientation, free shapes.

    For an orientation ``D`` the eigenvalues are closed-form in the
    diagonals ``b_k = diag(D^T W_k D)``: ``b_k / n_k`` (VVE) or
    :func:`equal_volume` of them (EVE). For fixed eigenvalues, ``f`` is
    ``sum_k sum_j b_kj / e_kj`` plus a constant, and a rotation of ``D`` in
    the plane of two axes ``(i, j)`` changes it by
    ``p cos(2 theta) + q sin(2 theta)`` (Jacobi): the angle that minimises
    it is closed form, and rotations in disjoint planes do not interact. One
    round rotates ``d / 2`` disjoint planes at once, then the eigenvalues are
    re-estimated; a sweep of rounds visits every plane once. Each round
    lowers ``f`` (the angles are over-relaxed by :data:`OVER_RELAXATION`,
    below 2, which keeps that true); the loop stops after a sweep that lowers
    ``f`` by less than :data:`ORIENTATION_TOL` per row and feature.

    Parameters
    ----------
    scatter : ndarray of shape (K, d, d)
        The ``W_k``.
    nk : ndarray of shape (K,)
    start : ndarray of shape (d, d)
        Orthogonal: the orientation the loop starts from.
    equal_volumes : bool
        EVE (one volume) rather than VVE.

    Returns
    -------
    orientation : ndarray of shape (d, d)
    eigenvalues : ndarray of shape (K, d)
        Of each covariance, in the columns of ``orientation``.
    """
    n = nk.sum()
    d = scatter.shape[1]

    def eigenvalues(rotated):
        diagonals = np.maximum(np.diagonal(rotated, axis1=1, axis2=2), 0.0)
        if equal_volumes:
            return equal_volume(diagonals, n)
        return diagonals / nk[:, None]

    orientation = np.array(start, dtype=np.float64)
    rotated = np.swapaxes(orientation, 0, 1) @ scatter @ orientation
    eigen = eigenvalues(rotated)
    value = _objective(np.diagonal(rotated, axis1=1, axis2=2), eigen, nk)
    rounds = round_robin(d)
    for _ in range(MAX_INNER_ITER):
        for i, j in rounds:
            # a component without mass (W_k = 0) weighs nothing
            inverse = _safe_divide(1.0, eigen)
            weight = inverse[:, i] - inverse[:, j]
            p = 0.5 * (weight * (rotated[:, i, i] - rotated[:, j, j])).sum(axis=0)
            q = (weight * rotated[:, i, j]).sum(axis=0)
            theta = 0.5 * OVER_RELAXATION * np.arctan2(-q, -p)
            rotation = np.eye(d)
            cos, sin = np.cos(theta), np.sin(theta)
            rotation[i, i] = cos
            rotation[j, j] = cos
            rotation[j, i] = sin
            rotation[i, j] = -sin
            orientation = orientation @ rotation
            rotated = rotation.T @ rotated @ rotation
            eigen = eigenvalues(rotated)
        previous = value
        value = _objective(np.diagonal(rotated, axis1=1, axis2=2), eigen, nk)
        if previous - value <= ORIENTATION_TOL * n * d:
            break
    return orientation, eigen


def common_axes(matrices: np.ndarray) -> np.ndarray:
    """An orthogonal basis that diagonalises commuting symmetric matrices.

    The eigenvectors of a combination of the (trace-normalised) matrices
    with distinct coefficients: exact for matrices that share their
    eigenvectors, as the covariances of EVE and VVE do (``reg_covar``
    keeps them).

    Parameters
    ----------
    matrices : ndarray of shape (K, d, d)

    Returns
    -------
    ndarray of shape (d, d)
    """
    scale = np.trace(matrices, axis1=1, axis2=2)
    coefficients = np.sqrt(np.arange(2, matrices.shape[0] + 2)) / scale
    return np.linalg.eigh(np.einsum("k,kij->ij", coefficients, matrices))[1]
