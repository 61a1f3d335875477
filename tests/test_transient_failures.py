"""A read that fails once fails the fit loudly and leaves the estimator as it was.

The data are real dask arrays whose blocks raise once while they are read
(:mod:`failing_reads`), on the threaded scheduler and on a real
``distributed.LocalCluster``; the failure falls in the first read, one in the
middle of the fit, or the last one (for a selector, the final scoring pass).
An estimator or selector must raise the error (never record it as a failed
candidate), keep its previous fitted state (or none), and fit normally once
the data read again.
"""

from __future__ import annotations

import contextlib

import dask
import dask.array as da
import numpy as np
import pytest
from failing_reads import ReadCounter, counted
from numpy.testing import assert_array_equal

from daskmix import (
    BayesianGaussianMixture,
    GaussianMixture,
    GaussianMixtureIC,
    KMeans,
    RegressionMixture,
    RegressionMixtureIC,
)
from daskmix.gaussian.model import GaussianModel

ROWS, BLOCK = 1200, 300


def _data():
    rng = np.random.default_rng(0)
    centres = np.array([[-4.0, 0.0], [4.0, 1.0]])
    labels = rng.integers(0, 2, ROWS)
    X = centres[labels] + rng.standard_normal((ROWS, 2))
    y = np.where(labels == 0, 2.0, -1.0) * X[:, 0] + 0.1 * rng.standard_normal(ROWS)
    return X, y


X, Y = _data()

#: each estimator, and the attributes that say it fitted the same model
ESTIMATORS = {
    "GaussianMixture": (lambda: GaussianMixture(2, random_state=0), ("means_",)),
    "BayesianGaussianMixture": (
        lambda: BayesianGaussianMixture(n_components=2, random_state=0),
        ("means_",),
    ),
    "KMeans": (lambda: KMeans(2, n_init=1, random_state=0), ("cluster_centers_",)),
    "RegressionMixture": (
        lambda: RegressionMixture(2, gating="none", random_state=0),
        ("coef_",),
    ),
    "GaussianMixtureIC": (
        lambda: GaussianMixtureIC([1, 2], covariance_type=["diag"], random_state=0),
        ("best_index_",),
    ),
    "RegressionMixtureIC": (
        lambda: RegressionMixtureIC(
            [1, 2], gating="none", noise="component", random_state=0
        ),
        ("best_index_",),
    ),
}
NEEDS_Y = ("RegressionMixture", "RegressionMixtureIC")


def _fit(estimator, name, X_fit, y=Y):
    """``fit`` with the targets ``y`` when the estimator needs them."""
    if name not in NEEDS_Y:
        return estimator.fit(X_fit)
    if not isinstance(X_fit, np.ndarray):
        y = da.from_array(y, chunks=(X_fit.chunks[0],))
    return estimator.fit(X_fit, y)


@pytest.fixture(params=["threads", "cluster"])
def scheduler(request):
    if request.param == "threads":
        with dask.config.set(scheduler="threads"):
            yield request.param
        return
    client = request.getfixturevalue("client")
    assert client is not None
    yield request.param


def _same_state(estimator, snapshot: dict) -> None:
    """The estimator holds exactly the attribute objects it held before."""
    assert vars(estimator).keys() == snapshot.keys()
    changed = [k for k, v in vars(estimator).items() if v is not snapshot[k]]
    assert not changed, f"attributes changed by the failed fit: {changed}"


_clean_reads: dict = {}


def _reads_of_a_clean_fit(name, tmp_path, scheduler) -> tuple[int, object]:
    key = (name, scheduler)
    if key not in _clean_reads:
        counter = ReadCounter(tmp_path / "clean")
        make, _ = ESTIMATORS[name]
        with _quiet():
            fitted = _fit(make(), name, counted(X, counter, BLOCK))
        _clean_reads[key] = (counter.reads, fitted)
    return _clean_reads[key]


@contextlib.contextmanager
def _quiet():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize(
    ("position", "error"),
    [
        ("first", "ValueError"),
        ("middle", "ValueError"),
        ("last", "ValueError"),
        ("middle", "MemoryError"),
    ],
)
def test_a_read_failing_once_fails_the_fit_and_keeps_the_state(
    name, position, error, scheduler, tmp_path
):
    make, attributes = ESTIMATORS[name]
    total, clean = _reads_of_a_clean_fit(name, tmp_path, scheduler)
    fail_at = {"first": 1, "middle": total // 2, "last": total}[position]
    counter = ReadCounter(tmp_path / "failing", fail_at, error)
    X_fail = counted(X, counter, BLOCK)
    estimator = make()
    if position != "first":
        # a fitted estimator keeps its previous model; an unfitted one stays so
        with _quiet():
            _fit(estimator, name, X[::2], Y[::2])
    snapshot = dict(vars(estimator))
    with _quiet(), pytest.raises(ERROR_TYPES[error], match="transient read failure"):
        _fit(estimator, name, X_fail)
    assert counter.reads >= fail_at
    _same_state(estimator, snapshot)
    # the data read again (new keys: a cluster's scheduler may still hold the
    # erred read for a moment): the fit is the one without the failure
    with _quiet():
        _fit(estimator, name, counted(X, ReadCounter(tmp_path / "again"), BLOCK))
    for attribute in attributes:
        assert_array_equal(getattr(estimator, attribute), getattr(clean, attribute))
    if name.endswith("IC"):
        assert estimator.criteria_["error"].isna().all()
        assert_array_equal(estimator.criteria_["bic"], clean.criteria_["bic"])


ERROR_TYPES = {"ValueError": ValueError, "MemoryError": MemoryError}


@pytest.mark.parametrize("weighted", [False, True])
def test_partial_fit_failing_read_keeps_counts_and_running_statistics(
    weighted, tmp_path
):
    batches = [X[i : i + 300] for i in range(0, 900, 300)]
    weight = np.linspace(0.5, 1.5, 300) if weighted else None
    model = GaussianMixture(2, random_state=0)
    reference = GaussianMixture(2, random_state=0)
    for batch in batches[:2]:
        model.partial_fit(batch, sample_weight=weight)
        reference.partial_fit(batch, sample_weight=weight)
    state = model._stepwise_state
    counts = (state.n_rows, state.n_steps, state.n_batches, list(state.lower_bounds))
    snapshot = dict(vars(model))
    counter = ReadCounter(tmp_path / "batch", fail_at=2)
    failing = counted(batches[2], counter, 100)
    weights = None if weight is None else da.from_array(weight, chunks=100)
    with pytest.raises(ValueError, match="transient read failure"):
        model.partial_fit(failing, sample_weight=weights)
    _same_state(model, snapshot)
    assert (
        state.n_rows,
        state.n_steps,
        state.n_batches,
        list(state.lower_bounds),
    ) == counts
    model.partial_fit(batches[2], sample_weight=weight)
    reference.partial_fit(batches[2], sample_weight=weight)
    for attribute in ("means_", "covariances_", "weights_", "lower_bound_"):
        assert_array_equal(getattr(model, attribute), getattr(reference, attribute))
    assert model.n_steps_ == reference.n_steps_ == 3


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, ValueError])
def test_partial_fit_interrupted_in_the_m_step_is_all_or_nothing(
    interrupt, monkeypatch
):
    """Ctrl-C (or an error) inside the M-step: counts and statistics unchanged."""
    model = GaussianMixture(2, random_state=0).partial_fit(X[:300])
    reference = GaussianMixture(2, random_state=0).partial_fit(X[:300])
    state = model._stepwise_state
    counts = (state.n_rows, state.n_steps, state.n_batches, list(state.lower_bounds))
    running = state.stats
    snapshot = dict(vars(model))

    def interrupted(self, stats, params, frame):
        raise interrupt("interrupted in the M-step")

    with monkeypatch.context() as patch:
        patch.setattr(GaussianModel, "m_step", interrupted)
        with pytest.raises(interrupt, match="interrupted in the M-step"):
            model.partial_fit(X[300:600])
    _same_state(model, snapshot)
    assert (
        state.n_rows,
        state.n_steps,
        state.n_batches,
        list(state.lower_bounds),
    ) == counts
    assert state.stats is running
    model.partial_fit(X[300:600])
    reference.partial_fit(X[300:600])
    assert_array_equal(model.means_, reference.means_)
    assert model._stepwise_state.n_rows == reference._stepwise_state.n_rows == 600


@pytest.mark.parametrize("algorithm", ["batch", "minibatch"])
def test_interrupted_selector_keeps_its_previous_fit(algorithm, monkeypatch):
    """Ctrl-C in a candidate's M-step, mid-sweep: the previous fit stays whole."""
    selector = GaussianMixtureIC(
        [1, 2], covariance_type=["diag"], algorithm=algorithm, batch_size=200
    )
    selector.set_params(random_state=0).fit(X[::2])
    snapshot = dict(vars(selector))
    calls = []
    m_step = GaussianModel.m_step

    def interrupted(self, stats, params, frame):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return m_step(self, stats, params, frame)

    with monkeypatch.context() as patch:
        patch.setattr(GaussianModel, "m_step", interrupted)
        with pytest.raises(KeyboardInterrupt):
            selector.fit(X)
    _same_state(selector, snapshot)


@pytest.mark.parametrize("algorithm", ["batch", "minibatch"])
def test_nan_in_the_data_is_the_data_error_not_a_failed_candidate(algorithm):
    bad = X.copy()
    bad[1100, 1] = np.nan  # in the last block only
    selector = GaussianMixtureIC(
        [1, 2, 3], algorithm=algorithm, batch_size=200, random_state=0
    )
    with pytest.raises(ValueError, match="Input X contains NaN"):
        selector.fit(da.from_array(bad, chunks=(BLOCK, -1)))
    assert not hasattr(selector, "criteria_")
