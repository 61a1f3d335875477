"""sample_weight in GaussianMixtureIC.fit and RegressionMixtureIC.fit.

Frequency weights: an integer weight w on a row must select as w copies of
the row, weight 0 as the row left out. The criteria are weighted sums with
n = sum of the weights in the penalty, so the criteria of a candidate's
fitted parameters equal those of its ``bic``/``aic``/``icl`` on the repeated
rows to rounding; on well-separated data, where every start reaches the same
optimum, the whole table agrees with a selection on the repeated rows.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from daskmix import GaussianMixtureIC, RegressionMixtureIC

CRITERIA = ["log_likelihood", "bic", "aic", "icl"]


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack(
        [
            rng.normal([0, 0], 0.5, (60, 2)),
            rng.normal([8, 8], 0.7, (50, 2)),
            rng.normal([0, 9], 0.6, (40, 2)),
        ]
    )
    return X, rng.integers(0, 4, len(X))


def _lines(seed=0, n=200):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, (n, 1))
    first = rng.random(n) < 0.5
    y = np.where(first, 3.0 * x[:, 0] + 10.0, -3.0 * x[:, 0] - 10.0)
    return x, y + rng.normal(0, 0.3, n), rng.integers(0, 4, n)


def _gmm_selector(**kwargs):
    params = dict(
        # K = 4 would split a blob: its local optima depend on the start
        n_components=[1, 2, 3],
        covariance_type=["full", "spherical"],
        init_params="k-means++",
        n_init=3,
        random_state=0,
        tol=1e-10,
        max_iter=500,
    )
    return GaussianMixtureIC(**{**params, **kwargs})


def _reg_selector(**kwargs):
    params = dict(
        # K = 3 would split a line: its local optima depend on the start
        n_components=[1, 2],
        gating="none",
        noise=["shared", "component"],
        n_init=3,
        random_state=0,
        tol=1e-10,
        max_iter=500,
    )
    return RegressionMixtureIC(**{**params, **kwargs})


def _assert_same_selection(weighted, repeated, keys, rtol=1e-6):
    assert weighted.best_index_ == repeated.best_index_
    for key in keys:
        assert getattr(weighted, key) == getattr(repeated, key)
    for name in CRITERIA:
        np.testing.assert_allclose(
            weighted.criteria_[name], repeated.criteria_[name], rtol=rtol
        )
    np.testing.assert_array_equal(
        weighted.criteria_["n_parameters"], repeated.criteria_["n_parameters"]
    )


def _assert_criteria_of_best(selector, X, y=None):
    """The weighted criteria of the chosen row are its criteria on ``X`` (repeated)."""
    best = selector.best_estimator_
    row = selector.criteria_.iloc[selector.best_index_]
    args = (X,) if y is None else (X, y)
    np.testing.assert_allclose(row["bic"], best.bic(*args), rtol=1e-10)
    np.testing.assert_allclose(row["aic"], best.aic(*args), rtol=1e-10)
    np.testing.assert_allclose(row["icl"], best.icl(*args), rtol=1e-10)
    np.testing.assert_allclose(
        row["log_likelihood"], np.sum(best.score_samples(*args)), rtol=1e-10
    )


@pytest.mark.parametrize("as_dask", [False, True])
def test_gaussian_integer_weights_select_as_repeated_rows(as_dask):
    X, w = _blobs()
    Xr = np.repeat(X, w, axis=0)
    Xw, ww = (
        (da.from_array(X, chunks=40), da.from_array(w, chunks=40))
        if as_dask
        else (X, w)
    )
    weighted = _gmm_selector().fit(Xw, sample_weight=ww)
    repeated = _gmm_selector().fit(Xr)
    assert weighted.n_components_ == 3
    _assert_same_selection(weighted, repeated, ["n_components_", "covariance_type_"])
    _assert_criteria_of_best(weighted, Xr)


@pytest.mark.parametrize("criterion", ["aic", "icl"])
def test_gaussian_weighted_criterion_chooses_by_weighted_table(criterion):
    X, w = _blobs(1)
    selector = _gmm_selector(criterion=criterion).fit(X, sample_weight=w)
    table = selector.criteria_
    assert selector.best_index_ == int(np.argmin(table[criterion]))
    _assert_criteria_of_best(selector, np.repeat(X, w, axis=0))


def test_gaussian_zero_weights_are_dropped_rows():
    X, w = _blobs(2)
    w = np.where(w == 0, 0, 1)
    weighted = _gmm_selector().fit(X, sample_weight=w)
    dropped = _gmm_selector().fit(X[w > 0])
    _assert_same_selection(weighted, dropped, ["n_components_", "covariance_type_"])


def test_gaussian_none_is_unweighted():
    X, _ = _blobs(3)
    plain = _gmm_selector(tol=1e-3, n_init=1).fit(X)
    none = _gmm_selector(tol=1e-3, n_init=1).fit(X, sample_weight=None)
    ones = _gmm_selector(tol=1e-3, n_init=1).fit(X, sample_weight=np.ones(len(X)))
    for name in CRITERIA:
        np.testing.assert_array_equal(plain.criteria_[name], none.criteria_[name])
        np.testing.assert_allclose(
            plain.criteria_[name], ones.criteria_[name], rtol=1e-10
        )


@pytest.mark.parametrize("noise", ["shared", "component"])
@pytest.mark.parametrize("as_dask", [False, True])
def test_regression_integer_weights_select_as_repeated_rows(as_dask, noise):
    x, y, w = _lines()
    xr, yr = np.repeat(x, w, axis=0), np.repeat(y, w)
    if as_dask:
        xw, yw, ww = (da.from_array(a, chunks=50) for a in (x, y, w))
    else:
        xw, yw, ww = x, y, w
    weighted = _reg_selector(noise=noise).fit(xw, yw, sample_weight=ww)
    repeated = _reg_selector(noise=noise).fit(xr, yr)
    assert weighted.n_components_ == 2
    _assert_same_selection(weighted, repeated, ["n_components_", "noise_"])
    _assert_criteria_of_best(weighted, xr, yr)


def test_regression_mixed_gating_weighted_conditional_criteria():
    """Two gatings: the table holds conditional log-likelihoods, weighted too."""
    x, y, w = _lines(1)
    xr, yr = np.repeat(x, w, axis=0), np.repeat(y, w)
    kwargs = dict(gating=["none", "gaussian"], noise="shared")
    weighted = _reg_selector(**kwargs).fit(x, y, sample_weight=w)
    repeated = _reg_selector(**kwargs).fit(xr, yr)
    _assert_same_selection(weighted, repeated, ["n_components_", "gating_"])


def test_regression_zero_weights_are_dropped_rows():
    x, y, w = _lines(2)
    keep = w > 0
    weighted = _reg_selector().fit(x, y, sample_weight=keep.astype(float))
    dropped = _reg_selector().fit(x[keep], y[keep])
    _assert_same_selection(weighted, dropped, ["n_components_", "noise_"])


def test_minibatch_weighted_selection_runs_and_weighs():
    X, w = _blobs(4)
    selector = _gmm_selector(
        algorithm="minibatch", batch_size=64, n_init=1, tol=1e-3, max_iter=20
    ).fit(X, sample_weight=w)
    assert selector.n_components_ == 3
    _assert_criteria_of_best(selector, np.repeat(X, w, axis=0))


@pytest.mark.parametrize(
    "weights, match",
    [
        (-np.ones(150), "sample_weight"),
        (np.full(150, np.nan), "sample_weight"),
        (np.ones(149), "sample_weight"),
        (np.r_[np.ones(2), np.zeros(148)], "sample_weight"),
    ],
)
def test_bad_weights_raise(weights, match):
    X, _ = _blobs()
    with pytest.raises(ValueError, match=match):
        _gmm_selector(n_init=1).fit(X, sample_weight=weights)
    x, y, _ = _lines(n=150)
    with pytest.raises(ValueError, match=match):
        _reg_selector(n_init=1, n_components=[1, 2, 3]).fit(x, y, sample_weight=weights)
