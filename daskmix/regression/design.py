"""Design rows and their weighted Gram matrices, packed as upper triangles.

The experts regress on ``phi = [x_e - c_e, 1]`` (or ``x_e`` without an
intercept) and the logistic gate on ``z = [x_g - c_g, 1]``, where ``x_e`` and
``x_g`` are the columns of X the experts and the gate see and ``c`` the
frame's shift of those columns. Every pass sums weighted Gram matrices of
these rows, ``sum_i w_i d_i d_i^T``, for many weight vectors at once; they
are kept as upper triangles (``np.triu_indices`` order).
"""

from __future__ import annotations

import numpy as np

from .. import config


def triangle(n_coef: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the upper triangle of a (P, P) matrix."""
    return np.triu_indices(n_coef)


def select(xs: np.ndarray, columns) -> np.ndarray:
    """The columns ``columns`` of ``xs`` (all of them, uncopied, for None)."""
    return xs if columns is None else xs[:, columns]


def with_intercept(xs: np.ndarray) -> np.ndarray:
    """``[xs, 1]``, (tile, D + 1), in ``xs``'s dtype."""
    design = np.empty((xs.shape[0], xs.shape[1] + 1), dtype=xs.dtype)
    design[:, :-1] = xs
    design[:, -1] = 1.0
    return design


def upper_products(design: np.ndarray) -> np.ndarray:
    """``d_i * d_j`` for ``i <= j`` (``np.triu_indices`` order), (P(P+1)/2, tile).

    Built row by row from the transposed design, so every product is a
    contiguous vector operation: 4x faster than gathering the column pairs
    with fancy indexing (measured 56 vs 241 ms per million rows, P = 11).
    """
    design_t = np.ascontiguousarray(design.T)
    n_coef = design_t.shape[0]
    products = np.empty(
        (n_coef * (n_coef + 1) // 2, design.shape[0]), dtype=design.dtype
    )
    start = 0
    for i in range(n_coef):
        stop = start + n_coef - i
        np.multiply(design_t[i], design_t[i:], out=products[start:stop])
        start = stop
    return products


def uses_pairwise_products(n_coef: int) -> bool:
    """Whether :func:`packed_grams` builds the Grams from pairwise products.

    The products' temporary holds ``P(P+1)/2`` values per row; beyond
    ``daskmix.regression.pairwise-max-width`` (by default, tiles of at least
    256 rows within the default tile budget) it would force small tiles (one
    row for ``P = 1001``), so wide designs take one GEMM per weight vector.
    """
    return n_coef * (n_coef + 1) // 2 <= config.get("regression.pairwise-max-width")


def packed_grams(
    design: np.ndarray,
    weights: np.ndarray,
    pairwise: bool,
    rows: np.ndarray,
    cols: np.ndarray,
    products: np.ndarray | None = None,
) -> np.ndarray:
    """Upper triangles of ``D^T diag(w_k) D`` for every row ``w_k`` of ``weights``.

    Narrow designs: one GEMM of the weights against the pairwise products of
    the columns (``products``, when the caller has them already). Wide
    designs: one ``(P, tile) @ (tile, P)`` GEMM per weight vector, whose
    temporaries grow with ``P`` per row, not ``P^2``.

    Parameters
    ----------
    design : ndarray of shape (tile, P)
    weights : ndarray of shape (M, tile)
    pairwise : bool
        From :func:`uses_pairwise_products`.
    rows, cols : ndarray of shape (P(P+1)/2,)
        :func:`triangle` of ``P``.
    products : ndarray of shape (P(P+1)/2, tile), optional

    Returns
    -------
    ndarray of shape (M, P(P+1)/2), the design's dtype
    """
    if pairwise:
        if products is None:
            products = upper_products(design)
        return weights @ products.T
    packed = np.empty((weights.shape[0], rows.size), dtype=design.dtype)
    for k, weight in enumerate(weights):
        gram = (design.T * weight) @ design
        packed[k] = gram[rows, cols]
    return packed


class SharedGrams:
    """Grams of one design that several parts of a kernel ask for, in one GEMM.

    A logistic gate on the experts' own design needs ``(K-1) K / 2`` Grams of
    ``phi`` and the lines ``K`` more: stacked, their weights make one GEMM
    against the design's pairwise products instead of two.
    """

    def __init__(self, design: np.ndarray, rows: np.ndarray, cols: np.ndarray):
        self.design = design
        self.rows, self.cols = rows, cols
        self.requests: list = []

    def request(self, stats: dict, name: str, weights: np.ndarray) -> None:
        """Have :meth:`fill` put the Grams of ``weights`` (M, tile) in ``stats``."""
        self.requests.append((stats, name, weights))

    def fill(self) -> None:
        """Compute every requested Gram (float64) and store it."""
        stacked = np.concatenate([weights for _, _, weights in self.requests])
        packed = packed_grams(self.design, stacked, True, self.rows, self.cols)
        start = 0
        for stats, name, weights in self.requests:
            stop = start + weights.shape[0]
            stats[name] = packed[start:stop].astype(np.float64, copy=False)
            start = stop
        self.requests = []


def unpack(packed: np.ndarray, n_coef: int) -> np.ndarray:
    """Symmetric (M, P, P) matrices from packed upper triangles (M, P(P+1)/2)."""
    rows, cols = triangle(n_coef)
    full = np.zeros((packed.shape[0], n_coef, n_coef))
    full[:, rows, cols] = packed
    full[:, cols, rows] = packed
    return full


def pack(full: np.ndarray) -> np.ndarray:
    """Upper triangles (M, P(P+1)/2) of symmetric (M, P, P) matrices."""
    rows, cols = triangle(full.shape[-1])
    return full[:, rows, cols]


def shift_transform(n_coef: int, old_center, new_center) -> np.ndarray:
    """``T`` with ``[x - c', 1] = [x - c, 1] T``: the identity, last row ``c - c'``."""
    transform = np.eye(n_coef)
    transform[-1, :-1] = np.asarray(old_center) - np.asarray(new_center)
    return transform
