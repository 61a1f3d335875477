"""Per-iteration EM time of daskmix.RegressionMixture against GaussianMixture.

Both models see the same X (1M rows, 10 features, K = 8 by default, numpy);
RegressionMixture also gets y, one noisy line per blob. ``--study gates``
times instead the logistic gate and the Poisson family against
``gating='none'`` (Gaussian lines) on the same X: the logistic gate on the
same y, the Poisson family on counts drawn from one log-linear line per blob.
The gates study also gives the process's CPU time per iteration, which a busy
shared machine disturbs far less than the wall time. Every model is first
fitted for one iteration, then timed continuing from there (``warm_start``,
``tol=0``), so initialisation is left out; the time of one EM iteration is
``(t(m2) - t(m1)) / (m2 - m1)`` for continuations of m1 and m2 iterations,
which also cancels validation. Models are timed alternately, ``--repeats``
times, and the best times are compared. scikit-learn's GaussianMixture is
timed the same way for context.

Run::

    python benchmarks/bench_regression.py
    python benchmarks/bench_regression.py --study gates
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn import mixture
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info

import daskmix


def make_data(n_samples: int, n_features: int, n_components: int, seed: int = 0):
    """Gaussian blobs in x, each with its own line in y (noise sd 0.5)."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((n_components, n_features)) * 3
    coef = rng.standard_normal((n_components, n_features))
    intercept = rng.standard_normal(n_components) * 2
    labels = rng.integers(0, n_components, n_samples)
    X = means[labels] + rng.standard_normal((n_samples, n_features))
    y = np.einsum("nd,nd->n", X, coef[labels]) + intercept[labels]
    return X, y + 0.5 * rng.standard_normal(n_samples)


def make_counts(X: np.ndarray, n_components: int, seed: int = 1) -> np.ndarray:
    """Poisson counts, one log-linear line per random component (means ~ 1-20)."""
    rng = np.random.default_rng(seed)
    coef = 0.05 * rng.standard_normal((n_components, X.shape[1]))
    intercept = rng.uniform(0.5, 2.5, n_components)
    labels = rng.integers(0, n_components, X.shape[0])
    eta = np.einsum("nd,nd->n", X, coef[labels]) + intercept[labels]
    return rng.poisson(np.exp(np.clip(eta, -5, 3))).astype(np.float64)


class Timed:
    """A model fitted once, then timed continuing for a number of iterations."""

    def __init__(self, name: str, model, X, y=None):
        self.name = name
        self.model = model
        self.args = (X,) if y is None else (X, y)
        self.times: dict[int, list[float]] = {}
        self.cpu: dict[int, list[float]] = {}
        self.run(1)  # initialise (and warm up thread pools), not timed
        self.model.set_params(warm_start=True)

    def run(self, n_iter: int) -> float:
        self.model.set_params(max_iter=n_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            begin, begin_cpu = time.perf_counter(), time.process_time()
            self.model.fit(*self.args)
        seconds = time.perf_counter() - begin
        self.times.setdefault(n_iter, []).append(seconds)
        self.cpu.setdefault(n_iter, []).append(time.process_time() - begin_cpu)
        return seconds

    def per_iteration(self, low: int, high: int, cpu: bool = False) -> float:
        """Seconds per iteration: wall time, or the process's CPU time."""
        times = self.cpu if cpu else self.times
        return (min(times[high]) - min(times[low])) / (high - low)


def gates_study(X, y, K: int, args) -> None:
    """The logistic gate and the Poisson family against gating='none'."""
    counts = make_counts(X, K)
    common = dict(tol=0.0, random_state=0, init_params="random")
    models = [
        Timed(
            "gating='none' (gaussian lines)",
            daskmix.RegressionMixture(K, gating="none", **common),
            X,
            y,
        ),
        Timed(
            "gating='logistic' (gaussian lines)",
            daskmix.RegressionMixture(K, gating="logistic", **common),
            X,
            y,
        ),
        Timed(
            "gating='none', family='poisson'",
            daskmix.RegressionMixture(K, gating="none", family="poisson", **common),
            X,
            counts,
        ),
        Timed(
            "gating='logistic', family='poisson'",
            daskmix.RegressionMixture(K, gating="logistic", family="poisson", **common),
            X,
            counts,
        ),
    ]
    for _ in range(args.repeats):
        for n_iter in (args.low, args.high):
            for timed in models:
                timed.run(n_iter)
    wall = {t.name: t.per_iteration(args.low, args.high) for t in models}
    cpu = {t.name: t.per_iteration(args.low, args.high, cpu=True) for t in models}
    name = "gating='none' (gaussian lines)"
    print(
        f"\n{'model':40s}{'s/iteration':>12s}{'vs none':>10s}"
        f"{'CPU s/iter':>12s}{'vs none':>10s}"
    )
    for label in wall:
        print(
            f"{label:40s}{wall[label]:12.4f}{wall[label] / wall[name]:9.2f}x"
            f"{cpu[label]:12.4f}{cpu[label] / cpu[name]:9.2f}x"
        )
    worst = max(cpu.values()) / cpu[name]
    verdict = "met" if worst <= 2.0 else "NOT met"
    print(
        f"\nslowest / gating='none' in CPU time: {worst:.2f}x (target <= 2x: {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--n-features", type=int, default=10)
    parser.add_argument("--n-components", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--low", type=int, default=1)
    parser.add_argument("--high", type=int, default=4)
    parser.add_argument(
        "--study",
        choices=("gaussian-mixture", "gates"),
        default="gaussian-mixture",
        help="'gates': the logistic gate and Poisson family vs gating='none'",
    )
    args = parser.parse_args()

    blas = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()]
    print(f"BLAS: {blas}")
    N, D, K = args.n_samples, args.n_features, args.n_components
    X, y = make_data(N, D, K)
    print(f"N={N:,} D={D} K={K}  X={X.nbytes / 1e6:.0f} MB, numpy input, tol=0")
    if args.study == "gates":
        gates_study(X, y, K, args)
        return

    common = dict(tol=0.0, random_state=0, init_params="random_from_data")
    models = [
        Timed(
            "daskmix GaussianMixture (full)",
            daskmix.GaussianMixture(K, covariance_type="full", **common),
            X,
        ),
        Timed(
            "daskmix RegressionMixture (gaussian gate, full)",
            daskmix.RegressionMixture(K, covariance_type="full", **common),
            X,
            y,
        ),
        Timed(
            "daskmix RegressionMixture (gating='none')",
            daskmix.RegressionMixture(K, gating="none", **common),
            X,
            y,
        ),
        Timed(
            "sklearn GaussianMixture (full)",
            mixture.GaussianMixture(K, covariance_type="full", **common),
            X,
        ),
    ]
    for _ in range(args.repeats):
        for n_iter in (args.low, args.high):
            for timed in models:
                timed.run(n_iter)

    per_iter = {t.name: t.per_iteration(args.low, args.high) for t in models}
    reference = per_iter["daskmix GaussianMixture (full)"]
    print(f"\n{'model':50s}{'s/iteration':>12s}{'vs daskmix GM':>15s}")
    for name, seconds in per_iter.items():
        print(f"{name:50s}{seconds:12.4f}{seconds / reference:14.2f}x")
    ratio = per_iter["daskmix RegressionMixture (gaussian gate, full)"] / reference
    verdict = "met" if ratio <= 2.0 else "NOT met"
    print(
        f"\nRegressionMixture / GaussianMixture per iteration: {ratio:.2f}x "
        f"(target <= 2x: {verdict})"
    )


if __name__ == "__main__":
    main()
