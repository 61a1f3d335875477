"""The compiled kernels against scikit-learn and the numpy kernels, per iteration.

Every line is a ratio timed side by side in one run (best of ``--repeats``,
alternating the contenders), numpy input, default threads for everyone:

* GaussianMixture and BayesianGaussianMixture: seconds per EM iteration,
  ``(t(m2) - t(m1)) / (m2 - m1)`` for fits from the same starting parameters
  with ``tol=0``; scikit-learn, daskmix with ``daskmix.kernels='numpy'``
  and daskmix with ``'compiled'``;
* the full-covariance kernel alone (one thread, ``--n-samples`` rows, K=8,
  D=10) against the time of its own GEMMs (``2 N D K D`` whitening and
  ``2 N K D^2`` second moments) at the rate one thread reaches on a square
  GEMM (1024 x 1024);
* KMeans: seconds per Lloyd iteration at K = 8, 64, 256 from the same
  centres with ``tol=0`` (data without clusters, so Lloyd does not stop);
* the float32 path (``daskmix.float32-compute``): kernel speed-up on float32
  data and the relative error of the fitted covariances on data offset by
  1e3, against a float64 fit.

``OMP_WAIT_POLICY`` is PASSIVE unless set: scikit-learn's OpenMP threads then
sleep between its parallel regions instead of spinning beside the next
contender. Run (quote the BLAS kernel it prints)::

    python benchmarks/bench_kernels.py                  # 300k rows
    python benchmarks/bench_kernels.py --n-samples 100000 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

# scikit-learn's OpenMP threads would otherwise spin for a while after each
# parallel region, stealing the CPU from whatever is timed next
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import dask
import numpy as np
from sklearn import cluster, mixture
from sklearn.cluster._k_means_lloyd import lloyd_iter_chunked_dense
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info, threadpool_limits

import daskmix
from daskmix._engine.rows import RowBlocks
from daskmix._engine.tiles import Tile
from daskmix.cluster.kernels import lloyd_kernel, make_lloyd_plan
from daskmix.cluster.lloyd import kmeans_tile_rows, update_centers
from daskmix.gaussian.kernels import em_kernel, make_plan

BACKENDS = ("numpy", "compiled")


def blobs(n_samples, n_features, n_components, seed=0, offset=0.0, dtype=None):
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((n_components, n_features)) * 3 + offset
    labels = rng.integers(0, n_components, n_samples)
    X = means[labels] + rng.standard_normal((n_samples, n_features))
    return X if dtype is None else X.astype(dtype)


def quiet_fit(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        begin = time.perf_counter()
        model.fit(X)
    return time.perf_counter() - begin


def per_iteration(contenders, X, repeats, low=1, high=4):
    """Seconds per iteration of each contender ``make(max_iter)``, interleaved."""
    for make, backend in contenders.values():  # warm-up: compile, imports
        with dask.config.set({"daskmix.kernels": backend or "numpy"}):
            quiet_fit(make(low), X)
    times = {(name, n): [] for name in contenders for n in (low, high)}
    for _ in range(repeats):
        for n in (low, high):
            for name, (make, backend) in contenders.items():
                with dask.config.set({"daskmix.kernels": backend or "numpy"}):
                    times[name, n].append(quiet_fit(make(n), X))
    return {
        name: (min(times[name, high]) - min(times[name, low])) / (high - low)
        for name in contenders
    }


def gaussian_start(X, covariance_type, n_components):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = mixture.GaussianMixture(
            n_components,
            covariance_type=covariance_type,
            max_iter=2,
            random_state=0,
            init_params="random_from_data",
        ).fit(X[:20_000])
    return dict(
        covariance_type=covariance_type,
        weights_init=fitted.weights_,
        means_init=fitted.means_,
        precisions_init=fitted.precisions_,
        tol=0.0,
    )


def report(label, seconds):
    sk = seconds["sklearn"]
    print(
        f"{label:44s} sklearn {sk:8.4f}  numpy {seconds['numpy']:8.4f} "
        f"({sk / seconds['numpy']:5.1f}x)  compiled {seconds['compiled']:8.4f} "
        f"({sk / seconds['compiled']:5.1f}x)"
    )


CASES = [
    "full-10-8",
    "diag-2-8",
    "diag-10-8",
    "spherical-2-8",
    "spherical-10-8",
    "full-64-16",
]


def gaussian_ratios(n_samples, repeats, bayesian, cases=CASES):
    for case in cases:
        covariance_type, n_features, n_components = case.split("-")
        n_features, n_components = int(n_features), int(n_components)
        # D=64, K=16 costs 60x the flops of a row at D=10, K=8: a third of the rows
        rows = n_samples if n_features <= 10 else n_samples // 3
        X = blobs(rows, n_features, n_components)
        if bayesian:
            common = dict(
                covariance_type=covariance_type,
                tol=0.0,
                random_state=0,
                init_params="random_from_data",
            )

            def sk(m, c=common, k=n_components):
                return mixture.BayesianGaussianMixture(n_components=k, max_iter=m, **c)

            def dm(m, c=common, k=n_components):
                return daskmix.BayesianGaussianMixture(n_components=k, max_iter=m, **c)
        else:
            start = gaussian_start(X, covariance_type, n_components)

            def sk(m, s=start, k=n_components):
                return mixture.GaussianMixture(k, max_iter=m, **s)

            def dm(m, s=start, k=n_components):
                return daskmix.GaussianMixture(k, max_iter=m, **s)

        seconds = per_iteration(
            {
                "sklearn": (sk, None),
                "numpy": (dm, "numpy"),
                "compiled": (dm, "compiled"),
            },
            X,
            repeats,
        )
        name = "BayesianGM" if bayesian else "GaussianMixture"
        label = f"{name} {covariance_type} D={n_features} K={n_components}"
        report(f"{label} N={rows:,}", seconds)


def best_seconds(fn, repeats):
    fn()
    best = np.inf
    for _ in range(repeats):
        begin = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - begin)
    return best


def kernel_against_gemm(n_samples, repeats, tile_rows=8192):
    """The full kernel (one thread) against its GEMMs at the square-GEMM rate."""
    n_features, n_components = 10, 8
    X = blobs(n_samples, n_features, n_components)
    fitted = daskmix.GaussianMixture(n_components, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted.fit(X[:20_000])
    tiles = [Tile({"X": X[i : i + tile_rows]}) for i in range(0, n_samples, tile_rows)]
    with threadpool_limits(1):
        a = np.random.default_rng(0).standard_normal((1024, 1024))
        gemm = best_seconds(lambda: a @ a, repeats + 2)
        rate = 2 * 1024**3 / gemm
        flops = n_samples * (2 * n_features * n_components * n_features) * 2
        floor = flops / rate
        row = [f"square GEMM {rate / 1e9:.1f} GFLOP/s, own-GEMM floor {floor:.4f} s"]
        for backend in BACKENDS:
            with dask.config.set({"daskmix.kernels": backend}):
                plan = make_plan(fitted._params(), np.float64)
            seconds = best_seconds(
                lambda p=plan: [em_kernel(t, p) for t in tiles], repeats
            )
            row.append(f"{backend} {seconds:.4f} s ({seconds / floor:.2f}x floor)")
    print("full kernel, 1 thread, K=8 D=10:  " + ";  ".join(row))


def kmeans_ratios(n_samples, repeats):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, 10))
    for n_clusters in (8, 64, 256):
        centers = X[rng.choice(n_samples, n_clusters, replace=False)]

        def sk(m, c=centers):
            return cluster.KMeans(
                len(c), init=c, n_init=1, max_iter=m, tol=0, algorithm="lloyd"
            )

        def dm(m, c=centers):
            return daskmix.KMeans(len(c), init=c, n_init=1, max_iter=m, tol=0)

        seconds = per_iteration(
            {
                "sklearn": (sk, None),
                "numpy": (dm, "numpy"),
                "compiled": (dm, "compiled"),
            },
            X,
            repeats,
            low=2,
            high=8,
        )
        report(f"KMeans K={n_clusters} D=10 (fits)", seconds)
        report(
            f"KMeans K={n_clusters} D=10 (one pass)", lloyd_passes(X, centers, repeats)
        )


def lloyd_passes(X, centers, repeats):
    """Best time of one Lloyd iteration: scikit-learn's and daskmix's pass.

    scikit-learn's ``lloyd_iter_chunked_dense`` (labels, centre sums and
    shifts; OpenMP threads) against daskmix's pass (labels, sums, inertia,
    label changes against the previous centres; engine threads) and M-step.
    """
    n_clusters = centers.shape[0]
    previous = centers + 0.01
    weights = np.ones(X.shape[0])
    labels = np.zeros(X.shape[0], dtype=np.int32)
    new, shift = np.empty_like(centers), np.empty(n_clusters)
    in_clusters = np.empty(n_clusters)
    threads = os.cpu_count()

    def sk():
        lloyd_iter_chunked_dense(
            X, weights, centers, new, in_clusters, labels, shift, threads
        )

    rows = RowBlocks({"X": X})
    tile_rows = kmeans_tile_rows(n_clusters, X.shape[1])
    plans = {}
    for backend in BACKENDS:
        with dask.config.set({"daskmix.kernels": backend}):
            plans[backend] = make_lloyd_plan(
                centers, X.dtype, n_far=n_clusters, previous=previous
            )

    def dm(backend):
        plan = plans[backend]
        update_centers(rows.map_reduce(lloyd_kernel, plan, tile_rows), plan)

    seconds = {"sklearn": np.inf, "numpy": np.inf, "compiled": np.inf}
    sk(), dm("numpy"), dm("compiled")
    for _ in range(3 * repeats):
        for name, run in (("sklearn", sk), ("numpy", lambda: dm("numpy"))):
            begin = time.perf_counter()
            run()
            seconds[name] = min(seconds[name], time.perf_counter() - begin)
        begin = time.perf_counter()
        dm("compiled")
        seconds["compiled"] = min(seconds["compiled"], time.perf_counter() - begin)
    return seconds


def float32_path(n_samples, repeats):
    n_features, n_components = 10, 8
    X64 = blobs(n_samples, n_features, n_components, offset=1e3)
    X32 = X64.astype(np.float32)
    start = dict(covariance_type="full", random_state=0, tol=0.0, max_iter=20)
    reference = daskmix.GaussianMixture(n_components, **start)
    with dask.config.set({"daskmix.kernels": "compiled"}):
        quiet_fit(reference, X32.astype(np.float64))
    init = dict(
        weights_init=reference.weights_,
        means_init=reference.means_,
        precisions_init=reference.precisions_,
    )
    expected = reference_step(reference, X32, init)
    out = []
    for flag in (False, True):
        with dask.config.set(
            {"daskmix.kernels": "compiled", "daskmix.float32-compute": flag}
        ):
            model = daskmix.GaussianMixture(n_components, max_iter=1, **init, tol=0)
            seconds = best_seconds(lambda m=model: quiet_fit(m, X32), repeats)
            error = np.max(np.abs(model.covariances_ - expected)) / np.max(
                np.abs(expected)
            )
        out.append((seconds, error))
    (t64, e64), (t32, e32) = out
    print(
        f"float32 data offset 1e3, full D=10 K=8: float64 compute {t64:.4f} s "
        f"(cov rel. error {e64:.1e}), float32 compute {t32:.4f} s "
        f"(cov rel. error {e32:.1e}), speed-up {t64 / t32:.2f}x"
    )


def reference_step(reference, X32, init):
    """Covariances after one EM step from ``init`` on the float64 values of X32."""
    with dask.config.set({"daskmix.kernels": "numpy"}):
        model = daskmix.GaussianMixture(
            reference.n_components, covariance_type="full", max_iter=1, tol=0, **init
        )
        quiet_fit(model, X32.astype(np.float64))
    return model.covariances_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["gmm", "bgm", "kernel", "kmeans", "f32"],
    )
    parser.add_argument(
        "--cases", nargs="*", default=None, help="GMM/BGM cases, e.g. full-10-8"
    )
    args = parser.parse_args()
    blas = [
        (i["internal_api"], i.get("architecture"), i["num_threads"])
        for i in threadpool_info()
    ]
    print(f"BLAS: {blas}; load average {os.getloadavg()[0]:.1f}")
    n, r = args.n_samples, args.repeats
    if "kernel" not in args.skip:
        kernel_against_gemm(n, r)
    if "gmm" not in args.skip:
        gaussian_ratios(n, r, bayesian=False, cases=args.cases or CASES)
    if "bgm" not in args.skip:
        gaussian_ratios(n, r, bayesian=True, cases=args.cases or CASES)
    if "kmeans" not in args.skip:
        kmeans_ratios(n, r)
    if "f32" not in args.skip:
        float32_path(n, r)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
