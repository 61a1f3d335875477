"""mclust's 14 covariance models: daskmix against mclust, and their speed.

``--compare``: every model and K = 1..4 on iris, faithful and the three
synthetic sets of ``benchmarks/mclust_datasets.py``, against
``tests/data/mclust_reference.json`` (``benchmarks/mclust_reference.R``:
mclust's default fit and its best over 20 starts). Each case is fitted by
:class:`daskmix.GaussianMixture` twice, to ``tol=1e-8`` with ``max_iter=5000``
(mclust iterates to a relative tolerance of 1e-5; daskmix's default ``tol=1e-3``
on the mean log-likelihood stops earlier than that on data this small): from
daskmix's default start (``init_params='kmeans'``) with ``n_init=10``, and from
mclust's best parameters (``weights_init``, ``means_init``,
``precisions_init``). Prints, per case, mclust's best log-likelihood, daskmix's,
their difference, the difference from mclust's parameters, whether ``df``
equals mclust's, and whether ``bic(X)`` equals minus mclust's BIC (when the
log-likelihoods agree within 0.01 nats); then the totals per model and, as
reStructuredText, the tables of the user guide's "Covariance models" page.

``--speed``: per-iteration time of every model on 300,000 x 10 rows, K = 8
(numpy input, batch EM, ``max_iter`` iterations from the same start: the
weights, means and covariances of two full-covariance EM iterations, the
covariances reduced to each model's form; after one warm-up fit, models
interleaved, best of ``--repeats``), as ratios to VVV measured in the same
run, and each model's share of the iteration spent in the M-step on the
client.

Run: ``python benchmarks/bench_mclust.py --compare`` (``--datasets iris
--models EVE VVE`` for a part; about ten minutes in all on two cores) and
``python benchmarks/bench_mclust.py --speed`` (``--n-samples 100000``
quicker).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

from daskmix import GaussianMixture
from daskmix.gaussian.covariance import MCLUST_TYPES, covariance

DATA_DIR = Path(__file__).resolve().parents[1] / "tests" / "data"
#: a fit "reaches" mclust's log-likelihood when it is at most this far below
TOLERANCE = 0.01


def load_dataset(name: str) -> np.ndarray:
    """iris (scikit-learn's copy, identical to R's) or a CSV of ``tests/data``."""
    if name == "iris":
        return load_iris().data
    return np.loadtxt(DATA_DIR / f"{name}.csv", delimiter=",", skiprows=1)


def load_reference() -> dict:
    with open(DATA_DIR / "mclust_reference.json") as handle:
        return json.load(handle)


def fit(X: np.ndarray, model: str, n_components: int, n_init: int, **init):
    """daskmix's fit of the comparison (see the module docstring)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(
            n_components,
            covariance_type=model,
            n_init=n_init,
            tol=1e-8,
            max_iter=5000,
            random_state=0,
            **init,
        ).fit(X)


def mclust_start(entry: dict, model: str) -> dict:
    """``*_init`` arrays of mclust's fitted parameters, in ``model``'s form."""
    parameters = entry["parameters"]
    sigma = np.asarray(parameters["sigma"], dtype=float)  # (K, d, d)
    cov = covariance(model)
    if cov.ndim == 3:
        precisions = np.linalg.inv(sigma)
    elif cov.shared:
        precisions = np.linalg.inv(sigma[0])
    else:
        variances = np.diagonal(sigma, axis1=1, axis2=2)
        precisions = 1.0 / (variances if cov.ndim == 2 else variances[:, 0])
    weights = np.atleast_1d(np.asarray(parameters["pro"], dtype=float))
    return {
        "weights_init": weights / weights.sum(),
        "means_init": np.asarray(parameters["mean"], dtype=float),
        "precisions_init": precisions,
    }


def compare(datasets, models, max_k: int, n_init: int) -> list[dict]:
    """Every fit of the comparison: a row of figures each (see the docstring)."""
    reference = load_reference()
    rows = []
    for name in datasets:
        X = load_dataset(name)
        n = X.shape[0]
        for entry in reference["datasets"][name]["fits"]:
            if entry["model"] not in models or entry["K"] > max_k:
                continue
            model, k = entry["model"], entry["K"]
            begin = time.perf_counter()
            estimator = fit(X, model, k, n_init)
            seconds = time.perf_counter() - begin
            loglik = estimator.score(X) * n
            polished = fit(X, model, k, 1, **mclust_start(entry, model))
            from_mclust = polished.score(X) * n
            diff = loglik - entry["loglik"]
            df = covariance(model).n_parameters(k, X.shape[1])
            row = {
                "data": name,
                "model": model,
                "K": k,
                "mclust_default": entry["loglik_default"],
                "mclust": entry["loglik"],
                "daskmix": loglik,
                "diff": diff,
                "from_mclust": from_mclust - entry["loglik"],
                "df_match": df == entry["df"],
                "bic_match": _bic_matches(estimator, X, entry, diff),
                "bic_match_from_mclust": _bic_matches(
                    polished, X, entry, from_mclust - entry["loglik"]
                ),
                "seconds": seconds,
            }
            rows.append(row)
            print(
                f"{name:9s} {model} K={k}  mclust {entry['loglik']:11.4f}  "
                f"daskmix {loglik:11.4f}  diff {diff:+9.4f}  "
                f"from mclust {row['from_mclust']:+8.4f}  df {row['df_match']}  "
                f"bic {row['bic_match']}  ({seconds:.1f} s)",
                flush=True,
            )
    return rows


def _bic_matches(estimator, X, entry: dict, diff: float) -> bool | None:
    """``bic(X) == -BIC_mclust`` to rounding; None when the fits differ."""
    if abs(diff) > TOLERANCE:
        return None
    # BIC = -2 loglik + df log n: 2 * TOLERANCE from the log-likelihoods
    return bool(abs(estimator.bic(X) + entry["bic"]) <= 2 * TOLERANCE + 1e-6)


def summary(rows: list[dict]) -> None:
    """Per-model totals, then the model x data set table as reStructuredText."""
    print(
        "\nper model, over every data set and K: worst daskmix - mclust best "
        "(default start; from mclust's solution), fits within 0.01 of mclust's "
        "best, at least mclust's default fit, BIC equal where the fits agree"
    )
    print(
        f"{'model':6s} {'worst':>9s} {'from mclust':>12s} {'reached':>8s} "
        f"{'>= default':>11s} {'bic equal':>10s}"
    )
    for model in MCLUST_TYPES:
        mine = [r for r in rows if r["model"] == model]
        if not mine:
            continue
        worst = min(r["diff"] for r in mine)
        worst_from = min(r["from_mclust"] for r in mine)
        reached = sum(r["diff"] >= -TOLERANCE for r in mine)
        beaten = sum(r["daskmix"] >= r["mclust_default"] - TOLERANCE for r in mine)
        compared = [r["bic_match"] for r in mine if r["bic_match"] is not None]
        print(
            f"{model:6s} {worst:+9.4f} {worst_from:+12.4f} {reached:4d}/{len(mine):<3d}"
            f" {beaten:7d}/{len(mine):<3d} {sum(compared):6d}/{len(compared)}"
        )
    print("\n" + rst_tables(rows))


def rst_tables(rows: list[dict], k: int = 3) -> str:
    """The per-model summary and the model x data set table at ``k``, as RST."""
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - model",
        "     - worst difference",
        "     - from mclust's solution",
        "     - within 0.01 of mclust's best",
        "     - at least mclust's default fit",
        "     - BIC equal",
    ]
    for model in MCLUST_TYPES:
        mine = [r for r in rows if r["model"] == model]
        if not mine:
            continue
        compared = [r["bic_match"] for r in mine if r["bic_match"] is not None]
        beaten = sum(r["daskmix"] >= r["mclust_default"] - TOLERANCE for r in mine)
        lines += [
            f"   * - {model}",
            f"     - {min(r['diff'] for r in mine):+.4f}",
            f"     - {min(r['from_mclust'] for r in mine):+.4f}",
            f"     - {sum(r['diff'] >= -TOLERANCE for r in mine)}/{len(mine)}",
            f"     - {beaten}/{len(mine)}",
            f"     - {sum(compared)}/{len(compared)}",
        ]
    datasets = list(dict.fromkeys(r["data"] for r in rows))
    lines += ["", ".. list-table::", "   :header-rows: 1", "", "   * - model"]
    lines += [f"     - {name}" for name in datasets]
    for model in MCLUST_TYPES:
        cells = {r["data"]: r for r in rows if r["model"] == model and r["K"] == k}
        if not cells:
            continue
        lines.append(f"   * - {model}")
        for name in datasets:
            r = cells.get(name)
            if r is None:
                lines.append("     -")
                continue
            bic = {True: "yes", False: "NO", None: "n/a"}[r["bic_match"]]
            lines.append(
                f"     - {r['mclust']:.2f} / {r['daskmix']:.2f} / "
                f"{r['diff']:+.4f} / {bic}"
            )
    return "\n".join(lines)


# -------------------------------------------------------------------- speed
def _precisions(cov, covariances: np.ndarray) -> np.ndarray:
    """Precisions of the form of ``cov`` from full (K, D, D) covariances."""
    if cov.ndim == 3:
        return np.linalg.inv(covariances)
    if cov.shared:
        return np.linalg.inv(covariances.mean(axis=0))
    variances = np.diagonal(covariances, axis1=1, axis2=2)
    return 1.0 / (variances if cov.ndim == 2 else variances.mean(axis=1))


def _per_iteration(X: np.ndarray, model: str, common: dict) -> tuple[float, float]:
    """Seconds per EM iteration of ``model``, and the M-step's share of them."""
    cov = covariance(model)
    estimate = type(cov)._estimate
    spent = [0.0]

    def timed(self, *args):
        begin = time.perf_counter()
        try:
            return estimate(self, *args)
        finally:
            spent[0] += time.perf_counter() - begin

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        type(cov)._estimate = timed
        try:
            begin = time.perf_counter()
            fitted = GaussianMixture(
                covariance_type=model,
                precisions_init=_precisions(cov, common["covariances"]),
                **{k: v for k, v in common.items() if k != "covariances"},
            ).fit(X)
            elapsed = time.perf_counter() - begin
        finally:
            type(cov)._estimate = estimate
    return elapsed / fitted.n_iter_, spent[0] / elapsed


def speed(
    n_samples: int, n_features: int, n_components: int, max_iter: int, repeats: int
) -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(0.0, 5.0, (n_components, n_features))
    labels = rng.integers(0, n_components, n_samples)
    mixing = rng.normal(size=(n_components, n_features, n_features)) * 0.4
    mixing += np.eye(n_features)
    X = centers[labels] + np.einsum(
        "nd,nde->ne", rng.standard_normal((n_samples, n_features)), mixing[labels]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = GaussianMixture(n_components, max_iter=2, random_state=0).fit(X)
    common = {
        "n_components": n_components,
        "max_iter": max_iter,
        "tol": 0.0,
        "weights_init": start.weights_,
        "means_init": start.means_,
        "covariances": start.covariances_,
    }
    _per_iteration(X, "VVV", common)  # warm-up
    timings = {model: np.inf for model in MCLUST_TYPES}
    m_step_share = {}
    for _ in range(repeats):
        # models interleaved, best of the repeats: load from other jobs hits all
        for model in MCLUST_TYPES:
            seconds, share = _per_iteration(X, model, common)
            if seconds < timings[model]:
                timings[model], m_step_share[model] = seconds, share
    base = timings["VVV"]
    print(
        f"\n{n_samples} x {n_features}, K={n_components}, {max_iter} iterations "
        "each, numpy input, batch EM"
    )
    print(f"{'model':6s} {'s/iter':>8s} {'/ VVV':>7s} {'M-step share':>13s}")
    for model in MCLUST_TYPES:
        print(
            f"{model:6s} {timings[model]:8.3f} {timings[model] / base:7.2f} "
            f"{m_step_share[model]:12.1%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument(
        "--datasets", nargs="*", default=["iris", "faithful", "blobs3", "eve2", "wide5"]
    )
    parser.add_argument("--models", nargs="*", default=list(MCLUST_TYPES))
    parser.add_argument("--max-k", type=int, default=4)
    parser.add_argument("--n-init", type=int, default=10)
    parser.add_argument("--n-samples", type=int, default=300_000)
    parser.add_argument("--n-features", type=int, default=10)
    parser.add_argument("--n-components", type=int, default=8)
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if not (args.compare or args.speed):
        parser.error("give --compare and/or --speed")
    if args.compare:
        summary(compare(args.datasets, args.models, args.max_k, args.n_init))
    if args.speed:
        speed(
            args.n_samples,
            args.n_features,
            args.n_components,
            args.max_iter,
            args.repeats,
        )


if __name__ == "__main__":
    main()
