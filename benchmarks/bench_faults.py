"""``client.restart()`` during each estimator's fit, at several moments.

The larger variant of ``tests/test_faults.py``: every estimator (GaussianMixture,
BayesianGaussianMixture, KMeans, RegressionMixture, GaussianMixtureIC,
RegressionMixtureIC) fits a zarr store alone on a ``LocalCluster`` (2 worker
processes, 1 thread each, a fresh cluster per run), and the cluster is
restarted ``--delays`` seconds after the fit starts. For each run the script
prints how the restart went, how the fit ended (the model, or the error's type
and first words) and the seconds from the restart to the end of the fit, which
must stay below
``daskmix.cluster-wait-seconds`` plus the restart's own time.

Run::

    python benchmarks/bench_faults.py                        # all, ~15 minutes
    python benchmarks/bench_faults.py --estimators KMeans --delays 1 3 6
    python benchmarks/bench_faults.py --wait 20              # cluster-wait-seconds
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import warnings
from pathlib import Path

import dask
import dask.array as da
import distributed
import numpy as np

from daskmix import (
    BayesianGaussianMixture,
    GaussianMixture,
    GaussianMixtureIC,
    KMeans,
    RegressionMixture,
    RegressionMixtureIC,
)

ESTIMATORS = {
    "GaussianMixture": lambda: GaussianMixture(3, random_state=0, tol=0, max_iter=30),
    "BayesianGaussianMixture": lambda: BayesianGaussianMixture(
        n_components=3, random_state=0, tol=0, max_iter=30
    ),
    "KMeans": lambda: KMeans(3, random_state=0, n_init=2, tol=0, max_iter=30),
    "RegressionMixture": lambda: RegressionMixture(
        2, random_state=0, tol=0, max_iter=30
    ),
    "GaussianMixtureIC": lambda: GaussianMixtureIC(
        n_components=[2, 3, 4], covariance_type=["full", "diag"], random_state=0
    ),
    "RegressionMixtureIC": lambda: RegressionMixtureIC(
        n_components=[1, 2, 3], gating=["none"], random_state=0
    ),
}
TAKES_Y = {"RegressionMixture", "RegressionMixtureIC"}


def make_store(folder: Path, n_samples: int):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, 4))
    X[::2] += 4.0
    y = X @ np.array([1.0, -1.0, 0.5, 2.0]) + 0.3 * rng.standard_normal(n_samples)
    da.from_array(X, chunks=(10_000, -1)).to_zarr(str(folder / "X.zarr"))
    da.from_array(y, chunks=10_000).to_zarr(str(folder / "y.zarr"))
    return da.from_zarr(str(folder / "X.zarr")), da.from_zarr(str(folder / "y.zarr"))


def run_one(name: str, X, y, delay: float) -> str:
    """One fit on a fresh cluster, restarted ``delay`` seconds after it starts."""
    outcome: dict = {}
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):

        def fit():
            try:
                estimator = ESTIMATORS[name]()
                estimator.fit(X, y) if name in TAKES_Y else estimator.fit(X)
                outcome["end"] = "fitted"
            except Exception as exc:
                outcome["end"] = f"{type(exc).__name__}: {str(exc)[:90]}"
            outcome["at"] = time.monotonic()

        thread = threading.Thread(target=fit, daemon=True)
        thread.start()
        time.sleep(delay)
        restarted_at = time.monotonic()
        try:
            # the fit must end whether or not the workers come back
            client.restart(timeout=60)
            restart = "ok"
        except Exception as exc:
            restart = f"failed ({type(exc).__name__})"
        thread.join(600)
        if thread.is_alive():
            return f"restart {restart}; fit STILL RUNNING 600 s after the restart"
        after = outcome["at"] - restarted_at
        return f"restart {restart}; fit ended {after:5.1f} s after it: {outcome['end']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS))
    parser.add_argument("--delays", nargs="+", type=float, default=[1.0, 4.0])
    parser.add_argument("--n-samples", type=int, default=200_000)
    parser.add_argument("--wait", type=float, default=30.0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with (
        tempfile.TemporaryDirectory() as folder,
        dask.config.set({"daskmix.cluster-wait-seconds": args.wait}),
    ):
        X, y = make_store(Path(folder), args.n_samples)
        for name in args.estimators:
            for delay in args.delays:
                line = run_one(name, X, y, delay)
                print(f"{name:24s} restart at {delay:4.1f} s: {line}", flush=True)


if __name__ == "__main__":
    main()
