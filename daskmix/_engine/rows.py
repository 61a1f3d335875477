"""Row blocks of numpy or dask input, and the passes over them.

A :class:`RowBlocks` wraps row-aligned arrays by name (``X``; ``y`` for
regressions; ``weight`` for weighted rows), numpy or dask, split into blocks
of rows. Models hand it *block kernels*: pure functions
``kernel(tile, params) -> Stats`` on a :class:`~daskmix._engine.tiles.Tile`
of numpy arrays, which never import dask. The engine

* maps a kernel over every row block and adds the results in a fixed tree
  (:meth:`RowBlocks.map_reduce`): one pass over the data, one ``compute``;
* maps a per-row function over the blocks for predictions
  (:meth:`RowBlocks.map_rows`): numpy in, numpy out; dask in, lazy dask out;
* reads a few chosen rows (:meth:`RowBlocks.take_rows`) for initialisers
  (mini-batches are drawn and read by :mod:`daskmix._engine.batches`).

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

import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext

import dask
import dask.array as da
import dask.threaded
import numpy as np
import scipy.sparse as sp
from dask.array.utils import meta_from_array

from .. import config
from . import cluster_events
from .coalesce import Group, coalesced_groups
from .namespaces import device, is_device_array, namespace, numpy_dtype, to_host
from .passes import (
    _PassTemplate,
    _schedule,
    build_template,
    compute_pass,
    grouped_rows,
    params_nbytes,
    pass_graph,
    rows_graph,
    settled,
    unit_size,
)
from .stats import Stats, StreamingTreeSum, tree_sum
from .threads import _thread_pool, n_threads, one_blas_thread
from .tiles import (
    SPARSE_MESSAGE,
    Tile,
    _check_dense,
    _slices,
    block_rows,
    block_stats,
    dask_block_rows,
    is_finite_block,
)

Kernel = Callable[..., Stats]


def default_tile_rows(row_width: int, budget_bytes: int | None = None) -> int:
    """Rows per tile so that a ``(tile_rows, row_width)`` temporary stays small.

    Parameters
    ----------
    row_width : int
        The widest per-row temporary the kernel builds, in float64 values (for
        a full-covariance E-step that is ``n_components * n_features``).
    budget_bytes : int, optional
        Per-thread budget for one such temporary (default: the config key
        ``daskmix.tile-budget-bytes``): ``tile_rows * row_width *
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
    if budget_bytes is None:
        budget_bytes = config.get("tile-budget-bytes")
    return int(np.clip(budget_bytes // (8 * max(row_width, 1)), 1, 16384))


def _scheduler_is_local_threads() -> bool:
    # the scheduler dask.compute would use now (threads when none is set)
    return _schedule() is dask.threaded.get


def _blas_guard():
    """Hold BLAS to one thread while our own threads run kernels in parallel."""
    if _scheduler_is_local_threads():
        return one_blas_thread()
    return nullcontext()


def _without_empty_blocks(arrays: dict) -> dict:
    """Dask arrays with their 0-row blocks left out (no data move: block selection).

    The arrays share X's row chunks; any that does not is rechunked to X's first.
    """
    row_chunks = arrays["X"].chunks[0]
    keep = [i for i, rows in enumerate(row_chunks) if rows > 0]
    return {
        name: (a if a.chunks[0] == row_chunks else a.rechunk({0: row_chunks})).blocks[
            keep
        ]
        for name, a in arrays.items()
    }


def _device_tile_rows(tile_rows: int) -> int:
    """Rows per tile on a device: the host's tile scaled to the device budget.

    A tile of the host's budget (a few MiB, to stay in cache) would leave a GPU
    idle between kernel launches; ``daskmix.device-tile-budget-bytes`` scales
    it up.
    """
    scale = config.get("device-tile-budget-bytes") / config.get("tile-budget-bytes")
    return max(1, int(tile_rows * max(scale, 1.0)))


def _sum_numpy_blocks(blocks, kernel: Kernel, params, tile_rows: int) -> Stats:
    """Run ``kernel`` over numpy blocks on the pool and tree-sum the results.

    Blocks are submitted a few ahead of the one being added, and their
    statistics are added in block order as they come: at most
    ``n_threads() + 1`` block results wait at a time, however many blocks
    there are (statistics can be as large as the parameters, ``K * D * D``
    values for full covariances).
    """
    pool = _thread_pool()
    window = n_threads() + 1
    tree = StreamingTreeSum(config.get("split-every"))
    pending: deque = deque()
    for block in blocks:
        pending.append(pool.submit(block_stats, kernel, block, params, tile_rows))
        if len(pending) >= window:
            tree.add(pending.popleft().result(), owned=True)
    while pending:
        tree.add(pending.popleft().result(), owned=True)
    return tree.total()


class RowBlocks:
    """Row-aligned arrays, by name, split into row blocks.

    Parameters
    ----------
    arrays : mapping of str to ndarray or dask.array.Array
        ``arrays["X"]`` of shape (n_samples, n_features) and any further
        row-aligned arrays of ``n_samples`` rows: ``"y"`` (targets),
        ``"weight"`` (row weights, (n_samples,)), ``"mask"`` (missing
        entries), or others a model reads. Kernels see them under these
        names (:class:`~daskmix._engine.tiles.Tile`). Either all are numpy or
        all are dask; dask arrays must be chunked along rows only
        (validation rechunks features into one block once, up front).
    block_rows : int, optional
        Rows per block for numpy input. By default about four blocks per
        thread, at least ``daskmix.min-block-rows`` rows each (dask config).

    Attributes
    ----------
    names : tuple of str
        The arrays' names, ``"X"`` first.
    arrays : tuple of ndarray or dask.array.Array
        The arrays, in the order of ``names``; for dask input without its
        empty row blocks (which hold no rows and would only give kernels
        nothing to work on).
    is_dask : bool
        Whether the data are dask arrays (lazy, streamed every pass).
    from_dask : bool
        Whether the data came in as dask arrays: True also for the in-memory
        copy :meth:`local` reads and the rows derived from it. Checks of
        companion arrays and the choice of random draws (mini-batch windows)
        follow it rather than ``is_dask``, so that small dask data fitted in
        memory give the streamed fit's result.
    n_samples, n_features : int
    row_chunks : tuple of int
        Rows of each (non-empty) block, in order.
    """

    def __init__(self, arrays: Mapping, block_rows: int | None = None):
        if not isinstance(arrays, Mapping) or "X" not in arrays:
            raise TypeError("RowBlocks takes a mapping of named arrays with 'X'.")
        named = {"X": arrays["X"], **{k: v for k, v in arrays.items() if k != "X"}}
        # per-row outputs keep the input's blocks, empty ones included
        self._row_arrays = named
        X = named["X"]
        self.is_dask = isinstance(X, da.Array)
        self.from_dask = self.is_dask
        self.on_device = is_device_array(X)
        self.n_samples, self.n_features = X.shape
        self.dtype = numpy_dtype(X.dtype) if self.on_device else X.dtype
        if self.on_device:
            # one block: a device parallelises within its tiles
            self.row_chunks = (self.n_samples,) if self.n_samples else ()
        elif self.is_dask:
            meta = meta_from_array(X)
            if sp.issparse(meta):
                raise TypeError(
                    SPARSE_MESSAGE.format(name="X", kind=type(meta).__name__)
                )
            if 0 in X.chunks[0]:
                named = _without_empty_blocks(named)
            self.row_chunks = tuple(named["X"].chunks[0])
        else:
            if block_rows is None:
                n_blocks = 4 * n_threads()
                block_rows = max(
                    config.get("min-block-rows"), math.ceil(self.n_samples / n_blocks)
                )
            self.row_chunks = tuple(
                s.stop - s.start for s in _slices(self.n_samples, block_rows)
            )
        self.names = tuple(named)
        self._given = tuple(named.values())
        self._settled = None

    # ------------------------------------------------------------ the arrays
    @property
    def arrays(self) -> tuple:
        """The arrays, in the order of ``names``.

        Dask arrays come over their optimised graphs, built on first use
        (:func:`~daskmix._engine.passes.settled`): every read of the fit then
        submits one form of each chunk.
        """
        if not self.is_dask:
            return self._given
        if self._settled is None:
            self._settled = tuple(settled(array) for array in self._given)
        return self._settled

    @property
    def given_arrays(self) -> tuple:
        """The arrays as given, in the order of ``names``: their graphs show
        where chunks come from (a store read by row ranges), which the
        optimised graphs of :attr:`arrays` no longer do."""
        return self._given

    def get(self, name: str):
        """The array ``name``, or None when the data have none."""
        try:
            return self.arrays[self.names.index(name)]
        except ValueError:
            return None

    @property
    def X(self):  # noqa: N802 - scikit-learn's name for the data
        """The features, (n_samples, n_features)."""
        return self.arrays[0]

    @property
    def y(self):
        """The targets, or None."""
        return self.get("y")

    @property
    def weight(self):
        """The row weights (n_samples,), or None: every row counts once."""
        return self.get("weight")

    def named(self) -> dict:
        """The arrays by name."""
        return dict(zip(self.names, self.arrays))

    @property
    def n_blocks(self) -> int:
        return len(self.row_chunks)

    @property
    def block_starts(self) -> tuple[int, ...]:
        """Row number, in these rows, of each block's first row."""
        return tuple(int(s) for s in np.cumsum((0, *self.row_chunks[:-1])))

    @property
    def row_bytes(self) -> int:
        """Bytes of one row, all the arrays together."""
        return int(
            sum(
                np.dtype(numpy_dtype(a.dtype)).itemsize * math.prod(a.shape[1:])
                for a in self.arrays
            )
        )

    @property
    def groups(self) -> tuple[Group, ...]:
        """The blocks a pass runs its kernel on: groups of consecutive blocks.

        Blocks smaller than ``daskmix.coalesce-bytes`` are grouped until a
        group holds that many bytes
        (:func:`~daskmix._engine.coalesce.coalesced_groups`); the groups
        depend on the chunking, the row width and that setting alone, so
        numpy, threads and a cluster add the same statistics in the same tree.
        """
        key = (self.row_chunks, self.row_bytes, config.get("coalesce-bytes"))
        cached = getattr(self, "_groups", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        groups = coalesced_groups(*key)
        self._groups = (key, groups)
        return groups

    @property
    def group_starts(self) -> tuple[int, ...]:
        """Row number of each group's first row (:attr:`groups`)."""
        starts = self.block_starts
        return tuple(starts[first] for first, _ in self.groups)

    @property
    def group_rows(self) -> tuple[int, ...]:
        """Rows of each group (:attr:`groups`)."""
        bounds = np.concatenate([[0], np.cumsum(self.row_chunks)])
        return tuple(int(bounds[stop] - bounds[first]) for first, stop in self.groups)

    @property
    def nbytes(self) -> int:
        """Bytes of all the arrays (for dask input, once computed)."""
        return int(sum(array.nbytes for array in self.arrays))

    def local(self) -> RowBlocks:
        """The same rows in memory: numpy arrays, read in one ``compute``.

        For small dask data that several steps read in turn (a start that
        clusters the rows, then labels them), reading once beats streaming
        the data for each step. The in-memory blocks are dask's row blocks.
        numpy input returns ``self``.
        """
        if self.on_device:
            return self._on_host()
        if not self.is_dask:
            return self
        cache = getattr(self, "_read_cache", None)
        if cache is not None and "local" in cache:
            return cache["local"]
        with _blas_guard():
            computed = cluster_events.compute(*self.arrays)
        _check_dense(dict(zip(self.names, computed)))
        in_memory = RowBlocks(
            {name: np.asarray(array) for name, array in zip(self.names, computed)}
        )
        in_memory.row_chunks = self.row_chunks
        in_memory.from_dask = True
        if cache is not None:
            cache["local"] = in_memory
        return in_memory

    def _on_host(self) -> RowBlocks:
        """Device arrays copied to host memory (numpy), in the same blocks."""
        cache = getattr(self, "_read_cache", None)
        if cache is not None and "host" in cache:
            return cache["host"]
        host = self.same_blocks({name: to_host(a) for name, a in self.named().items()})
        if cache is not None:
            cache["host"] = host
        return host

    def small_in_memory(self) -> RowBlocks:
        """Small dask data in memory, read in one ``compute``; else ``self``.

        Data are small when all the arrays hold at most
        ``daskmix.small-data-bytes`` bytes (dask config). A fit on such
        data reads them once (:meth:`local`) and runs every pass on the
        client's threads, instead of one ``compute`` (a scheduler round trip)
        per pass. The in-memory blocks are dask's row blocks, so passes add
        the same block statistics in the same order as streaming would
        (bit-identical results). numpy input, and larger dask data, return
        ``self``.
        """
        if not self.is_dask:
            return self
        limit = config.get("small-data-bytes")
        return self if self.nbytes > limit else self.local()

    def _numpy_blocks(self, grouped: bool = False) -> list[Tile]:
        """Tiles of the blocks, or of the groups of blocks a pass runs on."""
        bounds = np.concatenate([[0], np.cumsum(self.row_chunks)])
        if grouped:
            bounds = bounds[[first for first, _ in self.groups] + [len(bounds) - 1]]
        return [
            Tile(
                {
                    name: a[int(start) : int(stop), ...]
                    for name, a in zip(self.names, self.arrays)
                },
                int(start),
            )
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
            ``kernel(tile, params) -> Stats`` on a
            :class:`~daskmix._engine.tiles.Tile` of numpy arrays.
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
            (and ``daskmix.split-every``): numpy input, the threaded scheduler
            and a distributed cluster give bit-identical sums for the same
            blocks.
        """
        if self.on_device:
            tile_rows = _device_tile_rows(tile_rows)
            return tree_sum(
                [
                    block_stats(kernel, b, params, tile_rows)
                    for b in self._numpy_blocks()
                ],
                config.get("split-every"),
            )
        if not self.is_dask:
            with one_blas_thread():
                return _sum_numpy_blocks(
                    self._numpy_blocks(grouped=True), kernel, params, tile_rows
                )

        schedule = _schedule()
        work = self._pass_graph(schedule, kernel, params, tile_rows, name)
        guard = one_blas_thread() if schedule is dask.threaded.get else nullcontext()
        with guard:
            return compute_pass(schedule, work)

    def _pass_template(self, schedule, params_bytes: int) -> _PassTemplate:
        """The part of a dask pass's graph that every pass shares (cached).

        See :func:`daskmix._engine.passes.build_template`; the template is
        rebuilt when the scheduler, ``daskmix.split-every`` or the reduction
        unit that the size of the parameters calls for changes.
        """
        split_every = config.get("split-every")
        groups = self.groups
        unit = unit_size(split_every, params_bytes, len(groups))
        cached = getattr(self, "_template", None)
        if cached is not None and cached[0] == (schedule, split_every, unit, groups):
            return cached[1]
        template = build_template(
            self.arrays, schedule, split_every, params_bytes, groups
        )
        self._template = ((*template.key, groups), template)
        return template

    def _pass_graph(self, schedule, kernel, params, tile_rows: int, name: str):
        """One dask pass (:class:`daskmix._engine.passes._Pass`)."""
        params_bytes = params_nbytes(params)
        template = self._pass_template(schedule, params_bytes)
        return pass_graph(
            template,
            kernel,
            params,
            tile_rows,
            self.names,
            self.group_starts,
            name,
            config.get("split-every"),
            params_bytes,
        )

    def map_rows(
        self,
        fn: Callable[..., np.ndarray],
        params,
        tile_rows: int,
        n_columns: int | None,
        dtype=np.float64,
        allow_nan: bool = False,
    ):
        """Apply a per-row function to every row: numpy out or lazy dask out.

        Parameters
        ----------
        fn : callable
            ``fn(tile, params) -> ndarray`` of shape (tile_rows,) or
            (tile_rows, n_columns), on a :class:`~daskmix._engine.tiles.Tile`.
        n_columns : int or None
            Number of output columns, or None for a 1-D output.
        allow_nan : bool, default=False
            Whether NaN in X (missing values) pass the check of dask blocks;
            infinity never does.

        Returns
        -------
        ndarray or dask.array.Array of shape (n_samples,) or (n_samples, n_columns)
        """
        if self.on_device:
            tile_rows = _device_tile_rows(tile_rows)
            pieces = [
                block_rows(b, fn, params, tile_rows, n_columns, dtype)
                for b in self._numpy_blocks()
            ]
            return namespace(self.X).concat(pieces, axis=0)
        if not self.is_dask:
            with one_blas_thread():
                pieces = list(
                    _thread_pool().map(
                        lambda block: block_rows(
                            block, fn, params, tile_rows, n_columns, dtype
                        ),
                        self._numpy_blocks(),
                    )
                )
            return np.concatenate(pieces, axis=0)

        if self._rows_in_groups():
            # on a cluster, persisted groups are joined there (see passes)
            template = build_template(
                self.arrays, _schedule(), config.get("split-every"), 0, self.groups
            )
            return grouped_rows(
                template,
                self.names,
                tuple(a.ndim == 1 for a in self.arrays),
                self.group_starts,
                self.group_rows,
                fn,
                params,
                tile_rows,
                n_columns,
                dtype,
                allow_nan,
            )
        names = tuple(self._row_arrays)
        X = self._row_arrays["X"]
        others = [self._row_arrays[name] for name in names[1:]]
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
            dask_block_rows,
            X,
            *[a.rechunk({0: X.chunks[0], 1: -1}) for a in aligned],
            names,
            params_key,
            fn,
            tile_rows,
            (False,) + tuple(a.ndim == 1 for a in others),
            n_columns,
            np.dtype(dtype),
            allow_nan,
            dtype=dtype,
            chunks=chunks,
            meta=np.empty((0,) * len(chunks), dtype=dtype),
            token="daskmix-predict",
            **kwargs,
        )

    def _rows_in_groups(self) -> bool:
        """Whether per-row outputs of dask input come in groups of blocks.

        Output blocks line up with the input's, except for very tiny blocks
        (on average under 1/16 of ``daskmix.coalesce-bytes``, 4 KiB by
        default), where a lazy output with one chunk per block would cost
        more in tasks than in arithmetic: its chunks are then the groups of
        :attr:`groups`, one task each. Inputs with empty blocks, or with
        arrays chunked unlike X, keep their chunks.
        """
        rows = self.X.chunks[0]
        tiny = config.get("coalesce-bytes") / 16
        return (
            len(self.groups) < self.n_blocks
            and self.row_bytes * self.n_samples < tiny * self.n_blocks
            and len(rows) == len(self._row_arrays["X"].chunks[0])
            and all(a.chunks[0] == rows for a in self.arrays)
            and all(len(c) == 1 for a in self.arrays for c in a.chunks[1:])
        )

    # ------------------------------------------------------------------ rows
    def take_rows(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Read the rows ``indices`` of every array, in the order given.

        Returns the rows by array name. With :meth:`sharing_reads` on, the
        same rows asked again come from memory (the model-selection sweep:
        candidates' starts draw the same samples).
        """
        indices = np.asarray(indices, dtype=np.intp)
        if self.on_device:
            xp = namespace(self.X)
            where = xp.asarray(indices, device=device(self.X))
            return {
                name: to_host(xp.take(a, where, axis=0))
                for name, a in zip(self.names, self.arrays)
            }
        if not self.is_dask:
            return {name: a[indices] for name, a in zip(self.names, self.arrays)}
        cache = getattr(self, "_read_cache", None)
        key = indices.tobytes()
        if cache is not None and key in cache:
            return dict(cache[key])
        taken = self._read_rows(indices)
        if cache is not None:
            cache[key] = dict(taken)
        return taken

    @contextmanager
    def sharing_reads(self) -> Iterator[RowBlocks]:
        """Within the block, reads and random draws on these rows are reused.

        :meth:`take_rows`, :meth:`local` and :meth:`shared_draw` keep their
        results until the block ends: the model-selection sweep starts many
        candidates whose starts read the same samples.
        """
        self._read_cache: dict | None = {}
        try:
            yield self
        finally:
            self._read_cache = None

    def shared_draw(self, key, random_state: np.random.RandomState, compute):
        """``compute()``, reused for the same ``key`` and generator state.

        Outside :meth:`sharing_reads` this is ``compute()``. Inside, a second
        call with the same ``key`` and the same state of ``random_state``
        returns the first result and leaves ``random_state`` in the state the
        first call left it in, exactly as if ``compute`` had run again.
        """
        cache = getattr(self, "_read_cache", None)
        if cache is None:
            return compute()
        name, keys, position, has_gauss, gauss = random_state.get_state()
        full_key = (key, keys.tobytes(), position, has_gauss, gauss)
        if full_key in cache:
            result, state_after = cache[full_key]
            random_state.set_state(state_after)
            return result
        result = compute()
        cache[full_key] = (result, random_state.get_state())
        return result

    def _read_rows(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        if not indices.size:
            return {
                name: np.empty((0, *a.shape[1:]), dtype=a.dtype)
                for name, a in zip(self.names, self.arrays)
            }
        order = np.argsort(indices, kind="stable")
        sorted_rows = indices[order]
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.size)
        if len(self.groups) == self.n_blocks:
            with _blas_guard():
                taken = cluster_events.compute(
                    *(array[sorted_rows] for array in self.arrays)
                )
            _check_dense(dict(zip(self.names, taken)))
            return {name: np.asarray(t)[inverse] for name, t in zip(self.names, taken)}
        # tiny chunks: one task per group read from, as passes read them
        # (indexing the dask array would make tasks for every tiny chunk)
        schedule = _schedule()
        cached = getattr(self, "_template", None)
        template = cached[1] if cached is not None else None
        if template is None or cached[0][0] != schedule or cached[0][-1] != self.groups:
            template = self._pass_template(schedule, 0)
        bounds = np.concatenate([self.group_starts, [self.n_samples]])
        work = rows_graph(template, len(self.arrays), bounds, sorted_rows)
        with _blas_guard():
            taken = compute_pass(schedule, work)
        _check_dense(dict(zip(self.names, taken)))
        return {name: np.asarray(t)[inverse] for name, t in zip(self.names, taken)}

    def with_array(self, name: str, array) -> RowBlocks:
        """These arrays plus one more row-aligned array, blocked the same way.

        ``array`` has a row for every row of the input (empty dask blocks
        included), as validation returns it: it is paired with the input's
        arrays before their empty blocks are dropped, so that rows line up.
        """
        if self.is_dask:
            return RowBlocks({**self._row_arrays, name: array})
        return self.same_blocks({**self.named(), name: array})

    def without(self, name: str) -> RowBlocks:
        """These rows without the array ``name`` (e.g. the weights), same blocks."""
        kept = {n: a for n, a in self.named().items() if n != name}
        if self.is_dask:
            return RowBlocks(kept)
        return self.same_blocks(kept)

    def joined(self) -> RowBlocks:
        """``X`` and ``y`` side by side as one float64 ``X``, same blocks.

        ``X`` of shape (n, D) and ``y`` of shape (n,) become one (n, D + 1)
        array (lazy for dask input), for algorithms that see the joint rows.
        Row weights, when there are any, stay the weights.
        """
        columns = [a if a.ndim == 2 else a[:, None] for a in (self.X, self.y)]
        extra = {} if self.weight is None else {"weight": self.weight}
        if self.is_dask:
            joint = da.concatenate([c.astype(np.float64) for c in columns], axis=1)
            return RowBlocks({"X": joint.rechunk({1: -1}), **extra})
        joint = np.column_stack(columns).astype(np.float64, copy=False)
        return self.same_blocks({"X": joint, **extra})

    def same_blocks(self, arrays: Mapping) -> RowBlocks:
        """Other row-aligned ``arrays`` of these rows, in these blocks.

        For numpy rows the blocks are these (dask's, for rows read from
        dask); dask ``arrays`` keep their own chunks, which must be these.
        Passes over the result add in the same tree as passes over ``self``.
        """
        alike = RowBlocks(arrays)
        if alike.is_dask:
            return alike
        alike.row_chunks = self.row_chunks
        alike.from_dask = self.from_dask
        return alike

    def raise_if_not_finite(self, allow_nan: bool = False) -> None:
        """Raise ``ValueError("Input <name> contains NaN or infinity.")`` if so.

        One extra pass per array, in order. ``allow_nan``: NaN in X are
        missing values, and only infinity there raises (``"Input X contains
        infinity."``).
        """
        for name, array in zip(self.names, self.arrays):
            # 1-D arrays (y) as one column: RowBlocks reads a 2-D shape
            column = array.reshape(-1, 1) if array.ndim == 1 else array
            nan_ok = allow_nan and name == "X"
            if not RowBlocks({"X": column}).all_finite(nan_ok):
                what = "infinity" if nan_ok else "NaN or infinity"
                raise ValueError(f"Input {name} contains {what}.")

    def all_finite(self, allow_nan: bool = False) -> bool:
        """Whether every value of every array is finite (one extra pass).

        ``allow_nan``: NaN counts as finite, infinity not.
        """
        if self.on_device:
            xp = namespace(self.X)
            if allow_nan:
                return not any(bool(xp.any(xp.isinf(a))) for a in self.arrays)
            return all(bool(xp.all(xp.isfinite(a))) for a in self.arrays)
        if not self.is_dask:
            return all(is_finite_block(np.asarray(a), allow_nan) for a in self.arrays)
        if allow_nan:
            checks = [~da.isinf(a).any() for a in self.arrays]
        else:
            checks = [da.isfinite(a).all() for a in self.arrays]
        with _blas_guard():
            return all(bool(c) for c in cluster_events.compute(*checks))
