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
* a common orientation with free shapes (EVE, VVE): for an orientation ``D``
  the volumes and shapes are closed form in the diagonals of ``D^T W_k D``,
  which leaves a minimisation over rotations (:func:`common_orientation`:
  Newton steps with the exact Hessian, over-relaxed Jacobi sweeps where it is
  not positive definite), which converges quadratically where the
  majorisation-minimisation of Browne & McNicholas (2014) converges
  linearly. Every step lowers ``f``, but the problem is not
  convex: the loop starts from the orientation of the previous parameters (as
  mclust's does), which makes each EM iteration a generalised EM step that
  cannot lower the likelihood.

The fixed-point loops run until no log-eigenvalue of the covariances moves by
more than ``daskmix.covariance.inner-tol``; an orientation's until an iteration lowers
``f`` by less than ``daskmix.covariance.orientation-tol`` per row and feature.
Both stop after ``daskmix.covariance.max-inner-iter`` iterations at most and
are deterministic (:mod:`daskmix.config`).

Degenerate components never give NaN. A component without mass (``W_k = 0``)
takes no part in the common volume, shape or orientation. With equal volumes
its covariance is the common volume times the common shape (EEI, EEV) or the
identity (EVI, EVV, EVE); with free volumes it is zero, and only
``reg_covar`` is left, as for the unconstrained types. Scatter eigenvalues
below :data:`VALUE_FLOOR` times a component's largest are raised to that
floor before a shape is normalised, so a singular scatter gives a very thin,
but finite, shape.
"""

from __future__ import annotations

import numpy as np

from ... import config

#: rotation angles are this multiple of the round's exact minimiser
OVER_RELAXATION = 1.3
#: a rise of ``f`` by more than this (relative) ends a fixed-point loop: the
#: steps only lower it, unless rounding dominates them (singular scatters)
NOISE = 1e-12
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


def positive_part(scatter: np.ndarray) -> np.ndarray:
    """The scatters (K, d, d) with rounding's negative eigenvalues set to zero.

    A scatter matrix is positive semi-definite; statistics accumulated in
    float32 can leave a rank-deficient one a hair indefinite, and the
    constrained estimates divide by its smallest eigenvalues (a volume
    ``tr(W C^-1)`` then turns hugely negative). Scatters without a negative
    eigenvalue come back unchanged, the same array.
    """
    values, vectors = np.linalg.eigh(scatter)
    if values.min() >= 0.0:
        return scatter
    return from_eigen(np.maximum(values, 0.0), vectors)


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
def _volume_objective(volumes: np.ndarray, nk: np.ndarray) -> float:
    """``f / d`` up to a constant where the volumes are optimal for the shape.

    There ``tr(W_k (lambda_k C)^-1) = d n_k``, so ``f = d sum_k n_k log
    lambda_k + n d``; components without mass (``lambda_k = 0``) add nothing.
    """
    positive = volumes > 0
    return float(nk[positive] @ np.log(volumes[positive]))


def _rises(new: float, old: float, nk: np.ndarray) -> bool:
    """Whether ``f`` rose from ``old`` to ``new`` by more than rounding."""
    return new - old > NOISE * (abs(old) + nk.sum())


def varying_volume(values: np.ndarray, nk: np.ndarray) -> np.ndarray:
    """Eigenvalues of ``lambda_k A``: free volumes, one shape (VEI, VEV).

    Alternates ``A = normalised(sum_k values_k / lambda_k)`` and
    ``lambda_k = sum_j (values_kj / a_j) / (d n_k)``, from the shape of the
    summed values. Each step lowers ``f``; a step that rounding makes raise it
    by more than :data:`NOISE` ends the loop.

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
    tolerance = config.get("covariance.inner-tol")
    for _ in range(config.get("covariance.max-inner-iter")):
        _, new_shape = normalized_shape(
            _safe_divide(values, volumes[:, None]).sum(axis=0)
        )
        new = (values / new_shape).sum(axis=1) / (d * nk)
        if _rises(_volume_objective(new, nk), _volume_objective(volumes, nk), nk):
            break  # rounding noise (a singular scatter): keep the better one
        change = _log_change(new, volumes)
        volumes, shape = new, new_shape
        if change <= tolerance:
            break
    return volumes[:, None] * shape


def proportional(scatter: np.ndarray, nk: np.ndarray) -> np.ndarray:
    """VEE's ``lambda_k C``: free volumes, one shape and orientation.

    Alternates ``C = normalised(sum_k W_k / lambda_k)`` (``det C = 1``) and
    ``lambda_k = tr(W_k C^-1) / (d n_k)``, from the normalised pooled
    scatter. Each step lowers ``f``; a step that rounding makes raise it by
    more than :data:`NOISE` ends the loop.

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
    tolerance = config.get("covariance.inner-tol")
    for _ in range(config.get("covariance.max-inner-iter")):
        weighted = _safe_divide(scatter, volumes[:, None, None]).sum(axis=0)
        new_shape, inverse = common(weighted)
        new = np.einsum("kij,ji->k", scatter, inverse) / (d * nk)
        if _rises(_volume_objective(new, nk), _volume_objective(volumes, nk), nk):
            break  # rounding noise (a singular scatter): keep the better one
        moved = np.abs(new_shape - shape_matrix).max() / np.abs(new_shape).max()
        change = max(_log_change(new, volumes), float(moved))
        volumes, shape_matrix = new, new_shape
        if change <= tolerance:
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
        first = np.array([a for a, _ in pairs], dtype=int)
        second = np.array([b for _, b in pairs], dtype=int)
        rounds.append((first, second))
        players = [players[0], players[-1], *players[1:-1]]
    return rounds


def _skew_basis(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The basis ``E_p = e_a e_b^T - e_b e_a^T`` (a < b) of skew matrices."""
    first, second = np.triu_indices(d, 1)
    basis = np.zeros((first.size, d, d))
    basis[np.arange(first.size), first, second] = 1.0
    basis[np.arange(first.size), second, first] = -1.0
    return first, second, basis


def _cayley(skew: np.ndarray) -> np.ndarray:
    """The orthogonal ``(I - S/2)^-1 (I + S/2)``: ``exp(S)`` to second order."""
    eye = np.eye(skew.shape[0])
    return np.linalg.solve(eye - 0.5 * skew, eye + 0.5 * skew)


def _profile(
    diagonals: np.ndarray, nk: np.ndarray, equal_volumes: bool
) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivatives of ``f`` profiled over the eigenvalues.

    With the eigenvalues at their optimum for the diagonals ``b`` (K, d),
    ``f = sum_k n_k sum_j log b_kj`` (VVE) or ``n d log sum_k g_k`` with
    ``g_k`` the geometric mean of ``b_k`` (EVE), up to constants. Returns
    the gradient (K, d) and the Hessian (K d, K d) in ``b``.
    """
    k, d = diagonals.shape
    inverse = 1.0 / diagonals
    if not equal_volumes:
        gradient = nk[:, None] * inverse
        return gradient, np.diag((-gradient * inverse).reshape(-1))
    n = nk.sum()
    volumes = np.exp(np.log(diagonals).mean(axis=1))
    total = volumes.sum()
    gradient = n / total * volumes[:, None] * inverse
    # d volume_k / d b_kj, flattened
    dvolume = (volumes[:, None] * inverse).reshape(-1) / d
    owner = np.repeat(np.arange(k), d)
    same = owner[:, None] == owner[None, :]
    flat = inverse.reshape(-1)
    hessian = n / total * np.outer(flat, dvolume) * same
    hessian -= n / total**2 * np.outer(volumes[owner] * flat, dvolume)
    hessian -= np.diag((gradient * inverse).reshape(-1))
    return gradient, hessian


def _rotation_derivatives(
    rotated: np.ndarray, nk: np.ndarray, equal_volumes: bool, basis
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of the profiled ``f`` in the rotations of ``D``.

    ``rotated`` are the ``D^T W_k D`` of the components that take part (all
    diagonals positive); the variables are ``x`` in ``D <- D exp(X)``,
    ``X = sum_p x_p E_p``. With ``B_kj = (Q^T M_k Q)_jj``, ``Q = exp(X)``,
    the first derivatives of ``B`` are ``-2 M_ab`` at ``j = a`` and ``2 M_ab``
    at ``j = b`` for ``p = (a, b)``, the second
    ``(E_p E_q M + E_q E_p M)_jj + (E_p M E_q^T + E_q M E_p^T)_jj``.
    """
    first, second, skew = basis
    k, d, _ = rotated.shape
    n_pairs = first.size
    diagonals = np.diagonal(rotated, axis1=1, axis2=2)
    phi, phi2 = _profile(diagonals, nk, equal_volumes)
    jacobian = np.zeros((k, d, n_pairs))
    pairs = np.arange(n_pairs)
    off = rotated[:, first, second]
    jacobian[:, first, pairs] = -2.0 * off
    jacobian[:, second, pairs] = 2.0 * off
    gradient = np.einsum("kj,kjp->p", phi, jacobian)
    # sum_kj phi_kj (U V M_k + U M_k V^T)_jj for U = e_x e_y^T, V = e_z e_w^T
    # is delta_yz N_wx + delta_xz G_xyw; symmetrised, and taken on the E_p
    weighted = np.einsum("kij,kj->ij", rotated, phi)  # N
    spread = np.einsum("kx,kyw->xyw", phi, rotated)  # G

    def form(x, y, z, w):
        one = (y == z) * weighted[w, x] + (x == z) * spread[x, y, w]
        return one + (w == x) * weighted[y, z] + (z == x) * spread[z, w, y]

    a, b = first[:, None], second[:, None]
    c, e = first[None, :], second[None, :]
    hessian = form(a, b, c, e) - form(a, b, e, c) - form(b, a, c, e)
    hessian += form(b, a, e, c)
    flat = jacobian.reshape(k * d, n_pairs)
    hessian += flat.T @ phi2 @ flat
    return gradient, hessian


def _newton_step(
    rotated: np.ndarray, nk: np.ndarray, equal_volumes: bool, basis
) -> tuple[np.ndarray, float] | None:
    """Newton's rotation ``S`` (skew, d x d) for ``D <- D exp(S)`` and its
    predicted decrease; None where the Hessian is not positive definite."""
    gradient, hessian = _rotation_derivatives(rotated, nk, equal_volumes, basis)
    try:
        factor = np.linalg.cholesky(hessian)
    except np.linalg.LinAlgError:
        return None
    half = np.linalg.solve(factor, gradient)
    step = -np.linalg.solve(factor.T, half)
    return np.einsum("p,pij->ij", step, basis[2]), 0.5 * float(half @ half)


def common_orientation(
    scatter: np.ndarray, nk: np.ndarray, start: np.ndarray, equal_volumes: bool
) -> tuple[np.ndarray, np.ndarray]:
    """EVE's and VVE's ``D diag(e_k) D^T``: one orientation, free shapes.

    For an orientation ``D`` the eigenvalues are closed-form in the
    diagonals ``b_k = diag(D^T W_k D)``: ``b_k / n_k`` (VVE) or
    :func:`equal_volume` of them (EVE), so ``f`` is a function of ``D``
    alone. Each iteration takes a Newton step on the rotations of ``D``
    (exact gradient and Hessian of that profile, a Cayley rotation, halved
    until ``f`` falls). Where the Hessian is not positive definite (far from
    a minimum), no step lowers ``f`` or ``d`` exceeds
    ``daskmix.covariance.newton-max-features``, a Jacobi sweep instead: for
    fixed eigenvalues ``f`` is ``sum_k sum_j b_kj / e_kj`` plus a constant,
    and a rotation in the plane of axes ``(i, j)`` changes it by
    ``p cos(2 theta) + q sin(2 theta)``, minimised in closed form; rotations
    in disjoint planes do not interact, so a round rotates ``d / 2`` planes
    at once (over-relaxed by :data:`OVER_RELAXATION`, below 2, which keeps
    each round a descent) and re-estimates the eigenvalues, and a sweep
    visits every plane once. Every iteration lowers ``f``; the loop stops
    when an iteration lowers it by less than
    ``daskmix.covariance.orientation-tol`` per row and feature (Newton: when
    the predicted decrease is that small too).

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
    tolerance = config.get("covariance.orientation-tol") * n * d
    newton_features = config.get("covariance.newton-max-features")
    basis = _skew_basis(d)
    rounds = round_robin(d)

    def evaluate(rotated):
        diagonals = np.maximum(np.diagonal(rotated, axis1=1, axis2=2), 0.0)
        if equal_volumes:
            eigen = equal_volume(diagonals, n)
        else:
            eigen = diagonals / nk[:, None]
        return eigen, _objective(diagonals, eigen, nk)

    def newton(orientation, rotated, value):
        if d > newton_features:
            return None
        diagonals = np.diagonal(rotated, axis1=1, axis2=2)
        # components without mass, or with a singular scatter, sit out
        active = diagonals.min(axis=1) > VALUE_FLOOR * diagonals.max(axis=1)
        if not active.any():
            return None
        found = _newton_step(rotated[active], nk[active], equal_volumes, basis)
        if found is None:
            return None
        skew, predicted = found
        for _ in range(30):
            rotation = _cayley(skew)
            moved = rotation.T @ rotated @ rotation
            eigen, new = evaluate(moved)
            if new <= value:
                return orientation @ rotation, moved, eigen, new, predicted
            skew = 0.5 * skew
        return None

    def sweep(orientation, rotated, eigen):
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
            eigen, _ = evaluate(rotated)
        return orientation, rotated, eigen

    massive = np.flatnonzero(np.abs(scatter).max(axis=(1, 2)) > 0)
    if massive.size == 1:
        # one component: its own eigenvectors are the optimum
        _, vectors = sorted_eigh(scatter[massive[0]])
        return vectors, evaluate(vectors.T @ scatter @ vectors)[0]
    orientation = np.array(start, dtype=np.float64)
    rotated = np.swapaxes(orientation, 0, 1) @ scatter @ orientation
    eigen, value = evaluate(rotated)
    stalled = False
    for _ in range(config.get("covariance.max-inner-iter")):
        previous = value
        stepped = None if stalled else newton(orientation, rotated, value)
        if stepped is None:
            orientation, rotated, eigen = sweep(orientation, rotated, eigen)
            eigen, value = evaluate(rotated)
            if previous - value <= tolerance:
                break
            stalled = False
            continue
        orientation, rotated, eigen, value, predicted = stepped
        if predicted <= tolerance:
            break
        # a Newton step that had to shrink to nothing: a sweep next
        stalled = previous - value <= tolerance
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
