"""Coverage of RegressionMixture.summary()'s 95% intervals: a parametric bootstrap.

For each design (well separated: two components whose lines, counts or gate
regions rarely overlap), ``--refits`` data sets are drawn from known
parameters, each is fitted (``n_init=2``, ``tol=1e-8``), and the interval
``estimate +- 1.96 std_error`` of every reported parameter (intercepts,
slopes, noise variances, weights or gate coefficients) is checked against
the truth. Components are matched to the truth by their lines. The table
gives, per design, the coverage pooled over parameters and its range over
parameters, and the ratio of the mean standard error to the standard
deviation of the estimates over the refits (1 when the standard errors are
right).

Run::

    python benchmarks/bench_inference.py                  # 200 refits each
    python benchmarks/bench_inference.py --refits 50 --jobs 2
"""

from __future__ import annotations

import argparse
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from scipy import special

from daskmix import RegressionMixture

N_ROWS = 500


def draw(design: str, seed: int):
    """(X, y, truth, estimator parameters) of one data set of ``design``."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, N_ROWS)
    if design == "gaussian":
        second = rng.random(N_ROWS) < 0.6
        y = np.where(second, 12 - x, 1 + 2 * x)
        y = y + np.where(second, 1.5, 1.0) * rng.standard_normal(N_ROWS)
        truth = {
            0: {"intercept": 1.0, "x0": 2.0, "noise_variance": 1.0, "weight": 0.4},
            1: {"intercept": 12.0, "x0": -1.0, "noise_variance": 2.25, "weight": 0.6},
        }
        return x[:, None], y, truth, {"gating": "none"}
    if design == "poisson":
        second = rng.random(N_ROWS) < 0.5
        eta = np.where(second, 3.0 - 0.25 * x, 0.2 + 0.2 * x)
        y = rng.poisson(np.exp(eta)).astype(float)
        truth = {
            0: {"intercept": 0.2, "x0": 0.2, "weight": 0.5},
            1: {"intercept": 3.0, "x0": -0.25, "weight": 0.5},
        }
        return x[:, None], y, truth, {"gating": "none", "family": "poisson"}
    z = rng.standard_normal(N_ROWS)
    second = rng.random(N_ROWS) < special.expit(-0.5 + 2.0 * z)
    y = np.where(second, 12 - x, 1 + 2 * x) + rng.standard_normal(N_ROWS)
    truth = {
        0: {"intercept": 1.0, "x0": 2.0, "noise_variance": 1.0},
        1: {
            "intercept": 12.0,
            "x0": -1.0,
            "noise_variance": 1.0,
            "gate:intercept": -0.5,
            "gate:x1": 2.0,
        },
    }
    kwargs = {"gating": "logistic", "expert_features": [0], "gate_features": [1]}
    return np.c_[x, z], y, truth, kwargs


def refit(args) -> list[tuple[str, float, float, float]]:
    """(parameter, truth, estimate, std_error) of one bootstrap data set."""
    design, seed = args
    X, y, truth, kwargs = draw(design, seed)
    model = RegressionMixture(2, n_init=2, tol=1e-8, max_iter=2000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.set_params(**kwargs).fit(X, y)
        table = model.summary(X, y)
    # the component whose line is nearer the truth's component 0
    lines = np.c_[model.intercept_, model.coef_[:, 0]]
    first = np.array([truth[0]["intercept"], truth[0]["x0"]])
    zero = int(np.argmin(np.abs(lines - first).sum(axis=1)))
    label = {zero: 0, 1 - zero: 1}
    out = []
    for row in table.itertuples():
        component = label[row.component]
        name = row.parameter
        if name.startswith("gate:"):
            # a gate row belongs to component 1 against reference 0
            sign = 1.0 if zero == 0 else -1.0
            out.append(
                (f"1:{name}", truth[1][name], sign * row.estimate, row.std_error)
            )
            continue
        out.append(
            (f"{component}:{name}", truth[component][name], row.estimate, row.std_error)
        )
    return out


def summarize(design: str, results) -> str:
    names = sorted({name for result in results for name, *_ in result})
    covered, lines = [], []
    for name in names:
        rows = np.array(
            [(t, e, s) for result in results for n, t, e, s in result if n == name]
        )
        truth, estimate, se = rows.T
        hit = np.abs(estimate - truth) <= 1.96 * se
        covered.append(hit)
        ratio = np.nanmean(se) / np.std(estimate, ddof=1)
        lines.append(f"    {name:<22}coverage {hit.mean():.3f}   SE / sd {ratio:.3f}")
    pooled = np.concatenate(covered).mean()
    per = [c.mean() for c in covered]
    head = (
        f"{design:<10}coverage {pooled:.3f} (parameters {min(per):.3f} to "
        f"{max(per):.3f}), {len(results)} refits"
    )
    return "\n".join([head, *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--refits", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument(
        "--designs", nargs="+", default=["gaussian", "poisson", "experts"]
    )
    args = parser.parse_args()
    begin = time.perf_counter()
    for design in args.designs:
        work = [(design, seed) for seed in range(args.refits)]
        if args.jobs > 1:
            with ProcessPoolExecutor(args.jobs) as pool:
                results = list(pool.map(refit, work, chunksize=8))
        else:
            results = [refit(item) for item in work]
        print(summarize(design, results), flush=True)
    print(f"\n{time.perf_counter() - begin:.0f} s")


if __name__ == "__main__":
    main()
