"""float32 statistics of separated clusters, and overflowing magnitudes (issue 22).

* float32 data of clusters 1e5 apart (sd 100) give the float64 fit to 1e-5,
  for the four E-step forms and so every covariance model, on both kernel
  backends; the opt-in float32 path keeps full covariances of data offset
  by 1e3 as close.
* A finite row of magnitude 1e300 never gives NaN or a made-up label: Gaussian
  mixtures raise a ValueError naming the overflow (when a lazy output is
  computed, for dask input), KMeans labels it and measures its distances
  exactly.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

import daskmix


def separated(n_per=300, n_features=3, spacing=1e5, sd=100.0, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.arange(3)[:, None] * spacing * np.ones(n_features)
    return np.vstack(
        [c + sd * rng.standard_normal((n_per, n_features)) for c in centers]
    )


def full_start(X, means, covariance_type):
    """Weights, means and precisions, representable in float32: both fits of a
    comparison start from the same float64 values."""
    model = daskmix.GaussianMixture(
        3, covariance_type=covariance_type, max_iter=0, means_init=means
    ).fit(X)

    def rounded(a):
        return np.asarray(a, dtype=np.float32).astype(np.float64)

    weights = rounded(model.weights_)
    precisions = rounded(model.precisions_)
    if covariance_type in ("full", "tied"):
        precisions = 0.5 * (precisions + np.swapaxes(precisions, -1, -2))
    return dict(
        weights_init=weights / weights.sum(),
        means_init=rounded(means),
        precisions_init=precisions,
    )


def fit_from(X, covariance_type, init, **kwargs):
    return daskmix.GaussianMixture(
        3, covariance_type=covariance_type, max_iter=3, tol=0, **init, **kwargs
    ).fit(X)


@pytest.mark.parametrize("backend", ["numpy", "compiled"])
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_float32_separated_clusters_match_float64(backend, covariance_type):
    if backend == "compiled":
        pytest.importorskip("numba")
    X32 = separated().astype(np.float32)
    X64 = X32.astype(np.float64)
    means = X64.reshape(3, 300, 3).mean(axis=1) + 10.0
    init = full_start(X64, means, covariance_type)
    with dask.config.set({"daskmix.kernels": backend}):
        a = fit_from(X64, covariance_type, init)
        b = fit_from(X32, covariance_type, init)
    # fitted attributes of float32 input are float32
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-5)
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-6)
    np.testing.assert_allclose(b.weights_, a.weights_, rtol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "compiled"])
def test_float32_compute_path_on_offset_data(backend):
    if backend == "compiled":
        pytest.importorskip("numba")
    rng = np.random.default_rng(1)
    means = rng.standard_normal((3, 4)) * 3 + 1e3
    X32 = (means[rng.integers(0, 3, 3000)] + rng.standard_normal((3000, 4))).astype(
        np.float32
    )
    X64 = X32.astype(np.float64)
    init = full_start(X64, means, "full")
    with dask.config.set({"daskmix.kernels": backend}):
        a = fit_from(X64, "full", init)
        with dask.config.set({"daskmix.float32-compute": True}):
            b = fit_from(X32, "full", init)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-6)


@pytest.fixture(scope="module")
def two_blobs():
    rng = np.random.default_rng(2)
    return np.vstack(
        [rng.standard_normal((200, 2)), rng.standard_normal((200, 2)) + 10]
    )


HUGE = np.array([[1e300, 0.0], [5.0, 5.0]])


@pytest.mark.parametrize("backend", ["numpy", "compiled"])
@pytest.mark.parametrize(
    "estimator",
    [
        lambda: daskmix.GaussianMixture(2, random_state=0),
        lambda: daskmix.BayesianGaussianMixture(n_components=2, random_state=0),
        lambda: daskmix.GaussianMixtureIC(n_components=[1, 2], random_state=0),
    ],
)
@pytest.mark.parametrize("lazy", [False, True])
def test_gaussian_outputs_report_overflow(two_blobs, backend, estimator, lazy):
    if backend == "compiled":
        pytest.importorskip("numba")
    with dask.config.set({"daskmix.kernels": backend}):
        model = estimator().fit(two_blobs)
        data = da.from_array(HUGE, chunks=1) if lazy else HUGE
        for method in ("score_samples", "predict_proba", "predict"):
            with pytest.raises(ValueError, match="overflow"):
                out = getattr(model, method)(data)
                if lazy:
                    out.compute()


@pytest.mark.parametrize("backend", ["numpy", "compiled"])
@pytest.mark.parametrize("lazy", [False, True])
def test_kmeans_labels_and_distances_of_huge_rows(two_blobs, backend, lazy):
    if backend == "compiled":
        pytest.importorskip("numba")
    rows = np.array([[1e300, 1e300], [-1e300, -1e300], [1e308, -1e308], [5.0, 5.0]])
    with dask.config.set({"daskmix.kernels": backend}):
        model = daskmix.KMeans(2, random_state=0, n_init=1).fit(two_blobs)
        data = da.from_array(rows, chunks=2) if lazy else rows
        labels = np.asarray(model.predict(data))
        distances = np.asarray(model.transform(data))
    centers = model.cluster_centers_
    far = int(np.argmax(centers.sum(axis=1)))  # the centre near (10, 10)
    assert labels[0] == far and labels[1] == 1 - far
    expected_third = int(np.argmax(centers[:, 0] - centers[:, 1]))
    assert labels[2] == expected_third
    assert np.isfinite(distances).all()
    np.testing.assert_allclose(distances[0], np.sqrt(2) * 1e300, rtol=1e-12)
    with pytest.raises(ValueError, match="overflow"):
        model.score(rows)
