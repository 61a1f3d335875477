"""dask DataFrames: accepted lazily, with known chunks and feature names."""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
from conftest import make_blobs
from dask.sizeof import sizeof

from daskmix import GaussianMixture, KMeans

dd = pytest.importorskip("dask.dataframe")

N_ROWS = 6000


class RecordingScheduler:
    """The threaded scheduler, remembering the size of what each compute returns."""

    def __init__(self):
        self.returned: list[int] = []

    def __call__(self, dsk, keys, **kwargs):
        result = dask.threaded.get(dsk, keys, **kwargs)
        self.returned.append(sizeof(result))
        return result


def _frame_and_array():
    X, _ = make_blobs(N_ROWS, 3, 3, seed=0)
    frame = dd.from_pandas(pd.DataFrame(X, columns=["a", "b", "c"]), npartitions=6)
    array = da.from_array(X, chunks=(N_ROWS // 6, -1))
    return X, frame, array


@pytest.mark.parametrize(
    "make",
    [
        lambda: GaussianMixture(3, max_iter=20, random_state=0),
        lambda: KMeans(3, random_state=0),
    ],
    ids=["GaussianMixture", "KMeans"],
)
def test_fit_predict_lazily_and_as_the_dask_array(make):
    X, frame, array = _frame_and_array()
    scheduler = RecordingScheduler()
    with dask.config.set(scheduler=scheduler):
        model = make().fit(frame)
        labels = model.predict(frame)
    # the whole frame came back at most once: the k-means start reads small
    # data into memory once, by design (the old code loaded the frame with
    # np.asarray before any pass); every other compute returned statistics,
    # lengths or a few rows
    whole = [size for size in scheduler.returned if size >= X.nbytes / 10]
    assert scheduler.returned and len(whole) <= 1
    assert isinstance(labels, da.Array) and labels.chunks[0] == array.chunks[0]
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    assert model.n_features_in_ == 3
    with dask.config.set(scheduler="threads"):
        reference = make().fit(array)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # no feature names
            expected = reference.predict(array).compute()
        np.testing.assert_array_equal(labels.compute(), expected)
    center = "means_" if hasattr(model, "means_") else "cluster_centers_"
    np.testing.assert_allclose(
        getattr(model, center), getattr(reference, center), rtol=1e-12
    )
    # the same names in memory: no feature-name warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(pd.DataFrame(X[:5], columns=["a", "b", "c"]))


def test_frame_outputs_are_lazy_and_names_checked():
    X, frame, _ = _frame_and_array()
    model = GaussianMixture(3, max_iter=5, random_state=0).fit(frame)
    for output in (model.predict_proba(frame), model.score_samples(frame)):
        assert isinstance(output, da.Array)
    renamed = frame.rename(columns={"a": "z"})
    with pytest.raises(ValueError, match="feature names"):
        model.predict(renamed)


def test_frame_from_a_dask_array_and_bad_columns():
    X, _ = make_blobs(900, 2, 2, seed=1)
    frame = dd.from_dask_array(da.from_array(X, chunks=(300, -1)), columns=["u", "v"])
    model = KMeans(2, random_state=0).fit(frame)
    assert list(model.feature_names_in_) == ["u", "v"]
    text = dd.from_pandas(pd.DataFrame({"u": ["x"] * 10, "v": [1.0] * 10}), 2)
    with pytest.raises(ValueError, match="non-numeric columns"):
        KMeans(2).fit(text)
