"""The tasks and scheduling facts behind a dask pass of :class:`RowBlocks`.

:meth:`daskmix._core.engine.RowBlocks.map_reduce` builds each pass's graph from
a template cached per ``RowBlocks`` (:class:`PassTemplate`); the functions here
are the block and reduce tasks it runs, and what it asks of the scheduler.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import chain

import dask
from dask._task_spec import DataNode, GraphNode, TaskRef
from dask.delayed import Delayed

from .blocks import _block_stats
from .stats import Stats, add_all
from .threads import restore_malloc_thresholds


def _run_stats(kernel, params, tile_rows, n_arrays, whole_group, *chunks):
    """Block task of a dask pass: ``kernel`` on one or more blocks.

    ``chunks`` holds ``n_arrays`` chunks per block, block after block. Returns
    the left-to-right sum of the blocks' statistics when they make a whole
    group of the reduction tree, else the list of them (the group's reduce
    task adds all of the group's blocks in block order), so that the sum never
    depends on how blocks were spread over tasks.
    """
    restore_malloc_thresholds()
    parts = [
        _block_stats(kernel, chunks[start : start + n_arrays], params, tile_rows)
        for start in range(0, len(chunks), n_arrays)
    ]
    return add_all(parts) if whole_group else parts


def _add_stats(*parts: Stats) -> Stats:
    """Reduce task: add the statistics of consecutive groups, left to right."""
    return add_all(parts)


def _add_runs(blocks_per_run: list[list[int]], *runs: list[Stats]) -> Stats:
    """Reduce task of a group whose blocks ran in several tasks: block order."""
    by_block = dict(zip(chain.from_iterable(blocks_per_run), chain.from_iterable(runs)))
    return add_all(by_block[block] for block in sorted(by_block))


def _is_materialised(node) -> bool:
    """Whether a graph value is data already (no computation to run)."""
    return isinstance(node, (DataNode, TaskRef)) or not isinstance(node, GraphNode)


@dataclass
class _PassTemplate:
    """What every dask pass over the same arrays shares, built once.

    Attributes
    ----------
    graph : dict
        The arrays' optimised graph (and the futures of persisted chunks).
    block_keys : list of tuple
        For each block, the key of its chunk in every array.
    runs : list of (int, list of int, bool)
        Block tasks: the reduction group, the blocks, whether they are the
        whole group.
    n_groups : int
        Groups of :data:`SPLIT_EVERY` consecutive blocks (the tree's leaves).
    """

    graph: dict
    block_keys: list
    runs: list
    n_groups: int


def _schedule():
    """The scheduler ``dask.compute`` would use now (threads by default)."""
    return dask.base.get_scheduler(cls=Delayed)


def _scheduler_threads(schedule) -> int:
    client = getattr(schedule, "__self__", None)
    if client is not None and hasattr(client, "nthreads"):
        return max(1, sum(client.nthreads().values()))
    return max(1, int(dask.config.get("num_workers", None) or os.cpu_count() or 1))


def _locations(schedule, values: list) -> list:
    """Workers holding each persisted chunk (a distributed client), else Nones."""
    client = getattr(schedule, "__self__", None)
    futures = [v for v in values if type(v).__name__ == "Future"]
    if client is None or not hasattr(client, "who_has") or not futures:
        return [None] * len(values)
    who_has = client.who_has(futures)
    return [
        frozenset(who_has.get(v.key, ())) if type(v).__name__ == "Future" else None
        for v in values
    ]
