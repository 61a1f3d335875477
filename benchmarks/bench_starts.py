"""How close each start gets to the maximum likelihood, on generated problems.

For every problem (regression mixtures and Gaussian mixtures of known
difficulty: crossing and parallel lines, a line and a parabola, unequal noise,
3 to 5 components, imbalanced weights, elongated and nested clusters,
outliers) and every ``init_params``, fits are run to tight convergence
(``tol=1e-9`` on the mean log-likelihood). The reference is the best total
log-likelihood (nats, summed over rows) of all those runs, ``--restarts``
starts of every method (the 11 of the scored fits, then single-start fits
with seeds ``1, 2, ...``), excluding degenerate solutions (a component with
fewer effective rows than parameters of its line + 1, or with a noise
variance below 1e-3 of the others', see
:mod:`daskmix.regression.degenerate`; for Gaussian mixtures fewer than
``n_features + 1`` effective rows). Each method is then scored by its gap to
that best with ``n_init=1`` and ``n_init=10`` (``random_state=0``):
``0`` means the best optimum was reached (within ``1e-3`` nats), ``deg``
that the driver picked a degenerate run. The default column is the
estimator's default ``init_params``.

Run::

    python benchmarks/bench_starts.py            # 50 restarts per method
    python benchmarks/bench_starts.py --quick    # 11 restarts, 7 problems
    python benchmarks/bench_starts.py --jobs 8   # problems in parallel processes
"""

from __future__ import annotations

import argparse
import inspect
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from daskmix import GaussianMixture, RegressionMixture
from daskmix.regression.degenerate import degenerate_components

#: gaps at most this (nats) count as reaching the best optimum
HIT = 1e-3
FIT = {"tol": 1e-9, "max_iter": 2000}


def _methods(estimator) -> tuple[str, ...]:
    module = inspect.getmodule(estimator)
    return tuple(module.INIT_METHODS)


def _default(estimator) -> str:
    return inspect.signature(estimator.__init__).parameters["init_params"].default


@dataclass
class Problem:
    name: str
    estimator: type
    X: np.ndarray
    y: np.ndarray | None
    kwargs: dict = field(default_factory=dict)

    @property
    def n_coef(self) -> int:
        return self.X.shape[1] + int(self.kwargs.get("fit_intercept", True))


# ------------------------------------------------------------------ problems
def _lines(rng, n, x, coef, intercept, sd, weights):
    labels = rng.choice(len(weights), size=n, p=weights)
    y = (
        np.einsum("nd,nd->n", x, np.asarray(coef, float)[labels])
        + np.asarray(intercept, float)[labels]
        + np.asarray(sd, float)[labels] * rng.standard_normal(n)
    )
    return y


def regression_problems() -> list[Problem]:
    out = []
    rng = np.random.default_rng(1)
    # the line + parabola, fitted on [x, x^2]
    x = rng.uniform(0, 10, 200)
    second = rng.random(200) < 0.5
    y = np.where(second, 15 + 10 * x - x**2, 5 * x) + 3 * rng.standard_normal(200)
    out.append(
        Problem(
            "line+parabola", RegressionMixture, np.c_[x, x**2], y, {"gating": "none"}
        )
    )
    # crossing lines y = 2x + 1 and y = -2x + 1
    x = rng.uniform(-3, 3, (400, 1))
    y = _lines(rng, 400, x, [[2.0], [-2.0]], [1, 1], [0.5, 0.5], [0.5, 0.5])
    out.append(Problem("crossing", RegressionMixture, x, y, {"gating": "none"}))
    # parallel lines, close
    x = rng.uniform(0, 5, (400, 1))
    y = _lines(rng, 400, x, [[1.0], [1.0]], [0, 2], [0.5, 0.5], [0.5, 0.5])
    out.append(Problem("parallel", RegressionMixture, x, y, {"gating": "none"}))
    # unequal noise: a precise line inside a noisy one
    x = rng.uniform(-2, 2, (500, 1))
    y = _lines(rng, 500, x, [[1.0], [-0.5]], [0, 0.5], [0.1, 2.0], [0.4, 0.6])
    out.append(Problem("unequal-noise", RegressionMixture, x, y, {"gating": "none"}))
    # three lines crossing at different points
    x = rng.uniform(-3, 3, (600, 1))
    y = _lines(rng, 600, x, [[2.0], [-1.0], [0.2]], [0, 1, -2], [0.4] * 3, [1 / 3] * 3)
    out.append(Problem("three-lines", RegressionMixture, x, y, {"gating": "none"}))
    # imbalanced weights 0.9 / 0.1
    x = rng.uniform(0, 4, (500, 1))
    y = _lines(rng, 500, x, [[1.0], [-1.0]], [0, 3], [0.3, 0.3], [0.9, 0.1])
    out.append(Problem("imbalanced", RegressionMixture, x, y, {"gating": "none"}))
    # two lines and 10% far outliers, two components
    x = rng.uniform(-2, 2, (500, 1))
    y = _lines(rng, 500, x, [[1.5], [-1.5]], [0, 0], [0.3, 0.3], [0.5, 0.5])
    bad = rng.random(500) < 0.1
    y[bad] = rng.uniform(-15, 15, bad.sum())
    out.append(Problem("outliers", RegressionMixture, x, y, {"gating": "none"}))
    # four planes in two features
    x = rng.uniform(-2, 2, (800, 2))
    coef = [[1, 1], [-1, 1], [1, -1], [0, 0]]
    y = _lines(rng, 800, x, coef, [0, 0.5, -0.5, 1], [0.6] * 4, [0.25] * 4)
    out.append(
        Problem(
            "four-planes",
            RegressionMixture,
            x,
            y,
            {"gating": "none", "n_components": 4},
        )
    )
    # five lines in a fan
    x = rng.uniform(0, 4, (1000, 1))
    slopes = [[-2.0], [-1.0], [0.0], [1.0], [2.0]]
    y = _lines(rng, 1000, x, slopes, [0] * 5, [0.3] * 5, [0.2] * 5)
    out.append(
        Problem(
            "five-fan", RegressionMixture, x, y, {"gating": "none", "n_components": 5}
        )
    )
    # cluster-weighted model whose gates coincide: the lines must separate
    x = rng.standard_normal((600, 1))
    y = _lines(rng, 600, x, [[1.0], [-1.0]], [0, 0], [0.3, 0.3], [0.5, 0.5])
    out.append(Problem("cwm-crossing", RegressionMixture, x, y, {}))
    # cluster-weighted model of a bent curve, three pieces
    x = rng.uniform(-3, 3, (600, 1))
    y = np.where(x[:, 0] < -1, -x[:, 0], np.where(x[:, 0] < 1, 1.0, x[:, 0]))
    y = y + 0.1 * rng.standard_normal(600)
    out.append(Problem("cwm-pieces", RegressionMixture, x, y, {"n_components": 3}))
    return out


def _blob(rng, n, mean, scales, angle):
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    )
    z = rng.standard_normal((n, len(scales))) * scales
    z[:, :2] = z[:, :2] @ rotation.T
    return z + mean


def gaussian_problems() -> list[Problem]:
    out = []
    rng = np.random.default_rng(2)
    # flow-cytometry-like: 6,800 rows, 4 markers, five imbalanced elongated
    # populations, two of them touching
    sizes = [3500, 1800, 900, 450, 150]
    means = [[0, 0, 0, 0], [4, 1, 0, 1], [1, 4, 2, 0], [5, 5, 1, 3], [2, 2, 5, 5]]
    scales = [
        [2.0, 0.4, 0.5, 0.5],
        [1.5, 0.3, 0.4, 0.4],
        [0.3, 1.2, 0.4, 0.5],
        [0.6, 0.6, 0.6, 0.6],
        [0.3, 0.3, 0.3, 0.3],
    ]
    angles = [0.5, -0.3, 0.2, 0.0, 0.0]
    X = np.vstack(
        [_blob(rng, n, m, s, a) for n, m, s, a in zip(sizes, means, scales, angles)]
    )
    out.append(Problem("cytometry", GaussianMixture, X, None, {"n_components": 5}))
    # three parallel elongated bars (k-means cuts across them)
    X = np.vstack([_blob(rng, 300, [0, 1.0 * i], [4.0, 0.25], 0.0) for i in range(3)])
    out.append(Problem("bars", GaussianMixture, X, None, {"n_components": 3}))
    # nested: a tight cluster inside a wide one, plus a third
    X = np.vstack(
        [
            _blob(rng, 600, [0, 0], [3.0, 3.0], 0.0),
            _blob(rng, 200, [0.5, 0.5], [0.3, 0.3], 0.0),
            _blob(rng, 300, [7, 0], [1.0, 1.0], 0.0),
        ]
    )
    out.append(Problem("nested", GaussianMixture, X, None, {"n_components": 3}))
    # imbalanced 0.9 / 0.07 / 0.03 in three dimensions
    X = np.vstack(
        [
            rng.standard_normal((1350, 3)),
            rng.standard_normal((105, 3)) * 0.5 + [3, 0, 0],
            rng.standard_normal((45, 3)) * 0.3 + [0, 3, 0],
        ]
    )
    out.append(Problem("imbalanced-3d", GaussianMixture, X, None, {"n_components": 3}))
    # two clusters and a uniform background, three components
    X = np.vstack(
        [
            _blob(rng, 400, [-2, 0], [0.5, 0.5], 0.0),
            _blob(rng, 400, [2, 0], [0.5, 1.5], 0.3),
            rng.uniform(-10, 10, (60, 2)),
        ]
    )
    out.append(Problem("background", GaussianMixture, X, None, {"n_components": 3}))
    return out


def problems(quick: bool) -> list[Problem]:
    found = regression_problems() + gaussian_problems()
    if quick:  # the two cases and one of each kind
        keep = {
            "line+parabola",
            "crossing",
            "three-lines",
            "outliers",
            "cwm-crossing",
            "bars",
            "nested",
        }
        found = [p for p in found if p.name in keep]
    return found


# ----------------------------------------------------------------- fitting
def fit(problem: Problem, method: str, n_init: int, seed: int):
    """Total log-likelihood (nats) and degenerate flag of one fit."""
    model = problem.estimator(
        init_params=method, n_init=n_init, random_state=seed, **FIT, **problem.kwargs
    )
    args = (problem.X,) if problem.y is None else (problem.X, problem.y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(*args)
    n = problem.X.shape[0]
    rows = model.weights_ * n
    if problem.y is None:
        degenerate = bool(np.any(rows < problem.X.shape[1] + 1))
    else:
        degenerate = bool(
            degenerate_components(model.noise_variance_, rows, problem.n_coef)
        )
    return model.lower_bound_ * n, degenerate


def run_problem(problem: Problem, restarts: int) -> dict:
    methods = _methods(problem.estimator)
    begin = time.perf_counter()
    scored = {}
    best = -np.inf
    for method in methods:
        one = fit(problem, method, 1, 0)
        ten = fit(problem, method, 10, 0)
        scored[method] = (one, ten)
        # the two scored fits are 11 restarts; more single fits up to ``restarts``
        extra = range(1, max(restarts - 10, 1))
        runs = [one, ten] + [fit(problem, method, 1, seed) for seed in extra]
        proper = [ll for ll, degenerate in runs if not degenerate]
        best = max([best, *proper])
    gaps = {
        method: tuple(
            "deg" if degenerate else max(best - ll, 0.0)
            for ll, degenerate in scored[method]
        )
        for method in methods
    }
    return {
        "name": problem.name,
        "kind": problem.estimator.__name__,
        "default": _default(problem.estimator),
        "best": best,
        "gaps": gaps,
        "seconds": time.perf_counter() - begin,
    }


def _cell(gap) -> str:
    if gap == "deg":
        return "deg"
    return "0" if gap <= HIT else f"{gap:.3g}"


def print_results(results: list[dict]) -> None:
    for kind in ("RegressionMixture", "GaussianMixture"):
        rows = [r for r in results if r["kind"] == kind]
        if not rows:
            continue
        methods = list(rows[0]["gaps"])
        print(f"\n{kind}: gap to the best log-likelihood (nats), n_init=1 / n_init=10")
        header = f"{'problem':<15}" + "".join(f"{m:>18}" for m in methods)
        print(header)
        for r in rows:
            cells = "".join(
                f"{_cell(r['gaps'][m][0]) + ' / ' + _cell(r['gaps'][m][1]):>18}"
                for m in methods
            )
            print(f"{r['name']:<15}{cells}")
        print(f"(default init_params: {rows[0]['default']!r})")

    def hit(r, i):
        gap = r["gaps"][r["default"]][i]
        return gap != "deg" and gap <= HIT

    print()
    groups = [
        (kind, [r for r in results if r["kind"] == kind])
        for kind in ("RegressionMixture", "GaussianMixture")
    ]
    for label, rows in [*groups, ("all", results)]:
        if not rows:
            continue
        ones = sum(hit(r, 0) for r in rows)
        tens = all(hit(r, 1) for r in rows)
        print(
            f"{label}: default within {HIT:g} nats of the best with n_init=1 on "
            f"{ones}/{len(rows)} problems ({ones / len(rows):.0%}); "
            f"n_init=10 on all: {tens}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="11 restarts, 7 problems")
    parser.add_argument("--restarts", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes")
    parser.add_argument("--only", default=None, help="comma-separated problem names")
    args = parser.parse_args()
    restarts = args.restarts or (11 if args.quick else 50)
    todo = problems(args.quick)
    if args.only:
        names = set(args.only.split(","))
        todo = [p for p in todo if p.name in names]
    begin = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(run_problem, todo, [restarts] * len(todo)))
    else:
        results = [run_problem(p, restarts) for p in todo]
    for r in results:
        print(f"{r['name']:<15} best {r['best']:.4f}  ({r['seconds']:.0f} s)")
    print_results(results)
    print(
        f"\n{restarts} restarts per method; {time.perf_counter() - begin:.0f} s "
        f"with {args.jobs} process(es)"
    )


if __name__ == "__main__":
    main()
