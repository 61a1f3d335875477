"""Mini-batches of random rows: drawn on the client, read in short windows.

A stepwise fit draws its mini-batches a group at a time (:func:`draw_batches`)
and reads a group in one ``compute`` (:func:`read_batches`). For numpy input
every row costs the same to read, and a batch is ``batch_size`` rows drawn
uniformly from all of them. For dask input, whose rows may sit on disk, a
batch is ``daskmix.windows-per-batch`` (dask config) *windows*: runs of
consecutive rows, one starting at a random row of each of that many equal
strata of the data. A dask array read straight from a chunked store
(``da.from_zarr``, or ``da.from_array`` of an object with a ``chunks``
attribute, such as an HDF5 dataset) is read window by window from the store,
which reads only the store chunks the windows overlap; any other dask array
(persisted, derived, wrapped numpy) is read a block at a time, each block that
holds rows of the group once, with only those rows travelling back.

Draws happen on the client from ``random_state`` alone, so the same state and
chunking give the same batches on any scheduler; how the rows are read does
not change which rows a batch holds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import dask
import dask.array as da
import dask.core
import numpy as np
from dask.delayed import Delayed
from dask.optimization import cull

from .. import config
from . import cluster_events
from .namespaces import device, namespace
from .rows import RowBlocks, _blas_guard
from .tiles import _check_dense


@dataclass(frozen=True)
class BatchDraw:
    """The rows of a group of mini-batches.

    Attributes
    ----------
    rows : list of ndarray
        Per batch, its global row numbers, sorted (repeats possible).
    """

    rows: list[np.ndarray]

    def pooled(self, unique: bool = False) -> BatchDraw:
        """All the batches' rows as one batch (sorted; ``unique``: no repeats)."""
        rows = np.sort(np.concatenate(self.rows))
        return BatchDraw([np.unique(rows) if unique else rows])


def draw_batches(
    data: RowBlocks,
    n_batches: int,
    batch_size: int,
    random_state: np.random.RandomState,
    windows_per_batch: int | None = None,
) -> BatchDraw:
    """Draw ``n_batches`` mini-batches of ``batch_size`` rows, on the client.

    numpy input: each batch is ``batch_size`` rows drawn uniformly with
    replacement from all rows.

    dask input: each batch is made of ``m = min(windows_per_batch,
    batch_size)`` windows of its own, one per stratum: the rows are cut into
    ``m`` equal strata, and window ``i`` starts at row
    ``floor((i + u_i) * n_samples / m)`` with ``u_i`` uniform in [0, 1), then
    runs circularly within the block (of ``n_k`` rows) holding its start over
    ``w = ceil(batch_size / m)`` rows: local rows ``o, o + 1, ...`` modulo
    ``n_k`` (a block shorter than ``w`` is wrapped round more than once).
    When ``m * w > batch_size``, a uniformly random ``batch_size`` of the
    ``m * w`` rows are kept.

    Why the batch statistics stay unbiased: the strata tile the rows, so every
    row is the start of some window with probability ``m / n_samples``
    exactly (summing over strata), hence every row of a block starts a window
    with the same probability; a circular window of ``w`` rows then contains
    each row of its block as often, on average, whatever the row's place in
    the block; so every row is expected ``m * w / n_samples`` times among the
    windows, and ``batch_size / n_samples`` times after the uniform thinning.
    A batch's statistics scaled by ``n_samples / batch_size`` therefore have
    the full-data statistics as expectation. Windows make neighbouring rows
    travel together, which adds variance where neighbours are alike, never
    bias; the strata make every batch span the whole data evenly, so data
    that arrive sorted (by class, by time) give batches with the right mix,
    where whole consecutive blocks would give biased ones.

    Parameters
    ----------
    data : RowBlocks
    n_batches : int
        Batches in the group (read together by :func:`read_batches`).
    batch_size : int
        Rows per batch, at most ``data.n_samples``.
    random_state : RandomState
        Drawn from on the client only.
    windows_per_batch : int, optional
        Windows per batch of dask input (default: ``daskmix.windows-per-batch``).

    Returns
    -------
    BatchDraw
    """
    if not data.from_dask:
        return BatchDraw(
            [
                np.sort(random_state.randint(0, data.n_samples, size=batch_size))
                for _ in range(n_batches)
            ]
        )
    block_rows = np.asarray(data.row_chunks, dtype=np.int64)
    block_starts = np.concatenate([[0], np.cumsum(block_rows)[:-1]])
    if windows_per_batch is None:
        windows_per_batch = config.get("windows-per-batch")
    n_windows = min(windows_per_batch, batch_size)
    width = -(-batch_size // n_windows)
    steps = np.arange(width)
    strata = np.arange(n_windows)
    rows = []
    for _ in range(n_batches):
        starts = np.floor(
            (strata + random_state.random_sample(n_windows))
            * (data.n_samples / n_windows)
        ).astype(np.int64)
        starts = np.minimum(starts, data.n_samples - 1)  # rounding at the end
        blocks = np.searchsorted(block_starts, starts, side="right") - 1
        sizes = block_rows[blocks][:, None]
        local = (starts[:, None] - block_starts[blocks][:, None] + steps) % sizes
        batch = (block_starts[blocks][:, None] + local).ravel()
        if batch.size > batch_size:
            batch = batch[random_state.permutation(batch.size)[:batch_size]]
        rows.append(np.sort(batch).astype(np.intp, copy=False))
    return BatchDraw(rows)


def storage_of(array: da.Array):
    """The chunked store a dask array reads its blocks from, when only that.

    ``da.from_zarr(...)`` and ``da.from_array(store)`` of an object with
    integer ``chunks`` (a zarr array, a chunked HDF5 dataset) give a graph of
    two layers: the store itself and one read per block. Such an array can be
    read by row slices of the store directly. Anything else (a persisted or
    derived array, wrapped numpy, ``inline_array=True``) returns None.
    """
    graph = array.__dask_graph__()
    layers = getattr(graph, "layers", None)
    if layers is None or len(layers) != 2:
        return None
    sources = graph.dependencies.get(array.name, set())
    if len(sources) != 1:
        return None
    (source_name,) = sources
    if source_name not in layers or graph.dependencies.get(source_name):
        return None
    values = list(dict(layers[source_name]).values())
    if len(values) != 1:
        return None
    store = getattr(values[0], "value", values[0])  # a DataNode's value
    chunks = getattr(store, "chunks", None)
    if (
        not isinstance(chunks, tuple)
        or not chunks
        or not all(isinstance(c, (int, np.integer)) for c in chunks)
        or tuple(getattr(store, "shape", ())) != array.shape
        or np.dtype(getattr(store, "dtype", object)) != array.dtype
    ):
        return None
    return store


def _read_store_rows(store, ranges: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` (sorted, global) of ``store``, read as the row ``ranges``."""
    read = np.concatenate([np.asarray(store[start:stop]) for start, stop in ranges])
    lengths = ranges[:, 1] - ranges[:, 0]
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    which = np.searchsorted(ranges[:, 0], rows, side="right") - 1
    return read[offsets[which] + rows - ranges[which, 0]]


def _take_rows(block, local_rows: np.ndarray, name: str) -> np.ndarray:
    _check_dense({name: block})
    return np.asarray(block)[local_rows]


def _ranges(rows: np.ndarray, merge_gap: int) -> np.ndarray:
    """``[start, stop)`` ranges covering sorted unique ``rows``.

    Ranges closer than ``merge_gap`` rows are joined: with store chunks of
    ``merge_gap`` rows, the rows between them lie in chunks that the two
    ranges read anyway, so the join reads no more chunks and reads each
    shared chunk once.
    """
    breaks = np.flatnonzero(np.diff(rows) > max(merge_gap, 1)) + 1
    starts = rows[np.concatenate([[0], breaks])]
    stops = rows[np.concatenate([breaks - 1, [rows.size - 1]])] + 1
    return np.column_stack([starts, stops])


def read_batches(data: RowBlocks, draw: BatchDraw) -> list[dict[str, np.ndarray]]:
    """Read the rows of a group of mini-batches (one ``compute`` for dask input).

    Parameters
    ----------
    data : RowBlocks
    draw : BatchDraw
        From :func:`draw_batches` on the same ``data``.

    Returns
    -------
    list of dict of str to ndarray
        For each batch, its rows of every array by name (numpy, in the order
        of ``draw.rows``). For dask input, one task per block holding rows of
        the group sends back only those rows. An array read straight from a
        chunked store (:func:`storage_of`) is read there as row ranges of the
        store (ranges of one block closer than one store chunk joined, so that
        a chunk is read once); any other array's block is computed whole,
        once.
    """
    if data.on_device:
        xp = namespace(data.X)
        where = [xp.asarray(rows, device=device(data.X)) for rows in draw.rows]
        return [
            {name: xp.take(a, rows, axis=0) for name, a in zip(data.names, data.arrays)}
            for rows in where
        ]
    if not data.is_dask:
        return [
            {name: array[rows] for name, array in zip(data.names, data.arrays)}
            for rows in draw.rows
        ]
    needed = np.unique(np.concatenate(draw.rows))
    buffers = _read_needed(data, needed)
    return [
        {
            name: buffer[np.searchsorted(needed, rows)]
            for name, buffer in zip(data.names, buffers)
        }
        for rows in draw.rows
    ]


def _read_needed(data: RowBlocks, needed: np.ndarray) -> list[np.ndarray]:
    """The rows ``needed`` (sorted, unique, not empty) of every array of dask
    ``data``, in one ``compute``: store row ranges, or the blocks' rows."""
    # the store shows in the graph as given; the settled graph is one layer
    stores = [storage_of(given) for given in data.given_arrays]
    block_starts = np.concatenate([[0], np.cumsum(data.row_chunks)])
    block_of = np.searchsorted(block_starts, needed, side="right") - 1
    token = uuid.uuid4().hex
    cuts = np.flatnonzero(np.diff(block_of)) + 1
    per_block = [
        (block_of[chunk[0]], needed[chunk])
        for chunk in np.split(np.arange(needed.size), cuts)
    ]
    tasks = []
    for position, (name, array, store) in enumerate(
        zip(data.names, data.arrays, stores)
    ):
        read_name = f"daskmix-read-rows-{position}-{token}"
        if store is None:
            # one graph: the array's tasks for the blocks read, and a task
            # per block read (to_delayed would optimise the whole graph again
            # and make a delayed object per chunk, each carrying the graph:
            # 6 s at 100,000 chunks)
            keys = list(dask.core.flatten(array.__dask_keys__()))
            graph, reads = {}, []
            for i, (block, rows) in enumerate(per_block):
                graph[(read_name, i)] = (
                    _take_rows,
                    keys[block],
                    rows - block_starts[block],
                    name,
                )
                reads.append((read_name, i))
            graph[(read_name, "all")] = (list, reads)
            read_blocks = [keys[block] for block, _ in per_block]
            graph.update(cull(dict(array.__dask_graph__()), read_blocks)[0])
            tasks.append(Delayed((read_name, "all"), graph))
            continue
        source = dask.delayed(
            store, name=f"daskmix-store-{position}-{token}", traverse=False
        )
        chunk_rows = int(store.chunks[0])
        tasks.append(
            [
                dask.delayed(_read_store_rows)(
                    source,
                    _ranges(rows, chunk_rows),
                    rows,
                    dask_key_name=(read_name, i),
                )
                for i, (_, rows) in enumerate(per_block)
            ]
        )
    with _blas_guard():
        (taken,) = cluster_events.compute(tasks)
    buffers = []
    for name, pieces in zip(data.names, taken):
        for piece in pieces:
            _check_dense({name: piece})
        buffers.append(np.concatenate([np.asarray(piece) for piece in pieces]))
    return buffers


def read_rows(data: RowBlocks, indices) -> dict[str, np.ndarray]:
    """The rows ``indices`` of every array of ``data``, read where they lie.

    What a start reads: its sample, a few drawn rows, the first rows. For
    numpy and device input this is :meth:`RowBlocks.take_rows`. For dask
    input it reads as :func:`read_batches` does: an array read straight from
    a chunked store (:func:`storage_of`) is read as row ranges of the store,
    so only the store chunks holding the rows are read, and any other array
    only in the blocks holding the rows (indexing the dask array instead
    would read every such block whole from its store). Within
    :meth:`RowBlocks.sharing_reads`, the same rows asked again come from
    memory.

    Parameters
    ----------
    data : RowBlocks
    indices : array-like of int
        Global row numbers, in any order, repeats allowed.

    Returns
    -------
    dict of str to ndarray
        Every array's rows, in the order of ``indices``.
    """
    indices = np.asarray(indices, dtype=np.intp)
    if data.on_device or not data.is_dask or indices.size == 0:
        return data.take_rows(indices)

    def read() -> dict[str, np.ndarray]:
        needed, where = np.unique(indices, return_inverse=True)
        buffers = _read_needed(data, needed)
        return {name: b[where] for name, b in zip(data.names, buffers)}

    # a fixed generator: the reuse is keyed on the rows alone
    taken = data.shared_draw(
        ("read_rows", indices.tobytes()), np.random.RandomState(0), read
    )
    return dict(taken)


def next_batches(
    data: RowBlocks,
    n_batches: int,
    batch_size: int,
    random_state: np.random.RandomState,
) -> list[dict[str, np.ndarray]]:
    """:func:`read_batches` of :func:`draw_batches`: a group of batches, read."""
    return read_batches(data, draw_batches(data, n_batches, batch_size, random_state))


def read_pooled(
    data: RowBlocks,
    n_batches: int,
    batch_size: int,
    random_state: np.random.RandomState,
    unique: bool = False,
) -> dict[str, np.ndarray]:
    """The rows of ``n_batches`` batches drawn as training batches are, as one.

    Sorted by row number; ``unique`` drops repeated rows.
    """
    draw = draw_batches(data, n_batches, batch_size, random_state)
    return read_batches(data, draw.pooled(unique))[0]
