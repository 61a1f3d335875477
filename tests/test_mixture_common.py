"""Behaviour every mixture estimator shares (BaseMixture), tested on each.

The pattern of scikit-learn's ``sklearn/mixture/tests/test_mixture.py``: one
test, parametrised over the estimators, instead of a copy per estimator.
"""

import pickle
import warnings

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from daskmix import BayesianGaussianMixture, GaussianMixture, RegressionMixture


def blobs(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    X = centers[rng.integers(0, 3, n)] + rng.standard_normal((n, 2))
    return X, None


def lines(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, (n, 2))
    k = rng.integers(0, 3, n)
    coef = np.array([[2.0, 0.0], [-2.0, 1.0], [0.0, -1.0]])
    y = np.einsum("nd,nd->n", X, coef[k]) + np.array([0.0, 3.0, -3.0])[k]
    return X, y + 0.2 * rng.standard_normal(n)


CASES = {
    "GaussianMixture": (GaussianMixture(3, random_state=0), blobs),
    "BayesianGaussianMixture": (
        BayesianGaussianMixture(n_components=3, random_state=0),
        blobs,
    ),
    "RegressionMixture": (RegressionMixture(3, random_state=0), lines),
    "RegressionMixture-none": (
        RegressionMixture(3, gating="none", random_state=0),
        lines,
    ),
}


@pytest.fixture(params=list(CASES), ids=list(CASES))
def case(request):
    estimator, make = CASES[request.param]
    return clone(estimator), make


def fit(estimator, X, y):
    return estimator.fit(X) if y is None else estimator.fit(X, y)


def partial_fit(estimator, X, y):
    return estimator.partial_fit(X) if y is None else estimator.partial_fit(X, y)


def to_dask(X, y, rows=500):
    Xd = da.from_array(X, chunks=(rows, -1))
    return Xd, None if y is None else da.from_array(y, chunks=rows)


def test_numpy_and_dask_agree(case):
    estimator, make = case
    X, y = make()
    on_numpy = fit(clone(estimator), X, y)
    on_dask = fit(clone(estimator), *to_dask(X, y))
    assert_allclose(on_dask.weights_, on_numpy.weights_, rtol=1e-7)
    assert_allclose(on_dask.lower_bound_, on_numpy.lower_bound_, rtol=1e-9)


def test_too_few_samples(case):
    estimator, make = case
    X, y = make(n=2)
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        fit(estimator, X, y)


def test_max_iter_zero_returns_the_start(case):
    estimator, make = case
    X, y = make()
    model = fit(estimator.set_params(max_iter=0), X, y)
    assert model.n_iter_ == 0 and model.lower_bound_ == -np.inf
    assert np.isfinite(model.weights_).all()


def test_n_init_keeps_the_best_run(case):
    estimator, make = case
    X, y = make(n=600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        single = fit(clone(estimator).set_params(max_iter=5), X, y)
        several = fit(clone(estimator).set_params(max_iter=5, n_init=4), X, y)
    assert several.lower_bound_ >= single.lower_bound_ - 1e-12


def test_convergence_warning(case):
    estimator, make = case
    X, y = make(n=600)
    with pytest.warns(ConvergenceWarning):
        fit(estimator.set_params(max_iter=1, tol=0.0), X, y)


def test_warm_start_continues_and_restarts_after_a_structural_change(case):
    estimator, make = case
    X, y = make()
    model = fit(estimator.set_params(warm_start=True, max_iter=2), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bound = model.lower_bound_
        fit(model, X, y)
        assert model.lower_bound_ >= bound - 1e-9
        # another K: the fitted parameters cannot be continued, start afresh
        fit(model.set_params(n_components=2, max_iter=50), X, y)
    assert model.weights_.shape == (2,)
    assert np.isfinite(model.lower_bound_)


def test_partial_fit_refuses_a_structural_change(case):
    estimator, make = case
    X, y = make()
    model = partial_fit(estimator, X[:500], None if y is None else y[:500])
    model.set_params(n_components=2)
    with pytest.raises(ValueError, match=r"n_components: 3 -> 2"):
        partial_fit(model, X[500:1000], None if y is None else y[500:1000])
    if hasattr(model, "covariance_type"):
        model.set_params(n_components=3, covariance_type="diag")
        with pytest.raises(ValueError, match="covariance_type: 'full' -> 'diag'"):
            partial_fit(model, X[500:1000], None if y is None else y[500:1000])


def test_float32_in_float32_out(case):
    estimator, make = case
    X, y = make()
    X32 = X.astype(np.float32)
    model = fit(estimator, X32, y)
    for name in ("weights_", "means_", "covariances_", "precisions_", "coef_"):
        if hasattr(model, name):
            assert getattr(model, name).dtype == np.float32, name
    rows = (X32,) if y is None else (X32, y)
    assert model.score_samples(*rows).dtype == np.float32
    if y is None:
        assert model.predict_proba(X32).dtype == np.float32
    else:
        assert model.predict(X32).dtype == np.float32


def test_outputs_follow_the_input_type(case):
    estimator, make = case
    X, y = make()
    model = fit(estimator, X, y)
    Xd, yd = to_dask(X, y)
    rows = (Xd,) if y is None else (Xd, yd)
    lazy = model.score_samples(*rows)
    assert isinstance(lazy, da.Array)
    expected = model.score_samples(*((X,) if y is None else (X, y)))
    assert_allclose(lazy.compute(), expected, rtol=1e-10)
    labelled = xr.DataArray(
        X, dims=("sample", "feature"), coords={"sample": np.arange(len(X)) * 10}
    )
    out = model.predict(labelled)
    assert isinstance(out, xr.DataArray) and out.dims == ("sample",)
    np.testing.assert_array_equal(out["sample"], labelled["sample"])


def test_information_criteria(case):
    estimator, make = case
    if not estimator._has_information_criteria:
        assert not hasattr(estimator, "bic") and not hasattr(estimator, "icl")
        return
    X, y = make()
    model = fit(estimator, X, y)
    rows = (X,) if y is None else (X, y)
    bic, aic, icl = model.bic(*rows), model.aic(*rows), model.icl(*rows)
    assert np.isfinite([bic, aic, icl]).all()
    assert icl >= bic
    loglik = -0.5 * (aic - 2 * model._n_parameters())
    assert_allclose(bic, -2 * loglik + model._n_parameters() * np.log(len(X)))


def test_pickle_holds_no_data(case):
    estimator, make = case
    sizes = []
    for n in (1000, 10_000):
        X, y = make(n=n)
        model = fit(clone(estimator), *to_dask(X, y))
        sizes.append(len(pickle.dumps(model)))
    assert abs(sizes[1] - sizes[0]) < 2000


@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
def test_fewer_distinct_points_than_components_warns_once(case, as_dask):
    # issues 21, 22: scikit-learn's KMeans warning reaches the user from the
    # k-means start, once per fit however many restarts
    estimator, make = case
    X = np.repeat([[0.0, 0.0], [5.0, 5.0]], 100, axis=0)
    y = None if make is blobs else np.repeat([0.0, 1.0], 100)
    estimator.set_params(n_init=3)
    if isinstance(estimator, RegressionMixture):
        estimator.set_params(init_params="kmeans")  # the default is 'short-em'
    if isinstance(estimator, BayesianGaussianMixture):
        # full covariances fail on two points, as scikit-learn's do
        estimator.set_params(covariance_type="diag")
    data = to_dask(X, y, rows=70) if as_dask else (X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(estimator, *data)
    distinct = [w for w in caught if "distinct clusters" in str(w.message)]
    assert [str(w.message) for w in distinct] == [
        "Number of distinct clusters (2) found smaller than n_clusters (3). "
        "Possibly due to duplicate points in X."
    ]
    assert distinct[0].category is ConvergenceWarning


def test_enough_distinct_points_do_not_warn(case):
    estimator, make = case
    X, y = make(n=300)
    if isinstance(estimator, RegressionMixture):
        estimator.set_params(init_params="kmeans")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(estimator, X, y)
    assert not [w for w in caught if "distinct clusters" in str(w.message)]


def test_predict_labels_are_sklearns_intp():
    # KMeans labels are int32 as scikit-learn's; the mixtures keep intp
    X, _ = blobs(n=300)
    for estimator in (GaussianMixture(3, random_state=0), BayesianGaussianMixture()):
        model = estimator.fit(X)
        assert model.predict(X).dtype == np.intp
        assert model.predict(da.from_array(X, chunks=100)).dtype == np.intp
