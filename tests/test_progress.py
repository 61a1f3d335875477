"""Progress bars: off by default, on by daskmix.show_progress, on stderr."""

from __future__ import annotations

import sys

import dask.array as da
import pytest
from conftest import make_blobs

import daskmix
from daskmix import GaussianMixture, KMeans
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
    assert "EM init 0" in err and "lower bound=" in err


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
