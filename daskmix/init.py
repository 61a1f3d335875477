"""Initialisers: starting centres for the mixtures.

Every function takes a :class:`~daskmix._engine.RowBlocks` and a
``RandomState`` and returns centres as a (K, D) float64 array. Costs, in
passes over the data:

=====================  ==========================================================
method                 cost
=====================  ==========================================================
``kmeans``             numpy: scikit-learn's KMeans on X (as scikit-learn does);
                       dask: k-means on a uniform sample of rows (one read of the
                       sampled rows); the mixture then needs one labelling pass.
``k-means++``          numpy: scikit-learn's ``kmeans_plusplus`` on X;
                       dask: on a uniform sample of rows.
``random_from_data``   reads K random rows.
``random``             no centres: one pass with random responsibilities.
=====================  ==========================================================
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans as _SKLearnKMeans
from sklearn.cluster import kmeans_plusplus

from ._engine import RowBlocks

#: rows drawn for sample-based initialisation of dask input
SAMPLE_ROWS = 100_000


def sample_indices(
    n_samples: int, n_draw: int, random_state: np.random.RandomState
) -> np.ndarray:
    """Sorted distinct row indices, about ``n_draw`` of them, uniform over rows.

    Drawn with replacement and deduplicated so that the cost does not grow
    with ``n_samples`` (no permutation of a billion rows).
    """
    if n_draw >= n_samples:
        return np.arange(n_samples)
    return np.unique(random_state.randint(0, n_samples, size=n_draw))


def sample_rows(
    data: RowBlocks, n_draw: int, random_state: np.random.RandomState
) -> np.ndarray:
    """A uniform random sample of rows of X, (about n_draw, D) float64."""
    (rows,) = data.take_rows(sample_indices(data.n_samples, n_draw, random_state))[:1]
    return np.asarray(rows, dtype=np.float64)


def _training_rows(data: RowBlocks, random_state) -> np.ndarray:
    if data.is_dask:
        return sample_rows(data, SAMPLE_ROWS, random_state)
    return data.arrays[0]


def kmeans_centers(
    data: RowBlocks, n_clusters: int, random_state: np.random.RandomState
) -> np.ndarray:
    """Centres of k-means (one k-means++ seeding, Lloyd to convergence)."""
    rows = _training_rows(data, random_state)
    kmeans = _SKLearnKMeans(n_clusters=n_clusters, n_init=1, random_state=random_state)
    return np.asarray(kmeans.fit(rows).cluster_centers_, dtype=np.float64)


def kmeans_plusplus_centers(
    data: RowBlocks, n_clusters: int, random_state: np.random.RandomState
) -> np.ndarray:
    """K rows chosen by k-means++ seeding (D^2 sampling)."""
    rows = _training_rows(data, random_state)
    centers, _ = kmeans_plusplus(rows, n_clusters, random_state=random_state)
    return np.asarray(centers, dtype=np.float64)


def random_data_centers(
    data: RowBlocks, n_clusters: int, random_state: np.random.RandomState
) -> np.ndarray:
    """K distinct rows drawn uniformly (scikit-learn's ``random_from_data``)."""
    if data.is_dask:
        # ``choice(replace=False)`` permutes every row index: fine in memory for
        # numpy input (and then identical to scikit-learn), not for a billion rows
        indices = np.unique(random_state.randint(0, data.n_samples, 4 * n_clusters))
        while indices.size < n_clusters:
            extra = random_state.randint(0, data.n_samples, 4 * n_clusters)
            indices = np.unique(np.concatenate([indices, extra]))
        indices = random_state.permutation(indices)[:n_clusters]
    else:
        indices = random_state.choice(data.n_samples, size=n_clusters, replace=False)
    (rows,) = data.take_rows(indices)[:1]
    return np.asarray(rows, dtype=np.float64)
