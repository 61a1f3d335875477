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
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
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
    """Process-wide state of :func:`one_blas_thread`: holders and the saved limits."""

    def __init__(self):
        self.lock = threading.Lock()
        self.users = 0
        self.limits: ExitStack | None = None
        self.depth = threading.local()


_blas_hold = _BlasHold()


@lru_cache(maxsize=1)
def _blas_control() -> ThreadPoolExecutor:
    """The one thread that sets and restores BLAS thread counts."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="daskmix-blas")


def _limit_blas() -> ExitStack:
    """Set BLAS to one thread (on the control thread); the stack restores it."""
    limits = ExitStack()
    # entered as a context, so that closing the stack hands threadpoolctl's
    # control of OpenBLAS back (threadpoolctl >= 3.8)
    limits.enter_context(_blas_controller().limit(limits=1, user_api="blas"))
    return limits


def _held_threads() -> list[int]:
    """The BLAS libraries' thread counts now."""
    controller = _blas_controller().select(user_api="blas")
    return [lib["num_threads"] for lib in controller.info()]


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Context manager holding BLAS to one thread, process-wide.

    BLAS thread counts are process-wide settings, so the hold is too, and it
    is counted: the first thread to enter sets one BLAS thread, the last to
    leave restores the settings it found, whichever threads these are; nested
    entries in one thread count once. Two fits in concurrent threads
    therefore run every BLAS call under the hold with one thread, and leave
    BLAS as they found it.

    The settings are always made by one long-lived thread of daskmix's own.
    threadpoolctl (3.8 and later) lets only one thread at a time set the
    thread count of an OpenBLAS with its own thread pool, the first to try,
    until that thread's ``with`` block ends, and silently ignores the others:
    a hold set by one fit's thread and restored by another's, or taken from a
    worker thread after the main thread had set a limit outside a ``with``
    block, did nothing, and concurrent fits then ran tiny LAPACK calls on a
    multi-threaded OpenBLAS over busy cores (ten times slower, measured in
    ``benchmarks/bench_concurrent_fits.py``).

    Uses one cached ``ThreadpoolController``: ``threadpool_limits()`` rescans
    the process's loaded libraries on every call (2 ms measured here), which
    was 40% of a mini-batch fit made of many small steps.

    Warns (once) when BLAS stays multi-threaded under the hold: another
    thread keeps control of OpenBLAS's thread count (a ``threadpool_limits``
    call not made as a ``with`` block).
    """
    hold = _blas_hold
    depth = getattr(hold.depth, "value", 0)
    if depth == 0:
        with hold.lock:
            if hold.users == 0:
                hold.limits = _blas_control().submit(_limit_blas).result()
                _warn_if_not_held()
            hold.users += 1
    hold.depth.value = depth + 1
    try:
        yield
    finally:
        hold.depth.value = depth
        if depth == 0:
            with hold.lock:
                hold.users -= 1
                if hold.users == 0 and hold.limits is not None:
                    limits, hold.limits = hold.limits, None
                    _blas_control().submit(limits.close).result()


_warned_not_held = False


def _warn_if_not_held() -> None:
    global _warned_not_held
    if _warned_not_held or all(n == 1 for n in _held_threads()):
        return
    _warned_not_held = True
    warnings.warn(
        "daskmix could not hold BLAS to one thread while it runs kernels on "
        "its own threads: another thread controls OpenBLAS's thread count "
        "through threadpoolctl (a threadpool_limits call not made as a 'with' "
        "block). Kernels then run a multi-threaded BLAS in each of daskmix's "
        "threads, which oversubscribes the cores.",
        RuntimeWarning,
        stacklevel=3,
    )


def _after_fork_in_child() -> None:
    """A forked child has only the forking thread: drop state tied to others.

    The cached thread pool and the BLAS control thread believe their threads
    exist (a fit in the child would wait for them forever), and the BLAS
    hold's lock may have been held by a thread that is gone. GNU OpenMP
    (scikit-learn's k-means, which the k-means|| seeding runs) hangs in a
    forked child at its first parallel region if the parent ran one, so the
    child runs OpenMP code on one thread.
    """
    global _blas_hold
    _thread_pool.cache_clear()
    _blas_control.cache_clear()
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
