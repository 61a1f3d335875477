"""Which default grid and criterion make RegressionMixtureIC pick the true K.

Problems: three crossing lines with x uniform on an interval (the case where
the old default, ``gating='gaussian'``, picked K = 6), and the regression
problems of ``bench_starts.py`` that the selector's default must get right:
crossing and parallel lines, a line and a parabola, and the two
cluster-weighted cases (lines whose Gaussian gates coincide, and a bent curve
in three pieces). For every problem two sweeps over K = 1..6 and both noise
models run with ``random_state=0``: one with ``gating='gaussian'`` alone
(scored on the joint ``log p(x, y)``) and one over all three gatings (scored
on the conditional ``log p(y | x)``; with an integer seed every candidate is
the fit it would be alone, so a grid over fewer gatings is a subset of this
table). Each default candidate (gatings x criterion) then picks the candidate
with the lowest criterion; the table prints the K it picks (and the gating,
``n``/``g``/``l``), ``*`` marking a wrong K.

Run::

    python benchmarks/bench_regression_selection.py            # all problems
    python benchmarks/bench_regression_selection.py --jobs 2   # in processes
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
from bench_starts import regression_problems

from daskmix import RegressionMixtureIC

KS = tuple(range(1, 7))
GATING_OPTIONS = (
    ("gaussian",),
    ("none",),
    ("logistic",),
    ("none", "gaussian"),
    ("none", "logistic"),
    ("none", "gaussian", "logistic"),
)
CRITERIA = ("bic", "icl", "aic")


#: bench_starts.py's problems the default must get right, and their true K
FROM_BENCH_STARTS = {
    "line+parabola": 2,
    "crossing": 2,
    "parallel": 2,
    "cwm-crossing": 2,
    "cwm-pieces": 3,
}


def problems() -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    """(name, X, y, true K)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, (900, 1))
    labels = rng.integers(0, 3, 900)
    y = np.array([2.0, -2.0, 0.5])[labels] * x[:, 0] + 0.2 * rng.standard_normal(900)
    out = [("three-crossing", x, y, 3)]
    for problem in regression_problems():
        if problem.name in FROM_BENCH_STARTS:
            out.append(
                (problem.name, problem.X, problem.y, FROM_BENCH_STARTS[problem.name])
            )
    return out


def sweep(problem) -> dict:
    name, X, y, _ = problem
    begin = time.perf_counter()
    tables = {}
    for label, gating in (
        ("joint", "gaussian"),
        ("conditional", list(GATING_OPTIONS[-1])),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            selector = RegressionMixtureIC(
                n_components=KS, gating=gating, random_state=0
            ).fit(X, y)
        tables[label] = selector.criteria_
    return {"name": name, "tables": tables, "seconds": time.perf_counter() - begin}


def choose(tables: dict, gatings: tuple, criterion: str) -> tuple[int, str]:
    if gatings == ("gaussian",):
        table = tables["joint"]
    else:
        table = tables["conditional"]
        table = table[table.gating.isin(gatings)]
    table = table[table.error.isna()]
    ranked = table.sort_values(["degenerate", criterion, "n_parameters"], kind="stable")
    best = ranked.iloc[0]
    return int(best.n_components), str(best.gating)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    todo = problems()
    begin = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(sweep, todo))
    else:
        results = [sweep(p) for p in todo]
    truth = {name: k for name, _, _, k in todo}
    rows = []
    for gatings, criterion in itertools.product(GATING_OPTIONS, CRITERIA):
        row = {"gating": "+".join(gatings), "criterion": criterion}
        correct = 0
        for result in results:
            k, gating = choose(result["tables"], gatings, criterion)
            ok = k == truth[result["name"]]
            correct += ok
            row[result["name"]] = f"{k}{gating[0]}" + ("" if ok else "*")
        row["right"] = f"{correct}/{len(results)}"
        rows.append(row)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("true K: " + ", ".join(f"{n} {k}" for n, k in truth.items()))
        print(table.to_string(index=False))
    seconds = ", ".join(f"{r['name']} {r['seconds']:.0f} s" for r in results)
    print(f"\nsweeps: {seconds}; total {time.perf_counter() - begin:.0f} s")


if __name__ == "__main__":
    main()
