"""Mini-batch fits on a zarr store read about the rows they use.

The store is a real zarr v3 store in tmp_path, opened through a wrapper that
counts the bytes its reads return (chunk data only, not metadata).
"""

from __future__ import annotations

import threading
import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from conftest import make_blobs
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from daskmix import GaussianMixture
from daskmix._engine.batches import next_batches
from daskmix._engine.rows import RowBlocks

# zarr 3's API (create_array, storage.WrapperStore): above the floor, zarr 2.16
zarr = pytest.importorskip("zarr", minversion="3")

N_SAMPLES = 2**17
N_FEATURES = 4
BLOCK_ROWS = 8192
BATCH_SIZE = 2048
ROW_BYTES = N_FEATURES * 8


def counting_store(path):
    from zarr.storage import LocalStore, WrapperStore

    class CountingStore(WrapperStore):
        def __init__(self, store):
            super().__init__(store)
            self._lock = threading.Lock()
            self.bytes_read = 0

        def _with_store(self, store):
            return type(self)(store)

        def _count(self, key, value):
            if value is not None and not key.endswith("zarr.json"):
                with self._lock:
                    self.bytes_read += len(value)

        async def get(self, key, prototype, byte_range=None):
            value = await self._store.get(key, prototype, byte_range)
            self._count(key, value)
            return value

        async def get_partial_values(self, prototype, key_ranges):
            values = await self._store.get_partial_values(prototype, key_ranges)
            for (key, _), value in zip(key_ranges, values):
                self._count(key, value)
            return values

    return CountingStore(LocalStore(str(path), read_only=True))


@pytest.fixture(scope="module")
def sorted_store(tmp_path_factory):
    """128k rows of 4 blobs sorted along x0, in zarr chunks of 64 rows."""
    X, _ = make_blobs(n_samples=N_SAMPLES, n_features=N_FEATURES, n_components=4)
    X = X[np.argsort(X[:, 0], kind="stable")]
    path = tmp_path_factory.mktemp("minibatch_reads") / "X.zarr"
    zarr.create_array(
        str(path),
        data=X,
        chunks=(64, N_FEATURES),
        compressors=None,
    )
    return path, X


def open_counted(path):
    store = counting_store(path)
    array = zarr.open_array(store, mode="r")
    return store, da.from_zarr(array, chunks=(BLOCK_ROWS, N_FEATURES))


def test_one_step_reads_about_its_rows(sorted_store):
    path, X = sorted_store
    store, lazy = open_counted(path)
    data = RowBlocks({"X": lazy})
    rs = np.random.RandomState(0)
    for n_batches in (1, 8):
        store.bytes_read = 0
        batches = next_batches(data, n_batches, BATCH_SIZE, rs)
        used = n_batches * BATCH_SIZE * ROW_BYTES
        # 32 windows of 64 rows, each overlapping 1 or 2 chunks of 64 rows;
        # reading the 16 blocks of 8192 rows whole would be 64 times the rows
        assert store.bytes_read <= 2.5 * used
        assert len(batches) == n_batches


def test_minibatch_fit_reads_a_few_times_the_rows_it_uses(sorted_store):
    path, X = sorted_store
    store, lazy = open_counted(path)
    with dask.config.set(scheduler="threads"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GaussianMixture(
            4, algorithm="minibatch", batch_size=BATCH_SIZE, random_state=0
        ).fit(lazy)
    used = model.n_steps_ * BATCH_SIZE * ROW_BYTES
    # the initialisation sample and the warm-up (6 batches) are counted too
    assert store.bytes_read <= 4 * used
    batch = GaussianMixture(4, random_state=0).fit(X)
    assert model.score(X) > batch.score(X) - 0.02


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    """16k rows of 3 blobs in zarr chunks of 64 rows, read in 2048-row blocks."""
    X, _ = make_blobs(n_samples=16_384, n_features=N_FEATURES, seed=5)
    path = tmp_path_factory.mktemp("minibatch_small") / "X.zarr"
    zarr.create_array(str(path), data=X, chunks=(64, N_FEATURES))
    return path


def _fit_small(path, scheduler=None):
    lazy = da.from_zarr(str(path), chunks=(2048, N_FEATURES))
    model = GaussianMixture(
        3, algorithm="minibatch", batch_size=1024, max_iter=1, random_state=3
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if scheduler is None:
            return model.fit(lazy)
        with dask.config.set(scheduler=scheduler):
            return model.fit(lazy)


def _assert_same(first, second):
    assert first.n_steps_ == second.n_steps_ > 0
    assert_array_equal(first.means_, second.means_)
    assert_array_equal(first.covariances_, second.covariances_)
    assert first.lower_bounds_ == second.lower_bounds_


def test_same_batches_on_threads_and_synchronously(small_store):
    _assert_same(_fit_small(small_store, "threads"), _fit_small(small_store, "sync"))


def test_same_fit_on_a_cluster_reading_the_store(small_store, client):
    """Worker processes read the windows from the store; the fit is unchanged."""
    _assert_same(_fit_small(small_store), _fit_small(small_store, "threads"))
