"""Bad input gets a clear ValueError/TypeError, never NaN parameters or a hang."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from daskmix import GaussianMixture


@pytest.fixture
def X():
    return np.random.default_rng(0).standard_normal((100, 3))


def _fit(data, **params):
    return GaussianMixture(2, random_state=0, **params).fit(data)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_numpy(X, value):
    X[17, 1] = value
    with pytest.raises(ValueError, match="NaN|infinity"):
        _fit(X)


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("init_params", ["kmeans", "random", "random_from_data"])
def test_non_finite_in_late_dask_block(X, value, init_params):
    X[95, 2] = value  # only the last of five blocks is bad
    Xd = da.from_array(X, chunks=(20, 3))
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        _fit(Xd, init_params=init_params)


def test_non_finite_at_predict(X):
    model = _fit(X)
    bad = X.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict(bad)
    with pytest.raises(ValueError, match="NaN"):
        model.score(da.from_array(bad, chunks=50))


@pytest.mark.parametrize("as_dask", [False, True])
def test_wrong_dimensions(X, as_dask):
    wrap = (lambda a: da.from_array(a)) if as_dask else (lambda a: a)
    with pytest.raises(ValueError, match="Expected 2D array"):
        _fit(wrap(X[:, 0]))
    with pytest.raises(ValueError, match="2D|dim 3"):
        _fit(wrap(X.reshape(10, 10, 3)))


@pytest.mark.parametrize("as_dask", [False, True])
def test_empty_and_too_few_samples(X, as_dask):
    wrap = (lambda a: da.from_array(a)) if as_dask else (lambda a: a)
    with pytest.raises(ValueError, match="0 sample"):
        _fit(wrap(X[:0]))
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(5).fit(wrap(X[:3]))
    with pytest.raises(ValueError, match="0 feature"):
        _fit(wrap(X[:, :0]))


def test_strings_and_complex(X):
    with pytest.raises(ValueError, match="convert|numeric"):
        _fit(np.array([["a", "b"], ["c", "d"], ["e", "f"]]))
    with pytest.raises(ValueError, match="convert|numeric"):
        _fit(da.from_array(np.array([["a", "b"], ["c", "d"], ["e", "f"]])))
    with pytest.raises(ValueError, match="Complex data not supported"):
        _fit(X + 1j)
    with pytest.raises(ValueError, match="Complex data not supported"):
        _fit(da.from_array(X + 1j))


def test_wrong_number_of_features_at_predict(X):
    model = _fit(X)
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(ValueError, match="3 features"):
            getattr(model, method)(X[:, :2])
        with pytest.raises(ValueError, match="3 features"):
            getattr(model, method)(da.from_array(X[:, :2]))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_components": 0}, "n_components"),
        ({"covariance_type": "banana"}, "covariance_type"),
        ({"tol": -1.0}, "tol"),
        ({"reg_covar": -1.0}, "reg_covar"),
        ({"max_iter": -1}, "max_iter"),
        ({"n_init": 0}, "n_init"),
        ({"init_params": "nope"}, "init_params"),
        ({"verbose_interval": 0}, "verbose_interval"),
    ],
)
def test_invalid_parameters(X, params, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(**{"n_components": 2, **params}).fit(X)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"weights_init": [0.5, 0.3, 0.2]}, "'weights' should have the shape"),
        ({"weights_init": [0.9, 0.9]}, "normalized|range"),
        ({"weights_init": [1.5, -0.5]}, "range"),
        ({"means_init": np.zeros((2, 4))}, "'means' should have the shape"),
        ({"precisions_init": np.ones((2, 3))}, "'full precision' should have"),
        ({"precisions_init": -np.ones((2, 3, 3))}, "symmetric, positive-definite"),
        (
            {"covariance_type": "diag", "precisions_init": -np.ones((2, 3))},
            "'diag precision' should be positive",
        ),
        (
            {"covariance_type": "spherical", "precisions_init": np.ones(3)},
            "'spherical precision' should have the shape",
        ),
    ],
)
def test_badly_shaped_init_arrays(X, params, message):
    with pytest.raises(ValueError, match=message):
        _fit(X, **params)


def test_init_arrays_are_not_modified(X):
    weights = [0.5, 0.5]
    model = _fit(X, weights_init=weights)
    assert model.weights_init is weights


def test_not_fitted(X):
    for method in ("predict", "predict_proba", "score_samples", "score", "bic"):
        with pytest.raises(NotFittedError):
            getattr(GaussianMixture(), method)(X)
    with pytest.raises(NotFittedError):
        GaussianMixture().sample(3)


def test_reg_covar_zero_on_collapsed_data_fails_clearly():
    X = np.ones((20, 2))
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        GaussianMixture(1, reg_covar=0.0).fit(X)


def test_unknown_dask_chunks(X):
    Xd = da.from_array(X, chunks=(25, 3))
    Xd = Xd[Xd[:, 0] > -100]  # unknown row chunk sizes
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        _fit(Xd)


def test_sparse_dask_input_is_rejected_before_any_pass(X):
    import scipy.sparse as sp

    from daskmix import RegressionMixture
    from daskmix._estimator.validation import check_X, check_y

    sparse_X = da.from_array(sp.csr_matrix(X), chunks=(25, 3), asarray=False)
    with pytest.raises(TypeError, match="Sparse input is not supported: X"):
        check_X(GaussianMixture(), sparse_X, reset=True)
    dense_X = da.from_array(X, chunks=(25, 3))
    sparse_y = da.from_array(sp.csr_matrix(X[:, :1]), chunks=(25, 1), asarray=False)
    with pytest.raises(TypeError, match="Sparse input is not supported: y"):
        check_y(sparse_y, dense_X)
    with pytest.raises(TypeError, match="Sparse input is not supported: y"):
        RegressionMixture(2).fit(dense_X, sparse_y)
