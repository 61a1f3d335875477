"""The compiled-kernel backend: numba when it imports, and the switch.

Every model family keeps its numpy kernels as the reference and may add
compiled twins in a module of its own (``gaussian/compiled.py``,
``cluster/compiled.py``, ``regression/compiled.py``). Which ones a pass runs
is decided once, on the client, by :func:`kernel_backend` (the dask config
key ``daskmix.kernels``), and travels in the pass's plan: a worker's own
configuration never changes a result.

Compiled functions are numba ``njit`` functions that release the GIL (they
run on the engine's threads and on dask workers) and are cached on disk
(``cache=True``): the first use on a machine compiles them (seconds to tens
of seconds), later processes load them from the cache (about a second for
all of them). See :mod:`daskmix.compile` to warm the cache.

Without numba the module still imports: :data:`AVAILABLE` is False, the
decorator returns the Python function unchanged, and ``'auto'`` picks the
numpy kernels.
"""

from __future__ import annotations

import math

import numpy as np

from .. import config

try:
    import numba
except ImportError:  # the optional 'compiled' extra is not installed
    numba = None

#: whether the compiled kernels can run here
AVAILABLE = numba is not None

#: fast-math flags of the compiled kernels: reassociation lets sums over rows
#: run in SIMD lanes; no flag assumes finite values, so NaN and infinity
#: still propagate to the statistics (and to the drivers' checks)
FASTMATH = frozenset({"reassoc", "contract", "nsz", "arcp"})


def jit(function=None, *, fastmath=FASTMATH):
    """Compile ``function`` with numba (nopython, nogil, on-disk cache).

    Without numba, ``function`` itself (never called: the backend is then
    numpy).
    """

    def wrap(function):
        if numba is None:
            return function
        return numba.njit(nogil=True, cache=True, fastmath=set(fastmath))(function)

    return wrap if function is None else wrap(function)


COMPILED_MISSING = (
    "The dask config key 'daskmix.kernels' is 'compiled', but numba cannot be "
    "imported. Install it (pip install 'daskmix[compiled]') or set "
    "'daskmix.kernels' to 'auto' or 'numpy'."
)


def kernel_backend() -> str:
    """The kernel backend a pass planned now will use: 'numpy' or 'compiled'.

    Reads ``daskmix.kernels`` on the caller's (the client's) configuration.

    Raises
    ------
    ValueError
        If 'compiled' is asked for and numba is not installed.
    """
    choice = config.get("kernels")
    if choice == "compiled" and not AVAILABLE:
        raise ValueError(COMPILED_MISSING)
    if choice == "auto":
        return "compiled" if AVAILABLE else "numpy"
    return choice


def float32_compute() -> bool:
    """Whether float32 input may be computed in float32 (``float32-compute``)."""
    return config.get("float32-compute")


def c_rows(array: np.ndarray) -> np.ndarray:
    """``array`` as a C-contiguous, writeable array (a copy only when needed).

    The compiled kernels are specialised on the layout and writeability of
    their arguments; handing them one kind keeps one compiled version per
    dtype.
    """
    if array.flags.c_contiguous and array.flags.writeable:
        return array
    return np.array(array, order="C")


_NO_WEIGHTS = np.empty(0, dtype=np.float64)


def row_weights(weight: np.ndarray | None) -> np.ndarray:
    """Row weights as a float64 vector, or an empty one for unweighted rows."""
    if weight is None:
        return _NO_WEIGHTS
    return c_rows(weight.reshape(-1).astype(np.float64, copy=False))


# ------------------------------------------------------------ shared helpers
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LOG2E = 1.0 / math.log(2.0)


@jit(fastmath=frozenset({"contract"}))
def exp_inplace(values, bits):
    """``exp`` of a float64 vector, in place, in SIMD lanes.

    ``values`` are at most 0 (log-probabilities less their row maximum):
    below -708 the result is 0 (the subnormal range is dropped), NaN stays
    NaN. Cody-Waite reduction and a degree-13 Taylor polynomial: a few
    units in the last place, where a call of ``math.exp`` per value does not
    vectorise. ``bits`` is int64 scratch of the same length.
    """
    n = values.shape[0]
    for i in range(n):
        v = values[i]
        w = v if v >= -708.0 else -708.0
        if v != v:
            w = v
        nf = np.floor(w * _LOG2E + 0.5)
        r = (w - nf * _LN2_HI) - nf * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        values[i] = 0.0 if v < -708.0 else p
        if nf != nf:
            nf = 0.0
        bits[i] = (np.int64(nf) + 1023) << 52
    scale = bits.view(np.float64)
    for i in range(n):
        values[i] *= scale[i]
