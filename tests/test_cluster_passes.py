"""How a dask pass spreads persisted blocks over tasks and workers.

Whatever the placement of blocks on workers and however they are grouped into
tasks, a pass adds the same block statistics in the same tree (fixed by the
chunking): its total is bit-identical to the numpy engine's over the same
blocks. The pure helpers are checked on arbitrary placements; a real
LocalCluster checks that blocks persisted on one worker are evened out, that
small statistics need few tasks, and that a pass survives the loss of the
worker the template placed blocks on.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from conftest import assert_same_stats, moments_kernel

from daskmix import config
from daskmix._engine import passes as dask_pass
from daskmix._engine.passes import (
    _pieces,
    _place,
    _runs,
    pass_graph,
    unit_size,
)
from daskmix._engine.rows import RowBlocks
from daskmix._engine.stats import tree_sum
from daskmix._engine.tiles import Tile, block_stats

distributed = pytest.importorskip("distributed")

SPLIT_EVERY = config.get("split-every")


@pytest.fixture(autouse=True)
def one_block_per_chunk():
    """These tests place single chunks: no coalescing of tiny chunks here.

    Groups of tiny chunks are checked in ``tests/test_tiny_blocks.py``.
    """
    with dask.config.set({"daskmix.coalesce-bytes": 0}):
        yield


# ------------------------------------------------------------ pure helpers
def test_place_evens_rows_per_thread():
    holders = [frozenset({"a"})] * 8 + [frozenset({"b"})] * 2
    placed = _place(holders, [10] * 10, {"a": 1, "b": 1})
    assert placed.count("a") == placed.count("b") == 5
    # a block moves only to a worker that does not hold it when that helps
    assert _place(holders[:2], [10, 10], {"a": 1, "b": 1}) == ["a", "b"]
    assert _place(holders[:1], [10], {"a": 1, "b": 1}) == ["a"]
    # threads count: a worker with 3 threads takes 3 of every 4 rows
    placed = _place([frozenset({"a"})] * 8, [1] * 8, {"a": 1, "b": 3})
    assert placed.count("b") == 6


def test_place_leaves_unknown_and_gone_holders_to_the_scheduler():
    holders = [frozenset(), frozenset({"gone"}), frozenset({"a", "b"})]
    placed = _place(holders, [5, 5, 5], {"a": 1, "b": 1})
    assert placed[:2] == [None, None]
    assert placed[2] in {"a", "b"}


def test_pieces_are_few_and_even():
    assert _pieces(list(range(10)), 4) == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert _pieces([3], 16) == [[3]]


def test_units_grow_with_blocks_while_their_statistics_fit():
    assert unit_size(16, 7_000, 8) == 16
    assert unit_size(16, 7_000, 100) == 256
    assert unit_size(16, 7_000, 1000) == 4096  # 4096 x 7 kB fit 32 MiB
    assert unit_size(16, 12_800, 1000) == 256  # 4096 x 12.8 kB do not
    assert unit_size(16, 16 * 30 * 30 * 8 * 100, 1000) == 16


def _template_over(blocks, placed, caps, unit, split_every):
    """A hand-made template over numpy chunks (no dask array involved)."""
    graph = {("chunk", b): block for b, block in enumerate(blocks)}
    runs, layouts, workers = _runs(placed, caps, unit, split_every)
    return dask_pass._PassTemplate(
        graph,
        [(("chunk", b),) for b in range(len(blocks))],
        runs,
        layouts,
        [None] * len(runs),
        unit,
        -(-len(blocks) // unit),
        True,
        (dask.threaded.get, split_every, unit),
    )


@pytest.mark.parametrize("unit_groups", [1, 4, 16])
@pytest.mark.parametrize("seed", range(4))
def test_any_placement_adds_in_the_tree_of_the_chunking(seed, unit_groups):
    rng = np.random.default_rng(seed)
    split_every = 4
    unit = split_every * unit_groups
    n_blocks = int(rng.integers(1, 70))
    blocks = [
        rng.standard_normal((int(rng.integers(1, 9)), 3)) for _ in range(n_blocks)
    ]
    center = rng.standard_normal(3)
    workers = ["a", "b", "c", None]
    placed = [workers[i] for i in rng.integers(0, len(workers), n_blocks)]
    caps = {w: int(rng.integers(1, unit + 1)) for w in workers}
    template = _template_over(blocks, placed, caps, unit, split_every)
    expected = tree_sum(
        [block_stats(moments_kernel, Tile({"X": b}), center, 4) for b in blocks],
        split_every,
    )
    for on_client in (False, True):
        work = pass_graph(
            template,
            moments_kernel,
            center,
            4,
            ("X",),
            tuple(int(s) for s in np.cumsum([0] + [len(b) for b in blocks[:-1]])),
            "t",
            split_every,
            0,
            client_finish=on_client,
        )
        total = dask_pass.compute_pass(dask.threaded.get, work)
        assert_same_stats(total, expected)


# ------------------------------------------------------------- on a cluster
def _workers(client) -> list[str]:
    return sorted(client.scheduler_info()["workers"])


def test_blocks_persisted_on_one_worker_run_on_both(client):
    X = np.random.default_rng(3).standard_normal((4000, 4))
    first, second = _workers(client)
    Xd = client.persist(da.from_array(X, chunks=(250, 4)), workers=[first])
    distributed.wait(Xd)
    assert set(client.who_has(Xd).values()) == {(first,)}
    data = RowBlocks({"X": Xd})
    reference = RowBlocks({"X": X}, block_rows=250)
    for center in (np.zeros(4), X[1]):
        total = data.map_reduce(moments_kernel, center, 64, name="gmm")
        assert_same_stats(total, reference.map_reduce(moments_kernel, center, 64))
    template = data._template[1]
    assert template.workers.count(first) == template.workers.count(second) == 1
    rows_on = {first: 0, second: 0}
    for (_, blocks, _), worker in zip(template.runs, template.workers):
        rows_on[worker] += sum(data.row_chunks[b] for b in blocks)
    assert rows_on[first] == rows_on[second] == 2000


def test_many_small_blocks_need_few_tasks(client):
    X = np.random.default_rng(4).standard_normal((6000, 2))
    Xd = client.persist(da.from_array(X, chunks=(10, 2)))  # 600 blocks
    distributed.wait(Xd)
    data = RowBlocks({"X": Xd})
    total = data.map_reduce(moments_kernel, X[0], 8)
    reference = RowBlocks({"X": X}, block_rows=10).map_reduce(moments_kernel, X[0], 8)
    assert_same_stats(total, reference)
    template = data._template[1]
    assert template.unit_size == SPLIT_EVERY**3
    # one unit for the whole pass: one task per worker
    assert len(template.runs) == 2


def test_large_statistics_keep_reduce_tasks_of_one_group(client):
    X = np.random.default_rng(5).standard_normal((3000, 3))
    Xd = client.persist(da.from_array(X, chunks=(30, 3)))  # 100 blocks
    distributed.wait(Xd)
    # 2 MiB of parameters stand for statistics too large for units of 256 blocks
    wide = np.zeros(config.get("reduce-budget-bytes") // 8 // SPLIT_EVERY)
    data = RowBlocks({"X": Xd})

    def kernel(tile, params):
        return moments_kernel(tile, params[0][:3])

    total = data.map_reduce(kernel, (wide,), 8, name="wide")
    reference = RowBlocks({"X": X}, block_rows=30).map_reduce(kernel, (wide,), 8)
    assert_same_stats(total, reference)
    assert data._template[1].unit_size == SPLIT_EVERY
    prefixes = client.run_on_scheduler(_task_prefixes)
    assert "daskmix-reduce" in prefixes


def _task_prefixes(dask_scheduler):
    return [name for name in dask_scheduler.task_prefixes if name.startswith("daskmix")]


def test_a_pass_survives_losing_the_worker_its_blocks_were_placed_on():
    X = np.random.default_rng(6).standard_normal((2000, 3))
    reference = RowBlocks({"X": X}, block_rows=200)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            memory_limit="1GiB",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        first, _ = _workers(client)
        Xd = client.persist(
            da.from_array(X, chunks=(200, 3)), workers=[first], allow_other_workers=True
        )
        distributed.wait(Xd)
        data = RowBlocks({"X": Xd})
        before = data.map_reduce(moments_kernel, X[0], 64)
        template = data._template[1]
        assert first in template.workers
        client.restart_workers([first])  # its blocks are lost, recomputed
        assert first not in _workers(client)
        after = data.map_reduce(moments_kernel, X[0], 64)
        assert data._template[1] is template  # placed on a worker now gone
    expected = reference.map_reduce(moments_kernel, X[0], 64)
    assert_same_stats(before, expected)
    assert_same_stats(after, expected)
