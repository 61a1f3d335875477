"""daskmix.Labeled on a synthetic ocean-profile cube, and xarray dims in the plain
estimators."""

from __future__ import annotations

import doctest
import threading
from collections import Counter

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import daskmix.labeled
from daskmix import GaussianMixture, KMeans, Labeled, RegressionMixture
from daskmix._estimator.outputs import complete_rows, take_complete, to_rows

DEPTH = np.array([0.0, 20.0, 50.0, 100.0, 200.0, 400.0])
LAT_CHUNK = 4


def ocean_cube(seed=0, n_time=4, n_lat=12, n_lon=10, noise=0.4):
    """Temperature profiles (time, depth, lat, lon): two water masses and land.

    Returns the DataArray, the boolean map of the cold water mass (lat, lon)
    and the land mask (lat, lon). Land covers one whole (lat, lon) block of
    the chunking used below, so that masking leaves an empty block.
    """
    rng = np.random.default_rng(seed)
    lat = np.linspace(-30.0, 30.0, n_lat)
    lon = np.linspace(0.0, 45.0, n_lon)
    warm = 26.0 - 18.0 * (1.0 - np.exp(-DEPTH / 120.0))
    cold = 12.0 - 8.0 * (1.0 - np.exp(-DEPTH / 200.0))
    cold_map = lat[:, None] > 5.0 + 10.0 * np.sin(lon / 20.0)[None, :]
    mean = np.where(cold_map[None, :, :, None], cold, warm)
    temp = mean + noise * rng.standard_normal((n_time, n_lat, n_lon, DEPTH.size))
    land = np.zeros((n_lat, n_lon), dtype=bool)
    land[:LAT_CHUNK, :5] = True  # a whole block with lat chunks of 4, lon of 5
    land[-2:, -3:] = True
    temp[:, land, :] = np.nan
    cube = xr.DataArray(
        temp,
        dims=("time", "lat", "lon", "depth"),
        coords={
            "time": np.arange(n_time) * 30,
            "lat": lat,
            "lon": lon,
            "depth": DEPTH,
            "land": (("lat", "lon"), land),
        },
        name="temperature",
    ).transpose("time", "depth", "lat", "lon")
    return cube, cold_map, land


@pytest.fixture
def ocean():
    return ocean_cube()


def as_backend(array, backend):
    if backend == "dask":
        chunks = {"time": 2, "lat": LAT_CHUNK, "lon": 5, "depth": 3}
        return array.chunk({d: c for d, c in chunks.items() if d in array.dims})
    return array


def same_partition(a, b) -> bool:
    a, b = np.ravel(a), np.ravel(b)
    return adjusted_rand_score(a, b) == 1.0


_READS: Counter = Counter()
_LOCK = threading.Lock()


def _count_read(block, key):
    with _LOCK:
        _READS[key] += 1
    return block


def counted(array: xr.DataArray, key: str) -> xr.DataArray:
    """A dask-backed copy of ``array`` whose block reads are counted."""
    data = array.data
    counted_data = data.map_blocks(_count_read, key, dtype=data.dtype)
    return array.copy(data=counted_data)


MODELS = {
    "gmm": lambda: GaussianMixture(2, random_state=0),
    "kmeans": lambda: KMeans(2, random_state=0),
}


# ------------------------------------------------------------------ Labeled
@pytest.mark.parametrize("backend", ["numpy", "dask"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_labels_come_back_on_the_sample_dims(ocean, backend, name):
    cube, cold_map, land = ocean
    X = as_backend(cube, backend)
    model = Labeled(MODELS[name](), feature_dim="depth", skipna=True).fit(X)
    labels = model.predict(X)
    assert labels.dims == ("time", "lat", "lon")
    for dim in labels.dims:
        np.testing.assert_array_equal(labels[dim], cube[dim])
    np.testing.assert_array_equal(labels["land"], land)
    if backend == "dask":
        assert isinstance(labels.data, da.Array)
        assert labels.data.chunks == (
            (2, 2),
            (LAT_CHUNK,) * 3,
            (5, 5),
        )
    values = labels.values
    assert (values[:, land] == -1).all()
    ocean_labels = values[:, ~land]
    assert set(np.unique(ocean_labels)) == {0, 1}
    truth = np.broadcast_to(cold_map[~land], ocean_labels.shape)
    assert same_partition(ocean_labels, truth)
    assert model.feature_dim_ == "depth"
    assert model.sample_dims_ == ("time", "lat", "lon")
    assert model.n_features_in_ == DEPTH.size
    assert not hasattr(model, "feature_names_in_")
    # the wrapped estimator saw the ocean rows only
    assert model.estimator_.n_features_in_ == DEPTH.size


@pytest.mark.parametrize("backend", ["numpy", "dask"])
def test_probabilities_scores_and_nan_on_land(ocean, backend):
    cube, _, land = ocean
    X = as_backend(cube, backend)
    model = Labeled(GaussianMixture(2, random_state=0), "depth", skipna=True).fit(X)
    proba = model.predict_proba(X)
    assert proba.dims == ("time", "lat", "lon", "component")
    np.testing.assert_array_equal(proba["component"], [0, 1])
    np.testing.assert_array_equal(proba["lat"], cube["lat"])
    values = proba.values
    assert np.isnan(values[:, land]).all()
    np.testing.assert_allclose(values[:, ~land].sum(axis=-1), 1.0)
    scores = model.score_samples(X)
    assert scores.dims == ("time", "lat", "lon")
    assert np.isnan(scores.values[:, land]).all()
    assert np.isfinite(scores.values[:, ~land]).all()
    # score: the mean over the ocean samples only
    np.testing.assert_allclose(model.score(X), np.nanmean(scores.values), rtol=1e-10)
    n_ocean = int((~land).sum()) * cube.sizes["time"]
    np.testing.assert_allclose(
        model.bic(X), model.estimator_.bic(ocean_rows(cube, land)), rtol=1e-10
    )
    assert model.estimator_.bic(ocean_rows(cube, land)) > 0
    assert ocean_rows(cube, land).shape == (n_ocean, DEPTH.size)


def ocean_rows(cube, land):
    """The ocean profiles as (samples, depth) rows, numpy."""
    stacked = cube.transpose("time", "lat", "lon", "depth").values
    return stacked[:, ~land].reshape(-1, DEPTH.size)


def test_numpy_and_dask_fits_agree(ocean):
    cube, _, land = ocean
    from_numpy = Labeled(GaussianMixture(2, random_state=0), "depth", skipna=True)
    from_dask = clone(from_numpy)
    labels = from_numpy.fit(cube).predict(cube)
    lazy_labels = from_dask.fit(as_backend(cube, "dask")).predict(cube)
    assert same_partition(labels.values[:, ~land], lazy_labels.values[:, ~land])
    order = np.argsort(from_numpy.estimator_.means_[:, 0])
    lazy_order = np.argsort(from_dask.estimator_.means_[:, 0])
    np.testing.assert_allclose(
        from_numpy.estimator_.means_[order],
        from_dask.estimator_.means_[lazy_order],
        rtol=1e-6,
    )


def test_dask_outputs_stay_lazy(ocean):
    """No block is read by predict & co.; only by compute."""
    cube, _, land = ocean
    X = counted(as_backend(cube, "dask"), "lazy")
    model = Labeled(GaussianMixture(2, random_state=0), "depth", skipna=True).fit(X)
    _READS.clear()
    outputs = [
        model.predict(X),
        model.predict_proba(X),
        model.score_samples(X),
    ]
    assert _READS["lazy"] == 0
    for out in outputs:
        assert isinstance(out.data, da.Array)
    labels = outputs[0].compute()
    assert _READS["lazy"] > 0
    assert (labels.values[:, land] == -1).all()


@pytest.mark.parametrize("backend", ["numpy", "dask"])
def test_dim_order_does_not_matter(ocean, backend):
    cube, _, land = ocean
    model = Labeled(GaussianMixture(2, random_state=0), "depth", skipna=True)
    labels = model.fit(as_backend(cube, backend)).predict(cube)
    shuffled = cube.transpose("lon", "depth", "time", "lat")
    other = clone(model).fit(as_backend(shuffled, backend))
    assert other.sample_dims_ == ("lon", "time", "lat")
    shuffled_labels = other.predict(as_backend(shuffled, backend))
    assert shuffled_labels.dims == ("lon", "time", "lat")
    aligned = shuffled_labels.transpose(*labels.dims).values
    assert (aligned[:, land] == -1).all()
    assert same_partition(labels.values[:, ~land], aligned[:, ~land])
    # the first fit, given the transposed data: the same labels, in its dims
    again = model.predict(as_backend(shuffled, backend))
    np.testing.assert_array_equal(again.transpose(*labels.dims).values, labels.values)


def test_masked_rows_leave_no_empty_block(ocean):
    cube, _, land = ocean
    rows = to_rows(as_backend(cube, "dask").transpose(..., "depth").data)
    valid = complete_rows(rows).compute()
    kept = take_complete(rows, valid)
    assert 0 not in kept.chunks[0]
    assert len(kept.chunks[0]) < len(rows.chunks[0])  # a land block was dropped
    np.testing.assert_array_equal(kept.compute(), rows.compute()[valid])


def test_a_land_only_region(ocean):
    cube, _, land = ocean
    model = Labeled(GaussianMixture(2, random_state=0), "depth", skipna=True).fit(cube)
    corner = cube.isel(lat=slice(0, LAT_CHUNK), lon=slice(0, 5))
    assert land[:LAT_CHUNK, :5].all()
    for backend in ("numpy", "dask"):
        labels = model.predict(as_backend(corner, backend))
        assert labels.shape == (4, LAT_CHUNK, 5) and (labels.values == -1).all()
        proba = model.predict_proba(as_backend(corner, backend))
        assert proba.shape == (4, LAT_CHUNK, 5, 2) and np.isnan(proba.values).all()


def test_default_feature_dim_is_the_last(ocean):
    cube, _, land = ocean
    last = cube.transpose("time", "lat", "lon", "depth")
    model = Labeled(KMeans(2, random_state=0), skipna=True).fit(last)
    assert model.feature_dim_ == "depth"
    # once fitted, the name is used: predict on another dim order
    labels = model.predict(cube)
    assert labels.dims == ("time", "lat", "lon")
    assert (labels.values[:, land] == -1).all()


def test_predict_on_other_sample_dims(ocean):
    cube, _, land = ocean
    model = Labeled(GaussianMixture(2, random_state=0), "depth", skipna=True).fit(cube)
    full = model.predict(cube)
    one_map = model.predict(cube.isel(time=2))
    assert one_map.dims == ("lat", "lon")
    np.testing.assert_array_equal(one_map.values, full.isel(time=2).values)
    assert int(one_map["time"]) == int(cube["time"][2])
    profiles = cube.isel(time=0).stack(point=("lat", "lon"))
    flat = model.predict(profiles)
    assert flat.dims == ("point",)
    np.testing.assert_array_equal(flat.values, full.isel(time=0).values.ravel())
    # the depths in another order are matched by label
    reordered = model.predict(cube.isel(depth=slice(None, None, -1)))
    np.testing.assert_array_equal(reordered.values, full.values)


def test_dataset_one_feature_per_variable(ocean):
    cube, _, land = ocean
    named = cube.assign_coords(depth=[f"t{d:g}" for d in DEPTH])
    dataset = named.to_dataset(dim="depth")
    samples = ("time", "lat", "lon")
    model = Labeled(
        GaussianMixture(2, random_state=0), skipna=True, sample_dims=samples
    )
    model.fit(dataset)
    assert model.feature_dim_ == "variable"
    np.testing.assert_array_equal(model.feature_names_in_, list(dataset.data_vars))
    labels = model.predict(dataset)
    assert labels.dims == ("time", "lat", "lon")
    from_array = Labeled(GaussianMixture(2, random_state=0), "depth", skipna=True)
    expected = from_array.fit(named).predict(named)
    np.testing.assert_array_equal(labels.values, expected.values)
    # variables in another order are taken by name
    backwards = dataset[list(dataset.data_vars)[::-1]]
    np.testing.assert_array_equal(model.predict(backwards).values, labels.values)
    with pytest.raises(ValueError, match=r"missing: \['t400'\]"):
        model.predict(dataset.drop_vars("t400"))
    lazy = clone(model)
    lazy_labels = lazy.fit(dataset.chunk({"time": 1})).predict(dataset.chunk())
    assert isinstance(lazy_labels.data, da.Array)
    assert (lazy_labels.values[:, land] == -1).all()


def ocean_dataset(cube, cold_map):
    """Temperature and salinity profiles: a Dataset over (time, depth, lat, lon)."""
    rng = np.random.default_rng(3)
    cold = xr.DataArray(cold_map, dims=("lat", "lon"))
    salinity = xr.where(cold, 33.0, 35.5) + 0.02 * cube["depth"] / 100.0
    salinity = salinity + 0.1 * rng.standard_normal(salinity.shape)
    salinity = salinity.where(cube.notnull()).transpose(*cube.dims)
    return xr.Dataset({"temperature": cube, "salinity": salinity})


def test_a_dataset_needs_its_dims_named(ocean):
    cube, cold_map, _ = ocean
    ds = ocean_dataset(cube, cold_map)
    with pytest.raises(ValueError, match=r"does not guess.*sample_dims=.*feature_dim="):
        Labeled(GaussianMixture(2), skipna=True).fit(ds)
    with pytest.raises(ValueError, match=r"'depth' named neither in sample_dims"):
        Labeled(GaussianMixture(2), "variable", sample_dims=("time", "lat", "lon")).fit(
            ds
        )
    with pytest.raises(ValueError, match=r"sample_dims 'z' is not a dimension"):
        Labeled(GaussianMixture(2), sample_dims=("time", "z")).fit(ds)
    with pytest.raises(ValueError, match="At most one new name"):
        Labeled(GaussianMixture(2), feature_dim=("var", "deep")).fit(ds)
    with pytest.raises(ValueError, match=r"'time' named both"):
        Labeled(GaussianMixture(2), "time", sample_dims=("time",)).fit(cube)
    # one dimension leaves no doubt: it is the sample dim
    surface = ds.isel(time=0, depth=0, lat=6)
    model = Labeled(KMeans(2, random_state=0)).fit(surface)
    assert model.sample_dims_ == ("lon",) and model.feature_dim_ == "variable"


@pytest.mark.parametrize("backend", ["numpy", "dask"])
def test_features_per_variable_and_depth(ocean, backend):
    cube, cold_map, land = ocean
    ds = ocean_dataset(cube, cold_map)
    X = as_backend(ds, backend)
    model = Labeled(GaussianMixture(2, random_state=0), "depth", skipna=True)
    labels = model.fit(X).predict(X)
    assert model.feature_dim_ == ("variable", "depth")
    assert model.sample_dims_ == ("time", "lat", "lon")
    assert model.n_features_in_ == 2 * DEPTH.size
    assert not hasattr(model, "feature_names_in_")
    assert list(model.feature_index_) == [
        (v, d) for v in ("temperature", "salinity") for d in DEPTH
    ]
    assert labels.dims == ("time", "lat", "lon")
    assert isinstance(labels.data, da.Array) == (backend == "dask")
    values = labels.values
    assert (values[:, land] == -1).all()
    truth = np.broadcast_to(cold_map[~land], values[:, ~land].shape)
    assert same_partition(values[:, ~land], truth)
    # the recipe by hand gives the same rows, hence the same model
    by_hand = (
        ds.to_dataarray("variable")
        .stack(feature=("variable", "depth"))
        .transpose("time", "lat", "lon", "feature")
    )
    manual = Labeled(GaussianMixture(2, random_state=0), "feature", skipna=True)
    np.testing.assert_array_equal(manual.fit(by_hand).predict(by_hand), values)
    np.testing.assert_allclose(manual.estimator_.means_, model.estimator_.means_)
    # a DataArray with both dims as features, and sample_dims instead
    cube4 = ds.to_dataarray("variable")
    for other in (
        Labeled(GaussianMixture(2, random_state=0), ("variable", "depth"), True),
        Labeled(
            GaussianMixture(2, random_state=0),
            skipna=True,
            sample_dims=["lon", "time", "lat"],
        ),
    ):
        other_labels = other.fit(as_backend(cube4, backend)).predict(cube4)
        np.testing.assert_array_equal(other_labels.transpose(*labels.dims), values)
    for other in (
        Labeled(
            GaussianMixture(2, random_state=0),
            skipna=True,
            sample_dims=("time", "lat", "lon"),
        ),
        # the call of the issue, which failed in xarray
        Labeled(GaussianMixture(2, random_state=0), ("variable", "depth"), True),
    ):
        np.testing.assert_array_equal(other.fit(ds).predict(ds), values)
    # variables and depths in another order are taken by label
    shuffled = ds[["salinity", "temperature"]].isel(depth=slice(None, None, -1))
    np.testing.assert_array_equal(model.predict(shuffled), values)
    with pytest.raises(ValueError, match=r"missing: \['salinity'\]"):
        model.predict(ds[["temperature"]])
    with pytest.raises(
        ValueError, match="5 values along the feature dimension 'depth'"
    ):
        model.predict(ds.isel(depth=slice(1, None)))
    with pytest.raises(TypeError, match="fitted on a DataArray; got a Dataset"):
        manual.predict(ds)
    # the means back on (component, variable, depth)
    means = model.unstack_features(model.estimator_.means_, name="mean")
    assert means.dims == ("component", "variable", "depth")
    np.testing.assert_array_equal(means["depth"], DEPTH)
    np.testing.assert_array_equal(
        means.sel(variable="salinity").values, model.estimator_.means_[:, DEPTH.size :]
    )
    assert set(means.to_dataset("variable").data_vars) == {"temperature", "salinity"}


def test_duplicate_labels_in_y_are_named(ocean):
    cube, _, _ = ocean
    y = cube.sel(depth=0.0)
    time = y["time"].values.copy()
    time[1] = time[0]
    model = Labeled(RegressionMixture(2, random_state=0), "depth", skipna=True)
    with pytest.raises(ValueError, match=r"along 'time' has duplicated labels \[0\]"):
        model.fit(cube, y.assign_coords(time=time))


def test_a_failed_first_partial_fit_leaves_nothing(ocean):
    cube, cold_map, land = ocean
    model = Labeled(GaussianMixture(2, random_state=0), "depth")  # NaN on land
    with pytest.raises(ValueError, match="NaN"):
        model.partial_fit(cube.isel(time=[0]))
    assert not hasattr(model, "estimator_") and not hasattr(model, "feature_dim_")
    # the next call is a first call, on other features
    ocean_only = cube.isel(lat=slice(LAT_CHUNK, -2)).sel(depth=[0.0, 100.0])
    model.partial_fit(ocean_only.isel(time=[0]))
    assert model.n_features_in_ == 2
    model.partial_fit(ocean_only.isel(time=[1]))
    assert model.predict(ocean_only).dims == ("time", "lat", "lon")


@pytest.mark.parametrize("backend", ["numpy", "dask"])
def test_regression_with_y_in_another_dim_order(ocean, backend):
    cube, cold_map, land = ocean
    surface = cube.sel(depth=0.0)
    # salinity: a different line of surface temperature in each water mass
    rng = np.random.default_rng(1)
    cold = xr.DataArray(cold_map, dims=("lat", "lon"))
    salinity = xr.where(cold, 30.0 + 0.3 * surface, 38.0 - 0.1 * surface)
    salinity = salinity + 0.02 * rng.standard_normal(salinity.shape)
    y = salinity.transpose("lon", "time", "lat").isel(lat=slice(None, None, -1))
    X = as_backend(cube.sel(depth=[0.0, 100.0]), backend)
    yb = as_backend(y, backend)
    model = Labeled(RegressionMixture(2, random_state=0), "depth", skipna=True)
    model.fit(X, yb)
    prediction = model.predict(X)
    assert prediction.dims == ("time", "lat", "lon")
    if backend == "dask":
        assert isinstance(prediction.data, da.Array)
    values = prediction.values
    assert np.isnan(values[:, land]).all()
    truth = salinity.transpose("time", "lat", "lon").values
    np.testing.assert_allclose(values[:, ~land], truth[:, ~land], atol=0.2)
    assert model.score(X, yb) > 0.99
    # the same fit as the plain estimator on the ocean rows, aligned by hand
    rows = cube.sel(depth=[0.0, 100.0]).transpose("time", "lat", "lon", "depth")
    plain = RegressionMixture(2, random_state=0).fit(
        rows.values[:, ~land].reshape(-1, 2), truth[:, ~land].ravel()
    )
    order = np.argsort(model.estimator_.intercept_)
    np.testing.assert_allclose(
        model.estimator_.coef_[order],
        plain.coef_[np.argsort(plain.intercept_)],
        atol=1e-3,
    )
    mean, std = model.predict(X, return_std=True)
    assert mean.name == "prediction" and std.name == "prediction_std"
    assert std.dims == ("time", "lat", "lon")
    assert np.isnan(std.values[:, land]).all() and (std.values[:, ~land] > 0).all()
    posterior = model.component_proba(X, yb)
    assert posterior.dims == ("time", "lat", "lon", "component")
    np.testing.assert_allclose(posterior.values[:, ~land].sum(axis=-1), 1.0)
    log_lik = model.score_samples(X, yb)
    assert np.isnan(log_lik.values[:, land]).all()
    assert np.isfinite(log_lik.values[:, ~land]).all()


def test_errors_name_the_dims(ocean):
    cube, _, _ = ocean
    model = Labeled(GaussianMixture(2, random_state=0), feature_dim="z")
    with pytest.raises(ValueError, match=r"feature_dim 'z' is not a dimension.*depth"):
        model.fit(cube)
    with pytest.raises(TypeError, match="DataArray or Dataset"):
        Labeled(GaussianMixture(2)).fit(cube.values)
    # NaN without skipna: the wrapped estimator's error, as for plain data
    with pytest.raises(ValueError, match="NaN"):
        Labeled(GaussianMixture(2, random_state=0), "depth").fit(cube)
    fitted = Labeled(GaussianMixture(2, random_state=0), "depth", skipna=True)
    fitted.fit(cube)
    with pytest.raises(ValueError, match="4 values along the feature dimension"):
        fitted.predict(cube.isel(depth=slice(0, 4)))
    shifted = cube.assign_coords(depth=DEPTH + 1.0)
    with pytest.raises(ValueError, match="'depth' differ from those seen at fit"):
        fitted.predict(shifted)
    with pytest.raises(ValueError, match="feature_dim 'depth' is not a dimension"):
        fitted.predict(cube.rename(depth="z"))
    regression = Labeled(RegressionMixture(2, random_state=0), "depth", skipna=True)
    y = cube.sel(depth=0.0)
    with pytest.raises(ValueError, match=r"y has dims \('time', 'lat'\).*'lon'"):
        regression.fit(cube, y.isel(lon=0))
    with pytest.raises(ValueError, match="coordinate values of y along 'lat'"):
        regression.fit(cube, y.assign_coords(lat=y["lat"] + 0.5))
    with pytest.raises(ValueError, match="shape of X's sample dimensions"):
        regression.fit(cube, y.values.T)
    mixed = xr.Dataset({"a": cube.isel(depth=0), "b": cube.isel(depth=0, time=0)})
    with pytest.raises(ValueError, match="must share their dimensions"):
        Labeled(GaussianMixture(2)).fit(mixed)
    with pytest.raises(ValueError, match="nothing left to fit"):
        Labeled(GaussianMixture(2), "depth", skipna=True).fit(cube * np.nan)


def test_methods_follow_the_wrapped_estimator():
    assert hasattr(Labeled(GaussianMixture()), "predict_proba")
    assert not hasattr(Labeled(GaussianMixture()), "transform")
    assert not hasattr(Labeled(KMeans()), "predict_proba")
    assert hasattr(Labeled(KMeans()), "transform")
    assert hasattr(Labeled(RegressionMixture()), "component_proba")
    assert not hasattr(Labeled(RegressionMixture()), "predict_proba")
    assert not hasattr(Labeled(RegressionMixture()), "fit_predict")
    assert not hasattr(Labeled(RegressionMixture(gating="none")), "sample")


def test_kmeans_transform_and_fit_predict(ocean):
    cube, _, land = ocean
    model = Labeled(KMeans(2, random_state=0), "depth", skipna=True)
    labels = model.fit_predict(as_backend(cube, "dask"))
    distances = model.transform(cube)
    assert distances.dims == ("time", "lat", "lon", "component")
    assert np.isnan(distances.values[:, land]).all()
    nearest = distances.values[:, ~land].argmin(axis=-1)
    np.testing.assert_array_equal(nearest, labels.values[:, ~land])


def test_partial_fit_on_time_slices(ocean):
    cube, cold_map, land = ocean
    model = Labeled(GaussianMixture(2, random_state=0), "depth", skipna=True)
    for t in range(cube.sizes["time"]):
        model.partial_fit(cube.isel(time=[t]))
    assert model.sample_dims_ == ("time", "lat", "lon")
    labels = model.predict(cube)
    truth = np.broadcast_to(cold_map[~land], labels.values[:, ~land].shape)
    assert same_partition(labels.values[:, ~land], truth)


def test_clone_and_params():
    model = Labeled(GaussianMixture(3, random_state=0), "depth", skipna=True)
    params = model.get_params()
    assert params["estimator__n_components"] == 3
    assert params["feature_dim"] == "depth" and params["skipna"] is True
    copy = clone(model)
    assert copy is not model and copy.estimator is not model.estimator
    assert copy.get_params()["estimator__n_components"] == 3
    copy.set_params(estimator__n_components=2, skipna=False)
    assert copy.estimator.n_components == 2 and model.estimator.n_components == 3
    with pytest.raises(ValueError, match="skipna"):
        Labeled(GaussianMixture(), skipna="yes").fit(xr.DataArray(np.ones((4, 2))))


def _standardise_profiles(cube):
    """Each profile minus its depth mean: labels stay on xarray."""
    return cube - cube.mean("depth")


def test_in_a_pipeline(ocean):
    cube, cold_map, land = ocean
    pipe = Pipeline(
        [
            ("anomaly", FunctionTransformer(_standardise_profiles)),
            ("gmm", Labeled(GaussianMixture(2, random_state=0), "depth", skipna=True)),
        ]
    )
    labels = pipe.fit(cube).predict(cube)
    assert isinstance(labels, xr.DataArray) and labels.dims == ("time", "lat", "lon")
    assert (labels.values[:, land] == -1).all()
    truth = np.broadcast_to(cold_map[~land], labels.values[:, ~land].shape)
    assert same_partition(labels.values[:, ~land], truth)
    assert clone(pipe).get_params()["gmm__estimator__n_components"] == 2


def _neg_bic(estimator, X, y=None):
    return -estimator.bic(X)


def test_grid_search_picks_the_number_of_water_masses(ocean):
    cube, _, _ = ocean
    X = cube.transpose("time", "lat", "lon", "depth")  # folds split the first dim
    search = GridSearchCV(
        Labeled(GaussianMixture(random_state=0), "depth", skipna=True),
        {"estimator__n_components": [1, 2, 3, 4]},
        cv=2,
        scoring=_neg_bic,
    )
    search.fit(X)
    assert search.best_params_ == {"estimator__n_components": 2}
    assert search.best_estimator_.predict(X).dims == ("time", "lat", "lon")


def test_on_a_distributed_cluster(ocean, client):
    cube, cold_map, land = ocean
    X = as_backend(cube, "dask")
    # few passes: every compute on the cluster costs a round trip
    kmeans = KMeans(2, init="random", n_init=1, random_state=0)
    model = Labeled(kmeans, "depth", skipna=True).fit(X)
    labels = model.predict(X).compute()
    truth = np.broadcast_to(cold_map[~land], labels.values[:, ~land].shape)
    assert same_partition(labels.values[:, ~land], truth)
    assert (labels.values[:, land] == -1).all()


def test_docstring_example_runs():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = finder.find(daskmix.labeled.Labeled, "Labeled", globs={})
    (test,) = [t for t in tests if t.name == "Labeled"]
    runner.run(test)
    assert runner.failures == 0 and runner.tries > 5


# ---------------------------------------------- xarray in the plain estimators
def test_plain_estimators_match_dims_by_name():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-3, 1, (450, 3)), rng.normal(3, 1, (450, 3))])
    array = xr.DataArray(
        X, dims=("time", "feature"), coords={"time": np.arange(900) * 10}
    )
    for model in (GaussianMixture(2, random_state=0), KMeans(2, random_state=0)):
        labels = model.fit(array).predict(array)
        transposed = model.predict(array.T)
        assert transposed.dims == ("time",)
        np.testing.assert_array_equal(transposed.values, labels.values)
        np.testing.assert_array_equal(transposed["time"], array["time"])
        lazy = model.predict(array.T.chunk({"time": 300}))
        assert isinstance(lazy.data, da.Array)
        np.testing.assert_array_equal(lazy.values, labels.values)
    gmm = GaussianMixture(2, random_state=0).fit(array)
    np.testing.assert_allclose(gmm.score(array.T), gmm.score(array))
    # a refit on numpy forgets the dims: positions again
    gmm.fit(X)
    with pytest.raises(ValueError, match="900 features"):
        gmm.predict(array.T)


def test_plain_estimators_point_to_labeled():
    cube, _, _ = ocean_cube()
    model = GaussianMixture(2)
    with pytest.raises(TypeError, match=r"Dataset.*daskmix\.Labeled"):
        model.fit(cube.isel(time=0, lat=0).to_dataset(dim="depth"))
    with pytest.raises(ValueError, match=r"4D.*daskmix\.Labeled"):
        model.fit(cube)
    fitted = RegressionMixture(2, random_state=0).fit(
        np.random.default_rng(0).normal(size=(50, 2)), np.arange(50.0)
    )
    with pytest.raises(TypeError, match=r"Dataset.*daskmix\.Labeled"):
        fitted.predict(xr.Dataset({"a": ("t", np.ones(3)), "b": ("t", np.ones(3))}))
