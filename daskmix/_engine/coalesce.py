"""Tiny row blocks coalesced into the blocks a pass runs its kernel on.

A pass pays a fixed cost per block (a task, a :class:`~.tiles.Tile`, a kernel
call, one addition of statistics): tens of microseconds, which is nothing for
blocks of thousands of rows and everything for 100,000 blocks of ten rows.
Consecutive blocks smaller than ``daskmix.coalesce-bytes`` are therefore
grouped until a group holds at least that many bytes
(:func:`coalesced_groups`), and a pass runs the kernel once per group, on the
group's rows side by side. The groups depend on the chunking, the row width
and the setting alone, so numpy input read in dask's blocks, the threaded
scheduler and a cluster run the kernel on the same rows and add the same
statistics in the same tree: bit-identical totals for the same chunking (a
different chunking may change the rounding, as it always could).

For dask input whose chunks are still to be computed (read from a store,
generated, derived), a group of several chunks is read by one task
(:func:`read_group`), which computes the chunks' own tasks inside it with
dask's synchronous scheduler: the scheduler sees one task per group instead of
one (or more) per tiny chunk, and a worker holds one group at a time. Keys that
several groups depend on (the source array of ``da.from_array``, a store)
stay in the scheduler's graph and reach each group's task as arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import dask
import numpy as np
import scipy.sparse as sp
from dask.optimization import cull
from distributed import Future

#: ``(first, stop)``: a group of consecutive blocks ``first <= b < stop``
Group = tuple[int, int]


def coalesced_groups(
    row_chunks: Sequence[int], row_bytes: int, target_bytes: int
) -> tuple[Group, ...]:
    """Consecutive blocks grouped until each group holds ``target_bytes``.

    Parameters
    ----------
    row_chunks : sequence of int
        Rows of each block, in order.
    row_bytes : int
        Bytes of one row, all arrays together.
    target_bytes : int
        ``daskmix.coalesce-bytes``: a block of at least this many bytes
        stays alone; smaller consecutive blocks join a group until it holds
        at least this many bytes. 0 leaves every block alone.

    Returns
    -------
    tuple of (int, int)
        ``(first, stop)`` for each group, covering every block in order.
    """
    groups: list[Group] = []
    first, held = 0, 0
    for block, rows in enumerate(row_chunks):
        size = rows * row_bytes
        if block > first and (held >= target_bytes or size >= target_bytes):
            groups.append((first, block))
            first, held = block, 0
        held += size
    if len(row_chunks):
        groups.append((first, len(row_chunks)))
    return tuple(groups)


def joined(chunks: Sequence[np.ndarray]) -> np.ndarray:
    """The chunks of one array in a group, one after the other along rows.

    Sparse chunks stay sparse, so that the block's checks name them.
    """
    if len(chunks) == 1:
        return chunks[0]
    if any(sp.issparse(c) for c in chunks):
        return sp.vstack(chunks, format="csr")
    return np.concatenate(chunks, axis=0)


def _value(value):
    return value


def read_group(
    inner: dict, out_keys: tuple, shared_keys: tuple, *shared_values
) -> tuple[np.ndarray, ...]:
    """Task of a group of chunks still to compute: each array's rows, joined.

    ``inner`` holds the tasks only this group needs, ``out_keys`` the chunk
    keys of each array (a tuple per array, in row order), ``shared_keys`` the
    keys other groups need too, whose values the scheduler passes in.
    """
    graph = dict(inner)
    for key, value in zip(shared_keys, shared_values):
        graph[key] = (partial(_value, value),)
    flat = [key for keys in out_keys for key in keys]
    values = dask.get(graph, flat)
    out, at = [], 0
    for keys in out_keys:
        out.append(joined(values[at : at + len(keys)]))
        at += len(keys)
    return tuple(out)


def split_lazy_groups(
    graph: dict, groups_keys: list[tuple[tuple, ...]], kept_keys: list = ()
) -> tuple[list[dict], list[tuple], set]:
    """The inner graph and shared keys of each group read by one task.

    Parameters
    ----------
    graph : dict
        The arrays' graph.
    groups_keys : list of tuple of tuple
        For each group, the chunk keys of each array.
    kept_keys : list, optional
        Chunk keys that stay in the scheduler's graph (blocks read alone):
        what they need stays there too, even when one group needs it.

    Returns
    -------
    inners : list of dict
        The tasks each group alone needs (run inside its task).
    shared : list of tuple
        The keys each group needs that other groups (or no group: data the
        scheduler holds) need too, which stay in the scheduler's graph.
    moved : set
        Keys that moved into a group's task (to drop from the outer graph).
    """
    needs = []
    count: dict = {}
    if kept_keys:
        # a rechunked array's last, lone block can share a source chunk with
        # the group before it
        for key in cull(graph, list(kept_keys))[0]:
            count[key] = 1
    for keys in groups_keys:
        flat = [key for per_array in keys for key in per_array]
        culled, _ = cull(graph, flat)
        needs.append(culled)
        for key in culled:
            count[key] = count.get(key, 0) + 1
    inners, shared, moved = [], [], set()
    for culled in needs:
        # persisted chunks (futures) stay with the scheduler, which holds them
        own = {
            k: v
            for k, v in culled.items()
            if count[k] == 1 and not isinstance(v, Future)
        }
        inners.append(own)
        shared.append(tuple(k for k in culled if count[k] > 1))
        moved.update(own)
    return inners, shared, moved
