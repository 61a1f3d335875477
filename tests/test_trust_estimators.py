"""Results users can trust: float32 parity with scikit-learn 1.9, and clear errors.

- dtype rules: fitted attributes and per-row outputs follow the input's float
  dtype (float32 in, float32 out) for GaussianMixture, RegressionMixture and
  KMeans, as scikit-learn's estimators do, while statistics are accumulated in
  float64; the checks of the ``*_init`` arrays use the tolerances of the
  array's own dtype (scikit-learn 1.9's rule);
- RegressionMixture aligns an xarray ``y`` on X's sample coordinate;
- NaN in a dask ``y``, a dask ``y`` with unknown chunk sizes and a wrong-length
  ``sample_weight`` raise clear ValueErrors.
"""

from __future__ import annotations

import re

import dask.array as da
import numpy as np
import pytest
import sklearn.cluster
import sklearn.mixture
import xarray as xr
from packaging.version import Version

from daskmix import GaussianMixture, KMeans, RegressionMixture

F32, F64 = np.float32, np.float64
# scikit-learn fits float32 X in float32 and checks weights_init with its own
# dtype's tolerance from 1.7: below (the floor, 1.6, is tested by CI through
# .ci/constraints-min.txt) the comparisons with it that need these are left out
SKLEARN = Version(sklearn.__version__)
SKLEARN_1_7 = SKLEARN >= Version("1.7")


def _blobs(dtype, n=600, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0], [6.0, 1.0], [1.0, 7.0]]) + offset
    labels = rng.integers(0, 3, n)
    X = centers[labels] + rng.standard_normal((n, 2))
    return X.astype(dtype)


def _lines(dtype, n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3.0, 3.0, (n, 1))
    component = rng.integers(0, 2, n)
    y = np.where(component == 0, 2.0 * x[:, 0] + 5.0, -2.0 * x[:, 0] - 5.0)
    return x.astype(dtype), y + 0.1 * rng.standard_normal(n)


def _dask(array):
    return da.from_array(array, chunks=(150,) + array.shape[1:])


# ------------------------------------------------------------- dtype rules
GM_ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_")
GM_ATTRIBUTES += ("precisions_cholesky_",)


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_gaussian_mixture_dtypes_match_sklearn(dtype, covariance_type):
    if dtype == F32 and not SKLEARN_1_7:
        pytest.skip(
            f"scikit-learn fits float32 X in float32 from 1.7 (found {SKLEARN})"
        )
    X = _blobs(dtype)
    ours = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    ref = sklearn.mixture.GaussianMixture(
        3, covariance_type=covariance_type, random_state=0
    ).fit(X)
    for name in GM_ATTRIBUTES:
        assert getattr(ours, name).dtype == getattr(ref, name).dtype == dtype, name
    for method in ("predict_proba", "score_samples", "predict"):
        assert getattr(ours, method)(X).dtype == getattr(ref, method)(X).dtype
    # sample: float64 points whatever the fitted dtype, int64 labels
    assert ours.sample(5)[0].dtype == ref.sample(5)[0].dtype == F64
    assert ours.sample(5)[1].dtype == ref.sample(5)[1].dtype
    assert isinstance(ours.score(X), float)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_gaussian_mixture_dask_outputs_in_input_dtype(dtype):
    X = _blobs(dtype)
    model = GaussianMixture(3, random_state=0).fit(_dask(X))
    assert model.means_.dtype == dtype
    for method in ("predict_proba", "score_samples"):
        lazy = getattr(model, method)(_dask(X))
        assert isinstance(lazy, da.Array)
        assert lazy.dtype == dtype and lazy.compute().dtype == dtype
        np.testing.assert_allclose(
            lazy.compute(), getattr(model, method)(X), rtol=1e-5, atol=1e-6
        )


def test_gaussian_mixture_float32_accumulates_in_float64():
    # an offset of 1e4 keeps 3 decimal digits of a float32 value: a float32
    # accumulation of the variances would be off by whole percents, a float64
    # one agrees with the float64 fit of the same (float32-rounded) values
    X32 = _blobs(F32, n=20_000, offset=1e4)
    start = dict(
        weights_init=np.full(3, 1 / 3),
        means_init=np.array([[0.0, 0.0], [6.0, 1.0], [1.0, 7.0]]) + 1e4,
        random_state=0,
        tol=1e-8,
    )
    g32 = GaussianMixture(3, **start).fit(X32)
    g64 = GaussianMixture(3, **start).fit(X32.astype(F64))
    assert g32.covariances_.dtype == F32
    np.testing.assert_allclose(g32.means_, g64.means_, rtol=1e-6)
    np.testing.assert_allclose(g32.covariances_, g64.covariances_, rtol=1e-3)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_kmeans_dtypes_match_sklearn(dtype):
    X = _blobs(dtype)
    ours = KMeans(3, random_state=0).fit(X)
    ref = sklearn.cluster.KMeans(3, n_init=1, random_state=0).fit(X)
    assert ours.cluster_centers_.dtype == ref.cluster_centers_.dtype == dtype
    assert ours.transform(X).dtype == ref.transform(X).dtype == dtype
    assert ours.fit_transform(X).dtype == dtype
    lazy = ours.transform(_dask(X))
    assert lazy.dtype == dtype and lazy.compute().dtype == dtype
    # the same clustering as in float64, centres rounded to float32
    ours64 = KMeans(3, random_state=0).fit(X.astype(F64))
    order = np.lexsort(ours.cluster_centers_.T)
    order64 = np.lexsort(ours64.cluster_centers_.T)
    np.testing.assert_allclose(
        ours.cluster_centers_[order], ours64.cluster_centers_[order64], rtol=1e-6
    )


@pytest.mark.parametrize("gating", ["gaussian", "none"])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_regression_mixture_follows_x_dtype(dtype, gating):
    x, y = _lines(dtype)
    model = RegressionMixture(2, gating=gating, random_state=0).fit(x, y)
    names = ["weights_", "coef_", "intercept_", "noise_variance_"]
    if gating == "gaussian":
        names += ["means_", "covariances_", "precisions_", "precisions_cholesky_"]
    for name in names:
        assert getattr(model, name).dtype == dtype, name
    outputs = [
        model.predict(x),
        *model.predict(x, return_std=True),
        model.component_proba(x),
        model.component_proba(x, y),
        model.score_samples(x, y),
    ]
    assert all(out.dtype == dtype for out in outputs)
    lazy = model.predict(_dask(x))
    assert lazy.dtype == dtype and lazy.compute().dtype == dtype
    assert isinstance(model.score(x, y), float)


# ------------------------------------------------------- *_init tolerances
def _weights32(n=3):
    """float32 weights that sum to 1 in float32 but not within 1e-8 in float64."""
    for seed in range(100):
        w = np.random.default_rng(seed).random(n).astype(F32)
        w /= w.sum()
        if abs(float(w.sum()) - 1.0) <= 1e-6 and abs(w.astype(F64).sum() - 1) > 1e-8:
            return w
    raise AssertionError("no such weights")  # pragma: no cover


@pytest.mark.parametrize("x_dtype", [F32, F64])
def test_float32_weights_init_normalised_in_float32_are_accepted(x_dtype):
    X = _blobs(x_dtype)
    weights = _weights32()
    model = GaussianMixture(3, weights_init=weights, random_state=0).fit(X)
    if SKLEARN_1_7:  # scikit-learn (from 1.7) accepts the same array
        sklearn.mixture.GaussianMixture(3, weights_init=weights, random_state=0).fit(X)
    assert model.weights_init is weights
    assert model.weights_.dtype == x_dtype


@pytest.mark.parametrize(
    "weights, accepted",
    [
        (np.array([0.5, 0.3, 0.2 + 5e-7], dtype=F32), True),  # within 1e-6
        (np.array([0.5, 0.3, 0.2 + 5e-6], dtype=F32), False),
        (np.array([0.5, 0.3, 0.2 + 5e-7], dtype=F64), False),  # float64: 1e-8
        (np.array([0.5, 0.3, 0.2 + 5e-9], dtype=F64), True),
    ],
)
def test_weights_init_tolerance_follows_its_dtype_as_sklearn(weights, accepted):
    X = _blobs(F64)
    msg = re.escape("The parameter 'weights' should be normalized")
    theirs = (sklearn.mixture.GaussianMixture,) if SKLEARN_1_7 else ()
    for cls in (GaussianMixture, *theirs):
        model = cls(3, weights_init=weights, random_state=0, max_iter=1)
        if accepted:
            with pytest.warns(Warning):  # max_iter=1: not converged
                model.fit(X)
        else:
            with pytest.raises(ValueError, match=msg):
                model.fit(X)


def test_float32_precisions_init_symmetric_to_float32_rounding():
    X = _blobs(F32)
    precisions = np.stack([np.eye(2)] * 3).astype(F32)
    precisions[0, 0, 1], precisions[0, 1, 0] = 3e-7, -3e-7  # float32 noise
    GaussianMixture(3, precisions_init=precisions, random_state=0).fit(X)
    # the same values in float64 are not symmetric within float64 tolerances
    with pytest.raises(ValueError, match="symmetric, positive-definite"):
        GaussianMixture(3, precisions_init=precisions.astype(F64), random_state=0).fit(
            X
        )
    precisions[0, 0, 1], precisions[0, 1, 0] = 3e-5, -3e-5
    with pytest.raises(ValueError, match="symmetric, positive-definite"):
        GaussianMixture(3, precisions_init=precisions, random_state=0).fit(X)


# ------------------------------------------------ xarray y: align on labels
def _labeled_lines():
    x, y = _lines(F64)
    time = np.arange(x.shape[0]) * 10
    X = xr.DataArray(x, dims=("time", "feature"), coords={"time": time})
    Y = xr.DataArray(y, dims=("time",), coords={"time": time})
    return x, y, X, Y


@pytest.mark.parametrize("lazy", [False, True])
def test_regression_mixture_aligns_xarray_y_on_sample_coordinate(lazy):
    x, y, X, Y = _labeled_lines()
    shuffled = Y.isel(time=np.random.default_rng(1).permutation(Y.sizes["time"]))
    if lazy:
        X, shuffled = X.chunk({"time": 150}), shuffled.chunk({"time": 100})
    kwargs = dict(gating="none", init_params="random", n_init=3, random_state=0)
    reference = RegressionMixture(2, **kwargs).fit(x, y)
    model = RegressionMixture(2, **kwargs).fit(X, shuffled)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-10)
    np.testing.assert_allclose(
        np.sort(np.abs(model.coef_.ravel())), [2.0, 2.0], rtol=0.05
    )
    assert model.score(X, shuffled) == pytest.approx(reference.score(x, y))
    np.testing.assert_allclose(
        model.score_samples(X, shuffled), reference.score_samples(x, y)
    )
    # a 2-D (n, 1) y along the same dimension aligns the same way
    column = shuffled.expand_dims("target", axis=-1)
    with pytest.warns(UserWarning, match="column-vector y"):
        from_column = RegressionMixture(2, **kwargs).fit(X, column)
    np.testing.assert_allclose(from_column.coef_, reference.coef_)


def test_regression_mixture_xarray_y_mismatch_raises():
    _, _, X, Y = _labeled_lines()
    model = RegressionMixture(2, random_state=0)
    moved = Y.assign_coords(time=Y["time"] + 5)
    with pytest.raises(ValueError, match="coordinate values of y along 'time'"):
        model.fit(X, moved)
    with pytest.raises(ValueError, match="sample dimension is 'time'"):
        model.fit(X, Y.rename(time="t"))
    with pytest.raises(ValueError, match="coordinate values of y along 'time'"):
        model.fit(X, Y.isel(time=slice(1, None)))
    duplicated = Y.assign_coords(time=np.r_[Y["time"].values[:-1], 0])
    with pytest.raises(ValueError, match="duplicate values"):
        model.fit(X, duplicated)


def test_regression_mixture_xarray_y_without_index_is_positional():
    x, y, X, _ = _labeled_lines()
    kwargs = dict(gating="none", random_state=0)
    unlabeled = xr.DataArray(y, dims=("time",))
    np.testing.assert_allclose(
        RegressionMixture(2, **kwargs).fit(X, unlabeled).coef_,
        RegressionMixture(2, **kwargs).fit(x, y).coef_,
    )


# ------------------------------------------------------------ clear errors
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_regression_score_dask_y_nan_raises_like_numpy(bad, client):
    x, y = _lines(F64)
    model = RegressionMixture(2, random_state=0).fit(x, y)
    y_bad = y.copy()
    y_bad[7] = bad
    msg = re.escape("Input y contains NaN or infinity.")
    with pytest.raises(ValueError, match=msg):
        model.score(x, y_bad)
    with pytest.raises(ValueError, match=msg):
        model.score(_dask(x), _dask(y_bad))


def test_dask_y_with_unknown_chunks_says_compute_chunk_sizes():
    x, y = _lines(F64)
    y_lazy = _dask(y)
    unknown = y_lazy[y_lazy > -np.inf]  # all rows, sizes unknown
    msg = r"y has unknown chunk sizes.*y\.compute_chunk_sizes\(\)"
    with pytest.raises(ValueError, match=msg):
        RegressionMixture(2, random_state=0).fit(_dask(x), unknown)
    model = RegressionMixture(2, random_state=0).fit(x, y)
    with pytest.raises(ValueError, match=msg):
        model.score(_dask(x), unknown)
    # the step the message asks for makes it work
    model.fit(_dask(x), unknown.compute_chunk_sizes())


@pytest.mark.parametrize("kind", ["numpy", "dask"])
def test_wrong_length_sample_weight_names_both_lengths(kind):
    x, y = _lines(F64)
    model = RegressionMixture(2, random_state=0).fit(x, y)
    weight = np.ones(x.shape[0] - 1)
    if kind == "dask":
        x, y, weight = _dask(x), _dask(y), _dask(weight)
    msg = rf"sample_weight has {x.shape[0] - 1} values but X has {x.shape[0]}"
    with pytest.raises(ValueError, match=msg):
        model.score(x, y, sample_weight=weight)


def test_dask_sample_weight_with_unknown_chunks_says_compute_chunk_sizes():
    x, y = _lines(F64)
    model = RegressionMixture(2, random_state=0).fit(x, y)
    weight = _dask(np.ones(x.shape[0]))
    with pytest.raises(ValueError, match=r"sample_weight\.compute_chunk_sizes"):
        model.score(_dask(x), _dask(y), sample_weight=weight[weight > 0])
