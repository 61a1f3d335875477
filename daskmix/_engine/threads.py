"""The processes and threads that run kernels: thread pool, BLAS, fork, allocator.

numpy input runs kernels on a thread pool with BLAS held to one thread per
kernel (:func:`one_blas_thread`), so that the two levels of parallelism do not
fight; a forked child gets a fresh pool; worker processes get back an mmap
threshold that suits kernel temporaries (:func:`restore_malloc_thresholds`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache

from threadpoolctl import ThreadpoolController

from .. import config


def n_threads() -> int:
    """Threads used for numpy input: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


@lru_cache(maxsize=1)
def _thread_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=n_threads(), thread_name_prefix="daskmix")


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
    off with the dask config key ``daskmix.mallopt`` (read from the worker's own
    configuration: ``DASK_DASKMIX__MALLOPT=False`` in the workers' environment).
    It does nothing where the variable is unset
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
    if not config.get("mallopt"):
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
