"""What runs inside one row block: tiles, kernels, per-row functions, checks.

Pure numpy, shared by the numpy thread pool and the dask tasks of the engine.

Every block kernel has one signature, ``kernel(tile, plan) -> Stats``, and
every per-row function ``fn(tile, plan) -> ndarray``: a :class:`Tile` holds
the rows' arrays by name (``X``; ``y`` for regressions; ``weight`` when rows
carry weights; ``mask`` when entries may be missing) and the global number of
its first row. A kernel that meets no weights multiplies by one; there are no
weighted (or masked) twins of a kernel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from .namespaces import is_device_array, kernel_for, namespace, stats_to_host
from .stats import Stats, add_all

Kernel = Callable[..., Stats]


class Tile:
    """Consecutive rows of the data, as one kernel call sees them.

    Parameters
    ----------
    arrays : dict of str to ndarray
        The row-aligned arrays by name, each with the tile's rows first:
        ``"X"`` (tile, n_features) always; ``"y"`` (tile,) or (tile, n_targets)
        for regressions; ``"weight"`` (tile,) row weights; ``"mask"``
        (tile, n_features) missing entries; others a model asked for.
    start : int
        Row number, in the whole data, of the tile's first row.
    """

    __slots__ = ("arrays", "start")

    def __init__(self, arrays: dict[str, np.ndarray], start: int = 0):
        self.arrays = arrays
        self.start = int(start)

    @property
    def X(self) -> np.ndarray:  # noqa: N802 - scikit-learn's name for the data
        """The rows' features, (tile, n_features)."""
        return self.arrays["X"]

    @property
    def y(self) -> np.ndarray | None:
        """The rows' targets, or None."""
        return self.arrays.get("y")

    @property
    def weight(self) -> np.ndarray | None:
        """The rows' weights (tile,), or None: every row counts once."""
        return self.arrays.get("weight")

    @property
    def mask(self) -> np.ndarray | None:
        """Where entries of X are missing (tile, n_features), or None."""
        return self.arrays.get("mask")

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    @property
    def n_rows(self) -> int:
        """Rows in the tile."""
        return self.arrays["X"].shape[0]

    def rows(self) -> np.ndarray:
        """Global row numbers of the tile's rows, (tile,) int64.

        They key the counter-based generators of random kernels, so that a
        row gets the same random numbers whatever block, tile or worker it
        falls in.
        """
        return np.arange(self.start, self.start + self.n_rows, dtype=np.int64)

    def total_weight(self) -> np.float64:
        """The rows' summed weight (their number without weights), float64."""
        if self.weight is None:
            return np.float64(self.n_rows)
        return self.weight.sum(dtype=np.float64)

    def part(self, rows: slice) -> Tile:
        """The tile of rows ``rows`` (a slice of this tile's rows)."""
        first = rows.indices(self.n_rows)[0]
        # (rows, ...): the array API indexes every axis explicitly
        return Tile(
            {name: array[rows, ...] for name, array in self.arrays.items()},
            self.start + first,
        )


def tiles_of(block: Tile, tile_rows: int):
    """The tiles of at most ``tile_rows`` rows that make up ``block``, in order."""
    return (block.part(rows) for rows in _slices(block.n_rows, tile_rows))


SPARSE_MESSAGE = (
    "Sparse input is not supported: {name} is a dask array of sparse blocks "
    "({kind}). Convert it to dense blocks first, e.g. "
    "{name}.map_blocks(lambda b: b.toarray()), if it fits in memory block by block."
)


def _slices(n_rows: int, step: int) -> list[slice]:
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def takes_sparse(fn):
    """Mark a kernel or per-row function that also works on SciPy sparse tiles.

    The engine refuses sparse blocks for every other function (with a
    TypeError that says how to convert them): only a function written for
    sparse tiles may see one (k-means on sparse input, for instance).
    """
    fn.takes_sparse = True
    return fn


def _check_dense(block_arrays: dict) -> None:
    """Raise a TypeError for sparse blocks (a dask array of scipy.sparse chunks)."""
    for name, array in block_arrays.items():
        if sp.issparse(array) or type(array).__module__.split(".")[0] == "sparse":
            raise TypeError(SPARSE_MESSAGE.format(name=name, kind=type(array).__name__))


def is_finite_block(array: np.ndarray, allow_nan: bool = False) -> bool:
    """Whether every value is finite (or NaN), without floating-point warnings.

    One sum over the array decides in the common case (NaN and infinity
    propagate through it); only when the sum is not finite, which also
    happens when finite values overflow, are the values tested one by one.
    ``allow_nan``: NaN counts as finite (missing values), infinity not.
    """
    if array.dtype.kind not in "fc":
        return True
    with np.errstate(all="ignore"):
        if np.isfinite(np.sum(array)):
            return True
    if allow_nan:
        return not bool(np.isinf(array).any())
    return bool(np.isfinite(array).all())


def block_stats(kernel: Kernel, block: Tile, params, tile_rows: int) -> Stats:
    """Run ``kernel`` over the tiles of one block and add the tile results.

    NaN or infinity in the block give non-finite statistics, which the
    drivers report with the array's name (``check_pass``): the kernel runs
    with floating-point warnings silenced, so that this error is the first
    thing a user sees, not numpy's RuntimeWarnings.
    """
    if not getattr(kernel, "takes_sparse", False):
        _check_dense(block.arrays)
    run = kernel_for(kernel, block)
    with np.errstate(all="ignore"):
        # a generator: one tile's statistics alive at a time besides the total
        return add_all(
            stats_to_host(run(tile, params)) for tile in tiles_of(block, tile_rows)
        )


def block_rows(
    block: Tile,
    fn,
    params,
    tile_rows: int,
    n_columns: int | None = None,
    dtype=np.float64,
):
    """Apply a per-row function over the tiles of one block and stack the rows.

    An empty block gives an empty result of shape (0,) or (0, n_columns).
    """
    if block.n_rows == 0:
        shape = (0,) if n_columns is None else (0, n_columns)
        return np.empty(shape, dtype=dtype)
    run = kernel_for(fn, block)
    pieces = [run(tile, params) for tile in tiles_of(block, tile_rows)]
    if is_device_array(pieces[0]):
        return namespace(pieces[0]).concat(pieces, axis=0)
    return np.concatenate(pieces, axis=0)


def dask_block_rows(*args, block_info=None):
    """``map_blocks`` adapter: check the blocks, then run :func:`block_rows`.

    Row-aligned 1-D arrays travel as (n, 1) so that their blocks line up with
    X's; ``flat`` says which ones to give back to ``fn`` as 1-D. A block with
    NaN or infinity raises the ValueError that numpy input gets from
    validation, naming the array; with ``allow_nan``, NaN in X (missing
    values) passes and only infinity raises. ``block_info`` (dask's) gives
    the block's first row.
    """
    *block_arrays, names, params, fn, tile_rows, flat, n_columns, dtype = args[:-1]
    allow_nan = args[-1]
    _check_dense(dict(zip(names, block_arrays)))
    for name, array in zip(names, block_arrays):
        if not is_finite_block(array, allow_nan and name == "X"):
            what = "infinity" if allow_nan and name == "X" else "NaN or infinity"
            raise ValueError(f"Input {name} contains {what}.")
    arrays = {
        name: array[:, 0] if is_flat else array
        for name, array, is_flat in zip(names, block_arrays, flat)
    }
    start = 0 if block_info is None else block_info[0]["array-location"][0][0]
    return block_rows(Tile(arrays, start), fn, params, tile_rows, n_columns, dtype)
