"""Initialisers: each gives its documented start, at its documented cost."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from conftest import make_blobs
from sklearn.utils import check_random_state
from test_kmeans import _READS, counted

from daskmix import GaussianMixture, KMeans, config
from daskmix._engine.rows import RowBlocks
from daskmix._engine.tiles import Tile
from daskmix.cluster import seeding, starts
from daskmix.cluster.kernels import (
    make_oversample_plan,
    make_trial_plan,
    oversample_kernel,
    trial_kernel,
)
from daskmix.gaussian.model import fit_on_sample


def _blocks(X, block_rows=None):
    if block_rows is None:
        return RowBlocks({"X": X})
    return RowBlocks({"X": da.from_array(X, chunks=(block_rows, -1))})


def _one_per_blob(centers, means, radius):
    gaps = np.linalg.norm(centers[:, None] - means[None], axis=2)
    nearest = gaps.argmin(axis=1)
    return np.unique(nearest).size == len(means) and gaps.min(axis=1).max() < radius


def _are_rows(centers, X):
    return all(np.any(np.all(X == c, axis=1)) for c in centers)


# ------------------------------------------------------------- sampling laws
def test_d2_draws_follow_squared_distances():
    # rows at distance 1 and 2 from the only centre: drawn 1:4
    x = np.array([[0.0], [1.0], [2.0]])
    picks = []
    for seed in range(600):
        plan = make_trial_plan(np.zeros((1, 1)), None, np.float64, 1, seed)
        picks.append(trial_kernel(Tile({"X": x}), plan)["trial_index"][0, 0])
    share_far = np.mean(np.array(picks) == 2)
    assert share_far == pytest.approx(0.8, abs=0.06)
    assert 0 not in picks  # a row on a centre is never drawn


def test_oversampling_keeps_rows_with_probability_l_d2_over_phi():
    x = np.array([[0.0], [1.0], [2.0], [3.0]])  # d^2 = 0, 1, 4, 9; phi = 14
    ell = 2.0
    kept = np.zeros(4)
    n_rounds = 800
    for seed in range(n_rounds):
        plan = make_oversample_plan(np.zeros((1, 1)), np.float64, ell, seed)
        stats = oversample_kernel(Tile({"X": x}), plan)
        kept[stats["cand_index"].astype(int)] += 1
        assert stats["phi"] == 14.0
    expected = np.minimum(1.0, ell * np.array([0, 1, 4, 9]) / 14.0)
    np.testing.assert_allclose(kept / n_rounds, expected, atol=0.06)


# --------------------------------------------------------------- seedings
def test_random_data_centres_are_distinct_rows():
    X, _ = make_blobs(500, 2, 3, seed=0)
    for data in (_blocks(X), _blocks(X, 100)):
        centers = seeding.random_data_centers(data, 5, check_random_state(0))
        assert centers.shape == (5, 2) and _are_rows(centers, X)
        assert np.unique(centers, axis=0).shape[0] == 5


SEEDINGS = {
    "k-means++": seeding.kmeans_plusplus_centers,
    "random": seeding.random_data_centers,
    "k-means||": seeding.kmeans_parallel_centers,
}


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("init", list(SEEDINGS))
def test_seedings_draw_the_same_rows_for_numpy_and_dask(init, weighted):
    # issue 22: every draw is keyed by row number, so the container and the
    # chunking do not change which rows are drawn, nor their order
    X, _ = make_blobs(2000, 3, 5, seed=1, spread=3.0)
    weights = np.random.default_rng(0).uniform(size=2000) if weighted else None
    seeds = []
    for block_rows in (None, 300, 777):
        w = weights
        if block_rows is not None and weighted:
            w = da.from_array(weights, chunks=block_rows)
        data = _blocks(X, block_rows)
        rs = check_random_state(3)
        seeds.append(SEEDINGS[init](data, 5, rs, sample_weight=w))
    for other in seeds[1:]:
        # k-means|| reduces its candidates by weighted Lloyd: rounding only
        np.testing.assert_allclose(other, seeds[0], rtol=1e-12, atol=1e-12)
    if init != "k-means||":
        assert _are_rows(seeds[0], X)


@pytest.mark.parametrize("init", list(SEEDINGS))
def test_equal_weights_draw_what_no_weights_draw(init):
    X, _ = make_blobs(1500, 2, 4, seed=2, spread=3.0)
    unweighted = SEEDINGS[init](_blocks(X), 4, check_random_state(5))
    for weight in (1.0, 0.3, 7.0):
        weights = np.full(1500, weight)
        weighted = SEEDINGS[init](
            _blocks(X), 4, check_random_state(5), sample_weight=weights
        )
        np.testing.assert_allclose(weighted, unweighted, rtol=1e-12, atol=1e-12)


def test_kmeans_plusplus_dask_one_pass_per_centre():
    X, means = make_blobs(3000, 3, 5, seed=2, spread=10.0)
    data, n_blocks = counted(X, 500, "plusplus")
    with dask.config.set(scheduler="threads"):
        centers = seeding.kmeans_plusplus_centers(
            RowBlocks({"X": data}), 5, check_random_state(0)
        )
    assert _READS["plusplus"] == 5 * n_blocks + 1  # + the first row's block
    assert centers.shape == (5, 3) and _are_rows(centers, X)
    assert _one_per_blob(centers, means, radius=4.0)


def test_kmeans_parallel_finds_blobs_in_few_passes():
    X, means = make_blobs(3000, 3, 5, seed=3, spread=10.0)
    data, n_blocks = counted(X, 500, "parallel")
    with dask.config.set(scheduler="threads"):
        centers = seeding.kmeans_parallel_centers(
            RowBlocks({"X": data}), 5, check_random_state(0), n_rounds=4
        )
    assert _READS["parallel"] == (4 + 1) * n_blocks + 1
    assert centers.shape == (5, 3)
    # each centre is the mean of a blob's candidates, weighted by the rows
    # they attract: a quantisation of a unit-variance blob, not its mean
    assert _one_per_blob(centers, means, radius=1.0)


def test_kmeans_parallel_independent_of_chunking_and_scheduler(client):
    X, _ = make_blobs(3000, 3, 6, seed=4, spread=3.0)
    on_cluster = seeding.kmeans_parallel_centers(
        _blocks(X, 400), 6, check_random_state(5)
    )
    with dask.config.set(scheduler="threads"):
        threads = seeding.kmeans_parallel_centers(
            _blocks(X, 400), 6, check_random_state(5)
        )
        other_chunks = seeding.kmeans_parallel_centers(
            _blocks(X, 650), 6, check_random_state(5)
        )
    np.testing.assert_allclose(on_cluster, threads, rtol=1e-12)
    # candidates are drawn per global row: chunking changes rounding only
    np.testing.assert_allclose(other_chunks, threads, rtol=1e-9)


def test_kmeans_start_is_daskmix_kmeans_on_all_rows_or_a_sample():
    X, _ = make_blobs(1000, 2, 3, seed=5, spread=3.0)
    restarts = config.get("kmeans-start.restarts")
    for data in (_blocks(X), _blocks(X, 300)):
        centers, rows = starts.kmeans_start(data, 3, check_random_state(1))
        # small data are clustered whole; dask data read into memory once
        assert rows is data if not data.is_dask else not rows.is_dask
        assert rows.n_samples == data.n_samples
        direct = KMeans(3, init="k-means||", n_init=restarts, random_state=1)
        direct.fit(data.X)
        # the same centres (the order of the clusters may differ)
        expected = direct.cluster_centers_
        np.testing.assert_allclose(
            centers[np.argsort(centers[:, 0])], expected[np.argsort(expected[:, 0])]
        )
    big, _ = make_blobs(starts.kmeans_sample_size(3) + 5000, 2, 3, seed=6)
    _, rows = starts.kmeans_start(_blocks(big), 3, check_random_state(1))
    assert rows.n_samples <= starts.kmeans_sample_size(3)
    assert not rows.is_dask


# ------------------------------------------------- GaussianMixture starts
def _start(**kwargs):
    return GaussianMixture(max_iter=0, **kwargs)


def test_gmm_kmeans_start_is_the_kmeans_partition():
    X, means = make_blobs(3000, 3, 4, seed=6, spread=8.0)
    data = da.from_array(X, chunks=(500, -1))
    start = _start(n_components=4, init_params="kmeans", random_state=2).fit(data)
    centers = KMeans(4, n_init=1, random_state=2).fit(data).cluster_centers_
    # one labelling pass under converged centres: the partition's means (in
    # any order: the start keeps the best of several k-means runs, which tie)
    order = np.argsort(start.means_[:, 0])
    np.testing.assert_allclose(
        start.means_[order], centers[np.argsort(centers[:, 0])], atol=1e-3
    )
    assert _one_per_blob(start.means_, means, radius=0.2)
    np.testing.assert_allclose(start.weights_.sum(), 1.0)


def test_gmm_kmeans_plusplus_and_random_from_data_starts():
    X, _ = make_blobs(1500, 2, 3, seed=7)
    data = da.from_array(X, chunks=(300, -1))
    # streamed (not read into memory): k-means++ on dask data, pass by pass
    with dask.config.set({"daskmix.small-data-bytes": 0}):
        plusplus = _start(n_components=3, init_params="k-means++", random_state=4)
        plusplus.fit(data)
    expected = seeding.kmeans_plusplus_centers(
        RowBlocks({"X": data}), 3, check_random_state(4)
    )
    np.testing.assert_array_equal(plusplus.means_, expected)
    np.testing.assert_allclose(
        plusplus.covariances_, np.tile(1e-6 * np.eye(2), (3, 1, 1))
    )
    from_data = _start(
        n_components=3, init_params="random_from_data", random_state=4
    ).fit(data)
    assert _are_rows(from_data.means_, X)
    np.testing.assert_allclose(from_data.weights_, 1 / 3)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_gmm_start_is_a_mixture_fitted_on_a_sample(covariance_type):
    X, means = make_blobs(4000, 2, 3, seed=8, spread=8.0)
    data = da.from_array(X, chunks=(500, -1))
    start = _start(
        n_components=3,
        init_params="gmm",
        covariance_type=covariance_type,
        random_state=6,
    ).fit(data)
    sample_fit = fit_on_sample(
        RowBlocks({"X": data}),
        3,
        check_random_state(6),
        covariance_type=covariance_type,
    )
    np.testing.assert_array_equal(start.means_, sample_fit.means)
    np.testing.assert_array_equal(start.covariances_, sample_fit.covariances)
    assert _one_per_blob(start.means_, means, radius=0.2)


def test_gmm_sample_init_joint_space():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 2))
    y = X @ np.array([1.0, -2.0]) + 0.1 * rng.standard_normal(600)
    fitted = fit_on_sample(
        RowBlocks({"X": X, "y": y}), 2, check_random_state(0), n_rows=300, joint=True
    )
    assert fitted.means.shape == (2, 3)


@pytest.mark.parametrize("init_params", ["kmeans", "gmm"])
def test_good_start_converges_in_few_iterations(init_params):
    X, _ = make_blobs(4000, 3, 4, seed=9, spread=8.0)
    data = da.from_array(X, chunks=(500, -1))
    model = GaussianMixture(4, init_params=init_params, random_state=0).fit(data)
    assert model.converged_ and model.n_iter_ <= 4


def test_gmm_start_same_on_cluster_and_threads(client):
    X, _ = make_blobs(2000, 2, 3, seed=10, spread=3.0)
    data = da.from_array(X, chunks=(400, -1))
    kwargs = dict(n_components=3, init_params="kmeans", random_state=1)
    on_cluster = _start(**kwargs).fit(data)
    with dask.config.set(scheduler="threads"):
        threads = _start(**kwargs).fit(data)
    np.testing.assert_allclose(on_cluster.means_, threads.means_, rtol=1e-12)
    np.testing.assert_allclose(
        on_cluster.covariances_, threads.covariances_, rtol=1e-10
    )


def test_n_init_keeps_the_best_lower_bound():
    X, _ = make_blobs(2000, 2, 5, seed=11, spread=2.5)
    data = da.from_array(X, chunks=(500, -1))
    one = GaussianMixture(5, init_params="k-means++", random_state=3).fit(data)
    three = GaussianMixture(5, init_params="k-means++", n_init=3, random_state=3)
    three.fit(data)
    assert three.lower_bound_ >= one.lower_bound_


def test_bad_init_params():
    X, _ = make_blobs(100, 2, 2, seed=0)
    with pytest.raises(ValueError, match="init_params"):
        GaussianMixture(2, init_params="gmm++").fit(X)
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixture(200, init_params="gmm").fit(X)
    with pytest.raises(ValueError, match="means"):
        GaussianMixture(2, init_params="gmm", means_init=np.zeros((3, 2))).fit(X)


def test_mixture_starts_cost_their_documented_passes():
    X, _ = make_blobs(3000, 3, 4, seed=12, spread=8.0)
    data, n_blocks = counted(X, 500, "mixture")
    # streamed, as larger data are: small data would be read into memory once
    streamed = {"scheduler": "threads", "daskmix.small-data-bytes": 0}
    with dask.config.set(streamed):
        reads = {}
        for method in ("kmeans", "k-means++", "random_from_data", "gmm"):
            _READS["mixture"] = 0
            _start(n_components=4, init_params=method, random_state=0).fit(data)
            reads[method] = _READS["mixture"]
        _READS["mixture"] = 0
        starts.kmeans_start(RowBlocks({"X": data}), 4, check_random_state(0))
        kmeans_reads = _READS["mixture"]
    # data this small are read into memory once, then clustered and labelled
    # there: every k-means run and the labelling pass cost no further reads
    assert kmeans_reads == n_blocks
    assert reads["kmeans"] == kmeans_reads
    assert reads["k-means++"] == 4 * n_blocks + 1
    assert reads["random_from_data"] <= 4
    assert reads["gmm"] == n_blocks  # the sample touches every block once
