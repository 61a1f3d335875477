"""KMeans against scikit-learn, across inputs, schedulers, and in passes over data."""

from __future__ import annotations

import pickle
import threading
import warnings
from collections import Counter

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import xarray as xr
from conftest import make_blobs
from sklearn import cluster
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state
from sklearn.utils.estimator_checks import parametrize_with_checks

from daskmix import KMeans
from daskmix._engine.rows import RowBlocks
from daskmix._engine.tiles import Tile
from daskmix.cluster import lloyd as lloyd_module
from daskmix.cluster.kernels import DrawPlan, draw_kernel

_READS: Counter = Counter()
_LOCK = threading.Lock()


def _count_read(block, key):
    with _LOCK:
        _READS[key] += 1
    return block


def counted(X, block_rows, key):
    """A dask array that counts how often its blocks are read (threaded runs)."""
    base = da.from_array(X, chunks=(block_rows, -1))
    source = base.map_blocks(_count_read, key=key, meta=np.empty((0, 0), X.dtype))
    _READS[key] = 0
    return source, base.numblocks[0]


def _are_rows(centers, X):
    return all(np.any(np.all(X == c, axis=1)) for c in centers)


def _match(centers, reference):
    """Largest distance from each reference centre to its nearest centre."""
    gaps = np.linalg.norm(centers[:, None] - reference[None], axis=2)
    return gaps.min(axis=0).max()


def _expected_failures(estimator):
    # as for scikit-learn's own KMeans: seeding draws random rows, so weights
    # and repeated rows give different (equally valid) fits
    reason = "sample_weight is not equivalent to removing/repeating samples."
    return {
        "check_sample_weight_equivalence_on_dense_data": reason,
        "check_sample_weight_equivalence_on_sparse_data": reason,
    }


@parametrize_with_checks(
    [KMeans(n_clusters=3), KMeans(n_clusters=3, init="random", n_init=2)],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random"])
@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
def test_separated_blobs_centres_found(init, as_dask):
    X, means = make_blobs(3000, 3, 4, seed=1, spread=10.0)
    data = da.from_array(X, chunks=(500, -1)) if as_dask else X
    model = KMeans(4, init=init, random_state=0).fit(data)
    assert _match(model.cluster_centers_, means) < 0.2
    labels = np.asarray(model.labels_)
    assert labels.dtype == np.int32 and labels.shape == (3000,)  # as scikit-learn
    np.testing.assert_array_equal(labels, np.asarray(model.predict(data)))
    assert model.n_iter_ >= 1


@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
def test_inertia_close_to_sklearn(as_dask):
    # overlapping blobs: a real optimisation problem, several local optima
    X, _ = make_blobs(4000, 4, 6, seed=5, spread=2.5)
    reference = cluster.KMeans(6, n_init=3, random_state=0).fit(X)
    data = da.from_array(X, chunks=(700, -1)) if as_dask else X
    ours = KMeans(6, n_init=3, random_state=0).fit(data)
    assert ours.inertia_ <= 1.02 * reference.inertia_
    # the reported inertia is the exact inertia of the reported centres
    expected = ((X - ours.cluster_centers_[np.asarray(ours.labels_)]) ** 2).sum()
    np.testing.assert_allclose(ours.inertia_, expected, rtol=1e-10)
    np.testing.assert_allclose(ours.score(data), -ours.inertia_, rtol=1e-10)


def test_transform_and_predict_match_sklearn_given_centres():
    X, _ = make_blobs(1000, 3, 3, seed=2)
    ours = KMeans(3, random_state=0).fit(X)
    reference = cluster.KMeans(3, init=ours.cluster_centers_, n_init=1, max_iter=1)
    reference.fit(X)
    reference.cluster_centers_ = ours.cluster_centers_
    np.testing.assert_allclose(ours.transform(X), reference.transform(X), rtol=1e-10)
    np.testing.assert_array_equal(ours.predict(X), reference.predict(X))
    np.testing.assert_allclose(ours.score(X), reference.score(X), rtol=1e-10)


@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random"])
def test_reproducible_with_random_state(init):
    X, _ = make_blobs(2000, 3, 5, seed=3, spread=3.0)
    data = da.from_array(X, chunks=(400, -1))
    first = KMeans(5, init=init, random_state=11).fit(data)
    second = KMeans(5, init=init, random_state=11).fit(data)
    np.testing.assert_array_equal(first.cluster_centers_, second.cluster_centers_)
    assert first.inertia_ == second.inertia_
    np.testing.assert_array_equal(first.labels_.compute(), second.labels_.compute())


def test_one_pass_per_lloyd_iteration():
    # overlapping blobs: Lloyd keeps moving for many iterations
    X, means = make_blobs(4000, 3, 6, seed=4, spread=1.5)
    data, n_blocks = counted(X, 500, "lloyd")
    start = X[:6].copy()
    reads = {}
    with dask.config.set(scheduler="threads"):
        for max_iter in (2, 5):
            _READS["lloyd"] = 0
            model = KMeans(6, init=start, max_iter=max_iter, tol=0.0).fit(data)
            assert model.n_iter_ == max_iter
            assert isinstance(model.labels_, da.Array)  # lazy: not read yet
            reads[max_iter] = _READS["lloyd"]
    assert reads[5] - reads[2] == 3 * n_blocks
    # plus one pass measuring the inertia of the last update
    assert reads[2] == (2 + 1) * n_blocks


def test_kmeans_parallel_passes():
    X, _ = make_blobs(4000, 3, 4, seed=4)
    data, n_blocks = counted(X, 500, "seed")
    with dask.config.set(scheduler="threads"):
        model = KMeans(4, init_max_iter=3, max_iter=1, random_state=0).fit(data)
    # 3 oversampling rounds + 1 weighting pass + 1 Lloyd pass + 1 pass for the
    # inertia of its update, plus the block holding the first (random) row
    assert model.n_iter_ == 1
    assert _READS["seed"] == (3 + 1 + 1 + 1) * n_blocks + 1


def test_cluster_run_equals_threaded_run(client):
    X, _ = make_blobs(3000, 3, 5, seed=6, spread=3.0)
    data = da.from_array(X, chunks=(400, -1))
    on_cluster = KMeans(5, random_state=2).fit(data)
    labels_cluster = on_cluster.labels_.compute()
    with dask.config.set(scheduler="threads"):
        threaded = KMeans(5, random_state=2).fit(data)
        labels_threads = threaded.labels_.compute()
    np.testing.assert_allclose(
        on_cluster.cluster_centers_, threaded.cluster_centers_, rtol=1e-12
    )
    np.testing.assert_allclose(on_cluster.inertia_, threaded.inertia_, rtol=1e-12)
    assert on_cluster.n_iter_ == threaded.n_iter_
    np.testing.assert_array_equal(labels_cluster, labels_threads)


def test_empty_cluster_reseeded_never_nan():
    X, means = make_blobs(2000, 2, 3, seed=7, spread=8.0)
    # a fourth centre far from every row: empty in the first pass
    start = np.vstack([means, [[1e3, 1e3]]])
    model = KMeans(4, init=start, random_state=0).fit(X)
    assert np.all(np.isfinite(model.cluster_centers_))
    assert np.abs(model.cluster_centers_).max() < 100
    assert np.unique(model.labels_).size == 4


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_duplicate_rows_fewer_distinct_than_clusters():
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 50, axis=0)
    for data in (X, da.from_array(X, chunks=(30, -1))):
        model = KMeans(3, random_state=0).fit(data)
        assert np.all(np.isfinite(model.cluster_centers_))
        assert model.inertia_ == pytest.approx(0.0, abs=1e-12)


def test_large_offset_and_float32():
    X, _ = make_blobs(2000, 3, 3, seed=8)
    base = KMeans(3, random_state=0).fit(X)
    shifted = KMeans(3, random_state=0).fit(X + 1e7)
    np.testing.assert_allclose(shifted.inertia_, base.inertia_, rtol=1e-6)
    np.testing.assert_allclose(
        shifted.cluster_centers_ - 1e7, base.cluster_centers_, atol=1e-6
    )
    single = KMeans(3, random_state=0).fit(da.from_array(X.astype(np.float32), 500))
    np.testing.assert_allclose(single.inertia_, base.inertia_, rtol=1e-4)


def test_output_follows_input():
    X, _ = make_blobs(600, 2, 3, seed=9)
    frame = pd.DataFrame(X, columns=["a", "b"])
    model = KMeans(3, random_state=0).fit(frame)
    assert list(model.feature_names_in_) == ["a", "b"]
    assert isinstance(model.labels_, np.ndarray)
    array = xr.DataArray(
        X, dims=("time", "feature"), coords={"time": np.arange(600) * 10}
    )
    labels = KMeans(3, random_state=0).fit(array).labels_
    assert isinstance(labels, xr.DataArray) and labels.dims == ("time",)
    np.testing.assert_array_equal(labels["time"], array["time"])
    fitted = KMeans(3, random_state=0).fit(da.from_array(X, chunks=(200, -1)))
    distances = fitted.transform(da.from_array(X, chunks=(200, -1)))
    assert isinstance(distances, da.Array) and distances.shape == (600, 3)
    np.testing.assert_allclose(distances.compute(), fitted.transform(X))
    assert list(fitted.get_feature_names_out()) == ["kmeans0", "kmeans1", "kmeans2"]


def test_bad_input_clear_errors():
    X, _ = make_blobs(20, 2, 2, seed=0)
    with pytest.raises(ValueError, match="n_samples=20 should be >= n_clusters=30"):
        KMeans(30).fit(X)
    with pytest.raises(ValueError, match="does not match the number of clusters 3"):
        KMeans(3, init=np.zeros((2, 2))).fit(X)
    with pytest.raises(ValueError, match="number of features of the data 2"):
        KMeans(2, init=np.zeros((2, 3))).fit(X)
    with pytest.raises(ValueError, match="n_clusters"):
        KMeans(0).fit(X)
    with pytest.raises(ValueError, match="init"):
        KMeans(2, init="kmeans").fit(X)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        KMeans(2).fit(bad)
    with pytest.raises(ValueError, match="NaN or infinity"):
        KMeans(2, random_state=0).fit(da.from_array(bad, chunks=(5, -1)))
    model = KMeans(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but KMeans is expecting 2"):
        model.predict(np.zeros((4, 3)))
    with pytest.warns(RuntimeWarning, match="performing only one init"):
        KMeans(2, init=X[:2], n_init=3).fit(X)


# ------------------------------------------------------- strict convergence
@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
def test_tol_zero_stops_when_no_label_changes_as_sklearn(as_dask):
    X, _ = make_blobs(3000, 3, 5, seed=12, spread=3.0)
    start = X[:5].copy()
    reference = cluster.KMeans(5, init=start, n_init=1, tol=0.0, max_iter=300)
    reference.fit(X)
    data = da.from_array(X, chunks=(700, -1)) if as_dask else X
    ours = KMeans(5, init=start, tol=0.0, max_iter=300).fit(data)
    # before: tol=0 ran all max_iter passes
    assert 2 <= ours.n_iter_ < 50
    assert ours.n_iter_ == reference.n_iter_
    np.testing.assert_allclose(
        ours.cluster_centers_, reference.cluster_centers_, rtol=1e-10
    )
    np.testing.assert_allclose(ours.inertia_, reference.inertia_, rtol=1e-10)
    np.testing.assert_array_equal(np.asarray(ours.labels_), reference.labels_)


def test_strict_convergence_costs_no_extra_pass(capsys):
    X, _ = make_blobs(4000, 3, 4, seed=4, spread=6.0)
    data, n_blocks = counted(X, 500, "strict")
    with dask.config.set(scheduler="threads"):
        model = KMeans(4, init=X[:4].copy(), tol=0.0, verbose=1).fit(data)
    assert "strict convergence" in capsys.readouterr().out
    # n_iter_ passes; the last one changed no label, so nothing is re-measured
    assert _READS["strict"] == model.n_iter_ * n_blocks


# ------------------------------------------------------------ sample_weight
def _weights(n, seed=0):
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.0, 3.0, n)
    weights[rng.random(n) < 0.1] = 0.0
    return weights


@pytest.mark.parametrize(
    "kind", ["numpy", "dask", "dask X, numpy weights"], ids=lambda k: k
)
def test_sample_weight_matches_sklearn_from_same_init(kind):
    X, _ = make_blobs(2500, 3, 4, seed=13, spread=2.0)
    weights = _weights(2500)
    start = X[[0, 1, 2, 3]].copy()
    reference = cluster.KMeans(4, init=start, n_init=1, tol=0.0)
    reference.fit(X, sample_weight=weights)
    data, w = X, weights
    if kind != "numpy":
        data = da.from_array(X, chunks=(600, -1))
    if kind == "dask":
        w = da.from_array(weights, chunks=350)  # rechunked to X's rows
    ours = KMeans(4, init=start, tol=0.0).fit(data, sample_weight=w)
    np.testing.assert_allclose(
        ours.cluster_centers_, reference.cluster_centers_, rtol=1e-10
    )
    np.testing.assert_allclose(ours.inertia_, reference.inertia_, rtol=1e-10)
    assert ours.n_iter_ == reference.n_iter_
    np.testing.assert_array_equal(np.asarray(ours.labels_), reference.labels_)
    np.testing.assert_allclose(
        ours.score(data, sample_weight=w),
        reference.score(X, sample_weight=weights),
        rtol=1e-10,
    )
    unweighted = KMeans(4, init=start, tol=0.0).fit(data)
    assert not np.allclose(unweighted.cluster_centers_, ours.cluster_centers_)


@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random"])
def test_weighted_fit_same_for_numpy_and_dask(init):
    # scikit-learn's weighted draws follow the order of one in-memory array;
    # daskmix's are keyed by row number, the same for every container
    X, _ = make_blobs(2000, 2, 5, seed=14, spread=3.0)
    weights = _weights(2000, seed=1)
    ours = KMeans(5, init=init, n_init=2, random_state=3)
    expected = ours.fit_predict(X, sample_weight=weights)
    centers = ours.cluster_centers_
    lazy = KMeans(5, init=init, n_init=2, random_state=3).fit(
        da.from_array(X, chunks=(300, -1)),
        sample_weight=da.from_array(weights, chunks=300),
    )
    np.testing.assert_array_equal(lazy.labels_.compute(), expected)
    np.testing.assert_allclose(lazy.cluster_centers_, centers, rtol=1e-10)
    sklearn_init = "k-means++" if init == "k-means||" else init
    reference = cluster.KMeans(5, init=sklearn_init, n_init=2, random_state=3)
    reference.fit(X, sample_weight=weights)
    assert ours.inertia_ <= 1.02 * reference.inertia_


@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random"])
@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
def test_unit_weights_give_the_unweighted_fit(init, as_dask):
    # issue 21: sample_weight=ones is the unweighted fit, labels and n_iter_
    X, _ = make_blobs(2000, 3, 6, seed=19, spread=2.0)
    data = da.from_array(X, chunks=(300, -1)) if as_dask else X
    plain = KMeans(6, init=init, n_init=3, random_state=4).fit(data)
    ones = KMeans(6, init=init, n_init=3, random_state=4)
    ones.fit(data, sample_weight=np.ones(2000))
    np.testing.assert_array_equal(np.asarray(ones.labels_), np.asarray(plain.labels_))
    np.testing.assert_array_equal(ones.cluster_centers_, plain.cluster_centers_)
    assert ones.n_iter_ == plain.n_iter_
    # the weighted inertia is a dot product with the weights: last bits only
    np.testing.assert_allclose(ones.inertia_, plain.inertia_, rtol=1e-12)


@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random"])
def test_dask_weighted_seeding_draws_only_weighted_rows(init):
    X, _ = make_blobs(3000, 2, 3, seed=15, spread=10.0)
    # the first blob weighs nothing: no centre may start or end there
    first = np.linalg.norm(X - X[0], axis=1) < 5
    weights = np.where(first, 0.0, 1.0)
    data = RowBlocks({"X": da.from_array(X, chunks=(500, -1))})
    w = da.from_array(weights, chunks=(500,))
    seeded = lloyd_module.seed_centers(
        data, 3, init, check_random_state(0), sample_weight=w
    )
    if init != "k-means||":
        assert _are_rows(seeded, X[~first])
    assert np.linalg.norm(seeded - X[0], axis=1).min() > 4
    model = KMeans(3, init=init, random_state=0).fit(
        da.from_array(X, chunks=(500, -1)), sample_weight=w
    )
    assert np.all(np.linalg.norm(model.cluster_centers_ - X[0], axis=1) > 4)


def test_draw_kernel_probabilities_follow_weights():
    x = np.arange(4.0)[:, None]
    w = np.array([1.0, 2.0, 0.0, 5.0])
    picks = Counter(
        int(
            draw_kernel(Tile({"X": x, "weight": w}), DrawPlan(1, seed))["draw_index"][0]
        )
        for seed in range(4000)
    )
    assert picks[2] == 0
    for row, weight in ((0, 1), (1, 2), (3, 5)):
        assert abs(picks[row] / 4000 - weight / 8) < 0.03


def test_sample_weight_validation_messages():
    X, _ = make_blobs(100, 2, 2, seed=0)
    lazy = da.from_array(X, chunks=(30, -1))
    for data in (X, lazy):
        with pytest.raises(ValueError, match=r"sample_weight.shape == \(99,\)"):
            KMeans(2).fit(data, sample_weight=np.ones(99))
        with pytest.raises(ValueError, match="Negative values in data passed to"):
            KMeans(2).fit(data, sample_weight=-np.ones(100))
        with pytest.raises(ValueError, match="at least one non-zero"):
            KMeans(2).fit(data, sample_weight=np.zeros(100))
        with pytest.raises(ValueError, match="1D array or scalar"):
            KMeans(2).fit(data, sample_weight=np.ones((100, 1)))
    lazy_w = da.ones(100, chunks=40)
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(99,\)"):
        KMeans(2).fit(lazy, sample_weight=lazy_w[:99])
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        KMeans(2).fit(lazy, sample_weight=lazy_w - 2)
    with pytest.raises(ValueError, match="sample_weight contains NaN or infinity"):
        KMeans(2).fit(lazy, sample_weight=lazy_w * np.nan)
    with pytest.raises(TypeError, match="sample_weight is a dask array but X is not"):
        KMeans(2).fit(X, sample_weight=lazy_w)
    # a scalar weight is every row's weight (scikit-learn)
    model = KMeans(2, init=X[:2], tol=0).fit(lazy, sample_weight=2.0)
    base = KMeans(2, init=X[:2], tol=0).fit(lazy)
    np.testing.assert_allclose(model.inertia_, 2 * base.inertia_, rtol=1e-12)


# ----------------------------------------------------------------- pickling
def test_pickle_of_dask_fit_is_small_and_labels_not_kept():
    sizes = {}
    for n_rows in (2000, 20000):
        X, _ = make_blobs(n_rows, 3, 3, seed=16)
        data = da.from_array(X, chunks=(500, -1))
        model = KMeans(3, random_state=0).fit(data)
        assert isinstance(model.labels_, da.Array)  # lazy during the session
        blob = pickle.dumps(model)
        sizes[n_rows] = len(blob)
        restored = pickle.loads(blob)
        np.testing.assert_array_equal(restored.cluster_centers_, model.cluster_centers_)
        np.testing.assert_array_equal(restored.predict(X), model.predict(X))
        assert not hasattr(restored, "labels_")
        with pytest.raises(AttributeError, match=r"Call predict\(X\)"):
            restored.labels_  # noqa: B018
        restored.fit(data)  # refitting brings labels_ back
        assert isinstance(restored.labels_, da.Array)
    assert sizes[2000] == sizes[20000]
    assert sizes[20000] < 5000
    # numpy input keeps scikit-learn's in-memory labels_
    numpy_fit = pickle.loads(pickle.dumps(KMeans(3, random_state=0).fit(X)))
    assert numpy_fit.labels_.shape == (20000,)


# --------------------------------------------------------- non-finite passes
def test_overflow_and_nan_diagnosed_without_a_fake_loglik():
    X, _ = make_blobs(300, 2, 2, seed=0)
    huge = X * 1e200
    with pytest.raises(ValueError, match="overflowed"):
        KMeans(2, random_state=0).fit(da.from_array(huge, chunks=(100, -1)))
    model = KMeans(2, random_state=0).fit(X)
    bad = X.copy()
    bad[7, 0] = np.inf
    with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
        model.score(da.from_array(bad, chunks=(100, -1)))


# ----------------------------------------------------- issue 9: KMeans parts
@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
def test_float32_in_float32_out(as_dask):
    X, _ = make_blobs(1500, 3, 3, seed=17)
    X32 = X.astype(np.float32)
    data = da.from_array(X32, chunks=(500, -1)) if as_dask else X32
    model = KMeans(3, init=X[:3], tol=0).fit(data)
    reference = cluster.KMeans(3, init=X32[:3], n_init=1, tol=0).fit(X32)
    assert model.cluster_centers_.dtype == reference.cluster_centers_.dtype
    distances = model.transform(data)
    assert distances.dtype == reference.transform(X32).dtype == np.float32
    np.testing.assert_allclose(
        model.cluster_centers_, reference.cluster_centers_, rtol=1e-5
    )


def test_nan_in_dask_predict_and_transform_raises_when_computed():
    X, _ = make_blobs(600, 2, 3, seed=18)
    model = KMeans(3, random_state=0).fit(X)
    for bad_value in (np.nan, np.inf):
        bad = X.copy()
        bad[400, 1] = bad_value
        lazy = da.from_array(bad, chunks=(200, -1))
        for method in (model.predict, model.transform):
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)  # none first
                with pytest.raises(ValueError, match="Input X contains NaN or inf"):
                    method(lazy).compute()


def test_fewer_distinct_clusters_warns_as_sklearn():
    X = np.ones((60, 2))
    for data in (X, da.from_array(X, chunks=(20, -1))):
        with pytest.warns(ConvergenceWarning, match=r"distinct clusters \(1\)"):
            KMeans(3, random_state=0).fit(data)
    X_two = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 50, axis=0)
    for data in (X_two, da.from_array(X_two, chunks=(30, -1))):
        with pytest.warns(ConvergenceWarning, match=r"distinct clusters \(2\).*\(3\)"):
            KMeans(3, random_state=0).fit(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        KMeans(2, random_state=0).fit(X_two)


@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
def test_labels_are_int32_as_sklearn(as_dask):
    # issue 21 (dask-ml's tests): scikit-learn's KMeans labels are int32
    X, _ = make_blobs(600, 2, 3, seed=20)
    data = da.from_array(X, chunks=(200, -1)) if as_dask else X
    model = KMeans(3, random_state=0).fit(data)
    reference = cluster.KMeans(3, random_state=0).fit(X)
    assert model.labels_.dtype == reference.labels_.dtype == np.int32
    assert model.predict(data).dtype == reference.predict(X).dtype
    assert model.fit_predict(data).dtype == np.int32


# ------------------------------------------------------- sparse input (issue 21)
def _text_like(n_rows=600, n_features=2000, n_topics=3, seed=21):
    """Sparse tf-idf-like rows (unit length): each topic uses 100 words of its own.

    The values are continuous, so that no two distances tie exactly (with
    counts, ties would leave the argmin to rounding, which differs between
    the dense and the sparse arithmetic).
    """
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, n_topics, n_rows)
    width = n_features // n_topics
    rows, cols = [], []
    for i, k in enumerate(topic):
        words = k * width + rng.integers(0, 100, 40)
        rows.extend([i] * len(words))
        cols.extend(words)
    values = rng.exponential(size=len(rows))
    X = sp.csr_matrix((values, (rows, cols)), shape=(n_rows, n_features))
    X.sum_duplicates()
    return normalize(X), topic


@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random"])
def test_sparse_text_like_data_as_dense(init):
    X, topic = _text_like()
    sparse = KMeans(3, init=init, random_state=0).fit(X)
    dense = KMeans(3, init=init, random_state=0).fit(X.toarray())
    np.testing.assert_array_equal(sparse.labels_, dense.labels_)
    # the dense path's residual sums leave rounding where sparse centres are 0
    close = {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(sparse.cluster_centers_, dense.cluster_centers_, **close)
    np.testing.assert_allclose(sparse.inertia_, dense.inertia_, rtol=1e-10)
    assert sparse.n_iter_ == dense.n_iter_
    assert adjusted_rand_score(topic, sparse.labels_) == 1.0
    np.testing.assert_allclose(
        sparse.transform(X), dense.transform(X.toarray()), **close
    )
    np.testing.assert_allclose(sparse.score(X), dense.score(X.toarray()))
    weights = np.random.default_rng(1).uniform(size=X.shape[0])
    weighted = KMeans(3, init=init, random_state=0).fit(X, sample_weight=weights)
    reference = KMeans(3, init=init, random_state=0)
    reference.fit(X.toarray(), sample_weight=weights)
    np.testing.assert_allclose(
        weighted.cluster_centers_, reference.cluster_centers_, **close
    )


def test_sparse_tiles_never_densified():
    # a dense tile of these rows would be 20,000 float64 wide
    X, _ = _text_like(n_rows=3000, n_features=20_000)
    model = KMeans(3, random_state=0).fit(X)
    assert model.cluster_centers_.shape == (3, 20_000)
    assert lloyd_module.kmeans_tile_rows(3, 20_000, sparse=True) > 1000


def test_sparse_blocks_refused_where_not_written_for_them():
    X, _ = _text_like()
    with pytest.raises(TypeError, match="[Ss]parse"):
        KMeans(3).fit(da.from_array(X, chunks=(200, -1), asarray=False))
    data = RowBlocks({"X": X})
    with pytest.raises(TypeError, match="[Ss]parse"):
        data.map_reduce(lambda tile, plan: None, None, 100)
