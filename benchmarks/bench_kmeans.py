"""daskmix.KMeans against scikit-learn's and dask-ml's KMeans, side by side.

One run, same data (1M x 10, K = 8 blobs by default), same random_state:

* inertia, wall time and Lloyd iterations of every contender;
* passes over the data of the dask contenders, counted exactly: X is a dask
  array whose blocks come from a ``map_blocks`` source that increments a
  counter each time a block is produced (nothing is persisted, so every pass
  re-reads every block, as it would from zarr or HDF5);
* passes per Lloyd iteration, from fits started at fixed centres;
* the time of the ``'kmeans'`` initialisation of a default
  ``daskmix.GaussianMixture`` against its whole fit on the same data.

dask-ml is a benchmark extra (``pip install daskmix[bench]``), never a
dependency. The OPENBLAS_* variables set on the development machines pin
the same BLAS kernel for every contender, so they can stay set.

Run::

    python benchmarks/bench_kmeans.py            # 1M x 10, K = 8
    python benchmarks/bench_kmeans.py --n-samples 200000 --repeats 1
"""

from __future__ import annotations

import argparse
import threading
import time
import warnings

import dask
import dask.array as da
import numpy as np
from sklearn import cluster
from sklearn.exceptions import ConvergenceWarning

import daskmix

N_FEATURES, N_CLUSTERS = 10, 8


class ReadCounter:
    """Counts the blocks a dask source hands out."""

    def __init__(self):
        self.reads = 0
        self._lock = threading.Lock()

    def __call__(self, block):
        with self._lock:
            self.reads += 1
        return block


def make_data(n_samples: int, seed: int = 0, scale: float = 3.0) -> np.ndarray:
    """Blobs: K unit-variance Gaussians with means ~ N(0, scale^2)."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((N_CLUSTERS, N_FEATURES)) * scale
    labels = rng.integers(0, N_CLUSTERS, n_samples)
    return means[labels] + rng.standard_normal((n_samples, N_FEATURES))


def counted_source(X: np.ndarray, block_rows: int):
    """(dask array re-reading X block by block, its counter, number of blocks)."""
    counter = ReadCounter()
    base = da.from_array(X, chunks=(block_rows, -1))
    source = base.map_blocks(counter, meta=np.empty((0, 0), X.dtype))
    return source, counter, base.numblocks[0]


def timed(fn, repeats: int):
    """(best seconds, last result) over ``repeats`` calls."""
    best, result = np.inf, None
    for _ in range(repeats):
        begin = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - begin)
    return best, result


def _with_centers(centers: np.ndarray):
    """A scikit-learn KMeans holding ``centers``: one exact inertia for all."""
    model = cluster.KMeans(N_CLUSTERS, init=centers, n_init=1, max_iter=1)
    model.fit(centers)
    model.cluster_centers_ = centers
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--block-rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-dask-ml", action="store_true")
    args = parser.parse_args()
    dask.config.set(scheduler="threads")
    warnings.simplefilter("ignore", ConvergenceWarning)

    X = make_data(args.n_samples)
    source, counter, n_blocks = counted_source(X, args.block_rows)
    print(
        f"N={args.n_samples:,} D={N_FEATURES} K={N_CLUSTERS}, {n_blocks} blocks of "
        f"{args.block_rows:,} rows; threads scheduler, "
        f"{daskmix._engine.threads.n_threads()} cores"
    )

    rows = []  # (name, seconds, inertia, n_iter, passes)

    def run(name, make, data, count=True):
        counter.reads = 0
        seconds, model = timed(lambda: make().fit(data), args.repeats)
        reads = counter.reads / args.repeats if count else None
        passes = reads / n_blocks if count else None
        inertia = float(_with_centers(model.cluster_centers_).score(X)) * -1
        rows.append((name, seconds, inertia, int(model.n_iter_), passes))
        return model

    run(
        "scikit-learn (numpy)",
        lambda: cluster.KMeans(N_CLUSTERS, n_init=1, random_state=0),
        X,
        count=False,
    )
    run(
        "daskmix (numpy)",
        lambda: daskmix.KMeans(N_CLUSTERS, random_state=0),
        X,
        count=False,
    )
    run("daskmix (dask)", lambda: daskmix.KMeans(N_CLUSTERS, random_state=0), source)
    if not args.skip_dask_ml:
        import dask_ml.cluster

        run(
            "dask-ml (dask)",
            lambda: dask_ml.cluster.KMeans(N_CLUSTERS, random_state=0),
            source,
        )

    print(
        f"\n{'':22s}{'seconds':>9s}{'inertia':>16s}{'Lloyd it':>9s}{'passes':>8s}"
        f"{'time/sk':>9s}{'inertia/sk':>11s}"
    )
    sk_seconds, sk_inertia = rows[0][1], rows[0][2]
    for name, seconds, inertia, n_iter, passes in rows:
        shown = "-" if passes is None else f"{passes:.1f}"
        print(
            f"{name:22s}{seconds:9.2f}{inertia:16.1f}{n_iter:9d}{shown:>8s}"
            f"{seconds / sk_seconds:9.2f}{inertia / sk_inertia:11.5f}"
        )
    by_name = {row[0]: row for row in rows}
    if "dask-ml (dask)" in by_name:
        ours, theirs = by_name["daskmix (dask)"], by_name["dask-ml (dask)"]
        print(
            f"daskmix vs dask-ml on dask: {theirs[1] / ours[1]:.1f}x faster, "
            f"{theirs[4] / ours[4]:.1f}x fewer passes, inertia ratio "
            f"{ours[2] / theirs[2]:.5f}"
        )

    # passes per Lloyd iteration, both started at the same fixed centres
    start = X[:: args.n_samples // N_CLUSTERS][:N_CLUSTERS].copy()
    contenders = [("daskmix", daskmix.KMeans)]
    if not args.skip_dask_ml:
        contenders.append(("dask-ml", dask_ml.cluster.KMeans))
    for name, cls in contenders:
        counter.reads = 0
        model = cls(N_CLUSTERS, init=start, n_init=1, max_iter=5, tol=0.0).fit(source)
        # dask-ml leaves labels_ lazy too; both are charged only for the fit
        passes = counter.reads / n_blocks
        extra = passes - model.n_iter_ * (1 if name == "daskmix" else 0)
        note = (
            f" = 1 per iteration + {extra:.0f} measuring the final inertia"
            if name == "daskmix"
            else f" = {passes / model.n_iter_:.2f} per iteration"
        )
        print(
            f"{name}: {passes:.0f} passes for {model.n_iter_} Lloyd iterations "
            f"from fixed centres{note}"
        )

    # kmeans initialisation inside a default GaussianMixture fit; on the
    # benchmark blobs EM converges in a couple of iterations, so the same is
    # also measured on overlapping blobs (scale 1), where EM runs longer
    overlapping, _, _ = counted_source(
        make_data(args.n_samples, scale=1.0), args.block_rows
    )
    print("\nGaussianMixture(8) default (full, init_params='kmeans'):")
    for label, data in (
        ("dask", source),
        ("numpy", X),
        ("dask, overlapping blobs", overlapping),
    ):
        init_seconds, _ = timed(
            lambda data=data: daskmix.GaussianMixture(
                N_CLUSTERS, max_iter=0, random_state=0
            ).fit(data),
            args.repeats,
        )
        fit_seconds, fitted = timed(
            lambda data=data: daskmix.GaussianMixture(N_CLUSTERS, random_state=0).fit(
                data
            ),
            args.repeats,
        )
        print(
            f"  {label:24s} init {init_seconds:6.2f} s, whole fit {fit_seconds:6.2f} s "
            f"({fitted.n_iter_} EM iterations): init = "
            f"{100 * init_seconds / fit_seconds:.0f}% of the fit"
        )


if __name__ == "__main__":
    main()
