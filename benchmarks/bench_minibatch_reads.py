"""Bytes a mini-batch fit reads from a zarr store, and its gap to batch EM.

The data are ``bench_minibatch.make_data`` (K = 6 full-covariance Gaussians in
8-D) sorted by component, written uncompressed (float64) to zarr stores in a
temporary folder and opened through a store wrapper that counts the bytes
every ``get`` returns (metadata excluded). Three layouts, all read as a dask
array of about 40 row blocks (``--n / 40`` rows each, rounded up to
whole ``--chunk-rows`` chunks):

* ``chunks = blocks``: one zarr chunk per dask block (``da.from_zarr`` of a
  store written from dask, the default pairing);
* ``small chunks``: zarr chunks of ``--chunk-rows`` rows, opened with dask
  blocks of ``--n / 40`` rows (``da.from_zarr(path, chunks=...)``);
* ``sharded``: one shard per dask block, inner chunks of ``--chunk-rows``
  rows (zarr v3 sharding: few files, small reads).

For each layout a ``GaussianMixture(algorithm="minibatch")`` fit runs on the
threaded scheduler. Printed: steps, bytes read by the whole fit (the
initialisation sample and warm-up included), per step, and the read
amplification = bytes read / bytes of the rows the steps used
(``n_steps * batch_size * 8 features * 8 bytes``); then the gap in mean
log-likelihood (``score`` on all rows, in memory) to batch EM fitted on the
same rows in memory. Run::

    python benchmarks/bench_minibatch_reads.py              # 500k rows
    python benchmarks/bench_minibatch_reads.py --n 2000000  # bench_minibatch's size
    python benchmarks/bench_minibatch_reads.py --seeds 0 1 2

Run it against another checkout (``PYTHONPATH=/path/to/other``) to compare
read figures before and after a change: only public API is used.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings

import dask
import dask.array as da
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_minibatch import N_COMPONENTS, N_FEATURES, make_data  # noqa: E402

N_BLOCKS = 40


def counting_store_class():
    """A zarr ``WrapperStore`` that counts the bytes its reads return."""
    from zarr.storage import WrapperStore

    class CountingStore(WrapperStore):
        def __init__(self, store):
            super().__init__(store)
            self._lock = threading.Lock()
            self.bytes_read = 0

        def _with_store(self, store):
            return type(self)(store)

        def _count(self, key, value):
            if value is not None and not key.endswith("zarr.json"):
                with self._lock:
                    self.bytes_read += len(value)

        async def get(self, key, prototype, byte_range=None):
            value = await self._store.get(key, prototype, byte_range)
            self._count(key, value)
            return value

        async def get_partial_values(self, prototype, key_ranges):
            values = await self._store.get_partial_values(prototype, key_ranges)
            for (key, _), value in zip(key_ranges, values):
                self._count(key, value)
            return values

    return CountingStore


def write_layouts(folder, X, block_rows: int, chunk_rows: int, names):
    """Write X in three layouts; yield (name, counting store, dask array)."""
    import zarr
    from zarr.storage import LocalStore

    CountingStore = counting_store_class()
    layouts = {
        "chunks = blocks": {"chunks": (block_rows, N_FEATURES)},
        "small chunks": {"chunks": (chunk_rows, N_FEATURES)},
        "sharded": {
            "chunks": (chunk_rows, N_FEATURES),
            "shards": (block_rows, N_FEATURES),
        },
    }
    for name in names:
        layout = layouts[name]
        path = os.path.join(folder, name.replace(" ", "_").replace("=", "eq"))
        array = zarr.create_array(
            LocalStore(path),
            shape=X.shape,
            dtype="f8",
            compressors=None,
            **layout,
        )
        array[:] = X
        store = CountingStore(LocalStore(path, read_only=True))
        lazy = da.from_zarr(
            zarr.open_array(store, mode="r"), chunks=(block_rows, N_FEATURES)
        )
        yield name, store, lazy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500_000, help="rows")
    parser.add_argument("--chunk-rows", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--layouts",
        nargs="+",
        default=["chunks = blocks", "small chunks", "sharded"],
        help="any of 'chunks = blocks', 'small chunks', 'sharded'",
    )
    args = parser.parse_args()

    from sklearn.exceptions import ConvergenceWarning

    from daskmix import GaussianMixture

    X, labels = make_data(args.n, 0)
    X_sorted = X[np.argsort(labels, kind="stable")]
    # shards hold whole inner chunks
    block_rows = -(-args.n // N_BLOCKS // args.chunk_rows) * args.chunk_rows
    n_blocks = -(-args.n // block_rows)
    row_bytes = N_FEATURES * 8
    common = {"n_components": N_COMPONENTS, "covariance_type": "full"}
    batch = GaussianMixture(**common, random_state=0).fit(X_sorted)
    ll_batch = batch.score(X_sorted)
    megabytes = args.n * row_bytes / 1e6
    print(
        f"{args.n} x {N_FEATURES} float64 sorted by component ({megabytes:.0f} MB),"
        f" {n_blocks} dask blocks of {block_rows} rows, batch_size {args.batch_size};"
        f" batch EM mean log-lik {ll_batch:.5f} ({batch.n_iter_} passes)"
    )
    folder = tempfile.mkdtemp(prefix="bench_minibatch_reads-")
    try:
        for name, store, lazy in write_layouts(
            folder, X_sorted, block_rows, args.chunk_rows, args.layouts
        ):
            for seed in args.seeds:
                store.bytes_read = 0
                model = GaussianMixture(
                    **common,
                    algorithm="minibatch",
                    batch_size=args.batch_size,
                    random_state=seed,
                )
                start = time.perf_counter()
                with dask.config.set(scheduler="threads"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model.fit(lazy)
                seconds = time.perf_counter() - start
                read = store.bytes_read
                used = model.n_steps_ * args.batch_size * row_bytes
                gap = ll_batch - model.score(X_sorted)
                passes = read / args.n / row_bytes
                print(
                    f"  {name:15s} seed {seed}: {model.n_steps_:4d} steps, "
                    f"{read / 1e6:8.1f} MB read ({passes:5.2f} passes),"
                    f" {read / max(model.n_steps_, 1) / 1e6:6.2f} MB/step,"
                    f" amplification {read / max(used, 1):6.1f}x,"
                    f" gap {gap:+.5f} nats, {seconds:6.1f} s"
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
