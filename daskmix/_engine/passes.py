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
a cluster give bit-identical sums for the same chunking. A pass's *blocks* are
the chunks, or groups of consecutive tiny chunks
(:mod:`daskmix._engine.coalesce`), fixed by the chunking too.

Only public dask and distributed APIs are used: tasks in dask's tuple form
with constants bound by :func:`functools.partial`, a plain dict for a local
scheduler, a ``HighLevelGraph`` with one annotated layer per worker through
``Client.get`` for a cluster (:func:`compute_pass`).
"""

from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass, fields, is_dataclass
from functools import partial

import dask
import dask.array as da
import dask.core
import numpy as np
from dask.array.utils import meta_from_array
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer
from dask.optimization import cull
from distributed import Client, Future

from .. import config
from . import cluster_events
from .coalesce import Group, joined, read_group, split_lazy_groups
from .stats import Stats, add_all, tree_sum
from .threads import restore_malloc_thresholds
from .tiles import Tile, block_stats, dask_block_rows

#: a run's layout: for each group it touches, in order, (group, blocks, whole)
Layout = tuple[tuple[int, tuple[int, ...], bool], ...]


# ------------------------------------------------------------------- tasks
def _block_arrays(n_arrays: int, widths, chunks):
    """Each block's arrays, lazily, in order (see :func:`_block_results`)."""
    at = 0
    for width in widths:
        if width == 0:
            yield list(chunks[at])
            at += 1
        else:
            yield [
                joined(chunks[at + a * width : at + (a + 1) * width])
                for a in range(n_arrays)
            ]
            at += n_arrays * width


def _block_results(kernel, params, tile_rows, names, starts, widths, chunks):
    """The statistics of each block of a task, lazily, in order.

    Block ``i`` starts at row ``starts[i]``. When ``widths[i]`` is positive,
    ``chunks`` holds that many chunks of each array for it, array after array,
    joined along rows; when it is 0, one value, the tuple of its arrays.
    """
    blocks = _block_arrays(len(names), widths, chunks)
    for first, arrays in zip(starts, blocks):
        block = Tile(dict(zip(names, arrays)), first)
        yield block_stats(kernel, block, params, tile_rows)


def _take_rows(n_arrays: int, width: int, local: np.ndarray, *chunks) -> list:
    """Task reading rows ``local`` (numbers within its block) of each array."""
    (arrays,) = _block_arrays(n_arrays, (width,), chunks)
    return [array[local] for array in arrays]


def _stack_rows(*parts: list) -> list:
    """The rows of every block read, array by array, in block order."""
    return [joined(pieces) for pieces in zip(*parts)]


def _run_stats(kernel, tile_rows, names, starts, widths, layout, params, *chunks):
    """Block task of a dask pass: ``kernel`` on one or more blocks, in order.

    ``chunks`` holds each block's chunks (:func:`_block_results`), and
    ``layout`` says how they fall into groups (:data:`Layout`). Returns, for
    each group touched, the group's left-to-right sum when the task holds the
    whole group, else the list of its blocks' statistics, which the unit's
    reduce task adds in block order with the other tasks' (:func:`_add_unit`).
    """
    restore_malloc_thresholds()
    blocks = _block_results(kernel, params, tile_rows, names, starts, widths, chunks)
    out: list = []
    for _, members, whole in layout:
        if whole:
            out.append(add_all(next(blocks) for _ in members))
        else:
            out.append([next(blocks) for _ in members])
    return out


def _run_unit(
    kernel, tile_rows, names, starts, widths, group_sizes, split_every, params, *chunks
):
    """Block task that holds every block of its unit: the unit's sum.

    ``group_sizes`` are the numbers of blocks of the unit's groups, in order;
    each group is added left to right, then the group sums in the tree of fan-in
    ``split_every`` (a unit starts at a multiple of its size, so this is the
    tree of the whole pass restricted to the unit).
    """
    restore_malloc_thresholds()
    blocks = _block_results(kernel, params, tile_rows, names, starts, widths, chunks)
    sums = [add_all(next(blocks) for _ in range(size)) for size in group_sizes]
    return tree_sum(sums, split_every)


def _with_chunks(func, chunks: list, params):
    """Block task whose chunks it carries: ``func(params, *chunks)``."""
    return func(params, *chunks)


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


def _params_value(params):
    """Task of a pass's parameters as a key of their own (returns them)."""
    return params


# ------------------------------------------------------------ the template
def _is_future(value) -> bool:
    return isinstance(value, Future)


def _is_materialised(node) -> bool:
    """Whether a graph value is data already (no computation to run)."""
    return _is_future(node) or not dask.core.istask(node)


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
    widths : list of int, optional
        For each block, how many chunks of each array its task receives and
        joins, or 0 when it receives one value, the tuple of its arrays' rows
        (a group read by :func:`daskmix._engine.coalesce.read_group`). None:
        one chunk each.
    bound : dict, optional
        Chunk key -> array, for materialised chunks on a local scheduler: the
        block tasks carry their chunks' arrays instead of naming their keys,
        and a pass's graph holds its own tasks alone (``graph`` is empty).
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
    widths: list | None = None
    bound: dict | None = None


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
    return client if isinstance(client, Client) else None


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
    arrays,
    schedule,
    split_every: int,
    stats_nbytes: int,
    groups: tuple[Group, ...] | None = None,
) -> _PassTemplate:
    """The part of a dask pass's graph that every pass shares.

    A pass's *blocks* are ``groups`` of consecutive chunks (by default one
    chunk each; :func:`daskmix._engine.coalesce.coalesced_groups` joins tiny
    chunks): the kernel runs once per group, on its chunks' rows side by side.
    Materialised blocks (persisted, or numpy wrapped by dask) share tasks. On
    a distributed cluster each block is placed on a worker holding it, then
    blocks move from the most to the least loaded workers until the rows per
    thread are even (:func:`_place`); a worker's blocks of one reduction unit
    run in as few tasks as keep its threads busy. Elsewhere (threads), the
    blocks of a unit run in tasks of consecutive blocks, at least
    ``daskmix.min-tasks-per-thread`` per thread. Blocks still to be computed
    (read from a store, derived) get one task each, so that a worker holds
    few blocks at a time; a group of several such chunks is read inside one
    task (:func:`daskmix._engine.coalesce.read_group`). Where blocks are held
    is asked once, here (``Client.who_has``), not every pass.
    """
    graph: dict = {}
    per_array = []
    chunk_keys = []
    for array in arrays:
        keys = _chunk_keys(array)
        raw = array.__dask_graph__()
        held = [raw[key] for key in keys]
        if all(isinstance(v, (np.ndarray, Future)) for v in held):
            # the chunks are data already (numpy, persisted): nothing to
            # optimise, which would cost dask a few seconds per 100,000 chunks
            graph.update(zip(keys, held))
            per_array.append(held)
            chunk_keys.append(keys)
            continue
        graph.update(_optimised_graph(array))
        per_array.append([graph[key] for key in keys])
        chunk_keys.append(keys)
    n_chunks = len(chunk_keys[0])
    if groups is None:
        groups = tuple((b, b + 1) for b in range(n_chunks))
    ready = [all(_is_materialised(v[b]) for v in per_array) for b in range(n_chunks)]
    materialised = all(ready)
    block_keys, widths, lazy = [], [], []
    for index, (first, stop) in enumerate(groups):
        if stop - first > 1 and not all(ready[first:stop]):
            lazy.append(index)
            block_keys.append(None)
            widths.append(0)
        else:
            block_keys.append(tuple(k for keys in chunk_keys for k in keys[first:stop]))
            widths.append(stop - first)
    if lazy:
        per_group = [
            tuple(tuple(keys[slice(*groups[g])]) for keys in chunk_keys) for g in lazy
        ]
        kept = [key for keys in block_keys if keys is not None for key in keys]
        inners, shared, moved = split_lazy_groups(graph, per_group, kept)
        graph = {k: v for k, v in graph.items() if k not in moved}
        read_name = f"daskmix-read-{uuid.uuid4().hex}"
        for g, out_keys, inner, needs in zip(lazy, per_group, inners, shared):
            key = (read_name, g)
            graph[key] = (partial(read_group, inner, out_keys, needs), *needs)
            block_keys[g] = (key,)
    client = _client(schedule)
    bound = None
    has_futures = any(_is_future(v) for values in per_array for v in values)
    if materialised and client is None and not has_futures:
        # a local scheduler would walk every chunk of the data every pass:
        # the chunks' arrays go into the block tasks instead (no copy)
        flat = [key for keys in block_keys for key in keys]
        values = [graph[key] for key in flat]
        if not all(isinstance(v, np.ndarray) for v in values):
            values = dask.get(graph, flat)
        bound = dict(zip(flat, values))
        graph = {}
    n_blocks = len(groups)
    unit = unit_size(split_every, stats_nbytes, n_blocks)
    placed: list = [None] * n_blocks
    caps: dict = {None: 1}
    if materialised:
        per_thread = config.get("min-tasks-per-thread")
        per_task = n_blocks // (per_thread * _scheduler_threads(schedule))
        caps[None] = int(np.clip(per_task, 1, unit))
    if materialised and client is not None:
        nthreads = client.nthreads()
        reads = _join_on_cluster(client, groups, per_array, chunk_keys)
        for group, joined_group in reads.items():
            block_keys[group] = (joined_group.key,)
            widths[group] = 0
            graph[joined_group.key] = joined_group
        # the chunks of joined groups are read from their joined copies alone
        dropped = {
            key
            for group in reads
            for keys in chunk_keys
            for key in keys[slice(*groups[group])]
        }
        graph = {k: v for k, v in graph.items() if k not in dropped}
        values = [
            [reads[g]]
            if g in reads
            else [v[b] for v in per_array for b in range(first, stop)]
            for g, (first, stop) in enumerate(groups)
        ]
        where = iter(_locations(client, [v for vs in values for v in vs]))
        holders = []
        for group_values in values:
            places = [next(where) for _ in group_values]
            holders.append(
                frozenset.intersection(*places) or frozenset.union(*places)
                if None not in places
                else frozenset()
            )
        rows = arrays[0].chunks[0]
        group_rows = [sum(rows[first:stop]) for first, stop in groups]
        placed = _place(holders, group_rows, nthreads)
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
        graph,
        block_keys,
        runs,
        layouts,
        workers,
        unit,
        n_units,
        small,
        key,
        widths,
        bound,
    )


def _collect(*chunks) -> list:
    """Task on the worker holding ``chunks``: them, as one value to send."""
    return list(chunks)


def _join_group(n_arrays: int, width: int, positions: list, *pieces) -> list:
    """Task joining a group's persisted chunks, array by array.

    ``pieces[i]`` holds the chunks at ``positions[i]`` of the group's chunk
    list (array after array, block after block), as one worker sent them.
    """
    chunks: list = [None] * sum(len(p) for p in positions)
    for where, piece in zip(positions, pieces):
        for position, chunk in zip(where, piece):
            chunks[position] = chunk
    (arrays,) = _block_arrays(n_arrays, (width,), chunks)
    return arrays


def _join_on_cluster(client, groups, per_array: list, chunk_keys: list) -> dict:
    """Groups of persisted chunks joined once on the cluster, as futures.

    A group's chunks are spread over the workers as they were persisted: a
    task reading them would fetch most of them from other workers every pass,
    one transfer per tiny chunk. Joined once, each group is one value on one
    worker, kept as long as the template (a second copy of those rows on the
    cluster). Each worker first collects its chunks of a group into one value
    (one transfer per worker and group, not per chunk). Returns group ->
    future, for groups of several chunks that are all futures.
    """
    n_arrays = len(per_array)
    chosen = {}
    for group, (first, stop) in enumerate(groups):
        members = [v[b] for v in per_array for b in range(first, stop)]
        if stop - first > 1 and all(_is_future(m) for m in members):
            chosen[group] = members
    if not chosen:
        return {}
    who_has = client.who_has([m for members in chosen.values() for m in members])
    futures = {}
    for group, members in chosen.items():
        by_worker: dict = {}
        for position, member in enumerate(members):
            holders = sorted(who_has.get(member.key, ()))
            by_worker.setdefault(holders[0] if holders else None, []).append(position)
        pieces, positions = [], []
        for worker, where in by_worker.items():
            placed = {} if worker is None else {"workers": [worker]}
            if worker is not None:
                placed["allow_other_workers"] = True
            pieces.append(
                client.submit(
                    _collect, *[members[i] for i in where], pure=False, **placed
                )
            )
            positions.append(where)
        (first, stop) = groups[group]
        futures[group] = client.submit(
            _join_group,
            n_arrays,
            stop - first,
            positions,
            *pieces,
            key=f"daskmix-join-{uuid.uuid4().hex}",
            pure=False,
        )
    cluster_events.settle(client, list(futures.values()))
    return futures


def settled(array: da.Array) -> da.Array:
    """``array`` over its optimised graph, so that its chunks have one form.

    Every read of a fit (passes, start rows, checks, mini-batches) then
    submits the same task under each chunk's key. Optimising each
    computation's graph on its own gave two forms of one key (a map_blocks
    chunk fused with its read, and unfused): a distributed scheduler given
    both by concurrent fits kept a task forever and then failed
    ``client.restart()`` with an AssertionError. Arrays whose chunks are data
    already (numpy, persisted), and settled arrays, come back as they are.

    Parameters
    ----------
    array : dask.array.Array
        Any shape.

    Returns
    -------
    dask.array.Array
        The same chunks and values, its graph one materialised layer.
    """
    raw = array.__dask_graph__()
    if _is_settled(array):
        return array
    keys = _chunk_keys(array)
    if all(isinstance(raw[key], (np.ndarray, Future)) for key in keys):
        return array
    return da.Array(
        _optimised_graph(array), array.name, array.chunks, meta=meta_from_array(array)
    )


def _is_settled(array: da.Array) -> bool:
    """Whether ``array``'s graph is one materialised layer named after it:
    optimising it again would give the same tasks, at half the first cost."""
    layers = getattr(array.__dask_graph__(), "layers", None)
    return (
        layers is not None
        and len(layers) == 1
        and isinstance(layers.get(array.name), MaterializedLayer)
    )


def _optimised_graph(array: da.Array) -> dict:
    """The optimised graph of ``array``'s chunks, persisted chunks kept."""
    raw = array.__dask_graph__()
    if _is_settled(array):
        return dict(raw)
    graph = dict(array.__dask_optimize__(raw, array.__dask_keys__()))
    # optimisation drops persisted chunks (futures): tasks name their
    # chunks by key, so the futures stay in the graph as the chunks' values
    keys = dask.core.flatten(array.__dask_keys__())
    graph.update((key, raw[key]) for key in keys if key not in graph)
    return graph


def _chunk_keys(array) -> list:
    """The key of each row block's chunk."""
    keys = list(array.__dask_keys__())
    return [k[0] for k in keys] if array.ndim == 2 else keys


@dataclass
class _Pass:
    """One dask pass: its tasks, what the client fetches and how it ends.

    Attributes
    ----------
    data : dict
        The arrays' graph, shared by every pass (the template's).
    graph : dict
        This pass's tasks, in dask's tuple form ``(func, *args)``, keys new
        for every pass.
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

    data: dict
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
    """The tasks of one dask pass and how its total comes back.

    Keys are new for every pass: a distributed scheduler keeps the old task of
    a key it still knows, so reusing keys across passes with new parameters
    could silently return the previous pass's statistics. ``names`` name the
    arrays of each block, ``block_starts`` give each block's first row (kernels
    see both through :class:`~daskmix._engine.tiles.Tile`). ``client_finish``
    lets a distributed client make the last addition of small statistics
    itself (one transfer between workers and one task less). ``params`` travel in
    every block task when that comes to at most ``daskmix.inline-params-bytes``
    (a worker then needs no transfer to start), else as one key.

    Tasks are dask's public tuple form, ``(func, *args)``: an argument that is
    a key of the graph stands for that key's value. Everything else a task
    needs (the kernel, the layout, inline parameters) is bound into ``func``
    with :func:`functools.partial`, so that dask never looks inside it.
    """
    token = uuid.uuid4().hex
    graph: dict = {}
    if len(template.runs) * params_bytes <= config.get("inline-params-bytes"):
        inline, params_ref = True, ()
    else:
        params_key = (f"daskmix-params-{token}", 0)
        graph[params_key] = (partial(_params_value, params),)
        inline, params_ref = False, (params_key,)
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
        chunks = [k for b in blocks for k in template.block_keys[b]]
        starts = tuple(block_starts[b] for b in blocks)
        widths = tuple(
            1 if template.widths is None else template.widths[b] for b in blocks
        )
        if whole:
            sizes = tuple(len(members) for _, members, _ in layout)
            func = partial(
                _run_unit, kernel, tile_rows, names, starts, widths, sizes, split_every
            )
        else:
            func = partial(_run_stats, kernel, tile_rows, names, starts, widths, layout)
        if template.bound is not None:
            func = partial(_with_chunks, func, [template.bound[k] for k in chunks])
            chunks = []
        if inline:
            func = partial(func, params)
        graph[key] = (func, *params_ref, *chunks)
        by_unit[unit].append((key, layout))
    on_client = client_finish and template.small
    on_client = on_client and _client(template.key[0]) is not None
    data = template.graph
    if len(by_unit) == 1 and 1 < len(by_unit[0]) <= split_every and on_client:
        keys, layouts = zip(*by_unit[0])
        finish = (_add_unit, (list(layouts), split_every))
        return _Pass(data, graph, list(keys), finish, placement)
    level = []
    for unit, members in enumerate(by_unit):
        if len(members) == 1:
            level.append(members[0][0])
            continue
        key = (reduce_name, 0, unit)
        layouts = [layout for _, layout in members]
        refs = [k for k, _ in members]
        graph[key] = (partial(_add_unit, layouts, split_every), *refs)
        level.append(key)
    depth = 1
    while len(level) > 1:
        if on_client and len(level) <= split_every:
            return _Pass(data, graph, level, (_add_stats, ()), placement)
        next_level = []
        for start in range(0, len(level), split_every):
            key = (reduce_name, depth, start // split_every)
            graph[key] = (_add_stats, *level[start : start + split_every])
            next_level.append(key)
        level = next_level
        depth += 1
    return _Pass(data, graph, level, (_only, ()), placement)


def rows_graph(
    template: _PassTemplate, n_arrays: int, bounds: np.ndarray, rows: np.ndarray
) -> _Pass:
    """The tasks reading chosen ``rows`` (sorted) of the template's blocks.

    ``bounds`` are the blocks' first rows and the number of rows. One task
    per block holding any of the rows; the client joins what they return
    (:func:`_stack_rows`), in the order of ``rows``.
    """
    token = uuid.uuid4().hex
    graph: dict = {}
    needed: list = []
    which = np.searchsorted(bounds, rows, side="right") - 1
    cuts = np.flatnonzero(np.diff(which)) + 1
    for block_rows in np.split(np.arange(rows.size), cuts):
        if not block_rows.size:
            continue
        block = int(which[block_rows[0]])
        local = rows[block_rows] - bounds[block]
        chunks = list(template.block_keys[block])
        width = 1 if template.widths is None else template.widths[block]
        func = partial(_take_rows, n_arrays, width, local)
        if template.bound is not None:
            func = partial(func, *[template.bound[k] for k in chunks])
            chunks = []
        key = (f"daskmix-rows-{token}", block)
        graph[key] = (func, *chunks)
        needed.extend(chunks)
    data = cull(template.graph, needed)[0] if needed else {}
    return _Pass(data, graph, list(graph), (_stack_rows, ()), {})


def _group_rows(
    names,
    flat,
    fn,
    tile_rows,
    n_columns,
    dtype,
    allow_nan,
    start,
    width,
    params,
    *chunks,
):
    """Output task of per-row ``fn`` over one group of blocks (joined)."""
    (arrays,) = _block_arrays(len(names), (width,), chunks)
    columns = [a if a.ndim == 2 else a[:, None] for a in arrays]
    where = {0: {"array-location": [(start, start + len(columns[0]))]}}
    return dask_block_rows(
        *columns,
        names,
        params,
        fn,
        tile_rows,
        flat,
        n_columns,
        dtype,
        allow_nan,
        block_info=where,
    )


def grouped_rows(
    template: _PassTemplate,
    names: tuple[str, ...],
    flat: tuple[bool, ...],
    starts: tuple[int, ...],
    group_rows: tuple[int, ...],
    fn,
    params,
    tile_rows: int,
    n_columns: int | None,
    dtype,
    allow_nan: bool,
):
    """Per-row ``fn`` as a lazy dask array with one chunk per group of blocks.

    The per-row outputs of many tiny blocks: one task per group (read like a
    pass's), instead of one per tiny block. ``flat`` says which arrays are
    1-D; ``starts`` and ``group_rows`` give each group's first row and rows.
    """
    name = f"daskmix-predict-{uuid.uuid4().hex}"
    layer = dict(template.graph)
    params_key = (f"{name}-params", 0)
    layer[params_key] = (partial(_params_value, params),)
    dtype = np.dtype(dtype)
    for group, start in enumerate(starts):
        chunks = list(template.block_keys[group])
        width = 1 if template.widths is None else template.widths[group]
        func = partial(
            _group_rows,
            names,
            flat,
            fn,
            tile_rows,
            n_columns,
            dtype,
            allow_nan,
            start,
            width,
        )
        if template.bound is not None:
            func = partial(_with_chunks, func, [template.bound[k] for k in chunks])
            chunks = []
        key = (name, group) if n_columns is None else (name, group, 0)
        layer[key] = (func, params_key, *chunks)
    graph = HighLevelGraph.from_collections(name, layer, dependencies=())
    chunks = (group_rows,) if n_columns is None else (group_rows, (n_columns,))
    meta = np.empty((0,) * len(chunks), dtype=dtype)
    return da.Array(graph, name, chunks, meta=meta)


def _cluster_graph(work: _Pass) -> HighLevelGraph:
    """A pass as a high-level graph: its block tasks in one layer per worker.

    A layer's annotations place its tasks: the scheduler prefers the worker
    the template chose and runs a task elsewhere if that worker is gone
    (``allow_other_workers``). A distributed client names a high-level graph
    without hashing its tasks; a plain dict it would tokenise whole (170-310 ms
    a pass at 1,000 blocks on the development machine).
    """
    token = uuid.uuid4().hex
    data_name = f"daskmix-data-{token}"
    layers: dict = {data_name: MaterializedLayer(work.data)}
    dependencies: dict = {data_name: set()}
    by_worker: dict = {}
    for key, task in work.graph.items():
        by_worker.setdefault(work.placement.get(key), {})[key] = task
    rest = by_worker.pop(None, {})
    for index, (worker, tasks) in enumerate(by_worker.items()):
        name = f"daskmix-placed-{index}-{token}"
        placed = {"workers": [worker], "allow_other_workers": True}
        layers[name] = MaterializedLayer(tasks, annotations=placed)
        dependencies[name] = {data_name}
    rest_name = f"daskmix-pass-{token}"
    layers[rest_name] = MaterializedLayer(rest)
    dependencies[rest_name] = set(layers) - {rest_name}
    return HighLevelGraph(layers, dependencies)


def compute_pass(schedule, work: _Pass) -> Stats:
    """Run a pass on ``schedule`` and return its total.

    The threaded (or any local) scheduler gets one plain dict graph; a
    distributed client gets a high-level graph (:func:`_cluster_graph`)
    through ``Client.get``.
    """
    if _client(schedule) is not None:
        values = cluster_events.gather(schedule, _cluster_graph(work), work.keys)
    else:
        values = schedule({**work.data, **work.graph}, work.keys)
    func, args = work.finish
    return func(*args, *values)
