"""Per-iteration EM time: Spark MLlib's GaussianMixture against daskmix.

Same data (blobs, 200k x 10 and 2M x 10 by default), K = 8, full covariance,
measured side by side in one run:

* Spark MLlib ``GaussianMixture`` on ``local[2]``, the features cached and
  counted before timing;
* daskmix on numpy input (two threads, one per core);
* daskmix on a dask array persisted on a 2-worker ``LocalCluster`` (one
  thread per worker), 8 blocks.

The time of one EM iteration is ``(t(m2) - t(m1)) / (m2 - m1)`` for fits of
``m1`` and ``m2`` iterations with ``tol=0`` (best of ``--repeats`` each),
which cancels initialisation, validation and job start-up for every
contender. Targets (issue 12): numpy
at least 10x faster than Spark local[2], the LocalCluster at least 5x.

For the LocalCluster the script also takes one iteration apart (median of
``--anatomy`` passes, from the scheduler's task stream): the time from the
client's submission to the first block task starting (graph submission and
scheduling), the busiest worker's kernel time, the time from the last task's
end to the statistics being on the client (result transfer and the last
addition), and the client's M-step. The numpy kernel's time on one thread
over all rows, and the floor a one-thread GEMM of the E-step's shape sets for
the same flops, are printed next to them.

pyspark is not a dependency of daskmix: ``pip install pyspark`` for this
script (it needs Java 17 or newer). Without pyspark or Java the script says
so and exits. Run::

    python benchmarks/bench_spark.py                       # 200k and 2M rows
    python benchmarks/bench_spark.py --sizes 200000 --m2 4 # quicker

On machines whose environment pins an OpenBLAS kernel (``OPENBLAS_CORETYPE``),
run it with ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE``, as a user's
machine would (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

import numpy as np

N_FEATURES = 10
N_COMPONENTS = 8


def spark_missing() -> str | None:
    """Why Spark cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install pyspark)"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "Java is not installed (Spark needs Java 17 or newer)"
    return None


def make_data(n_samples: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((N_COMPONENTS, N_FEATURES)) * 4.0
    labels = rng.integers(0, N_COMPONENTS, n_samples)
    scales = rng.uniform(0.5, 1.5, (N_COMPONENTS, N_FEATURES))
    return means[labels] + rng.standard_normal((n_samples, N_FEATURES)) * scales[labels]


REPEATS = 2


def per_iteration(fit, m1: int, m2: int) -> float:
    """``(t(m2) - t(m1)) / (m2 - m1)`` seconds, best of REPEATS fits each."""
    times = {m1: np.inf, m2: np.inf}
    for _ in range(REPEATS):
        for m in (m1, m2):
            start = time.perf_counter()
            fit(m)
            times[m] = min(times[m], time.perf_counter() - start)
    return (times[m2] - times[m1]) / (m2 - m1)


def spark_session():
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[2]")
        .appName("daskmix-bench")
        .config("spark.driver.memory", "6g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )


def spark_time(spark, X: np.ndarray, m1: int, m2: int) -> float:
    import pandas as pd
    from pyspark.ml.clustering import GaussianMixture as SparkGMM
    from pyspark.ml.feature import VectorAssembler

    columns = [f"x{j}" for j in range(X.shape[1])]
    frame = spark.createDataFrame(pd.DataFrame(X, columns=columns))
    features = (
        VectorAssembler(inputCols=columns, outputCol="features")
        .transform(frame)
        .select("features")
        .repartition(2)
        .cache()
    )
    features.count()

    def fit(max_iter):
        SparkGMM(k=N_COMPONENTS, maxIter=max_iter, tol=0.0, seed=0).fit(features)

    fit(1)  # warm-up: JIT, broadcast machinery
    seconds = per_iteration(fit, m1, m2)
    features.unpersist()
    return seconds


def daskmix_fit(X, max_iter: int) -> None:
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from daskmix import GaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GaussianMixture(
            N_COMPONENTS,
            covariance_type="full",
            max_iter=max_iter,
            tol=0,
            init_params="random_from_data",
            random_state=0,
        ).fit(X)


def _model_and_params(data):
    from daskmix.gaussian.model import GaussianModel

    model = GaussianModel(N_COMPONENTS, "full", 1e-6, init_params="random_from_data")
    params = model.initialize(data, np.random.RandomState(0), restart=0)
    return model, params


def gemm_floor(X: np.ndarray) -> tuple[float, float]:
    """(one-thread kernel time over all rows, the GEMM-rate floor), seconds.

    The E-step and statistics of full covariances cost about ``2DKD`` (the
    whitening GEMM) + ``2KD^2`` (second moments) + ``4KD`` flops a row; the
    floor is that at the rate one thread reaches on the whitening GEMM's shape.
    """
    from threadpoolctl import threadpool_limits

    from daskmix._engine.rows import RowBlocks
    from daskmix._engine.tiles import Tile, block_stats

    data = RowBlocks({"X": X})
    model, params = _model_and_params(data)
    plan = model.plan(params, X.dtype)
    tile = model.tile_rows(X.shape[1])
    n, d, k = X.shape[0], X.shape[1], N_COMPONENTS
    flops = n * (2 * d * k * d + 2 * k * d * d + 4 * k * d)
    a = np.random.default_rng(0).standard_normal((tile, d))
    b = np.random.default_rng(1).standard_normal((k * d, d))
    out = np.empty((k * d, tile))
    kernel = gemm = np.inf
    with threadpool_limits(1):
        for _ in range(5):
            start = time.perf_counter()
            for first in range(0, n, tile):
                block = Tile({"X": X[first : first + tile]}, first)
                block_stats(model.kernel, block, plan, tile)
            kernel = min(kernel, time.perf_counter() - start)
            start = time.perf_counter()
            for _ in range(20):
                np.matmul(b, a.T, out=out)
            gemm = min(gemm, (time.perf_counter() - start) / 20)
    rate = 2 * tile * d * k * d / gemm
    return kernel, flops / rate


def cluster_anatomy(lazy, passes: int) -> dict:
    """Median parts of one EM iteration on the cluster, in seconds."""
    from distributed import get_task_stream

    from daskmix._em.run import run_pass
    from daskmix._engine.rows import RowBlocks, one_blas_thread

    data = RowBlocks({"X": lazy})
    model, params = _model_and_params(data)
    run_pass(model, data, params)  # builds the pass template
    parts: dict = {"pass": [], "submit": [], "kernel": [], "return": [], "mstep": []}
    for _ in range(passes):
        begin = time.time()
        with get_task_stream() as stream:
            stats = run_pass(model, data, params)
        end = time.time()
        spans = [
            (record["worker"], part["start"], part["stop"])
            for record in stream.data
            for part in record["startstops"]
            if part["action"] == "compute"
        ]
        busy: dict = {}
        for worker, start, stop in spans:
            busy[worker] = busy.get(worker, 0.0) + stop - start
        parts["pass"].append(end - begin)
        parts["submit"].append(min(start for _, start, _ in spans) - begin)
        parts["kernel"].append(max(busy.values()))
        parts["return"].append(end - max(stop for _, _, stop in spans))
        start = time.perf_counter()
        with one_blas_thread():  # as in a fit (daskmix._em.batch.fit_em)
            model.m_step(stats, params, model.frame(params, data.dtype))
        parts["mstep"].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in parts.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 2_000_000])
    parser.add_argument("--m1", type=int, default=2)
    parser.add_argument("--m2", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--skip-cluster", action="store_true")
    parser.add_argument(
        "--anatomy", type=int, default=7, help="passes taken apart (0: none)"
    )
    args = parser.parse_args()
    globals()["REPEATS"] = args.repeats
    reason = spark_missing()
    if reason:
        print(f"bench_spark skipped: {reason}.")
        return 0

    import warnings

    import dask.array as da
    from distributed import Client, LocalCluster

    # the persisted array travels in the graph once, on purpose
    warnings.filterwarnings("ignore", message="Sending large graph")

    spark = spark_session()
    spark.sparkContext.setLogLevel("ERROR")
    cluster = client = None
    if not args.skip_cluster:
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
    rows = []
    anatomies = []
    try:
        for n_samples in args.sizes:
            X = make_data(n_samples)
            spark_s = spark_time(spark, X, args.m1, args.m2)
            daskmix_fit(X, 1)  # warm-up
            numpy_s = per_iteration(lambda m, X=X: daskmix_fit(X, m), args.m1, args.m2)
            cluster_s = np.nan
            if cluster is not None:
                client = Client(cluster)
                lazy = da.from_array(X, chunks=(-(-n_samples // 8), -1)).persist()
                daskmix_fit(lazy, 1)
                cluster_s = per_iteration(
                    lambda m, lazy=lazy: daskmix_fit(lazy, m), args.m1, args.m2
                )
                if args.anatomy:
                    anatomy = cluster_anatomy(lazy, args.anatomy)
                    anatomy["kernel 1 thread"], anatomy["GEMM floor"] = gemm_floor(X)
                    anatomies.append((n_samples, anatomy))
                del lazy
                client.close()
            rows.append((n_samples, spark_s, numpy_s, cluster_s))
            print(
                f"{n_samples:>9,d} rows: Spark {spark_s:.3f} s/iter, "
                f"daskmix numpy {numpy_s:.3f}, LocalCluster {cluster_s:.3f}",
                flush=True,
            )
    finally:
        spark.stop()
        if cluster is not None:
            cluster.close()

    print()
    print(
        f"One EM iteration, K={N_COMPONENTS}, D={N_FEATURES}, full covariance "
        f"(fits of {args.m1} and {args.m2} iterations)"
    )
    header = (
        f"{'rows':>10} {'Spark s':>9} {'numpy s':>9} {'cluster s':>10} "
        f"{'Spark/numpy':>12} {'Spark/cluster':>14}"
    )
    print(header)
    print("-" * len(header))
    for n_samples, spark_s, numpy_s, cluster_s in rows:
        print(
            f"{n_samples:>10,d} {spark_s:>9.3f} {numpy_s:>9.3f} {cluster_s:>10.3f} "
            f"{spark_s / numpy_s:>11.1f}x {spark_s / cluster_s:>13.1f}x"
        )
    print("Targets: Spark/numpy >= 10x, Spark/cluster >= 5x.")
    if anatomies:
        print()
        print(
            "One LocalCluster iteration taken apart (ms, median of "
            f"{args.anatomy} passes): submit = submission to the first block task, "
            "kernel = the busiest worker's block tasks, return = last task's end to "
            "the statistics on the client; numpy kernel on one thread over all "
            "rows, and the one-thread GEMM-rate floor of the same flops"
        )
        names = list(anatomies[0][1])
        print(f"{'rows':>10} " + " ".join(f"{name:>15}" for name in names))
        for n_samples, anatomy in anatomies:
            values = " ".join(f"{anatomy[name] * 1e3:>15.1f}" for name in names)
            print(f"{n_samples:>10,d} {values}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
