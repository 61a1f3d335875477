"""Compile every compiled kernel now, or load it from numba's on-disk cache.

Run it once after installing (and on each machine of a cluster whose workers
do not share the package's directory), so that the first fit does not pay the
compilation::

    python -m daskmix.compile

and on the workers of a running cluster::

    client.run(daskmix.compile.warm)

The kernels are numba functions compiled with ``cache=True``: numba writes
them next to their modules (``daskmix/*/__pycache__/*.nbi, *.nbc``) when that
directory is writable, under ``NUMBA_CACHE_DIR`` when it is set, and in the
user's cache directory (``~/.cache/numba``) otherwise. A process that finds
them there loads them in about a second; one that does not compiles them
(tens of seconds on a busy 2-core machine). Every worker process pays one or
the other on its first task that needs a kernel.
"""

from __future__ import annotations

import time

import dask
import numpy as np

from ._engine import jit
from ._engine.tiles import Tile
from .cluster.kernels import inertia_kernel, label_rows, lloyd_kernel, make_lloyd_plan
from .gaussian import compiled as gaussian_compiled
from .gaussian.covariance import COVARIANCES
from .gaussian.kernels import em_kernel, make_plan, tile_log_prob
from .gaussian.model import loglik_kernel
from .gaussian.params import GaussianParams
from .gaussian.variational.posterior import variational_kernel


def _params(covariance_type: str, n_components: int, n_features: int):
    cov = COVARIANCES[covariance_type]
    covariances = cov.from_pooled(np.eye(n_features), n_components)
    return GaussianParams(
        covariance_type,
        np.full(n_components, 1.0 / n_components),
        np.arange(n_components * n_features, dtype=float).reshape(n_components, -1),
        covariances,
        cov.precisions_cholesky_from_covariances(covariances),
    )


def warm(dtypes=("float64", "float32")) -> float:
    """Run every compiled kernel once on a small tile of each dtype.

    Parameters
    ----------
    dtypes : sequence of str, default=('float64', 'float32')
        The input dtypes to compile for.

    Returns
    -------
    float
        Seconds it took (compilation, or loading from the cache).

    Raises
    ------
    ValueError
        If numba is not installed.
    """
    if not jit.AVAILABLE:
        raise ValueError(jit.COMPILED_MISSING)
    begin = time.perf_counter()
    narrow, wide = 3, gaussian_compiled.BLAS_MIN_FEATURES
    with dask.config.set({"daskmix.kernels": "compiled"}):
        for dtype in map(np.dtype, dtypes):
            for n_features in (narrow, wide):
                x = np.linspace(-1, 1, 40 * n_features).reshape(40, n_features)
                tile = Tile({"X": x.astype(dtype), "weight": np.ones(40)})
                for name in gaussian_compiled.FORMS:
                    if n_features == wide and name != "full":
                        continue
                    plan = make_plan(_params(name, 2, n_features), dtype)
                    em_kernel(tile, plan)
                    loglik_kernel(tile, plan)
                    tile_log_prob(tile, plan)
                    variational_kernel(Tile({"X": tile.X}), plan)
            centers = np.eye(2, narrow)
            plan = make_lloyd_plan(centers, dtype, n_far=2, previous=centers)
            tile = Tile({"X": np.eye(4, narrow).astype(dtype)})
            lloyd_kernel(tile, plan)
            inertia_kernel(tile, plan)
            label_rows(tile, plan)
    return time.perf_counter() - begin


def main() -> None:
    """Warm the cache and say where it is."""
    seconds = warm()
    where = jit.numba.config.CACHE_DIR or "next to the modules (__pycache__)"
    print(f"daskmix compiled kernels ready in {seconds:.1f} s (numba cache: {where})")


if __name__ == "__main__":
    main()
