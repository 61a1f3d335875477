"""Dask arrays whose blocks fail once while they are read (a transient error).

Every block read goes through :class:`ReadCounter`, which counts the reads in
a file (so that worker processes of a ``distributed.LocalCluster`` share the
count) and raises once, on the read numbered ``fail_at``: what a storage
hiccup or a failed allocation on a worker does to a real fit. The arrays are
real dask arrays on the real schedulers; nothing of dask is replaced.
"""

from __future__ import annotations

import fcntl
import os

import dask.array as da
import numpy as np

ERRORS = {"ValueError": ValueError, "MemoryError": MemoryError}


class ReadCounter:
    """``map_blocks`` function: count each block read, raise on one of them.

    Parameters
    ----------
    path : str
        The file that holds the count (created empty).
    fail_at : int or None
        The read (1-based, in the order the reads happen) that raises; None:
        never.
    error : {'ValueError', 'MemoryError'}
    """

    def __init__(self, path: str, fail_at: int | None = None, error="ValueError"):
        self.path = str(path)
        self.fail_at = fail_at
        self.error = error
        with open(self.path, "w") as f:
            f.write("0")

    def __call__(self, block: np.ndarray) -> np.ndarray:
        with open(self.path, "r+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            count = int(f.read() or 0) + 1
            f.seek(0)
            f.truncate()
            f.write(str(count))
            f.flush()
            os.fsync(f.fileno())
            fcntl.flock(f, fcntl.LOCK_UN)
        if count == self.fail_at:
            raise ERRORS[self.error](
                f"transient read failure (read {count}, injected by the test)"
            )
        return block

    @property
    def reads(self) -> int:
        """Reads so far (reads of a failed compute may still be finishing)."""
        with open(self.path) as f:
            fcntl.flock(f, fcntl.LOCK_SH)
            count = int(f.read() or 0)
            fcntl.flock(f, fcntl.LOCK_UN)
        return count


def counted(array: np.ndarray, counter: ReadCounter, rows: int) -> da.Array:
    """``array`` as a dask array of ``rows``-row blocks read through ``counter``."""
    chunks = (rows,) if array.ndim == 1 else (rows, -1)
    return da.from_array(array, chunks=chunks).map_blocks(
        counter, dtype=array.dtype, meta=np.empty((0,) * array.ndim, array.dtype)
    )
