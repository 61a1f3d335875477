"""What runs inside one row block: tiles, kernels, per-row functions, checks.

Pure numpy, shared by the numpy thread pool and the dask tasks of the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from .stats import Stats, add_all

Kernel = Callable[..., Stats]

SPARSE_MESSAGE = (
    "Sparse input is not supported: {name} is a dask array of sparse blocks "
    "({kind}). Convert it to dense blocks first, e.g. "
    "{name}.map_blocks(lambda b: b.toarray()), if it fits in memory block by block."
)


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
