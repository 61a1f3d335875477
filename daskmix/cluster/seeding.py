"""Seeding algorithms: starting centres for k-means (and the mixtures' starts).

Every seeding function takes a :class:`~daskmix._engine.rows.RowBlocks` and a
``RandomState`` and returns centres as a (K, D) float64 array. The work is
done by pure-numpy block kernels (:mod:`daskmix.cluster.kernels`) mapped over
the row blocks by the engine, so dask input is never loaded whole. Every
random choice of a row is an exponential race keyed by the row's global
number (a counter-based generator, :func:`~daskmix.cluster.kernels.row_uniforms`):
the same ``random_state`` draws the same rows, in the same order, for numpy
and dask input, whatever the chunking and the scheduler, and row weights
that are all equal draw the rows that no weights draw. Only the client's
reduction of k-means|| candidates draws from ``random_state`` itself.

Cost of each method, in passes over the data (a *pass* reads every block
once; a *draw* is a pass that reads no feature: for dask input it reads the
row weights, if any, else nothing; "reads K rows" touches at most K store
chunks of an array read straight from a store, K blocks of another dask array:
:func:`~daskmix._engine.batches.read_rows`):

======================  ===================================================
method                  cost
======================  ===================================================
``k-means||``           a draw and a read of its row, then
                        ``init_max_iter`` oversampling rounds (default 2)
                        of one pass each, then one pass to weight the
                        ~``2 K`` candidates per round by the rows they
                        attract; the weighted candidates are reduced on the
                        client (weighted k-means++, then weighted Lloyd),
                        which reads no data.
``k-means++``           greedy k-means++ on the engine: a draw for the
                        first centre, then K passes (each pass scores the
                        trials of one centre and draws the ``2 + log K``
                        trials of the next, exactly by D^2 sampling).
``random_from_data``    a draw, then reads K rows (scikit-learn's
                        ``random_from_data``; the KMeans ``'random'``
                        init).
``kmeans``              (mixtures) :class:`daskmix.KMeans` (k-means||) on
                        a uniform sample of ``kmeans_sample_size(K)`` rows
                        (20,000, or 1,000 per component), held in memory:
                        no pass over numpy data, one read of the sampled
                        rows for dask. GaussianMixture's first M-step uses
                        the sample's labels; RegressionMixture labels all
                        rows in one pass. Smaller data are clustered whole
                        (dask: the k-means|| passes above plus one per
                        Lloyd iteration, then one labelling pass).
``random``              (mixtures) no centres: one pass with random
                        responsibilities.
``gmm``                 (mixtures) reads a uniform sample of at most
                        ``daskmix.gmm-start.sample-rows`` rows (about one pass of
                        reading for dask input, none for numpy) and fits
                        ``daskmix.gmm-start.restarts`` Gaussian mixtures on it in
                        memory; the best one starts the full-data EM. The
                        restarts cost no pass over the data.
======================  ===================================================
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import kmeans_plusplus

from .. import config
from .._engine.batches import read_rows
from .._engine.namespaces import to_host
from .._engine.rows import RowBlocks, default_tile_rows
from .._engine.stats import Stats
from .kernels import (
    DrawPlan,
    dense_rows,
    draw_kernel,
    make_oversample_plan,
    make_trial_plan,
    oversample_kernel,
    trial_kernel,
)
from .sparse import functions_for, is_sparse

_SEED_MAX = np.iinfo(np.int32).max


# ------------------------------------------------------------------ helpers
def with_weights(data: RowBlocks, sample_weight) -> RowBlocks:
    """``data`` (``X`` only), with the row weights as its ``weight`` if any."""
    if sample_weight is None:
        return data
    return data.with_array("weight", sample_weight)


def on_host(data: RowBlocks, sample_weight=None) -> tuple[RowBlocks, object]:
    """Device data (cupy, torch...) and weights copied to the host for seeding.

    Seedings draw and compare a few rows at a time; their passes run on the
    host, once, before the Lloyd or EM passes run where the data live. numpy
    and dask data are returned as they are.
    """
    if not data.on_device:
        return data, sample_weight
    return data.local(), None if sample_weight is None else to_host(sample_weight)


def check_finite(rows: RowBlocks, *values) -> None:
    """Raise a clear ValueError when a k-means pass gave non-finite sums.

    ``values`` are the summed statistics of one pass (inertia, costs, sums).
    They are non-finite for two reasons only: NaN or infinity in the data,
    which dask input cannot show before it is read (diagnosed here with one
    more pass, only once something already went wrong), or squared distances
    too large for float64.
    """
    if all(np.all(np.isfinite(value)) for value in values):
        return
    rows.raise_if_not_finite()
    raise ValueError(
        "Squared distances overflowed to a non-finite value: the data are too "
        "large in magnitude for float64 arithmetic. Scale the input data, e.g. "
        "with sklearn.preprocessing.StandardScaler."
    )


def sample_indices(
    n_samples: int,
    n_draw: int,
    random_state: np.random.RandomState,
    n_windows: int | None = None,
) -> np.ndarray:
    """Sorted distinct row indices, about ``n_draw`` of them, uniform over rows.

    The draw depends on ``n_samples``, ``n_draw`` and ``random_state`` only,
    never on the chunking nor on the kind of input, so numpy and dask input
    of the same data give the same sample.

    * ``n_draw >= n_samples``: every row.
    * ``n_samples < n_windows * n_draw`` or fewer rows than
      ``daskmix.start-sample.min-rows``: ``n_draw`` rows drawn uniformly with
      replacement, repeats dropped (the cost does not grow with
      ``n_samples``: no permutation of a billion rows).
    * larger data: ``m = min(n_windows, n_draw)`` windows of
      ``w = ceil(n_draw / m)`` consecutive rows, one starting at a uniform
      row of each of ``m`` equal strata of the rows (circularly: a window
      that runs past the last row goes on at row 0). Every row is in the
      sample with the same probability ``m w / n_samples``, as for uniform
      rows, and the strata spread the sample over all the data (data sorted
      by class or time give a sample with the right mix); but a chunked
      store (zarr, HDF5) is read only where the windows lie, at most
      ``m (w / chunk rows + 2)`` store chunks, where uniform rows would touch
      nearly every chunk. Small data keep single rows: they are read fast
      whole, and samples of an in-memory sample (the restarts of the 'gmm'
      start's fit) gain nothing from windows.

    Parameters
    ----------
    n_samples : int
    n_draw : int
    random_state : RandomState
    n_windows : int, optional
        Default: ``daskmix.start-sample.windows``.

    Returns
    -------
    ndarray of int
    """
    if n_draw >= n_samples:
        return np.arange(n_samples)
    if n_windows is None:
        n_windows = config.get("start-sample.windows")
    if n_samples < max(n_windows * n_draw, config.get("start-sample.min-rows")):
        return np.unique(random_state.randint(0, n_samples, size=n_draw))
    n_windows = min(n_windows, n_draw)
    width = -(-n_draw // n_windows)
    starts = np.floor(
        (np.arange(n_windows) + random_state.random_sample(n_windows))
        * (n_samples / n_windows)
    ).astype(np.int64)
    starts = np.minimum(starts, n_samples - 1)  # rounding at the end
    return np.unique((starts[:, None] + np.arange(width)) % n_samples)


def points(taken: dict) -> np.ndarray:
    """The points that rows read by :func:`read_rows` stand for, float64.

    Their ``X``; for a regression's rows (which have a ``y``), ``X`` and
    ``y`` side by side, as :meth:`RowBlocks.joined` would give them. Reading
    the two arrays and joining the rows read, rather than reading rows of the
    joined dask array, reads a store only where the rows lie: the joined
    array is no longer a store's.
    """
    if "y" not in taken:
        return dense_rows(taken["X"])
    x, y = np.asarray(taken["X"]), np.asarray(taken["y"])
    return np.column_stack([x, y.reshape(len(y), -1)]).astype(np.float64)


def sample_rows(
    data: RowBlocks, n_draw: int, random_state: np.random.RandomState
) -> np.ndarray:
    """A uniform random sample of rows, (about n_draw, D) float64.

    Read from the store where the sample lies (:func:`read_rows`); the joint
    (x, y) rows for a regression's rows (:func:`points`).
    """
    return points(read_rows(data, sample_indices(data.n_samples, n_draw, random_state)))


def _tile_rows(data: RowBlocks, width: int) -> int:
    """Rows per tile of a seeding pass whose widest temporary is ``width``.

    A dense tile also makes shifted copies of its rows; a sparse one does not.
    """
    return default_tile_rows(width + (0 if is_sparse(data.X) else data.n_features))


def _index_rows(data: RowBlocks, sample_weight) -> RowBlocks:
    """Rows that hold only their numbers and weights, blocked as ``data``.

    A draw keyed by row number needs no feature: for dask input its pass
    reads the weights, if any, and otherwise nothing at all.
    """
    if sample_weight is not None:
        arrays = {"X": sample_weight[:, None], "weight": sample_weight}
    else:
        # a read-only view of one zero, in data's blocks, for numpy and dask
        # input alike: no memory per row, and no dask graph of one task per
        # chunk (2.7x the draw's time on 20,000 blocks of 10 rows)
        arrays = {"X": np.broadcast_to(np.zeros((1, 1)), (data.n_samples, 1))}
    return data.same_blocks(arrays)


def weighted_race(
    data: RowBlocks, n_draws: int, random_state: np.random.RandomState, sample_weight
) -> Stats:
    """``n_draws`` distinct rows, in proportion to weight, in one pass.

    An exponential race (:func:`~daskmix.cluster.kernels.draw_kernel`) keyed
    by row number: the same rows, in the same order, for numpy and dask input
    and any chunking. Without weights the draw is uniform; weights that are
    all equal draw the same rows as no weights. The pass reads the weights
    only, never ``X``.

    Parameters
    ----------
    data : RowBlocks
        The rows drawn from (their number and blocks).
    n_draws : int
    random_state : RandomState
        Drawn from once (the race's seed).
    sample_weight : ndarray or dask array of shape (n_samples,), or None
        Blocked as ``data``'s rows.

    Returns
    -------
    Stats
        The draw (:class:`~daskmix.cluster.kernels.DrawStats`): ``draw_key``
        (n_draws,), smallest first, infinite where fewer rows than
        ``n_draws`` have a non-zero weight, and ``draw_index`` (n_draws,) the
        rows' numbers (float64).
    """
    plan = DrawPlan(int(n_draws), _seed(random_state))
    indexed = _index_rows(data, sample_weight)
    return indexed.map_reduce(draw_kernel, plan, default_tile_rows(4), name="draw")


def draw_indices(
    data: RowBlocks,
    n_draws: int,
    random_state: np.random.RandomState,
    sample_weight=None,
) -> np.ndarray:
    """Numbers of ``n_draws`` distinct rows, uniform or in proportion to weight.

    In the order drawn (see :func:`weighted_race`). Raises numpy's ValueError
    when fewer than ``n_draws`` rows have a non-zero weight.

    Returns
    -------
    ndarray of shape (n_draws,), intp
    """
    stats = weighted_race(data, n_draws, random_state, sample_weight)
    if not np.all(np.isfinite(stats["draw_key"])):
        raise ValueError("Fewer non-zero entries in p than size")
    return stats["draw_index"].astype(np.intp)


def _seed(random_state: np.random.RandomState) -> int:
    return int(random_state.randint(_SEED_MAX))


# ----------------------------------------------------------------- seedings
def random_data_centers(
    data: RowBlocks,
    n_clusters: int,
    random_state: np.random.RandomState,
    *,
    sample_weight=None,
) -> np.ndarray:
    """K distinct rows drawn uniformly, or in proportion to ``sample_weight``.

    scikit-learn's ``random_from_data`` (and its KMeans ``init='random'``)
    with other random numbers: an exponential race keyed by row number
    (:func:`weighted_race`), so that numpy and dask input of the same data
    give the same rows, in the same order, for the same ``random_state``.

    ``data`` with a ``y`` (a regression's rows): the centres are joint
    (x, y) rows (:func:`points`), read from the separate arrays.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), float64
    """
    data, sample_weight = on_host(data, sample_weight)
    indices = draw_indices(data, n_clusters, random_state, sample_weight)
    return points(read_rows(data, indices))


def kmeans_plusplus_centers(
    data: RowBlocks,
    n_clusters: int,
    random_state: np.random.RandomState,
    *,
    n_local_trials: int | None = None,
    sample_weight=None,
) -> np.ndarray:
    """K rows chosen by greedy k-means++ seeding (D^2 sampling).

    scikit-learn's greedy k-means++ on the engine, one pass per centre, for
    numpy and dask input alike: a pass measures the potential of each trial
    for the next centre (keeping the best, as scikit-learn's greedy variant
    does) and, for each trial, draws the trials of the centre after it by an
    exponential race (``argmin E / d^2`` with ``E ~ Exp(1)`` per row, which
    picks a row with probability proportional to ``d^2``); the race's minima
    reduce in the tree like any statistic. ``E`` is keyed by row number, so
    numpy and dask input of the same data give the same centres, in the same
    order (scikit-learn's ``kmeans_plusplus`` draws other rows: its random
    numbers follow the order of a single in-memory array).

    Parameters
    ----------
    data : RowBlocks
    n_clusters : int
    random_state : RandomState
    n_local_trials : int, optional
        Trials per centre; ``2 + int(log(n_clusters))`` by default.
    sample_weight : ndarray or dask array of shape (n_samples,), optional
        Row weights: the first centre is drawn in proportion to them, the
        others in proportion to ``w d^2`` (scikit-learn's weighted variant).

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), float64
    """
    data, sample_weight = on_host(data, sample_weight)
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    chosen = [
        random_data_centers(data, 1, random_state, sample_weight=sample_weight)[0]
    ]
    trials = None
    indexed = with_weights(data, sample_weight)
    tile_rows = _tile_rows(data, n_clusters + n_local_trials**2)
    while len(chosen) < n_clusters:
        # after this pass, one trial joins ``chosen``: draw more only if needed
        will_have = len(chosen) + (trials is not None)
        n_draws = n_local_trials if will_have < n_clusters else 0
        plan = make_trial_plan(
            np.array(chosen),
            trials,
            data.dtype,
            n_draws,
            _seed(random_state),
            shift=not is_sparse(data.X),
        )
        stats = indexed.map_reduce(trial_kernel, plan, tile_rows)
        check_finite(indexed, stats["potential"])
        best = int(np.argmin(stats["potential"]))
        if trials is not None:
            chosen.append(trials[best])
        trials = stats["trial_rows"][best] if n_draws else None
    return np.array(chosen, dtype=np.float64)


def kmeans_parallel_centers(
    data: RowBlocks,
    n_clusters: int,
    random_state: np.random.RandomState,
    *,
    oversampling_factor: float = 2.0,
    n_rounds: int | None = None,
    sample_weight=None,
) -> np.ndarray:
    """k-means|| seeding (Bahmani et al. 2012): few passes, any K.

    Starting from one uniformly drawn row, each round is one pass that keeps
    every row independently with probability ``min(1, l d^2 / phi)``, where
    ``l = oversampling_factor * n_clusters``, ``d`` is the distance to the
    candidates so far and ``phi`` the total cost of the pass (exact: see
    :class:`~daskmix.cluster.kernels.CandidateStats`). A final pass counts the
    rows nearest to each candidate; the weighted candidates are reduced to K
    centres on the client by weighted k-means++ and weighted Lloyd
    iterations (scikit-learn on a few hundred points).

    Parameters
    ----------
    data : RowBlocks
    n_clusters : int
    random_state : RandomState
    oversampling_factor : float, default=2.0
        ``l / n_clusters``: expected candidates per round, per centre.
    n_rounds : int, optional
        Oversampling rounds, passes over the data (default:
        ``daskmix.seeding.parallel-rounds``). Stops early when every row sits
        on a candidate.
    sample_weight : ndarray or dask array of shape (n_samples,), optional
        Row weights: the first row is drawn in proportion to them, rows are
        kept with probability
        ``min(1, l w d^2 / phi)`` with ``phi`` the weighted cost, and each
        candidate weighs the summed weight of the rows nearest to it.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), float64
    """
    data, sample_weight = on_host(data, sample_weight)
    candidates = random_data_centers(data, 1, random_state, sample_weight=sample_weight)
    ell = oversampling_factor * n_clusters
    rows = with_weights(data, sample_weight)
    if n_rounds is None:
        n_rounds = config.get("seeding.parallel-rounds")
    for _ in range(n_rounds):
        tile_rows = _tile_rows(data, candidates.shape[0])
        plan = make_oversample_plan(
            candidates,
            data.dtype,
            ell,
            _seed(random_state),
            shift=not is_sparse(data.X),
        )
        stats = rows.map_reduce(oversample_kernel, plan, tile_rows)
        check_finite(rows, stats["phi"])
        order = np.argsort(stats["cand_index"], kind="stable")
        candidates = np.vstack([candidates, stats["cand_rows"][order]])
        if stats["phi"] == 0.0:
            break
    n_candidates = candidates.shape[0]
    if n_candidates <= n_clusters:
        # fewer candidates than clusters: few distinct rows; pad with random rows
        extra = random_data_centers(data, n_clusters - n_candidates, random_state)
        return np.vstack([candidates, extra]) if extra.size else candidates
    functions = functions_for(data.X)
    plan = functions.plan(candidates, data.dtype)
    stats = rows.map_reduce(functions.lloyd, plan, _tile_rows(data, n_candidates))
    check_finite(rows, stats["inertia"])
    return reduce_weighted(candidates, stats["counts"], n_clusters, random_state)


def reduce_weighted(
    points: np.ndarray,
    weights: np.ndarray,
    n_clusters: int,
    random_state: np.random.RandomState,
) -> np.ndarray:
    """K centres of weighted points: weighted k-means++, then weighted Lloyd.

    Parameters
    ----------
    points : ndarray of shape (M, D)
    weights : ndarray of shape (M,)
        Non-negative, not all zero.
    n_clusters : int
    random_state : RandomState

    Returns
    -------
    centers : ndarray of shape (n_clusters, D), float64
    """
    seeds, _ = kmeans_plusplus(
        points, n_clusters, sample_weight=weights, random_state=random_state
    )
    return weighted_lloyd(points, weights, np.asarray(seeds, dtype=np.float64))


def weighted_lloyd(
    points: np.ndarray,
    weights: np.ndarray,
    centers: np.ndarray,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> np.ndarray:
    """Weighted Lloyd iterations on a few points held in memory.

    scikit-learn's stopping rule: no label changed, or the squared shift of
    the centres at most ``tol`` times the mean weighted variance of the
    points. A centre that attracts no weight stays where it is. (Not
    scikit-learn's KMeans: its own BLAS thread limit, entered from a fit's
    threads, could undo daskmix's restoring of the caller's BLAS settings.)

    Parameters
    ----------
    points : ndarray of shape (M, D)
    weights : ndarray of shape (M,)
    centers : ndarray of shape (K, D)
        Starting centres.
    max_iter : int, default=300
    tol : float, default=1e-4

    Returns
    -------
    centers : ndarray of shape (K, D), float64
    """
    points = np.asarray(points, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum()
    mean = weights @ points / total
    variance = weights @ (points - mean) ** 2 / total
    tol_abs = tol * float(np.mean(variance))
    labels = None
    for _ in range(max_iter):
        # one centre at a time: an (M, K, D) temporary is too large for the
        # wide rows of sparse (text) data
        squared = np.column_stack(
            [((points - center) ** 2).sum(axis=1) for center in centers]
        )
        new_labels = squared.argmin(axis=1)
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        mass = np.bincount(labels, weights=weights, minlength=centers.shape[0])
        sums = np.zeros_like(centers)
        np.add.at(sums, labels, weights[:, None] * points)
        moved = centers.copy()
        filled = mass > 0
        moved[filled] = sums[filled] / mass[filled, None]
        shift = float(((moved - centers) ** 2).sum())
        centers = moved
        if shift <= tol_abs:
            break
    return centers
