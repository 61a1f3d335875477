"""GaussianMixture against scikit-learn, across inputs, chunkings and schedulers."""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from conftest import make_blobs
from sklearn import mixture
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from daskmix import GaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


@parametrize_with_checks([GaussianMixture(), GaussianMixture(covariance_type="diag")])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _start(X, covariance_type, n_components=3, seed=0):
    """A deliberately poor start: K data rows as means, unit precisions."""
    rng = np.random.default_rng(seed)
    n_features = X.shape[1]
    precisions = {
        "full": np.tile(np.eye(n_features), (n_components, 1, 1)),
        "tied": np.eye(n_features),
        "diag": np.ones((n_components, n_features)),
        "spherical": np.ones(n_components),
    }[covariance_type]
    return {
        "weights_init": np.full(n_components, 1.0 / n_components),
        "means_init": X[rng.choice(X.shape[0], n_components, replace=False)],
        "precisions_init": precisions,
        "covariance_type": covariance_type,
    }


def _assert_same_fit(ours, reference, rtol):
    assert ours.n_iter_ == reference.n_iter_
    assert ours.converged_ == reference.converged_
    np.testing.assert_allclose(ours.lower_bound_, reference.lower_bound_, rtol=rtol)
    if hasattr(reference, "lower_bounds_"):  # scikit-learn records it from 1.7
        np.testing.assert_allclose(
            ours.lower_bounds_, reference.lower_bounds_, rtol=rtol
        )
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(
            getattr(ours, name), getattr(reference, name), rtol=rtol, atol=1e-12
        )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
def test_em_trajectory_equals_sklearn(covariance_type, as_dask):
    X, _ = make_blobs(4000, 3, 3, seed=2, spread=2.0)
    kwargs = dict(_start(X, covariance_type, seed=2), tol=1e-6, max_iter=300)
    reference = mixture.GaussianMixture(3, **kwargs).fit(X)
    data = da.from_array(X, chunks=(700, 3)) if as_dask else X
    ours = GaussianMixture(3, **kwargs).fit(data)
    assert reference.converged_
    assert ours.n_iter_ > 5  # a real trajectory, not a one-step fit
    _assert_same_fit(ours, reference, rtol=1e-6)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_numpy_init_matches_sklearn(init_params):
    # on numpy input the k-means++ start is scikit-learn's own; the kmeans
    # start (k-means|| on a sample) reaches scikit-learn's optimum on blobs
    X, _ = make_blobs(2000, 2, 4, seed=3)
    kwargs = dict(n_components=4, init_params=init_params, random_state=7)
    reference = mixture.GaussianMixture(**kwargs).fit(X)
    ours = GaussianMixture(**kwargs).fit(X)
    np.testing.assert_allclose(ours.lower_bound_, reference.lower_bound_, rtol=1e-6)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_predictions_match_sklearn(covariance_type):
    X, _ = make_blobs(1500, 3, 3, seed=2)
    kwargs = dict(_start(X, covariance_type), max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = mixture.GaussianMixture(3, **kwargs).fit(X)
        ours = GaussianMixture(3, **kwargs).fit(X)
    np.testing.assert_allclose(ours.score_samples(X), reference.score_samples(X))
    np.testing.assert_allclose(
        ours.predict_proba(X), reference.predict_proba(X), atol=1e-10
    )
    np.testing.assert_array_equal(ours.predict(X), reference.predict(X))
    np.testing.assert_allclose(ours.score(X), reference.score(X))
    np.testing.assert_allclose(ours.bic(X), reference.bic(X))
    np.testing.assert_allclose(ours.aic(X), reference.aic(X))
    np.testing.assert_allclose(ours.precisions_, reference.precisions_, rtol=1e-8)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_result_does_not_depend_on_chunking(covariance_type):
    X, _ = make_blobs(6000, 3, 4, seed=4, spread=2.0)
    kwargs = dict(_start(X, covariance_type, 4), tol=0.0, max_iter=15)
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for data in (X, da.from_array(X, chunks=(611, 3)), da.from_array(X, 2000)):
            fits.append(GaussianMixture(4, **kwargs).fit(data))
    for other in fits[1:]:
        for name in ("weights_", "means_", "covariances_"):
            np.testing.assert_allclose(
                getattr(other, name), getattr(fits[0], name), rtol=1e-10, atol=1e-12
            )
        np.testing.assert_allclose(other.lower_bound_, fits[0].lower_bound_, rtol=1e-12)


def test_threads_and_local_cluster_agree(client):
    X, _ = make_blobs(5000, 3, 3, seed=5)
    Xd = da.from_array(X, chunks=(800, 3))
    kwargs = dict(n_components=3, init_params="random", random_state=0, max_iter=20)
    with dask.config.set(scheduler="threads"):
        threaded = GaussianMixture(**kwargs).fit(Xd)
    on_cluster = GaussianMixture(**kwargs).fit(Xd)  # the active Client
    assert on_cluster.n_iter_ == threaded.n_iter_
    np.testing.assert_array_equal(on_cluster.means_, threaded.means_)
    np.testing.assert_array_equal(on_cluster.covariances_, threaded.covariances_)
    labels = on_cluster.predict(Xd)
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), threaded.predict(X))


def test_large_offset_float64():
    rng = np.random.default_rng(6)
    true_cov = np.array([[1.0, 0.3], [0.3, 0.5]])
    X = 1e7 + rng.multivariate_normal([0.0, 0.0], true_cov, 20000)
    for covariance_type in COVARIANCE_TYPES:
        ours = GaussianMixture(1, covariance_type=covariance_type, reg_covar=0).fit(X)
        centred = X - X.mean(axis=0)
        exact = centred.T @ centred / X.shape[0]
        expected = {
            "full": exact[None],
            "tied": exact,
            "diag": np.diag(exact)[None],
            "spherical": np.diag(exact).mean()[None],
        }[covariance_type]
        np.testing.assert_allclose(ours.covariances_, expected, rtol=1e-6)


def test_large_offset_float32():
    rng = np.random.default_rng(7)
    X = (1e3 + rng.standard_normal((20000, 3))).astype(np.float32)
    centred = X.astype(np.float64) - X.astype(np.float64).mean(axis=0)
    exact = centred.T @ centred / X.shape[0]
    for data in (X, da.from_array(X, chunks=(3000, 3))):
        ours = GaussianMixture(1, reg_covar=0).fit(data)
        np.testing.assert_allclose(ours.covariances_[0], exact, rtol=1e-3, atol=1e-3)
        assert ours.means_.dtype == np.float32  # scikit-learn 1.9: input dtype


def test_one_pass_and_one_compute_per_iteration():
    X, _ = make_blobs(4000, 2, 2, seed=8)
    reads = []

    def load(block, block_info=None):
        reads.append(block_info[0]["chunk-location"])
        return block

    Xd = da.from_array(X, chunks=(500, 2)).map_blocks(
        load, dtype=X.dtype, meta=np.empty((0, 0))
    )
    kwargs = dict(_start(X, "full", 2), tol=0.0, max_iter=6)
    # streamed, as larger data are: small data would be read into memory once
    streamed = {"scheduler": "threads", "daskmix.small-data-bytes": 0}
    with dask.config.set(streamed), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GaussianMixture(2, **kwargs).fit(Xd)
    assert len(reads) == 6 * Xd.numblocks[0]


def test_fit_from_zarr_streams_without_loading_whole(tmp_path):
    zarr = pytest.importorskip("zarr")
    import tracemalloc

    n_blocks, block_rows, n_features = 24, 2000, 50
    X, _ = make_blobs(n_blocks * block_rows, n_features, 3, seed=9)
    path = str(tmp_path / "x.zarr")
    da.from_array(X, chunks=(block_rows, n_features)).to_zarr(path)
    Xz = da.from_zarr(path)
    assert isinstance(zarr.open(path, mode="r"), zarr.Array)
    kwargs = dict(_start(X, "diag"), tol=0.0, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = GaussianMixture(3, **kwargs).fit(X)
        with dask.config.set(scheduler="threads", num_workers=2):
            tracemalloc.start()
            ours = GaussianMixture(3, **kwargs).fit(Xz)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    np.testing.assert_allclose(ours.means_, reference.means_, rtol=1e-10)
    block_bytes = block_rows * n_features * 8
    # a few blocks per thread in flight, never the whole 19 MB array; each kernel
    # thread also keeps its workspace (here two tile-sized arrays, one tile a block)
    assert peak < 12 * block_bytes, peak / block_bytes


def test_output_follows_input(blobs):
    import pandas as pd
    import xarray as xr

    X, _ = blobs
    model = GaussianMixture(3, random_state=0).fit(X)
    assert isinstance(model.predict(X), np.ndarray)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    fitted = GaussianMixture(3, random_state=0).fit(frame)
    np.testing.assert_array_equal(fitted.feature_names_in_, ["a", "b", "c"])
    assert isinstance(fitted.predict(frame), np.ndarray)
    times = np.arange(X.shape[0])
    labeled = xr.DataArray(
        X, dims=("time", "feature"), coords={"time": times, "feature": ["a", "b", "c"]}
    )
    proba = fitted.predict_proba(labeled)
    assert proba.dims == ("time", "component")
    np.testing.assert_array_equal(proba["time"], times)
    np.testing.assert_allclose(proba.values, fitted.predict_proba(frame))
    lazy = labeled.chunk({"time": 700})
    scores = fitted.score_samples(lazy)
    assert isinstance(scores.data, da.Array)
    np.testing.assert_allclose(scores.values, fitted.score_samples(frame))


def test_feature_chunked_dask_is_rechunked_once(blobs):
    X, _ = blobs
    Xd = da.from_array(X, chunks=(500, 1))
    model = GaussianMixture(3, random_state=0).fit(Xd)
    np.testing.assert_allclose(
        model.predict_proba(Xd).compute(), model.predict_proba(X), atol=1e-12
    )


def test_max_iter_zero_returns_initialisation(blobs):
    X, _ = blobs
    kwargs = _start(X, "full")
    model = GaussianMixture(3, max_iter=0, **kwargs).fit(X)
    np.testing.assert_allclose(model.means_, kwargs["means_init"])
    np.testing.assert_allclose(model.precisions_, kwargs["precisions_init"])
    assert model.n_iter_ == 0 and not model.converged_
    assert model.lower_bound_ == -np.inf


def test_warm_start_continues(blobs):
    X, _ = blobs
    kwargs = dict(_start(X, "full"), tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        straight = GaussianMixture(3, max_iter=8, **kwargs).fit(X)
        warm = GaussianMixture(3, max_iter=4, warm_start=True, **kwargs)
        warm.fit(X).fit(X)
    np.testing.assert_allclose(warm.means_, straight.means_, rtol=1e-10)


def test_n_init_keeps_best_and_warns_when_not_converged(blobs):
    X, _ = blobs
    single = GaussianMixture(3, init_params="random", n_init=1, random_state=0)
    several = GaussianMixture(3, init_params="random", n_init=4, random_state=0)
    assert several.fit(X).lower_bound_ >= single.fit(X).lower_bound_ - 1e-12
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GaussianMixture(3, max_iter=1, tol=0.0, random_state=0).fit(X)


def test_verbose_prints_like_sklearn(blobs, capsys):
    X, _ = blobs
    GaussianMixture(3, verbose=2, verbose_interval=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out and "Iteration 1" in out and "converged" in out


def test_sample_shapes_and_labels(blobs):
    X, _ = blobs
    for covariance_type in COVARIANCE_TYPES:
        model = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
        samples, labels = model.fit(X).sample(500)
        assert samples.shape == (500, 3) and labels.shape == (500,)
        assert np.all(np.diff(labels) >= 0)
    with pytest.raises(ValueError, match="n_samples"):
        model.sample(0)


def test_pipeline_and_grid_search(blobs):
    X, _ = blobs
    pipe = make_pipeline(StandardScaler(), GaussianMixture(random_state=0))
    search = GridSearchCV(pipe, {"gaussianmixture__n_components": [1, 3]}, cv=3)
    search.fit(X)
    assert search.best_params_["gaussianmixture__n_components"] == 3


@pytest.mark.parametrize(
    "X",
    [
        np.ones((50, 2)),  # identical rows
        np.repeat(np.array([[0.0, 1.0], [5.0, 5.0], [1.0, 2.0]]), [95, 3, 2], axis=0),
        np.random.default_rng(0).standard_normal((200, 2)) * 1e-150,
        np.random.default_rng(0).standard_normal((200, 2)) * 1e150,
        1e150 + np.random.default_rng(0).standard_normal((200, 2)) * 1e140,
    ],
    ids=["identical", "duplicates", "tiny", "huge", "huge-offset"],
)
def test_degenerate_data_finite_or_clear_error(X):
    for data in (X, da.from_array(X, chunks=60)):
        model = GaussianMixture(3, random_state=0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(data)
        except ValueError as error:
            assert "scale" in str(error) or "covariance" in str(error)
            continue
        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
            assert np.all(np.isfinite(getattr(model, name))), name
        assert np.isfinite(model.lower_bound_)


@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
def test_constant_data_warns_as_sklearn(as_dask):
    # issue 21: scikit-learn's GaussianMixture warns from its KMeans start
    X = np.ones((500, 2))
    message = r"Number of distinct clusters \(1\) found smaller than n_clusters \(3\)"
    with pytest.warns(ConvergenceWarning, match=message):
        mixture.GaussianMixture(3).fit(X)
    data = da.from_array(X, chunks=(100, -1)) if as_dask else X
    with pytest.warns(ConvergenceWarning, match=message):
        GaussianMixture(3).fit(data)
