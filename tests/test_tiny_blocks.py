"""Many tiny row blocks: grouped into passes' blocks, same sums everywhere.

Tiny chunks are grouped (``daskmix.coalesce-bytes``) by the chunking alone, so
numpy input read in those chunks, the threaded scheduler and a cluster add the
same statistics in the same tree. 20,000 blocks take a few seconds.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from conftest import assert_same_stats, moments_kernel

from daskmix import GaussianMixture, KMeans
from daskmix._engine.coalesce import coalesced_groups
from daskmix._engine.rows import RowBlocks
from daskmix._engine.stats import Stats

N_BLOCKS = 20_000


def weighted_sum_kernel(tile, params):
    return Stats(s1=tile.arrays["weight"] @ tile.X)


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [0.0, 6.0, 6.0]])
    return centers[np.arange(5 * N_BLOCKS) % 3] + rng.standard_normal((5 * N_BLOCKS, 3))


def in_memory(X, rows):
    """numpy rows read in the dask chunks ``rows``."""
    data = RowBlocks({"X": X})
    data.row_chunks = tuple(rows)
    return data


def test_groups_cover_the_blocks_in_order_and_leave_large_ones_alone():
    assert coalesced_groups([10] * 7, 8, 240) == ((0, 3), (3, 6), (6, 7))
    # a block of the target size or more is never joined to its neighbours
    assert coalesced_groups([10, 10, 50, 10], 8, 240) == ((0, 2), (2, 3), (3, 4))
    assert coalesced_groups([10] * 3, 8, 0) == ((0, 1), (1, 2), (2, 3))
    assert coalesced_groups([], 8, 240) == ()


def test_the_groups_follow_the_setting():
    data = RowBlocks({"X": da.zeros((1000, 4), chunks=(10, 4))})
    assert len(data.groups) == 1  # 64 KiB: 2,048 rows of 32 bytes per group
    with dask.config.set({"daskmix.coalesce-bytes": 0}):
        assert len(data.groups) == data.n_blocks == 100
    with dask.config.set({"daskmix.coalesce-bytes": 1280}):
        assert len(data.groups) == 25


@pytest.mark.parametrize("kind", ["from_array", "derived", "persisted"])
def test_a_pass_over_20000_blocks_matches_numpy_in_the_same_chunks(X, kind):
    Xd = da.from_array(X, chunks=(5, 3))
    expected_X = X
    if kind == "derived":
        Xd = Xd.map_blocks(np.negative, dtype=X.dtype)
        expected_X = -X
    with dask.config.set(scheduler="threads"):
        if kind == "persisted":
            Xd = Xd.persist()
        data = RowBlocks({"X": Xd})
        assert data.n_blocks == N_BLOCKS
        center = X[:10].mean(axis=0)
        total = data.map_reduce(moments_kernel, center, 64)
        reference = in_memory(expected_X, data.row_chunks)
        assert_same_stats(total, reference.map_reduce(moments_kernel, center, 64))
        # one task per group of tiny chunks, or fewer
        assert len(data._template[1].runs) <= len(data.groups) < N_BLOCKS / 100
        rows = np.array([3, 99_999, 17, 50_000, 4])
        taken = data.take_rows(rows)["X"]
    np.testing.assert_array_equal(taken, expected_X[rows])


def test_a_lone_block_sharing_a_source_chunk_with_a_group_keeps_it():
    """Weights rechunked to X's rows: the last block (alone) and the group
    before it split one source chunk, which must stay outside the group."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2500, 3))
    weight = rng.random(2500)
    row_chunks = (600, 600, 600, 600, 100)
    arrays = {
        "X": da.from_array(X, chunks=(row_chunks, 3)),
        "weight": da.from_array(weight, chunks=350).rechunk((row_chunks,)),
    }
    with dask.config.set(scheduler="threads"):
        data = RowBlocks(arrays)
        assert 1 < len(data.groups) < data.n_blocks
        total = data.map_reduce(weighted_sum_kernel, None, 64)
    np.testing.assert_allclose(total["s1"], weight @ X, rtol=1e-12)


def test_a_lazy_group_runs_its_chunks_inside_one_task(X):
    from dask.callbacks import Callback
    from dask.utils import key_split

    ran = []
    Xd = da.from_array(X[:20_000], chunks=(5, 3)).map_blocks(np.negative)
    with Callback(pretask=lambda key, dsk, state: ran.append(key_split(key))):
        with dask.config.set(scheduler="threads"):
            data = RowBlocks({"X": Xd})
            data.map_reduce(moments_kernel, np.zeros(3), 64, name="gmm")
    # the 4,000 chunks' tasks ran inside the groups' read tasks
    assert ran.count("daskmix-read") == len(data.groups) < 100
    assert len(ran) < 400


def test_fits_on_tiny_blocks_agree_across_numpy_threads_and_a_cluster(X, client):
    # 2,000 blocks: enough for groups; 20,000 take minutes on a cluster
    X = X[:10_000]
    Xd = da.from_array(X, chunks=(5, 3))
    with dask.config.set(scheduler="threads"):
        threads = GaussianMixture(3, random_state=0, max_iter=5).fit(Xd)
        means = KMeans(3, random_state=0, n_init=1, max_iter=5).fit(Xd)
    on_cluster = GaussianMixture(3, random_state=0, max_iter=5).fit(client.persist(Xd))
    np.testing.assert_array_equal(threads.means_, on_cluster.means_)
    np.testing.assert_array_equal(threads.covariances_, on_cluster.covariances_)
    # the same rows in 20 blocks: the same model up to rounding
    coarse = GaussianMixture(3, random_state=0, max_iter=5).fit(
        da.from_array(X, chunks=(500, 3))
    )
    np.testing.assert_allclose(
        np.sort(coarse.means_, axis=0), np.sort(threads.means_, axis=0), atol=1e-8
    )
    assert means.cluster_centers_.shape == (3, 3)


def test_per_row_outputs_come_in_groups(X):
    model = GaussianMixture(3, random_state=0, max_iter=5).fit(X[:3000])
    X = X[:20_000]
    Xd = da.from_array(X, chunks=(5, 3))
    with dask.config.set(scheduler="threads"):
        proba = model.predict_proba(Xd)
        labels = model.predict(Xd.map_blocks(np.negative).map_blocks(np.negative))
        assert proba.numblocks[0] == len(RowBlocks({"X": Xd}).groups)
        np.testing.assert_array_equal(proba.compute(), model.predict_proba(X))
        np.testing.assert_array_equal(labels.compute(), model.predict(X))
