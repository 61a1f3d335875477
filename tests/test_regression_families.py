"""RegressionMixture's Poisson and binomial families, logistic gate and inference.

References: R's flexmix (tests/data/flexmix_*.json, written by
benchmarks/flexmix_reference.R), closed forms for one component, direct
log-likelihoods with scipy.stats.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import special, stats

from daskmix import RegressionMixture, RegressionMixtureIC
from daskmix._engine.tiles import Tile
from daskmix.regression.gates import LogisticGateParams
from daskmix.regression.kernels import em_kernel, make_plan
from daskmix.regression.params import (
    RegressionParams,
    m_step,
    reframe_stats,
)

DATA = Path(__file__).parent / "data"


# --------------------------------------------------------------------- data
def poisson_data(n=1500, seed=0, exposure=False):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 4, n)
    second = rng.random(n) < 0.4
    eta = np.where(second, 2.0 - 0.4 * x, 0.2 + 0.3 * x)
    t = rng.uniform(0.5, 3.0, n) if exposure else np.ones(n)
    return np.c_[x, t], rng.poisson(t * np.exp(eta)).astype(float)


def binomial_data(n=1200, trials=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, n)
    second = rng.random(n) < 0.5
    p = special.expit(np.where(second, 1.0 - 0.8 * x, -1.0 + 0.8 * x))
    successes = rng.binomial(trials, p).astype(float)
    return x[:, None], np.c_[successes, trials - successes]


def experts_data(n=1500, seed=0):
    """y ~ x in two lines; the gate is a logistic function of a covariate z."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    z = rng.standard_normal(n)
    second = rng.random(n) < special.expit(-0.5 + 2.0 * z)
    y = np.where(second, 10 - 0.8 * x, 2 + x) + rng.standard_normal(n)
    return np.c_[x, z], y


def experts(**kwargs):
    params = dict(gating="logistic", expert_features=[0], gate_features=[1])
    return RegressionMixture(2, random_state=0, **{**params, **kwargs})


def _match(coef, truth):
    """``coef`` rows reordered to the nearest rows of ``truth``."""
    order = [int(np.argmin(np.abs(coef - row).sum(axis=1))) for row in truth]
    return coef[order]


# ----------------------------------------------------------- flexmix's fits
def _flexmix_case(case):
    reference = json.loads((DATA / f"flexmix_{case}.json").read_text())
    data = reference["data"]
    x = np.asarray(data["x"], float)
    kwargs = {"gating": "none"}
    if case == "poisson":
        X, y = x[:, None], np.asarray(data["yp"], float)
        kwargs["family"] = "poisson"
    elif case == "gaussian":
        X, y = np.c_[x, x**2], np.asarray(data["yn"], float)
    elif case == "binomial":
        X, y = x[:, None], np.c_[data["successes"], data["failures"]]
        kwargs["family"] = "binomial"
    else:
        X, y = np.c_[x, data["z"]], np.asarray(data["y"], float)
        kwargs = dict(gating="logistic", expert_features=[0], gate_features=[1])
    return reference, X, y, kwargs


def _refit_values(reference, key, k):
    prefix = f"model.1_Comp.{k}_"
    return [v for name, v in reference[key].items() if name.startswith(prefix)]


@pytest.mark.parametrize("case", ["poisson", "gaussian", "binomial", "experts"])
def test_matches_flexmix(case):
    """Log-likelihood, coefficients and refit()'s standard errors of flexmix."""
    reference, X, y, kwargs = _flexmix_case(case)
    model = RegressionMixture(
        2, n_init=2, tol=1e-10, max_iter=3000, random_state=0, **kwargs
    ).fit(X, y)
    best = max(reference["loglik"], reference["refit_loglik"])
    assert model.score_samples(X, y).sum() > best - 0.01
    table = model.summary(X, y)
    lines = np.c_[model.intercept_, model.coef_]
    theirs = np.array([_refit_values(reference, "refit_coef", k) for k in (1, 2)])
    theirs = theirs[:, : lines.shape[1]]
    order = [int(np.argmin(np.abs(lines - row).sum(axis=1))) for row in theirs]
    assert_allclose(lines[order], theirs, atol=1e-4, rtol=0)
    their_se = np.array([_refit_values(reference, "refit_se", k) for k in (1, 2)])
    for k, se in zip(order, their_se):
        rows = table[table.component == k]
        line = rows[rows.parameter.isin(["intercept", "x0", "x1"])]
        assert_allclose(line.std_error, se[: len(line)], rtol=0.02)
        variance = rows[rows.parameter == "noise_variance"]
        if len(variance):  # flexmix's log(sigma)
            log_sigma_se = variance.std_error.iloc[0] / (2 * variance.estimate.iloc[0])
            assert log_sigma_se == pytest.approx(se[len(line)], rel=0.02)
    gate_se = [v for name, v in reference["refit_se"].items() if "concomitant" in name]
    if model.gating == "none":
        weight = table[table.parameter == "weight"].std_error.iloc[0]
        assert weight / np.prod(model.weights_) == pytest.approx(gate_se[0], rel=0.02)
    else:
        gate = table[table.parameter.str.startswith("gate:")]
        assert_allclose(gate.std_error, gate_se, rtol=0.02)


def test_one_trial_binomial_warns_and_has_no_standard_errors():
    reference = json.loads((DATA / "flexmix_onetrial.json").read_text())
    assert "singular" in reference["refit_error"]
    X = np.asarray(reference["data"]["x"], float)[:, None]
    y = np.asarray(reference["data"]["yb"], float)
    with pytest.warns(UserWarning, match="not identifiable"):
        model = RegressionMixture(
            2, gating="none", family="binomial", max_iter=30, random_state=0
        ).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.warns(UserWarning, match="not identifiable"):
            table = model.summary(X, y)
    assert table.std_error.isna().all()
    # one component is identifiable: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        RegressionMixture(1, gating="none", family="binomial").fit(X, y)


# ------------------------------------------------------- closed forms, K = 1
def test_one_component_standard_errors_are_the_glm_ones():
    """K = 1: the observed information is the GLM's (OLS's with the ML variance)."""
    X, y = poisson_data(600, seed=3)
    x = X[:, :1]
    model = RegressionMixture(
        1, gating="none", family="poisson", tol=1e-12, max_iter=500
    ).fit(x, y)
    design = np.c_[np.ones(len(x)), x]
    mu = np.exp(design @ np.r_[model.intercept_, model.coef_[0]])
    expected = np.sqrt(np.diag(np.linalg.inv(design.T @ (design * mu[:, None]))))
    table = model.summary(x, y)
    assert_allclose(table.std_error[:2], expected, rtol=1e-6)
    assert np.isnan(table.z[2]) and table.parameter[2] == "weight"
    # Gaussian: sigma^2 (X^T X)^-1 and se(sigma^2) = sigma^2 sqrt(2 / n)
    rng = np.random.default_rng(0)
    yn = 1.0 + 2.0 * x[:, 0] + rng.standard_normal(len(x))
    model = RegressionMixture(
        1, gating="none", tol=1e-12, reg_covar=0.0, max_iter=50
    ).fit(x, yn)
    variance = model.noise_variance_[0]
    table = model.summary(x, yn)
    expected = np.sqrt(np.diag(variance * np.linalg.inv(design.T @ design)))
    assert_allclose(table.std_error[:2], expected, rtol=1e-6)
    assert table.std_error[2] == pytest.approx(variance * np.sqrt(2 / len(x)))


# ----------------------------------------------------- likelihood and outputs
@pytest.mark.parametrize("family_name", ["poisson", "binomial"])
def test_score_samples_is_the_direct_mixture_likelihood(family_name):
    if family_name == "poisson":
        X, y = poisson_data(400)
        X = X[:, :1]
    else:
        X, y = binomial_data(400)
    model = RegressionMixture(
        2, gating="none", family=family_name, random_state=0, max_iter=20
    ).fit(X, y)
    eta = model.intercept_ + X @ model.coef_.T
    if family_name == "poisson":
        dens = stats.poisson.pmf(y[:, None], np.exp(eta))
    else:
        dens = stats.binom.pmf(y[:, :1], y.sum(axis=1)[:, None], special.expit(eta))
    direct = np.log(dens @ model.weights_)
    assert_allclose(model.score_samples(X, y), direct, rtol=1e-10)
    n_params = 2 * 2 + 1
    assert model.bic(X, y) == pytest.approx(
        -2 * direct.sum() + n_params * np.log(len(X))
    )
    mean = model.predict(X)
    if family_name == "poisson":
        assert_allclose(mean, np.exp(eta) @ model.weights_)
    else:
        assert_allclose(mean, special.expit(eta) @ model.weights_)
        assert np.isfinite(model.score(X, y))


def test_logistic_gate_outputs():
    X, y = experts_data(800)
    model = experts(max_iter=30).fit(X, y)
    z = np.c_[np.ones(len(X)), X[:, 1]]
    logits = z @ np.c_[model.gate_intercept_, model.gate_coef_].T
    gate = special.softmax(logits, axis=1)
    assert_allclose(model.component_proba(X), gate, rtol=1e-10)
    lines = model.intercept_ + X[:, :1] @ model.coef_.T
    assert_allclose(model.predict(X), (gate * lines).sum(axis=1), rtol=1e-10)
    dens = stats.norm.pdf(y[:, None], lines, np.sqrt(model.noise_variance_))
    assert_allclose(model.score_samples(X, y), np.log((gate * dens).sum(1)))
    post = model.component_proba(X, y)
    assert_allclose(post, gate * dens / (gate * dens).sum(1, keepdims=True))
    assert_array_equal_labels(model.predict_component(X, y), post.argmax(1))
    assert_array_equal_labels(model.predict_component(X), gate.argmax(1))
    # lines: 2 x 2, noises: 2, gate: (K - 1) x (1 + 1)
    assert model._n_parameters() == 8
    assert model.gate_coef_[0, 0] == 0.0 and model.gate_intercept_[0] == 0.0


def assert_array_equal_labels(got, expected):
    assert got.dtype.kind == "i"
    np.testing.assert_array_equal(got, expected)


def test_recovers_experts_and_counts():
    X, y = experts_data()
    model = experts().fit(X, y)
    lines = _match(np.c_[model.intercept_, model.coef_], [[2, 1], [10, -0.8]])
    assert_allclose(lines, [[2, 1], [10, -0.8]], atol=0.15)
    second = np.argmin(np.abs(model.intercept_ - 10))
    sign = 1.0 if second == 1 else -1.0
    gate = sign * np.r_[model.gate_intercept_[1], model.gate_coef_[1, 0]]
    assert_allclose(gate, [-0.5, 2.0], atol=0.3)
    X, y = poisson_data(exposure=True)
    model = RegressionMixture(
        2, gating="none", family="poisson", exposure_feature=1, random_state=0
    ).fit(X, y)
    assert model.coef_.shape == (2, 1)
    lines = _match(np.c_[model.intercept_, model.coef_], [[2, -0.4], [0.2, 0.3]])
    assert_allclose(lines, [[2, -0.4], [0.2, 0.3]], atol=0.12)
    # the exposure scales the mean
    doubled = X.copy()
    doubled[:, 1] *= 2
    assert_allclose(model.predict(doubled), 2 * model.predict(X), rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, data",
    [
        (dict(family="poisson", gating="logistic"), "poisson"),
        (dict(family="binomial", gating="none"), "binomial"),
        (dict(gating="logistic"), "experts"),
    ],
)
def test_generalised_em_never_decreases_the_likelihood(kwargs, data):
    if data == "poisson":
        X, y = poisson_data(800, seed=1)
        X = X[:, :1]
    elif data == "binomial":
        X, y = binomial_data(800, seed=1)
    else:
        X, y = experts_data(800, seed=1)
    model = RegressionMixture(
        3, init_params="random", tol=0, max_iter=40, random_state=2, **kwargs
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    bounds = np.asarray(model.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))


def test_dask_cluster_and_weights(client):
    X, y = experts_data(600, seed=2)
    weight = np.random.default_rng(0).integers(0, 3, len(X)).astype(float)
    common = dict(max_iter=3, tol=0, init_params="random")
    numpy_fit = experts(**common).fit(X, y, sample_weight=weight)
    Xd = da.from_array(X, chunks=(300, 2))
    yd = da.from_array(y, chunks=300)
    wd = da.from_array(weight, chunks=300)
    dask_fit = experts(**common).fit(Xd, yd, sample_weight=wd)
    for name in ("coef_", "intercept_", "gate_coef_", "gate_intercept_", "weights_"):
        assert_allclose(getattr(dask_fit, name), getattr(numpy_fit, name), rtol=1e-9)
    proba = dask_fit.component_proba(Xd)
    assert isinstance(proba, da.Array)
    assert_allclose(proba.compute(), numpy_fit.component_proba(X), rtol=1e-9)


def test_weights_count_as_repeated_rows():
    X, y = poisson_data(600, seed=2)
    weight = np.random.default_rng(0).integers(0, 3, len(X)).astype(float)
    repeated = np.repeat(np.arange(len(X)), weight.astype(int))
    model = RegressionMixture(
        2, gating="logistic", family="poisson", exposure_feature=1, random_state=0
    ).fit(X, y, sample_weight=weight)
    plan = make_plan(model._params(), model._config(2), np.float64)
    weighted = em_kernel(Tile({"X": X, "y": y, "weight": weight}), plan)
    plain = em_kernel(Tile({"X": X[repeated], "y": y[repeated]}), plan)
    for name in weighted:
        assert_allclose(weighted[name], plain[name], rtol=1e-10, atol=1e-8)


def test_minibatch_reframe_and_partial_fit():
    X, y = poisson_data(1000, seed=4)
    X1 = X[:, :1]
    fitted = RegressionMixture(
        2, gating="logistic", family="poisson", reg_weights=0.5, random_state=0
    ).fit(X1, y)
    config = fitted._config(1)
    base = fitted._params()

    def moved(shift, center):
        gate = base.gate
        return RegressionParams(
            weights=base.weights,
            coef=base.coef + shift,
            intercept=base.intercept - shift,
            noise_variance=base.noise_variance,
            gate=LogisticGateParams(gate.coef + [[0], [shift]], gate.intercept),
            x_center=center,
            noise_floor=base.noise_floor,
            x_range=base.x_range,
        )

    old = moved(0.01, base.x_center)
    other = moved(-0.01, base.x_center + 0.3)
    stats = em_kernel(Tile({"X": X1, "y": y}), make_plan(old, config, np.float64))
    expected = m_step(stats, old, config)
    got = m_step(reframe_stats(stats, old, other, config), other, config)
    # Newton's target does not depend on the point its quadratic model is moved to
    assert_allclose(got.coef, expected.coef, rtol=1e-8, atol=1e-10)
    assert_allclose(got.intercept, expected.intercept, rtol=1e-8, atol=1e-10)
    assert_allclose(got.gate.coef, expected.gate.coef, rtol=1e-8, atol=1e-10)
    assert_allclose(got.gate.intercept, expected.gate.intercept, atol=1e-9)
    # stepwise EM and partial_fit run and come near the batch optimum
    batch = RegressionMixture(2, gating="none", family="poisson", random_state=0)
    batch.fit(X1, y)
    mini = RegressionMixture(
        2,
        gating="none",
        family="poisson",
        algorithm="minibatch",
        batch_size=200,
        random_state=0,
    ).fit(X1, y)
    assert mini.score_samples(X1, y).mean() > batch.score_samples(X1, y).mean() - 0.01
    stream = RegressionMixture(2, gating="logistic", family="poisson", random_state=0)
    for rows in np.array_split(np.arange(len(X)), 5):
        stream.partial_fit(X1[rows], y[rows])
    assert np.isfinite(stream.score_samples(X1, y)).all()


# ----------------------------------------------------------- summary layout
def test_summary_layout_and_names():
    X, y = experts_data(600)
    frame = pd.DataFrame(X, columns=["dose", "age"])
    model = RegressionMixture(
        2,
        gating="logistic",
        expert_features=["dose"],
        gate_features="age",
        random_state=0,
    ).fit(frame, y)
    table = model.summary(frame, y)
    assert list(table.columns) == [
        "component",
        "parameter",
        "estimate",
        "std_error",
        "z",
        "p_value",
    ]
    assert list(table.parameter) == [
        "intercept",
        "dose",
        "noise_variance",
        "intercept",
        "dose",
        "noise_variance",
        "gate:intercept",
        "gate:age",
    ]
    assert (table.p_value.dropna() <= 1).all()
    sizes = table.attrs["components"]
    assert list(sizes.columns) == ["prior", "size", "post>0", "ratio"]
    assert sizes["size"].sum() == pytest.approx(len(X))
    assert table.attrs["log_likelihood"] == pytest.approx(
        model.score_samples(frame, y).sum()
    )
    with pytest.raises(NotImplementedError, match="cluster-weighted"):
        RegressionMixture(2, random_state=0).fit(X, y).summary(X, y)


# ---------------------------------------------------------- the selector
def test_selector_grid_with_logistic_gates_and_families():
    X, y = experts_data(600)
    weight = np.random.default_rng(1).integers(1, 3, len(X)).astype(float)
    selector = RegressionMixtureIC(
        n_components=[1, 2, 3], noise="component", random_state=0
    ).fit(X, y, sample_weight=weight)
    assert selector.n_components_ == 2 and selector.gating_ == "logistic"
    assert not selector.criteria_.degenerate.any()
    chosen = selector.best_estimator_
    # lines 2 x (2 + 1), noise variances 2, gate (2 - 1) x (2 + 1)
    assert chosen.bic(X, y) == pytest.approx(
        -2 * chosen.score_samples(X, y).sum() + 11 * np.log(len(X))
    )
    X, y = poisson_data(600)
    selector = RegressionMixtureIC(
        n_components=[1, 2, 3], gating="none", family="poisson", random_state=0
    ).fit(X[:, :1], y)
    assert selector.n_components_ == 2
    assert "noise" in selector.criteria_


# ------------------------------------------------------ checks and errors
def test_extreme_rows_give_finite_outputs_or_a_clear_error():
    X, y = experts_data(400)
    extreme = np.array([[1e300, 0.0], [0.5, 1e300], [3.0, 0.2]])
    for gating in ("none", "gaussian", "logistic"):
        model = RegressionMixture(2, gating=gating, random_state=0, max_iter=5)
        model.fit(X, y)
        far_y = [1e300, 1.0, 2.0]
        for method, args in (
            ("predict", (extreme,)),
            ("predict", (extreme, True)),
            ("component_proba", (extreme,)),
            ("component_proba", (extreme, far_y)),
            ("score_samples", (extreme, far_y)),
            ("predict_component", (extreme,)),
        ):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", RuntimeWarning)
                    result = getattr(model, method)(*args)
            except ValueError as exc:
                assert "overflowed float64" in str(exc)
            else:
                for array in result if isinstance(result, tuple) else (result,):
                    assert np.isfinite(array).all()
    # the gate of a far point is decided, not NaN
    model = RegressionMixture(2, gating="logistic", random_state=0).fit(X, y)
    proba = model.component_proba(np.array([[0.0, 1e300], [0.0, -1e300]]))
    assert_allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    "kwargs, y_kind, message",
    [
        (dict(family="poisson"), "negative", "non-negative counts"),
        (dict(family="binomial"), "counts", "0/1 responses"),
        (dict(family="binomial"), "bad-columns", "successes and failures"),
        (dict(expert_features=["dose"]), "plain", "no feature names"),
        (dict(expert_features=[5]), "plain", "out of range"),
        (dict(gate_features=[]), "plain", "is empty"),
        (dict(offset_feature=0, exposure_feature=1), "plain", "not both"),
        (dict(offset_feature=0, expert_features=[0, 1]), "plain", "offset column"),
        (dict(family="poisson", exposure_feature=1), "exposure", "must be positive"),
        (dict(family="normal"), "plain", "family"),
    ],
)
def test_bad_parameters_and_targets(kwargs, y_kind, message):
    X, y = poisson_data(50)
    if y_kind == "negative":
        y = y - 5
    elif y_kind == "counts":
        y = y + 2
    elif y_kind == "bad-columns":
        y = np.c_[y, -np.ones_like(y)]
    elif y_kind == "exposure":
        X[0, 1] = 0.0
    with pytest.raises(ValueError, match=message):
        RegressionMixture(2, max_iter=2, **kwargs).fit(X, y)
