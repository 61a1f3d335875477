"""mclust's 14 covariance models: constraints, EM, inputs, and mclust itself.

The reference figures come from R's mclust 6.0.0
(``benchmarks/mclust_reference.R`` wrote ``tests/data/mclust_reference.json``);
R is never needed to run these tests. The full comparison is
``benchmarks/bench_mclust.py --compare``.
"""

from __future__ import annotations

import json
import pickle
import warnings
from itertools import combinations
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from daskmix import GaussianMixture, GaussianMixtureIC
from daskmix.gaussian.covariance import MCLUST_TYPES, SKLEARN_TYPES, covariance
from daskmix.gaussian.covariance.constraints import (
    common_axes,
    common_orientation,
    round_robin,
)
from daskmix.gaussian.kernels import make_plan
from daskmix.gaussian.params import GaussianParams, stats_frame

DATA = Path(__file__).resolve().parent / "data"
models = pytest.mark.parametrize("model", MCLUST_TYPES)

#: R: nMclustParams(model, d, G) for d in (1, 2, 4) and G in (1, 3)
R_PARAMETER_COUNTS = {
    (1, 1): [2] * 14,
    (1, 3): [6, 8] * 7,
    (2, 1): [3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5],
    (2, 3): [9, 11, 10, 12, 12, 14, 11, 13, 13, 15, 13, 15, 15, 17],
    (4, 1): [5, 5, 8, 8, 8, 8, 14, 14, 14, 14, 14, 14, 14, 14],
    (4, 3): [15, 17, 18, 20, 24, 26, 24, 26, 30, 32, 36, 38, 42, 44],
}
#: the scikit-learn type whose form (and shapes) each model has
FORM = {
    **dict.fromkeys(["EII", "VII"], "spherical"),
    **dict.fromkeys(["EEI", "VEI", "EVI", "VVI"], "diag"),
    "EEE": "tied",
    **dict.fromkeys(["VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV"], "full"),
}


def load(name: str) -> np.ndarray:
    if name == "iris":
        return load_iris().data
    return np.loadtxt(DATA / f"{name}.csv", delimiter=",", skiprows=1)


@pytest.fixture(scope="module")
def reference() -> dict:
    with open(DATA / "mclust_reference.json") as handle:
        return json.load(handle)


def _entry(reference, data: str, model: str, k: int) -> dict:
    fits = reference["datasets"][data]["fits"]
    return next(f for f in fits if f["model"] == model and f["K"] == k)


def dense_of(covariances: np.ndarray, model: str, k: int, d: int) -> np.ndarray:
    """The (k, d, d) covariance matrices of ``covariances`` in the model's form."""
    cov = covariance(model)
    if cov.ndim == 3:
        return covariances
    if cov.shared:
        return np.broadcast_to(covariances, (k, d, d))
    if cov.ndim == 2:
        return covariances[:, :, None] * np.eye(d)
    return covariances[:, None, None] * np.eye(d)


def _fit(X, model, k, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(k, covariance_type=model, **kwargs).fit(X)


# ----------------------------------------------------------- the registry
@parametrize_with_checks(
    [GaussianMixture(covariance_type="VEE"), GaussianMixture(covariance_type="VVE")]
)
def test_sklearn_estimator_checks(estimator, check):
    """Two iterative M-steps on scikit-learn's edge cases (one sample, D=30)."""
    check(estimator)


def test_parameter_counts_are_mclusts(reference):
    for (d, k), counts in R_PARAMETER_COUNTS.items():
        assert [covariance(m).n_parameters(k, d) for m in MCLUST_TYPES] == counts
    for name, data in reference["datasets"].items():
        for entry in data["fits"]:
            cov = covariance(entry["model"])
            assert cov.n_parameters(entry["K"], data["d"]) == entry["df"], name


def test_scikit_learn_names_are_mclust_models():
    X = load("faithful")
    for sklearn_name, mclust_name in zip(SKLEARN_TYPES, ("VVV", "EEE", "VVI", "VII")):
        a = _fit(X, sklearn_name, 2, random_state=0)
        b = _fit(X, mclust_name, 2, random_state=0)
        np.testing.assert_array_equal(a.covariances_, b.covariances_)
        assert a.bic(X) == b.bic(X)
    for model, form in FORM.items():
        # a model is its form with another M-step: the form's E-step and shapes
        assert isinstance(covariance(model), type(covariance(form)))
        assert covariance(model).shape(3, 2) == covariance(form).shape(3, 2)


# ------------------------------------------------ M-step from statistics
def _random_params(model: str, k: int, d: int, rng) -> GaussianParams:
    """Unconstrained random parameters of the model's form (a frame)."""
    cov = covariance(model)
    a = rng.standard_normal((k, d, d))
    full = a @ np.swapaxes(a, 1, 2) / d + 0.3 * np.eye(d)
    if cov.ndim == 3:
        covariances = full
    elif cov.shared:
        covariances = full[0]
    elif cov.ndim == 2:
        covariances = np.diagonal(full, axis1=1, axis2=2).copy()
    else:
        covariances = np.diagonal(full, axis1=1, axis2=2).mean(axis=1)
    return GaussianParams(
        model,
        rng.dirichlet(np.ones(k)),
        rng.standard_normal((k, d)) * 2.0 + 10.0,
        covariances,
        cov.precisions_cholesky_from_covariances(covariances),
    )


def _m_step(model, params, X, resp, reg_covar=0.0):
    """The model's M-step from the statistics of ``X`` under ``resp``."""
    cov = covariance(model)
    plan = make_plan(params, np.float64)
    xs = X - plan.center
    _, frame = cov.mahalanobis(xs, plan.transform, plan.offsets, resp.shape[0])
    stats = cov.accumulate(xs, frame, resp)
    stats["n_rows"] = np.float64(X.shape[0])
    weights, means, covariances = cov.m_step(
        stats, stats_frame(params, plan.center), reg_covar
    )
    return GaussianParams(
        model,
        weights,
        means,
        covariances,
        cov.precisions_cholesky_from_covariances(covariances),
    )


def _expected_loglik(params: GaussianParams, X, resp) -> float:
    """``sum_i sum_k r_ik [log w_k + log N(x_i | mu_k, Sigma_k)]``."""
    k, d = params.means.shape
    sigmas = dense_of(params.covariances, params.covariance_type, k, d)
    return sum(
        resp[j]
        @ (
            np.log(params.weights[j])
            + multivariate_normal(params.means[j], sigmas[j]).logpdf(X)
        )
        for j in range(k)
    )


def _problem(seed: int, k: int = 3, d: int = 4, n: int = 300):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * 3.0 + 10.0
    scales = rng.standard_normal((k, d, d)) * 0.6 + np.eye(d)
    labels = rng.integers(0, k, n)
    X = centres[labels] + np.einsum(
        "nd,nde->ne", rng.standard_normal((n, d)), scales[labels]
    )
    resp = rng.dirichlet(np.full(k, 0.3), n).T
    return X, resp, rng


def _check_constraint(model: str, sigmas: np.ndarray) -> None:
    """``sigmas`` (K, d, d) are SPD and satisfy the model's E / I letters."""
    k, d, _ = sigmas.shape
    np.testing.assert_allclose(sigmas, np.swapaxes(sigmas, 1, 2), atol=1e-12)
    values = np.linalg.eigvalsh(sigmas)
    assert np.all(values > 0)
    volumes = np.exp(np.log(values).mean(axis=1))
    shapes = values / volumes[:, None]
    volume, shape, orientation = model
    if volume == "E":
        np.testing.assert_allclose(volumes, volumes[0], rtol=1e-9)
    if shape == "E":
        np.testing.assert_allclose(
            shapes, np.broadcast_to(shapes[0], shapes.shape), rtol=1e-7
        )
    if shape == "I":
        np.testing.assert_allclose(shapes, 1.0, rtol=1e-9)
    if orientation == "I":
        off = sigmas * (1 - np.eye(d))
        assert np.all(off == 0.0)
    if orientation == "E":
        scale = np.abs(sigmas).max() ** 2
        for a, b in combinations(range(k), 2):
            commutator = sigmas[a] @ sigmas[b] - sigmas[b] @ sigmas[a]
            assert np.abs(commutator).max() <= 1e-9 * scale


@models
def test_m_step_satisfies_the_constraint_and_raises_q(model):
    """From random statistics: SPD covariances of the model, and a better Q.

    The previous parameters satisfy the constraint (an M-step of the same
    model under other responsibilities), so EM's M-step must not lower the
    expected complete-data log-likelihood below theirs; nor can it beat the
    unconstrained (VVV) M-step from the same statistics.
    """
    X, resp, rng = _problem(seed=list(MCLUST_TYPES).index(model))
    k, d = resp.shape[0], X.shape[1]
    previous = _m_step(model, _random_params(model, k, d, rng), X, resp[::-1])
    new = _m_step(model, previous, X, resp)
    _check_constraint(model, dense_of(new.covariances, model, k, d))
    _check_constraint(model, dense_of(previous.covariances, model, k, d))
    q_new = _expected_loglik(new, X, resp)
    assert q_new >= _expected_loglik(previous, X, resp) - 1e-9 * abs(q_new)
    free = _m_step("VVV", _random_params("VVV", k, d, rng), X, resp)
    assert _expected_loglik(free, X, resp) >= q_new - 1e-9 * abs(q_new)
    # reg_covar is added to every variance after the constrained estimate
    regularised = _m_step(model, previous, X, resp, reg_covar=0.5)
    added = dense_of(regularised.covariances, model, k, d) - dense_of(
        new.covariances, model, k, d
    )
    np.testing.assert_allclose(
        added, np.broadcast_to(0.5 * np.eye(d), added.shape), atol=1e-8
    )


@models
def test_m_step_of_a_component_without_mass(model):
    X, resp, rng = _problem(seed=7)
    k, d = resp.shape[0], X.shape[1]
    resp[1] = 0.0
    resp /= resp.sum(axis=0)
    params = _m_step(model, _random_params(model, k, d, rng), X, resp, reg_covar=1e-6)
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        assert np.all(np.isfinite(getattr(params, name))), name
    assert params.weights[1] < 1e-15
    sigmas = dense_of(params.covariances, model, k, d)
    assert np.all(np.linalg.eigvalsh(sigmas) > 0)


@models
def test_singular_scatter_stays_finite(model):
    """A component whose rows lie on a plane (a feature constant in it)."""
    rng = np.random.default_rng(3)
    X = np.vstack([rng.standard_normal((60, 3)), rng.standard_normal((60, 3)) + 6.0])
    X[:60, 2] = 1.5
    fitted = _fit(X, model, 2, random_state=0, max_iter=30)
    assert np.all(np.isfinite(fitted.covariances_))
    assert np.isfinite(fitted.score(X))


def test_inner_iterations():
    pairs = [tuple(sorted(p)) for i, j in round_robin(5) for p in zip(i, j)]
    assert sorted(pairs) == list(combinations(range(5), 2))
    # a common orientation recovered from covariances that share it
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    sigmas = np.stack([q @ np.diag(rng.uniform(0.5, 3, 4)) @ q.T for _ in range(3)])
    axes = common_axes(np.linalg.inv(sigmas))
    rotated = axes.T @ sigmas @ axes
    np.testing.assert_allclose(rotated * (1 - np.eye(4)), 0.0, atol=1e-12)
    # scatters that share their axes: the orientation is found from afar
    nk = np.array([50.0, 80.0, 70.0])
    orientation, eigenvalues = common_orientation(
        sigmas * nk[:, None, None], nk, np.eye(4), equal_volumes=False
    )
    found = orientation @ (eigenvalues[:, :, None] * orientation.T)
    np.testing.assert_allclose(found, sigmas, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------- EM
@models
def test_em_never_lowers_the_likelihood(model):
    X = load("iris")
    fitted = _fit(X, model, 3, tol=0.0, max_iter=60, random_state=1)
    bounds = np.asarray(fitted.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))


@pytest.mark.parametrize("data,k", [("iris", 2), ("faithful", 2), ("iris", 3)])
@models
def test_reaches_mclusts_likelihood(reference, data, k, model):
    """From daskmix's default start (n_init=10): mclust's best at K=2, at least
    mclust's default fit at K=3 (where EVE's best of mclust's 20 starts is
    another local maximum); ``bic(X)`` is minus mclust's BIC where they agree."""
    X = load(data)
    entry = _entry(reference, data, model, k)
    fitted = _fit(X, model, k, n_init=10, tol=1e-6, max_iter=1000, random_state=0)
    loglik = fitted.score(X) * X.shape[0]
    target = entry["loglik"] if k == 2 else entry["loglik_default"]
    assert loglik >= target - 0.01, (loglik, target)
    if abs(loglik - entry["loglik"]) <= 0.01:
        assert abs(fitted.bic(X) + entry["bic"]) <= 0.02


@pytest.mark.parametrize("data,k", [("iris", 3), ("faithful", 3), ("blobs3", 4)])
@models
def test_mclusts_solution_is_a_fixed_point(reference, data, k, model):
    """Started from mclust's best fit, EM stays there (or climbs higher)."""
    X = load(data)
    entry = _entry(reference, data, model, k)
    parameters = entry["parameters"]
    sigma = np.asarray(parameters["sigma"])
    cov = covariance(model)
    if cov.ndim == 3:
        precisions = np.linalg.inv(sigma)
    elif cov.shared:
        precisions = np.linalg.inv(sigma[0])
    else:
        variances = np.diagonal(sigma, axis1=1, axis2=2)
        precisions = 1.0 / (variances if cov.ndim == 2 else variances[:, 0])
    weights = np.asarray(parameters["pro"])
    fitted = _fit(
        X,
        model,
        k,
        weights_init=weights / weights.sum(),
        means_init=np.asarray(parameters["mean"]),
        precisions_init=precisions,
        tol=1e-8,
        max_iter=2000,
    )
    loglik = fitted.score(X) * X.shape[0]
    assert loglik >= entry["loglik"] - 0.01
    if loglik - entry["loglik"] <= 0.01:
        assert abs(fitted.bic(X) + entry["bic"]) <= 0.02
        np.testing.assert_allclose(fitted.means_, parameters["mean"], atol=2e-3)
        d = X.shape[1]
        np.testing.assert_allclose(
            dense_of(fitted.covariances_, model, k, d), sigma, rtol=1e-2, atol=2e-3
        )


# ---------------------------------------------------------------- inputs
def _start(model: str, X: np.ndarray, k: int) -> dict:
    """A fixed start: k rows as means, unconstrained unit-ish precisions."""
    rng = np.random.default_rng(0)
    d = X.shape[1]
    a = rng.standard_normal((k, d, d)) * 0.3
    precisions = a @ np.swapaxes(a, 1, 2) + np.eye(d)
    cov = covariance(model)
    if cov.shared:
        precisions = precisions[0]
    elif cov.ndim == 2:
        precisions = np.diagonal(precisions, axis1=1, axis2=2).copy()
    elif cov.ndim == 1:
        precisions = np.diagonal(precisions, axis1=1, axis2=2).mean(axis=1)
    return {
        "weights_init": np.full(k, 1.0 / k),
        "means_init": X[rng.choice(X.shape[0], k, replace=False)],
        "precisions_init": precisions,
    }


@models
def test_precisions_init_numpy_dask_float32_weights_pickle(model):
    X = load("iris")
    start = _start(model, X, 3)
    # any valid precision of the form's shape, constrained or not
    kept = _fit(X, model, 3, max_iter=0, **start)
    np.testing.assert_allclose(
        np.asarray(kept.precisions_), start["precisions_init"], rtol=1e-10
    )
    kwargs = dict(start, tol=0.0, max_iter=15)
    numpy_fit = _fit(X, model, 3, **kwargs)
    _check_constraint(
        model, dense_of(numpy_fit.covariances_, model, 3, 4) - 1e-6 * np.eye(4)
    )
    dask_fit = _fit(da.from_array(X, chunks=(40, 4)), model, 3, **kwargs)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(
            getattr(dask_fit, name), getattr(numpy_fit, name), rtol=1e-8, atol=1e-10
        )
    single = _fit(X.astype(np.float32), model, 3, **kwargs)
    assert single.covariances_.dtype == np.float32
    np.testing.assert_allclose(single.means_, numpy_fit.means_, rtol=1e-3, atol=1e-3)
    # integer weights are repeated rows
    weights = np.random.default_rng(1).integers(0, 4, X.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = GaussianMixture(3, covariance_type=model, **kwargs).fit(
            X, sample_weight=weights
        )
    repeated = _fit(np.repeat(X, weights, axis=0), model, 3, **kwargs)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(
            getattr(weighted, name), getattr(repeated, name), rtol=1e-8, atol=1e-10
        )
    restored = pickle.loads(pickle.dumps(numpy_fit))
    np.testing.assert_array_equal(restored.score_samples(X), numpy_fit.score_samples(X))


@models
def test_minibatch(model):
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 2.0], [0.0, 6.0, -2.0]])
    X = centres[rng.integers(0, 3, 6000)] + rng.standard_normal((6000, 3))
    batch = _fit(X, model, 3, random_state=0)
    mini = _fit(X, model, 3, random_state=0, algorithm="minibatch", batch_size=500)
    assert mini.n_steps_ > 0
    assert mini.score(X) >= batch.score(X) - 0.02
    step = GaussianMixture(3, covariance_type=model, random_state=0)
    for rows in np.array_split(X, 6):
        step.partial_fit(rows)
    assert np.isfinite(step.score(X))


# ------------------------------------------------------------- selection
def test_selector_takes_mclust_names_and_shows_mclusts_table(reference):
    X = load("faithful")
    grid = ["EII", "VVV", "EVE"]
    selector = GaussianMixtureIC(
        n_components=[1, 2, 3], covariance_type=grid, random_state=0, tol=1e-6
    ).fit(X)
    table = selector.bic_table()
    assert list(table.columns) == grid and list(table.index) == [1, 2, 3]
    for row in selector.criteria_.itertuples():
        assert table.loc[row.n_components, row.covariance_type] == -row.bic
        entry = _entry(reference, "faithful", row.covariance_type, row.n_components)
        if abs(row.log_likelihood - entry["loglik"]) <= 0.01:
            assert abs(-row.bic - entry["bic"]) <= 0.02
    assert GaussianMixtureIC().covariance_type == ("full", "tied", "diag", "spherical")


@pytest.mark.parametrize("model", MCLUST_TYPES)
def test_float32_rank_deficient_data_fit(model):
    """float32 statistics of redundant features leave a scatter a hair
    indefinite; the constrained estimates still give valid covariances."""
    # scikit-learn's estimator checks: two of the ten features are redundant
    X, _ = make_classification(n_samples=30, n_features=10, random_state=42)
    for n_components in (1, 2):
        fitted = GaussianMixture(
            n_components, covariance_type=model, random_state=0
        ).fit(X.astype(np.float32))
        assert np.all(np.isfinite(fitted.covariances_))
