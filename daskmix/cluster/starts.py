"""Mixture starts from k-means: centres on (a sample of) the rows.

Above :mod:`daskmix.cluster.lloyd` (it runs k-means) and below the models
(they turn the centres into starting parameters).
"""

from __future__ import annotations

import numpy as np

from .. import config
from .._engine.batches import read_rows
from .._engine.rows import RowBlocks
from .lloyd import fit_kmeans, warn_few_clusters
from .seeding import points, sample_indices, sample_rows, weighted_race


def kmeans_sample_size(n_clusters: int) -> int:
    """Rows of the uniform sample behind the mixtures' ``'kmeans'`` start."""
    return max(
        config.get("kmeans-start.sample-rows"),
        config.get("kmeans-start.rows-per-cluster") * n_clusters,
    )


def split_weight(data: RowBlocks) -> tuple[RowBlocks, object]:
    """The data arrays without their row weights, and the weights (or None).

    A weighted fit carries ``sample_weight`` as the ``weight`` array of its
    row blocks, so that it reaches the kernels with the rows it weighs. The
    rows keep the blocks of ``data``.
    """
    if data.weight is None:
        return data, None
    return data.without("weight"), data.weight


def weighted_sample(
    data: RowBlocks,
    n_draw: int,
    random_state: np.random.RandomState,
    n_clusters: int,
) -> RowBlocks:
    """About ``n_draw`` rows of weighted ``data`` and their weights, in memory.

    ``data`` holds the row weights as its ``weight`` array. The sample is uniform
    (as for unweighted data) and keeps the rows' weights, less the rows of
    weight zero, which count for nothing. When that leaves fewer than
    ``n_clusters`` rows (weights that are almost all zero), the sample is
    instead ``n_draw`` distinct rows drawn in proportion to their weights
    (one pass): every row of non-zero weight when there are no more, kept
    with its weight; otherwise the draw stands for the weights, and its rows
    get weight one.

    Returns
    -------
    RowBlocks
        numpy arrays of ``data`` (float64 for ``X``), with their weights.
    """
    indices = sample_indices(data.n_samples, n_draw, random_state)
    arrays = read_rows(data, indices)
    weight = arrays.pop("weight")
    keep = np.asarray(weight) > 0
    if np.count_nonzero(keep) < min(n_clusters, len(indices)) and len(indices) < (
        data.n_samples
    ):
        stats = weighted_race(
            data.same_blocks({"X": data.X}),
            int(n_draw),
            random_state,
            data.weight,
        )
        drawn = np.isfinite(stats["draw_key"])
        indices = np.sort(stats["draw_index"][drawn].astype(np.intp))
        arrays = read_rows(data, indices)
        weight = arrays.pop("weight")
        if drawn.all():
            weight = np.ones(len(indices))
        keep = np.ones(len(indices), dtype=bool)
    arrays = {name: np.asarray(a)[keep] for name, a in arrays.items()}
    arrays["X"] = arrays["X"].astype(np.float64, copy=False)
    arrays["weight"] = np.asarray(weight, dtype=np.float64)[keep]
    return RowBlocks(arrays)


def kmeans_start(
    data: RowBlocks,
    n_clusters: int,
    random_state: np.random.RandomState,
    n_restarts: int | None = None,
    *,
    resample: bool = False,
    n_rows: int | None = None,
    warn: bool = False,
) -> tuple[np.ndarray, RowBlocks]:
    """k-means centres for a mixture's start, and the rows to label with them.

    :class:`daskmix.KMeans` (k-means|| seeding, Lloyd to convergence) on a
    uniform sample of at most :func:`kmeans_sample_size` rows, held in
    memory; data with fewer rows are clustered whole. A start needs the
    clusters' locations and shapes, not every row: clustering and labelling a
    sample instead of running k-means and a labelling pass over all the data
    is what keeps the start a small part of the fit (``bench_kmeans.py``).
    k-means|| rather than scikit-learn's single k-means++ run: on the
    ``bench_minibatch.py`` data, scikit-learn's KMeans(n_init=1) merged two
    clusters for 2 of 4 seeds (and EM then stayed 0.5 nats short), k-means||
    for none.

    ``n_restarts`` k-means runs, the lowest inertia wins. RegressionMixture
    asks for one: for crossing lines the lowest-inertia partition of (x, y)
    splits x, not the lines, and its restarts rely on k-means' variety.

    Data with a single k-means optimum give the same centres whatever the
    seeding draws (Lloyd forgets them), so clustering all rows makes every
    restart of a mixture the same start. With ``resample=True`` small data
    are clustered as a bootstrap resample (as many rows, drawn with
    replacement, duplicates kept as weights would be): each ``random_state``
    then gives a genuinely different start, one read of the drawn rows for
    dask input.

    ``data`` with a ``y`` (a regression's rows) is clustered in the joint
    (x, y) space (:meth:`RowBlocks.joined`), its sample read from the
    separate arrays (:func:`~daskmix.cluster.seeding.points`) so that a store
    is read only where the sample lies.

    When ``data`` carries row weights (its ``weight`` array, from
    ``sample_weight``), k-means is weighted: weighted seeding and Lloyd
    on all rows, or on a uniform sample with the sampled rows' weights
    (:func:`weighted_sample`: rows of weight zero never become centres), or,
    for the bootstrap resample, rows drawn in proportion to their weights.

    Parameters
    ----------
    data : RowBlocks
    n_clusters : int
    random_state : RandomState
    n_restarts : int, optional
        k-means runs (default: ``daskmix.kmeans-start.restarts``).
    resample : bool, default=False
        Small data: cluster a bootstrap resample, not all rows.
    n_rows : int, optional
        Rows of the sample (default :func:`kmeans_sample_size`). A small
        ``n_rows`` gives k-means partitions that vary from draw to draw: the
        variety that restarts of a mixture need.
    warn : bool, default=False
        Warn as scikit-learn's KMeans does (ConvergenceWarning, "Number of
        distinct clusters (d) found smaller than n_clusters (K)") when fewer
        than ``n_clusters`` clusters own rows: a mixture asks for it on its
        first restart only, so that a fit warns once. Starts shared by the
        candidates of a model-selection sweep (:meth:`RowBlocks.shared_draw`)
        warn once.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
    rows : RowBlocks
        ``data`` itself (read into memory once, in one ``compute``, for dask
        input), or the in-memory sample; weighted like ``data``.
    """
    if n_restarts is None:
        n_restarts = config.get("kmeans-start.restarts")
    weighted = data.weight is not None
    return data.shared_draw(
        ("kmeans_start", n_clusters, n_restarts, resample, n_rows, weighted, warn),
        random_state,
        lambda: _kmeans_start(
            data,
            n_clusters,
            random_state,
            n_restarts,
            resample,
            n_rows,
            weighted,
            warn,
        ),
    )


def _kmeans_start(
    data, n_clusters, random_state, n_restarts, resample, n_rows, weighted, warn
):
    n_draw = kmeans_sample_size(n_clusters) if n_rows is None else int(n_rows)
    if weighted:
        centers, data, n_distinct = _weighted_kmeans_start(
            data, n_clusters, random_state, n_restarts, resample, n_draw
        )
    else:
        centers, data, n_distinct = _unweighted_kmeans_start(
            data, n_clusters, random_state, n_restarts, resample, n_draw
        )
    if warn:
        # the caller of kmeans_start (a mixture's start), as scikit-learn's
        # mixtures warn from their call of KMeans.fit
        warn_few_clusters(n_distinct, n_clusters, stacklevel=5)
    return centers, data


def _unweighted_kmeans_start(
    data, n_clusters, random_state, n_restarts, resample, n_draw
):
    if data.n_samples > n_draw:
        data = RowBlocks({"X": sample_rows(data, n_draw, random_state)})
    elif resample:
        drawn = random_state.randint(0, data.n_samples, data.n_samples)
        data = RowBlocks({"X": points(read_rows(data, np.sort(drawn)))})
    else:
        # clustered whole: read small dask data once, not once per Lloyd pass
        data = _joint(data.local())
    best = fit_kmeans(data, n_clusters, random_state, n_init=n_restarts)
    return best.centers, data, best.n_distinct


def _joint(rows: RowBlocks) -> RowBlocks:
    """In-memory rows as k-means sees them: a regression's X and y joined."""
    return rows if rows.y is None else rows.joined()


def _weighted_kmeans_start(
    data, n_clusters, random_state, n_restarts, resample, n_draw
):
    """:func:`_kmeans_start` for data with row weights (a ``weight`` array)."""
    if data.n_samples > n_draw:
        data = _joint(weighted_sample(data, n_draw, random_state, n_clusters))
    elif resample:
        local = data.local()
        weight = np.asarray(local.weight, dtype=np.float64)
        drawn = random_state.choice(
            data.n_samples, data.n_samples, p=weight / weight.sum()
        )
        rows = points(local.take_rows(np.sort(drawn)))
        data = RowBlocks({"X": rows, "weight": np.ones(len(drawn))})
    else:
        data = _joint(data.local())
    rows, weight = split_weight(data)
    best = fit_kmeans(
        rows, n_clusters, random_state, n_init=n_restarts, sample_weight=weight
    )
    return best.centers, data, best.n_distinct
