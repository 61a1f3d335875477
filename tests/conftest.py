"""Shared fixtures: a real distributed cluster with worker processes, data, and
streamed dask input."""

from __future__ import annotations

import os

# scikit-learn's array API dispatch (array-API input: tests/test_array_api.py,
# and its own check_array_api_input for the estimators that claim support)
# needs scipy's, which is read when scipy is first imported
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import dask  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def stream_small_dask_data(request):
    """Dask input streams block by block in tests, as large data do.

    A fit reads dask data under ``daskmix.small-data-bytes`` (1 MiB) into
    memory once; the tests' arrays are small, so without this they would
    never exercise the streamed passes that real (large) data take. Tests of
    the in-memory path carry the ``small_data_in_memory`` marker.
    """
    if request.node.get_closest_marker("small_data_in_memory"):
        yield
        return
    with dask.config.set({"daskmix.small-data-bytes": 0}):
        yield


@pytest.fixture(scope="session")
def cluster():
    """A real ``distributed.LocalCluster``: 2 worker processes, 1 thread each."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        memory_limit="2GiB",
    ) as local_cluster:
        yield local_cluster


@pytest.fixture
def client(cluster):
    """A ``distributed.Client`` on the session's cluster, active for the test."""
    from distributed import Client

    with Client(cluster) as active_client:
        yield active_client


def make_blobs(n_samples=3000, n_features=3, n_components=3, seed=0, spread=6.0):
    """Well-separated Gaussian blobs: (X, true_means)."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((n_components, n_features)) * spread
    labels = rng.integers(0, n_components, n_samples)
    X = means[labels] + rng.standard_normal((n_samples, n_features))
    return X, means


@pytest.fixture
def blobs():
    return make_blobs()


def moments_kernel(tile, center):
    """Toy block kernel: count, sum and scatter of the rows around ``center``."""
    from daskmix._engine.stats import Stats

    x = tile.X
    shifted = x - center
    return Stats(
        n_rows=np.float64(x.shape[0]),
        s1=shifted.sum(axis=0),
        s2=shifted.T @ shifted,
    )


def assert_same_stats(a, b):
    """Two statistics, bit for bit."""
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def array_api_dispatch_unavailable() -> str | None:
    """Why scikit-learn's ``array_api_dispatch`` cannot be turned on here, or None.

    scikit-learn 1.6 and later turn it on only with scipy 1.14 or later, above
    daskmix's scipy floor (1.10): at the lowest supported versions, which CI
    also tests (``.ci/constraints-min.txt``), the array-API tests skip.
    """
    import scipy
    import sklearn

    try:
        with sklearn.config_context(array_api_dispatch=True):
            pass
    except ImportError as exc:
        found = f"scikit-learn {sklearn.__version__}, scipy {scipy.__version__}"
        return f"array_api_dispatch cannot be turned on ({found}): {exc}"
    return None


def pytest_collection_modifyitems(config, items):
    """Skip scikit-learn's ``check_array_api_input`` where dispatch is unavailable."""
    reason = array_api_dispatch_unavailable()
    if reason is None:
        return
    for item in items:
        if "check_array_api_input" in item.name:
            item.add_marker(pytest.mark.skip(reason=reason))
