"""Scheduler overhead of one ``RowBlocks.map_reduce`` pass, per block.

The same persisted data (200k x 4 by default) are cut into 100, 1,000 and
10,000 blocks and passed over with two kernels: a trivial one (counts rows) and
the diag GaussianMixture E-step. Each pass is timed on

* numpy input with the same blocks (the engine's thread pool: the kernels'
  own time plus a few microseconds per block), the floor;
* a persisted dask array on the threaded scheduler;
* the same on a 2-worker ``distributed.LocalCluster`` (processes, 1 thread
  each);

and the overhead per block is ``(t_dask - t_numpy) / n_blocks``. The pass as
built before graph reuse (``to_delayed`` and ``dask.delayed`` every pass, one
task per block) is timed alongside, so that the table prints the ratio of the
two measured in the same run. ``--split`` sweeps the fan-in of the reduction
tree (``daskmix.split-every``) at 1,000 blocks.

Run::

    python benchmarks/bench_overhead.py            # about 5 minutes
    python benchmarks/bench_overhead.py --quick    # 100 and 1,000 blocks

Times are the best of ``--passes`` passes after one warm-up pass (the first
pass builds the cached template). The first pass is printed too.
"""

from __future__ import annotations

import argparse
import time
import warnings

import dask
import dask.array as da
import numpy as np

from daskmix import config
from daskmix._engine.rows import RowBlocks
from daskmix._engine.stats import Stats, add_all
from daskmix._engine.tiles import Tile, block_stats
from daskmix.gaussian.kernels import em_kernel, make_plan
from daskmix.gaussian.params import GaussianParams


def count_kernel(tile, params):
    x = tile.X
    return Stats(n_rows=np.float64(x.shape[0]))


def diag_plan(X: np.ndarray, n_components: int):
    rng = np.random.default_rng(0)
    means = X[rng.choice(X.shape[0], n_components, replace=False)]
    variances = np.ones((n_components, X.shape[1]))
    params = GaussianParams(
        "diag",
        np.full(n_components, 1.0 / n_components),
        means,
        variances,
        1.0 / np.sqrt(variances),
    )
    return make_plan(params, X.dtype)


def legacy_map_reduce(data: RowBlocks, kernel, params, tile_rows: int) -> Stats:
    """The dask pass as it was built before graph reuse (for comparison)."""
    params_key = dask.delayed(params, traverse=False)
    block_lists = [array.to_delayed().ravel() for array in data.arrays]
    level = [
        dask.delayed(block_stats, pure=True)(
            kernel,
            dask.delayed(Tile)(dict(zip(data.names, blocks)), start),
            params_key,
            tile_rows,
        )
        for blocks, start in zip(zip(*block_lists), data.block_starts)
    ]
    split_every = config.get("split-every")
    while len(level) > 1:
        level = [
            dask.delayed(add_all, pure=True)(level[i : i + split_every])
            for i in range(0, len(level), split_every)
        ]
    (total,) = dask.compute(level[0])
    return total


def best_pass(run, passes: int) -> tuple[float, float]:
    """(first pass, best of the next ``passes``) in seconds."""
    begin = time.perf_counter()
    run()
    first = time.perf_counter() - begin
    times = []
    for _ in range(passes):
        begin = time.perf_counter()
        run()
        times.append(time.perf_counter() - begin)
    return first, min(times)


def measure(X, n_blocks, kernels, passes, legacy_passes, split=None):
    """Rows of the table for one chunking on the current scheduler."""
    if split is not None:
        with dask.config.set({"daskmix.split-every": split}):
            return measure(X, n_blocks, kernels, passes, legacy_passes)
    block_rows = -(-X.shape[0] // n_blocks)
    Xd = da.from_array(X, chunks=(block_rows, X.shape[1])).persist()
    dask.compute(Xd.sum())  # wait until the blocks are in place
    rows = []
    for kernel_name, kernel, params in kernels:
        floor_data = RowBlocks({"X": X}, block_rows=block_rows)
        data = RowBlocks({"X": Xd})

        def numpy_pass(data=floor_data, kernel=kernel, params=params):
            return data.map_reduce(kernel, params, 8192)

        def new_pass(data=data, kernel=kernel, params=params):
            return data.map_reduce(kernel, params, 8192, name="bench")

        def old_pass(data=data, kernel=kernel, params=params):
            return legacy_map_reduce(data, kernel, params, 8192)

        _, t_numpy = best_pass(numpy_pass, passes)
        first, t_new = best_pass(new_pass, passes)
        t_old = best_pass(old_pass, legacy_passes)[1] if legacy_passes else np.nan
        tasks = len(data._template[1].runs)
        rows.append((kernel_name, n_blocks, tasks, t_numpy, first, t_new, t_old))
    return rows


def print_rows(label, rows):
    for kernel_name, n_blocks, tasks, t_numpy, first, t_new, t_old in rows:
        per_block = (t_new - t_numpy) / n_blocks * 1e3
        old_per_block = (t_old - t_numpy) / n_blocks * 1e3
        print(
            f"{label:9s} {kernel_name:6s} {n_blocks:6d} {tasks:6d} "
            f"{t_numpy * 1e3:9.1f} {first * 1e3:9.1f} {t_new * 1e3:9.1f} "
            f"{per_block:8.3f} {old_per_block:8.3f} {t_old / t_new:7.1f}x",
            flush=True,
        )


HEADER = (
    f"{'scheduler':9s} {'kernel':6s} {'blocks':>6s} {'tasks':>6s} "
    f"{'numpy ms':>9s} {'1st ms':>9s} {'pass ms':>9s} "
    f"{'ms/blk':>8s} {'old/blk':>8s} {'old/new':>8s}"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=4)
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--blocks", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument(
        "--split", type=int, nargs="*", default=[4, 8, 16, 32], help="fan-ins"
    )
    parser.add_argument("--no-cluster", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.blocks = [b for b in args.blocks if b <= 1000]
        args.passes = 3
        args.split = []
    X = np.random.default_rng(0).standard_normal((args.rows, args.features))
    kernels = [
        ("count", count_kernel, None),
        ("diag", em_kernel, diag_plan(X, args.components)),
    ]
    default_split = config.get("split-every")
    print(
        f"{args.rows} x {args.features} persisted rows, K={args.components}; "
        f"split-every={default_split}; ms/blk = (pass - numpy) / blocks; old = "
        "the graph rebuilt from to_delayed every pass"
    )

    def run_all(label):
        print(HEADER)
        for n_blocks in args.blocks:
            legacy = 1 if n_blocks >= 10000 else 2
            rows = measure(X, n_blocks, kernels, args.passes, legacy)
            print_rows(label, rows)
        for split in args.split:
            rows = measure(X, 1000, kernels[:1], args.passes, 0, split=split)
            print_rows(f"split={split}", rows)

    with dask.config.set(scheduler="threads"):
        run_all("threads")
    if args.no_cluster:
        return
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    with cluster, Client(cluster):
        run_all("cluster")


if __name__ == "__main__":
    main()
