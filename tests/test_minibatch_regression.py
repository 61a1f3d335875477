"""Stepwise (mini-batch) EM and partial_fit for RegressionMixture."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import linear_sum_assignment

from daskmix import RegressionMixture
from daskmix._em.stepwise import (
    StepSchedule,
    StepwiseState,
    batch_blocks,
    stepwise_update,
)
from daskmix._engine.tiles import Tile
from daskmix.gaussian.params import GaussianParams, precisions_cholesky_from_covariances
from daskmix.regression.kernels import em_kernel, make_plan
from daskmix.regression.params import (
    RegressionConfig,
    RegressionParams,
    m_step,
    reframe_stats,
)

# --------------------------------------------------------------------- data


def gated_lines(n=20_000, seed=0):
    """Cluster-weighted data: three x clusters along x0, each with its line.

    Returns X (n, 2), y (n,) and the true coef (3, 2).
    """
    rng = np.random.default_rng(seed)
    means = np.array([[-6.0, 0.0], [0.0, 1.0], [6.0, -1.0]])
    coef = np.array([[1.0, -2.0], [-1.5, 0.5], [0.5, 2.0]])
    intercept = np.array([2.0, -1.0, 0.5])
    sd = np.array([0.3, 0.5, 0.4])
    labels = rng.choice(3, size=n, p=[0.45, 0.35, 0.2])
    X = means[labels] + rng.standard_normal((n, 2))
    y = np.einsum("nd,nd->n", X, coef[labels]) + intercept[labels]
    return X, y + sd[labels] * rng.standard_normal(n), coef


def mixed_lines(n=20_000, seed=0):
    """Three well-separated lines over the same x (a plain mixture)."""
    rng = np.random.default_rng(seed)
    coef = np.array([[1.0], [-0.5], [0.5]])
    intercept = np.array([-6.0, 0.0, 6.0])
    labels = rng.choice(3, size=n, p=[0.4, 0.35, 0.25])
    X = rng.uniform(-3.0, 3.0, (n, 1))
    y = X[:, 0] * coef[labels, 0] + intercept[labels]
    return X, y + 0.3 * rng.standard_normal(n), coef


DATA = {"gaussian": gated_lines, "none": mixed_lines}


def coef_distance(found: np.ndarray, truth: np.ndarray) -> float:
    """Largest distance between true slopes and their matched fitted slopes."""
    cost = np.linalg.norm(found[:, None] - truth[None], axis=2)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].max())


def mean_loglik(model, X, y) -> float:
    """Mean log-likelihood of the fitted model (joint for gating='gaussian')."""
    total, n_rows = model._total_loglik(X, y)
    return total / n_rows


@pytest.fixture(scope="module")
def gated_4k():
    X, y, coef = gated_lines(n=4000, seed=3)
    return X, y, coef


# ---------------------------------------------------------- frame changes
def _params(X, y, gating, covariance_type, shift, scale, x_center):
    K, D = 2, X.shape[1]
    halves = (X[:300], X[300:])
    means = np.array([h.mean(0) for h in halves]) + shift
    cov = {
        "full": np.stack([np.eye(D) * scale + 0.1] * K),
        "tied": np.eye(D) * scale + 0.1,
        "diag": np.full((K, D), scale),
        "spherical": np.full(K, scale),
    }[covariance_type]
    weights = np.array([0.3, 0.7])
    gate = None
    if gating == "gaussian":
        gate = GaussianParams(
            covariance_type,
            weights,
            means,
            cov,
            precisions_cholesky_from_covariances(cov, covariance_type),
        )
    return RegressionParams(
        weights=weights,
        coef=np.array([[1.0, -1.0, 0.5], [-2.0, 0.5, 1.0]]) + shift,
        intercept=np.array([3.0, -2.0]) - shift,
        noise_variance=np.array([0.5, 2.0]) * scale,
        gate=gate,
        x_center=x_center,
        noise_floor=1e-12,
    )


@pytest.mark.parametrize(
    "gating, covariance_type",
    [
        ("gaussian", "full"),
        ("gaussian", "tied"),
        ("gaussian", "diag"),
        ("gaussian", "spherical"),
        ("none", "full"),
    ],
)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("move_center", [False, True])
def test_reframe_leaves_the_m_step_unchanged(
    gating, covariance_type, fit_intercept, move_center
):
    """M-step(stats under A) == M-step(stats moved to B), far offset, ridge."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(300, 3)), 2 * rng.normal(size=(300, 3)) + 8.0])
    X += 1e3
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=600)
    y[300:] = X[300:] @ np.array([-1.0, 0.5, 2.0]) + 3.0 + rng.normal(size=300)
    config = RegressionConfig(
        gating, "component", fit_intercept, covariance_type, 0.0, reg_weights=2.0
    )
    center = X.mean(0)
    other_center = center + 0.37 if move_center else center
    old = _params(X, y, gating, covariance_type, 0.4, 1.5, center)
    other = _params(X, y, gating, covariance_type, -1.0, 0.3, other_center)
    plan = make_plan(old, config, np.float64)
    stats = em_kernel(Tile({"X": X, "y": y}), plan)
    expected = m_step(stats, old, config)
    moved = reframe_stats(stats, old, other, config)
    got = m_step(moved, other, config)
    assert_allclose(got.coef, expected.coef, rtol=1e-9, atol=1e-9)
    assert_allclose(got.intercept, expected.intercept, rtol=1e-9, atol=1e-7)
    assert_allclose(got.noise_variance, expected.noise_variance, rtol=1e-7)
    assert_allclose(got.weights, expected.weights, rtol=1e-14)
    if gating == "gaussian":
        assert_allclose(got.gate.means, expected.gate.means, rtol=1e-12)
        assert_allclose(
            got.gate.covariances, expected.gate.covariances, rtol=1e-8, atol=1e-10
        )
    # moved to the M-step's own lines, the statistics are centred on them:
    # b = A dW solves the normal equations, up to the ridge term reg * W_slopes
    refit = reframe_stats(stats, old, expected, config)
    penalty = np.full(X.shape[1] + fit_intercept, config.reg_weights)
    if fit_intercept:
        penalty[-1] = 0.0
        W_new = np.column_stack(
            [expected.coef, expected.intercept + expected.coef @ center]
        )
    else:
        W_new = expected.coef
    assert_allclose(refit["b"], penalty * W_new, atol=1e-6 * np.abs(stats["b"]).max())


@pytest.mark.parametrize("gating", ["gaussian", "none"])
def test_first_update_is_one_batch_iteration_with_ridge(gating):
    """eta = 1 on the first update: one batch EM iteration, ridge weighed alike."""
    X, y, _ = DATA[gating](n=3000, seed=1)
    common = {"n_components": 3, "gating": gating, "reg_weights": 50.0}
    start = RegressionMixture(**common, max_iter=0, random_state=0).fit(X, y)
    model = start._model(X.shape[1])
    state = StepwiseState(start._params(), n_rows=float(X.shape[0]))
    state = stepwise_update(
        model, state, batch_blocks({"X": X, "y": y}), StepSchedule(), 0.1
    )
    start.set_params(warm_start=True, max_iter=1)
    with pytest.warns(Warning):  # one iteration does not converge
        start.fit(X, y)
    assert_allclose(state.params.coef, start.coef_, rtol=1e-10, atol=1e-12)
    assert_allclose(state.params.noise_variance, start.noise_variance_, rtol=1e-10)


# ------------------------------------------------------------ minibatch fit
@pytest.mark.parametrize("gating", ["gaussian", "none"])
def test_minibatch_reaches_the_batch_optimum(gating):
    X, y, coef = DATA[gating]()
    common = {"n_components": 3, "gating": gating, "random_state": 0}
    batch = RegressionMixture(**common).fit(X, y)
    mini = RegressionMixture(**common, algorithm="minibatch", batch_size=1000).fit(X, y)
    assert mini.converged_
    assert mini.n_steps_ >= 1 and len(mini.lower_bounds_) == mini.n_steps_
    assert mean_loglik(mini, X, y) > mean_loglik(batch, X, y) - 0.01
    assert coef_distance(mini.coef_, batch.coef_) < 0.05
    assert coef_distance(mini.coef_, coef) < 0.1
    assert abs(mini.lower_bound_ - mean_loglik(mini, X, y)) < 0.05


@pytest.mark.parametrize("gating", ["gaussian", "none"])
def test_data_sorted_by_x_finds_every_line(gating):
    """Rows sorted by x0, 24 dask blocks: each block sees one region of x."""
    X, y, coef = DATA[gating](n=24_000, seed=7)
    order = np.argsort(X[:, 0], kind="stable")
    X_sorted = da.from_array(X[order], chunks=(1000, X.shape[1]))
    y_sorted = da.from_array(y[order], chunks=1000)
    with dask.config.set(scheduler="threads"):
        mini = RegressionMixture(
            3, gating=gating, algorithm="minibatch", batch_size=500, random_state=0
        ).fit(X_sorted, y_sorted)
    assert coef_distance(mini.coef_, coef) < 0.15
    assert mini.weights_.min() > 0.1


def test_minibatch_is_reproducible(gated_4k):
    X, y, _ = gated_4k
    kwargs = {"algorithm": "minibatch", "batch_size": 200, "random_state": 5}
    first = RegressionMixture(3, **kwargs).fit(X, y)
    second = RegressionMixture(3, **kwargs).fit(X, y)
    assert_array_equal(first.coef_, second.coef_)
    assert_array_equal(first.covariances_, second.covariances_)
    assert first.lower_bounds_ == second.lower_bounds_
    other = RegressionMixture(3, **{**kwargs, "random_state": 6}).fit(X, y)
    assert other.lower_bounds_ != first.lower_bounds_


def test_minibatch_same_on_cluster_as_on_threads(gated_4k, client):
    X, y, _ = gated_4k
    X_dask = da.from_array(X, chunks=(250, 2))  # 16 blocks: batches read 8
    y_dask = da.from_array(y, chunks=250)
    kwargs = {"algorithm": "minibatch", "batch_size": 200, "random_state": 2}
    on_cluster = RegressionMixture(3, **kwargs).fit(X_dask, y_dask)
    with dask.config.set(scheduler="threads"):
        on_threads = RegressionMixture(3, **kwargs).fit(X_dask, y_dask)
    assert on_cluster.n_steps_ == on_threads.n_steps_
    assert_allclose(on_cluster.coef_, on_threads.coef_, rtol=1e-12)
    assert_allclose(on_cluster.covariances_, on_threads.covariances_, rtol=1e-12)
    assert_allclose(on_cluster.noise_variance_, on_threads.noise_variance_, rtol=1e-12)


def test_warm_start_n_init_and_max_iter_zero(gated_4k):
    X, y, _ = gated_4k
    kwargs = {"algorithm": "minibatch", "batch_size": 200, "random_state": 0}
    single = RegressionMixture(3, **kwargs).fit(X, y)
    several = RegressionMixture(3, n_init=3, **kwargs).fit(X, y)
    # restarts are compared by their exact mean log-likelihood (one shared
    # pass), which the kept run reports; the first restart is the single run
    np.testing.assert_allclose(
        several.lower_bound_, mean_loglik(several, X, y), rtol=1e-12
    )
    assert mean_loglik(several, X, y) >= mean_loglik(single, X, y) - 1e-12
    warm = RegressionMixture(3, warm_start=True, **kwargs).fit(X, y)
    coef = warm.coef_.copy()
    warm.fit(X, y)
    assert coef_distance(warm.coef_, coef) < 0.1
    assert RegressionMixture(3, max_iter=0, **kwargs).fit(X, y).n_steps_ == 0


@pytest.mark.parametrize(
    "params",
    [
        {"batch_size": 0},
        {"learning_decay": 0.5},
        {"learning_offset": -1.0},
        {"max_no_improvement": 0},
        {"algorithm": "online"},
    ],
)
def test_bad_minibatch_parameters(gated_4k, params):
    X, y, _ = gated_4k
    with pytest.raises(ValueError):
        RegressionMixture(2, **{"algorithm": "minibatch", **params}).fit(X, y)


def test_batch_size_larger_than_data_is_clipped(gated_4k):
    X, y, _ = gated_4k
    with pytest.warns(UserWarning, match="batch_size=10000 is larger than n_samples"):
        model = RegressionMixture(
            3, algorithm="minibatch", batch_size=10_000, random_state=0
        ).fit(X[:1000], y[:1000])
    assert model.converged_


# -------------------------------------------------------------- partial_fit
@pytest.mark.parametrize("gating", ["gaussian", "none"])
def test_partial_fit_on_consecutive_chunks_gets_close_to_batch(gating):
    X, y, coef = DATA[gating](n=20_000, seed=4)  # shuffled: rows are iid
    batch = RegressionMixture(3, gating=gating, random_state=0).fit(X, y)
    model = RegressionMixture(3, gating=gating, random_state=0)
    for start in range(0, 12_000, 1000):
        model.partial_fit(X[start : start + 1000], y[start : start + 1000])
    for start in range(12_000, 20_000, 2000):
        stop = start + 2000
        model.partial_fit(
            da.from_array(X[start:stop], chunks=(500, X.shape[1])),
            da.from_array(y[start:stop], chunks=500),
        )
    assert model.n_steps_ == 16 and model.n_iter_ == 16
    assert model.n_features_in_ == X.shape[1]
    assert mean_loglik(model, X, y) > mean_loglik(batch, X, y) - 0.02
    assert coef_distance(model.coef_, coef) < 0.1
    # float32 blocks after float64 ones continue the same model (the frame
    # centre is rounded to float32 and the running statistics moved with it)
    model.partial_fit(X[:2000].astype(np.float32), y[:2000])
    assert coef_distance(model.coef_, coef) < 0.1
    assert mean_loglik(model, X, y) > mean_loglik(batch, X, y) - 0.02


def test_partial_fit_continues_a_fit(gated_4k):
    X, y, _ = gated_4k
    model = RegressionMixture(3, random_state=0).fit(X, y)
    before = model.coef_.copy()
    model.partial_fit(X[:1000], y[:1000])
    assert model.n_steps_ == 1
    assert coef_distance(model.coef_, before) < 0.1


def test_partial_fit_feature_mismatch(gated_4k):
    X, y, _ = gated_4k
    model = RegressionMixture(3, random_state=0).partial_fit(X[:500], y[:500])
    with pytest.raises(ValueError, match="2 features"):
        model.partial_fit(X[:500, :1], y[:500])
    with pytest.raises(ValueError, match="2 features"):
        model.partial_fit(
            da.from_array(X[:500, :1], chunks=100), da.from_array(y[:500], chunks=100)
        )
    with pytest.raises(ValueError, match="y"):
        model.partial_fit(X[:500])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.partial_fit(X[:500], y[:400])


def test_partial_fit_first_batch_too_small():
    with pytest.raises(ValueError, match="n_components"):
        RegressionMixture(5).partial_fit(np.zeros((3, 2)), np.zeros(3))
