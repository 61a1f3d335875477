"""Out of core on a cluster: a zarr store 3x the workers' total memory_limit.

A ``LocalCluster`` of ``--workers`` worker processes (one thread each) with a
``--memory-limit`` each, spilling and pausing off (the nanny's restart at 95%
of the limit is the only guard). A float32 zarr store three times the total
of the limits is written block by block, then a diagonal GaussianMixture is
fitted on it by streaming (``da.from_zarr``, nothing persisted). Printed:
the store and limit sizes, the workers' start-up footprint, their peak
process memory during the fit (from the scheduler's heartbeats, every
50 ms), whether any worker restarted, the fit time and the read rate. The
same fit on the threaded scheduler of this process is timed for
comparison.

Run::

    python benchmarks/bench_out_of_core.py                    # 2 x 400 MiB: 2.4 GB
    python benchmarks/bench_out_of_core.py --memory-limit 300 --max-iter 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
import warnings

import dask
import dask.array as da
import numpy as np

MIB = 2**20


def rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def write_store(path: str, n_bytes: int, n_features: int, block_rows: int):
    import zarr

    block_bytes = block_rows * n_features * 4
    n_blocks = -(-n_bytes // block_bytes)
    store = zarr.create_array(
        path,
        shape=(n_blocks * block_rows, n_features),
        chunks=(block_rows, n_features),
        dtype="f4",
        compressors=None,
    )
    block = np.random.default_rng(0).standard_normal((block_rows, n_features))
    for i in range(n_blocks):
        rows = slice(i * block_rows, (i + 1) * block_rows)
        store[rows] = (block + 6.0 * (i % 2)).astype(np.float32)
    return da.from_zarr(path)


def fit(X, max_iter: int):
    from sklearn.exceptions import ConvergenceWarning

    from daskmix import GaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(
            2,
            covariance_type="diag",
            max_iter=max_iter,
            tol=0,
            init_params="random_from_data",
            random_state=0,
        ).fit(X)


def main() -> None:
    import distributed

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", type=int, default=400, help="MiB")
    parser.add_argument("--block-mib", type=int, default=4)
    parser.add_argument("--n-features", type=int, default=8)
    parser.add_argument("--max-iter", type=int, default=2)
    parser.add_argument("--path", default=None, help="directory for the store")
    args = parser.parse_args()
    limit = args.memory_limit * MIB
    directory = tempfile.mkdtemp(dir=args.path)
    block_rows = args.block_mib * MIB // (4 * args.n_features)
    config = {
        "distributed.worker.memory.target": False,
        "distributed.worker.memory.spill": False,
        "distributed.worker.memory.pause": False,
    }
    try:
        start = time.perf_counter()
        X = write_store(
            os.path.join(directory, "x.zarr"),
            3 * args.workers * limit,
            args.n_features,
            block_rows,
        )
        print(
            f"store: {X.nbytes / 1e9:.2f} GB ({X.numblocks[0]} blocks of "
            f"{args.block_mib} MiB), written in {time.perf_counter() - start:.1f} s; "
            f"workers: {args.workers} x {args.memory_limit} MiB"
        )
        with (
            dask.config.set(config),
            distributed.LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                memory_limit=limit,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            client.run(lambda: __import__("daskmix.gaussian.kernels"))
            baseline = client.run(rss)
            peak: dict[str, int] = {}
            done = threading.Event()

            def watch():
                while not done.is_set():
                    for address, worker in cluster.scheduler.workers.items():
                        memory = worker.memory.process
                        peak[address] = max(peak.get(address, 0), memory)
                    time.sleep(0.05)

            watcher = threading.Thread(target=watch)
            watcher.start()
            start = time.perf_counter()
            model = fit(X, args.max_iter)
            cluster_s = time.perf_counter() - start
            done.set()
            watcher.join()
            after = client.run(rss)
        with dask.config.set(scheduler="threads"):
            start = time.perf_counter()
            fit(X, args.max_iter)
            threads_s = time.perf_counter() - start
        passes = model.n_iter_
        print(
            "start-up footprint (MiB): "
            + ", ".join(f"{v / MIB:.0f}" for v in baseline.values())
        )
        print(
            "peak process memory during the fit (MiB): "
            + ", ".join(f"{v / MIB:.0f}" for v in peak.values())
            + f" (limit {args.memory_limit}, restart at "
            f"{0.95 * args.memory_limit:.0f})"
        )
        print(f"workers restarted: {set(after) != set(baseline)}")
        print(
            f"fit ({passes} EM passes + a 2-row read): LocalCluster "
            f"{cluster_s:.1f} s ({passes * X.nbytes / cluster_s / 1e6:.0f} MB/s), "
            f"threads {threads_s:.1f} s ({passes * X.nbytes / threads_s / 1e6:.0f} "
            "MB/s)"
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
