"""sample_weight in GaussianMixture.fit and RegressionMixture.fit (batch EM).

Stepwise EM with weights (``partial_fit``, ``algorithm='minibatch'``):
tests/test_sample_weight_minibatch.py.

Frequency weights: an integer weight w on a row must fit exactly as w copies
of the row, weight 0 as the row left out. From the same start (``*_init``
arrays, or a warm start) the EM trajectory, the parameters and
``lower_bound_`` agree with a fit on the repeated rows to rounding.
"""

from __future__ import annotations

import copy
import warnings

import dask.array as da
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from daskmix import GaussianMixture, RegressionMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
ATOL = 1e-10


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack(
        [
            rng.normal([0, 0, 0], 1.0, (120, 3)),
            rng.normal([5, 5, 0], [1.0, 0.5, 2.0], (80, 3)),
            rng.normal([0, 6, 3], 0.7, (60, 3)),
        ]
    )
    weights = rng.integers(0, 4, len(X))
    return X, weights


def _lines(seed=0, n=240):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, (n, 2))
    first = rng.random(n) < 0.5
    y = np.where(first, x @ [2.0, -1.0] + 1.0, x @ [-1.5, 0.5] - 2.0)
    y = y + rng.normal(0, 0.3, n)
    return x, y, rng.integers(0, 4, n)


def _init_arrays(X, covariance_type):
    """A deliberately rough start, the same for every fit."""
    start = GaussianMixture(
        3, covariance_type=covariance_type, max_iter=2, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(X)
    return {
        "weights_init": start.weights_,
        "means_init": start.means_,
        "precisions_init": start.precisions_,
    }


def _assert_same_fit(a, b, names):
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=0, atol=ATOL)
    np.testing.assert_allclose(a.lower_bound_, b.lower_bound_, rtol=0, atol=ATOL)
    for name in names:
        np.testing.assert_allclose(
            getattr(a, name), getattr(b, name), rtol=1e-9, atol=ATOL, err_msg=name
        )


GAUSSIAN_ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_")


@pytest.mark.parametrize("kind", ["numpy", "dask"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_integer_weights_equal_repeated_rows(covariance_type, kind):
    X, weights = _blobs()
    init = _init_arrays(X, covariance_type)
    params = dict(covariance_type=covariance_type, tol=1e-9, max_iter=200, **init)
    repeated = GaussianMixture(3, **params).fit(np.repeat(X, weights, axis=0))
    if kind == "dask":
        Xw, ww = da.from_array(X, chunks=70), da.from_array(weights, chunks=70)
    else:
        Xw, ww = X, weights
    weighted = GaussianMixture(3, **params).fit(Xw, sample_weight=ww)
    assert weighted.n_iter_ > 3
    _assert_same_fit(weighted, repeated, GAUSSIAN_ATTRIBUTES)


def test_gaussian_numpy_weights_with_dask_X():
    X, weights = _blobs(1)
    init = _init_arrays(X, "full")
    numpy_fit = GaussianMixture(3, tol=1e-9, **init).fit(X, sample_weight=weights)
    dask_fit = GaussianMixture(3, tol=1e-9, **init).fit(
        da.from_array(X, chunks=50), sample_weight=weights
    )
    _assert_same_fit(dask_fit, numpy_fit, GAUSSIAN_ATTRIBUTES)


def test_gaussian_dask_with_an_empty_chunk_is_weighted_row_by_row():
    X, weights = _blobs(2)
    init = _init_arrays(X, "diag")
    params = dict(covariance_type="diag", tol=1e-9, **init)
    reference = GaussianMixture(3, **params).fit(X, sample_weight=weights)
    chunks = ((100, 0, 160), (3,))
    Xd = da.from_array(X, chunks=chunks)
    wd = da.from_array(weights, chunks=(chunks[0],))
    dask_fit = GaussianMixture(3, **params).fit(Xd, sample_weight=wd)
    _assert_same_fit(dask_fit, reference, GAUSSIAN_ATTRIBUTES)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_gaussian_zero_weights_equal_dropped_rows(covariance_type):
    X, _ = _blobs(3)
    keep = np.random.default_rng(0).random(len(X)) < 0.7
    # a far, zero-weight row must change nothing
    X = np.vstack([X, [[1e3, -1e3, 1e3]]])
    keep = np.append(keep, False)
    init = _init_arrays(X[keep], covariance_type)
    params = dict(covariance_type=covariance_type, tol=1e-9, **init)
    dropped = GaussianMixture(3, **params).fit(X[keep])
    weighted = GaussianMixture(3, **params).fit(X, sample_weight=keep.astype(float))
    _assert_same_fit(weighted, dropped, GAUSSIAN_ATTRIBUTES)


def test_gaussian_unit_weights_match_the_unweighted_fit():
    X, _ = _blobs(4)
    init = _init_arrays(X, "full")
    plain = GaussianMixture(3, tol=1e-9, **init).fit(X)
    none = GaussianMixture(3, tol=1e-9, **init).fit(X, sample_weight=None)
    ones = GaussianMixture(3, tol=1e-9, **init).fit(X, sample_weight=np.ones(len(X)))
    for name in GAUSSIAN_ATTRIBUTES:
        np.testing.assert_array_equal(getattr(none, name), getattr(plain, name))
    assert none.lower_bound_ == plain.lower_bound_
    _assert_same_fit(ones, plain, GAUSSIAN_ATTRIBUTES)


def test_gaussian_fractional_weights_scale_freely():
    """Weights are relative: multiplying all of them by c changes nothing."""
    X, weights = _blobs(5)
    init = _init_arrays(X, "spherical")
    params = dict(covariance_type="spherical", tol=1e-9, **init)
    a = GaussianMixture(3, **params).fit(X, sample_weight=weights)
    b = GaussianMixture(3, **params).fit(X, sample_weight=0.37 * weights)
    _assert_same_fit(a, b, GAUSSIAN_ATTRIBUTES)


def test_gaussian_float32_keeps_float32():
    X, weights = _blobs(6)
    init = _init_arrays(X, "full")
    fit64 = GaussianMixture(3, tol=1e-6, **init).fit(X, sample_weight=weights)
    fit32 = GaussianMixture(3, tol=1e-6, **init).fit(
        X.astype(np.float32), sample_weight=weights.astype(np.float32)
    )
    for name in GAUSSIAN_ATTRIBUTES + ("precisions_",):
        assert getattr(fit32, name).dtype == np.float32, name
    np.testing.assert_allclose(fit32.means_, fit64.means_, atol=1e-3)
    assert abs(fit32.lower_bound_ - fit64.lower_bound_) < 1e-4


def test_gaussian_fit_predict_uses_the_weights():
    X, weights = _blobs(7)
    init = _init_arrays(X, "full")
    labels = GaussianMixture(3, **init).fit_predict(X, sample_weight=weights)
    model = GaussianMixture(3, **init).fit(X, sample_weight=weights)
    np.testing.assert_array_equal(labels, model.predict(X))


@pytest.mark.parametrize(
    "init_params", ["kmeans", "k-means++", "random", "random_from_data", "gmm"]
)
def test_gaussian_every_start_runs_with_weights_and_reaches_the_optimum(init_params):
    X, weights = _blobs(8)
    params = dict(init_params=init_params, n_init=3, tol=1e-8, random_state=0)
    repeated = GaussianMixture(3, **params).fit(np.repeat(X, weights, axis=0))
    weighted = GaussianMixture(3, **params).fit(X, sample_weight=weights)
    assert abs(weighted.lower_bound_ - repeated.lower_bound_) < 1e-6


@pytest.mark.parametrize("kind", ["numpy", "dask"])
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data"])
def test_a_zero_weight_row_never_becomes_a_centre(init_params, kind):
    rng = np.random.default_rng(9)
    X = np.vstack([rng.normal(0, 1, (300, 2)), [[500.0, 500.0]]])
    weights = np.append(np.ones(300), 0.0)
    if kind == "dask":
        X, weights = da.from_array(X, chunks=100), da.from_array(weights, chunks=100)
    for seed in range(4):
        model = GaussianMixture(
            4, init_params=init_params, max_iter=0, random_state=seed
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, sample_weight=weights)
        assert np.abs(model.means_).max() < 50


def test_the_default_start_samples_large_data_with_its_weights():
    """Above the k-means sample size the start clusters a weighted sample."""
    rng = np.random.default_rng(10)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    X = np.vstack([rng.normal(c, 1.0, (9000, 2)) for c in centres])
    # the third cluster weighs three times as much as each of the others
    weights = np.repeat([1.0, 1.0, 3.0], 9000)
    model = GaussianMixture(3, random_state=0).fit(
        da.from_array(X, chunks=5000), sample_weight=weights
    )
    order = np.argsort(model.weights_)
    np.testing.assert_allclose(model.weights_[order], [0.2, 0.2, 0.6], atol=0.01)
    np.testing.assert_allclose(model.means_[order[2]], centres[2], atol=0.05)


# ---------------------------------------------------------------- regression
def _warm_pair(x, y, **params):
    """Two estimators holding the same fitted start, set to warm-start."""
    start = RegressionMixture(2, max_iter=2, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(x, y)
    start.set_params(warm_start=True, tol=1e-9, max_iter=300)
    return copy.deepcopy(start), copy.deepcopy(start)


REGRESSION_ATTRIBUTES = ("weights_", "coef_", "intercept_", "noise_variance_")


@pytest.mark.parametrize("kind", ["numpy", "dask"])
@pytest.mark.parametrize(
    "params",
    [
        {"gating": "none"},
        {"gating": "none", "noise": "shared", "reg_weights": 0.5},
        {"gating": "gaussian"},
        {"gating": "gaussian", "covariance_type": "tied"},
    ],
    ids=["none", "none-shared-ridge", "gaussian-full", "gaussian-tied"],
)
def test_regression_integer_weights_equal_repeated_rows(params, kind):
    x, y, weights = _lines()
    weighted, repeated = _warm_pair(x, y, **params)
    repeated.fit(np.repeat(x, weights, axis=0), np.repeat(y, weights))
    if kind == "dask":
        weighted.fit(
            da.from_array(x, chunks=(80, 2)),
            da.from_array(y, chunks=80),
            sample_weight=da.from_array(weights, chunks=80),
        )
    else:
        weighted.fit(x, y, sample_weight=weights)
    assert weighted.n_iter_ > 3
    names = REGRESSION_ATTRIBUTES
    if params["gating"] == "gaussian":
        names += ("means_", "covariances_")
    _assert_same_fit(weighted, repeated, names)


def test_regression_zero_weights_equal_dropped_rows():
    x, y, _ = _lines(1)
    keep = np.random.default_rng(1).random(len(y)) < 0.6
    weighted, dropped = _warm_pair(x[keep], y[keep])
    dropped.fit(x[keep], y[keep])
    weighted.fit(x, y, sample_weight=keep.astype(float))
    _assert_same_fit(
        weighted, dropped, REGRESSION_ATTRIBUTES + ("means_", "covariances_")
    )


def test_regression_float32_keeps_float32():
    x, y, weights = _lines(2)
    model = RegressionMixture(2, random_state=0).fit(
        x.astype(np.float32), y.astype(np.float32), sample_weight=weights
    )
    for name in REGRESSION_ATTRIBUTES + ("means_", "covariances_"):
        assert getattr(model, name).dtype == np.float32, name


@pytest.mark.parametrize(
    "init_params",
    [
        "short-em",
        "kmeans",
        "k-means++",
        "random",
        "random_from_data",
        "gmm",
        "kmeans-chain",
        "kmeans-pairs",
    ],
)
@pytest.mark.parametrize("gating", ["none", "gaussian"])
def test_regression_every_start_runs_with_weights(init_params, gating):
    x, y, weights = _lines(3)
    params = dict(gating=gating, init_params=init_params, random_state=0, n_init=2)
    weighted = RegressionMixture(2, **params).fit(x, y, sample_weight=weights)
    assert np.isfinite(weighted.lower_bound_)
    if init_params == "short-em":
        # the default start finds the two lines from the weights as from repeats
        repeated = RegressionMixture(2, **params).fit(
            np.repeat(x, weights, axis=0), np.repeat(y, weights)
        )
        assert abs(weighted.lower_bound_ - repeated.lower_bound_) < 1e-4
        order = np.argsort(weighted.intercept_)
        np.testing.assert_allclose(
            weighted.coef_[order], [[-1.5, 0.5], [2.0, -1.0]], atol=0.1
        )


# ---------------------------------------------------------------- bad weights
@pytest.mark.parametrize("estimator", ["gaussian", "regression"])
@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda n: -np.ones(n), "Negative values in data passed to `sample_weight`"),
        (lambda n: np.full(n, np.nan), "sample_weight"),
        (lambda n: np.ones(n - 1), "sample_weight has"),
        (lambda n: np.ones((n, 2)), "Sample weights must be 1D"),
        (lambda n: np.zeros(n), "at least one non-zero"),
        (lambda n: np.append(np.ones(1), np.zeros(n - 1)), "non-zero values"),
    ],
    ids=["negative", "nan", "length", "2d", "all-zero", "too-few-non-zero"],
)
def test_bad_weights_raise_a_clear_error(estimator, bad, message):
    x, y, _ = _lines(4, n=40)
    weights = bad(len(y))
    with pytest.raises(ValueError, match=message):
        if estimator == "gaussian":
            GaussianMixture(2).fit(x, sample_weight=weights)
        else:
            RegressionMixture(2).fit(x, y, sample_weight=weights)


def test_dask_weights_with_numpy_X_raise_a_type_error():
    x, _, weights = _lines(5, n=40)
    with pytest.raises(TypeError, match="sample_weight is a dask array"):
        GaussianMixture(2).fit(x, sample_weight=da.from_array(weights, chunks=20))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_weighted_fits_on_a_distributed_cluster_match_numpy(client):
    """Weighted kernels and the weighted start run on worker processes."""
    X, weights = _blobs(11)
    params = dict(covariance_type="tied", max_iter=5, random_state=0)
    numpy_fit = GaussianMixture(3, **params).fit(X, sample_weight=weights)
    cluster_fit = GaussianMixture(3, **params).fit(
        da.from_array(X, chunks=130), sample_weight=da.from_array(weights, chunks=130)
    )
    assert abs(cluster_fit.lower_bound_ - numpy_fit.lower_bound_) < 1e-10
    x, y, w = _lines(12)
    params = dict(init_params="random", max_iter=5, random_state=0)
    lines = RegressionMixture(2, **params).fit(
        da.from_array(x, chunks=(120, 2)),
        da.from_array(y, chunks=120),
        sample_weight=da.from_array(w, chunks=120),
    )
    reference = RegressionMixture(2, **params).fit(x, y, sample_weight=w)
    assert abs(lines.lower_bound_ - reference.lower_bound_) < 1e-10


@pytest.mark.parametrize("kind", ["numpy", "dask"])
def test_almost_all_zero_weights_fall_back_to_a_weighted_draw(kind):
    """A uniform sample with too few weighted rows: the start draws by weight."""
    rng = np.random.default_rng(13)
    X = rng.normal(0, 1, (200_000, 2))
    weights = np.zeros(len(X))
    # 6 weighted rows in two tight groups; the 20,000-row sample of the
    # k-means start holds fewer than K of them
    picked = rng.choice(len(X), 6, replace=False)
    X[picked] = np.repeat([[20.0, 20.0], [-20.0, 20.0]], 3, axis=0)
    X[picked] += rng.normal(0, 0.1, (6, 2))
    weights[picked] = 1.0
    reference = GaussianMixture(2, random_state=0).fit(X[picked])
    if kind == "dask":
        X, weights = da.from_array(X, chunks=50_000), da.from_array(weights, 50_000)
    model = GaussianMixture(2, random_state=0).fit(X, sample_weight=weights)
    assert abs(model.lower_bound_ - reference.lower_bound_) < 1e-8


def test_regression_start_with_few_weighted_rows_in_its_sample():
    rng = np.random.default_rng(14)
    x = rng.uniform(-3, 3, (100_000, 1))
    y = rng.normal(0, 50, len(x))
    weights = np.zeros(len(x))
    picked = rng.choice(len(x), 40, replace=False)
    y[picked] = np.where(np.arange(40) < 20, 3.0, -3.0) * x[picked, 0]
    y[picked] += rng.normal(0, 0.05, 40)
    weights[picked] = 1.0
    model = RegressionMixture(2, gating="none", random_state=0).fit(
        x, y, sample_weight=weights
    )
    np.testing.assert_allclose(np.sort(model.coef_.ravel()), [-3.0, 3.0], atol=0.1)
