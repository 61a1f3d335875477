"""GaussianMixture(missing="marginalize"): EM through NaN entries.

The masked kernel is checked against a row-by-row reference written here from
the textbook formulas (scipy's multivariate normal on each row's observed
entries, the conditional mean and covariance of its missing ones), for every
covariance type, with and without row weights.
"""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from packaging.version import Version
from scipy.stats import multivariate_normal
from sklearn.metrics import adjusted_rand_score
from sklearn.utils import get_tags

from daskmix import (
    BayesianGaussianMixture,
    GaussianMixture,
    GaussianMixtureIC,
    Labeled,
)
from daskmix.gaussian.covariance import COVARIANCE_TYPES, covariance

TYPES = ("full", "tied", "diag", "spherical")


# ------------------------------------------------------------ the reference
def _dense(covariances, cov_type, n_components, n_features):
    if cov_type == "full":
        return covariances
    if cov_type == "tied":
        return np.repeat(covariances[None], n_components, axis=0)
    if cov_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return np.stack([np.eye(n_features) * c for c in covariances])


def _row(x, weights, means, covs):
    """log w_k + log p(x_o | k), E[x | x_o, k] (K, D), Cov[x | x_o, k] (K, D, D)."""
    observed = ~np.isnan(x)
    missing = ~observed
    n_components, n_features = means.shape
    log_prob = np.log(weights).copy()
    expected = np.tile(x, (n_components, 1))
    cond = np.zeros((n_components, n_features, n_features))
    for k, (mean, cov) in enumerate(zip(means, covs)):
        if not observed.any():
            expected[k], cond[k] = mean, cov
            continue
        s_oo = cov[np.ix_(observed, observed)]
        log_prob[k] += multivariate_normal(mean[observed], s_oo).logpdf(x[observed])
        gain = cov[np.ix_(missing, observed)] @ np.linalg.inv(s_oo)
        expected[k, missing] = mean[missing] + gain @ (x[observed] - mean[observed])
        cond[k][np.ix_(missing, missing)] = (
            cov[np.ix_(missing, missing)] - gain @ cov[np.ix_(observed, missing)]
        )
    return log_prob, expected, cond


def _reference_step(X, weights, means, covs, cov_type, reg_covar, sample_weight):
    """One EM iteration on the observed entries: new parameters, mean log-lik."""
    n_components, n_features = means.shape
    sw = np.ones(len(X)) if sample_weight is None else sample_weight
    nk = np.zeros(n_components)
    s1 = np.zeros((n_components, n_features))
    s2 = np.zeros((n_components, n_features, n_features))
    loglik = rows = 0.0
    for x, w in zip(X, sw):
        if np.isnan(x).all():
            continue
        log_prob, expected, cond = _row(x, weights, means, covs)
        top = log_prob.max()
        resp = np.exp(log_prob - top)
        loglik += w * (np.log(resp.sum()) + top)
        rows += w
        resp = w * resp / resp.sum()
        nk += resp
        s1 += resp[:, None] * expected
        s2 += resp[:, None, None] * (np.einsum("ki,kj->kij", expected, expected) + cond)
    new_means = s1 / nk[:, None]
    scatter = s2 / nk[:, None, None] - np.einsum("ki,kj->kij", new_means, new_means)
    eye = np.eye(n_features)
    if cov_type == "full":
        new_covs = scatter + reg_covar * eye
    elif cov_type == "tied":
        new_covs = np.einsum("k,kij->ij", nk, scatter) / nk.sum() + reg_covar * eye
    elif cov_type == "diag":
        new_covs = np.diagonal(scatter, axis1=1, axis2=2) + reg_covar
    else:
        new_covs = np.diagonal(scatter, axis1=1, axis2=2).mean(axis=1) + reg_covar
    return nk / nk.sum(), new_means, new_covs, loglik / rows


def _start(cov_type, n_components, n_features, seed=0):
    """Starting parameters of each covariance type: weights, means, precisions."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n_components, 5.0))
    means = rng.normal(0.0, 2.0, (n_components, n_features))
    if cov_type in ("full", "tied"):
        count = n_components if cov_type == "full" else 1
        factors = rng.normal(size=(count, n_features, n_features))
        precisions = factors @ factors.transpose(0, 2, 1) + n_features * np.eye(
            n_features
        )
        precisions = precisions if cov_type == "full" else precisions[0]
    elif cov_type == "diag":
        precisions = rng.uniform(0.3, 2.0, (n_components, n_features))
    else:
        precisions = rng.uniform(0.3, 2.0, n_components)
    return weights, means, precisions


def _gappy(n_samples=240, n_features=4, fraction=0.3, seed=1):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(n_features, n_features))
    labels = rng.integers(0, 2, n_samples)
    X = rng.normal(size=(n_samples, n_features)) @ mixing + 4.0 * labels[:, None]
    X[rng.random(X.shape) < fraction] = np.nan
    X[3] = np.nan  # a row with no observed feature
    return X, labels


def _one_step(X, cov_type, sample_weight=None, **params):
    weights, means, precisions = _start(cov_type, 2, X.shape[1])
    model = GaussianMixture(
        2,
        covariance_type=cov_type,
        max_iter=1,
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
        missing="marginalize",
        **params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, sample_weight=sample_weight)


# ---------------------------------------------------------------- the kernel
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cov_type", TYPES)
def test_one_iteration_is_the_row_by_row_reference(cov_type, weighted):
    X, _ = _gappy()
    sample_weight = None
    if weighted:
        sample_weight = np.random.default_rng(2).integers(0, 4, len(X)).astype(float)
    model = _one_step(X, cov_type, sample_weight)
    weights, means, precisions = _start(cov_type, 2, X.shape[1])
    start = GaussianMixture(2, covariance_type=cov_type, max_iter=0)
    start.set_params(weights_init=weights, means_init=means, precisions_init=precisions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start.fit(np.nan_to_num(X))
    covs = _dense(start.covariances_, cov_type, 2, X.shape[1])
    expected = _reference_step(
        X, weights, means, covs, cov_type, model.reg_covar, sample_weight
    )
    np.testing.assert_allclose(model.weights_, expected[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.means_, expected[1], rtol=0, atol=1e-11)
    np.testing.assert_allclose(model.covariances_, expected[2], rtol=0, atol=1e-11)
    assert model.lower_bound_ == pytest.approx(expected[3], abs=1e-12)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_every_covariance_model_climbs_the_observed_likelihood(cov_type):
    # any model's M-step reads the masked statistics in its form's frame: EM
    # never lowers the observed-data log-likelihood, which the reference
    # computes at the fitted parameters
    X, _ = _gappy(n_samples=200, n_features=3, fraction=0.25, seed=4)
    model = GaussianMixture(
        2, covariance_type=cov_type, missing="marginalize", random_state=0
    )
    model.set_params(tol=0.0, max_iter=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    assert np.all(np.diff(model.lower_bounds_) > -1e-10)
    covs = model.covariances_
    if covariance(cov_type).matrix:
        dense = _dense(covs, "full" if covs.ndim == 3 else "tied", 2, 3)
    else:
        dense = _dense(covs, "diag" if covs.ndim == 2 else "spherical", 2, 3)
    totals = [
        np.logaddexp.reduce(_row(x, model.weights_, model.means_, dense)[0])
        for x in X
        if not np.isnan(x).all()
    ]
    assert model.score(X) == pytest.approx(np.mean(totals), abs=1e-10)


@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_per_row_outputs_use_the_observed_entries(cov_type):
    X, _ = _gappy(n_samples=60)
    model = _one_step(X, cov_type)
    covs = _dense(model.covariances_, cov_type, 2, X.shape[1])
    log_prob, imputed = [], []
    for x in X:
        lp, expected, _ = _row(x, model.weights_, model.means_, covs)
        log_prob.append(lp)
        resp = np.exp(lp - lp.max())
        imputed.append(np.where(np.isnan(x), resp / resp.sum() @ expected, x))
    log_prob = np.array(log_prob)
    total = np.logaddexp.reduce(log_prob, axis=1)
    np.testing.assert_allclose(model.score_samples(X), total, atol=1e-11)
    np.testing.assert_allclose(
        model.predict_proba(X), np.exp(log_prob - total[:, None]), atol=1e-12
    )
    np.testing.assert_array_equal(model.predict(X), log_prob.argmax(axis=1))
    np.testing.assert_allclose(model.impute(X), np.array(imputed), atol=1e-11)
    # the row with no observed feature: the prior, log 1, the mixture mean
    np.testing.assert_allclose(model.predict_proba(X)[3], model.weights_)
    assert model.score_samples(X)[3] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(model.impute(X)[3], model.weights_ @ model.means_)
    # score averages the rows with an observed feature
    observed = ~np.isnan(X).all(axis=1)
    assert model.score(X) == pytest.approx(total[observed].mean(), abs=1e-12)


@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_sampled_gaps_follow_their_conditional_distribution(cov_type):
    X, _ = _gappy()
    model = _one_step(X, cov_type)
    row = X[~np.isnan(X).all(axis=1)][0].copy()
    row[[1, 2]] = np.nan
    copies = np.tile(row, (4000, 1))  # every copy draws its own numbers
    drawn = model.impute(copies, sample=True, random_state=0)
    covs = _dense(model.covariances_, cov_type, 2, X.shape[1])
    log_prob, expected, cond = _row(row, model.weights_, model.means_, covs)
    resp = np.exp(log_prob - np.logaddexp.reduce(log_prob))
    mean = resp @ expected[:, [1, 2]]
    spread = np.einsum("k,kij->ij", resp, cond[:, 1:3, 1:3]) + np.einsum(
        "k,ki,kj->ij", resp, expected[:, [1, 2]] - mean, expected[:, [1, 2]] - mean
    )
    np.testing.assert_array_equal(drawn[:, [0, 3]], copies[:, [0, 3]])
    sd = np.sqrt(np.diag(spread))
    assert np.all(np.abs(drawn[:, [1, 2]].mean(axis=0) - mean) < 4 * sd / np.sqrt(4000))
    np.testing.assert_allclose(np.cov(drawn[:, [1, 2]].T), spread, rtol=0.1, atol=0.02)
    # the same seed gives the same draws, chunked or not
    lazy = model.impute(
        da.from_array(copies, chunks=(777, 4)), sample=True, random_state=0
    )
    np.testing.assert_allclose(lazy.compute(), drawn, atol=1e-12)


def test_pattern_pieces_do_not_change_the_statistics():
    X, _ = _gappy(n_samples=300, n_features=6, fraction=0.4)
    default = _one_step(X, "full")
    with dask.config.set({"daskmix.missing.pattern-budget-bytes": 1}):
        one_row_at_a_time = _one_step(X, "full")
    np.testing.assert_allclose(default.means_, one_row_at_a_time.means_, atol=1e-13)
    np.testing.assert_allclose(
        default.covariances_, one_row_at_a_time.covariances_, atol=1e-13
    )


def test_rows_with_no_observed_feature_count_for_nothing():
    X, _ = _gappy()
    X = X[~np.isnan(X).all(axis=1)]
    with_empty = np.vstack([X, np.full((7, X.shape[1]), np.nan)])
    a, b = _one_step(X, "full"), _one_step(with_empty, "full")
    np.testing.assert_allclose(a.means_, b.means_, atol=1e-13)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, abs=1e-13)
    assert a.bic(X) == pytest.approx(b.bic(with_empty), abs=1e-9)


# ------------------------------------------------------- the fit, end to end
def test_data_without_gaps_fit_bit_for_bit_as_missing_error(blobs):
    X, _ = blobs
    for params in ({}, {"algorithm": "minibatch", "batch_size": 500}):
        models = [
            GaussianMixture(3, random_state=0, missing=missing, **params).fit(X)
            for missing in ("error", "marginalize")
        ]
        for name in ("weights_", "means_", "covariances_", "lower_bound_"):
            np.testing.assert_array_equal(
                getattr(models[0], name), getattr(models[1], name)
            )
    Xd = da.from_array(X, chunks=(700, 3))
    a, b = (
        GaussianMixture(3, random_state=0, missing=missing).fit(Xd)
        for missing in ("error", "marginalize")
    )
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.predict_proba(Xd), b.predict_proba(Xd))


@pytest.mark.xfail(
    Version(np.__version__) < Version("2.3"),
    reason="with numpy < 2.3 (2.2.6 and 1.24.0 measured; 2.3.5 passes) the threaded "
    "and the distributed fits of missing='marginalize' differ in the last bit of "
    "means_ (4e-16); cause not located",
    strict=False,
)
def test_chunking_and_scheduler_do_not_matter(client):
    X, _ = _gappy(n_samples=1500, fraction=0.25)
    weights, means, precisions = _start("full", 2, X.shape[1])
    params = {"n_components": 2, "missing": "marginalize", "tol": 0.0}
    params.update(
        max_iter=8, weights_init=weights, means_init=means, precisions_init=precisions
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = GaussianMixture(**params).fit(X)
        fits = {}
        for chunks in (300, 512):
            Xd = da.from_array(X, chunks=(chunks, X.shape[1]))
            with dask.config.set(scheduler="threads"):
                fits[chunks] = GaussianMixture(**params).fit(Xd)
        Xd = da.from_array(X, chunks=(300, X.shape[1]))
        short = {**params, "max_iter": 3}
        with dask.config.set(scheduler="threads"):
            threads = GaussianMixture(**short).fit(Xd)
        cluster = GaussianMixture(**short).fit(Xd)  # the client is active
    np.testing.assert_array_equal(threads.means_, cluster.means_)
    np.testing.assert_array_equal(threads.covariances_, cluster.covariances_)
    for fit in fits.values():
        np.testing.assert_allclose(fit.means_, reference.means_, atol=1e-10)
        np.testing.assert_allclose(fit.covariances_, reference.covariances_, atol=1e-10)
    lazy = cluster.predict_proba(Xd)
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), threads.predict_proba(X), atol=1e-12)
    np.testing.assert_allclose(cluster.impute(Xd).compute(), threads.impute(X))


def test_minibatch_and_partial_fit_go_through_gaps():
    X, labels = _gappy(n_samples=2000, fraction=0.2)
    batch = GaussianMixture(2, missing="marginalize", random_state=0).fit(X)
    minibatch = GaussianMixture(
        2, missing="marginalize", random_state=0, algorithm="minibatch", batch_size=256
    ).fit(X)
    streamed = GaussianMixture(2, missing="marginalize", random_state=0)
    for start in range(0, len(X), 250):
        streamed.partial_fit(X[start : start + 250])
    assert minibatch.score(X) == pytest.approx(batch.score(X), abs=0.01)
    # eight steps of 250 rows: near, not at, the optimum
    assert streamed.score(X) == pytest.approx(batch.score(X), abs=0.1)
    for model in (minibatch, streamed):
        assert adjusted_rand_score(labels, model.predict(X)) > 0.95


def test_integer_weights_are_repeated_rows():
    X, _ = _gappy(n_samples=150)
    counts = np.random.default_rng(3).integers(0, 4, len(X))
    weighted = _one_step(X, "full", counts.astype(float))
    repeated = _one_step(np.repeat(X, counts, axis=0), "full")
    np.testing.assert_allclose(weighted.means_, repeated.means_, atol=1e-12)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, atol=1e-12)
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, abs=1e-12)


@pytest.mark.parametrize(
    "init_params", ["kmeans", "k-means++", "random", "random_from_data", "gmm"]
)
def test_starts_on_data_where_no_row_is_complete(init_params):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 900)
    X = rng.normal(size=(900, 4)) + 8.0 * np.eye(3, 4)[labels]
    X[np.arange(900), rng.integers(0, 4, 900)] = np.nan  # one gap in every row
    model = GaussianMixture(
        3, missing="marginalize", init_params=init_params, n_init=2, random_state=0
    ).fit(X)
    assert np.isfinite(model.lower_bound_)
    assert adjusted_rand_score(labels, model.predict(X)) > 0.95


def test_float32_and_xarray_in_and_out():
    X, _ = _gappy()
    X32 = X.astype(np.float32)
    model = GaussianMixture(2, missing="marginalize", random_state=0).fit(X32)
    assert model.means_.dtype == np.float32
    assert model.impute(X32).dtype == np.float32
    assert not np.isnan(model.impute(X32)).any()
    frame = xr.DataArray(
        X, dims=("sample", "feature"), coords={"sample": np.arange(len(X)) * 10}
    )
    imputed = model.impute(frame)
    assert imputed.dims == ("sample", "feature")
    np.testing.assert_array_equal(imputed["sample"], frame["sample"])
    lazy = model.impute(frame.chunk({"sample": 50}))
    assert isinstance(lazy.data, da.Array)
    np.testing.assert_allclose(lazy.values, imputed.values)


# --------------------------------------------------------------- the errors
def test_nan_is_an_error_that_names_the_option():
    X, _ = _gappy()
    with pytest.raises(ValueError, match="NaN.*missing='marginalize'"):
        GaussianMixture(2).fit(X)
    with pytest.raises(ValueError, match="NaN.*missing='marginalize'"):
        GaussianMixture(2).fit(da.from_array(X, chunks=60))
    fitted = GaussianMixture(2, random_state=0).fit(np.nan_to_num(X))
    with pytest.raises(ValueError, match="NaN.*missing='marginalize'"):
        fitted.predict(X)
    # imputing is what NaN are for, whatever the fit's option
    assert not np.isnan(fitted.impute(X)).any()
    with pytest.raises(ValueError, match="NaN"):
        BayesianGaussianMixture(n_components=2).fit(X)


def test_infinity_stays_an_error():
    X, _ = _gappy()
    X[10, 1] = np.inf
    model = GaussianMixture(2, missing="marginalize", random_state=0)
    with pytest.raises(ValueError, match="infinity"):
        model.fit(X)
    with pytest.raises(ValueError, match="infinity"):
        model.fit(da.from_array(X, chunks=60))
    fitted = model.fit(np.delete(X, 10, axis=0))
    with pytest.raises(ValueError, match="infinity"):
        fitted.predict_proba(da.from_array(X, chunks=60)).compute()


def test_tags_say_nan_is_allowed():
    assert get_tags(GaussianMixture(missing="marginalize")).input_tags.allow_nan
    assert not get_tags(GaussianMixture()).input_tags.allow_nan


# ------------------------------------------------------ labeled, selection
def test_labeled_keeps_profiles_with_gaps():
    rng = np.random.default_rng(0)
    kind = rng.integers(0, 2, (6, 20))
    profiles = np.array([[20.0, 15.0, 8.0, 5.0], [8.0, 7.0, 6.0, 5.0]])
    values = profiles[kind] + 0.3 * rng.normal(size=(6, 20, 4))
    values[rng.random(values.shape) < 0.25] = np.nan
    values[0, 0] = np.nan  # land: nothing observed
    data = xr.DataArray(values, dims=("time", "lon", "depth"))
    model = Labeled(
        GaussianMixture(2, missing="marginalize", random_state=0), "depth", skipna=True
    ).fit(data)
    labels = model.predict(data)
    empty = np.isnan(values).all(axis=-1)
    assert empty.sum() < (np.isnan(values).any(axis=-1)).sum() / 10
    # profiles with gaps are classified: only empty ones are masked
    np.testing.assert_array_equal(labels.values == -1, empty)
    kept = ~empty
    assert adjusted_rand_score(kind[kept], labels.values[kept]) == 1.0
    imputed = model.impute(data)
    assert imputed.dims == data.dims
    assert int(np.isnan(imputed).sum()) == 4 * empty.sum()
    lazy = model.impute(data.chunk({"time": 2}))
    assert isinstance(lazy.data, da.Array)
    xr.testing.assert_allclose(lazy.compute(), imputed)
    # a Dataset of one variable per depth comes back as a Dataset
    dataset = data.to_dataset(dim="depth").rename({d: f"t{d}" for d in range(4)})
    on_dataset = Labeled(
        GaussianMixture(2, missing="marginalize", random_state=0),
        sample_dims=("time", "lon"),
        skipna=True,
    ).fit(dataset)
    filled = on_dataset.impute(dataset)
    assert isinstance(filled, xr.Dataset)
    np.testing.assert_allclose(filled["t2"].values, imputed.values[..., 2])


def test_the_selector_counts_the_same_parameters(blobs):
    X, _ = blobs
    X = X[:900].copy()
    X[np.random.default_rng(0).random(X.shape) < 0.2] = np.nan
    selector = GaussianMixtureIC(
        n_components=[1, 2, 3],
        covariance_type=["full", "diag"],
        missing="marginalize",
        random_state=0,
    ).fit(X)
    complete = GaussianMixtureIC(
        n_components=[1, 2, 3], covariance_type=["full", "diag"], random_state=0
    ).fit(np.nan_to_num(X))
    assert list(selector.criteria_["n_parameters"]) == list(
        complete.criteria_["n_parameters"]
    )
    assert selector.n_components_ == 3
    alone = GaussianMixture(
        3,
        covariance_type=selector.covariance_type_,
        missing="marginalize",
        random_state=0,
    ).fit(X)
    np.testing.assert_allclose(selector.best_estimator_.means_, alone.means_)
    assert selector.impute(X).shape == X.shape
