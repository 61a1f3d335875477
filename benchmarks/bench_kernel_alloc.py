"""CPU time of one Gaussian E-step tile, with and without dask's worker allocator.

dask's nannies start workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which turns
off glibc's adaptive mmap threshold: a kernel that allocates tile-sized
temporaries then pays a fresh ``mmap`` and its page faults for each. This
script times ``em_kernel`` on 8192 x 10 tiles (K=8, one BLAS thread) in a plain
process and in one with that variable set, for every covariance type. The
kernels write their temporaries into per-thread workspaces, so the two columns
should agree. Thread CPU time is reported, best of five sweeps over 16 tiles,
so that a shared machine disturbs the figures little.

Run::

    python benchmarks/bench_kernel_alloc.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from daskmix.gaussian.covariance import COVARIANCE_TYPES, covariance
from daskmix.gaussian.kernels import em_kernel, make_plan
from daskmix.gaussian.params import GaussianParams

N_COMPONENTS, N_FEATURES, TILE_ROWS, N_TILES = 8, 10, 8192, 16


def tile_milliseconds() -> dict[str, float]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((TILE_ROWS * N_TILES, N_FEATURES)) * 3
    tiles = np.split(X, N_TILES)
    result = {}
    with threadpool_limits(1):
        for name in COVARIANCE_TYPES:
            cov = covariance(name)
            identity = cov.identity_precisions_cholesky(N_COMPONENTS, N_FEATURES)
            params = GaussianParams(
                name,
                np.full(N_COMPONENTS, 1.0 / N_COMPONENTS),
                X[:N_COMPONENTS],
                cov.covariances_from_cholesky(identity),
                identity,
            )
            plan = make_plan(params, np.float64)
            best = np.inf
            for _ in range(5):
                begin = time.thread_time()
                for tile in tiles:
                    em_kernel(tile, plan)
                best = min(best, (time.thread_time() - begin) / N_TILES)
            result[name] = best * 1e3
    return result


def main() -> None:
    if "--child" in sys.argv:
        print(" ".join(f"{v:.3f}" for v in tile_milliseconds().values()))
        return
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="65536")
    trimmed = subprocess.run(
        [sys.executable, __file__, "--child"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    plain = tile_milliseconds()
    print(f"em_kernel, {TILE_ROWS} x {N_FEATURES} tile, K={N_COMPONENTS}, 1 thread")
    print(f"{'type':10s}{'plain ms':>10s}{'MALLOC_TRIM_THRESHOLD_ ms':>27s}")
    for (name, ms), ms_trim in zip(plain.items(), trimmed):
        print(f"{name:10s}{ms:10.2f}{float(ms_trim):27.2f}")


if __name__ == "__main__":
    main()
