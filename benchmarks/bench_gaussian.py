"""Per-iteration EM time of daskmix.GaussianMixture against scikit-learn's.

Both start from the same weights/means/precisions and run with ``tol=0``; the
time of one EM iteration is ``(t(m2) - t(m1)) / (m2 - m1)`` for fits of m1 and
m2 iterations, which cancels validation and the final pass scikit-learn adds.
The two libraries are timed alternately, ``--repeats`` times, and the best
times are compared. Peak traced memory of one fit (tracemalloc, which sees numpy's
allocations) is printed next to the size of X and of an N x K float64 array.
The kernel's achieved GFLOP/s is printed next to a plain numpy GEMM of the
E-step's shape, ``(N, D) @ (D, K*D)``, on the same machine.

Run (the OPENBLAS_* variables set on the development machines pin an older
kernel; unset them in this command only)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_gaussian.py
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from sklearn import mixture
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info

import daskmix

N_FEATURES, N_COMPONENTS = 10, 8


def make_data(n_samples: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((N_COMPONENTS, N_FEATURES)) * 3
    labels = rng.integers(0, N_COMPONENTS, n_samples)
    return means[labels] + rng.standard_normal((n_samples, N_FEATURES))


def start(X: np.ndarray, covariance_type: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = mixture.GaussianMixture(
            N_COMPONENTS,
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


def fit_seconds(cls, X, kwargs, max_iter) -> float:
    model = cls(N_COMPONENTS, max_iter=max_iter, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        begin = time.perf_counter()
        model.fit(X)
    return time.perf_counter() - begin


def per_iteration_pair(X, kwargs, repeats: int, low: int = 1, high: int = 6):
    """Seconds per EM iteration (scikit-learn, daskmix), timed alternately.

    Each of the four fits (two libraries x two iteration counts) takes the
    best of ``repeats`` runs, interleaved so that both libraries see the same
    machine conditions.
    """
    classes = (mixture.GaussianMixture, daskmix.GaussianMixture)
    for cls in classes:  # warm-up: imports, thread pools, caches
        fit_seconds(cls, X, kwargs, low)
    times = {(cls, n): [] for cls in classes for n in (low, high)}
    for _ in range(repeats):
        for n in (low, high):
            for cls in classes:
                times[cls, n].append(fit_seconds(cls, X, kwargs, n))
    return tuple(
        (min(times[cls, high]) - min(times[cls, low])) / (high - low) for cls in classes
    )


def peak_bytes(cls, X, kwargs) -> int:
    tracemalloc.start()
    fit_seconds(cls, X, kwargs, 2)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def flops_per_row(covariance_type: str) -> float:
    """Floating-point operations of one fused kernel row (multiply-add = 2)."""
    K, D = N_COMPONENTS, N_FEATURES
    if covariance_type == "full":
        # whitening GEMM, squared norms, r-weighting, s1, s2 (D x D per k)
        return 2 * K * D * D + 2 * K * D + K * D + 2 * K * D + 2 * K * D * D
    if covariance_type == "tied":
        return 2 * D * D + 2 * K * D + 2 * D * D + 2 * K * D
    # two GEMMs for the E-step, two for the statistics
    return 4 * K * D + 4 * K * D


def gemm_gflops(X: np.ndarray) -> float:
    """A plain numpy GEMM of the E-step's shape, default BLAS threads."""
    W = np.random.default_rng(1).standard_normal(
        (N_FEATURES, N_COMPONENTS * N_FEATURES)
    )
    X @ W
    begin = time.perf_counter()
    for _ in range(3):
        X @ W
    seconds = (time.perf_counter() - begin) / 3
    return 2 * X.shape[0] * N_FEATURES * N_COMPONENTS * N_FEATURES / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300_000, 1_000_000])
    parser.add_argument(
        "--types", nargs="+", default=["full", "diag", "tied", "spherical"]
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    blas = [
        (i["internal_api"], i.get("architecture"), i["num_threads"])
        for i in threadpool_info()
    ]
    print(f"BLAS: {blas}")
    for n_samples in args.sizes:
        X = make_data(n_samples)
        print(
            f"\nN={n_samples:,} D={N_FEATURES} K={N_COMPONENTS}  "
            f"X={X.nbytes / 1e6:.0f} MB, an N x K float64 array = "
            f"{n_samples * N_COMPONENTS * 8 / 1e6:.0f} MB"
        )
        print(f"numpy GEMM (N,D)@(D,K*D): {gemm_gflops(X):.1f} GFLOP/s")
        header = (
            f"{'type':10s}{'sklearn s/it':>14s}{'daskmix s/it':>14s}{'speed-up':>10s}"
            f"{'GFLOP/s':>9s}{'peak MB sk':>12s}{'peak MB dm':>12s}"
        )
        print(header)
        for covariance_type in args.types:
            kwargs = start(X, covariance_type)
            sk, dm = per_iteration_pair(X, kwargs, args.repeats)
            gflops = flops_per_row(covariance_type) * n_samples / dm / 1e9
            peak_sk = peak_bytes(mixture.GaussianMixture, X, kwargs) / 1e6
            peak_dm = peak_bytes(daskmix.GaussianMixture, X, kwargs) / 1e6
            print(
                f"{covariance_type:10s}{sk:14.4f}{dm:14.4f}{sk / dm:9.1f}x{gflops:9.1f}"
                f"{peak_sk:12.0f}{peak_dm:12.0f}"
            )


if __name__ == "__main__":
    main()
