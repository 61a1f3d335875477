"""Progress bars: off by default, on by daskmix.show_progress (the dask config
key daskmix.progress), on stderr."""

from __future__ import annotations

import sys

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from conftest import make_blobs

import daskmix
from daskmix import (
    GaussianMixture,
    GaussianMixtureIC,
    KMeans,
    Labeled,
    RegressionMixtureIC,
)
from daskmix._em import progress


@pytest.fixture(autouse=True)
def progress_off():
    daskmix.show_progress(False)
    yield
    daskmix.show_progress(False)


@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
def test_em_fit_shows_iteration_lower_bound_and_pass_time(capsys, as_dask):
    X, _ = make_blobs(2000, 2, 3, seed=0)
    data = da.from_array(X, chunks=(500, -1)) if as_dask else X
    with daskmix.show_progress():
        model = GaussianMixture(3, n_init=2, max_iter=7, tol=0, random_state=0)
        model.fit(data)
    err = capsys.readouterr().err
    assert "EM init 0" in err and "EM init 1" in err
    assert f"{model.n_iter_}it" in err
    assert f"lower bound={model.lower_bound_:.6g}" in err
    assert "pass=" in err and " ms" in err
    assert "not converged" in err  # tol=0 runs to max_iter


@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
def test_kmeans_fit_shows_inertia(capsys, as_dask):
    X, _ = make_blobs(2000, 2, 3, seed=1)
    data = da.from_array(X, chunks=(500, -1)) if as_dask else X
    daskmix.show_progress(True)
    model = KMeans(3, random_state=0).fit(data)
    err = capsys.readouterr().err
    assert "KMeans init 0" in err
    assert f"inertia={model.inertia_:.6g}" in err
    assert f"{model.n_iter_}it" in err and "converged" in err


def test_minibatch_fit_shows_steps(capsys):
    X, _ = make_blobs(4000, 2, 3, seed=2)
    with daskmix.show_progress():
        GaussianMixture(
            3, algorithm="minibatch", batch_size=500, max_iter=2, random_state=0
        ).fit(X)
    err = capsys.readouterr().err
    assert "Stepwise EM init 0" in err and "smoothed bound=" in err
    assert "rows seen=" in err and "step" in err and "pass=" not in err


def test_off_by_default_and_restored_after_the_block(capsys):
    X, _ = make_blobs(500, 2, 2, seed=3)
    assert not progress.progress_enabled()
    GaussianMixture(2, random_state=0).fit(X)
    KMeans(2, random_state=0).fit(X)
    assert capsys.readouterr().err == ""
    daskmix.show_progress(True)
    with daskmix.show_progress(False):
        assert not progress.progress_enabled()
    assert progress.progress_enabled()


def test_missing_tqdm_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # what a missing package does
    with pytest.raises(ImportError, match=r"pip install 'daskmix\[progress\]'"):
        daskmix.show_progress(True)
    assert not progress.progress_enabled()
    daskmix.show_progress(False)  # turning it off never needs tqdm


def test_the_dask_config_key_is_the_switch(capsys):
    X, _ = make_blobs(500, 2, 2, seed=4)
    with dask.config.set({"daskmix.progress": True}):
        GaussianMixture(2, random_state=0).fit(X)
    assert "EM init 0" in capsys.readouterr().err
    with daskmix.show_progress():
        assert dask.config.get("daskmix.progress") is True
    assert dask.config.get("daskmix.progress") is False


@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
def test_gaussian_selector_shows_passes_best_bound_and_choice(capsys, as_dask):
    X, _ = make_blobs(1500, 2, 3, seed=5)
    data = da.from_array(X, chunks=(500, -1)) if as_dask else X
    with daskmix.show_progress():
        ic = GaussianMixtureIC([1, 2, 3], covariance_type="diag", random_state=0)
        ic.fit(data)
    err = capsys.readouterr().err
    assert "GaussianMixtureIC" in err and "pass" in err
    assert "3 runs, best lower bound=" in err
    chosen = f"chosen n_components={ic.n_components_}, covariance_type='diag'"
    bic = ic.criteria_["bic"].iloc[ic.best_index_]
    assert f"{chosen}: bic={bic:.6g}" in err
    assert "EM init" not in err  # one bar for the sweep, none per candidate


def test_regression_selector_and_minibatch_sweep_count_their_steps(capsys):
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (1200, 1))
    y = np.where(rng.random(1200) < 0.5, 2.0, -1.0) * x[:, 0]
    y = y + 0.1 * rng.standard_normal(1200)
    with daskmix.show_progress():
        RegressionMixtureIC(
            [1, 2], gating="none", noise="component", random_state=0
        ).fit(x, y)
        GaussianMixtureIC(
            [1, 2], covariance_type="diag", algorithm="minibatch", batch_size=200
        ).fit(np.column_stack([x, y]))
    err = capsys.readouterr().err
    assert "RegressionMixtureIC" in err and "chosen n_components=" in err
    assert "GaussianMixtureIC" in err and "step" in err


def test_labeled_selector_shows_the_bar(capsys):
    X, _ = make_blobs(600, 2, 2, seed=6)
    cube = xr.DataArray(X.reshape(20, 30, 2), dims=("y", "x", "band"))
    with daskmix.show_progress():
        Labeled(GaussianMixtureIC([1, 2], covariance_type="full"), "band").fit(cube)
    err = capsys.readouterr().err
    assert "GaussianMixtureIC" in err and "chosen n_components=" in err


def test_sweep_bar_shows_the_runs_still_going(capsys):
    daskmix.show_progress(True)
    bar = progress.sweep_progress("GaussianMixtureIC", "pass")
    bar.step(3, 5, 8, "-2.5 (n_components=2)")
    bar.close()
    err = capsys.readouterr().err
    assert "3pass" in err
    assert "going=5/8 runs, best lower bound=-2.5 (n_components=2)" in err
