"""The shared-pass model-selection sweep against fitting the candidates one by one.

Two comparisons, each measured side by side in one run:

1. A zarr store (default 2M x 10 float64, 8 row blocks) on the threaded
   scheduler, K = 1..8 x 4 covariance types (32 candidates):
   ``GaussianMixtureIC`` against fitting the 32 ``GaussianMixture`` candidates
   one by one with the same starts (same ``random_state``; the chosen model is
   checked to be the same). Passes over the store are counted by wrapping its
   blocks in a counting read (a pass = one read of every block).
2. numpy (default 500k x 10): ``GaussianMixtureIC`` against scikit-learn's
   documented recipe, a loop of ``sklearn.mixture.GaussianMixture`` fits
   scored by ``bic``, on the same grid.

Run: ``python benchmarks/bench_selection.py`` (``--quick`` for a small run:
200k rows in the store, 50k in memory, K = 1..4).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import warnings

import dask
import dask.array as da
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SKGaussianMixture

from daskmix import GaussianMixture, GaussianMixtureIC

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def make_data(n_samples: int, n_features: int = 10, n_clusters: int = 5, seed=0):
    """Gaussian clusters with random covariances, shuffled."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 6, (n_clusters, n_features))
    labels = rng.integers(0, n_clusters, n_samples)
    scales = rng.uniform(0.5, 2.0, (n_clusters, n_features))
    X = centers[labels] + rng.standard_normal((n_samples, n_features)) * scales[labels]
    return X


class ReadCounter:
    """Counts block reads of a dask array (a pass = every block once)."""

    def __init__(self, array: da.Array):
        self.reads = 0
        self.n_blocks = array.numblocks[0]
        lock = threading.Lock()

        def read(block):
            nonlocal lock
            with lock:
                self.reads += 1
            return block

        self.array = array.map_blocks(read, dtype=array.dtype, meta=array._meta)

    @property
    def passes(self) -> float:
        return self.reads / self.n_blocks


def store_comparison(n_samples: int, ks: list[int]) -> None:
    X = make_data(n_samples)
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/X.zarr"
        da.from_array(X, chunks=(-(-n_samples // 8), -1)).to_zarr(path)
        del X
        common = dict(random_state=0, tol=1e-3)
        with dask.config.set(scheduler="threads"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            shared = ReadCounter(da.from_zarr(path))
            start = time.perf_counter()
            ic = GaussianMixtureIC(ks, **common).fit(shared.array)
            t_sweep = time.perf_counter() - start

            alone = ReadCounter(da.from_zarr(path))
            start = time.perf_counter()
            bics = []
            for cov in COVARIANCE_TYPES:
                for k in ks:
                    model = GaussianMixture(k, covariance_type=cov, **common)
                    model.fit(alone.array)
                    bics.append((model.bic(alone.array), k, cov))
            t_alone = time.perf_counter() - start
    longest = int(ic.criteria_["n_iter"].max())
    _, k_alone, cov_alone = min(bics, key=lambda item: (item[0], item[1]))
    print(
        f"\n[store] {n_samples:,} x 10 zarr, 8 blocks, {len(ks) * 4} candidates, "
        "threaded scheduler"
    )
    print(f"  sweep     : {t_sweep:8.1f} s, {shared.passes:6.1f} passes over the store")
    print(
        f"  one by one: {t_alone:8.1f} s, {alone.passes:6.1f} passes "
        "(fit + bic per candidate)"
    )
    print(
        f"  speed-up {t_alone / t_sweep:.1f}x; sweep passes {shared.passes:.1f} vs "
        f"longest candidate's iterations {longest} + starts + 1 scoring pass"
    )
    print(
        f"  chosen: sweep K={ic.n_components_} {ic.covariance_type_}, one by one "
        f"K={k_alone} {cov_alone}"
    )


def numpy_comparison(n_samples: int, ks: list[int]) -> None:
    X = make_data(n_samples, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        ic = GaussianMixtureIC(ks, random_state=0).fit(X)
        t_sweep = time.perf_counter() - start
        start = time.perf_counter()
        best = None
        for cov in COVARIANCE_TYPES:
            for k in ks:
                model = SKGaussianMixture(k, covariance_type=cov, random_state=0)
                bic = model.fit(X).bic(X)
                if best is None or bic < best[0]:
                    best = (bic, k, cov)
        t_sklearn = time.perf_counter() - start
    print(f"\n[numpy] {n_samples:,} x 10 in memory, {len(ks) * 4} candidates")
    print(f"  GaussianMixtureIC          : {t_sweep:8.1f} s")
    print(f"  scikit-learn loop with bic : {t_sklearn:8.1f} s")
    print(f"  speed-up {t_sklearn / t_sweep:.1f}x")
    print(
        f"  chosen: daskmix K={ic.n_components_} {ic.covariance_type_}, "
        f"scikit-learn K={best[1]} {best[2]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        store_comparison(200_000, [1, 2, 3, 4])
        numpy_comparison(50_000, [1, 2, 3, 4])
    else:
        store_comparison(2_000_000, list(range(1, 9)))
        numpy_comparison(500_000, list(range(1, 9)))


if __name__ == "__main__":
    main()
