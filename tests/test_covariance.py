"""The covariance objects against scikit-learn's helpers and closed forms."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.mixture import _gaussian_mixture as sk
from sklearn.utils import check_random_state

from daskmix._engine.stats import Stats
from daskmix._engine.tiles import Tile
from daskmix._engine.workspace import Workspace, workspace
from daskmix.gaussian.covariance import (
    COVARIANCE_TYPES,
    COVARIANCES,
    MCLUST_TYPES,
    SKLEARN_TYPES,
    covariance,
)
from daskmix.gaussian.covariance.base import registered
from daskmix.gaussian.init_checks import check_precisions
from daskmix.gaussian.kernels import (
    component_log_prob,
    em_kernel,
    label_rows,
    log_resp_rows,
    make_plan,
    score_rows,
)
from daskmix.gaussian.params import GaussianParams, stats_frame

K, D = 3, 4


def _covariances(cov_type: str, rng: np.random.Generator) -> np.ndarray:
    """Well-conditioned random covariances of ``cov_type``."""

    def spd():
        a = rng.standard_normal((D, D))
        return a @ a.T / D + 0.5 * np.eye(D)

    if cov_type == "full":
        return np.stack([spd() for _ in range(K)])
    if cov_type == "tied":
        return spd()
    if cov_type == "diag":
        return rng.uniform(0.5, 2.0, (K, D))
    return rng.uniform(0.5, 2.0, K)


def _dense(covariances: np.ndarray, cov_type: str, k: int) -> np.ndarray:
    """Component ``k``'s (D, D) covariance matrix."""
    return {
        "full": lambda: covariances[k],
        "tied": lambda: covariances,
        "diag": lambda: np.diag(covariances[k]),
        "spherical": lambda: covariances[k] * np.eye(D),
    }[cov_type]()


def _params(cov_type: str, seed: int = 0, offset: float = 0.0) -> GaussianParams:
    rng = np.random.default_rng(seed)
    covariances = _covariances(cov_type, rng)
    cov = covariance(cov_type)
    return GaussianParams(
        cov_type,
        rng.dirichlet(np.ones(K)),
        rng.standard_normal((K, D)) * 2.0 + offset,
        covariances,
        cov.precisions_cholesky_from_covariances(covariances),
    )


def _data(n: int = 400, seed: int = 1, offset: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, D)) * 1.5 + offset


# scikit-learn's types against scikit-learn (mclust's: tests/test_mclust_models.py)
types = pytest.mark.parametrize("cov_type", SKLEARN_TYPES)


# ---------------------------------------------------------------- registry
def test_registry():
    assert SKLEARN_TYPES == ("full", "tied", "diag", "spherical")
    assert COVARIANCE_TYPES == SKLEARN_TYPES + MCLUST_TYPES
    for name in COVARIANCE_TYPES:
        cov = covariance(name)
        assert cov is COVARIANCES[name] is registered(name) and cov.name == name
        assert pickle.loads(pickle.dumps(cov)) is cov
    with pytest.raises(ValueError, match="covariance_type must be one of.*'banana'"):
        covariance("banana")


# ---------------------------------------------------- shapes and factors
@types
def test_shapes_and_identity(cov_type):
    cov = covariance(cov_type)
    params = _params(cov_type)
    assert cov.shape(K, D) == params.covariances.shape
    assert cov.ndim == len(cov.shape(K, D))
    identity = cov.identity_precisions_cholesky(K, D)
    assert identity.shape == cov.shape(K, D)
    np.testing.assert_array_equal(cov.covariances_from_cholesky(identity), identity)


@types
def test_factors_match_scikit_learn(cov_type):
    cov = covariance(cov_type)
    covariances = _params(cov_type).covariances
    prec_chol = cov.precisions_cholesky_from_covariances(covariances)
    np.testing.assert_allclose(
        prec_chol, sk._compute_precision_cholesky(covariances, cov_type), rtol=1e-12
    )
    np.testing.assert_allclose(
        cov.log_det_cholesky(prec_chol, D),
        sk._compute_log_det_cholesky(prec_chol, cov_type, D),
        rtol=1e-12,
    )
    precisions = cov.precisions_from_cholesky(prec_chol)
    for k in range(K):
        np.testing.assert_allclose(
            _dense(precisions, cov_type, k),
            np.linalg.inv(_dense(covariances, cov_type, k)),
            rtol=1e-10,
            atol=1e-12,
        )
    np.testing.assert_allclose(
        cov.precisions_cholesky_from_precisions(precisions), prec_chol, rtol=1e-10
    )
    np.testing.assert_allclose(
        cov.covariances_from_cholesky(prec_chol), covariances, rtol=1e-10
    )


@types
def test_singular_covariance_raises(cov_type):
    cov = covariance(cov_type)
    covariances = np.zeros(cov.shape(K, D))
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        cov.precisions_cholesky_from_covariances(covariances)


@types
def test_invalid_precisions_raise(cov_type):
    bad = -np.ones(covariance(cov_type).shape(K, D))
    with pytest.raises(ValueError, match=f"'{cov_type} precision' should be"):
        check_precisions(bad, cov_type, K, D)


@types
def test_parameter_count_matches_scikit_learn(cov_type):
    for n_components, n_features in [(1, 1), (3, 4), (5, 2)]:
        reference = SkGaussianMixture(n_components, covariance_type=cov_type)
        reference.means_ = np.zeros((n_components, n_features))
        assert (
            covariance(cov_type).n_parameters(n_components, n_features)
            == reference._n_parameters()
        )


# ------------------------------------------------------------------ E-step
@types
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_prob_matches_scipy(cov_type, dtype):
    params = _params(cov_type, offset=50.0)
    X = _data(offset=50.0)
    plan = make_plan(params, dtype)
    weighted, _ = component_log_prob(X.astype(dtype) - plan.center, plan)
    expected = np.stack(
        [
            np.log(params.weights[k])
            + multivariate_normal(
                params.means[k], _dense(params.covariances, cov_type, k)
            ).logpdf(X)
            for k in range(K)
        ]
    )
    assert weighted.dtype == dtype
    # float32: the shifted tile is rounded to 2^-24 relative, |x - m| ~ 5
    tolerance = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(weighted, expected, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(
        weighted,
        (
            sk._estimate_log_gaussian_prob(
                X, params.means, params.precisions_cholesky, cov_type
            )
            + np.log(params.weights)
        ).T,
        rtol=tolerance,
        atol=tolerance,
    )


# ------------------------------------------------- accumulation and M-step
def _stats(cov_type, params, X, resp, center=None):
    """Statistics of ``X`` under fixed responsibilities, in ``params``' frame."""
    cov = covariance(cov_type)
    plan = make_plan(params, np.float64, center=center)
    xs = X - plan.center
    _, frame = cov.mahalanobis(xs, plan.transform, plan.offsets, K)
    stats = cov.accumulate(xs, frame, resp)
    stats["n_rows"] = np.float64(X.shape[0])
    return stats, stats_frame(params, plan.center)


@types
@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_m_step_matches_closed_form(cov_type, offset):
    """From the same responsibilities, the M-step is scikit-learn's.

    The data and the frame sit ``offset`` away from the origin and the frame is
    not white: the shifted, whitened statistics lose nothing, and match
    scikit-learn's estimates on the centred data (its own raw moments would
    lose about eight digits at ``offset=1e4``).
    """
    X = _data(offset=offset)
    resp = np.random.default_rng(2).dirichlet(np.ones(K), X.shape[0]).T
    stats, frame = _stats(cov_type, _params(cov_type, seed=3, offset=offset), X, resp)
    reg_covar = 1e-3
    weights, means, covariances = covariance(cov_type).m_step(stats, frame, reg_covar)
    nk, ref_means, ref_covariances = sk._estimate_gaussian_parameters(
        X - offset, resp.T, reg_covar, cov_type
    )
    np.testing.assert_allclose(weights, nk / nk.sum(), rtol=1e-12)
    np.testing.assert_allclose(means, ref_means + offset, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(covariances, ref_covariances, rtol=1e-9)
    # and the definition: weighted covariance about the weighted mean, plus reg_covar
    k = 1
    dense = np.cov(X.T, aweights=resp[k], bias=True) + reg_covar * np.eye(D)
    if cov_type == "full":
        np.testing.assert_allclose(covariances[k], dense, rtol=1e-8)
    elif cov_type == "diag":
        np.testing.assert_allclose(covariances[k], np.diag(dense), rtol=1e-8)
    elif cov_type == "spherical":
        np.testing.assert_allclose(covariances[k], np.diag(dense).mean(), rtol=1e-8)


@types
def test_m_step_empty_component(cov_type):
    X = _data()
    resp = np.random.default_rng(2).dirichlet(np.ones(K), X.shape[0]).T
    resp[0] = 0.0
    resp /= resp.sum(axis=0)
    params = _params(cov_type, seed=3)
    stats, frame = _stats(cov_type, params, X, resp)
    reg_covar = 1e-3
    weights, means, covariances = covariance(cov_type).m_step(stats, frame, reg_covar)
    assert 0.0 < weights[0] < 1e-15
    assert np.all(np.isfinite(means)) and np.all(np.isfinite(covariances))
    origin = params.means[0] if cov_type == "full" else frame.center
    np.testing.assert_allclose(means[0], origin, rtol=1e-12)
    if cov_type != "tied":
        np.testing.assert_allclose(
            _dense(covariances, cov_type, 0), reg_covar * np.eye(D), rtol=1e-12
        )


@types
def test_reframe_is_exact(cov_type):
    """Statistics moved from one frame to another equal those taken there."""
    X = _data(offset=30.0)
    resp = np.random.default_rng(2).dirichlet(np.ones(K), X.shape[0]).T
    old_params = _params(cov_type, seed=3, offset=30.0)
    new_params = _params(cov_type, seed=4, offset=31.0)
    old_stats, old = _stats(cov_type, old_params, X, resp)
    new_stats, new = _stats(cov_type, new_params, X, resp, center=X[0])
    moved = covariance(cov_type).reframe(old_stats, old, new)
    assert moved.keys() == new_stats.keys()
    for name in new_stats:
        scale = np.abs(new_stats[name]).max()
        np.testing.assert_allclose(
            moved[name], new_stats[name], rtol=1e-9, atol=1e-11 * scale
        )
    np.testing.assert_array_equal(moved["nk"], old_stats["nk"])


# ---------------------------------------------------------------- sampling
@types
def test_sample_is_scikit_learns(cov_type):
    params = _params(cov_type)
    reference = SkGaussianMixture(K, covariance_type=cov_type, random_state=7)
    reference.weights_ = params.weights
    reference.means_ = params.means
    reference.covariances_ = params.covariances
    reference.precisions_cholesky_ = params.precisions_cholesky
    expected, _ = reference.sample(50)
    rng = check_random_state(7)
    counts = rng.multinomial(50, params.weights)
    drawn = covariance(cov_type).sample(rng, params.means, params.covariances, counts)
    np.testing.assert_array_equal(drawn, expected)


# ------------------------------------------------------ kernel workspaces
@types
def test_kernels_return_their_own_arrays(cov_type):
    """Results never alias the per-thread workspace the next call reuses."""
    plan = make_plan(_params(cov_type), np.float64)
    X = _data()
    first, second = Tile({"X": X[:200]}), Tile({"X": X[200:]}, 200)
    results = [
        em_kernel(first, plan),
        log_resp_rows(first, plan),
        score_rows(first, plan),
        label_rows(first, plan),
    ]
    kept = [Stats(results[0]).copy()] + [np.copy(r) for r in results[1:]]
    em_kernel(second, plan)
    log_resp_rows(second, plan)
    for name in kept[0]:
        np.testing.assert_array_equal(results[0][name], kept[0][name])
    for result, copy in zip(results[1:], kept[1:]):
        np.testing.assert_array_equal(result, copy)
    # tile-sized and smaller tiles give what a fresh computation gives
    for rows in (X[:7], X[:400], X[100:103]):
        fresh, _ = component_log_prob(rows - plan.center, plan)
        tile = Tile({"X": rows})
        np.testing.assert_array_equal(score_rows(tile, plan), score_rows(tile, plan))
        np.testing.assert_array_equal(label_rows(tile, plan), fresh.argmax(axis=0))


def test_workspace_is_per_thread_and_per_call():
    with workspace() as outer:
        with workspace() as inner:
            assert inner is not outer
        a = outer.array("x", (3, 4), np.float64)
        b = outer.array("x", (2, 2), np.float64)
        assert np.shares_memory(a, b) and b.flags.c_contiguous
        assert not np.shares_memory(a, outer.array("y", (3, 4), np.float64))
    seen = []

    def lend():
        with workspace() as lent:
            seen.append(lent)

    thread = threading.Thread(target=lend)
    thread.start()
    thread.join()
    assert isinstance(seen[0], Workspace) and seen[0] is not outer
