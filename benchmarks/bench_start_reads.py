"""Bytes the starts read from a zarr store, against the store's size.

Writes a zarr v3 store of ``--n`` rows (15 million by default) of 10 float64
features and a float64 response (1.2 GB and 0.12 GB, uncompressed) in a
temporary folder, opens it through a store wrapper that counts the bytes
every ``get`` returns (metadata excluded; ``bench_minibatch_reads``'s
counting store), as dask arrays of ``--block-rows`` rows per block (15 blocks
of 1 million rows), and runs each start once, alone, on those arrays. The
data are four Gaussian blobs in rows sorted by blob (the first quarter of the
rows from the first blob...), and a response that is a line of x0 of slope
+1 or -1 by blob.

Layouts (``--layout``):

* ``sharded`` (default): one shard (file) per million rows, inner chunks of
  ``--chunk-rows`` rows (zarr v3 sharding: 15 files, small reads);
* ``small chunks``: chunks of ``--chunk-rows`` rows, one file each;
* ``chunks = blocks``: one chunk of a million rows per dask block. A start
  whose sample spans the data reads a whole chunk for each of its windows,
  so here every start reads most of the store: the figure to expect is the
  chunks the sample touches, not the rows.

A start is what an estimator runs before its first EM (or Lloyd) pass:
GaussianMixture's and RegressionMixture's model ``initialize`` (the hook the
estimators call, with ``random_state=0``), and KMeans' seedings. Printed per
start: MB read, that over the bytes of the arrays it reads (X, or X and y),
and seconds (threaded scheduler). Starts that make passes over the data by
design (``k-means++``: K passes; ``k-means||``: three) are printed too, with
``--passes``. Run::

    python benchmarks/bench_start_reads.py
    python benchmarks/bench_start_reads.py --layout "chunks = blocks"
    python benchmarks/bench_start_reads.py --n 2000000 --passes

Run it against another checkout (``PYTHONPATH=/path/to/other``) to compare
the figures before and after a change. The store is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings

import dask
import dask.array as da
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_minibatch_reads import counting_store_class  # noqa: E402

N_FEATURES = 10
N_BLOBS = 4


def write_store(path, n, block_rows, chunk_rows, layout):
    """Write X (n, 10) and y (n,) to zarr arrays under ``path``, a block at a time."""
    import zarr
    from zarr.storage import LocalStore

    rng = np.random.default_rng(0)
    means = rng.standard_normal((N_BLOBS, N_FEATURES)) * 6.0
    slopes = np.where(np.arange(N_BLOBS) % 2, 1.0, -1.0)
    rows = {"X": (N_FEATURES,), "y": ()}
    arrays = {}
    for name, width in rows.items():
        if layout == "chunks = blocks":
            chunking = {"chunks": (block_rows,) + width}
        elif layout == "small chunks":
            chunking = {"chunks": (chunk_rows,) + width}
        else:
            chunking = {
                "chunks": (chunk_rows,) + width,
                "shards": (block_rows,) + width,
            }
        arrays[name] = zarr.create_array(
            LocalStore(os.path.join(path, f"{name}.zarr")),
            shape=(n,) + width,
            dtype="f8",
            compressors=None,
            **chunking,
        )
    for start in range(0, n, block_rows):
        stop = min(n, start + block_rows)
        blob = (np.arange(start, stop) * N_BLOBS) // n  # rows sorted by blob
        X = means[blob] + rng.standard_normal((stop - start, N_FEATURES))
        y = slopes[blob] * X[:, 0] + 0.5 * rng.standard_normal(stop - start)
        arrays["X"][start:stop] = X
        arrays["y"][start:stop] = y


def open_counted(path, name, block_rows):
    import zarr
    from zarr.storage import LocalStore

    store = counting_store_class()(
        LocalStore(os.path.join(path, f"{name}.zarr"), read_only=True)
    )
    array = zarr.open_array(store, mode="r")
    return store, da.from_zarr(array, chunks=(block_rows,) + array.shape[1:])


def starts(passes: bool):
    """(label, arrays read, function of the RowBlocks) for every start."""
    from daskmix import GaussianMixture, RegressionMixture
    from daskmix.cluster.seeding import (
        kmeans_parallel_centers,
        kmeans_plusplus_centers,
        random_data_centers,
    )

    def mixture_start(estimator):
        def run(data):
            model = estimator._model(data.n_features, fitting=True)
            return model.initialize(data, np.random.RandomState(0))

        return run

    def seeding(function):
        return lambda data: function(data, N_BLOBS, np.random.RandomState(0))

    cases = [
        ("GaussianMixture 'kmeans' (default)", "X", mixture_start(GaussianMixture(4))),
        (
            "GaussianMixture 'gmm'",
            "X",
            mixture_start(GaussianMixture(4, init_params="gmm")),
        ),
        (
            "GaussianMixture 'random_from_data'",
            "X",
            mixture_start(GaussianMixture(4, init_params="random_from_data")),
        ),
        ("KMeans init='random'", "X", seeding(random_data_centers)),
        (
            "RegressionMixture 'short-em' (default)",
            "Xy",
            mixture_start(RegressionMixture(2)),
        ),
        (
            "RegressionMixture 'kmeans'",
            "Xy",
            mixture_start(RegressionMixture(2, init_params="kmeans")),
        ),
    ]
    if passes:
        cases += [
            (
                "KMeans init='k-means||' (default)",
                "X",
                seeding(kmeans_parallel_centers),
            ),
            ("KMeans init='k-means++'", "X", seeding(kmeans_plusplus_centers)),
        ]
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=15_000_000, help="rows")
    parser.add_argument("--block-rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument(
        "--layout",
        default="sharded",
        choices=["sharded", "small chunks", "chunks = blocks"],
    )
    parser.add_argument(
        "--passes",
        action="store_true",
        help="also the seedings that pass over all the data (slow)",
    )
    args = parser.parse_args()

    from daskmix._engine.rows import RowBlocks

    folder = tempfile.mkdtemp(prefix="bench_start_reads-")
    try:
        began = time.perf_counter()
        write_store(folder, args.n, args.block_rows, args.chunk_rows, args.layout)
        x_bytes = args.n * N_FEATURES * 8
        y_bytes = args.n * 8
        n_blocks = -(-args.n // args.block_rows)
        chunk_rows = (
            args.block_rows if args.layout == "chunks = blocks" else args.chunk_rows
        )
        print(
            f"{args.n} x {N_FEATURES} float64 (X {x_bytes / 1e9:.2f} GB, y "
            f"{y_bytes / 1e9:.2f} GB), layout '{args.layout}', zarr chunks of "
            f"{chunk_rows} rows, {n_blocks} dask blocks of {args.block_rows} rows;"
            f" written in {time.perf_counter() - began:.0f} s"
        )
        for label, names, run in starts(args.passes):
            x_store, X = open_counted(folder, "X", args.block_rows)
            y_store, y = open_counted(folder, "y", args.block_rows)
            arrays = {"X": X, "y": y} if names == "Xy" else {"X": X}
            total = x_bytes + (y_bytes if names == "Xy" else 0)
            began = time.perf_counter()
            with dask.config.set(scheduler="threads"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run(RowBlocks(arrays))
            seconds = time.perf_counter() - began
            read = x_store.bytes_read + (y_store.bytes_read if names == "Xy" else 0)
            print(
                f"  {label:40s} {read / 1e6:9.1f} MB read = "
                f"{100 * read / total:7.2f} % of the {names} store,"
                f" {seconds:6.1f} s"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
