"""Time of one EM pass against N, K, D and the number of blocks; the allocator.

One pass is ``RowBlocks.map_reduce`` of the full-covariance GaussianMixture
E-step kernel plus the client's M-step, over data written to a zarr store in a
temporary directory (deleted at the end) and streamed from it every pass, on

* the threaded scheduler,
* a ``distributed.LocalCluster`` with 1 worker process and with 2 (1 thread
  each).

Every row prints the pass time and the parts the cost model of
docs/performance.rst predicts it from: kernel flops at the GEMM rate measured
here, bytes read at the store bandwidth measured here, scheduler overhead per
task, and the M-step; then predicted / measured.

The ``alloc`` section times the pass that motivated the malloc fix (200k x 10
persisted rows, K=8, full, 8 blocks) on numpy threads and on a 2-worker
LocalCluster with the engine's malloc thresholds (default), without them
(``DASK_DASKMIX__MALLOPT=False``: glibc as dask's nanny leaves it), and with them again
(the spread between the two default runs is the machine's noise).

Every row also prints rows/s and the store read rate of the pass (the
store's uncompressed bytes over the pass time; the on-disk size of each store
is printed when it is written).

Run::

    python benchmarks/bench_scaling.py --quick      # about 3 minutes
    python benchmarks/bench_scaling.py --max-rows 100000000   # 8 GB of zarr
    # only the N sweep, 1e7 and 1e8 rows, float32 (4 GB), stores kept in DIR
    # for a later run (delete DIR afterwards):
    python benchmarks/bench_scaling.py --sizes 10000000 100000000 --sweep-only \
        --dtype float32 --store-dir DIR --skip alloc --passes 2 --warmup 0

Best of ``--passes`` passes after ``--warmup`` (default 1) untimed passes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import warnings

import dask
import dask.array as da
import numpy as np

from daskmix._engine import rows as engine
from daskmix._engine.rows import RowBlocks, default_tile_rows
from daskmix._engine.stats import Stats
from daskmix.gaussian.kernels import em_kernel, make_plan
from daskmix.gaussian.params import GaussianParams, m_step


def start_params(n_components: int, n_features: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((n_components, n_features)) * 3
    covariances = np.broadcast_to(
        np.eye(n_features), (n_components,) + (n_features,) * 2
    )
    return GaussianParams(
        "full",
        np.full(n_components, 1.0 / n_components),
        means,
        covariances.copy(),
        covariances.copy(),
    )


def write_store(
    path: str, n_rows: int, n_features: int, block_rows: int, dtype=np.float64
) -> str:
    """A zarr store of Gaussian blobs, written block by block (reused if there)."""
    name = f"X-{n_rows}-{n_features}-{block_rows}-{np.dtype(dtype).name}.zarr"
    store = os.path.join(path, name)
    if os.path.exists(store):
        return store
    rng = da.random.default_rng(0)
    X = rng.standard_normal((n_rows, n_features), chunks=(block_rows, n_features))
    X = (X + (da.arange(n_rows, chunks=block_rows) % 8)[:, None] * 3.0).astype(dtype)
    begin = time.perf_counter()
    with dask.config.set(scheduler="threads"):
        X.to_zarr(store)
    seconds = time.perf_counter() - begin
    if n_rows >= 10_000_000:
        print(
            f"wrote {store}: {X.nbytes / 1e9:.2f} GB of {np.dtype(dtype).name}, "
            f"{disk_bytes(store) / 1e9:.2f} GB on disk, in {seconds:.0f} s",
            flush=True,
        )
    return store


def disk_bytes(store: str) -> int:
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(store)
        for name in names
    )


def one_pass(data: RowBlocks, params: GaussianParams, n_features: int):
    """(seconds of map_reduce, seconds of the M-step)."""
    plan = make_plan(params, data.dtype)
    tile_rows = default_tile_rows(params.n_components * n_features)
    begin = time.perf_counter()
    stats = data.map_reduce(em_kernel, plan, tile_rows, name="gmm")
    middle = time.perf_counter()
    m_step(stats, params.means, params.precisions_cholesky, plan.center, "full", 1e-6)
    return middle - begin, time.perf_counter() - middle


def best(data, params, n_features, passes, warmup=1):
    for _ in range(warmup):
        one_pass(data, params, n_features)
    runs = [one_pass(data, params, n_features) for _ in range(passes)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def gemm_rate(n_features: int, n_components: int, threads: int) -> float:
    """GFLOP/s of the E-step's GEMM shape, one tile per thread, in this process."""
    tile = default_tile_rows(n_components * n_features)
    a = np.random.default_rng(0).standard_normal(
        (n_components * n_features, n_features)
    )
    b = np.random.default_rng(1).standard_normal((tile, n_features))
    with engine.one_blas_thread():
        for _ in range(5):
            a @ b.T
        reps = 50
        begin = time.perf_counter()
        for _ in range(reps):
            a @ b.T
        seconds = (time.perf_counter() - begin) / reps
    return threads * 2.0 * tile * n_features * n_components * n_features / seconds / 1e9


def kernel_flops(n_rows: int, n_features: int, n_components: int) -> float:
    """Flops of the full E-step + statistics per pass (GEMMs dominate).

    Whitening: 2 N D (K D); the s2 statistics: 2 N K D^2; s1 and the norms:
    about 4 N K D; the log-sum-exp: about 10 N K.
    """
    n, d, k = n_rows, n_features, n_components
    return 2 * n * d * k * d + 2 * n * k * d * d + 4 * n * k * d + 10 * n * k


def store_bandwidth(store: str) -> float:
    """GB/s of reading the store whole (threads), with a trivial reduction."""
    X = da.from_zarr(store)
    with dask.config.set(scheduler="threads"):
        X.sum().compute()
        begin = time.perf_counter()
        X.sum().compute()
        seconds = time.perf_counter() - begin
    return X.nbytes / seconds / 1e9


def run_grid(
    label, cases, tmp, passes, rates, task_overhead, dtype=np.float64, warmup=1
):
    print(
        f"{'where':9s} {'N':>10s} {'D':>3s} {'K':>3s} {'blocks':>6s} "
        f"{'pass s':>8s} {'M-step ms':>9s} {'kernel s':>8s} {'read s':>7s} "
        f"{'sched s':>7s} {'pred/meas':>9s} {'Mrows/s':>8s} {'GB/s':>6s}",
        flush=True,
    )
    itemsize = np.dtype(dtype).itemsize
    for n_rows, n_features, n_components, n_blocks in cases:
        block_rows = -(-n_rows // n_blocks)
        store = write_store(tmp, n_rows, n_features, block_rows, dtype)
        data = RowBlocks({"X": da.from_zarr(store)})
        params = start_params(n_components, n_features)
        t_pass, t_m = best(data, params, n_features, passes, warmup)
        gflops, gbps = rates[label]
        t_kernel = kernel_flops(n_rows, n_features, n_components) / gflops / 1e9
        t_read = n_rows * n_features * itemsize / gbps / 1e9
        t_sched = task_overhead[label] * len(data._template[1].runs)
        predicted = t_kernel + t_read + t_sched + t_m
        print(
            f"{label:9s} {n_rows:10d} {n_features:3d} {n_components:3d} "
            f"{n_blocks:6d} {t_pass:8.3f} {t_m * 1e3:9.2f} {t_kernel:8.3f} "
            f"{t_read:7.3f} {t_sched:7.3f} {predicted / (t_pass + t_m):9.2f} "
            f"{n_rows / t_pass / 1e6:8.2f} "
            f"{n_rows * n_features * itemsize / t_pass / 1e9:6.2f}",
            flush=True,
        )


def alloc_section(passes: int) -> None:
    """The malloc-threshold comparison on one persisted full-covariance pass."""
    from distributed import Client, LocalCluster

    n_rows, n_features, n_components, n_blocks = 200_000, 10, 8, 8
    X = np.random.default_rng(0).standard_normal((n_rows, n_features))
    params = start_params(n_components, n_features)
    numpy_data = RowBlocks({"X": X}, block_rows=n_rows // n_blocks)
    t_numpy, _ = best(numpy_data, params, n_features, passes)
    print(f"\nalloc: {n_rows} x {n_features} persisted, K={n_components}, full, ")
    print(f"{n_blocks} blocks; numpy threads {t_numpy * 1e3:.1f} ms per pass")
    print(f"{'workers':44s} {'pass ms':>8s} {'/ numpy':>8s}")
    settings = [
        ("nanny + daskmix mallopt (default)", {}),
        ("nanny, daskmix.mallopt off", {"DASK_DASKMIX__MALLOPT": "False"}),
        ("nanny + daskmix mallopt (default, again)", {}),
    ]
    for label, env in settings:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cluster = LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                env=env,
            )
        with cluster, Client(cluster) as client:
            Xd = client.persist(
                da.from_array(X, chunks=(n_rows // n_blocks, n_features))
            )
            dask.compute(Xd.sum())
            t_cluster, _ = best(RowBlocks({"X": Xd}), params, n_features, passes)
            print(f"{label:44s} {t_cluster * 1e3:8.1f} {t_cluster / t_numpy:8.2f}")


def scheduler_overhead(passes: int) -> float:
    """Seconds per task of a trivial pass over 1,000 persisted blocks."""
    X = np.zeros((100_000, 2))
    data = RowBlocks({"X": da.from_array(X, chunks=(100, 2)).persist()})

    def count(tile, params):
        x = tile.X
        return Stats(n=np.float64(x.shape[0]))

    data.map_reduce(count, None, 128)
    times = []
    for _ in range(passes):
        begin = time.perf_counter()
        data.map_reduce(count, None, 128)
        times.append(time.perf_counter() - begin)
    return min(times) / len(data._template[1].runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--max-rows", type=int, default=10_000_000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed passes first (grid only)"
    )
    parser.add_argument("--skip", nargs="*", default=[], help="sections: grid alloc")
    parser.add_argument(
        "--sizes", type=int, nargs="*", help="rows of the N sweep (default 1e5-1e8)"
    )
    parser.add_argument(
        "--sweep-only", action="store_true", help="N sweep only: no K, D, blocks"
    )
    parser.add_argument(
        "--where",
        nargs="*",
        default=["threads", "cluster1", "cluster2"],
        help="schedulers: threads cluster1 cluster2",
    )
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument(
        "--store-dir",
        help="write the stores here and keep them (default: a temporary "
        "directory, deleted at the end)",
    )
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    sizes = args.sizes or [n for n in (100_000, 1_000_000, 10_000_000, 100_000_000)]
    sizes = [n for n in sizes if n <= args.max_rows or args.sizes]
    if args.quick:
        sizes = sizes[:2]
        args.passes = 2
    mid = sizes[min(1, len(sizes) - 1)]
    cases = [(n, 10, 8, max(4, n // 250_000)) for n in sizes]
    if not args.sweep_only:
        cases += [(mid, 10, k, max(4, mid // 250_000)) for k in (4, 16)]
        cases += [(mid, d, 8, max(4, mid // 250_000)) for d in (5, 20)]
        cases += [(mid, 10, 8, b) for b in (40, 400) if not args.quick or b == 40]
    if args.store_dir:
        os.makedirs(args.store_dir, exist_ok=True)
    tmp = args.store_dir or tempfile.mkdtemp(prefix="daskmix-scaling-")
    try:
        threads = engine.n_threads()
        store = write_store(tmp, sizes[-1], 10, 250_000, dtype)
        gbps = store_bandwidth(store)
        rate = gemm_rate(10, 8, 1)
        print(
            f"machine: {threads} cores; GEMM (8192 x 10) @ (10 x 80) on one thread: "
            f"{rate:.1f} GFLOP/s; zarr read ({sizes[-1]} x 10 {dtype.name}, "
            f"threads): {gbps:.2f} GB/s; timings are best of {args.passes} passes",
            flush=True,
        )
        if "grid" not in args.skip:
            overhead, rates = {}, {}
            if "threads" in args.where:
                with dask.config.set(scheduler="threads"):
                    overhead["threads"] = scheduler_overhead(args.passes)
                    rates["threads"] = (rate * threads, gbps)
                    run_grid("threads", cases, tmp, args.passes, rates, overhead, dtype)
            from distributed import Client, LocalCluster

            for n_workers in (1, 2):
                if f"cluster{n_workers}" not in args.where:
                    continue
                label = f"cluster{n_workers}"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cluster = LocalCluster(
                        n_workers=n_workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                    )
                with cluster, Client(cluster):
                    overhead[label] = scheduler_overhead(args.passes)
                    rates[label] = (rate * n_workers, gbps * n_workers / threads)
                    run_grid(
                        label,
                        cases,
                        tmp,
                        args.passes,
                        rates,
                        overhead,
                        dtype,
                        args.warmup,
                    )
            print(
                "scheduler seconds per task (trivial pass, 1,000 persisted blocks): "
                + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in overhead.items())
            )
        if "alloc" not in args.skip:
            alloc_section(args.passes)
    finally:
        if not args.store_dir:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
