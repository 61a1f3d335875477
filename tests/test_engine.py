"""The row-block engine: one pass, a fixed reduction tree, outputs that follow input."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

from daskmix._core.engine import RowBlocks, default_tile_rows
from daskmix._core.stats import Stats


def moments_kernel(x, params):
    """Toy kernel: count, sum and sum of squares around ``params``."""
    shifted = x - params
    return Stats(
        n_rows=np.float64(x.shape[0]),
        s1=shifted.sum(axis=0),
        s2=shifted.T @ shifted,
        largest_tile=np.float64(x.shape[0]),  # summed, so checked separately
    )


def max_rows_kernel(x, params):
    return Stats(seen=np.array([x.shape[0] <= params], dtype=np.float64))


@pytest.fixture
def X():
    return np.random.default_rng(0).standard_normal((5003, 4)) * 10 + 3


def test_numpy_and_dask_give_identical_sums_for_identical_blocks(X):
    numpy_blocks = RowBlocks([X], block_rows=700)
    dask_blocks = RowBlocks([da.from_array(X, chunks=(700, 4))])
    assert numpy_blocks.row_chunks == dask_blocks.row_chunks
    center = X.mean(axis=0)
    a = numpy_blocks.map_reduce(moments_kernel, center, tile_rows=256)
    b = dask_blocks.map_reduce(moments_kernel, center, tile_rows=256)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert a["n_rows"] == X.shape[0]
    np.testing.assert_allclose(a["s2"], (X - center).T @ (X - center), rtol=1e-12)


def test_kernel_sees_at_most_tile_rows(X):
    data = RowBlocks([da.from_array(X, chunks=(3000, 4))])
    stats = data.map_reduce(max_rows_kernel, 512, tile_rows=512)
    n_tiles = sum(-(-rows // 512) for rows in data.row_chunks)
    assert stats["seen"][0] == n_tiles


def test_one_read_per_block_per_pass(X):
    reads = []

    def load(block):
        reads.append(block.shape[0])
        return block

    Xd = da.from_array(X, chunks=(1000, 4)).map_blocks(
        load, dtype=X.dtype, meta=np.empty((0, 0))
    )
    with dask.config.set(scheduler="threads"):
        RowBlocks([Xd]).map_reduce(moments_kernel, np.zeros(4), 256)
    assert sorted(reads) == sorted(Xd.chunks[0])


def test_cluster_and_threads_agree_bitwise(X, client):
    Xd = da.from_array(X, chunks=(400, 4))
    on_cluster = RowBlocks([Xd]).map_reduce(moments_kernel, np.ones(4), 128)
    with dask.config.set(scheduler="threads"):
        threaded = RowBlocks([Xd]).map_reduce(moments_kernel, np.ones(4), 128)
    for name in threaded:
        np.testing.assert_array_equal(on_cluster[name], threaded[name])


def test_map_rows_follows_input(X):
    def row_norms(x, params):
        return np.sqrt((x**2).sum(axis=1)) * params

    def two_columns(x, y, params):
        return np.stack([x[:, 0], y], axis=1)

    expected = np.sqrt((X**2).sum(axis=1)) * 2
    out = RowBlocks([X]).map_rows(row_norms, 2.0, 100, None)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, expected)
    Xd = da.from_array(X, chunks=(999, 2))
    lazy = RowBlocks([Xd.rechunk({1: -1})]).map_rows(row_norms, 2.0, 100, None)
    assert isinstance(lazy, da.Array) and lazy.chunks[0] == Xd.chunks[0]
    np.testing.assert_allclose(lazy.compute(), expected)
    y = np.arange(X.shape[0], dtype=float)
    paired = RowBlocks([da.from_array(X, chunks=(999, 4)), da.from_array(y, 500)])
    stacked = paired.map_rows(two_columns, None, 100, 2).compute()
    np.testing.assert_array_equal(stacked, np.stack([X[:, 0], y], axis=1))


def test_take_rows_keeps_the_order_asked_for(X):
    rows = np.array([4000, 3, 2500, 3, 17])
    for data in (RowBlocks([X]), RowBlocks([da.from_array(X, chunks=(600, 4))])):
        (taken,) = data.take_rows(rows)
        np.testing.assert_array_equal(taken, X[rows])


def test_all_finite_finds_a_late_nan(X):
    X[-1, -1] = np.nan
    assert not RowBlocks([da.from_array(X, chunks=(1000, 4))]).all_finite()
    assert RowBlocks([X[:-1]]).all_finite()


def test_tile_rows_bounded():
    assert default_tile_rows(80) == 8192
    assert default_tile_rows(10**9) == 1
    assert default_tile_rows(1) == 16384
