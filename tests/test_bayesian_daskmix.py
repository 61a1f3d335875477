"""BayesianGaussianMixture beyond scikit-learn's own tests: the exact lower-bound
trajectory against scikit-learn, dask and a real cluster, labelled input,
stochastic variational inference (minibatch, partial_fit) and bad input."""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from conftest import make_blobs
from sklearn import mixture
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from daskmix import BayesianGaussianMixture
from daskmix._engine.rows import RowBlocks
from daskmix.cluster.seeding import draw_indices

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]


@parametrize_with_checks([BayesianGaussianMixture()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _sklearn_random_resp(n_samples: int, n_components: int, seed: int) -> np.ndarray:
    """The responsibilities scikit-learn starts from with init_params='random'."""
    resp = np.random.RandomState(seed).uniform(size=(n_samples, n_components))
    return resp / resp.sum(axis=1)[:, None]


@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_lower_bound_trajectory_matches_sklearn(covariance_type, as_dask):
    """From the same responsibilities every iteration's lower bound agrees to 1e-6."""
    n_samples, n_components, seed = 600, 5, 3
    X, _ = make_blobs(n_samples, 3, 3, seed=1)
    resp = _sklearn_random_resp(n_samples, n_components, seed)
    if as_dask:
        X_in = da.from_array(X, chunks=(150, 3))
        resp = da.from_array(resp, chunks=(200, n_components))  # rechunked to X's
    else:
        X_in = X
    for prior_type in PRIOR_TYPES:
        kwargs = dict(
            n_components=n_components,
            covariance_type=covariance_type,
            weight_concentration_prior_type=prior_type,
            max_iter=30,
            tol=1e-9,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ref = mixture.BayesianGaussianMixture(
                init_params="random", random_state=seed, **kwargs
            ).fit(X)
            ours = BayesianGaussianMixture(init_params=resp, **kwargs).fit(X_in)
        assert ours.n_iter_ == ref.n_iter_
        if hasattr(ref, "lower_bounds_"):  # scikit-learn records it from 1.7
            # scikit-learn's tied bounds are (1,) arrays
            expected = np.ravel(np.asarray(ref.lower_bounds_, dtype=np.float64))
            np.testing.assert_allclose(ours.lower_bounds_, expected, rtol=0, atol=1e-6)
        last = float(np.ravel(ref.lower_bound_)[0])
        assert ours.lower_bound_ == pytest.approx(last, abs=1e-6)
        for name in (
            "weights_",
            "means_",
            "covariances_",
            "precisions_cholesky_",
            "mean_precision_",
            "degrees_of_freedom_",
        ):
            np.testing.assert_allclose(
                getattr(ours, name), getattr(ref, name), rtol=1e-8, atol=1e-10
            )
        np.testing.assert_allclose(
            ours.weight_concentration_, ref.weight_concentration_, rtol=1e-10
        )
        proba = ours.predict_proba(X_in)
        scores = ours.score_samples(X_in)
        if as_dask:
            assert isinstance(proba, da.Array)
            proba, scores = proba.compute(), scores.compute()
        np.testing.assert_allclose(proba, ref.predict_proba(X), rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(scores, ref.score_samples(X), rtol=1e-10)
        assert ours.score(X_in) == pytest.approx(ref.score(X), rel=1e-10)


class _Draws(np.random.RandomState):
    """A RandomState whose ``choice`` returns given rows (scikit-learn's draw)."""

    def __init__(self, rows):
        super().__init__(0)
        self.rows = rows

    def choice(self, *args, **kwargs):
        return self.rows


def test_init_methods_agree_with_sklearn_first_m_step():
    """max_iter=0 gives scikit-learn's posterior after its first M-step.

    'random_from_data' draws its rows by row number (the same for numpy and
    dask input), not scikit-learn's: scikit-learn is handed those rows. The
    'kmeans' start clusters this small, well-separated data the same way.
    """
    X, _ = make_blobs(400, 2, 3, seed=2)
    drawn = draw_indices(RowBlocks({"X": X}), 3, np.random.RandomState(0))
    for method in ("random_from_data", "kmeans"):
        for covariance_type in COVARIANCE_TYPES:
            kwargs = dict(
                n_components=3,
                covariance_type=covariance_type,
                init_params=method,
                max_iter=0,
            )
            reference_state = _Draws(drawn) if method == "random_from_data" else 0
            ref = mixture.BayesianGaussianMixture(
                **kwargs, random_state=reference_state
            ).fit(X)
            ours = BayesianGaussianMixture(**kwargs, random_state=0).fit(X)
            order_ref = np.lexsort(ref.means_.T)
            order = np.lexsort(ours.means_.T)
            np.testing.assert_allclose(
                ours.means_[order], ref.means_[order_ref], rtol=1e-8
            )
            np.testing.assert_allclose(
                ours.mean_precision_[order], ref.mean_precision_[order_ref], rtol=1e-8
            )


def test_threads_and_local_cluster_agree(client):
    X, _ = make_blobs(2000, 3, 3, seed=5)
    Xd = da.from_array(X, chunks=(500, 3))
    kwargs = dict(n_components=4, init_params="random", random_state=0, max_iter=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with dask.config.set(scheduler="threads"):
            threaded = BayesianGaussianMixture(**kwargs).fit(Xd)
        on_cluster = BayesianGaussianMixture(**kwargs).fit(Xd)  # the active Client
        in_memory = BayesianGaussianMixture(**kwargs).fit(X)
    assert on_cluster.n_iter_ == threaded.n_iter_
    np.testing.assert_array_equal(on_cluster.means_, threaded.means_)
    np.testing.assert_array_equal(on_cluster.lower_bounds_, threaded.lower_bounds_)
    # numpy blocks differ from the dask chunks: equal up to summation order
    np.testing.assert_allclose(in_memory.means_, threaded.means_, rtol=1e-9)
    np.testing.assert_allclose(
        in_memory.lower_bounds_, threaded.lower_bounds_, rtol=1e-10
    )
    labels = on_cluster.predict(Xd)
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), in_memory.predict(X))


def test_priors_from_dask_match_numpy():
    X, _ = make_blobs(3000, 4, 3, seed=7)
    X = X + 1e6  # the shifted moments keep the covariance prior's digits
    for covariance_type in COVARIANCE_TYPES:
        kwargs = dict(n_components=2, covariance_type=covariance_type, max_iter=0)
        ref = mixture.BayesianGaussianMixture(**kwargs).fit(X)
        ours = BayesianGaussianMixture(**kwargs).fit(da.from_array(X, chunks=700))
        np.testing.assert_allclose(ours.mean_prior_, ref.mean_prior_, rtol=1e-14)
        np.testing.assert_allclose(
            ours.covariance_prior_, ref.covariance_prior_, rtol=1e-7
        )


def test_labeled_input_and_output():
    import pandas as pd
    import xarray as xr

    X, _ = make_blobs(1000, 3, 3, seed=4)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = BayesianGaussianMixture(n_components=3, random_state=0).fit(frame)
    np.testing.assert_array_equal(model.feature_names_in_, ["a", "b", "c"])
    labeled = xr.DataArray(
        X,
        dims=("time", "feature"),
        coords={"time": np.arange(1000), "feature": ["a", "b", "c"]},
    )
    proba = model.predict_proba(labeled)
    assert proba.dims == ("time", "component")
    np.testing.assert_allclose(proba.values, model.predict_proba(frame))


def test_partial_fit_on_all_rows_is_one_variational_iteration():
    """With a first step size of 1, one partial_fit on X is one batch iteration.

    This pins the scaling of stochastic variational inference: the running
    per-row statistics, times the rows seen, give the batch posterior.
    """
    X, _ = make_blobs(2000, 3, 3, seed=8)
    for covariance_type in COVARIANCE_TYPES:
        kwargs = dict(
            n_components=4,
            covariance_type=covariance_type,
            init_params="random",
            random_state=1,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            batch = BayesianGaussianMixture(max_iter=1, **kwargs).fit(X)
        stream = BayesianGaussianMixture(learning_offset=0.0, **kwargs).partial_fit(X)
        for name in ("means_", "covariances_", "mean_precision_", "weights_"):
            np.testing.assert_allclose(
                getattr(stream, name), getattr(batch, name), rtol=1e-10
            )


def test_minibatch_fit_finds_the_clusters():
    X, means = make_blobs(40_000, 3, 4, seed=9)
    truth = np.argmin(((X[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    batch = BayesianGaussianMixture(n_components=4, random_state=0).fit(X)
    model = BayesianGaussianMixture(
        n_components=4, algorithm="minibatch", batch_size=2048, random_state=0
    ).fit(X)
    assert 0 < model.n_steps_ < 40_000 / 2048 * 100
    assert adjusted_rand_score(truth, model.predict(X)) > 0.99
    np.testing.assert_allclose(
        np.sort(model.means_, axis=0), np.sort(batch.means_, axis=0), atol=0.05
    )
    assert model.score(X) == pytest.approx(batch.score(X), abs=0.01)
    # its smoothed bound estimates the batch fit's lower bound (of all the rows)
    assert model.lower_bound_ == pytest.approx(batch.lower_bound_, rel=0.01)
    # the posterior counts stand for all the rows, not one batch
    assert model.mean_precision_.sum() == pytest.approx(
        X.shape[0] + 4 * model.mean_precision_prior_, rel=1e-6
    )


def test_partial_fit_stream():
    X, means = make_blobs(30_000, 2, 3, seed=10)
    truth = np.argmin(((X[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    model = BayesianGaussianMixture(n_components=3, random_state=0)
    Xd = da.from_array(X, chunks=3000)
    for start in range(0, 30_000, 3000):
        model.partial_fit(Xd[start : start + 3000])
    assert model.n_steps_ == 10
    assert adjusted_rand_score(truth, model.predict(X)) > 0.99
    # the running statistics stand for every row seen so far
    assert model.mean_precision_.sum() == pytest.approx(30_000 + 3, rel=1e-6)


def test_bad_initial_responsibilities():
    X, _ = make_blobs(100, 2, 2, seed=0)
    with pytest.raises(ValueError, match=r"init_params: .*shape \(100, 3\)"):
        BayesianGaussianMixture(n_components=3, init_params=np.ones((100, 2))).fit(X)
    with pytest.raises(ValueError, match="init_params: .*non-negative"):
        BayesianGaussianMixture(n_components=2, init_params=-np.ones((100, 2))).fit(X)
    with pytest.raises(TypeError, match="init_params: .*dask array"):
        BayesianGaussianMixture(n_components=2, init_params=np.ones((100, 2))).fit(
            da.from_array(X, chunks=50)
        )


def test_bad_priors():
    X, _ = make_blobs(100, 2, 2, seed=0)
    with pytest.raises(ValueError, match="'full covariance_prior' should have"):
        BayesianGaussianMixture(covariance_prior=np.eye(3)).fit(X)
    with pytest.raises(ValueError, match="symmetric, positive-definite"):
        BayesianGaussianMixture(covariance_prior=-np.eye(2)).fit(X)
    with pytest.raises(ValueError, match="'means' should have the shape"):
        BayesianGaussianMixture(mean_prior=np.zeros(3)).fit(X)


@pytest.mark.parametrize("name", ["VEV", "EEE", "VII"])
def test_mclust_models_are_refused_with_the_allowed_names(name):
    """The variational M-step has a prior for scikit-learn's four forms only:
    an mclust name is refused up front, naming the four, and never fitted."""
    X = make_blobs(200, 2, 2, seed=0)[0]
    model = BayesianGaussianMixture(n_components=2, covariance_type=name)
    with pytest.raises(ValueError, match="covariance_type") as raised:
        model.fit(X)
    assert all(allowed in str(raised.value) for allowed in COVARIANCE_TYPES)
    assert not hasattr(model, "means_")
