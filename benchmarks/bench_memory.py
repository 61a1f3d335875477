"""Peak memory of fits on wide data, against the size of the data.

Each case runs in a fresh Python process, so that its peak resident set size
(``ru_maxrss``) is its own. Two numbers are printed per case:

* ``traced``: the peak of tracemalloc (which sees numpy's allocations) during
  the fit, the data excluded: the fit's own temporaries and statistics;
* ``rss``: the process's peak resident set size minus its size just before
  the fit (data already in memory).

The cases are the wide ones where the tile size used to be clipped at 256 rows
from below, overriding the engine's per-thread budget (issue 9):
RegressionMixture with D = 1,000 and GaussianMixture with D = 1,000, K = 10
(full covariances), both on 20,000 rows (153 MiB of float64). One EM
iteration each: the peak is reached in the first pass.

Measured on a shared 2-core machine (load ~20, times are not comparable),
before -> after the 1-row tile floor (issue 9)::

    RegressionMixture, D=1000, 20,000 rows: traced 2206 MiB (before)
    RegressionMixture, D=1000,  2,000 rows: traced 1110 -> 161 MiB,
                                            rss 1182 -> 228 MiB
    GaussianMixture K=10 full, D=1000, 20,000 rows: traced 948 -> 944 MiB

The regression's peak was its (tile, P(P+1)/2) pairwise-product temporary; it
now fits the budget, at the cost of one-row tiles (slower: the kernel's
per-tile work no longer amortises). The Gaussian case is dominated by
statistics of the size of the parameters (K*D*D float64 = 76 MiB), which used
to be held one per block until the tree sum. With block results added in tree
order as they arrive (``StreamingTreeSum``) and in place, one pass on 2
threads peaked at 550 MiB above the data against 695 MiB before, and the
whole fit (start, one iteration, fitted attributes) at 791 MiB traced.

Run::

    python benchmarks/bench_memory.py            # all cases
    python benchmarks/bench_memory.py --case gmm --n-samples 5000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings

import numpy as np

MIB = 2**20
CASES = {
    "regression": "RegressionMixture(n_components=2), D=1000",
    "gmm": "GaussianMixture(n_components=10, 'full'), D=1000",
}


def _rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def run_case(case: str, n_samples: int, n_features: int) -> dict:
    from sklearn.exceptions import ConvergenceWarning

    import daskmix

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, n_features))
    if case == "regression":
        y = X[:, :5].sum(axis=1) + rng.standard_normal(n_samples)
        model = daskmix.RegressionMixture(n_components=2, max_iter=1, random_state=0)
        args = (X, y)
    else:
        model = daskmix.GaussianMixture(n_components=10, max_iter=1, random_state=0)
        args = (X,)
    before = _rss_now()
    tracemalloc.start()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(*args)
    seconds = time.perf_counter() - start
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "data_mib": X.nbytes / MIB,
        "traced_mib": traced / MIB,
        "rss_mib": (peak - before) / MIB,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    parser.add_argument("--n-samples", type=int, default=20_000)
    parser.add_argument("--n-features", type=int, default=1000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_case(args.case, args.n_samples, args.n_features)
        print(json.dumps(result))
        return
    cases = list(CASES) if args.case == "all" else [args.case]
    print(f"{args.n_samples} rows x {args.n_features} features, one EM iteration")
    print(f"{'case':<50} {'data':>9} {'traced':>9} {'rss':>9} {'time':>7}")
    for case in cases:
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--case", case]
            + ["--n-samples", str(args.n_samples)]
            + ["--n-features", str(args.n_features)],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{CASES[case]:<50} {r['data_mib']:>5.0f} MiB {r['traced_mib']:>5.0f} MiB"
            f" {r['rss_mib']:>5.0f} MiB {r['seconds']:>6.1f}s"
        )


if __name__ == "__main__":
    main()
