"""scikit-learn's GridSearchCV over dask arrays on a real LocalCluster; small data.

GridSearchCV cuts its folds from a dask array with numpy row numbers (lazy
dask arrays of known chunks) and calls ``fit`` and ``score`` on them. A fit of
small dask data reads them once (``RowBlocks.small_in_memory``) and a score is
one pass, so a search makes about two ``compute`` calls per candidate and fold,
and finds what the same search finds on numpy.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from conftest import make_blobs
from distributed.diagnostics.plugin import SchedulerPlugin
from sklearn.model_selection import GridSearchCV

from daskmix import GaussianMixture, KMeans, RegressionMixture, config
from daskmix._engine.rows import RowBlocks

SMALL_DATA_BYTES = config.get("small-data-bytes")

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.small_data_in_memory,
]


class GraphCounter(SchedulerPlugin):
    """Counts the graphs the scheduler receives: one per ``compute``."""

    name = "daskmix-test-graph-counter"

    def __init__(self):
        self.n = 0

    def update_graph(self, scheduler, **kwargs):
        self.n += 1


def _graphs(dask_scheduler) -> int:
    return dask_scheduler.plugins[GraphCounter.name].n


@pytest.fixture
def counted(client):
    """The test's client, and a function returning the graphs received so far."""
    client.register_plugin(GraphCounter())
    try:
        yield lambda: client.run_on_scheduler(_graphs)
    finally:
        client.unregister_scheduler_plugin(GraphCounter.name)


def test_grid_search_on_dask_matches_numpy_in_few_computes(counted):
    X, _ = make_blobs(3000, 3, 2, seed=5)
    grid = {"n_components": [1, 2]}
    estimator = GaussianMixture(random_state=0)
    on_numpy = GridSearchCV(estimator, grid, cv=2).fit(X)
    Xd = da.from_array(X, chunks=(1000, -1))
    on_dask = GridSearchCV(estimator, grid, cv=2).fit(Xd)
    n_graphs = counted()
    assert on_dask.best_params_ == on_numpy.best_params_ == {"n_components": 2}
    for name in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_allclose(
            on_dask.cv_results_[name], on_numpy.cv_results_[name], rtol=1e-10
        )
    # 2 candidates x 2 folds: 4 fits (one read each) and 4 scores (one pass
    # each), and the refit on all rows (one read)
    assert n_graphs <= 9
    # the refitted estimator keeps dask in, dask out
    assert isinstance(on_dask.best_estimator_.predict(Xd), da.Array)


def test_small_fit_reads_once_and_equals_the_streamed_fit(counted):
    X, _ = make_blobs(4000, 3, 3, seed=6)
    Xd = da.from_array(X, chunks=(700, -1))
    assert X.nbytes <= SMALL_DATA_BYTES
    before = counted()
    in_memory = GaussianMixture(3, random_state=0).fit(Xd)
    reads = counted() - before
    with dask.config.set({"daskmix.small-data-bytes": 0}):
        before = counted()
        streamed = GaussianMixture(3, random_state=0).fit(Xd)
        passes = counted() - before
    assert reads == 1
    assert passes >= streamed.n_iter_ + 1
    # the in-memory passes add the same blocks in the same order: bit-identical
    for name in ("weights_", "means_", "covariances_", "lower_bound_"):
        np.testing.assert_array_equal(getattr(in_memory, name), getattr(streamed, name))
    assert in_memory.n_iter_ == streamed.n_iter_


def _fitted(make, args, weight):
    fitted = make().fit(*args, sample_weight=weight)
    for name in ("cluster_centers_", "means_", "coef_"):
        if hasattr(fitted, name):
            return getattr(fitted, name)
    raise AssertionError("no fitted centres")


@pytest.mark.parametrize(
    "make, with_y",
    [
        (lambda: KMeans(3, random_state=0), False),
        (lambda: KMeans(3, init="k-means++", random_state=0), False),
        (lambda: KMeans(3, init="random", n_init=2, random_state=0), False),
        (lambda: GaussianMixture(3, init_params="k-means++", random_state=0), False),
        (
            lambda: GaussianMixture(3, init_params="random_from_data", random_state=0),
            False,
        ),
        (
            lambda: GaussianMixture(
                3, algorithm="minibatch", batch_size=500, random_state=0
            ),
            False,
        ),
        (lambda: RegressionMixture(2, random_state=0), True),
        (
            lambda: RegressionMixture(
                2, algorithm="minibatch", batch_size=500, random_state=0
            ),
            True,
        ),
    ],
)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_in_memory_fits_draw_as_streamed_fits_do(make, with_y, weighted):
    # random draws (seedings, mini-batch windows) follow the input's kind, not
    # its size: a small dask array fitted in memory gives the streamed result
    rng = np.random.default_rng(3)
    X, _ = make_blobs(3000, 3, 3, seed=7)
    Xd = da.from_array(X, chunks=(700, -1))
    args = (Xd, da.from_array(X[:, 0] - X[:, 1], chunks=700)) if with_y else (Xd,)
    weight = (
        da.from_array(rng.uniform(0.2, 2.0, 3000), chunks=700) if weighted else None
    )
    in_memory = _fitted(make, args, weight)
    with dask.config.set({"daskmix.small-data-bytes": 0}):
        streamed = _fitted(make, args, weight)
    np.testing.assert_array_equal(in_memory, streamed)


def test_small_in_memory_keeps_dask_blocks_and_honours_the_limit():
    X = np.random.default_rng(0).standard_normal((5000, 4))
    Xd = da.from_array(X, chunks=(1200, -1))
    local = RowBlocks({"X": Xd}).small_in_memory()
    assert not local.is_dask
    assert local.row_chunks == (1200, 1200, 1200, 1200, 200)
    np.testing.assert_array_equal(local.X, X)
    assert local.with_array("rows", np.arange(len(X))).row_chunks == local.row_chunks
    with dask.config.set({"daskmix.small-data-bytes": X.nbytes - 1}):
        assert RowBlocks({"X": Xd}).small_in_memory().is_dask
    with dask.config.set({"daskmix.small-data-bytes": "1 MiB"}):
        assert not RowBlocks({"X": Xd}).small_in_memory().is_dask
    big = da.zeros((SMALL_DATA_BYTES // 8 + 1, 1), chunks=(10_000, 1))
    assert RowBlocks({"X": big}).small_in_memory().is_dask
    numpy_data = RowBlocks({"X": X})
    assert numpy_data.small_in_memory() is numpy_data
