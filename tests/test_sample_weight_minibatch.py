"""sample_weight in stepwise EM: ``partial_fit`` and ``algorithm='minibatch'``.

A weighted batch's statistics are weighted sums divided by the batch's
summed weight, so a ``partial_fit`` call with integer weights is the update
of its rows repeated, call after call; a minibatch fit with weights ends
where the weighted batch fit ends, up to the stepwise noise.
"""

from __future__ import annotations

import copy
import warnings

import dask.array as da
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from daskmix import GaussianMixture, RegressionMixture
from daskmix._em.stepwise import StepSchedule, stepwise_update, warm_up_rows
from daskmix._engine.rows import RowBlocks

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
GAUSSIAN_ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_")
REGRESSION_ATTRIBUTES = ("weights_", "coef_", "intercept_", "noise_variance_")
ATOL = 1e-10


def _blobs(seed=0, n=(300, 200, 150)):
    rng = np.random.default_rng(seed)
    X = np.vstack(
        [
            rng.normal([0, 0, 0], 1.0, (n[0], 3)),
            rng.normal([6, 6, 0], [1.0, 0.5, 2.0], (n[1], 3)),
            rng.normal([0, 7, 4], 0.7, (n[2], 3)),
        ]
    )
    return X, rng.integers(0, 4, len(X))


def _lines(seed=0, n=400):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, (n, 2))
    first = rng.random(n) < 0.5
    y = np.where(first, x @ [2.0, -1.0] + 1.0, x @ [-1.5, 0.5] - 2.0)
    return x, y + rng.normal(0, 0.3, n), rng.integers(0, 4, n)


def _quiet_fit(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


def _init_arrays(X, covariance_type):
    start = _quiet_fit(
        GaussianMixture(3, covariance_type=covariance_type, max_iter=2, random_state=0),
        X,
    )
    return {
        "weights_init": start.weights_,
        "means_init": start.means_,
        "precisions_init": start.precisions_,
    }


def _assert_same(a, b, names, atol=ATOL):
    for name in names:
        np.testing.assert_allclose(
            getattr(a, name), getattr(b, name), rtol=1e-9, atol=atol, err_msg=name
        )


def _weighted_mean_loglik(model, X, weights, y=None):
    scores = model.score_samples(X) if y is None else model.score_samples(X, y)
    return float(np.sum(weights * scores) / np.sum(weights))


def _as(kind, *arrays, chunks=170):
    if kind == "numpy":
        return arrays
    return tuple(da.from_array(a, chunks=(chunks,) + a.shape[1:]) for a in arrays)


# ------------------------------------------------ partial_fit: repeated rows
@pytest.mark.parametrize("kind", ["numpy", "dask"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_partial_fit_integer_weights_equal_repeated_rows(
    covariance_type, kind
):
    X, weights = _blobs()
    params = dict(covariance_type=covariance_type, **_init_arrays(X, covariance_type))
    weighted, repeated = GaussianMixture(3, **params), GaussianMixture(3, **params)
    halves = np.array_split(np.arange(len(X)), [400])
    for rows in (np.arange(len(X)), *halves):
        weighted.partial_fit(
            *_as(kind, X[rows]), sample_weight=_as(kind, weights[rows])[0]
        )
        repeated.partial_fit(np.repeat(X[rows], weights[rows], axis=0))
        _assert_same(weighted, repeated, GAUSSIAN_ATTRIBUTES)
        assert abs(weighted.lower_bound_ - repeated.lower_bound_) < ATOL
    assert weighted.n_steps_ == 3
    assert weighted._stepwise_state.n_rows == weights.sum() + weights.sum()


@pytest.mark.parametrize("kind", ["numpy", "dask"])
@pytest.mark.parametrize(
    "params",
    [
        {"gating": "none"},
        {"gating": "none", "noise": "shared", "reg_weights": 5.0},
        {"gating": "gaussian"},
    ],
    ids=["none", "none-shared-ridge", "gaussian"],
)
def test_regression_partial_fit_integer_weights_equal_repeated_rows(params, kind):
    x, y, weights = _lines()
    start = _quiet_fit(RegressionMixture(2, max_iter=2, random_state=0, **params), x, y)
    weighted, repeated = copy.deepcopy(start), copy.deepcopy(start)
    names = REGRESSION_ATTRIBUTES
    if params["gating"] == "gaussian":
        names += ("means_", "covariances_")
    for rows in np.array_split(np.arange(len(y)), [250]):
        xw, yw, ww = _as(kind, x[rows], y[rows], weights[rows], chunks=90)
        weighted.partial_fit(xw, yw, sample_weight=ww)
        repeated.partial_fit(
            np.repeat(x[rows], weights[rows], axis=0), np.repeat(y[rows], weights[rows])
        )
        _assert_same(weighted, repeated, names)
        assert abs(weighted.lower_bound_ - repeated.lower_bound_) < ATOL


def test_partial_fit_first_call_initialises_with_the_weights():
    """The first call's start and update are weighted (one full batch)."""
    X, weights = _blobs(1)
    params = dict(init_params="k-means++", random_state=0)
    model = GaussianMixture(3, **params).partial_fit(X, sample_weight=weights)
    assert model.n_steps_ == 1
    assert model._stepwise_state.n_rows == weights.sum()
    ones = GaussianMixture(3, **params).partial_fit(X, sample_weight=np.ones(len(X)))
    plain = GaussianMixture(3, **params).partial_fit(X)
    _assert_same(ones, plain, GAUSSIAN_ATTRIBUTES, atol=1e-9)
    assert not np.allclose(model.means_, plain.means_)


def test_partial_fit_zero_weight_rows_change_nothing():
    X, _ = _blobs(2)
    keep = np.random.default_rng(2).random(len(X)) < 0.7
    X = np.vstack([X, [[1e6, -1e6, 1e6]]])
    keep = np.append(keep, False)
    params = _init_arrays(X[keep], "full")
    weighted = GaussianMixture(3, **params).partial_fit(X, sample_weight=keep * 1.0)
    dropped = GaussianMixture(3, **params).partial_fit(X[keep])
    _assert_same(weighted, dropped, GAUSSIAN_ATTRIBUTES)


@pytest.mark.parametrize("kind", ["numpy", "dask"])
def test_partial_fit_float32_keeps_float32(kind):
    X, weights = _blobs(3)
    (Xf,) = _as(kind, X.astype(np.float32))
    (wf,) = _as(kind, weights.astype(np.float32))
    model = GaussianMixture(3, random_state=0)
    model.partial_fit(Xf, sample_weight=wf).partial_fit(Xf, sample_weight=wf)
    for name in GAUSSIAN_ATTRIBUTES:
        assert getattr(model, name).dtype == np.float32, name
    x, y, w = _lines(3)
    xf, yf, wf = _as(kind, x.astype(np.float32), y.astype(np.float32), w * 1.0)
    lines = RegressionMixture(2, random_state=0).partial_fit(xf, yf, sample_weight=wf)
    for name in REGRESSION_ATTRIBUTES:
        assert getattr(lines, name).dtype == np.float32, name


@pytest.mark.parametrize("estimator", ["gaussian", "regression"])
@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda n: -np.ones(n), "Negative values in data passed to `sample_weight`"),
        (lambda n: np.ones(n - 1), "sample_weight has"),
        (lambda n: np.zeros(n), "at least one non-zero"),
        (lambda n: np.append(np.ones(1), np.zeros(n - 1)), "sample_weight has 1"),
    ],
    ids=["negative", "length", "all-zero", "too-few-non-zero"],
)
def test_partial_fit_bad_weights_raise(estimator, bad, message):
    x, y, _ = _lines(4, n=40)
    weights = bad(len(y))
    model = GaussianMixture(2) if estimator == "gaussian" else RegressionMixture(2)
    args = (x,) if estimator == "gaussian" else (x, y)
    with pytest.raises(ValueError, match=message):
        model.partial_fit(*args, sample_weight=weights)
    assert not hasattr(model, "weights_")
    if message != "sample_weight has 1":
        # later calls validate the weights as well
        model.partial_fit(*args)
        before = model.means_.copy() if estimator == "gaussian" else model.coef_.copy()
        with pytest.raises(ValueError, match=message):
            model.partial_fit(*args, sample_weight=weights)
        after = model.means_ if estimator == "gaussian" else model.coef_
        np.testing.assert_array_equal(after, before)


# ------------------------------------------------------------ minibatch fit
@pytest.mark.parametrize("kind", ["numpy", "dask"])
def test_gaussian_minibatch_reaches_the_weighted_batch_optimum(kind):
    X, weights = _blobs(5, n=(3000, 2000, 1500))
    batch = GaussianMixture(3, random_state=0).fit(X, sample_weight=weights)
    Xk, wk = _as(kind, X, weights, chunks=1000)
    mini = _quiet_fit(
        GaussianMixture(3, algorithm="minibatch", batch_size=500, random_state=0),
        Xk,
        sample_weight=wk,
    )
    exact = _weighted_mean_loglik(mini, X, weights)
    assert abs(exact - batch.lower_bound_) < 5e-3
    # the smoothed bound is a moving mean of weighted batch means
    assert abs(mini.lower_bound_ - batch.lower_bound_) < 0.05
    order = np.argsort(mini.means_[:, 0] + 10 * mini.means_[:, 1])
    reference = np.argsort(batch.means_[:, 0] + 10 * batch.means_[:, 1])
    np.testing.assert_allclose(mini.means_[order], batch.means_[reference], atol=0.1)


def test_gaussian_minibatch_restarts_report_the_weighted_mean_loglik():
    X, weights = _blobs(6, n=(3000, 2000, 1500))
    mini = _quiet_fit(
        GaussianMixture(
            3, algorithm="minibatch", batch_size=400, n_init=2, random_state=0
        ),
        X,
        sample_weight=weights,
    )
    assert abs(mini.lower_bound_ - _weighted_mean_loglik(mini, X, weights)) < 1e-9


def test_regression_minibatch_reaches_the_weighted_batch_optimum():
    x, y, weights = _lines(7, n=6000)
    params = dict(gating="none", random_state=0)
    batch = RegressionMixture(2, **params).fit(x, y, sample_weight=weights)
    mini = _quiet_fit(
        RegressionMixture(2, algorithm="minibatch", batch_size=500, **params),
        x,
        y,
        sample_weight=weights,
    )
    exact = _weighted_mean_loglik(mini, x, weights, y)
    assert abs(exact - batch.lower_bound_) < 5e-3
    np.testing.assert_allclose(
        np.sort(mini.coef_[:, 0]), np.sort(batch.coef_[:, 0]), atol=0.05
    )


@pytest.mark.parametrize("kind", ["numpy", "dask"])
def test_minibatch_zero_weight_outliers_are_ignored(kind):
    X, _ = _blobs(8, n=(3000, 2000, 1500))
    outliers = np.random.default_rng(8).normal(1e6, 1.0, (40, 3))
    Xo = np.vstack([X, outliers])
    weights = np.append(np.ones(len(X)), np.zeros(len(outliers)))
    params = dict(algorithm="minibatch", batch_size=500, random_state=0)
    clean = _quiet_fit(GaussianMixture(3, **params), X)
    Xk, wk = _as(kind, Xo, weights, chunks=1000)
    weighted = _quiet_fit(GaussianMixture(3, **params), Xk, sample_weight=wk)
    assert np.all(np.abs(weighted.means_) < 20)
    order = np.argsort(weighted.means_[:, 0] + 10 * weighted.means_[:, 1])
    reference = np.argsort(clean.means_[:, 0] + 10 * clean.means_[:, 1])
    np.testing.assert_allclose(
        weighted.means_[order], clean.means_[reference], atol=0.1
    )
    assert abs(weighted.score(X) - clean.score(X)) < 5e-3


@pytest.mark.parametrize("kind", ["numpy", "dask"])
def test_minibatch_with_batches_of_zero_weight_stays_finite(kind):
    """Most batches hold no weighted row: they are skipped, never NaN."""
    rng = np.random.default_rng(9)
    X = rng.normal(0, 1, (20_000, 2))
    weights = np.zeros(len(X))
    picked = rng.choice(len(X), 60, replace=False)
    X[picked] = np.repeat([[10.0, 10.0], [-10.0, 10.0]], 30, axis=0)
    X[picked] += rng.normal(0, 0.5, (60, 2))
    weights[picked] = 1.0
    Xk, wk = _as(kind, X, weights, chunks=5000)
    model = _quiet_fit(
        GaussianMixture(2, algorithm="minibatch", batch_size=16, random_state=0),
        Xk,
        sample_weight=wk,
    )
    state = model._stepwise_state
    assert 0 < state.n_steps < state.n_batches  # zero-weight batches skipped
    assert np.isfinite(model.lower_bound_)
    assert np.all(np.isfinite(model.lower_bounds_))
    for name in GAUSSIAN_ATTRIBUTES:
        assert np.all(np.isfinite(getattr(model, name))), name
    np.testing.assert_allclose(np.sort(model.means_[:, 0]), [-10.0, 10.0], atol=0.5)


def test_a_batch_of_zero_weight_is_skipped():
    X, _ = _blobs(10)
    model = GaussianMixture(3, random_state=0).partial_fit(X)
    gaussian = model._model(3)
    state = copy.deepcopy(model._stepwise_state)
    before = copy.deepcopy(state)
    batch = RowBlocks({"X": X[:50], "weight": np.zeros(50)})
    stepwise_update(gaussian, state, batch, StepSchedule(), 0.1, count_rows=True)
    assert state.n_batches == before.n_batches + 1
    assert (state.n_steps, state.n_rows) == (before.n_steps, before.n_rows)
    assert state.params is before.params or np.array_equal(
        state.params.means, before.params.means
    )
    assert state.lower_bounds == before.lower_bounds


def test_minibatch_float32_keeps_float32():
    X, weights = _blobs(11, n=(1500, 1000, 800))
    model = _quiet_fit(
        GaussianMixture(3, algorithm="minibatch", batch_size=300, random_state=0),
        *_as("dask", X.astype(np.float32)),
        sample_weight=weights.astype(np.float32),
    )
    for name in GAUSSIAN_ATTRIBUTES:
        assert getattr(model, name).dtype == np.float32, name
    x, y, w = _lines(11, n=3000)
    lines = _quiet_fit(
        RegressionMixture(2, algorithm="minibatch", batch_size=300, random_state=0),
        x.astype(np.float32),
        y.astype(np.float32),
        sample_weight=w,
    )
    for name in REGRESSION_ATTRIBUTES:
        assert getattr(lines, name).dtype == np.float32, name


def test_minibatch_without_weights_is_unchanged_by_unit_weights():
    """None runs the unweighted code; unit weights the weighted kernel on the
    same batches from the same start: the same fit to rounding."""
    X, _ = _blobs(12, n=(1500, 1000, 800))
    params = dict(algorithm="minibatch", batch_size=300, random_state=0, n_init=2)
    plain = _quiet_fit(GaussianMixture(3, **params), X)
    none = _quiet_fit(GaussianMixture(3, **params), X, sample_weight=None)
    for name in GAUSSIAN_ATTRIBUTES:
        np.testing.assert_array_equal(getattr(none, name), getattr(plain, name))
    assert none.lower_bounds_ == plain.lower_bounds_
    assert none.lower_bound_ == plain.lower_bound_
    params = dict(params, n_init=1, **_init_arrays(X, "full"))
    plain = _quiet_fit(GaussianMixture(3, **params), X)
    ones = _quiet_fit(GaussianMixture(3, **params), X, sample_weight=np.ones(len(X)))
    assert ones.n_steps_ == plain.n_steps_
    _assert_same(ones, plain, GAUSSIAN_ATTRIBUTES, atol=1e-8)
    np.testing.assert_allclose(ones.lower_bounds_, plain.lower_bounds_, atol=1e-8)


def test_the_warm_up_holds_enough_weighted_rows():
    rng = np.random.default_rng(13)
    X = rng.normal(0, 1, (50_000, 2))
    weights = (rng.random(len(X)) < 0.1).astype(float)
    data = RowBlocks({"X": X, "weight": weights})
    plain = warm_up_rows(data.without("weight"), 100, np.random.RandomState(0))
    assert plain.n_samples == 1000
    rows = warm_up_rows(data, 100, np.random.RandomState(0))
    assert np.count_nonzero(rows.weight) > 800
    # weights almost all zero: the warm-up is every row
    sparse = RowBlocks({"X": X, "weight": (np.arange(len(X)) < 300).astype(float)})
    assert warm_up_rows(sparse, 100, np.random.RandomState(0)) is sparse


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_weighted_minibatch_on_a_distributed_cluster_matches_threads(client):
    """The weights travel with the batches' rows read on worker processes."""
    import dask

    X, weights = _blobs(14, n=(1500, 1000, 800))
    Xd = da.from_array(X, chunks=(600, 3))
    wd = da.from_array(weights * 1.0, chunks=600)
    params = dict(algorithm="minibatch", batch_size=256, random_state=0, max_iter=3)
    on_cluster = GaussianMixture(3, **params).fit(Xd, sample_weight=wd)
    with dask.config.set(scheduler="threads"):
        on_threads = GaussianMixture(3, **params).fit(Xd, sample_weight=wd)
    _assert_same(on_cluster, on_threads, GAUSSIAN_ATTRIBUTES, atol=1e-10)
    assert on_cluster.lower_bounds_ == pytest.approx(
        on_threads.lower_bounds_, abs=1e-10
    )


def test_regression_minibatch_restarts_report_the_weighted_mean_loglik():
    x, y, weights = _lines(15, n=3000)
    mini = _quiet_fit(
        RegressionMixture(
            2, gating="none", algorithm="minibatch", batch_size=300, n_init=2
        ).set_params(random_state=0),
        x,
        y,
        sample_weight=weights,
    )
    exact = _weighted_mean_loglik(mini, x, weights, y)
    assert abs(mini.lower_bound_ - exact) < 1e-9
