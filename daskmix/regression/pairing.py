"""Which start centres to join into lines, and the line through two of them.

The regression initialisers ``kmeans-chain`` and ``kmeans-pairs`` (see
:mod:`daskmix.regression.starts`) place ``K + 1`` or ``2K`` k-means centres in
the joint ``(x, y)`` space, of shape (n_centers, D + 1) with y last, and start
each component on the line through two of them. This module chooses the
pairs (:func:`chain_segments`, :func:`closest_pairs`, :func:`matched_pairs`)
and draws the lines (:func:`line_through`). Tiny arrays, on the client.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from .. import config


def line_through(
    p1: np.ndarray, p2: np.ndarray, fit_intercept: bool
) -> tuple[np.ndarray, float]:
    """The minimum-norm line through two points of the joint (x, y) space.

    Parameters
    ----------
    p1, p2 : ndarray of shape (D + 1,)
        ``(x, y)`` points.

    Returns
    -------
    coef : ndarray of shape (D,)
        With an intercept, the slope of least norm with
        ``coef . (x2 - x1) = y2 - y1`` (zero when ``x1 == x2``); without one,
        the least-norm ``coef`` with ``coef . x_i = y_i``.
    intercept : float
    """
    x1, y1, x2, y2 = p1[:-1], p1[-1], p2[:-1], p2[-1]
    if not fit_intercept:
        coef = np.linalg.lstsq(np.vstack([x1, x2]), np.array([y1, y2]), rcond=None)[0]
        return coef, 0.0
    dx = x2 - x1
    norm2 = float(dx @ dx)
    if norm2 <= np.finfo(np.float64).tiny:
        return np.zeros_like(x1), 0.5 * (y1 + y2)
    coef = (y2 - y1) * dx / norm2
    return coef, float(y1 - coef @ x1)


def chain_segments(centers: np.ndarray) -> list[tuple[int, int]]:
    """Order ``K + 1`` centres along their principal direction; join neighbours.

    Parameters
    ----------
    centers : ndarray of shape (K + 1, D + 1)
        Joint ``(x, y)`` centres.

    Returns
    -------
    list of (int, int)
        K pairs of centre indices, consecutive along the chain.
    """
    centred = centers - centers.mean(axis=0)
    direction = np.linalg.svd(centred, full_matrices=False)[2][0]
    order = np.argsort(centred @ direction, kind="stable")
    return [(int(a), int(b)) for a, b in zip(order[:-1], order[1:])]


def closest_pairs(centers: np.ndarray) -> list[tuple[int, int]]:
    """Pair ``2K`` centres greedily: the closest remaining pair first.

    Parameters
    ----------
    centers : ndarray of shape (2K, D + 1)
        Joint ``(x, y)`` centres.

    Returns
    -------
    list of (int, int)
        K pairs of centre indices, each ``(smaller, larger)``.
    """
    distances = linalg.norm(centers[:, None, :] - centers[None, :, :], axis=-1)
    distances[np.diag_indices_from(distances)] = np.inf
    free = np.ones(len(centers), dtype=bool)
    pairs = []
    for _ in range(len(centers) // 2):
        masked = np.where(free[:, None] & free[None, :], distances, np.inf)
        a, b = np.unravel_index(np.argmin(masked), masked.shape)
        pairs.append((int(min(a, b)), int(max(a, b))))
        free[[a, b]] = False
    return pairs


def _all_pairings(items: list[int]):
    """Every way to split ``items`` (an even number of them) into pairs.

    Parameters
    ----------
    items : list of int
        Centre indices.

    Yields
    ------
    list of (int, int)
        One pairing: ``len(items) // 2`` pairs.
    """
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for i, partner in enumerate(rest):
        for tail in _all_pairings(rest[:i] + rest[i + 1 :]):
            yield [(first, partner), *tail]


def matched_pairs(
    centers: np.ndarray,
    rows: np.ndarray,
    fit_intercept: bool,
    random_state: np.random.RandomState | None = None,
) -> list[tuple[int, int]]:
    """Pair ``2K`` joint centres so that the K lines through the pairs fit ``rows``.

    Every pairing is scored by the sum over ``rows`` of the squared residual
    to the nearest of its K lines (:func:`line_through`), the k-lines cost;
    the lowest wins. The pairing of least distances
    (:func:`closest_pairs`) fails exactly where pairs matter: on two crossing
    lines the four k-means centres sit on the four arms, and the closest
    pairs join arms of *different* lines (across the gap in y), not the arms
    of one line across the crossing.

    Parameters
    ----------
    centers : ndarray of shape (2K, D + 1)
        Joint ``(x, y)`` centres.
    rows : ndarray of shape (n, D + 1)
        Joint rows to score the pairings on.
    fit_intercept : bool
    random_state : RandomState, optional
        For more than ``daskmix.regression.max-pairings`` pairings (the
        default 1000: K > 5) the closest pairs and that many random pairings
        are scored.

    Returns
    -------
    list of (int, int)
        K pairs of centre indices.
    """
    n_centers = len(centers)
    n_pairings = 1
    for odd in range(n_centers - 1, 0, -2):
        n_pairings *= odd
    max_pairings = config.get("regression.max-pairings")
    if n_pairings <= max_pairings:
        candidates = list(_all_pairings(list(range(n_centers))))
    else:
        random_state = (
            np.random.RandomState(0) if random_state is None else random_state
        )
        candidates = [closest_pairs(centers)]
        for _ in range(max_pairings):
            order = random_state.permutation(n_centers)
            candidates.append(list(zip(order[0::2].tolist(), order[1::2].tolist())))
    x, y = rows[:, :-1], rows[:, -1]
    best, best_cost = candidates[0], np.inf
    for pairing in candidates:
        lines = [
            line_through(centers[a], centers[b], fit_intercept) for a, b in pairing
        ]
        coef = np.array([c for c, _ in lines])
        intercept = np.array([b for _, b in lines])
        residuals = y[:, None] - (x @ coef.T + intercept)
        cost = float(np.min(residuals**2, axis=1).sum())
        if cost < best_cost:
            best, best_cost = pairing, cost
    return [(int(min(a, b)), int(max(a, b))) for a, b in best]
