"""GaussianMixture(missing="marginalize"): correctness, invariance, value, speed.

Four studies, each printed as a table:

``correctness``
    K = 1: the fit (``reg_covar=0``, 300 iterations) against the maximum-
    likelihood estimate of a Gaussian with missing data computed by an
    independent implementation written here (EM row by row, each row's
    conditional mean and covariance from ``numpy.linalg.solve`` on its observed
    block, iterated until the parameters stop moving), max abs difference of
    the means and covariances. Any K: at the fit, scipy's optimiser
    (L-BFGS-B on the weights' logits, the means and the log-Cholesky factors
    of the covariances) maximises an independent observed-data
    log-likelihood (scipy's ``multivariate_normal`` on each pattern's observed
    entries) started from the fit; the gain it finds, in nats (total over the
    rows), is what no direction improves by.
``invariance``
    The same fit (given start, 30 iterations) on numpy, on dask arrays of
    two chunkings (threads) and on a 2-worker LocalCluster: max abs
    difference of the parameters against numpy; and whether data without a
    NaN fit bit for bit as with ``missing="error"`` (numpy, dask, minibatch).
``compare``
    D = 10, K = 4, a mixture with correlated covariances whose components
    overlap (means drawn with scale ``--spread``, 1.0); 10%, 30%, 50% of
    the entries missing completely at random, and a MAR design (feature 0
    always observed; each other entry missing with probability
    ``sigmoid(2 x_0 + c)``, 30% overall). Three fits on the same training
    rows: marginalizing EM; scikit-learn's ``SimpleImputer`` (mean) then EM;
    EM on the complete rows only. Scores on held-out rows with the same
    missingness: the observed-data log-likelihood (mean per row, every model
    scored by the marginal of the observed entries), the RMS error of the
    means and the mean relative Frobenius error of the covariances against
    the truth (components matched by the Hungarian algorithm), and the
    adjusted Rand index of the held-out labels (mean imputation predicts on
    mean-imputed rows, its pipeline; the complete-row fit labels every
    held-out row by the marginal of its observed entries, which the
    workaround itself cannot do). Mean over ``--seeds``.
``speed``
    300,000 x 10, K = 8, full, 10% MCAR: time of an EM iteration (wall and
    process CPU, given start, 5 iterations, best of ``--repeats``) against the
    same data without gaps, alternated in one run; the patterns per tile;
    and the peak of traced memory of one pass (tracemalloc) against the
    complete-data pass, and on data where nearly every row has its own
    pattern (D = 24, 50% MCAR).

Run::

    python benchmarks/bench_missing.py                 # all five
    python benchmarks/bench_missing.py compare --seeds 0 1 2
    python benchmarks/bench_missing.py speed --repeats 5
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
import warnings

import dask
import dask.array as da
import numpy as np
from scipy import optimize
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.impute import SimpleImputer
from sklearn.metrics import adjusted_rand_score

from daskmix import GaussianMixture
from daskmix.gaussian.kernels import em_kernel, make_plan
from daskmix.gaussian.missing import _SortedRows

warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", module="sklearn")


# ------------------------------------------------------------------ data
def mixture(n_features, n_components, seed, spread=3.0):
    """Weights, means and correlated covariances of a test mixture."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n_components, 4.0))
    means = rng.normal(0.0, spread, (n_components, n_features))
    covs = []
    for _ in range(n_components):
        factor = rng.normal(size=(n_features, n_features)) / np.sqrt(n_features)
        covs.append(factor @ factor.T + 0.3 * np.eye(n_features))
    return weights, means, np.array(covs)


def draw(weights, means, covs, n_samples, rng):
    labels = rng.choice(len(weights), n_samples, p=weights)
    X = np.empty((n_samples, means.shape[1]))
    for k in range(len(weights)):
        rows = labels == k
        X[rows] = rng.multivariate_normal(means[k], covs[k], rows.sum())
    return X, labels


def mcar(X, fraction, rng):
    X = X.copy()
    X[rng.random(X.shape) < fraction] = np.nan
    return X


def mar(X, fraction, rng):
    """Entries of features 1.. missing with probability sigmoid(2 z_0 + c)."""
    z = (X[:, 0] - X[:, 0].mean()) / X[:, 0].std()
    offset = optimize.brentq(
        lambda c: (1 / (1 + np.exp(-(2 * z + c)))).mean() - fraction, -20, 20
    )
    p = 1 / (1 + np.exp(-(2 * z + offset)))
    X = X.copy()
    gone = rng.random(X.shape) < p[:, None]
    gone[:, 0] = False
    X[gone] = np.nan
    return X


# ------------------------------------------ independent reference code
def reference_gaussian_mle(X, tol=1e-15, max_iter=100_000):
    """ML mean and covariance of one Gaussian from rows with NaN (row-by-row EM)."""
    observed = ~np.isnan(X)
    rows = observed.any(axis=1)
    X, observed = X[rows], observed[rows]
    mean = np.nanmean(X, axis=0)
    cov = np.diag(np.nanvar(X, axis=0))
    n, d = X.shape
    for _ in range(max_iter):
        s1 = np.zeros(d)
        s2 = np.zeros((d, d))
        for x, o in zip(X, observed):
            m = ~o
            filled = x.copy()
            extra = np.zeros((d, d))
            if m.any():
                gain = np.linalg.solve(cov[np.ix_(o, o)], cov[np.ix_(o, m)]).T
                filled[m] = mean[m] + gain @ (x[o] - mean[o])
                extra[np.ix_(m, m)] = cov[np.ix_(m, m)] - gain @ cov[np.ix_(o, m)]
            s1 += filled
            s2 += np.outer(filled, filled) + extra
        new_mean = s1 / n
        new_cov = s2 / n - np.outer(new_mean, new_mean)
        change = max(np.abs(new_mean - mean).max(), np.abs(new_cov - cov).max())
        mean, cov = new_mean, new_cov
        if change < tol:
            break
    return mean, cov


def observed_loglik(X, weights, means, covs):
    """Total log-likelihood of the observed entries (scipy, pattern by pattern)."""
    observed = ~np.isnan(X)
    keys, inverse = np.unique(observed, axis=0, return_inverse=True)
    total = 0.0
    for p, pattern in enumerate(keys):
        if not pattern.any():
            continue
        rows = X[inverse.reshape(-1) == p][:, pattern]
        per_k = [
            np.log(w)
            + multivariate_normal(m[pattern], c[np.ix_(pattern, pattern)])
            .logpdf(rows)
            .reshape(-1)
            for w, m, c in zip(weights, means, covs)
        ]
        total += logsumexp(np.array(per_k), axis=0).sum()
    return total


def _pack(weights, means, covs):
    chol = np.linalg.cholesky(covs)
    n_features = means.shape[1]
    lower = np.tril_indices(n_features)
    chol[:, np.arange(n_features), np.arange(n_features)] = np.log(
        np.diagonal(chol, axis1=1, axis2=2)
    )
    logits = np.log(weights[1:] / weights[0])
    return np.concatenate(
        [logits, means.ravel(), np.concatenate([c[lower] for c in chol])]
    )


def _unpack(theta, n_components, n_features):
    logits = np.concatenate([[0.0], theta[: n_components - 1]])
    weights = np.exp(logits - logsumexp(logits))
    start = n_components - 1
    means = theta[start : start + n_components * n_features].reshape(
        n_components, n_features
    )
    start += n_components * n_features
    lower = np.tril_indices(n_features)
    size = len(lower[0])
    covs = []
    for k in range(n_components):
        chol = np.zeros((n_features, n_features))
        chol[lower] = theta[start + k * size : start + (k + 1) * size]
        diag = np.arange(n_features)
        chol[diag, diag] = np.exp(chol[diag, diag])
        covs.append(chol @ chol.T)
    return weights, means, np.array(covs)


def _negative_loglik(theta, X, shape):
    return -observed_loglik(X, *_unpack(theta, *shape))


# ------------------------------------------------------------ the studies
def correctness(args):
    print("== correctness ==")
    rng = np.random.default_rng(0)
    _, means, covs = mixture(5, 1, 0)
    X, _ = draw(np.ones(1), means, covs, 1000, rng)
    X = mcar(X, 0.3, rng)
    X[:5] = np.nan
    t0 = time.perf_counter()
    mean_ref, cov_ref = reference_gaussian_mle(X)
    t_ref = time.perf_counter() - t0
    # tol=0: run the 300 iterations; the mean log-likelihood stops moving
    # (below 1e-14) while the parameters still move by 1e-8
    fit = GaussianMixture(
        1, missing="marginalize", reg_covar=0.0, tol=0.0, max_iter=300
    )
    fit.fit(X)
    print(
        f"K=1, 1000 x 5, 30% MCAR: |mean - reference| = "
        f"{np.abs(fit.means_[0] - mean_ref).max():.2e}, |cov - reference| = "
        f"{np.abs(fit.covariances_[0] - cov_ref).max():.2e} "
        f"(daskmix {fit.n_iter_} iterations; reference row by row {t_ref:.1f} s)"
    )
    for n_components, n_features, fraction in ((1, 5, 0.3), (3, 3, 0.3), (3, 4, 0.5)):
        weights, means, covs = mixture(n_features, n_components, 1)
        X, _ = draw(weights, means, covs, 1500, rng)
        X = mcar(X, fraction, rng)
        fit = GaussianMixture(
            n_components,
            missing="marginalize",
            reg_covar=0.0,
            tol=1e-13,
            max_iter=100_000,
            n_init=3,
            random_state=0,
        ).fit(X)
        shape = (n_components, n_features)
        at_fit = observed_loglik(X, fit.weights_, fit.means_, fit.covariances_)
        theta = _pack(fit.weights_, fit.means_, fit.covariances_)
        result = optimize.minimize(
            _negative_loglik,
            theta,
            args=(X, shape),
            method="L-BFGS-B",
            options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10},
        )
        gain = -result.fun - at_fit
        daskmix_total = fit.score(X) * (~np.isnan(X).all(axis=1)).sum()
        print(
            f"K={n_components}, 1500 x {n_features}, {fraction:.0%} MCAR: "
            f"optimiser gain from the fit {gain:.2e} nats "
            f"(total {at_fit:.6f}; daskmix's own total {daskmix_total:.6f}; "
            f"{result.nit} optimiser iterations)"
        )


def _fit_invariance(X, start, **extra):
    return GaussianMixture(
        4,
        missing="marginalize",
        tol=0.0,
        max_iter=30,
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
        **extra,
    ).fit(X)


def invariance(args):
    print("== invariance ==")
    rng = np.random.default_rng(1)
    weights, means, covs = mixture(6, 4, 2)
    X, _ = draw(weights, means, covs, 50_000, rng)
    Xm = mcar(X, 0.2, rng)
    start = GaussianMixture(4, missing="marginalize", max_iter=2, random_state=0)
    start.fit(Xm)
    reference = _fit_invariance(Xm, start)
    runs = {}
    with dask.config.set({"daskmix.small-data-bytes": 0}):
        for chunks in (5000, 7777):
            Xd = da.from_array(Xm, chunks=(chunks, 6))
            with dask.config.set(scheduler="threads"):
                runs[f"dask threads, chunks {chunks}"] = _fit_invariance(Xd, start)
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, dashboard_address=None
            ) as cluster,
            Client(cluster),
        ):
            Xd = da.from_array(Xm, chunks=(5000, 6))
            runs["LocalCluster (2 workers), chunks 5000"] = _fit_invariance(Xd, start)
    for name, run in runs.items():
        worst = max(
            np.abs(getattr(run, a) - getattr(reference, a)).max()
            for a in ("weights_", "means_", "covariances_")
        )
        print(f"{name:42s} max |parameter - numpy| = {worst:.1e}")
    same = (
        runs["dask threads, chunks 5000"].means_
        == runs["LocalCluster (2 workers), chunks 5000"].means_
    ).all()
    print(f"LocalCluster == threads (chunks 5000), bit for bit: {bool(same)}")
    for name, data, extra in (
        ("numpy", X, {}),
        ("dask", da.from_array(X, chunks=(5000, 6)), {}),
        ("numpy minibatch", X, {"algorithm": "minibatch"}),
    ):
        fits = [
            GaussianMixture(4, random_state=0, missing=m, **extra).fit(data)
            for m in ("error", "marginalize")
        ]
        equal = all(
            np.array_equal(getattr(fits[0], a), getattr(fits[1], a))
            for a in ("weights_", "means_", "covariances_", "lower_bound_")
        )
        print(f"no NaN, {name:16s}: marginalize == error bit for bit: {equal}")


def _match(true_means, means):
    cost = ((true_means[:, None, :] - means[None, :, :]) ** 2).sum(-1)
    return linear_sum_assignment(cost)[1]


def marginal(model):
    """A marginalizing GaussianMixture with ``model``'s fitted parameters."""
    scorer = GaussianMixture(model.n_components, missing="marginalize")
    for name in (
        "weights_",
        "means_",
        "covariances_",
        "precisions_",
        "precisions_cholesky_",
        "n_features_in_",
    ):
        setattr(scorer, name, getattr(model, name))
    scorer.converged_ = True
    return scorer


def _scores(model, X_test, labels_test, truth, predicted):
    weights, means, covs = truth
    order = _match(means, model.means_)
    fitted_covs = model.covariances_[order]
    mean_error = np.sqrt(((model.means_[order] - means) ** 2).sum(-1).mean())
    cov_error = np.mean(
        [np.linalg.norm(a - b) / np.linalg.norm(b) for a, b in zip(fitted_covs, covs)]
    )
    loglik = marginal(model).score(X_test)
    return loglik, mean_error, cov_error, adjusted_rand_score(labels_test, predicted)


def compare(args):
    print("== compare: marginalize vs mean-impute vs complete rows ==")
    designs = [("MCAR 10%", mcar, 0.1), ("MCAR 30%", mcar, 0.3)]
    designs += [("MCAR 50%", mcar, 0.5), ("MAR 30%", mar, 0.3)]
    fit = {"n_init": 3, "random_state": 0, "tol": 1e-4, "max_iter": 500}
    rows = []
    for name, make_gaps, fraction in designs:
        totals = {m: [] for m in ("marginalize", "mean-impute", "complete rows")}
        for seed in args.seeds:
            rng = np.random.default_rng(100 + seed)
            truth = mixture(10, 4, seed, spread=args.spread)
            X, labels = draw(*truth, args.n_train + args.n_test, rng)
            X = make_gaps(X, fraction, rng)
            X_train, X_test = X[: args.n_train], X[args.n_train :]
            labels_test = labels[args.n_train :]
            model = GaussianMixture(4, missing="marginalize", **fit).fit(X_train)
            totals["marginalize"].append(
                _scores(model, X_test, labels_test, truth, model.predict(X_test))
            )
            imputer = SimpleImputer().fit(X_train)
            model = GaussianMixture(4, **fit).fit(imputer.transform(X_train))
            predicted = model.predict(imputer.transform(X_test))
            totals["mean-impute"].append(
                _scores(model, X_test, labels_test, truth, predicted)
            )
            complete = X_train[~np.isnan(X_train).any(axis=1)]
            try:
                model = GaussianMixture(4, **fit).fit(complete)
            except ValueError as exc:
                totals["complete rows"].append(None)
                print(f"  {name}, seed {seed}: complete rows ({len(complete)}): {exc}")
                continue
            predicted = marginal(model).predict(X_test)
            totals["complete rows"].append(
                _scores(model, X_test, labels_test, truth, predicted)
            )
        for method, values in totals.items():
            kept = [v for v in values if v is not None]
            if len(kept) < len(values):
                rows.append((name, method, None))
            else:
                rows.append((name, method, np.mean(kept, axis=0)))
    header = "design      method          held-out loglik  mean RMSE  cov rel err   ARI"
    print(header)
    for name, method, values in rows:
        if values is None:
            print(f"{name:11s} {method:15s} {'(no fit: too few complete rows)':>40s}")
            continue
        loglik, mean_error, cov_error, ari = values
        print(
            f"{name:11s} {method:15s} {loglik:15.4f} {mean_error:10.4f} "
            f"{cov_error:12.4f} {ari:6.4f}"
        )


def _iteration_times(X, start, missing, repeats):
    best_wall = best_cpu = np.inf
    for _ in range(repeats):
        model = GaussianMixture(
            8,
            missing=missing,
            tol=0.0,
            max_iter=5,
            weights_init=start.weights_,
            means_init=start.means_,
            precisions_init=start.precisions_,
        )
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(X)
        best_wall = min(best_wall, (time.perf_counter() - wall) / 5)
        best_cpu = min(best_cpu, (time.process_time() - cpu) / 5)
    return best_wall, best_cpu


def _peak_pass_memory(X, params, marginalize):
    from daskmix._engine.rows import RowBlocks

    data = RowBlocks({"X": X})
    plan = make_plan(params, X.dtype, marginalize=marginalize)
    from daskmix.gaussian.model import gaussian_tile_rows

    tile_rows = gaussian_tile_rows(params.n_components, X.shape[1])
    tracemalloc.start()
    data.map_reduce(em_kernel, plan, tile_rows)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def speed(args):
    print("== speed: 300,000 x 10, K = 8, full, 10% MCAR ==")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    rng = np.random.default_rng(0)
    truth = mixture(10, 8, 3)
    X, _ = draw(*truth, 300_000, rng)
    Xm = mcar(X, 0.1, rng)
    start = GaussianMixture(8, max_iter=3, random_state=0).fit(X)
    times = {"complete": [], "gaps": []}
    for _ in range(args.repeats):
        times["complete"].append(_iteration_times(X, start, "error", 1))
        times["gaps"].append(_iteration_times(Xm, start, "marginalize", 1))
    wall = {k: min(t[0] for t in v) for k, v in times.items()}
    cpu = {k: min(t[1] for t in v) for k, v in times.items()}
    print(
        f"iteration, complete data: {wall['complete']:.3f} s wall, "
        f"{cpu['complete']:.3f} s CPU"
    )
    print(
        f"iteration, 10% MCAR:      {wall['gaps']:.3f} s wall, {cpu['gaps']:.3f} s CPU"
    )
    print(
        f"ratio: {wall['gaps'] / wall['complete']:.2f} (wall), "
        f"{cpu['gaps'] / cpu['complete']:.2f} (CPU); "
        f"load average after: {os.getloadavg()[0]:.1f}"
    )
    tiles = [_SortedRows(np.isnan(Xm[i : i + 8192])) for i in range(0, len(Xm), 8192)]
    patterns = [len(t.patterns) for t in tiles]
    print(
        f"patterns per 8192-row tile: mean {np.mean(patterns):.0f}, "
        f"max {max(patterns)}; distinct in the data: "
        f"{len(np.unique(np.isnan(Xm), axis=0))}"
    )
    params = start._params()
    base = _peak_pass_memory(X, params, False)
    gaps = _peak_pass_memory(Xm, params, True)
    print(
        f"traced peak of one pass: complete {base / 2**20:.1f} MiB, "
        f"10% MCAR {gaps / 2**20:.1f} MiB"
    )
    wide_truth = mixture(24, 8, 4)
    W, _ = draw(*wide_truth, 100_000, rng)
    Wm = mcar(W, 0.5, rng)
    wide = GaussianMixture(8, max_iter=2, random_state=0).fit(W)
    distinct = len(np.unique(np.isnan(Wm), axis=0))
    print(
        f"100,000 x 24, 50% MCAR ({distinct} distinct patterns): traced peak "
        f"{_peak_pass_memory(Wm, wide._params(), True) / 2**20:.1f} MiB "
        f"(complete data {_peak_pass_memory(W, wide._params(), False) / 2**20:.1f} MiB)"
    )


STUDIES = {
    "correctness": correctness,
    "invariance": invariance,
    "compare": compare,
    "speed": speed,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("study", nargs="?", default="all", choices=[*STUDIES, "all"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-train", type=int, default=20_000)
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--spread", type=float, default=1.0, help="scale of the compare study's means"
    )
    args = parser.parse_args()
    chosen = STUDIES if args.study == "all" else {args.study: STUDIES[args.study]}
    for study in chosen.values():
        t0 = time.perf_counter()
        study(args)
        print(f"({time.perf_counter() - t0:.0f} s)\n")


if __name__ == "__main__":
    main()
