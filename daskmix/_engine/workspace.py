"""Per-thread scratch arrays for block kernels.

A kernel call on one tile builds several temporaries of the tile's size
(megabytes). Allocating them afresh every call costs little under glibc's
adaptive mmap threshold, but dask's nannies start workers with
``MALLOC_TRIM_THRESHOLD_=65536``, which turns that adaptation off: every such
temporary becomes a fresh ``mmap`` whose pages fault in on first touch, and
the kernels ran several times slower on workers than on threads. Kernels
therefore write their large temporaries into a :class:`Workspace` taken from
:func:`workspace` and return only fresh arrays.

Purity is kept: a workspace belongs to one thread and to one kernel call at a
time (a nested call on the same thread gets another one), and nothing in it
outlives the call that filled it. A thread keeps its workspaces, sized for the
largest tile it has seen, for the life of the thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from math import prod

import numpy as np


class Workspace:
    """Named scratch arrays, grown to the largest request and reused."""

    __slots__ = ("_buffers",)

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, np.dtype], np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """An uninitialised C-contiguous array of ``shape``, reused by ``name``.

        Two names never share memory; a second request of one name in the same
        call overwrites the first.
        """
        dtype = np.dtype(dtype)
        size = prod(shape)
        buffer = self._buffers.get((name, dtype))
        if buffer is None or buffer.size < size:
            buffer = np.empty(size, dtype=dtype)
            self._buffers[name, dtype] = buffer
        return buffer[:size].reshape(shape)


class FreshArrays:
    """The :class:`Workspace` interface, allocating a new array every time.

    For callers that keep the arrays a kernel function returns.
    """

    __slots__ = ()

    def array(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        return np.empty(shape, dtype=dtype)


FRESH = FreshArrays()

_local = threading.local()


@contextmanager
def workspace() -> Iterator[Workspace]:
    """Lend this thread a workspace for the duration of one kernel call."""
    free = getattr(_local, "free", None)
    if free is None:
        free = _local.free = []
    lent = free.pop() if free else Workspace()
    try:
        yield lent
    finally:
        free.append(lent)
