"""daskmix's RegressionMixture against R's flexmix: log-likelihood, coefficients, SEs.

The cases (written by ``benchmarks/flexmix_reference.R``): on flexmix's NPreg
data a 2-component Poisson mixture of ``yp ~ x`` and a Gaussian mixture of
``yn ~ x + x^2``; a binomial mixture with 10 trials per row on NPreg's x and
classes; a mixture of experts ``y ~ x`` whose logistic gate sees a covariate
``z`` (simulated); and NPreg's one-trial ``yb``, where flexmix's ``refit()``
fails with a singular Hessian. flexmix runs 10 restarts to an EM tolerance of
1e-12; daskmix runs its default start with ``n_init=10`` and ``tol=1e-10``.

Columns: the gap of daskmix's log-likelihood to flexmix's best (nats,
positive when daskmix is higher; flexmix's best is the larger of its EM's and
``refit()``'s optimum), the largest coefficient difference from
``refit()``'s (the maximum likelihood estimates: flexmix's Gaussian EM
estimates sigma with a degrees-of-freedom correction, so its own EM stops
slightly off the maximum), and the largest relative difference of the
standard errors from ``refit()``'s (coefficients, log sigma, and the gate's
logits, flexmix's parametrisation).

Run::

    python benchmarks/bench_flexmix.py              # the committed references
    python benchmarks/bench_flexmix.py --regenerate  # rerun R (Rscript) first
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from daskmix import RegressionMixture

HERE = Path(__file__).resolve().parent
REFERENCES = HERE.parent / "tests" / "data"
CASES = ("poisson", "gaussian", "binomial", "experts", "onetrial")


def problem(case: str, data: dict):
    """``X``, ``y`` and the estimator's parameters of a reference case."""
    x = np.asarray(data["x"], dtype=np.float64)
    if case == "poisson":
        return x[:, None], np.asarray(data["yp"], float), {"family": "poisson"}
    if case == "gaussian":
        return np.c_[x, x**2], np.asarray(data["yn"], float), {}
    if case == "binomial":
        y = np.c_[data["successes"], data["failures"]].astype(float)
        return x[:, None], y, {"family": "binomial"}
    if case == "onetrial":
        return x[:, None], np.asarray(data["yb"], float), {"family": "binomial"}
    X = np.c_[x, data["z"]]
    kwargs = {"gating": "logistic", "expert_features": [0], "gate_features": [1]}
    return X, np.asarray(data["y"], float), kwargs


def fit(case: str, reference: dict, n_init: int = 10, tol: float = 1e-10):
    """daskmix's fit of a case (gating 'none' unless the case has a gate)."""
    X, y, kwargs = problem(case, reference["data"])
    params = {"gating": "none", **kwargs}
    model = RegressionMixture(
        2, n_init=n_init, tol=tol, max_iter=5000, random_state=0, **params
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    return model, X, y


def _reference_lines(reference: dict) -> np.ndarray:
    """refit()'s coefficients (K, P): intercept first, as daskmix's summary."""
    coef = reference["refit_coef"]
    lines = []
    for k in (1, 2):
        prefix = f"model.1_Comp.{k}_coef."
        lines.append([value for name, value in coef.items() if name.startswith(prefix)])
    return np.array(lines)


def _reference_ses(reference: dict) -> np.ndarray:
    se = reference["refit_se"]
    lines = []
    for k in (1, 2):
        prefix = f"model.1_Comp.{k}_"
        lines.append([value for name, value in se.items() if name.startswith(prefix)])
    return np.array(lines)


def compare(case: str, reference: dict, model, X, y) -> dict:
    """The gaps of one case (see the module docstring)."""
    loglik = model.score_samples(X, y).sum()
    best = max(reference["loglik"], reference.get("refit_loglik", -np.inf))
    result = {"case": case, "loglik_gap": loglik - best}
    if "refit_coef" not in reference:
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = model.summary(X, y)
    ours = np.array(
        [np.r_[model.intercept_[k], model.coef_[k]] for k in range(model.n_components)]
    )
    theirs = _reference_lines(reference)
    order = min(
        itertools.permutations(range(2)),
        key=lambda perm: np.abs(ours[list(perm)] - theirs).max(),
    )
    order = list(order)
    result["coef_diff"] = float(np.abs(ours[order] - theirs).max())
    # standard errors in flexmix's parametrisation
    ses = []
    for k in order:
        rows = table[table.component == k]
        line = rows[~rows.parameter.isin(["noise_variance", "weight"])]
        line = line[~line.parameter.str.startswith("gate:")]
        values = list(line.std_error)
        variance = rows[rows.parameter == "noise_variance"]
        if len(variance):  # log(sigma) = log(sigma^2) / 2
            values.append(
                float(variance.std_error.iloc[0]) / (2 * variance.estimate.iloc[0])
            )
        ses.append(values)
    ours_se = np.array(ses)
    theirs_se = _reference_ses(reference)
    relative = np.abs(ours_se / theirs_se - 1.0)
    gate_theirs = [
        value for name, value in reference["refit_se"].items() if "concomitant" in name
    ]
    if model.gating == "none":  # alpha = log(pi_2 / pi_1): se(pi) / (pi_1 pi_2)
        weight = table[table.parameter == "weight"].iloc[0]
        pi = model.weights_
        gate_ours = [weight.std_error / (pi[0] * pi[1])]
    else:
        gate_ours = list(table[table.parameter.str.startswith("gate:")].std_error)
    gate_relative = np.abs(np.array(gate_ours) / np.array(gate_theirs) - 1.0)
    result["se_rel_diff"] = float(max(relative.max(), gate_relative.max()))
    result["max_abs_score"] = table.attrs["max_abs_score"]
    return result


def regenerate(directory: Path) -> None:
    if shutil.which("Rscript") is None:
        raise SystemExit("Rscript not found: install R with r-cran-flexmix.")
    subprocess.run(
        ["Rscript", str(HERE / "flexmix_reference.R"), str(directory)], check=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--regenerate", action="store_true", help="rerun R first")
    parser.add_argument("--n-init", type=int, default=10)
    args = parser.parse_args()
    directory = REFERENCES
    if args.regenerate:
        directory = Path(tempfile.mkdtemp(prefix="flexmix-"))
        regenerate(directory)
    print(
        f"{'case':<10}{'best loglik':>14}{'gap (nats)':>12}{'coef diff':>12}"
        f"{'SE rel diff':>13}{'|score|':>10}{'seconds':>9}"
    )
    for case in CASES:
        reference = json.loads((directory / f"flexmix_{case}.json").read_text())
        begin = time.perf_counter()
        model, X, y = fit(case, reference, n_init=args.n_init)
        row = compare(case, reference, model, X, y)
        seconds = time.perf_counter() - begin
        best = max(reference["loglik"], reference.get("refit_loglik", -np.inf))
        cells = [
            f"{best:>14.4f}",
            f"{row['loglik_gap']:>12.2e}",
            f"{row.get('coef_diff', float('nan')):>12.1e}",
            f"{row.get('se_rel_diff', float('nan')):>13.2%}",
            f"{row.get('max_abs_score', float('nan')):>10.1e}",
            f"{seconds:>9.1f}",
        ]
        print(f"{case:<10}" + "".join(cells))
        if case == "onetrial":
            print(f"{'':<10}flexmix refit(): {reference['refit_error']}")


if __name__ == "__main__":
    main()
