"""Two fits in two threads of one process against the same fits one after the other.

For each pair of estimators (GaussianMixture, BayesianGaussianMixture, KMeans,
RegressionMixture, GaussianMixtureIC), on numpy input and on dask input (the
threaded scheduler, streamed block by block), the script times

* ``sequential``: fit A, then fit B, in the main thread;
* ``concurrent``: fit A and fit B started together in two threads;

and prints the ratio ``concurrent / sequential`` (1 or below: the two fits
share the cores as well as one after the other; the target is 1.5 at most)
and whether each concurrent fit is bit-identical to its sequential twin (every
fitted attribute, to the bit).

Run::

    python benchmarks/bench_concurrent_fits.py                 # all pairs
    python benchmarks/bench_concurrent_fits.py --pairs gm-rm km-rm --input numpy
    python benchmarks/bench_concurrent_fits.py --rounds 3      # best of 3

Times are the best of ``--rounds`` rounds after one warm-up of each fit
(compilation, imports). The machine's other load counts: run it on a quiet
machine, or compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import threading
import time
import warnings

import dask
import dask.array as da
import numpy as np

from daskmix import (
    BayesianGaussianMixture,
    GaussianMixture,
    GaussianMixtureIC,
    KMeans,
    RegressionMixture,
)

ESTIMATORS = {
    "gm": lambda: GaussianMixture(3, random_state=0, max_iter=50),
    "bgm": lambda: BayesianGaussianMixture(n_components=4, random_state=0, max_iter=50),
    "km": lambda: KMeans(4, random_state=0, n_init=3),
    "rm": lambda: RegressionMixture(3, random_state=0, max_iter=50),
    "gmic": lambda: GaussianMixtureIC(
        n_components=[2, 3], covariance_type=["full", "diag"], random_state=0
    ),
}

DEFAULT_PAIRS = ["gm-rm", "km-rm", "rm-rm", "gm-km", "bgm-gmic", "gmic-rm"]


def make_data(n_samples: int, seed: int = 0):
    """Two shifted Gaussian clouds and a response with two regimes."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 5))
    X[: n_samples // 2] += 5.0
    coef = rng.normal(size=5)
    y = X @ coef + np.where(X[:, 0] > 2.0, 3.0, -3.0) + 0.5 * rng.normal(size=n_samples)
    return X, y


def fit(name: str, X, y):
    estimator = ESTIMATORS[name]()
    return estimator.fit(X, y) if name == "rm" else estimator.fit(X)


def fingerprint(estimator) -> dict:
    """Every fitted attribute, as bytes or exact values (estimators recursively)."""
    out = {}
    for key, value in sorted(vars(estimator).items()):
        if not key.endswith("_") or key.startswith("_"):
            continue
        if isinstance(value, np.ndarray):
            out[key] = (value.dtype.str, value.shape, value.tobytes())
        elif hasattr(value, "get_params") and hasattr(value, "fit"):
            out[key] = fingerprint(value)
        elif isinstance(value, list | tuple) and value and hasattr(value[0], "fit"):
            out[key] = [fingerprint(v) for v in value]
        elif isinstance(value, dict):
            out[key] = repr(sorted(value.items(), key=lambda kv: str(kv[0])))
        else:
            out[key] = repr(value)
    return out


def concurrently(names, X, y):
    results: dict = {}
    errors: list = []

    def run(i, name):
        try:
            results[i] = fit(name, X, y)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(i, name)) for i, name in enumerate(names)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(names))]


def measure(pair: str, X, y, rounds: int) -> tuple[float, float, bool]:
    names = pair.split("-")
    for name in names:
        fit(name, X, y)
    sequential = concurrent = np.inf
    identical = True
    for _ in range(rounds):
        start = time.perf_counter()
        alone = [fit(name, X, y) for name in names]
        sequential = min(sequential, time.perf_counter() - start)
        start = time.perf_counter()
        together = concurrently(names, X, y)
        concurrent = min(concurrent, time.perf_counter() - start)
        identical &= all(
            fingerprint(a) == fingerprint(b) for a, b in zip(alone, together)
        )
    return sequential, concurrent, identical


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-samples", type=int, default=20_000)
    parser.add_argument("--pairs", nargs="+", default=DEFAULT_PAIRS)
    parser.add_argument("--input", choices=["numpy", "dask", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    X, y = make_data(args.n_samples)
    inputs = ["numpy", "dask"] if args.input == "both" else [args.input]
    print(
        f"{'input':6s} {'pair':10s} {'sequential':>11s} {'concurrent':>11s} "
        f"{'ratio':>6s}  identical"
    )
    for kind in inputs:
        if kind == "dask":
            data = (
                da.from_array(X, chunks=(2_500, -1)),
                da.from_array(y, chunks=2_500),
            )
            # streamed every pass, on the threaded scheduler
            settings = {"scheduler": "threads", "daskmix.small-data-bytes": 0}
        else:
            data, settings = (X, y), {}
        with dask.config.set(settings):
            for pair in args.pairs:
                seq, conc, same = measure(pair, *data, args.rounds)
                print(
                    f"{kind:6s} {pair:10s} {seq:10.2f}s {conc:10.2f}s "
                    f"{conc / seq:6.2f}  {same}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
