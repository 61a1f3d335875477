"""The compiled kernels against the numpy reference, and the backend switch.

Every compiled kernel is checked against its numpy kernel on random tiles,
for every E-step form (and so every covariance model), dtype, weighting and
mode, to 1e-12 (relative to each statistic's largest value). Fits with the
two backends agree to rounding.
"""

from __future__ import annotations

from dataclasses import replace

import dask
import numpy as np
import pytest

import daskmix
from daskmix._engine import jit
from daskmix._engine.tiles import Tile
from daskmix.cluster.kernels import (
    inertia_kernel,
    label_rows,
    lloyd_kernel,
    make_lloyd_plan,
)
from daskmix.gaussian import compiled as gaussian_compiled
from daskmix.gaussian.covariance import COVARIANCES, covariance
from daskmix.gaussian.kernels import em_kernel, make_plan, tile_log_prob
from daskmix.gaussian.model import loglik_kernel
from daskmix.gaussian.params import GaussianParams
from daskmix.gaussian.variational.posterior import variational_kernel

pytest.importorskip("numba")

FORMS = ("full", "tied", "diag", "spherical")
DTYPES = (np.float64, np.float32)


def random_params(covariance_type, n_components, n_features, rng):
    means = rng.standard_normal((n_components, n_features)) * 3
    factors = rng.standard_normal((n_components, n_features, n_features)) * 0.3
    full = factors @ factors.transpose(0, 2, 1) + np.eye(n_features)
    covariances = {
        "full": full,
        "tied": full[0],
        "diag": rng.random((n_components, n_features)) + 0.5,
        "spherical": rng.random(n_components) + 0.5,
    }[covariance(covariance_type).form]
    weights = rng.random(n_components) + 0.2
    return GaussianParams(
        covariance_type,
        weights / weights.sum(),
        means,
        covariances,
        covariance(covariance_type).precisions_cholesky_from_covariances(covariances),
    )


def plans(params, dtype, **kwargs):
    with dask.config.set({"daskmix.kernels": "numpy"}):
        reference = make_plan(params, dtype, **kwargs)
    return reference, replace(reference, backend="compiled")


def assert_same_stats(expected, actual, rtol=1e-12):
    assert set(expected) == set(actual)
    for name in expected:
        want = np.asarray(expected[name], dtype=np.float64)
        got = np.asarray(actual[name])
        assert got.shape == want.shape, name
        scale = max(np.max(np.abs(want)), 1e-300)
        assert np.max(np.abs(got - want)) <= rtol * scale, name


def tile_of(rng, n_rows, n_features, dtype, weighted):
    arrays = {"X": (rng.standard_normal((n_rows, n_features)) * 3).astype(dtype)}
    if weighted:
        arrays["weight"] = rng.random(n_rows) * 2
    return Tile(arrays, start=17)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_gaussian_kernels_match_numpy(form, dtype, weighted):
    rng = np.random.default_rng(0)
    # 300 rows: a full block of 256 and a partial one
    tile = tile_of(rng, 300, 4, dtype, weighted)
    params = random_params(form, 3, 4, rng)
    for resp_mode in ("posterior", "nearest"):
        reference, fast = plans(params, dtype, resp_mode=resp_mode)
        assert gaussian_compiled.supports(tile, fast)
        assert_same_stats(em_kernel(tile, reference), em_kernel(tile, fast))
    reference, fast = plans(params, dtype)
    assert_same_stats(loglik_kernel(tile, reference), loglik_kernel(tile, fast))
    np.testing.assert_allclose(
        tile_log_prob(tile, fast),
        tile_log_prob(tile, reference),
        rtol=1e-12,
    )
    if not weighted:
        assert_same_stats(
            variational_kernel(tile, reference), variational_kernel(tile, fast)
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_wide_full_covariances_match_numpy(dtype):
    """Full covariances of 24 features and more take the BLAS path."""
    rng = np.random.default_rng(1)
    n_features = gaussian_compiled.BLAS_MIN_FEATURES
    tile = tile_of(rng, 200, n_features, dtype, weighted=True)
    params = random_params("full", 3, n_features, rng)
    reference, fast = plans(params, dtype)
    assert_same_stats(em_kernel(tile, reference), em_kernel(tile, fast))
    assert_same_stats(loglik_kernel(tile, reference), loglik_kernel(tile, fast))
    np.testing.assert_allclose(
        tile_log_prob(tile, fast),
        tile_log_prob(tile, reference),
        rtol=1e-12,
    )


def test_every_covariance_model_has_a_compiled_form():
    """Models added beside the four reuse a form, and so the compiled kernels."""
    for name, model in COVARIANCES.items():
        assert model.form in gaussian_compiled.FORMS, name


def test_masked_and_random_tiles_stay_on_numpy():
    rng = np.random.default_rng(2)
    params = random_params("full", 2, 3, rng)
    _, fast = plans(params, np.float64)
    x = rng.standard_normal((10, 3))
    assert not gaussian_compiled.supports(
        Tile({"X": x, "mask": np.zeros(x.shape, bool)}), fast
    )
    _, random_start = plans(params, np.float64, resp_mode="random")
    assert not gaussian_compiled.supports(Tile({"X": x}), random_start)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_lloyd_kernels_match_numpy(dtype, weighted):
    rng = np.random.default_rng(3)
    tile = tile_of(rng, 600, 5, dtype, weighted)
    centers = rng.standard_normal((7, 5)) * 3
    previous = centers + rng.standard_normal((7, 5)) * 0.3
    with dask.config.set({"daskmix.kernels": "numpy"}):
        reference = make_lloyd_plan(
            centers, dtype, n_far=7, moments=True, previous=previous
        )
    fast = replace(reference, backend="compiled")
    # float32 data: the numpy kernel sums residuals in float32, these in float64
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    expected, actual = lloyd_kernel(tile, reference), lloyd_kernel(tile, fast)
    assert_same_stats(expected, actual, rtol)
    assert actual["n_changed"] > 0
    assert_same_stats(inertia_kernel(tile, reference), inertia_kernel(tile, fast), rtol)
    np.testing.assert_array_equal(label_rows(tile, fast), label_rows(tile, reference))


@pytest.mark.parametrize("covariance_type", FORMS)
def test_fits_agree_across_backends(covariance_type):
    rng = np.random.default_rng(4)
    X = np.vstack([rng.standard_normal((400, 3)) + 4 * k for k in range(3)])
    fitted = {}
    for backend in ("numpy", "compiled"):
        with dask.config.set({"daskmix.kernels": backend}):
            fitted[backend] = daskmix.GaussianMixture(
                3, covariance_type=covariance_type, random_state=0
            ).fit(X)
    a, b = fitted["numpy"], fitted["compiled"]
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-9)
    np.testing.assert_allclose(b.lower_bound_, a.lower_bound_, rtol=1e-12)
    np.testing.assert_array_equal(b.predict(X), a.predict(X))


def test_kmeans_fits_agree_across_backends():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3000, 4))
    fitted = {}
    for backend in ("numpy", "compiled"):
        with dask.config.set({"daskmix.kernels": backend}):
            fitted[backend] = daskmix.KMeans(16, random_state=0, n_init=1).fit(X)
    a, b = fitted["numpy"], fitted["compiled"]
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(b.cluster_centers_, a.cluster_centers_, rtol=1e-9)
    np.testing.assert_allclose(b.inertia_, a.inertia_, rtol=1e-12)


def test_backend_setting(monkeypatch):
    with dask.config.set({"daskmix.kernels": "numpy"}):
        assert jit.kernel_backend() == "numpy"
    with dask.config.set({"daskmix.kernels": "auto"}):
        assert jit.kernel_backend() == "compiled"
    with dask.config.set({"daskmix.kernels": "gpu"}):
        with pytest.raises(ValueError, match="daskmix.kernels"):
            jit.kernel_backend()
    monkeypatch.setattr(jit, "AVAILABLE", False)
    with dask.config.set({"daskmix.kernels": "auto"}):
        assert jit.kernel_backend() == "numpy"
    with dask.config.set({"daskmix.kernels": "compiled"}):
        with pytest.raises(ValueError, match="numba"):
            jit.kernel_backend()


def test_exp_matches_numpy():
    values = -np.abs(np.random.default_rng(6).standard_normal(1000) * 100)
    values[:4] = [0.0, -np.inf, np.nan, -800.0]
    out = values.copy()
    jit.exp_inplace(out, np.empty(out.shape, np.int64))
    expected = np.exp(values)
    normal = expected > 1e-300
    np.testing.assert_allclose(out[normal], expected[normal], rtol=1e-14)
    assert out[1] == 0.0 and np.isnan(out[2]) and out[3] == 0.0


@pytest.mark.parametrize("gating", ["none", "gaussian"])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_kernel_matches_numpy(gating, covariance_type, weighted):
    from daskmix.regression.kernels import em_kernel as regression_kernel
    from daskmix.regression.params import replace as replace_params

    rng = np.random.default_rng(7)
    X = rng.standard_normal((400, 3))
    y = X @ [1.0, 2.0, 3.0] + rng.standard_normal(400) * 0.3
    with dask.config.set({"daskmix.kernels": "numpy"}):
        fitted = daskmix.RegressionMixture(
            2, gating=gating, covariance_type=covariance_type, random_state=0
        ).fit(X, y)
        # away from the fit, so that no statistic is a sum of cancelling terms
        params = fitted._params()
        params = replace_params(params, coef=params.coef + rng.standard_normal(3))
        reference = fitted._model(3).plan(params, np.float64)
    fast = replace(reference, backend="compiled")
    arrays = {"X": X, "y": y}
    if weighted:
        arrays["weight"] = rng.random(400) * 2
    tile = Tile(arrays)
    assert_same_stats(regression_kernel(tile, reference), regression_kernel(tile, fast))
