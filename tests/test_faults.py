"""Cluster events during fits: every fit returns or raises, within a bound.

* ``client.restart()`` while every estimator and both selectors fit a zarr
  store on a real ``LocalCluster`` (2 worker processes): each fit ends within
  60 s of the restart, with the undisturbed result (it ran its passes before
  or after the restart) or with a ``ClusterEventError`` naming the restart.
* A cluster without workers: the fit raises a ``ClusterEventError`` naming it
  after ``daskmix.cluster-wait-seconds`` (was: waited forever).
* The client closed during a fit: the fit ends, with an error naming the
  closed client or with the fit's result.
* Every read of a fit submits one form of each chunk of the data (two forms
  of one key made the restart fail with an AssertionError and the fits hang).

Worker kills and ``restart_workers`` are in tests/test_cluster_faults.py;
larger variants (every estimator alone, restarts at several moments) in
benchmarks/bench_faults.py.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import CancelledError
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest

from daskmix import (
    BayesianGaussianMixture,
    GaussianMixture,
    GaussianMixtureIC,
    KMeans,
    RegressionMixture,
    RegressionMixtureIC,
)
from daskmix._engine.cluster_events import ClusterEventError

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning", "ignore::UserWarning"
)

#: the bound on the time from a cluster event to the end of a fit
BOUND_SECONDS = 60.0
#: daskmix.cluster-wait-seconds in these tests
WAIT_SECONDS = 10

ESTIMATORS = {
    "GaussianMixture": lambda: GaussianMixture(3, random_state=0, tol=0, max_iter=8),
    "BayesianGaussianMixture": lambda: BayesianGaussianMixture(
        n_components=3, random_state=0, tol=0, max_iter=8
    ),
    "KMeans": lambda: KMeans(3, random_state=0, n_init=1, tol=0, max_iter=8),
    "RegressionMixture": lambda: RegressionMixture(
        2, random_state=0, tol=0, max_iter=8
    ),
    "GaussianMixtureIC": lambda: GaussianMixtureIC(
        n_components=[2, 3], covariance_type=["diag"], random_state=0, max_iter=4
    ),
    "RegressionMixtureIC": lambda: RegressionMixtureIC(
        n_components=[1, 2],
        gating=["none"],
        noise=["component"],
        random_state=0,
        max_iter=4,
    ),
}
TAKES_Y = {"RegressionMixture", "RegressionMixtureIC"}


@pytest.fixture(scope="module")
def events_cluster():
    """2 worker processes with nannies, which bring restarted workers back."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        memory_limit="1GiB",
    ) as cluster:
        yield cluster


def _store(tmp_path: Path):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((12_000, 3))
    X[::2] += 4.0
    y = X @ np.array([1.0, -1.0, 0.5]) + 0.3 * rng.standard_normal(12_000)
    da.from_array(X, chunks=(2000, -1)).to_zarr(str(tmp_path / "X.zarr"))
    da.from_array(y, chunks=2000).to_zarr(str(tmp_path / "y.zarr"))
    return da.from_zarr(str(tmp_path / "X.zarr")), da.from_zarr(
        str(tmp_path / "y.zarr")
    )


def _counted_read(block, flags):
    """Pass ``block`` through, counting reads in a file (any process)."""
    fd = os.open(flags / "reads", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, b".")
    finally:
        os.close(fd)
    time.sleep(0.05)  # reads last long enough for the restart to meet them
    return block


def _reads(flags: Path) -> int:
    path = flags / "reads"
    return path.stat().st_size if path.exists() else 0


def _fit(name, X, y):
    estimator = ESTIMATORS[name]()
    return estimator.fit(X, y) if name in TAKES_Y else estimator.fit(X)


def _fit_in_thread(name, X, y, outcome):
    def run():
        try:
            outcome["model"] = _fit(name, X, y)
        except BaseException as exc:  # examined by the test
            outcome["error"] = exc
        outcome["end"] = time.monotonic()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def _fitted_values(model) -> dict:
    if hasattr(model, "best_estimator_"):
        model = model.best_estimator_
    return {
        key: value
        for key, value in vars(model).items()
        if key.endswith("_") and isinstance(value, np.ndarray)
    }


def _is_restart_error(exc: BaseException) -> bool:
    """The restart named, or the stall it left (distributed's restart can fail
    half-way, after forgetting every task but before telling the clients)."""
    if isinstance(exc, ClusterEventError):
        return True
    return isinstance(exc, CancelledError) and "restart" in str(exc)


def test_restart_during_every_fit_ends_each_within_the_bound(events_cluster, tmp_path):
    X, y = _store(tmp_path)
    flags = tmp_path / "flags"
    flags.mkdir()
    watched = X.map_blocks(_counted_read, flags, dtype=X.dtype)
    outcomes = {name: {} for name in ESTIMATORS}
    with (
        distributed.Client(events_cluster) as client,
        dask.config.set({"daskmix.cluster-wait-seconds": WAIT_SECONDS}),
    ):
        threads = [
            _fit_in_thread(name, watched, y, outcomes[name]) for name in ESTIMATORS
        ]
        deadline = time.monotonic() + 60
        while _reads(flags) < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _reads(flags) >= 12, "the fits never read their data"
        restarted_at = time.monotonic()
        try:
            client.restart(timeout=BOUND_SECONDS)
        except Exception as exc:  # the restart's own trouble is not the fits'
            print(f"client.restart() raised {type(exc).__name__}: {exc}")
        for thread in threads:
            thread.join(max(0.0, restarted_at + BOUND_SECONDS - time.monotonic()))
        hung = [thread.name for thread in threads if thread.is_alive()]
        assert not hung, f"fits still running {BOUND_SECONDS:g} s after the restart"
        client.wait_for_workers(2, timeout=120)
    interrupted, problems = 0, []
    for name, outcome in outcomes.items():
        if outcome["end"] - restarted_at >= BOUND_SECONDS:
            problems.append(f"{name} ended {outcome['end'] - restarted_at:.0f} s late")
        if "error" in outcome:
            interrupted += 1
            if not _is_restart_error(outcome["error"]):
                problems.append(f"{name} raised {outcome['error']!r}")
            continue
        with dask.config.set(scheduler="threads"):
            reference = _fit(name, X, y)
        expected = _fitted_values(reference)
        got = _fitted_values(outcome["model"])
        if got.keys() != expected.keys() or not all(
            np.allclose(got[key], value, rtol=1e-9, atol=1e-12)
            for key, value in expected.items()
        ):
            problems.append(f"{name} returned another model than undisturbed")
    if problems:
        pytest.fail("; ".join(problems))
    print(f"{interrupted} of {len(outcomes)} fits interrupted by the restart")


def test_no_workers_raises_after_the_wait():
    X = da.random.RandomState(0).standard_normal((4000, 2), chunks=(1000, 2))
    with (
        distributed.LocalCluster(
            n_workers=0, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster),
        dask.config.set({"daskmix.cluster-wait-seconds": 2}),
    ):
        start = time.monotonic()
        with pytest.raises(ClusterEventError, match="no workers"):
            GaussianMixture(2, random_state=0).fit(X)
        assert time.monotonic() - start < 30


def test_client_closed_during_a_fit_ends_it(events_cluster, tmp_path):
    X, _ = _store(tmp_path)
    flags = tmp_path / "flags"
    flags.mkdir()
    watched = X.map_blocks(_counted_read, flags, dtype=X.dtype)
    outcome: dict = {}
    client = distributed.Client(events_cluster)
    try:
        thread = _fit_in_thread("GaussianMixture", watched, None, outcome)
        deadline = time.monotonic() + 60
        while _reads(flags) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.close()
    closed_at = time.monotonic()
    thread.join(BOUND_SECONDS)
    assert not thread.is_alive(), "the fit still runs after its client closed"
    assert outcome["end"] - closed_at < BOUND_SECONDS
    if "error" in outcome:
        text = str(outcome["error"]).lower()
        assert "closed" in text or "cancelled" in text, repr(outcome["error"])


def test_every_read_of_a_fit_submits_one_form_of_each_chunk(tmp_path):
    """Passes, start rows and checks give a chunk's key the same task: two
    forms of one key (fused with its read, and not) made the scheduler keep a
    task forever and fail ``client.restart()`` with an AssertionError."""
    from dask.base import tokenize

    from daskmix._engine.passes import _optimised_graph
    from daskmix._engine.rows import RowBlocks

    X, _ = _store(tmp_path)
    data = RowBlocks({"X": X.map_blocks(_counted_read, tmp_path, dtype=X.dtype)})
    settled = data.X
    chunk_keys = {key[0] for key in settled.__dask_keys__()}
    submitted = {
        "pass": _optimised_graph(settled),
        "rows": dict(settled[np.array([3, 7_000])].__dask_graph__()),
        "check": dict(da.isfinite(settled).all().__dask_graph__()),
        "batches": {
            k: v
            for block in settled.to_delayed().ravel()
            for k, v in block.dask.items()
        },
    }
    forms = {
        key: {tokenize(graph[key]) for graph in submitted.values() if key in graph}
        for key in chunk_keys
    }
    assert all(len(seen) == 1 for seen in forms.values())
    assert all(key in submitted["pass"] for key in chunk_keys)
