"""Starts on a zarr store read the store chunks of their sample, not the store.

The store is a real zarr v3 store in tmp_path, opened through a wrapper that
counts the bytes its reads return (chunk data only, not metadata). It holds
200k rows in zarr chunks of 500 rows, read as a dask array of 20 blocks of
10k rows: reading a block's rows by indexing the dask array reads the whole
block; reading them from the store reads only the 500-row chunks that hold
them.
"""

from __future__ import annotations

import threading

import dask
import dask.array as da
import numpy as np
import pytest
from conftest import make_blobs
from numpy.testing import assert_allclose, assert_array_equal

from daskmix import GaussianMixture, RegressionMixture
from daskmix._engine.batches import read_rows
from daskmix._engine.rows import RowBlocks
from daskmix.cluster.seeding import random_data_centers, sample_indices
from daskmix.cluster.starts import kmeans_start

# the counting store wraps zarr 3's store API (zarr 2 at the lowest versions: skipped)
zarr = pytest.importorskip("zarr", minversion="3")

N_SAMPLES = 200_000
N_FEATURES = 4
CHUNK_ROWS = 500
BLOCK_ROWS = 10_000
CHUNK_BYTES = CHUNK_ROWS * N_FEATURES * 8
#: windows of a start's sample (``daskmix.start-sample.windows``)
WINDOWS = 32
#: samples are windows from this many rows on (a million by default)
WINDOWED = {"daskmix.start-sample.min-rows": 100_000}


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
def stores(tmp_path_factory):
    """X (4 blobs sorted along x0) and y = a line per blob, as zarr arrays."""
    X, means = make_blobs(
        n_samples=N_SAMPLES, n_features=N_FEATURES, n_components=4, seed=2
    )
    X = X[np.argsort(X[:, 0], kind="stable")]
    labels = ((X[:, None, :] - means) ** 2).sum(axis=2).argmin(axis=1)
    rng = np.random.default_rng(0)
    y = X[:, 1] * np.where(labels % 2, 1.0, -1.0) + 0.1 * rng.standard_normal(N_SAMPLES)
    folder = tmp_path_factory.mktemp("start_reads")
    for name, values in (("X", X), ("y", y)):
        zarr.create_array(
            str(folder / f"{name}.zarr"),
            data=values,
            chunks=(CHUNK_ROWS,) + values.shape[1:],
            compressors=None,
        )
    return folder, X, y


def open_counted(folder, name):
    store = counting_store(folder / f"{name}.zarr")
    array = zarr.open_array(store, mode="r")
    return store, da.from_zarr(array, chunks=(BLOCK_ROWS,) + array.shape[1:])


def test_the_sample_is_windows_of_the_rows():
    # below daskmix.start-sample.min-rows: single random rows
    rs = np.random.RandomState(0)
    expected = np.unique(np.random.RandomState(0).randint(0, N_SAMPLES, size=2000))
    assert_array_equal(sample_indices(N_SAMPLES, 2000, rs), expected)
    with dask.config.set(WINDOWED):
        rows = sample_indices(N_SAMPLES, 2000, np.random.RandomState(0))
    assert_array_equal(rows, np.unique(rows))
    # 32 windows of 63 rows, one per stratum of 6250 rows
    assert 1900 <= rows.size <= 32 * 63
    assert np.count_nonzero(np.diff(rows) > 1) < WINDOWS
    assert np.unique(rows // (N_SAMPLES // WINDOWS)).size >= WINDOWS - 1
    # data fewer than 32 times the sample: single random rows
    with dask.config.set(WINDOWED):
        small = sample_indices(50_000, 2000, np.random.RandomState(0))
    expected = np.unique(np.random.RandomState(0).randint(0, 50_000, size=2000))
    assert_array_equal(small, expected)


def test_read_rows_reads_only_the_chunks_that_hold_them(stores):
    folder, X, _ = stores
    store, lazy = open_counted(folder, "X")
    rows = np.array([7, 3, 150_001, 7, 99_999])
    taken = read_rows(RowBlocks({"X": lazy}), rows)["X"]
    assert_array_equal(taken, X[rows])
    # the chunks of rows 3 and 7, 99_999 and 150_001: 3 of 400
    assert store.bytes_read == 3 * CHUNK_BYTES


def test_gaussian_kmeans_start_reads_its_windows(stores):
    folder, X, _ = stores
    store, lazy = open_counted(folder, "X")
    estimator = GaussianMixture(4)
    settings = {
        "daskmix.kmeans-start.sample-rows": 2000,
        "daskmix.kmeans-start.rows-per-cluster": 100,
        **WINDOWED,
    }
    with dask.config.set(settings):
        model = estimator._model(N_FEATURES, fitting=True)
        start = model.initialize(RowBlocks({"X": lazy}), np.random.RandomState(0))
        expected = model.initialize(RowBlocks({"X": X}), np.random.RandomState(0))
    # 32 windows of 63 rows, each in one or two chunks of 500 rows: at most
    # 64 of the 400 chunks (indexing the dask array read all 20 blocks)
    assert 0 < store.bytes_read <= 2 * WINDOWS * CHUNK_BYTES
    assert_array_equal(start.means, expected.means)
    assert_array_equal(start.covariances, expected.covariances)
    assert_array_equal(start.weights, expected.weights)

    with dask.config.set(settings):
        lazy_fit = GaussianMixture(4, max_iter=5, random_state=0).fit(lazy)
        numpy_fit = GaussianMixture(4, max_iter=5, random_state=0).fit(X)
    assert lazy_fit.n_iter_ == numpy_fit.n_iter_
    assert_allclose(lazy_fit.means_, numpy_fit.means_, rtol=1e-10)
    assert_allclose(lazy_fit.covariances_, numpy_fit.covariances_, rtol=1e-9)
    assert_allclose(lazy_fit.lower_bound_, numpy_fit.lower_bound_, rtol=1e-12)


def test_regression_short_em_start_reads_its_windows(stores):
    folder, X, y = stores
    x_store, lazy_x = open_counted(folder, "X")
    y_store, lazy_y = open_counted(folder, "y")
    estimator = RegressionMixture(2)
    # short-em's sample of 4000 rows: 32 windows of 125 rows (the store
    # holds more than 32 times 4000 rows); the first 1000 rows fix the frame
    model = estimator._model(N_FEATURES, fitting=True)
    with dask.config.set(WINDOWED):
        start = model.initialize(
            RowBlocks({"X": lazy_x, "y": lazy_y}), np.random.RandomState(0)
        )
        expected = model.initialize(
            RowBlocks({"X": X, "y": y}), np.random.RandomState(0)
        )
    n_chunks = 2 * WINDOWS + 1000 // CHUNK_ROWS
    assert 0 < x_store.bytes_read <= n_chunks * CHUNK_BYTES
    assert 0 < y_store.bytes_read <= n_chunks * CHUNK_ROWS * 8
    assert_array_equal(start.coef, expected.coef)
    assert_array_equal(start.intercept, expected.intercept)
    assert_array_equal(start.noise_variance, expected.noise_variance)


def test_random_rows_seeding_reads_a_chunk_per_row(stores):
    folder, X, _ = stores
    store, lazy = open_counted(folder, "X")
    centers = random_data_centers(RowBlocks({"X": lazy}), 5, np.random.RandomState(1))
    expected = random_data_centers(RowBlocks({"X": X}), 5, np.random.RandomState(1))
    assert_array_equal(centers, expected)
    # the draw reads no feature; the 5 rows at most 5 chunks
    assert 0 < store.bytes_read <= 5 * CHUNK_BYTES


def test_joint_kmeans_start_reads_x_and_y_where_the_sample_lies(stores):
    """A regression's k-means start reads its sample from X and y, not from
    their joined dask array (which is no store's, and was read block by block)."""
    folder, X, y = stores
    x_store, lazy_x = open_counted(folder, "X")
    y_store, lazy_y = open_counted(folder, "y")
    settings = {"daskmix.kmeans-start.sample-rows": 2000, **WINDOWED}
    with dask.config.set(settings):
        centers, rows = kmeans_start(
            RowBlocks({"X": lazy_x, "y": lazy_y}),
            3,
            np.random.RandomState(0),
            1,
            resample=True,
        )
        expected, expected_rows = kmeans_start(
            RowBlocks({"X": X, "y": y}).joined(),
            3,
            np.random.RandomState(0),
            1,
            resample=True,
        )
    assert_array_equal(centers, expected)
    assert_array_equal(rows.X, expected_rows.X)
    assert 0 < x_store.bytes_read <= 2 * WINDOWS * CHUNK_BYTES
    assert 0 < y_store.bytes_read <= 2 * WINDOWS * CHUNK_ROWS * 8
