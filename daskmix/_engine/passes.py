"""The tasks and scheduling facts behind a dask pass of :class:`RowBlocks`.

:meth:`daskmix._engine.rows.RowBlocks.map_reduce` builds each pass's graph from
a template cached per ``RowBlocks`` (:class:`_PassTemplate`, built by
:func:`build_template`); :func:`pass_graph` adds one pass's keys around it. The
functions here are the block and reduce tasks it runs, and what it asks of the
scheduler.

The sum is always the same tree, fixed by the chunking alone: the blocks of a
*group* (``split_every`` consecutive blocks) are added left to right, group
sums ``split_every`` at a time, and so on up. How blocks are spread over tasks
(which depends on where a cluster holds them) changes only which task does
which addition, never the additions: numpy input, the threaded scheduler and
a cluster give bit-identical sums for the same chunking.
"""

from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass, fields, is_dataclass

import dask
import numpy as np
from dask._task_spec import DataNode, GraphNode, Task, TaskRef
from dask.delayed import Delayed

try:  # dask >= 2025.1: graphs travel to a distributed scheduler as expressions
    from dask._expr import LLGExpr
except ImportError:  # pragma: no cover - older dask
    LLGExpr = None

from .. import config
from . import cluster_events
from .stats import Stats, add_all, tree_sum
from .threads import restore_malloc_thresholds
from .tiles import Tile, block_stats

#: a run's layout: for each group it touches, in order, (group, blocks, whole)
Layout = tuple[tuple[int, tuple[int, ...], bool], ...]


# ------------------------------------------------------------------- tasks
def _block_results(kernel, params, tile_rows, names, starts, chunks):
    """The statistics of each block of a task, lazily, in order.

    ``chunks`` holds ``len(names)`` chunks per block, block after block;
    ``starts`` the row number of each block's first row.
    """
    n_arrays = len(names)
    for index, first in enumerate(starts):
        arrays = chunks[index * n_arrays : (index + 1) * n_arrays]
        block = Tile(dict(zip(names, arrays)), first)
        yield block_stats(kernel, block, params, tile_rows)


def _run_stats(kernel, params, tile_rows, names, starts, layout, *chunks):
    """Block task of a dask pass: ``kernel`` on one or more blocks, in order.

    ``chunks`` holds ``len(names)`` chunks per block, block after block, and
    ``layout`` says how they fall into groups (:data:`Layout`). Returns, for
    each group touched, the group's left-to-right sum when the task holds the
    whole group, else the list of its blocks' statistics, which the unit's
    reduce task adds in block order with the other tasks' (:func:`_add_unit`).
    """
    restore_malloc_thresholds()
    blocks = _block_results(kernel, params, tile_rows, names, starts, chunks)
    out: list = []
    for _, members, whole in layout:
        if whole:
            out.append(add_all(next(blocks) for _ in members))
        else:
            out.append([next(blocks) for _ in members])
    return out


def _run_unit(
    kernel, params, tile_rows, names, starts, group_sizes, split_every, *chunks
):
    """Block task that holds every block of its unit: the unit's sum.

    ``group_sizes`` are the numbers of blocks of the unit's groups, in order;
    each group is added left to right, then the group sums in the tree of fan-in
    ``split_every`` (a unit starts at a multiple of its size, so this is the
    tree of the whole pass restricted to the unit).
    """
    restore_malloc_thresholds()
    blocks = _block_results(kernel, params, tile_rows, names, starts, chunks)
    sums = [add_all(next(blocks) for _ in range(size)) for size in group_sizes]
    return tree_sum(sums, split_every)


def _add_unit(layouts: list[Layout], split_every: int, *outputs: list) -> Stats:
    """Reduce task of a unit spread over several tasks: its exact sum.

    ``outputs[i]`` is what the task of layout ``layouts[i]`` returned
    (:func:`_run_stats`). Each group is added left to right in block order,
    then the group sums in the tree of fan-in ``split_every``.
    """
    group_sums: dict[int, Stats] = {}
    partial: dict[int, dict[int, Stats]] = {}
    for layout, output in zip(layouts, outputs):
        for (group, members, whole), value in zip(layout, output):
            if whole:
                group_sums[group] = value
            else:
                partial.setdefault(group, {}).update(zip(members, value))
    for group, by_block in partial.items():
        group_sums[group] = add_all(by_block[block] for block in sorted(by_block))
    return tree_sum([group_sums[group] for group in sorted(group_sums)], split_every)


def _add_stats(*parts: Stats) -> Stats:
    """Reduce task: add the sums of consecutive units, left to right."""
    return add_all(parts)


if LLGExpr is not None:

    class _PassExpr(LLGExpr):
        """A pass's low-level graph with its own name and per-task annotations."""

        _parameters = ["dsk", "annotations"]

        def __dask_annotations__(self):
            return self.operand("annotations")

else:  # pragma: no cover - older dask
    _PassExpr = None


# ------------------------------------------------------------ the template
def _is_future(value) -> bool:
    return type(value).__name__ == "Future"


def _is_materialised(node) -> bool:
    """Whether a graph value is data already (no computation to run)."""
    return isinstance(node, (DataNode, TaskRef)) or not isinstance(node, GraphNode)


@dataclass
class _PassTemplate:
    """What every dask pass over the same arrays shares, built once.

    Attributes
    ----------
    graph : dict
        The arrays' optimised graph, less persisted chunks (which the
        scheduler already holds: tasks refer to them by key).
    block_keys : list of tuple
        For each block, the key of its chunk in every array.
    runs : list of (int, tuple of int, bool)
        Block tasks: the reduction unit, the blocks (in order), whether they
        are the whole unit.
    layouts : list of Layout
        For each block task, how its blocks fall into groups.
    workers : list of str or None
        For each block task, the worker it should run on (a distributed
        scheduler may still choose another), or None to let it choose.
    unit_size : int
        Blocks per reduction unit, a power of ``split_every``
        (:func:`unit_size`).
    n_units : int
    small : bool
        Whether the statistics are small (:func:`small_statistics`): the
        client then does the pass's last addition itself.
    key : tuple
        What the template depends on besides the arrays.
    """

    graph: dict
    block_keys: list
    runs: list
    layouts: list
    workers: list
    unit_size: int
    n_units: int
    small: bool
    key: tuple


def _schedule():
    """The scheduler ``dask.compute`` would use now (threads by default)."""
    return dask.base.get_scheduler(cls=Delayed)


def _scheduler_threads(schedule) -> int:
    client = getattr(schedule, "__self__", None)
    if client is not None and hasattr(client, "nthreads"):
        return max(1, sum(client.nthreads().values()))
    return max(1, int(dask.config.get("num_workers", None) or os.cpu_count() or 1))


def _client(schedule):
    """The distributed client behind ``schedule``, or None."""
    client = getattr(schedule, "__self__", None)
    return client if hasattr(client, "who_has") else None


def _locations(client, values: list) -> list:
    """Workers holding each persisted chunk, else None."""
    futures = [v for v in values if _is_future(v)]
    who_has = client.who_has(futures) if futures else {}
    return [
        frozenset(who_has.get(v.key, ())) if _is_future(v) else None for v in values
    ]


def _place(holders: list, rows, nthreads: dict) -> list:
    """A worker for each block: where it is held, then evened out by rows.

    ``holders[b]`` are the workers holding block ``b`` (every array's chunk,
    or failing that any), empty when unknown. Each block starts on its least
    loaded holder; then blocks move from the most to the least loaded worker
    (load: rows per thread) while that lowers the most loaded one's. A moved
    block costs one transfer of its chunks per pass, where the scheduler has
    dropped the copy the previous pass made; an unbalanced pass costs the
    kernel time of the extra blocks on the slowest worker, every pass
    (``da.from_array(...).persist()`` put 5 and 3 of 8 blocks on two workers
    here).
    """
    load = dict.fromkeys(nthreads, 0.0)
    placed: list = [None] * len(holders)
    by_worker: dict = {worker: [] for worker in nthreads}
    for block, candidates in enumerate(holders):
        candidates = [w for w in candidates if w in load]
        if not candidates:
            continue
        worker = min(candidates, key=lambda w: load[w] / nthreads[w])
        placed[block] = worker
        by_worker[worker].append(block)
        load[worker] += rows[block]
    if len(load) < 2:
        return placed
    while True:
        share = {w: load[w] / nthreads[w] for w in load}
        busiest = max(share, key=share.get)
        idlest = min(share, key=share.get)
        if not by_worker[busiest]:
            break
        block = by_worker[busiest][-1]
        after = (load[idlest] + rows[block]) / nthreads[idlest]
        if after >= share[busiest]:
            break
        by_worker[busiest].pop()
        by_worker[idlest].append(block)
        load[busiest] -= rows[block]
        load[idlest] += rows[block]
        placed[block] = idlest
    return placed


def params_nbytes(params) -> int:
    """Bytes of the numpy arrays inside ``params`` (dataclasses, containers).

    The size of a pass's block statistics is about that of its parameters
    (a mean per component gives a first moment per component, and so on):
    the engine uses it to bound what a task returns and a reduce task holds.
    """
    if isinstance(params, np.ndarray):
        return params.nbytes
    if is_dataclass(params) and not isinstance(params, type):
        return sum(params_nbytes(getattr(params, f.name)) for f in fields(params))
    if isinstance(params, dict):
        return sum(params_nbytes(v) for v in params.values())
    if isinstance(params, (list, tuple)):
        return sum(params_nbytes(v) for v in params)
    return 0


def unit_size(split_every: int, stats_nbytes: int, n_blocks: int) -> int:
    """Blocks per reduction unit: a power of ``split_every``, larger if small.

    A unit is ``split_every ** j`` consecutive blocks, whose sum is one node
    of the pass's tree; one reduce task adds a unit whose blocks ran in several
    tasks, holding up to every block's statistics. Units grow (cutting the
    reduce tasks, and letting a worker's blocks share fewer tasks) while that
    many statistics fit ``daskmix.reduce-budget-bytes``, up to one unit for the
    whole pass; one group (``split_every`` blocks) at least.
    """
    budget = config.get("reduce-budget-bytes")
    unit = split_every
    while unit < n_blocks and unit * split_every * max(stats_nbytes, 1) <= budget:
        unit *= split_every
    return unit


def small_statistics(split_every: int, stats_nbytes: int) -> bool:
    """Whether ``split_every ** 2`` block statistics fit the reduce budget."""
    budget = config.get("reduce-budget-bytes")
    return split_every**2 * max(stats_nbytes, 1) <= budget


def _pieces(blocks: list[int], cap: int) -> list[list[int]]:
    """``blocks`` cut into the fewest runs of at most ``cap``, sizes within one."""
    n_pieces = math.ceil(len(blocks) / cap)
    return [[int(b) for b in piece] for piece in np.array_split(blocks, n_pieces)]


def _layout(blocks: list[int], split_every: int) -> Layout:
    """How a run's ``blocks`` (in order) fall into groups."""
    layout = []
    for block in blocks:
        group = block // split_every
        if layout and layout[-1][0] == group:
            layout[-1][1].append(block)
        else:
            layout.append((group, [block]))
    return tuple(
        (group, tuple(members), len(members) == split_every)
        for group, members in layout
    )


def _runs(placed: list, caps: dict, unit: int, split_every: int):
    """Block tasks: each unit's blocks, by worker, in runs of at most its cap.

    ``placed[b]`` is the worker chosen for block ``b`` (or None), ``caps`` the
    most blocks per task for each worker (and None). Returns the runs, their
    layouts and their workers (see :class:`_PassTemplate`).
    """
    runs, layouts, workers = [], [], []
    n_blocks = len(placed)
    for index in range(math.ceil(n_blocks / unit)):
        by_place: dict = {}
        for block in range(index * unit, min((index + 1) * unit, n_blocks)):
            by_place.setdefault(placed[block], []).append(block)
        pieces = [
            (worker, piece)
            for worker, blocks in by_place.items()
            for piece in _pieces(blocks, caps[worker])
        ]
        for worker, piece in pieces:
            runs.append((index, tuple(piece), len(pieces) == 1))
            layouts.append(_layout(piece, split_every))
            workers.append(worker)
    return runs, layouts, workers


def build_template(
    arrays, schedule, split_every: int, stats_nbytes: int
) -> _PassTemplate:
    """The part of a dask pass's graph that every pass shares.

    Materialised blocks (persisted, or numpy wrapped by dask) share tasks. On
    a distributed cluster each block is placed on a worker holding it, then
    blocks move from the most to the least loaded workers until the rows per
    thread are even (:func:`_place`); a worker's blocks of one reduction unit
    run in as few tasks as keep its threads busy. Elsewhere (threads), the
    blocks of a unit run in tasks of consecutive blocks, at least
    ``daskmix.min-tasks-per-thread`` per thread. Blocks still to be computed
    (read from a store, derived) get one task each, so that a worker holds
    few blocks at a time.
    """
    graph: dict = {}
    per_array = []
    materialised = True
    for array in arrays:
        keys = _chunk_keys(array)
        raw = array.__dask_graph__()
        graph.update(array.__dask_optimize__(raw, array.__dask_keys__()))
        for key, value in raw.items():
            if isinstance(value, TaskRef) and key not in graph:
                graph[key] = value  # a persisted chunk's future
        values = [graph[key] for key in keys]
        materialised = materialised and all(_is_materialised(v) for v in values)
        per_array.append(values)
    # the scheduler holds persisted chunks already: tasks name them by key, and
    # a pass sends no futures
    graph = {key: value for key, value in graph.items() if not _is_future(value)}
    block_keys = list(zip(*(_chunk_keys(array) for array in arrays)))
    n_blocks = len(block_keys)
    unit = unit_size(split_every, stats_nbytes, n_blocks)
    client = _client(schedule)
    placed: list = [None] * n_blocks
    caps: dict = {None: 1}
    if materialised:
        per_thread = config.get("min-tasks-per-thread")
        per_task = n_blocks // (per_thread * _scheduler_threads(schedule))
        caps[None] = int(np.clip(per_task, 1, unit))
    if materialised and client is not None:
        nthreads = client.nthreads()
        where = zip(*(_locations(client, values) for values in per_array))
        holders = [
            frozenset.intersection(*places) or frozenset.union(*places)
            if None not in places
            else frozenset()
            for places in where
        ]
        placed = _place(holders, arrays[0].chunks[0], nthreads)
        # the blocks run where they are placed, so more tasks than threads
        # would only add the scheduler's cost per task
        for worker, threads in nthreads.items():
            mine = sum(1 for w in placed if w == worker)
            caps[worker] = int(np.clip(mine // threads, 1, unit))
    runs, layouts, workers = _runs(placed, caps, unit, split_every)
    n_units = math.ceil(n_blocks / unit)
    key = (schedule, split_every, unit)
    small = small_statistics(split_every, stats_nbytes)
    return _PassTemplate(
        graph, block_keys, runs, layouts, workers, unit, n_units, small, key
    )


def _chunk_keys(array) -> list:
    """The key of each row block's chunk."""
    keys = list(array.__dask_keys__())
    return [k[0] for k in keys] if array.ndim == 2 else keys


@dataclass
class _Pass:
    """One dask pass: its graph, what the client fetches and how it ends.

    Attributes
    ----------
    graph : dict
    keys : list
        Keys whose values the client fetches.
    finish : tuple
        ``(func, args)``: the pass's total is ``func(*args, *values)``, the
        last addition of the tree, done on the client when the statistics are
        small and it has at most ``split_every`` inputs (one transfer less
        than a reduce task on a worker).
    placement : dict
        Block task -> the worker the template chose for it (empty unless the
        blocks are persisted on a distributed cluster).
    """

    graph: dict
    keys: list
    finish: tuple
    placement: dict


def _only(value):
    return value


def pass_graph(
    template: _PassTemplate,
    kernel,
    params,
    tile_rows: int,
    names: tuple[str, ...],
    block_starts: tuple[int, ...],
    name: str,
    split_every: int,
    params_bytes: int,
    client_finish: bool = True,
) -> _Pass:
    """The task graph of one dask pass and how its total comes back.

    Keys are new for every pass: a distributed scheduler keeps the old task of
    a key it still knows, so reusing keys across passes with new parameters
    could silently return the previous pass's statistics. ``names`` name the
    arrays of each block, ``block_starts`` give each block's first row (kernels
    see both through :class:`~daskmix._engine.tiles.Tile`). ``client_finish``
    lets a distributed client make the last addition of small statistics
    itself (one transfer between workers and one task less). ``params`` travel in
    every block task when that comes to at most ``daskmix.inline-params-bytes``
    (a worker then needs no transfer to start), else as one key.
    """
    token = uuid.uuid4().hex
    graph = dict(template.graph)
    if len(template.runs) * params_bytes <= config.get("inline-params-bytes"):
        params_arg = params
    else:
        params_key = f"daskmix-params-{token}"
        graph[params_key] = DataNode(params_key, params)
        params_arg = TaskRef(params_key)
    block_name = f"daskmix-{name}-estep-{token}"
    reduce_name = f"daskmix-reduce-{token}"
    by_unit: list[list] = [[] for _ in range(template.n_units)]
    placement = {}
    for index, ((unit, blocks, whole), layout, worker) in enumerate(
        zip(template.runs, template.layouts, template.workers)
    ):
        key = (block_name, index)
        if worker is not None:
            placement[key] = worker
        chunks = [TaskRef(k) for b in blocks for k in template.block_keys[b]]
        starts = tuple(block_starts[b] for b in blocks)
        if whole:
            sizes = tuple(len(members) for _, members, _ in layout)
            graph[key] = Task(
                key,
                _run_unit,
                kernel,
                params_arg,
                tile_rows,
                names,
                starts,
                sizes,
                split_every,
                *chunks,
            )
        else:
            graph[key] = Task(
                key,
                _run_stats,
                kernel,
                params_arg,
                tile_rows,
                names,
                starts,
                layout,
                *chunks,
            )
        by_unit[unit].append((key, layout))
    on_client = client_finish and template.small
    on_client = on_client and _client(template.key[0]) is not None
    if len(by_unit) == 1 and 1 < len(by_unit[0]) <= split_every and on_client:
        keys, layouts = zip(*by_unit[0])
        finish = (_add_unit, (list(layouts), split_every))
        return _Pass(graph, list(keys), finish, placement)
    level = []
    for unit, members in enumerate(by_unit):
        if len(members) == 1:
            level.append(members[0][0])
            continue
        key = (reduce_name, 0, unit)
        layouts = [layout for _, layout in members]
        refs = [TaskRef(k) for k, _ in members]
        graph[key] = Task(key, _add_unit, layouts, split_every, *refs)
        level.append(key)
    depth = 1
    while len(level) > 1:
        if on_client and len(level) <= split_every:
            return _Pass(graph, level, (_add_stats, ()), placement)
        next_level = []
        for start in range(0, len(level), split_every):
            key = (reduce_name, depth, start // split_every)
            refs = [TaskRef(k) for k in level[start : start + split_every]]
            graph[key] = Task(key, _add_stats, *refs)
            next_level.append(key)
        level = next_level
        depth += 1
    return _Pass(graph, level, (_only, ()), placement)


def compute_pass(schedule, work: _Pass) -> Stats:
    """Run a pass on ``schedule`` and return its total.

    A distributed client wraps a graph in an expression named by a token of
    the whole graph, which pickles every task reference three times: 170-310
    ms a pass at 1,000 blocks on the development machine, more than the tasks
    themselves. The pass's keys are unique already, so its expression gets a
    fresh name instead. The placement travels as loose worker restrictions:
    the scheduler prefers that worker and runs the task elsewhere if it is
    gone.
    """
    graph = work.graph
    if _client(schedule) is not None and _PassExpr is not None:
        annotations = {}
        if work.placement:
            annotations = {
                "workers": {key: [w] for key, w in work.placement.items()},
                "allow_other_workers": dict.fromkeys(work.placement, True),
            }
        try:
            graph = _PassExpr(graph, annotations, _determ_token=uuid.uuid4().hex)
        except TypeError:  # pragma: no cover - an Expr without named tokens
            pass
    values = cluster_events.gather(schedule, graph, work.keys)
    func, args = work.finish
    return func(*args, *values)
