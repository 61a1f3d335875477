"""The engine under real use: empty blocks, bad values in lazy arrays, sparse
blocks, forked children, concurrent fits and BLAS, wide data, small dask data.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import subprocess
import sys
import warnings

import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import make_blobs
from dask.callbacks import Callback
from sklearn.exceptions import ConvergenceWarning

import daskmix
from daskmix import GaussianMixture, KMeans, RegressionMixture, config
from daskmix._engine.rows import (
    RowBlocks,
    default_tile_rows,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class ComputeCounter(Callback):
    """Counts scheduler runs (one per ``dask.compute``) of the local schedulers."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def _start(self, dsk):
        self.n += 1


@pytest.fixture(scope="module")
def data():
    X, _ = make_blobs(n_samples=3000, n_features=2, n_components=2, seed=1)
    y = 2.0 * X[:, 0] - X[:, 1] + np.random.default_rng(1).standard_normal(3000)
    return X, y


def _with_empty_block(array: np.ndarray) -> da.Array:
    """``array`` as ``X[mask].compute_chunk_sizes()`` gives it: one 0-row block."""
    junk = np.full((500,) + array.shape[1:], 1e6)
    padded = np.concatenate([array[:1000], junk, array[1000:]])
    keep = np.ones(padded.shape[0], dtype=bool)
    keep[1000:1500] = False
    row_chunks = (1000, 500) + (1000,) * ((array.shape[0] - 1000) // 1000)
    lazy = da.from_array(padded, chunks=(row_chunks,) + padded.shape[1:])
    selected = lazy[da.from_array(keep, chunks=(row_chunks,))]
    selected.compute_chunk_sizes()
    return selected


# ----------------------------------------------------------------- empty blocks
def test_empty_block_contributes_nothing(data):
    X, y = data
    Xe = _with_empty_block(X)
    assert 0 in Xe.chunks[0]
    np.testing.assert_array_equal(Xe.compute(), X)
    Xd = da.from_array(X, chunks=1000)

    gm = GaussianMixture(2, random_state=0, tol=0, max_iter=5)
    with_empty = gm.fit(Xe)
    reference = GaussianMixture(2, random_state=0, tol=0, max_iter=5).fit(Xd)
    np.testing.assert_allclose(with_empty.means_, reference.means_, rtol=1e-10)
    assert with_empty.score(Xe) == pytest.approx(reference.score(Xd), rel=1e-12)

    labels = with_empty.predict(Xe)
    assert labels.chunks == (Xe.chunks[0],)  # output blocks line up with input's
    np.testing.assert_array_equal(labels.compute(), reference.predict(X))
    proba = with_empty.predict_proba(Xe)
    assert proba.chunks[0] == Xe.chunks[0]
    np.testing.assert_allclose(proba.compute(), reference.predict_proba(X), atol=1e-12)

    GaussianMixture(2, random_state=0).partial_fit(Xe)

    km = KMeans(2, random_state=0).fit(Xe)
    assert km.predict(Xe).compute().shape == (3000,)
    weights = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0])
    weighted = KMeans(2, random_state=0).fit(
        Xe, sample_weight=_with_empty_block(weights)
    )
    weighted_ref = KMeans(2, random_state=0).fit(
        Xd, sample_weight=da.from_array(weights, chunks=1000)
    )
    assert weighted.inertia_ == pytest.approx(weighted_ref.inertia_, rel=1e-10)

    ye = _with_empty_block(y)
    assert ye.chunks[0] == Xe.chunks[0]
    rm = RegressionMixture(2, random_state=0, tol=0, max_iter=3).fit(Xe, ye)
    rm_ref = RegressionMixture(2, random_state=0, tol=0, max_iter=3).fit(
        Xd, da.from_array(y, chunks=1000)
    )
    np.testing.assert_allclose(rm.coef_, rm_ref.coef_, rtol=1e-8)
    np.testing.assert_allclose(rm.predict(Xe).compute(), rm_ref.predict(X), rtol=1e-8)


# ------------------------------------------------------- non-finite dask input
def _bad(X, value, row=-5):
    X = X.copy()
    X[row, 1] = value
    return da.from_array(X, chunks=1000)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return (
        GaussianMixture(2, random_state=0).fit(X),
        KMeans(2, random_state=0).fit(X),
        RegressionMixture(2, random_state=0).fit(X, y),
    )


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize(
    "method",
    [
        "gm.predict",
        "gm.predict_proba",
        "gm.score_samples",
        "km.predict",
        "km.transform",
        "rm.predict",
        "rm.component_proba",
    ],
)
def test_non_finite_dask_rows_raise_when_computed(data, fitted, method, value):
    X, _ = data
    models = dict(zip(("gm", "km", "rm"), fitted))
    owner, name = method.split(".")
    lazy = getattr(models[owner], name)(_bad(X, value))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
            lazy.compute()


def test_non_finite_dask_y_raises_when_computed(data, fitted):
    X, y = data
    y = y.copy()
    y[2500] = np.nan
    lazy = fitted[2].component_proba(
        da.from_array(X, chunks=1000), da.from_array(y, chunks=1000)
    )
    with pytest.raises(ValueError, match="Input y contains NaN or infinity"):
        lazy.compute()


@pytest.mark.parametrize("step", ["gm.fit", "gm.score", "km.fit", "rm.fit"])
def test_inf_in_a_late_block_is_reported_without_runtime_warnings(data, fitted, step):
    X, y = data
    bad = _bad(X, np.inf, row=-2)
    dy = da.from_array(y, chunks=1000)
    run = {
        "gm.fit": lambda: GaussianMixture(2, random_state=0).fit(bad),
        "gm.score": lambda: fitted[0].score(bad),
        "km.fit": lambda: KMeans(2, random_state=0).fit(bad),
        "rm.fit": lambda: RegressionMixture(2, random_state=0).fit(bad, dy),
    }[step]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
            run()


# ---------------------------------------------------------------------- sparse
def test_sparse_dask_array_is_rejected_clearly(data):
    X, _ = data
    sparse = sp.csr_matrix(X)
    by_meta = da.from_array(sparse, chunks=(1000, 2), asarray=False)
    # blocks are sparse although the meta says numpy
    hidden = da.from_array(X, chunks=1000).map_blocks(
        sp.csr_matrix, meta=np.empty((0, 0))
    )
    gm = GaussianMixture(2, random_state=0).fit(X)
    for lazy in (by_meta, hidden):
        with pytest.raises(TypeError, match="Sparse input is not supported"):
            GaussianMixture(2, random_state=0).fit(lazy)
        with pytest.raises(TypeError, match="Sparse input is not supported"):
            gm.predict(lazy).compute()
    with pytest.raises(TypeError, match="Sparse input is not supported"):
        KMeans(2, random_state=0).fit(hidden)


# ------------------------------------------------------------------------ fork
def _fit_in_child(X, queue):
    model = GaussianMixture(2, random_state=0).fit(X)
    queue.put(float(model.lower_bound_))


def test_forked_child_can_fit(data):
    X, _ = data
    parent = GaussianMixture(2, random_state=0).fit(X)  # starts the thread pool
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_fit_in_child, args=(X, queue))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("a forked child hung in fit")
    assert child.exitcode == 0
    assert queue.get(timeout=5) == pytest.approx(parent.lower_bound_, rel=1e-10)


# ------------------------------------------------------------------------ BLAS
_BLAS_SCRIPT = """
import json, sys, threading
import numpy as np
from threadpoolctl import threadpool_info
from daskmix import GaussianMixture
from daskmix._engine.threads import one_blas_thread


def blas():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


before, seen = blas(), []
if sys.argv[1] == "hold":
    # thread A enters, B enters, A leaves, B leaves: the worst interleaving
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with one_blas_thread():
            a_in.set()
            b_in.wait(10)
            seen.append(blas())
        a_out.set()

    def second():
        a_in.wait(10)
        with one_blas_thread():
            b_in.set()
            a_out.wait(10)

    targets = [first, second]
else:
    X = np.random.default_rng(0).standard_normal((8000, 3))
    barrier = threading.Barrier(2)

    def fit():
        barrier.wait(10)
        for seed in range(2):
            GaussianMixture(2, random_state=seed).fit(X)

    targets = [fit, fit]
threads = [threading.Thread(target=target) for target in targets]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"before": before, "seen": seen, "after": blas()}))
"""


@pytest.mark.parametrize("scenario", ["hold", "fits"])
def test_concurrent_blas_holds_restore_the_callers_settings(scenario):
    """Run in a fresh interpreter whose main thread never set BLAS threads.

    (The hold from any thread, after the main thread's:
    tests/test_concurrent_fits.py.)
    """
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(daskmix.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    # a distributed.LocalCluster earlier in the session sets these to 1
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)
    env["OPENBLAS_NUM_THREADS"] = "2"
    out = subprocess.run(
        [sys.executable, "-c", _BLAS_SCRIPT, scenario],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if not result["before"] or max(result["before"]) == 1:
        pytest.skip("needs a multi-threaded BLAS")
    assert all(set(inside) == {1} for inside in result["seen"]), result
    assert result["after"] == result["before"], result


# ----------------------------------------------------------------- wide tiles
@pytest.mark.parametrize("width", [1, 80, 10_000, 500_500, 10**7])
def test_tile_rows_stay_within_the_budget(width):
    rows = default_tile_rows(width)
    assert rows >= 1
    assert rows == 1 or rows * width * 8 <= config.get("tile-budget-bytes")
    assert default_tile_rows(80) == 8192


# --------------------------------------------------------- small dask data
def test_local_reads_dask_data_once(data):
    X, y = data
    lazy = RowBlocks(
        {"X": da.from_array(X, chunks=700), "y": da.from_array(y, chunks=700)}
    )
    assert lazy.nbytes == X.nbytes + y.nbytes
    with ComputeCounter() as counter:
        local = lazy.local()
    assert counter.n == 1
    assert not local.is_dask
    np.testing.assert_array_equal(local.X, X)
    np.testing.assert_array_equal(local.y, y)
    numpy_data = RowBlocks({"X": X})
    assert numpy_data.local() is numpy_data


def test_small_dask_fit_reads_the_data_few_times():
    X, _ = make_blobs(n_samples=9000, n_features=3, n_components=3, seed=2)
    with ComputeCounter() as counter:
        model = GaussianMixture(random_state=0).fit(da.from_array(X, chunks=1000))
    assert counter.n <= model.n_iter_ + 3


# -------------------------------------------------------------------- pickles
@pytest.mark.parametrize("estimator", ["gaussian", "regression"])
def test_pickle_size_does_not_grow_with_the_data(estimator):
    sizes = []
    for n_samples in (2000, 20_000):
        X, _ = make_blobs(n_samples=n_samples, n_features=3, n_components=2, seed=3)
        dX = da.from_array(X, chunks=1000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if estimator == "gaussian":
                model = GaussianMixture(2, random_state=0, tol=0, max_iter=4).fit(dX)
            else:
                dy = da.from_array(X[:, 0] - X[:, 1], chunks=1000)
                model = RegressionMixture(2, random_state=0, tol=0, max_iter=4)
                model.fit(dX, dy)
        sizes.append(len(pickle.dumps(model)))
    assert abs(sizes[1] - sizes[0]) <= 32, sizes
