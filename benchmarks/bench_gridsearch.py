"""scikit-learn's GridSearchCV over daskmix estimators: dask array vs numpy.

The search is ``GridSearchCV(GaussianMixture(...), {"n_components": [1..5]},
cv=3)`` on a 9,000 x 3 array of Gaussian blobs, run on the numpy array and on
the same rows as a dask array (3,000-row chunks) with a real 2-worker
``distributed.LocalCluster`` (processes, 1 thread each) as the client, in the
same run. GridSearchCV cuts folds with ``_safe_indexing``, which indexes the
dask array with numpy row numbers (a lazy dask array of known chunks), then
calls ``fit`` and ``score`` on those lazy arrays: every fit and score reads
its fold from the workers.

Printed: the time of each search, dask / numpy, whether the best parameters
and mean test scores agree with numpy's, and how many graphs the scheduler
received (one per ``compute``), counted by a scheduler plugin. Each dask search
runs twice: as daskmix does it (data this small are read once per fit and
fitted in memory) and with ``daskmix.small-data-bytes`` set to 0 (every pass
streamed from the workers, as before that rule). ``--selector`` adds the same
search over ``GaussianMixtureIC`` (its own sweep over K inside each fit).

Run::

    python benchmarks/bench_gridsearch.py            # about a minute
    python benchmarks/bench_gridsearch.py --selector --repeats 1
"""

from __future__ import annotations

import argparse
import time
import warnings

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin
from sklearn.model_selection import GridSearchCV

import daskmix


class GraphCounter(SchedulerPlugin):
    """Counts the graphs the scheduler receives (one per ``compute``/``get``)."""

    name = "daskmix-graph-counter"

    def __init__(self):
        self.n = 0

    def update_graph(self, scheduler, **kwargs):
        self.n += 1


def graphs_received(dask_scheduler) -> int:
    return dask_scheduler.plugins[GraphCounter.name].n


def blobs(n_rows: int, n_features: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((3, n_features)) * 5
    labels = rng.integers(0, 3, n_rows)
    return centers[labels] + rng.standard_normal((n_rows, n_features))


def timed_search(estimator, grid, X, repeats):
    times = []
    for _ in range(repeats):
        search = GridSearchCV(estimator, grid, cv=3)
        begin = time.perf_counter()
        search.fit(X)
        times.append(time.perf_counter() - begin)
    return min(times), search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-samples", type=int, default=9000)
    parser.add_argument("--n-features", type=int, default=3)
    parser.add_argument("--chunk-rows", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--selector", action="store_true")
    args = parser.parse_args()
    X = blobs(args.n_samples, args.n_features)
    cases = [
        (
            "GaussianMixture",
            daskmix.GaussianMixture(random_state=0),
            {"n_components": [1, 2, 3, 4, 5]},
        )
    ]
    if args.selector:
        cases.append(
            (
                "GaussianMixtureIC",
                daskmix.GaussianMixtureIC(n_components=range(1, 5), random_state=0),
                {"covariance_type": ["full", "diag", "spherical"]},
            )
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    print(
        f"{args.n_samples} x {args.n_features}, dask chunks of {args.chunk_rows} "
        f"rows on a 2-worker LocalCluster; best of {args.repeats}"
    )
    print(
        f"{'estimator':18s} {'dask':9s} {'grid':>4s} {'numpy s':>8s} {'dask s':>8s} "
        f"{'dask/np':>8s} {'graphs':>7s} {'/fit':>5s} {'same best':>9s}"
    )
    with cluster, Client(cluster) as client:
        client.register_plugin(GraphCounter())
        Xd = da.from_array(X, chunks=(args.chunk_rows, args.n_features))
        for label, estimator, grid in cases:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_numpy, on_numpy = timed_search(estimator, grid, X, args.repeats)
            for how, limit in (("in memory", None), ("streamed", 0)):
                with (
                    warnings.catch_warnings(),
                    dask.config.set({"daskmix.small-data-bytes": limit}),
                ):
                    warnings.simplefilter("ignore")
                    before = client.run_on_scheduler(graphs_received)
                    t_dask, on_dask = timed_search(estimator, grid, Xd, args.repeats)
                    graphs = (
                        client.run_on_scheduler(graphs_received) - before
                    ) / args.repeats
                # fits: candidates x 3 folds and the refit; scores: one per fit
                n_fits = len(on_dask.cv_results_["params"]) * 3 + 1
                same = on_numpy.best_params_ == on_dask.best_params_ and np.allclose(
                    on_numpy.cv_results_["mean_test_score"],
                    on_dask.cv_results_["mean_test_score"],
                )
                print(
                    f"{label:18s} {how:9s} {n_fits - 1:4d} {t_numpy:8.2f} "
                    f"{t_dask:8.2f} {t_dask / t_numpy:8.1f} {graphs:7.0f} "
                    f"{graphs / n_fits:5.1f} {str(same):>9s}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
