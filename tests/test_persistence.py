"""A fitted model of every estimator saved and loaded (pickle, joblib, skops)
predicts exactly what it predicted before (docs/user_guide/persistence.rst)."""

from __future__ import annotations

import pickle

import dask.array as da
import joblib
import numpy as np
import pytest
import xarray as xr

from daskmix import (
    BayesianGaussianMixture,
    GaussianMixture,
    GaussianMixtureIC,
    KMeans,
    Labeled,
    RegressionMixture,
    RegressionMixtureIC,
)

RNG = np.random.default_rng(0)
X = np.vstack([RNG.normal(-3, 1, (300, 2)), RNG.normal(3, 1, (300, 2))])
Y = np.where(X[:, 0] < 0, 2 * X[:, 1], -X[:, 1] + 1) + RNG.normal(0, 0.1, 600)
CUBE = xr.DataArray(
    X.reshape(20, 30, 2), dims=("time", "lat", "feature"), coords={"time": range(20)}
)

ESTIMATORS = {
    "GaussianMixture": (GaussianMixture(2, random_state=0), False),
    "BayesianGaussianMixture": (BayesianGaussianMixture(n_components=3), False),
    "KMeans": (KMeans(2, random_state=0), False),
    "RegressionMixture": (RegressionMixture(2, init_params="kmeans"), True),
    "GaussianMixtureIC": (GaussianMixtureIC(n_components=[1, 2, 3]), False),
    "RegressionMixtureIC": (
        RegressionMixtureIC(n_components=[1, 2], init_params="kmeans"),
        True,
    ),
}
METHODS = ("predict", "predict_proba", "score_samples", "transform", "score")


def outputs(model, X, y=None):
    """Every output of the model's prediction methods on X (and y)."""
    found = {}
    for name in METHODS:
        if hasattr(model, name):
            args = (
                (X,) if y is None or name not in ("score", "score_samples") else (X, y)
            )
            result = getattr(model, name)(*args)
            found[name] = getattr(result, "values", result)
    return found


def assert_same(before, after):
    assert before.keys() == after.keys() and before
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)


def round_trips(model, tmp_path):
    """The model through pickle, through joblib, and through a dask fit's pickle."""
    yield pickle.loads(pickle.dumps(model))
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    yield joblib.load(path)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_pickle_and_joblib_round_trips(name, tmp_path):
    estimator, supervised = ESTIMATORS[name]
    data = (X, Y) if supervised else (X,)
    model = estimator.fit(*data)
    before = outputs(model, *data)
    for loaded in round_trips(model, tmp_path):
        assert type(loaded) is type(model)
        assert_same(before, outputs(loaded, *data))


def test_a_model_fitted_on_dask_predicts_the_same_after_loading(tmp_path):
    Xd = da.from_array(X, chunks=(150, 2))
    model = GaussianMixture(2, random_state=0).fit(Xd)
    for loaded in round_trips(model, tmp_path):
        lazy = loaded.predict(Xd)
        assert isinstance(lazy, da.Array)
        np.testing.assert_array_equal(lazy.compute(), model.predict(X))


def test_labeled_round_trips(tmp_path):
    model = Labeled(GaussianMixture(2, random_state=0), "feature").fit(CUBE)
    before = outputs(model, CUBE)
    for loaded in round_trips(model, tmp_path):
        assert loaded.predict(CUBE).dims == ("time", "lat")
        assert_same(before, outputs(loaded, CUBE))


@pytest.mark.parametrize("name", ["GaussianMixture", "KMeans", "RegressionMixture"])
def test_skops_round_trips_with_the_types_trusted(name, tmp_path):
    sio = pytest.importorskip("skops.io")
    estimator, supervised = ESTIMATORS[name]
    data = (X, Y) if supervised else (X,)
    model = estimator.fit(*data)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert untrusted == [f"{type(model).__module__}.{type(model).__name__}"]
    with pytest.raises(Exception, match="[Uu]ntrusted"):
        sio.load(path)
    assert_same(
        outputs(model, *data), outputs(sio.load(path, trusted=untrusted), *data)
    )
