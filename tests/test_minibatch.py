"""Stepwise (mini-batch) EM: engine draws, the shared driver, GaussianMixture."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from conftest import make_blobs
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import linear_sum_assignment

from daskmix import GaussianMixture, config
from daskmix._em.model import MixtureModel
from daskmix._em.stepwise import (
    StepSchedule,
    StepwiseState,
    batch_blocks,
    fit_stepwise,
    stepwise_update,
)
from daskmix._engine.batches import (
    draw_batches,
    read_batches,
    storage_of,
)
from daskmix._engine.rows import RowBlocks
from daskmix._engine.stats import Stats
from daskmix._engine.tiles import Tile
from daskmix.gaussian.covariance import SKLEARN_TYPES as COVARIANCE_TYPES
from daskmix.gaussian.kernels import em_kernel, make_plan
from daskmix.gaussian.params import (
    GaussianParams,
    StatsFrame,
    m_step,
    precisions_cholesky_from_covariances,
    reframe_stats,
)


def _matched_distance(found: np.ndarray, truth: np.ndarray) -> float:
    """Largest distance between true means and their matched fitted means."""
    cost = np.linalg.norm(found[:, None] - truth[None], axis=2)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].max())


@pytest.fixture(scope="module")
def blobs_4k():
    return make_blobs(n_samples=4000, n_features=3, n_components=3, seed=3)


# ------------------------------------------------------------------ engine
def test_draws_are_windows_and_every_row_is_equally_likely():
    X = da.zeros((40_000, 2), chunks=(1000, 2))
    data = RowBlocks({"X": X})
    rs = np.random.RandomState(0)
    draw = draw_batches(data, 2000, 100, rs)
    counts = np.zeros(40_000)
    for rows in draw.rows:
        assert rows.shape == (100,)
        assert np.all(np.diff(rows) >= 0)
        # 32 windows of consecutive rows, each cut in two at most (wrapping
        # round its block, or thinned to exactly batch_size rows)
        assert np.count_nonzero(np.diff(rows) > 1) < 3 * config.get("windows-per-batch")
        counts += np.bincount(rows, minlength=40_000)
    by_block = counts.reshape(40, 1000).sum(axis=1)
    assert np.ptp(by_block / by_block.mean()) < 0.2
    # rows at the edges of blocks are drawn as often as the others
    by_place = counts.reshape(40, 1000).sum(axis=0)
    expected = 2000 * 100 / 1000
    for place in (0, 1, 2, 500, 997, 998, 999):
        assert 0.7 * expected < by_place[place] < 1.3 * expected


def test_batches_of_sorted_data_cover_every_stratum():
    """Every batch holds rows from each 1/32 of the data, whatever the blocks."""
    X = da.zeros((64_000, 2), chunks=(16_000, 2))
    draw = draw_batches(RowBlocks({"X": X}), 50, 3200, np.random.RandomState(3))
    for rows in draw.rows:
        assert np.unique(rows // 2000).size == config.get("windows-per-batch")


def test_numpy_draws_are_uniform_rows():
    rs = np.random.RandomState(4)
    rows = draw_batches(RowBlocks({"X": np.zeros((5000, 2))}), 2, 300, rs).rows
    expected = np.random.RandomState(4)
    assert_array_equal(rows[0], np.sort(expected.randint(0, 5000, 300)))
    assert_array_equal(rows[1], np.sort(expected.randint(0, 5000, 300)))


def _save(path, array, chunks):
    zarr = pytest.importorskip("zarr", minversion="3")  # zarr.create_array

    zarr.create_array(str(path), data=array, chunks=chunks)


def test_read_batches_returns_the_chosen_rows_numpy_and_dask(tmp_path):
    X = np.arange(20_000, dtype=np.float64).reshape(-1, 2)
    y = np.arange(10_000, dtype=np.float64)
    _save(tmp_path / "X.zarr", X, (64, 2))
    _save(tmp_path / "y.zarr", y, (100,))
    lazy = RowBlocks(
        {"X": da.from_array(X, chunks=(700, 2)), "y": da.from_array(y, chunks=700)}
    )
    stored = RowBlocks(
        {
            "X": da.from_zarr(str(tmp_path / "X.zarr"), chunks=(700, 2)),
            "y": da.from_zarr(str(tmp_path / "y.zarr"), chunks=700),
        }
    )
    assert all(storage_of(a) is not None for a in stored.given_arrays)
    assert not any(storage_of(a) is not None for a in lazy.given_arrays)
    draw = draw_batches(lazy, 3, 300, np.random.RandomState(1))
    for data in (lazy, stored, RowBlocks({"X": X, "y": y})):
        for rows, batch in zip(draw.rows, read_batches(data, draw)):
            assert_array_equal(batch["X"][:, 0], 2 * rows)
            assert_array_equal(batch["y"], rows)
    pooled = draw.pooled(unique=True)
    batch = read_batches(stored, pooled)[0]
    assert_array_equal(batch["y"], np.unique(np.concatenate(draw.rows)))


def test_storage_of_only_plain_store_reads(tmp_path):
    _save(tmp_path / "X.zarr", np.ones((1000, 3)), (100, 3))
    X = da.from_zarr(str(tmp_path / "X.zarr"), chunks=(500, 3))
    assert storage_of(X).chunks == (100, 3)
    assert storage_of(X * 2) is None
    assert storage_of(X[:, :2]) is None
    assert storage_of(X.persist(scheduler="sync")) is None


# ---------------------------------------------------------- frame changes
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_reframe_leaves_the_m_step_unchanged(covariance_type):
    """M-step(stats in frame A) == M-step(stats moved to frame B), far offset."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(300, 3)), 2 * rng.normal(size=(300, 3)) + 8.0])
    X += 1e6

    def params(shift, scale):
        K, D = 2, 3
        cov = {
            "full": np.stack([np.eye(D) * scale + 0.1] * K),
            "tied": np.eye(D) * scale + 0.1,
            "diag": np.full((K, D), scale),
            "spherical": np.full(K, scale),
        }[covariance_type]
        means = np.array([X[:300].mean(0), X[300:].mean(0)]) + shift
        return GaussianParams(
            covariance_type,
            np.array([0.3, 0.7]),
            means,
            cov,
            precisions_cholesky_from_covariances(cov, covariance_type),
        )

    def frame(p):
        whiten = p.precisions_cholesky if covariance_type in ("full", "tied") else None
        return StatsFrame(p.means, whiten, make_plan(p, np.float64).center)

    def new_params(stats, p):
        return m_step(
            stats, p.means, p.precisions_cholesky, frame(p).center, covariance_type, 0.0
        )

    old, other = params(0.4, 1.5), params(-1.0, 0.3)
    stats = em_kernel(Tile({"X": X}), make_plan(old, np.float64))
    expected = new_params(stats, old)
    moved = reframe_stats(stats, covariance_type, frame(old), frame(other))
    got = new_params(moved, other)
    assert_allclose(got.means, expected.means, rtol=1e-14, atol=0)
    assert_allclose(got.covariances, expected.covariances, rtol=1e-8, atol=1e-10)
    assert_allclose(got.weights, expected.weights, rtol=1e-14)


# ---------------------------------------------------------- generic driver
class _MeanModel(MixtureModel):
    """A model that is not a mixture: the mean of y, frame = previous mean."""

    name = "mean"

    @staticmethod
    def kernel(tile, mean):
        x = tile.X
        shifted = x[:, 0] - mean
        return Stats(
            s1=shifted.sum(),
            n=np.float64(shifted.size),
            loglik=-0.5 * (shifted**2).sum(),
            n_rows=np.float64(shifted.size),
        )

    score_kernel = kernel

    def tile_rows(self, n_features):
        return 4096

    def plan(self, params, dtype):
        return params

    def frame(self, params, dtype):
        return params

    def m_step(self, stats, params, frame):
        return frame + float(stats["s1"] / stats["n"])

    def reframe(self, stats, old, new):
        out = Stats(stats)
        out["s1"] = stats["s1"] + stats["n"] * (old - new)
        return out

    def initialize(self, data, random_state, restart=0):
        return 0.0


def test_driver_is_model_agnostic():
    rng = np.random.default_rng(0)
    y = rng.normal(5.0, 1.0, size=(20_000, 1))
    model = _MeanModel()
    result = fit_stepwise(
        model,
        RowBlocks({"X": y}),
        batch_size=500,
        schedule=StepSchedule(1.0, 0.6, max_no_improvement=5, tol=1e-4),
        n_init=1,
        max_iter=5,
        random_state=np.random.RandomState(0),
    )
    assert result.converged
    assert abs(result.params - y.mean()) < 0.05
    # the running statistic is centred on the current parameter
    assert abs(float(result.state.stats["s1"])) < 1e-9


def test_step_sizes():
    schedule = StepSchedule(learning_offset=2.0, learning_decay=0.7)
    assert_allclose(schedule.step_size(1), 3.0**-0.7)
    assert_allclose(schedule.step_size(5), 7.0**-0.7)
    assert StepSchedule(learning_offset=0.0).step_size(1) == 1.0


# -------------------------------------------------------- GaussianMixture
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_minibatch_reaches_the_batch_optimum(covariance_type):
    X, true_means = make_blobs(n_samples=20_000, n_features=3, n_components=4, seed=1)
    common = {"n_components": 4, "covariance_type": covariance_type, "random_state": 0}
    batch = GaussianMixture(**common).fit(X)
    mini = GaussianMixture(**common, algorithm="minibatch", batch_size=1000).fit(X)
    assert mini.converged_
    assert mini.n_steps_ >= 1 and len(mini.lower_bounds_) == mini.n_steps_
    assert mini.score(X) > batch.score(X) - 0.01
    assert _matched_distance(mini.means_, batch.means_) < 0.1
    assert abs(mini.lower_bound_ - mini.score(X)) < 0.05


def test_sorted_dask_data_finds_every_component():
    """Rows sorted by component, 24 blocks: each block holds 1 or 2 components."""
    rng = np.random.default_rng(7)
    angles = np.arange(6) * np.pi / 3
    true_means = 10.0 * np.column_stack([np.cos(angles), np.sin(angles)])
    labels = np.sort(rng.integers(0, 6, 24_000))
    X = true_means[labels] + rng.standard_normal((24_000, 2))
    X_sorted = da.from_array(X, chunks=(1000, 2))
    with dask.config.set(scheduler="threads"):
        mini = GaussianMixture(
            6, algorithm="minibatch", batch_size=500, random_state=0
        ).fit(X_sorted)
    assert _matched_distance(mini.means_, true_means) < 0.3
    # every component holds about a sixth of the rows (batches of sorted
    # blocks are lumpy, so the weights are noisier than the means)
    assert_allclose(mini.weights_, np.full(6, 1 / 6), atol=0.06)


def test_minibatch_is_reproducible(blobs_4k):
    X, _ = blobs_4k
    kwargs = {"algorithm": "minibatch", "batch_size": 200, "random_state": 5}
    first = GaussianMixture(3, **kwargs).fit(X)
    second = GaussianMixture(3, **kwargs).fit(X)
    assert_array_equal(first.means_, second.means_)
    assert_array_equal(first.covariances_, second.covariances_)
    assert first.lower_bounds_ == second.lower_bounds_
    other = GaussianMixture(3, **{**kwargs, "random_state": 6}).fit(X)
    assert other.lower_bounds_ != first.lower_bounds_


def test_minibatch_same_on_cluster_as_on_threads(blobs_4k, client):
    X, _ = blobs_4k
    X_dask = da.from_array(X, chunks=(250, 3))  # 16 blocks, rows taken on workers
    kwargs = {"algorithm": "minibatch", "batch_size": 200, "random_state": 2}
    on_cluster = GaussianMixture(3, **kwargs).fit(X_dask)
    with dask.config.set(scheduler="threads"):
        on_threads = GaussianMixture(3, **kwargs).fit(X_dask)
    assert on_cluster.n_steps_ == on_threads.n_steps_
    assert_allclose(on_cluster.means_, on_threads.means_, rtol=1e-12)
    assert_allclose(on_cluster.covariances_, on_threads.covariances_, rtol=1e-12)


def test_partial_fit_numpy_and_dask_blocks(blobs_4k):
    X, true_means = blobs_4k
    model = GaussianMixture(3, random_state=0)
    for start in range(0, 2000, 500):
        model.partial_fit(X[start : start + 500])
    for start in range(2000, 4000, 500):
        model.partial_fit(da.from_array(X[start : start + 500], chunks=(200, 3)))
    assert model.n_steps_ == 8 and model.n_features_in_ == 3
    assert _matched_distance(model.means_, true_means) < 0.2
    # float32 blocks after float64 ones continue the same model
    model.partial_fit(X[:500].astype(np.float32))
    assert _matched_distance(model.means_, true_means) < 0.2


def test_partial_fit_continues_a_fit(blobs_4k):
    X, _ = blobs_4k
    model = GaussianMixture(3, random_state=0).fit(X)
    before = model.means_.copy()
    model.partial_fit(X[:1000])
    assert model.n_steps_ == 1
    assert _matched_distance(model.means_, before) < 0.2


def test_partial_fit_feature_mismatch(blobs_4k):
    X, _ = blobs_4k
    model = GaussianMixture(3, random_state=0).partial_fit(X[:500])
    with pytest.raises(ValueError, match="3 features"):
        model.partial_fit(X[:500, :2])
    with pytest.raises(ValueError, match="3 features"):
        model.partial_fit(da.from_array(X[:500, :2], chunks=100))


def test_partial_fit_first_batch_too_small():
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixture(5).partial_fit(np.zeros((3, 2)))


@pytest.mark.parametrize(
    "params",
    [
        {"batch_size": 0},
        {"learning_decay": 0.5},
        {"learning_decay": 1.2},
        {"learning_offset": -1.0},
        {"max_no_improvement": 0},
        {"algorithm": "online"},
    ],
)
def test_bad_minibatch_parameters(blobs_4k, params):
    X, _ = blobs_4k
    with pytest.raises(ValueError):
        GaussianMixture(2, **{"algorithm": "minibatch", **params}).fit(X)


def test_batch_size_larger_than_data_is_clipped(blobs_4k):
    X, _ = blobs_4k
    with pytest.warns(UserWarning, match="batch_size=10000 is larger than n_samples"):
        model = GaussianMixture(
            3, algorithm="minibatch", batch_size=10_000, random_state=0
        ).fit(X[:1000])
    assert model.converged_
    # batch_size=1 is allowed (and slow to converge, but valid)
    GaussianMixture(2, algorithm="minibatch", batch_size=1, max_iter=1).fit(X[:50])


def test_warm_start_and_n_init(blobs_4k):
    X, _ = blobs_4k
    kwargs = {"algorithm": "minibatch", "batch_size": 200, "random_state": 0}
    single = GaussianMixture(3, **kwargs).fit(X)
    several = GaussianMixture(3, n_init=3, **kwargs).fit(X)
    # restarts are compared by their exact mean log-likelihood (one shared
    # pass), which the kept run reports; the first restart is the single run
    assert_allclose(several.lower_bound_, several.score(X), rtol=1e-12)
    assert several.score(X) >= single.score(X) - 1e-12
    warm = GaussianMixture(3, warm_start=True, **kwargs).fit(X)
    means = warm.means_.copy()
    warm.fit(X)
    assert _matched_distance(warm.means_, means) < 0.2
    assert GaussianMixture(3, max_iter=0, **kwargs).fit(X).n_steps_ == 0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_stepwise_update_first_step_takes_the_batch(blobs_4k):
    """eta = 1 on the first update: it equals one batch EM iteration."""
    X, _ = blobs_4k
    gm = GaussianMixture(3, random_state=0, max_iter=0).fit(X)
    params = gm._params()
    model = gm._model(X.shape[1])
    state = stepwise_update(
        model, StepwiseState(params), batch_blocks({"X": X}), StepSchedule(), 0.1
    )
    one_iteration = GaussianMixture(
        3,
        max_iter=1,
        weights_init=gm.weights_,
        means_init=gm.means_,
        precisions_init=gm.precisions_,
    ).fit(X)
    assert_allclose(state.params.means, one_iteration.means_, rtol=1e-10)
