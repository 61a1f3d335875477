"""Labeled in, labeled out: per-row results back in the type that came in."""

from __future__ import annotations

import itertools
import math

import dask
import dask.array as da
import numpy as np
import xarray as xr

from .._engine.namespaces import device, is_device_array, like, namespace
from .validation import InputInfo, array_api_dispatch


def wrap_rows(result, info: InputInfo, name: str | None = None):
    """Give a per-row result the input's type.

    Parameters
    ----------
    result : ndarray or dask.array.Array of shape (n_samples,) or (n_samples, K)
    info : InputInfo
        From validation. For xarray input the result becomes a DataArray along
        the input's sample dimension, with that dimension's coordinates, and a
        ``component`` dimension for a second axis. numpy, pandas and dask
        inputs get the array itself (numpy for numpy/pandas, lazy for dask).
    name : str, optional
        Name of the returned DataArray.
    """
    if info.kind != "xarray":
        return result
    dims = (info.sample_dim,) if result.ndim == 1 else (info.sample_dim, "component")
    coords = dict(info.sample_coords)
    if result.ndim == 2:
        coords["component"] = np.arange(result.shape[1])
    return xr.DataArray(result, dims=dims, coords=coords, name=name)


def check_same_namespace(estimator, X, method: str, fitted=None) -> None:
    """Raise when X's namespace or device is not that of the fitted model.

    With scikit-learn's array API dispatch on, a model fitted on cupy arrays
    predicts on cupy arrays of the same device, a numpy-fitted model on numpy
    (or dask) input: scikit-learn's rule and message. ``fitted`` is the
    estimator holding the fitted attributes (a selector's chosen model), by
    default ``estimator`` itself.
    """
    if not array_api_dispatch():
        return
    holder = estimator if fitted is None else fitted
    reference = next(
        (
            value
            for name, value in vars(holder).items()
            if name.endswith("_")
            and not name.startswith("_")
            and (isinstance(value, np.ndarray) or is_device_array(value))
        ),
        None,
    )
    if reference is None:
        return
    on_device, x_on_device = is_device_array(reference), is_device_array(X)
    if not (on_device or x_on_device):
        return
    if on_device and x_on_device:
        if namespace(reference) is namespace(X) and device(reference) == device(X):
            return
    raise ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the same "
        "namespace and the same device as those passed to fit(): the model was "
        f"fitted on {type(reference).__module__.split('.')[0]} arrays, X is a "
        f"{type(X).__module__.split('.')[0]} array."
    )


def keep_namespace(estimator, X) -> None:
    """Fitted array attributes in X's namespace and on its device.

    For array-API input (cupy, torch...): the M-step's numpy results go back
    where the data live, as scikit-learn's array API support has them. numpy
    and dask input change nothing.
    """
    if not is_device_array(X):
        return
    for name, value in list(vars(estimator).items()):
        if name.endswith("_") and not name.startswith("_"):
            if isinstance(value, np.ndarray):
                setattr(estimator, name, like(value, X))


def wrap_like(result, X, info: InputInfo):
    """A result of X's shape, (n_samples, n_features), in X's type.

    Parameters
    ----------
    result : ndarray or dask.array.Array of shape (n_samples, n_features)
        In the (samples, features) order validation gave X.
    X : object
        The input as the user passed it.
    info : InputInfo
        From validation. A DataArray ``X`` gives a DataArray with its
        dimensions (samples first), coordinates, attributes and name; any
        other input gets the array itself.
    """
    if info.kind != "xarray":
        return result
    return X.transpose(info.sample_dim, ...).copy(data=result)


# ---------------------------------------------------------------------------
# Rows of an N-D array and back (daskmix.Labeled)
#
# A dask array is stacked block by block (``dask.array.reshape_blockwise``):
# no rechunking and no data movement, at the price of a row order that is C
# order within each block rather than across the whole array. Every per-row
# result is unstacked with the inverse blockwise reshape, so the order never
# shows; only the random rows a seeding draws depend on it, as they depend on
# the chunking anyway.


def is_lazy(array) -> bool:
    """Whether ``array`` is a dask array."""
    return isinstance(array, da.Array)


def to_rows(array):
    """Stack every axis but the last into rows.

    Parameters
    ----------
    array : ndarray or dask.array.Array of shape (*sample_shape, n_features)

    Returns
    -------
    ndarray or dask.array.Array of shape (prod(sample_shape), n_features)
        A dask array keeps its blocks: one row block per block of
        ``array``, with all its features.
    """
    n_features = array.shape[-1]
    if not is_lazy(array):
        return np.asarray(array).reshape(-1, n_features)
    array = array.rechunk({array.ndim - 1: -1})
    if array.ndim == 2:
        return array
    return da.reshape_blockwise(array, (math.prod(array.shape[:-1]), n_features))


def chunked_like(array, sample_chunks):
    """``array`` as a dask array with these chunks, or as it is if they are None."""
    if sample_chunks is None:
        return array if is_lazy(array) else np.asarray(array)
    return da.asarray(array).rechunk(sample_chunks)


def row_chunks(sample_chunks: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    """Row chunks that :func:`to_rows` gives for these sample-axis chunks."""
    return tuple(math.prod(block) for block in itertools.product(*sample_chunks))


def from_rows(result, sample_shape: tuple[int, ...], sample_chunks=None):
    """Inverse of :func:`to_rows` for a per-row result.

    Parameters
    ----------
    result : ndarray or dask.array.Array of shape (n_rows,) or (n_rows, K)
    sample_shape : tuple of int
        With ``prod(sample_shape) == n_rows``.
    sample_chunks : tuple of tuple of int, optional
        The chunks of the sample axes of the stacked dask array (required
        for a dask result).

    Returns
    -------
    ndarray or dask.array.Array of shape sample_shape or (*sample_shape, K)
        Lazy for a dask result, chunked as the stacked array was.
    """
    trailing = result.shape[1:]
    shape = tuple(sample_shape) + trailing
    if not is_lazy(result):
        return np.asarray(result).reshape(shape)
    expected = row_chunks(sample_chunks)
    if tuple(result.chunks[0]) != expected:
        result = result.rechunk({0: expected})
    if len(sample_shape) == 1:
        return result
    if trailing:
        result = result.rechunk({1: -1})
    chunks = tuple(sample_chunks) + tuple((n,) for n in trailing)
    return da.reshape_blockwise(result, shape, chunks=chunks)


def complete_rows(rows, *others, any_observed: bool = False):
    """Rows without NaN in ``rows`` or in any of the row-aligned ``others``.

    Parameters
    ----------
    rows : ndarray or dask.array.Array of shape (n_rows, n_features)
    *others : ndarray or dask.array.Array of shape (n_rows,)
    any_observed : bool, default=False
        A row of ``rows`` counts when it has one feature that is not NaN
        (for an estimator that marginalizes missing values); ``others``
        must still be free of NaN.

    Returns
    -------
    ndarray or dask.array.Array of bool, shape (n_rows,)
        Lazy for dask input. Non-float columns have no NaN.
    """
    valid = None
    for array in (rows, *others):
        if array.dtype.kind not in "fc":
            continue
        ok = ~da.isnan(array) if is_lazy(array) else ~np.isnan(array)
        if ok.ndim == 2:
            ok = ok.any(axis=1) if any_observed else ok.all(axis=1)
        valid = ok if valid is None else valid & ok
    if valid is None:
        n_rows = rows.shape[0]
        if is_lazy(rows):
            return da.ones(n_rows, dtype=bool, chunks=(rows.chunks[0],))
        return np.ones(n_rows, dtype=bool)
    return valid


def complete_rows_and_means(rows, *others, any_observed: bool = False):
    """The complete-row mask and the column means over those rows, computed.

    One pass over dask input. ``any_observed``: as for
    :func:`complete_rows`, and the means are those of the observed entries.

    Returns
    -------
    valid : ndarray of bool, shape (n_rows,)
    means : list of ndarray
        The column means of ``rows`` (shape (n_features,)) and the means of
        the ``others`` (scalars), over the complete rows; zeros when there
        are none.
    """
    valid = complete_rows(rows, *others, any_observed=any_observed)
    if any_observed:
        # the means of the observed entries of the rows kept
        sums, counts = [], []
        for array in (rows, *others):
            lib = da if is_lazy(array) else np
            mask = valid[:, None] if array.ndim == 2 else valid
            mask = mask & ~lib.isnan(array)
            sums.append(lib.where(mask, array, 0).sum(axis=0, dtype=np.float64))
            counts.append(mask.sum(axis=0))
        if is_lazy(valid):
            valid, sums, counts = dask.compute(valid, sums, counts)
        means = [np.asarray(s) / np.maximum(c, 1) for s, c in zip(sums, counts)]
        return np.asarray(valid), means
    sums = []
    for array in (rows, *others):
        mask = valid[:, None] if array.ndim == 2 else valid
        zeros = (da if is_lazy(array) else np).where(mask, array, 0)
        sums.append(zeros.sum(axis=0, dtype=np.float64))
    if is_lazy(valid):
        valid, *sums = dask.compute(valid, *sums)
    count = max(int(np.count_nonzero(valid)), 1)
    return np.asarray(valid), [np.asarray(s) / count for s in sums]


def take_complete(array, valid: np.ndarray):
    """The rows of ``array`` where ``valid`` (a computed mask) is true.

    A dask result keeps known chunk sizes and has no empty block: the blocks
    left with no row are dropped.

    Parameters
    ----------
    array : ndarray or dask.array.Array of shape (n_rows, ...)
    valid : ndarray of bool, shape (n_rows,)

    Returns
    -------
    ndarray or dask.array.Array of shape (n_valid, ...)
    """
    if not is_lazy(array):
        return np.asarray(array)[valid]
    kept = array[valid]
    if 0 in kept.chunks[0]:
        blocks = [kept.blocks[i] for i, size in enumerate(kept.chunks[0]) if size > 0]
        if blocks:
            kept = da.concatenate(blocks, axis=0)
    return kept


def fill_incomplete(array, valid, fill):
    """``array`` with its incomplete rows replaced by ``fill`` (lazy for dask)."""
    mask = valid[:, None] if array.ndim == 2 else valid
    return (da if is_lazy(array) else np).where(mask, array, fill)


def mark_incomplete(result, valid):
    """A per-row result with the incomplete rows set to -1 (integers) or NaN.

    Parameters
    ----------
    result : ndarray or dask.array.Array of shape (n_rows,) or (n_rows, K)
    valid : ndarray or dask.array.Array of bool, shape (n_rows,)

    Returns
    -------
    Same type and shape; float results stay float, integer results (labels)
    keep their dtype with -1 for the incomplete rows.
    """
    missing = -1 if result.dtype.kind in "iu" else np.nan
    if is_lazy(result) and is_lazy(valid):
        valid = valid.rechunk((result.chunks[0],))
    mask = valid[:, None] if result.ndim == 2 else valid
    marked = (da if is_lazy(result) else np).where(mask, result, missing)
    return marked.astype(result.dtype)


def scatter_complete(result: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """A result on the complete rows spread back to all rows, -1 or NaN elsewhere.

    Parameters
    ----------
    result : ndarray of shape (n_valid,) or (n_valid, K)
    valid : ndarray of bool, shape (n_rows,)

    Returns
    -------
    ndarray of shape (n_rows,) or (n_rows, K), of ``result``'s dtype
    """
    result = np.asarray(result)
    missing = -1 if result.dtype.kind in "iu" else np.nan
    full = np.full((valid.shape[0],) + result.shape[1:], missing, dtype=result.dtype)
    full[valid] = result
    return full
