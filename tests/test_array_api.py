"""Array-API input (cupy, torch...), tested on array-api-strict on the CPU.

The device kernels are checked against the numpy reference on random tiles of
every covariance form, dtype and weighting; the estimators that claim array API
support fit and predict on array-API input, return the input's namespace and
agree with their numpy fits; scikit-learn's own ``check_array_api_input`` runs
on them through ``parametrize_with_checks`` in their test modules (the suite
sets ``SCIPY_ARRAY_API=1``, which scikit-learn's dispatch requires).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sklearn
from conftest import array_api_dispatch_unavailable
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from daskmix import (
    BayesianGaussianMixture,
    GaussianMixture,
    GaussianMixtureIC,
    KMeans,
    RegressionMixture,
)
from daskmix._engine.namespaces import to_host
from daskmix._engine.tiles import Tile
from daskmix.cluster import device_kernels as cluster_device
from daskmix.cluster import kernels as cluster_kernels
from daskmix.gaussian import device_kernels as gaussian_device
from daskmix.gaussian import kernels as gaussian_kernels
from daskmix.gaussian.covariance import COVARIANCE_TYPES
from daskmix.gaussian.model import loglik_kernel
from daskmix.gaussian.params import GaussianParams, precisions_cholesky_from_covariances
from daskmix.gaussian.variational.posterior import variational_kernel

xps = pytest.importorskip("array_api_strict")

TYPES = ("full", "tied", "diag", "spherical")


def _dispatch():
    reason = array_api_dispatch_unavailable()
    if reason is not None:
        pytest.skip(reason)
    return sklearn.config_context(array_api_dispatch=True)


def _params(cov_type: str, rng, n_components=3, n_features=4) -> GaussianParams:
    means = rng.normal(0.0, 3.0, (n_components, n_features))
    spread = rng.uniform(0.5, 2.0, (n_components, n_features))
    full = np.stack([np.diag(s) + 0.3 for s in spread])
    covariances = {
        "full": full,
        "tied": full[0],
        "diag": spread,
        "spherical": spread.mean(axis=1),
    }[cov_type]
    weights = rng.dirichlet(np.ones(n_components))
    return GaussianParams(
        cov_type,
        weights,
        means,
        covariances,
        precisions_cholesky_from_covariances(covariances, cov_type),
    )


def _tiles(rng, dtype, weighted: bool, n_rows=257, n_features=4):
    X = rng.normal(0.0, 3.0, (n_rows, n_features)).astype(dtype)
    arrays = {"X": X}
    if weighted:
        arrays["weight"] = rng.integers(0, 3, n_rows).astype(dtype)
    host = Tile(arrays, start=1000)
    device = Tile({name: xps.asarray(a) for name, a in arrays.items()}, start=1000)
    return host, device


def _same_stats(device_stats, host_stats, rtol):
    assert sorted(device_stats) == sorted(host_stats)
    for name, value in host_stats.items():
        got = to_host(device_stats[name])
        assert_allclose(got, value, rtol=rtol, atol=rtol * 1e-3, err_msg=name)


@pytest.mark.parametrize("cov_type", TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("mode", ["posterior", "nearest", "random"])
def test_gaussian_device_kernel_is_the_numpy_kernel(cov_type, dtype, weighted, mode):
    rng = np.random.default_rng(0)
    plan = gaussian_kernels.make_plan(
        _params(cov_type, rng), dtype, resp_mode=mode, seed=7
    )
    host, device = _tiles(rng, dtype, weighted)
    rtol = 1e-12 if dtype == np.float64 else 1e-4
    expected = gaussian_kernels.em_kernel(host, plan)
    with np.errstate(all="ignore"):
        got = gaussian_device.em_kernel_device(device, plan)
    _same_stats(got, expected, rtol)
    _same_stats(
        gaussian_device.loglik_kernel_device(device, plan),
        loglik_kernel(host, plan),
        rtol,
    )


@pytest.mark.parametrize("cov_type", TYPES)
def test_gaussian_device_rows_are_the_numpy_rows(cov_type):
    rng = np.random.default_rng(1)
    plan = gaussian_kernels.make_plan(_params(cov_type, rng), np.float64)
    host, device = _tiles(rng, np.float64, False)
    for numpy_fn, device_fn in (
        (gaussian_kernels.log_resp_rows, gaussian_device.log_resp_rows_device),
        (gaussian_kernels.proba_rows, gaussian_device.proba_rows_device),
        (gaussian_kernels.score_rows, gaussian_device.score_rows_device),
        (gaussian_kernels.label_rows, gaussian_device.label_rows_device),
    ):
        got = device_fn(device, plan)
        assert type(got).__module__.startswith("array_api_strict")
        assert_allclose(to_host(got), numpy_fn(host, plan), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("cov_type", TYPES)
def test_variational_device_kernel_is_the_numpy_kernel(cov_type):
    rng = np.random.default_rng(2)
    plan = gaussian_kernels.make_plan(_params(cov_type, rng), np.float64)
    host, device = _tiles(rng, np.float64, False)
    _same_stats(
        gaussian_device.variational_kernel_device(device, plan),
        variational_kernel(host, plan),
        1e-12,
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_kmeans_device_kernels_are_the_numpy_kernels(weighted):
    rng = np.random.default_rng(3)
    centers = rng.normal(0.0, 3.0, (5, 4))
    host, device = _tiles(rng, np.float64, weighted)
    plan = cluster_kernels.make_lloyd_plan(
        centers, np.float64, n_far=3, moments=True, previous=centers + 0.5
    )
    _same_stats(
        cluster_device.lloyd_kernel_device(device, plan),
        cluster_kernels.lloyd_kernel(host, plan),
        1e-12,
    )
    _same_stats(
        cluster_device.inertia_kernel_device(device, plan),
        cluster_kernels.inertia_kernel(host, plan),
        1e-12,
    )
    for numpy_fn, device_fn in (
        (cluster_kernels.label_rows, cluster_device.label_rows_device),
        (cluster_kernels.distance_rows, cluster_device.distance_rows_device),
    ):
        assert_allclose(
            to_host(device_fn(device, plan)), numpy_fn(host, plan), rtol=1e-12
        )


# ----------------------------------------------------------------- estimators
def _blobs(n=600, dtype=np.float64):
    rng = np.random.default_rng(4)
    centers = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 1.0], [0.0, 6.0, -1.0]])
    X = centers[rng.integers(0, 3, n)] + rng.standard_normal((n, 3))
    return X.astype(dtype)


def _is_strict(array) -> bool:
    return type(array).__module__.startswith("array_api_strict")


@pytest.mark.parametrize("cov_type", TYPES)
@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random", "random_from_data"])
def test_gaussian_mixture_fits_where_the_data_live(cov_type, init):
    X = _blobs()
    params = dict(covariance_type=cov_type, init_params=init, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        on_host = GaussianMixture(3, **params).fit(X)
        with _dispatch():
            on_device = GaussianMixture(3, **params).fit(xps.asarray(X))
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        attribute = getattr(on_device, name)
        assert _is_strict(attribute), name
        assert_allclose(to_host(attribute), getattr(on_host, name), rtol=1e-9)
    Xs = xps.asarray(X)
    with _dispatch():
        outputs = {
            "predict": on_device.predict(Xs),
            "predict_proba": on_device.predict_proba(Xs),
            "score_samples": on_device.score_samples(Xs),
        }
        sample, labels = on_device.sample(5)
        score = on_device.score(Xs)
    for name, value in outputs.items():
        assert _is_strict(value), name
        assert_allclose(
            to_host(value), getattr(on_host, name)(X), rtol=1e-9, atol=1e-12
        )
    assert _is_strict(sample) and _is_strict(labels)
    assert score == pytest.approx(on_host.score(X), rel=1e-12)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_every_covariance_model_runs_on_device(cov_type):
    """mclust's models share their form's device kernel: the same fit."""
    X = _blobs(300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        on_host = GaussianMixture(3, covariance_type=cov_type, random_state=0).fit(X)
        with _dispatch():
            on_device = GaussianMixture(
                3, covariance_type=cov_type, random_state=0
            ).fit(xps.asarray(X))
    assert _is_strict(on_device.covariances_)
    assert on_device.lower_bound_ == pytest.approx(on_host.lower_bound_, rel=1e-9)


def test_weights_minibatch_and_partial_fit_on_device():
    X = _blobs(3000)
    weights = np.random.default_rng(5).integers(0, 3, len(X)).astype(float)
    Xs = xps.asarray(X)
    cases = [
        (dict(), dict(sample_weight=weights)),
        (dict(algorithm="minibatch", batch_size=400), dict()),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for params, fit_params in cases:
            on_host = GaussianMixture(3, random_state=0, **params).fit(X, **fit_params)
            device_fit = {
                k: xps.asarray(v) if isinstance(v, np.ndarray) else v
                for k, v in fit_params.items()
            }
            with _dispatch():
                on_device = GaussianMixture(3, random_state=0, **params).fit(
                    Xs, **device_fit
                )
            assert on_device.lower_bound_ == pytest.approx(on_host.lower_bound_)
        steps = GaussianMixture(3, random_state=0)
        with _dispatch():
            for start in range(0, 3000, 1000):
                steps.partial_fit(Xs[start : start + 1000, ...])
        reference = GaussianMixture(3, random_state=0)
        for start in range(0, 3000, 1000):
            reference.partial_fit(X[start : start + 1000])
    assert_allclose(to_host(steps.means_), reference.means_, rtol=1e-9)


def test_float32_stays_float32_on_device():
    X = _blobs(dtype=np.float32)
    with _dispatch():
        model = GaussianMixture(3, random_state=0).fit(xps.asarray(X))
        proba = model.predict_proba(xps.asarray(X))
    assert model.means_.dtype == xps.float32
    assert proba.dtype == xps.float32


def test_bayesian_mixture_and_kmeans_and_the_selector_on_device():
    X = _blobs()
    Xs = xps.asarray(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bayes = BayesianGaussianMixture(n_components=3, random_state=0)
        on_host = bayes.fit(X).lower_bound_
        with _dispatch():
            on_device = BayesianGaussianMixture(n_components=3, random_state=0).fit(Xs)
        assert on_device.lower_bound_ == pytest.approx(on_host, rel=1e-12)
        assert _is_strict(on_device.mean_prior_)
        km = KMeans(3, random_state=0).fit(X)
        with _dispatch():
            km_device = KMeans(3, random_state=0).fit(Xs)
            distances = km_device.transform(Xs)
        assert _is_strict(km_device.labels_) and _is_strict(distances)
        assert km_device.inertia_ == pytest.approx(km.inertia_, rel=1e-12)
        with _dispatch():
            selector = GaussianMixtureIC(n_components=[2, 3], random_state=0).fit(Xs)
            labels = selector.predict(Xs)
        assert selector.n_components_ == 3 and _is_strict(labels)


@pytest.mark.parametrize("cov_type", TYPES)
def test_initial_parameters_in_the_input_namespace(cov_type):
    X = _blobs()
    reference = GaussianMixture(3, covariance_type=cov_type, random_state=0).fit(X)
    given = {
        "weights_init": reference.weights_,
        "means_init": reference.means_,
        "precisions_init": reference.precisions_,
    }
    on_host = GaussianMixture(3, covariance_type=cov_type, **given).fit(X)
    with _dispatch():
        on_device = GaussianMixture(
            3,
            covariance_type=cov_type,
            **{name: xps.asarray(value) for name, value in given.items()},
        ).fit(xps.asarray(X))
    assert_allclose(to_host(on_device.means_), on_host.means_, rtol=1e-10)


def test_predicting_on_another_namespace_raises():
    X = _blobs()
    with _dispatch():
        model = GaussianMixture(3, random_state=0).fit(xps.asarray(X))
        with pytest.raises(ValueError, match="same namespace"):
            model.predict(X)


def test_without_dispatch_array_api_input_is_read_as_numpy():
    X = _blobs()
    model = GaussianMixture(3, random_state=0).fit(xps.asarray(X))
    assert isinstance(model.means_, np.ndarray)
    reference = GaussianMixture(3, random_state=0).fit(X)
    assert_allclose(model.means_, reference.means_)


def test_an_estimator_without_array_api_support_says_so():
    X = _blobs()
    y = X[:, 0] + 1.0
    with _dispatch(), pytest.raises(TypeError, match="RegressionMixture"):
        RegressionMixture(2, random_state=0).fit(xps.asarray(X), xps.asarray(y))
