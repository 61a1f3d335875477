"""The only module that talks to dask.

A :class:`RowBlocks` wraps row-aligned arrays (``X`` and, for regressions,
``y``), numpy or dask, split into blocks of rows. Models hand it *block
kernels*: pure functions ``kernel(*block_arrays, params) -> Stats`` on numpy
arrays that never import dask. The engine

* maps a kernel over every row block and adds the results in a fixed tree
  (:meth:`RowBlocks.map_reduce`): one pass over the data, one ``compute``;
* maps a per-row function over the blocks for predictions
  (:meth:`RowBlocks.map_rows`): numpy in, numpy out; dask in, lazy dask out;
* reads a few chosen rows (:meth:`RowBlocks.take_rows`) for initialisers, and
  draws and reads mini-batches of random rows from randomly chosen blocks
  (:meth:`RowBlocks.batch_indices`, :meth:`RowBlocks.read_batches`).

numpy input runs on a thread pool over row blocks with BLAS held to one thread
per block; dask input runs on whatever scheduler dask would use (threads by
default, the active ``distributed.Client`` if there is one). Inside a block the
kernel sees *tiles* of at most ``tile_rows`` rows, which bounds the size of its
temporaries whatever the chunk size of the user's dask array.

Empty row blocks (``X[mask].compute_chunk_sizes()`` makes them) contribute
nothing: passes skip them, and per-row outputs keep them as empty blocks so
that output chunks line up with the input's. Blocks of a dask array are
checked as they are read: sparse blocks raise a TypeError, and non-finite
values raise the ValueError numpy input gets (per-row outputs) or reach
``check_pass`` through non-finite statistics (passes, where kernels run with
floating-point warnings silenced so that the error comes first).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

import dask
import dask.array as da
import dask.threaded
import numpy as np
import scipy.sparse as sp
from dask._task_spec import DataNode, GraphNode, Task, TaskRef
from dask.delayed import Delayed
from threadpoolctl import ThreadpoolController

from .stats import Stats, add_all, tree_sum

#: rows per numpy block are at least this many (fewer blocks, less overhead)
MIN_BLOCK_ROWS = 4096
#: fan-in of the tree reduction of block statistics (see docs/performance.rst)
SPLIT_EVERY = 16
#: a dask pass over materialised blocks (persisted, or numpy wrapped by dask)
#: runs the kernel on up to SPLIT_EVERY blocks of one reduction group held by
#: one worker per task, keeping at least this many tasks per scheduler thread
MIN_TASKS_PER_THREAD = 4
#: most blocks one mini-batch reads (dask input); see RowBlocks.batch_indices.
#: On 2M rows sorted by component in 40 blocks (bench_minibatch.py), batches of
#: 8 blocks ended 0.33-0.55 nats short of batch EM, 16 blocks 0.008-0.020 and
#: 32 blocks 0.006-0.007 (seeds 0-2) in the same time.
BLOCKS_PER_BATCH = 32

#: per-thread budget, in bytes, for a kernel's temporaries that grow with the
#: rows of a tile (see default_tile_rows)
TILE_BUDGET_BYTES = 5 * 2**20

SPARSE_MESSAGE = (
    "Sparse input is not supported: {name} is a dask array of sparse blocks "
    "({kind}). Convert it to dense blocks first, e.g. "
    "{name}.map_blocks(lambda b: b.toarray()), if it fits in memory block by block."
)

Kernel = Callable[..., Stats]


def n_threads() -> int:
    """Threads used for numpy input: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


@lru_cache(maxsize=1)
def _thread_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=n_threads(), thread_name_prefix="daskmix")


def default_tile_rows(row_width: int, budget_bytes: int = TILE_BUDGET_BYTES) -> int:
    """Rows per tile so that a ``(tile_rows, row_width)`` temporary stays small.

    Parameters
    ----------
    row_width : int
        The widest per-row temporary the kernel builds, in float64 values (for
        a full-covariance E-step that is ``n_components * n_features``).
    budget_bytes : int
        Per-thread budget for one such temporary: ``tile_rows * row_width *
        8 <= budget_bytes`` whatever ``row_width`` is, down to one-row tiles.
        The default, 5 MiB per thread (640K float64 values; 8192 rows for
        K*D = 80), is where the full-covariance kernel measured fastest on a
        2-core AMD EPYC: 4096-row tiles were 10% slower (call overhead),
        13107-row tiles 40% slower (the temporaries fall out of cache). A
        kernel's temporaries are a few such arrays, so a fit's working memory
        is a small multiple of ``budget_bytes`` per thread, on top of the data
        blocks being read and the statistics (the size of the parameters).

    Returns
    -------
    int
        Between 1 and 16384.
    """
    return int(np.clip(budget_bytes // (8 * max(row_width, 1)), 1, 16384))


def _slices(n_rows: int, step: int) -> list[slice]:
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def _array_name(position: int) -> str:
    return ("X", "y")[position] if position < 2 else f"array {position}"


def _check_dense(block_arrays: Sequence) -> None:
    """Raise a TypeError for sparse blocks (a dask array of scipy.sparse chunks)."""
    for position, array in enumerate(block_arrays):
        if sp.issparse(array) or type(array).__module__.split(".")[0] == "sparse":
            raise TypeError(
                SPARSE_MESSAGE.format(
                    name=_array_name(position), kind=type(array).__name__
                )
            )


def is_finite_block(array: np.ndarray) -> bool:
    """Whether every value is finite, without floating-point warnings.

    One sum over the array decides in the common case (NaN and infinity
    propagate through it); only when the sum is not finite, which also
    happens when finite values overflow, are the values tested one by one.
    """
    if array.dtype.kind not in "fc":
        return True
    with np.errstate(all="ignore"):
        if np.isfinite(np.sum(array)):
            return True
    return bool(np.isfinite(array).all())


def _block_stats(
    kernel: Kernel, block_arrays: Sequence[np.ndarray], params, tile_rows: int
) -> Stats:
    """Run ``kernel`` over the tiles of one block and add the tile results.

    NaN or infinity in the block give non-finite statistics, which the
    drivers report with the array's name (``check_pass``): the kernel runs
    with floating-point warnings silenced, so that this error is the first
    thing a user sees, not numpy's RuntimeWarnings.
    """
    _check_dense(block_arrays)
    n_rows = block_arrays[0].shape[0]
    with np.errstate(all="ignore"):
        # a generator: one tile's statistics alive at a time besides the total
        return add_all(
            kernel(*(array[tile] for array in block_arrays), params)
            for tile in _slices(n_rows, tile_rows)
        )


def _block_rows(
    block_arrays: Sequence[np.ndarray],
    fn,
    params,
    tile_rows: int,
    n_columns: int | None = None,
    dtype=np.float64,
):
    """Apply a per-row function over the tiles of one block and stack the rows.

    An empty block gives an empty result of shape (0,) or (0, n_columns).
    """
    n_rows = block_arrays[0].shape[0]
    if n_rows == 0:
        shape = (0,) if n_columns is None else (0, n_columns)
        return np.empty(shape, dtype=dtype)
    pieces = [
        fn(*(array[tile] for array in block_arrays), params)
        for tile in _slices(n_rows, tile_rows)
    ]
    return np.concatenate(pieces, axis=0)


def _dask_block_rows(*args):
    """``map_blocks`` adapter: check the blocks, then run :func:`_block_rows`.

    Row-aligned 1-D arrays travel as (n, 1) so that their blocks line up with
    X's; ``flat`` says which ones to give back to ``fn`` as 1-D. A block with
    NaN or infinity raises the ValueError that numpy input gets from
    validation, naming the array.
    """
    *block_arrays, params, fn, tile_rows, flat, n_columns, dtype = args
    _check_dense(block_arrays)
    for position, array in enumerate(block_arrays):
        if not is_finite_block(array):
            raise ValueError(f"Input {_array_name(position)} contains NaN or infinity.")
    block_arrays = [
        array[:, 0] if is_flat else array for array, is_flat in zip(block_arrays, flat)
    ]
    return _block_rows(block_arrays, fn, params, tile_rows, n_columns, dtype)


def _take_local_rows(
    block_arrays: Sequence[np.ndarray], local_rows: Sequence[np.ndarray]
) -> list[list[np.ndarray]]:
    """Rows ``local_rows[b]`` of one block, for every batch ``b`` and array."""
    _check_dense(block_arrays)
    return [[np.asarray(array)[rows] for array in block_arrays] for rows in local_rows]


@lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()


class _BlasHold:
    """Process-wide state of :func:`one_blas_thread`: holders, owner, saved limits."""

    def __init__(self):
        self.lock = threading.Lock()
        self.users = 0
        self.owner: int | None = None
        self.limiter = None
        self.depth = threading.local()


_blas_hold = _BlasHold()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Context manager holding BLAS to one thread, process-wide.

    BLAS thread counts are process-wide settings, so the hold is too: when no
    hold is active, the entering thread becomes the owner, saves the current
    settings and sets one thread; threads entering while a hold is active
    only count themselves in, and nested entries in one thread count once.
    The owner restores the saved settings exactly when it leaves, and only
    the owner does: the OpenBLAS builds shipped with numpy and scipy (0.3.30
    and 0.3.31 measured) ignore a thread's setting once the main thread has
    made one, so a restore left to another thread could be lost. Holders
    still inside then run with the caller's settings until they leave (a new
    entrant takes the hold again). Two fits in concurrent threads therefore
    leave BLAS as they found it.

    Uses one cached ``ThreadpoolController``: ``threadpool_limits()`` rescans
    the process's loaded libraries on every call (2 ms measured here), which
    was 40% of a mini-batch fit made of many small steps.
    """
    hold = _blas_hold
    me = threading.get_ident()
    depth = getattr(hold.depth, "value", 0)
    if depth == 0:
        with hold.lock:
            if hold.limiter is None:
                hold.limiter = _blas_controller().limit(limits=1, user_api="blas")
                hold.owner = me
            hold.users += 1
    hold.depth.value = depth + 1
    try:
        yield
    finally:
        hold.depth.value = depth
        if depth == 0:
            with hold.lock:
                hold.users -= 1
                if hold.owner == me and hold.limiter is not None:
                    limiter, hold.limiter, hold.owner = hold.limiter, None, None
                    limiter.restore_original_limits()


def _after_fork_in_child() -> None:
    """A forked child has only the forking thread: drop state tied to others.

    The cached thread pool believes its worker threads exist (a fit in the
    child would wait for them forever), and the BLAS hold's lock may have been
    held by a thread that is gone. GNU OpenMP (scikit-learn's k-means, which
    the k-means|| seeding runs) hangs in a forked child at its first parallel
    region if the parent ran one, so the child runs OpenMP code on one thread.
    """
    global _blas_hold
    _thread_pool.cache_clear()
    _blas_controller.cache_clear()
    _blas_hold = _BlasHold()
    _blas_controller().limit(limits=1, user_api="openmp")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _scheduler_is_local_threads() -> bool:
    return dask.base.get_scheduler() is dask.threaded.get


def _blas_guard():
    """Hold BLAS to one thread while our own threads run kernels in parallel."""
    if _scheduler_is_local_threads():
        return one_blas_thread()
    return nullcontext()


def _without_empty_blocks(arrays: Sequence[da.Array]) -> tuple[da.Array, ...]:
    """Dask arrays with their 0-row blocks left out (no data move: block selection).

    The arrays share X's row chunks; any that does not is rechunked to X's first.
    """
    row_chunks = arrays[0].chunks[0]
    keep = [i for i, rows in enumerate(row_chunks) if rows > 0]
    return tuple(
        (a if a.chunks[0] == row_chunks else a.rechunk({0: row_chunks})).blocks[keep]
        for a in arrays
    )


class RowBlocks:
    """Row-aligned arrays split into row blocks.

    Parameters
    ----------
    arrays : sequence of ndarray or dask.array.Array
        ``arrays[0]`` is ``X`` of shape (n_samples, n_features); any further
        arrays (``y``) have ``n_samples`` rows. Either all are numpy or all
        are dask; dask arrays must be chunked along rows only (validation
        rechunks features into one block once, up front).
    block_rows : int, optional
        Rows per block for numpy input. By default about four blocks per
        thread, at least :data:`MIN_BLOCK_ROWS` rows each.

    Attributes
    ----------
    arrays : tuple of ndarray or dask.array.Array
        The arrays; for dask input without its empty row blocks (which hold
        no rows and would only give kernels nothing to work on).
    is_dask : bool
        Whether the data are dask arrays (lazy, streamed every pass).
    n_samples, n_features : int
    row_chunks : tuple of int
        Rows of each (non-empty) block, in order.
    """

    def __init__(self, arrays: Sequence, block_rows: int | None = None):
        self.arrays = tuple(arrays)
        # per-row outputs keep the input's blocks, empty ones included
        self._row_arrays = self.arrays
        X = self.arrays[0]
        self.is_dask = isinstance(X, da.Array)
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        if self.is_dask:
            if sp.issparse(X._meta):
                raise TypeError(
                    SPARSE_MESSAGE.format(name="X", kind=type(X._meta).__name__)
                )
            if 0 in X.chunks[0]:
                self.arrays = _without_empty_blocks(self.arrays)
            self.row_chunks = tuple(self.arrays[0].chunks[0])
        else:
            if block_rows is None:
                n_blocks = 4 * n_threads()
                block_rows = max(MIN_BLOCK_ROWS, math.ceil(self.n_samples / n_blocks))
            self.row_chunks = tuple(
                s.stop - s.start for s in _slices(self.n_samples, block_rows)
            )

    @property
    def n_blocks(self) -> int:
        return len(self.row_chunks)

    @property
    def nbytes(self) -> int:
        """Bytes of all the arrays (for dask input, once computed)."""
        return int(sum(array.nbytes for array in self.arrays))

    def local(self) -> RowBlocks:
        """The same rows in memory: numpy arrays, read in one ``compute``.

        For small dask data that several steps read in turn (a start that
        clusters the rows, then labels them), reading once beats streaming
        the data for each step. numpy input returns ``self``.
        """
        if not self.is_dask:
            return self
        with _blas_guard():
            computed = dask.compute(*self.arrays)
        _check_dense(computed)
        return RowBlocks([np.asarray(array) for array in computed])

    def _numpy_blocks(self) -> list[tuple[np.ndarray, ...]]:
        bounds = np.concatenate([[0], np.cumsum(self.row_chunks)])
        return [
            tuple(array[start:stop] for array in self.arrays)
            for start, stop in zip(bounds[:-1], bounds[1:])
        ]

    # ------------------------------------------------------------------ passes
    def map_reduce(
        self, kernel: Kernel, params, tile_rows: int, name: str = "pass"
    ) -> Stats:
        """One pass over the data: ``kernel`` on every block, then a tree sum.

        Parameters
        ----------
        kernel : callable
            ``kernel(*tile_arrays, params) -> Stats`` on numpy arrays.
        params : object
            Small, picklable; shipped once per pass (one dask key).
        tile_rows : int
            Largest number of rows the kernel sees at once.
        name : str, default="pass"
            Names the pass's dask tasks: ``daskmix-<name>-estep`` for the
            block tasks, ``daskmix-reduce`` for the additions.

        Returns
        -------
        Stats
            The sum over all rows, added in an order fixed by the chunking
            (and :data:`SPLIT_EVERY`): numpy input, the threaded scheduler and a
            distributed cluster give bit-identical sums for the same blocks.
        """
        if not self.is_dask:
            blocks = self._numpy_blocks()
            with one_blas_thread():
                parts = list(
                    _thread_pool().map(
                        lambda block: _block_stats(kernel, block, params, tile_rows),
                        blocks,
                    )
                )
            return tree_sum(parts, SPLIT_EVERY)

        schedule = _schedule()
        graph, final_key = self._pass_graph(schedule, kernel, params, tile_rows, name)
        guard = one_blas_thread() if schedule is dask.threaded.get else nullcontext()
        with guard:
            return schedule(graph, final_key)

    def _pass_template(self, schedule) -> _PassTemplate:
        """The part of a dask pass's graph that every pass shares (cached).

        Persisted blocks (and numpy wrapped by dask) are grouped: the blocks
        of one group of the reduction tree (:data:`SPLIT_EVERY` consecutive
        blocks) held by the same worker share tasks, keeping
        :data:`MIN_TASKS_PER_THREAD` tasks per scheduler thread;
        blocks still to be computed (read from a store, derived) get one task
        each, so that a worker holds few blocks at a time.
        """
        cached = getattr(self, "_template", None)
        if cached is not None and cached[0] == schedule:
            return cached[1]
        graph: dict = {}
        per_array = []
        materialised = True
        for array in self.arrays:
            keys = list(array.__dask_keys__())
            keys = [k[0] for k in keys] if array.ndim == 2 else keys
            raw = array.__dask_graph__()
            graph.update(array.__dask_optimize__(raw, array.__dask_keys__()))
            for key, value in raw.items():
                if isinstance(value, TaskRef) and key not in graph:
                    graph[key] = value  # a persisted chunk's future
            values = [graph[key] for key in keys]
            materialised = materialised and all(_is_materialised(v) for v in values)
            per_array.append((keys, values))
        block_keys = list(zip(*(keys for keys, _ in per_array)))
        n_blocks = len(block_keys)
        run_cap = 1
        if materialised:
            per_task = n_blocks // (MIN_TASKS_PER_THREAD * _scheduler_threads(schedule))
            run_cap = int(np.clip(per_task, 1, SPLIT_EVERY))
        where = list(zip(*(_locations(schedule, values) for _, values in per_array)))
        runs = []
        n_groups = math.ceil(n_blocks / SPLIT_EVERY)
        for group in range(n_groups):
            members = range(
                group * SPLIT_EVERY, min((group + 1) * SPLIT_EVERY, n_blocks)
            )
            # blocks held by the same worker share tasks (in block order), up
            # to run_cap blocks per task; the group's reduce restores the order
            by_place: dict = {}
            for block in members:
                by_place.setdefault(where[block], []).append(block)
            pieces = [
                blocks[start : start + run_cap]
                for blocks in by_place.values()
                for start in range(0, len(blocks), run_cap)
            ]
            whole = len(pieces) == 1
            runs.extend((group, piece, whole) for piece in pieces)
        template = _PassTemplate(graph, block_keys, runs, n_groups)
        self._template = (schedule, template)
        return template

    def _pass_graph(self, schedule, kernel, params, tile_rows: int, name: str):
        """The task graph of one dask pass and the key of its total.

        Keys are new for every pass: a distributed scheduler keeps the old
        task of a key it still knows, so reusing keys across passes with new
        parameters could silently return the previous pass's statistics.
        """
        template = self._pass_template(schedule)
        token = uuid.uuid4().hex
        graph = dict(template.graph)
        params_key = f"daskmix-params-{token}"
        graph[params_key] = DataNode(params_key, params)
        params_ref = TaskRef(params_key)
        n_arrays = len(self.arrays)
        block_name = f"daskmix-{name}-estep-{token}"
        reduce_name = f"daskmix-reduce-{token}"
        by_group: list[list] = [[] for _ in range(template.n_groups)]
        by_group_blocks: list[list] = [[] for _ in range(template.n_groups)]
        for index, (group, blocks, whole) in enumerate(template.runs):
            key = (block_name, index)
            chunks = [TaskRef(k) for b in blocks for k in template.block_keys[b]]
            graph[key] = Task(
                key, _run_stats, kernel, params_ref, tile_rows, n_arrays, whole, *chunks
            )
            by_group[group].append(key)
            by_group_blocks[group].append(blocks)
        level = []
        for group, keys in enumerate(by_group):
            if len(keys) == 1:
                level.append(keys[0])
                continue
            key = (reduce_name, 0, group)
            graph[key] = Task(
                key, _add_runs, by_group_blocks[group], *(TaskRef(k) for k in keys)
            )
            level.append(key)
        depth = 1
        while len(level) > 1:
            next_level = []
            for start in range(0, len(level), SPLIT_EVERY):
                key = (reduce_name, depth, start // SPLIT_EVERY)
                refs = [TaskRef(k) for k in level[start : start + SPLIT_EVERY]]
                graph[key] = Task(key, _add_stats, *refs)
                next_level.append(key)
            level = next_level
            depth += 1
        return graph, level[0]

    def map_rows(
        self,
        fn: Callable[..., np.ndarray],
        params,
        tile_rows: int,
        n_columns: int | None,
        dtype=np.float64,
    ):
        """Apply a per-row function to every row: numpy out or lazy dask out.

        Parameters
        ----------
        fn : callable
            ``fn(*tile_arrays, params) -> ndarray`` of shape (tile_rows,) or
            (tile_rows, n_columns).
        n_columns : int or None
            Number of output columns, or None for a 1-D output.

        Returns
        -------
        ndarray or dask.array.Array of shape (n_samples,) or (n_samples, n_columns)
        """
        if not self.is_dask:
            with one_blas_thread():
                pieces = list(
                    _thread_pool().map(
                        lambda block: _block_rows(
                            block, fn, params, tile_rows, n_columns, dtype
                        ),
                        self._numpy_blocks(),
                    )
                )
            return np.concatenate(pieces, axis=0)

        X = self._row_arrays[0]
        others = self._row_arrays[1:]
        params_key = dask.delayed(params, traverse=False)
        if n_columns is None:
            chunks = (X.chunks[0],)
            kwargs = {"drop_axis": 1}
        else:
            chunks = (X.chunks[0], (n_columns,))
            kwargs = {}
        # other row-aligned arrays are passed as 2-D so that blocks line up
        aligned = [a if a.ndim == 2 else a[:, None] for a in others]
        return da.map_blocks(
            _dask_block_rows,
            X,
            *[a.rechunk({0: X.chunks[0], 1: -1}) for a in aligned],
            params_key,
            fn,
            tile_rows,
            (False,) + tuple(a.ndim == 1 for a in others),
            n_columns,
            np.dtype(dtype),
            dtype=dtype,
            chunks=chunks,
            meta=np.empty((0,) * len(chunks), dtype=dtype),
            **kwargs,
        )

    # ------------------------------------------------------------------ rows
    def take_rows(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """Read the rows ``indices`` of every array, in the order given."""
        indices = np.asarray(indices, dtype=np.intp)
        if not self.is_dask:
            return tuple(array[indices] for array in self.arrays)
        order = np.argsort(indices, kind="stable")
        sorted_rows = indices[order]
        with _blas_guard():
            taken = dask.compute(*(array[sorted_rows] for array in self.arrays))
        _check_dense(taken)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.size)
        return tuple(np.asarray(t)[inverse] for t in taken)

    def batch_indices(
        self,
        batch_size: int,
        random_state: np.random.RandomState,
        blocks_per_batch: int = BLOCKS_PER_BATCH,
    ) -> np.ndarray:
        """Global row numbers of one mini-batch, sorted; drawn on the client.

        Rows are drawn uniformly with replacement, so every draw is a uniform
        row of the whole dataset and a batch's statistics, scaled by
        ``n_samples / batch_size``, are unbiased for the full-data ones. When
        the data have more than ``blocks_per_batch`` blocks, the draws are
        confined to ``blocks_per_batch`` blocks picked with probability
        proportional to their size (with replacement), and each pick receives
        a multinomial share of the rows: a row's chance of being drawn is still
        the same for every row, but a batch reads a few blocks, not all of
        them. Blocks are never taken whole: data that arrive sorted (by class,
        by time) would make whole consecutive blocks biased batches.

        numpy input (in memory, where any row costs the same to read) and data
        with few blocks draw from every row.

        Parameters
        ----------
        batch_size : int
            Rows to draw.
        random_state : RandomState
            Drawn from on the client only: the same state and chunking give
            the same rows on any scheduler.
        blocks_per_batch : int
            Most blocks one batch reads (dask input).

        Returns
        -------
        ndarray of shape (batch_size,)
            Sorted row numbers (repeats possible).
        """
        if not self.is_dask or self.n_blocks <= blocks_per_batch:
            rows = random_state.randint(0, self.n_samples, size=batch_size)
            return np.sort(rows)
        sizes = np.asarray(self.row_chunks, dtype=np.float64)
        picks = random_state.choice(
            self.n_blocks, size=blocks_per_batch, p=sizes / sizes.sum()
        )
        shares = random_state.multinomial(
            batch_size, np.full(blocks_per_batch, 1.0 / blocks_per_batch)
        )
        per_block = np.bincount(picks, weights=shares, minlength=self.n_blocks)
        starts = np.concatenate([[0], np.cumsum(self.row_chunks)[:-1]])
        pieces = [
            starts[block] + random_state.randint(0, self.row_chunks[block], int(n))
            for block, n in enumerate(per_block.astype(np.int64))
            if n > 0
        ]
        return np.sort(np.concatenate(pieces)).astype(np.intp, copy=False)

    def read_batches(
        self, batches: Sequence[np.ndarray]
    ) -> list[tuple[np.ndarray, ...]]:
        """Read the rows of several mini-batches in one go.

        Parameters
        ----------
        batches : sequence of ndarray
            Sorted global row numbers, one array per batch
            (:meth:`batch_indices`).

        Returns
        -------
        list of tuple of ndarray
            For each batch, the chosen rows of every array (numpy, in the order
            of the row numbers). For dask input only the blocks holding chosen
            rows are read, each once for all the batches (one ``compute``), and
            only the chosen rows travel back.
        """
        if not self.is_dask:
            return [tuple(array[rows] for array in self.arrays) for rows in batches]
        starts = np.concatenate([[0], np.cumsum(self.row_chunks)])
        located = [
            (np.searchsorted(starts, rows, side="right") - 1, rows) for rows in batches
        ]
        needed = np.unique(np.concatenate([blocks for blocks, _ in located]))
        block_lists = [array.to_delayed().ravel() for array in self.arrays]
        tasks = []
        for block in needed:
            local = [rows[blocks == block] - starts[block] for blocks, rows in located]
            tasks.append(
                dask.delayed(_take_local_rows, pure=True)(
                    [blocks_of[block] for blocks_of in block_lists], local
                )
            )
        with _blas_guard():
            (taken,) = dask.compute(tasks)
        # taken[i][b][a]: block needed[i], batch b, array a; blocks are in order,
        # and so are the sorted rows of each batch
        return [
            tuple(
                np.concatenate([np.asarray(part[b][a]) for part in taken])
                for a in range(len(self.arrays))
            )
            for b in range(len(batches))
        ]

    def with_row_index(self) -> RowBlocks:
        """These arrays plus their global row numbers, blocked the same way.

        The row numbers key the counter-based generators of random kernels
        (initial responsibilities, k-means|| draws), so that a row gets the
        same random numbers whatever block, tile or worker it falls in.
        """
        if self.is_dask:
            rows = da.arange(self.n_samples, chunks=(self.row_chunks,))
            return RowBlocks([*self.arrays, rows])
        rows = np.arange(self.n_samples)
        return RowBlocks([*self.arrays, rows], block_rows=self.row_chunks[0])

    def joined(self) -> RowBlocks:
        """All arrays side by side as one float64 array of columns, same blocks.

        ``X`` of shape (n, D) and ``y`` of shape (n,) become one (n, D + 1)
        array (lazy for dask input), for algorithms that see the joint rows.
        """
        columns = [a if a.ndim == 2 else a[:, None] for a in self.arrays]
        if self.is_dask:
            joint = da.concatenate([c.astype(np.float64) for c in columns], axis=1)
            return RowBlocks([joint.rechunk({1: -1})])
        return RowBlocks([np.column_stack(columns).astype(np.float64, copy=False)])

    def raise_if_not_finite(self, names: Sequence[str]) -> None:
        """Raise ``ValueError("Input <name> contains NaN or infinity.")`` if so.

        One extra pass per array, in order; ``names`` name the arrays.
        """
        for name, array in zip(names, self.arrays):
            # 1-D arrays (y) as one column: RowBlocks reads a 2-D shape
            column = array.reshape(-1, 1) if array.ndim == 1 else array
            if not RowBlocks([column]).all_finite():
                raise ValueError(f"Input {name} contains NaN or infinity.")

    def all_finite(self) -> bool:
        """Whether every value of every array is finite (one extra pass)."""
        if not self.is_dask:
            return all(is_finite_block(np.asarray(a)) for a in self.arrays)
        checks = [da.isfinite(a).all() for a in self.arrays]
        with _blas_guard():
            return all(bool(c) for c in dask.compute(*checks))


# ------------------------------------------------------------ dask passes
# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: the largest mmap threshold glibc's adaptive rule reaches on 64-bit Linux, and
#: the trim threshold it pairs with it
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD


@lru_cache(maxsize=1)
def restore_malloc_thresholds() -> bool:
    """Give glibc back a mmap threshold that fits kernel temporaries.

    dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_`` set, which
    freezes glibc's adaptive mmap threshold at 128 KiB: every tile-sized
    temporary of a kernel then becomes a fresh ``mmap`` whose pages fault in
    on first touch, and kernels ran several times slower on workers than in a
    plain process (docs/performance.rst). This sets the thresholds that
    glibc's own adaptive rule would reach, once per process, unless the user
    chose a mmap threshold through ``MALLOC_MMAP_THRESHOLD_``, or turned this
    off with ``DASKMIX_MALLOPT=0``. It does nothing where the variable is unset
    (the adaptive rule is still on) or off glibc.

    Returns
    -------
    bool
        Whether the thresholds were set.
    """
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    if os.environ.get("DASKMIX_MALLOPT", "1") == "0":
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # pragma: no cover - not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


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
