"""Fits on many tiny blocks against the same data in 100 blocks.

The same rows (``--rows`` x ``--features``, three clusters) are fitted by
``GaussianMixture`` and ``KMeans`` in 100 blocks and in ``--tiny`` blocks
(100,000 by default: ten rows each at a million rows), for three inputs:

* ``from_array``: ``da.from_array(X, chunks=...)`` on the threaded scheduler;
* ``generated``: a lazily generated array (``da.map_blocks`` computing each
  row from its row number, so that both chunkings hold the same rows), on the
  threaded scheduler;
* ``cluster``: ``da.from_array(X, chunks=...).persist()`` on a 2-worker
  ``distributed.LocalCluster`` (processes, one thread each).

It prints each fit's time, the ratio tiny / 100 blocks (the target is at most
5) and how far the fitted means of the two chunkings are apart (rounding only:
the chunking changes the order of additions). Per-row outputs are timed too
(``predict`` on the dask input, computed).

Run::

    python benchmarks/bench_tiny_blocks.py                  # a few minutes
    python benchmarks/bench_tiny_blocks.py --rows 200000 --tiny 20000
"""

from __future__ import annotations

import argparse
import time
import warnings

import dask
import dask.array as da
import numpy as np

from daskmix import GaussianMixture, KMeans

CENTERS = np.array([[0.0, 0.0, 0.0, 0.0], [4.0, 4.0, 0.0, 1.0], [0.0, 5.0, 5.0, 2.0]])


def make_rows(block_info=None, n_features: int = 4) -> np.ndarray:
    """The rows of one block, from their row numbers alone."""
    start, stop = block_info[None]["array-location"][0]
    rows = np.arange(start, stop)
    centers = np.resize(CENTERS, (3, n_features))
    noise = np.sin(rows[:, None] * (1.0 + np.arange(n_features)) * 12.9898)
    return centers[rows % 3] + (np.modf(noise * 43758.5453)[0] - 0.5) * 2.0


def generated(n_rows: int, n_features: int, block_rows: int) -> da.Array:
    chunks = (da.core.normalize_chunks(block_rows, (n_rows,))[0], (n_features,))
    return da.map_blocks(
        make_rows, dtype=np.float64, chunks=chunks, n_features=n_features
    )


def fit_time(estimator, X) -> tuple[float, object]:
    begin = time.perf_counter()
    estimator.fit(X)
    return time.perf_counter() - begin, estimator


def predict_time(estimator, X) -> float:
    begin = time.perf_counter()
    estimator.predict(X).compute()
    return time.perf_counter() - begin


def estimators():
    return [
        ("GaussianMixture", lambda: GaussianMixture(3, random_state=0, max_iter=20)),
        ("KMeans", lambda: KMeans(3, random_state=0, n_init=1, max_iter=20)),
    ]


def run_case(label, make_input, n_blocks: list[int], predict: bool) -> None:
    for name, make in estimators():
        times, means, predicts = [], [], []
        for blocks in n_blocks:
            X = make_input(blocks)
            seconds, fitted = fit_time(make(), X)
            times.append(seconds)
            attribute = "means_" if hasattr(fitted, "means_") else "cluster_centers_"
            means.append(np.sort(getattr(fitted, attribute), axis=0))
            predicts.append(predict_time(fitted, X) if predict else np.nan)
        gap = np.max(np.abs(means[1] - means[0]))
        print(
            f"{label:10s} {name:16s} {times[0]:8.2f} {times[1]:8.2f} "
            f"{times[1] / times[0]:6.1f}x {gap:9.1e} "
            f"{predicts[0]:8.2f} {predicts[1]:8.2f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=4)
    parser.add_argument("--tiny", type=int, default=100_000)
    parser.add_argument(
        "--cases", nargs="+", default=["from_array", "generated", "cluster"]
    )
    parser.add_argument("--no-predict", action="store_true")
    args = parser.parse_args()
    n_rows, n_features = args.rows, args.features
    X = np.asarray(generated(n_rows, n_features, n_rows).compute())
    n_blocks = [100, args.tiny]

    def rows_per(blocks: int) -> int:
        return -(-n_rows // blocks)

    print(
        f"{n_rows} x {n_features} rows in {n_blocks[0]} and {n_blocks[1]} blocks; "
        "fit seconds, ratio tiny/100, largest difference of the sorted means, "
        "predict seconds"
    )
    print(
        f"{'input':10s} {'estimator':16s} {'100 s':>8s} {'tiny s':>8s} "
        f"{'ratio':>7s} {'means gap':>9s} {'pred 100':>8s} {'pred tiny':>8s}"
    )
    predict = not args.no_predict
    with dask.config.set(scheduler="threads"):
        if "from_array" in args.cases:
            run_case(
                "from_array",
                lambda b: da.from_array(X, chunks=(rows_per(b), n_features)),
                n_blocks,
                predict,
            )
        if "generated" in args.cases:
            run_case(
                "generated",
                lambda b: generated(n_rows, n_features, rows_per(b)),
                n_blocks,
                predict,
            )
    if "cluster" not in args.cases:
        return
    from distributed import Client, LocalCluster, wait

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    with cluster, Client(cluster):

        def persisted(blocks: int) -> da.Array:
            Xd = da.from_array(X, chunks=(rows_per(blocks), n_features)).persist()
            wait(Xd)
            return Xd

        run_case("cluster", persisted, n_blocks, predict)


if __name__ == "__main__":
    main()
