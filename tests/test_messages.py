"""Errors and edge cases that name what is wrong (issue 22's list)."""

from __future__ import annotations

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from daskmix import (
    BayesianGaussianMixture,
    GaussianMixture,
    GaussianMixtureIC,
    KMeans,
    RegressionMixture,
    RegressionMixtureIC,
)
from daskmix.metrics import log_likelihood_scorer


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(-3, 1, (100, 2)), rng.normal(3, 1, (100, 2))])


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, (300, 1))
    y = np.where(rng.random(300) < 0.5, 2.0, -1.0) * x[:, 0]
    return x, y + 0.1 * rng.standard_normal(300)


# -------------------------------------------------------- nullable frames
@pytest.mark.parametrize("dtype", ["Float64", "Int64", "Float32"])
def test_dask_frame_of_nullable_numbers_is_numbers(X, dtype):
    values = X.round(0) if dtype == "Int64" else X
    frame = pd.DataFrame(values, columns=["a", "b"]).astype(dtype)
    model = GaussianMixture(2, random_state=0).fit(dd.from_pandas(frame, 2))
    plain = GaussianMixture(2, random_state=0).fit(
        dd.from_pandas(frame.astype("float32" if dtype == "Float32" else "float64"), 2)
    )
    assert_allclose(model.means_, plain.means_)
    assert list(model.feature_names_in_) == ["a", "b"]


def test_missing_value_of_a_nullable_frame_is_named_nan(X):
    frame = pd.DataFrame(X, columns=["a", "b"]).astype("Float64")
    frame.loc[150, "b"] = pd.NA
    with pytest.raises(ValueError, match="Input X contains NaN"):
        GaussianMixture(2, random_state=0).fit(dd.from_pandas(frame, 2))


def test_object_columns_are_still_refused(X):
    frame = pd.DataFrame({"a": X[:, 0], "b": ["x"] * len(X)})
    with pytest.raises(ValueError, match="non-numeric columns"):
        GaussianMixture(2).fit(dd.from_pandas(frame, 2))


# ------------------------------------------------------------ init arrays
@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("weights_init", lambda v: {"weights_init": [0.5, v]}),
        ("means_init", lambda v: {"means_init": [[0.0, 0.0], [v, 1.0]]}),
        (
            "precisions_init",
            lambda v: {"precisions_init": np.array([[[1, 0], [0, v]], np.eye(2)])},
        ),
        (
            "precisions_init",
            lambda v: {"covariance_type": "spherical", "precisions_init": [1.0, v]},
        ),
    ],
)
def test_non_finite_init_array_is_named(X, name, params, value):
    with pytest.raises(ValueError, match=f"Input {name} contains (NaN|infinity)"):
        GaussianMixture(2, **params(value)).fit(X)


@pytest.mark.parametrize("covariance_type", ["tied", "diag", "full"])
def test_precisions_init_of_the_wrong_rank_says_what_is_expected(X, covariance_type):
    wrong = {"tied": np.stack([np.eye(2)] * 2), "diag": np.ones((2, 2, 2))}.get(
        covariance_type, np.eye(2)
    )
    with pytest.raises(
        ValueError,
        match=rf"'{covariance_type} precision' should have the shape of .*"
        rf"precisions_init must be \d-D for covariance_type='{covariance_type}'",
    ):
        GaussianMixture(2, covariance_type=covariance_type, precisions_init=wrong).fit(
            X
        )


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("mean_prior", {"mean_prior": [0.0, np.nan]}),
        ("covariance_prior", {"covariance_prior": np.array([[1.0, np.inf], [0, 1]])}),
        (
            "covariance_prior",
            {"covariance_type": "diag", "covariance_prior": [1.0, np.nan]},
        ),
    ],
)
def test_non_finite_prior_is_named(X, name, params):
    with pytest.raises(ValueError, match=f"Input {name} contains (NaN|infinity)"):
        BayesianGaussianMixture(n_components=2, **params).fit(X)


# ------------------------------------------------------------- booleans
@pytest.mark.parametrize(
    "estimator",
    [
        GaussianMixture(n_components=True),
        BayesianGaussianMixture(n_components=True),
        RegressionMixture(n_components=True),
        GaussianMixture(2, max_iter=True),
        KMeans(n_clusters=True),
        GaussianMixtureIC(n_components=True),
        RegressionMixtureIC(n_components=True),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_boolean_is_not_an_integer(estimator, xy):
    x, y = xy
    name = "n_clusters" if isinstance(estimator, KMeans) else "n_components"
    if getattr(estimator, "max_iter", None) is True:
        name = "max_iter"
    with pytest.raises((ValueError, TypeError), match=rf"'{name}'.*not a boolean"):
        estimator.fit(x, y)


def test_a_boolean_in_a_selector_grid_is_refused(X):
    with pytest.raises(ValueError, match=r"integers >= 1 \(not booleans\).*True"):
        GaussianMixtureIC(n_components=[2, True]).fit(X)


# ------------------------------------------------------------- sampling
def test_sample_takes_n_samples_as_scikit_learn(X, xy):
    gaussian = GaussianMixture(2, random_state=0).fit(X)
    regression = RegressionMixture(2, random_state=0).fit(*xy)
    for model in (gaussian, regression):
        assert model.sample(1.5)[0].shape[0] == 1  # truncated, as numpy does
        assert model.sample(np.int64(3))[0].shape[0] == 3
        with pytest.raises(ValueError, match="Invalid value for 'n_samples': 0"):
            model.sample(0)
        with pytest.raises(ValueError, match="'n_samples': nan"):
            model.sample(float("nan"))
        with pytest.raises(TypeError, match="n_samples must be a number.*'3'"):
            model.sample("3")


def test_sample_of_a_float_matches_scikit_learn(X):
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    ours = GaussianMixture(2, random_state=0).fit(X)
    theirs = SkGaussianMixture(2, random_state=0).fit(X)
    assert ours.sample(2.7)[0].shape == theirs.sample(2.7)[0].shape == (2, 2)


# ---------------------------------------------------------------- R^2
def test_r2_of_one_row_is_nan_with_a_warning(xy):
    x, y = xy
    model = RegressionMixture(2, random_state=0).fit(x, y)
    with pytest.warns(UndefinedMetricWarning, match="less than two samples"):
        assert np.isnan(model.score(x[:1], y[:1]))
    with pytest.warns(UndefinedMetricWarning):
        xd, yd = da.from_array(x[:1], chunks=1), da.from_array(y[:1], chunks=1)
        assert np.isnan(model.score(xd, yd))
    assert np.isfinite(model.score(x[:2], y[:2]))


# --------------------------------------------------------------- scorer
def test_scorer_names_an_estimator_without_score_samples(X):
    kmeans = KMeans(2, random_state=0).fit(X)
    with pytest.raises(TypeError, match="a score_samples method.*KMeans has none"):
        log_likelihood_scorer(kmeans, X)
    pipeline = make_pipeline(StandardScaler(), KMeans(2, random_state=0)).fit(X)
    with pytest.raises(TypeError, match="KMeans"):
        log_likelihood_scorer(pipeline, X)


def test_grid_search_with_the_scorer_fails_loudly_when_told(X):
    search = GridSearchCV(
        KMeans(random_state=0),
        {"n_clusters": [2, 3]},
        scoring=log_likelihood_scorer,
        error_score="raise",
    )
    with pytest.raises(TypeError, match="score_samples"):
        search.fit(X)
    # the default error_score hides it in NaN scores, with the message warned
    quiet = GridSearchCV(
        KMeans(random_state=0), {"n_clusters": [2, 3]}, scoring=log_likelihood_scorer
    )
    with pytest.warns(UserWarning, match="KMeans has none"):
        quiet.fit(X)
