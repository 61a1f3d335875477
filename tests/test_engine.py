"""The row-block engine: one pass, a fixed reduction tree, outputs that follow input."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

from daskmix import config
from daskmix._engine.rows import RowBlocks, default_tile_rows
from daskmix._engine.stats import Stats


def moments_kernel(tile, params):
    """Toy kernel: count, sum and sum of squares around ``params``."""
    x = tile.X
    shifted = x - params
    return Stats(
        n_rows=np.float64(x.shape[0]),
        s1=shifted.sum(axis=0),
        s2=shifted.T @ shifted,
        largest_tile=np.float64(x.shape[0]),  # summed, so checked separately
    )


def max_rows_kernel(tile, params):
    x = tile.X
    return Stats(seen=np.array([x.shape[0] <= params], dtype=np.float64))


@pytest.fixture
def X():
    return np.random.default_rng(0).standard_normal((5003, 4)) * 10 + 3


def test_numpy_and_dask_give_identical_sums_for_identical_blocks(X):
    numpy_blocks = RowBlocks({"X": X}, block_rows=700)
    dask_blocks = RowBlocks({"X": da.from_array(X, chunks=(700, 4))})
    assert numpy_blocks.row_chunks == dask_blocks.row_chunks
    center = X.mean(axis=0)
    a = numpy_blocks.map_reduce(moments_kernel, center, tile_rows=256)
    b = dask_blocks.map_reduce(moments_kernel, center, tile_rows=256)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert a["n_rows"] == X.shape[0]
    np.testing.assert_allclose(a["s2"], (X - center).T @ (X - center), rtol=1e-12)


def test_kernel_sees_at_most_tile_rows(X):
    data = RowBlocks({"X": da.from_array(X, chunks=(3000, 4))})
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
        RowBlocks({"X": Xd}).map_reduce(moments_kernel, np.zeros(4), 256)
    assert sorted(reads) == sorted(Xd.chunks[0])


def test_cluster_and_threads_agree_bitwise(X, client):
    Xd = da.from_array(X, chunks=(400, 4))
    on_cluster = RowBlocks({"X": Xd}).map_reduce(moments_kernel, np.ones(4), 128)
    with dask.config.set(scheduler="threads"):
        threaded = RowBlocks({"X": Xd}).map_reduce(moments_kernel, np.ones(4), 128)
    for name in threaded:
        np.testing.assert_array_equal(on_cluster[name], threaded[name])


def test_map_rows_follows_input(X):
    def row_norms(tile, params):
        x = tile.X
        return np.sqrt((x**2).sum(axis=1)) * params

    def two_columns(tile, params):
        x, y = tile.X, tile.y
        return np.stack([x[:, 0], y], axis=1)

    expected = np.sqrt((X**2).sum(axis=1)) * 2
    out = RowBlocks({"X": X}).map_rows(row_norms, 2.0, 100, None)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, expected)
    Xd = da.from_array(X, chunks=(999, 2))
    lazy = RowBlocks({"X": Xd.rechunk({1: -1})}).map_rows(row_norms, 2.0, 100, None)
    assert isinstance(lazy, da.Array) and lazy.chunks[0] == Xd.chunks[0]
    np.testing.assert_allclose(lazy.compute(), expected)
    y = np.arange(X.shape[0], dtype=float)
    paired = RowBlocks(
        {"X": da.from_array(X, chunks=(999, 4)), "y": da.from_array(y, 500)}
    )
    stacked = paired.map_rows(two_columns, None, 100, 2).compute()
    np.testing.assert_array_equal(stacked, np.stack([X[:, 0], y], axis=1))


def test_take_rows_keeps_the_order_asked_for(X):
    rows = np.array([4000, 3, 2500, 3, 17])
    for data in (
        RowBlocks({"X": X}),
        RowBlocks({"X": da.from_array(X, chunks=(600, 4))}),
    ):
        taken = data.take_rows(rows)["X"]
        np.testing.assert_array_equal(taken, X[rows])


def test_all_finite_finds_a_late_nan(X):
    X[-1, -1] = np.nan
    assert not RowBlocks({"X": da.from_array(X, chunks=(1000, 4))}).all_finite()
    assert RowBlocks({"X": X[:-1]}).all_finite()


def test_tile_rows_bounded():
    assert default_tile_rows(80) == 8192
    assert default_tile_rows(10**9) == 1
    assert default_tile_rows(1) == 16384


# ------------------------------------------------ dask passes: reused graphs
def legacy_map_reduce(data, kernel, params, tile_rows):
    """The dask pass as built before graph reuse: ``to_delayed`` every pass."""
    from daskmix._engine.stats import add_all
    from daskmix._engine.tiles import Tile, block_stats

    split_every = config.get("split-every")
    params_key = dask.delayed(params, traverse=False)
    block_lists = [array.to_delayed().ravel() for array in data.arrays]
    level = [
        dask.delayed(block_stats, pure=True)(
            kernel,
            dask.delayed(Tile)(dict(zip(data.names, blocks)), start),
            params_key,
            tile_rows,
        )
        for blocks, start in zip(zip(*block_lists), data.block_starts)
    ]
    while len(level) > 1:
        level = [
            dask.delayed(add_all, pure=True)(level[i : i + split_every])
            for i in range(0, len(level), split_every)
        ]
    (total,) = dask.compute(level[0])
    return total


def weighted_kernel(tile, params):
    """Toy two-array kernel whose sums change with ``params``."""
    x, y = tile.X, tile.y
    shifted = x - params
    return Stats(
        n_rows=np.float64(x.shape[0]),
        s1=(shifted * y[:, None]).sum(axis=0),
        s2=shifted.T @ shifted,
    )


def assert_same_stats(a, b):
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


@pytest.mark.parametrize("persist", [False, True])
def test_reused_graph_matches_the_rebuilt_one_across_passes(X, persist):
    y = np.random.default_rng(1).standard_normal(X.shape[0])
    Xd = da.from_array(X, chunks=(37, 4))  # 136 blocks: several per task
    yd = da.from_array(y, chunks=37)
    # the legacy pass adds chunk by chunk: no groups of tiny chunks
    with dask.config.set({"scheduler": "threads", "daskmix.coalesce-bytes": 0}):
        if persist:
            Xd, yd = dask.persist(Xd, yd)
        data = RowBlocks({"X": Xd, "y": yd})
        reference = RowBlocks({"X": X, "y": y}, block_rows=37)
        template = None
        previous = None
        for center in (X.mean(axis=0), np.zeros(4), X[0], X.mean(axis=0) + 1e-9):
            new = data.map_reduce(weighted_kernel, center, 64)
            old = legacy_map_reduce(data, weighted_kernel, center, 64)
            assert_same_stats(new, old)
            assert_same_stats(new, reference.map_reduce(weighted_kernel, center, 64))
            if previous is not None:
                assert not np.array_equal(new["s1"], previous["s1"])
            previous = new
            if template is None:
                template = data._template[1]
            assert data._template[1] is template
    if persist:
        assert any(len(blocks) > 1 for _, blocks, _ in template.runs)


@pytest.mark.parametrize("coalesce", [0, 4096])
def test_a_stream_gets_one_task_per_block(X, coalesce):
    Xd = da.from_array(X, chunks=(50, 4)).map_blocks(np.negative, dtype=X.dtype)
    with dask.config.set({"scheduler": "threads", "daskmix.coalesce-bytes": coalesce}):
        data = RowBlocks({"X": Xd})
        total = data.map_reduce(moments_kernel, np.zeros(4), 64)
        runs = data._template[1].runs
        assert all(len(blocks) == 1 for _, blocks, _ in runs)
        # 1,600-byte chunks: one task per chunk, or per group of three
        assert len(runs) == (data.n_blocks if coalesce == 0 else len(data.groups))
        assert len(data.groups) == (data.n_blocks if coalesce == 0 else 34)
        expected = RowBlocks({"X": -X}, block_rows=50).map_reduce(
            moments_kernel, np.zeros(4), 64
        )
    assert_same_stats(total, expected)


def test_task_names_say_what_runs(X):
    from dask.callbacks import Callback
    from dask.utils import key_split

    ran = []
    Xd = da.from_array(X, chunks=(100, 4)).map_blocks(np.negative, dtype=X.dtype)
    with Callback(pretask=lambda key, dsk, state: ran.append(key_split(key))):
        with dask.config.set({"scheduler": "threads", "daskmix.coalesce-bytes": 0}):
            RowBlocks({"X": Xd}).map_reduce(moments_kernel, np.zeros(4), 64, name="gmm")
    names = set(ran)
    assert names >= {"daskmix-gmm-estep", "daskmix-reduce"}
    assert ran.count("daskmix-gmm-estep") == 51
    assert not any(
        n.startswith("daskmix")
        for n in names - {"daskmix-gmm-estep", "daskmix-reduce", "daskmix-params"}
    )


def test_persisted_blocks_on_a_cluster_agree_bitwise_across_passes(X, client):
    Xd = client.persist(da.from_array(X, chunks=(40, 4)))  # 126 blocks
    data = RowBlocks({"X": Xd})
    reference = RowBlocks({"X": X}, block_rows=40)
    for center in (np.zeros(4), X.mean(axis=0), X[7]):
        on_cluster = data.map_reduce(moments_kernel, center, 32, name="gmm")
        assert_same_stats(on_cluster, reference.map_reduce(moments_kernel, center, 32))
    assert len(data._template[1].runs) < data.n_blocks
    prefixes = set(client.run_on_scheduler(_task_prefixes))
    assert "daskmix-gmm-estep" in prefixes


def _task_prefixes(dask_scheduler):
    return [name for name in dask_scheduler.task_prefixes if name.startswith("daskmix")]


def test_malloc_thresholds_are_restored_only_where_dask_froze_them():
    import os
    import subprocess
    import sys

    code = (
        "from daskmix._engine.threads import restore_malloc_thresholds as r;print(r())"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    plain = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    frozen = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "MALLOC_TRIM_THRESHOLD_": "65536"},
        capture_output=True,
        text=True,
    )
    assert plain.stdout.strip() == "False", plain.stderr
    assert frozen.stdout.strip() == "True", frozen.stderr
