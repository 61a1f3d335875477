"""N-D labeled data (xarray) as rows and back, for :class:`daskmix.Labeled`.

A DataArray with a feature dimension and any number of sample dimensions, or a
Dataset with one feature per variable, becomes rows of shape
(n_samples, n_features), n_samples being the product of the sizes of the
sample dimensions; every per-sample result of shape (n_samples,) or
(n_samples, K) goes back onto those dimensions with their coordinates.
Dask-backed data stay lazy: the stacking reshapes block by block and moves no
data (see :func:`daskmix._estimator.outputs.to_rows`).

The feature dimension seen at fit is kept as a :class:`FeatureLayout`; later
inputs are checked against it (length, coordinate values, a Dataset's
variables) and reordered by label.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._estimator.outputs import chunked_like, from_rows, is_lazy, to_rows

#: name of the dimension that a Dataset's variables become, by default
DATASET_FEATURE_DIM = "variable"
#: name of the extra dimension of 2-D per-sample results (probabilities)
COMPONENT_DIM = "component"


@dataclass
class Rows:
    """A labeled input stacked into rows, and what it takes to unstack.

    Attributes
    ----------
    rows : ndarray or dask.array.Array of shape (n_samples, n_features)
        The sample dimensions stacked; one block along the features.
    sample_dims : tuple of hashable
        The sample dimensions, in the input's order.
    sample_shape : tuple of int
        Their sizes; ``n_samples`` is their product.
    sample_chunks : tuple of tuple of int, or None
        Their chunks for dask-backed input, None for numpy.
    coords : dict of hashable to xarray.DataArray
        The input's coordinates that lie on the sample dimensions only.
    stacked : xarray.DataArray of shape (*sample_shape, n_features)
        The input, feature dimension last.
    """

    rows: Any
    sample_dims: tuple[Hashable, ...]
    sample_shape: tuple[int, ...]
    sample_chunks: tuple[tuple[int, ...], ...] | None
    coords: dict[Hashable, xr.DataArray]
    stacked: xr.DataArray


@dataclass(frozen=True)
class FeatureLayout:
    """The feature dimension seen at fit, to check later inputs against.

    Attributes
    ----------
    dim : hashable
        The feature dimension.
    n_features : int
        Its length.
    values : ndarray of shape (n_features,) or None
        Its coordinate values; None when it had no index.
    names : ndarray of shape (n_features,) or None
        The values when they are all strings (a Dataset's variable names):
        the estimator's ``feature_names_in_``; None otherwise.
    fitted_by : str
        The estimator's class name, for error messages.
    """

    dim: Hashable
    n_features: int
    values: np.ndarray | None
    names: np.ndarray | None
    fitted_by: str

    @classmethod
    def of(cls, rows: Rows, fitted_by: str) -> FeatureLayout:
        """The layout of the stacked input ``rows``.

        Parameters
        ----------
        rows : Rows
            The input seen at fit.
        fitted_by : str
            The estimator's class name.

        Returns
        -------
        FeatureLayout
        """
        array = rows.stacked
        dim = array.dims[-1]
        values = np.asarray(array.indexes[dim]) if dim in array.indexes else None
        names = None
        if values is not None and all(isinstance(v, str) for v in values):
            names = np.asarray(values, dtype=object)
        return cls(dim, int(array.sizes[dim]), values, names, fitted_by)


# ------------------------------------------------------------------- inputs
def feature_array(
    X, feature_dim: Hashable | None, layout: FeatureLayout | None = None
) -> xr.DataArray:
    """X as one DataArray with the feature dimension last, checked.

    Parameters
    ----------
    X : xarray.DataArray or xarray.Dataset
        A DataArray with dims ``(*sample_dims, feature_dim)`` in any order, or
        a Dataset whose variables (one per feature) share their sample dims.
    feature_dim : hashable or None
        The feature dimension (for a Dataset, the name of the new dimension
        of its variables). None: ``layout.dim``, or at fit the last dimension
        of a DataArray, :data:`DATASET_FEATURE_DIM` for a Dataset.
    layout : FeatureLayout, optional
        The fit's; None while fitting. Given, the feature dimension of ``X``
        must match it (reordered by label where the values agree).

    Returns
    -------
    xarray.DataArray of shape (*sample_shape, n_features)
        The features along its last dimension, in the fit's order.
    """
    if isinstance(X, xr.Dataset):
        return _dataset_array(X, feature_dim, layout)
    if not isinstance(X, xr.DataArray):
        raise TypeError(
            "Labeled takes an xarray DataArray or Dataset as X; got "
            f"{type(X).__name__}. Pass a plain array of shape "
            "(n_samples, n_features) to the wrapped estimator directly."
        )
    if feature_dim is None:
        if layout is None:
            feature_dim = X.dims[-1] if X.ndim else None
        else:
            feature_dim = layout.dim
    if feature_dim not in X.dims:
        raise ValueError(
            f"feature_dim {feature_dim!r} is not a dimension of X; X has dims "
            f"{X.dims}. Set feature_dim to the dimension that holds the "
            "features."
        )
    if X.ndim < 2:
        raise ValueError(
            f"X has dims {X.dims}: Labeled needs the feature dimension "
            f"{feature_dim!r} and at least one sample dimension."
        )
    X = X.transpose(..., feature_dim)
    if layout is not None:
        X = _match_features(X, layout)
    return X


def _dataset_array(
    X: xr.Dataset, feature_dim: Hashable | None, layout: FeatureLayout | None
) -> xr.DataArray:
    """A Dataset's variables as one DataArray, the new feature dimension last.

    Parameters
    ----------
    X : xarray.Dataset
        Variables of shape ``sample_shape``, one per feature.
    feature_dim : hashable or None
        See :func:`feature_array`.
    layout : FeatureLayout or None
        See :func:`feature_array`; its ``names`` fix the variables and their
        order.

    Returns
    -------
    xarray.DataArray of shape (*sample_shape, n_features)
    """
    names = list(X.data_vars)
    if not names:
        raise ValueError("X is a Dataset with no data variables: no features.")
    if layout is not None and layout.names is not None:
        fitted = list(layout.names)
        missing = [n for n in fitted if n not in names]
        extra = [n for n in names if n not in fitted]
        if missing or extra:
            raise ValueError(
                "The Dataset's variables must be those seen at fit, "
                f"{fitted}; missing: {missing}, unexpected: {extra}."
            )
        names = fitted
    dims = X[names[0]].dims
    other = {n: X[n].dims for n in names if set(X[n].dims) != set(dims)}
    if other:
        raise ValueError(
            "The variables of the Dataset X must share their (sample) "
            f"dimensions: {names[0]!r} has dims {dims}, but "
            + ", ".join(f"{n!r} has {d}" for n, d in other.items())
            + "."
        )
    if feature_dim is None:
        feature_dim = DATASET_FEATURE_DIM if layout is None else layout.dim
    if feature_dim in dims:
        raise ValueError(
            f"feature_dim {feature_dim!r} is a dimension of the Dataset's "
            f"variables (dims {dims}); for a Dataset it names the new "
            "dimension of the variables: choose another name."
        )
    if not dims:
        raise ValueError(
            "The variables of the Dataset X have no dimension: Labeled "
            "needs at least one sample dimension."
        )
    array = X[names].to_dataarray(dim=feature_dim).transpose(*dims, feature_dim)
    if layout is not None:
        _check_n_features(array, layout)
    return array


def _check_n_features(X: xr.DataArray, layout: FeatureLayout) -> None:
    """Raise unless the last dimension of ``X`` has the fitted length."""
    n_features = X.sizes[X.dims[-1]]
    if n_features != layout.n_features:
        raise ValueError(
            f"X has {n_features} values along the feature dimension "
            f"{X.dims[-1]!r}, but {layout.fitted_by} was fitted with "
            f"{layout.n_features}."
        )


def _match_features(X: xr.DataArray, layout: FeatureLayout) -> xr.DataArray:
    """Check the feature dimension (last) against the fit; reorder it by label."""
    _check_n_features(X, layout)
    feature_dim = X.dims[-1]
    fitted = layout.values
    if fitted is None or feature_dim not in X.indexes:
        return X
    index = X.indexes[feature_dim]
    if index.equals(pd.Index(fitted)):
        return X
    if index.is_unique and set(index) == set(fitted):
        return X.sel({feature_dim: fitted})
    raise ValueError(
        f"The coordinate values of the feature dimension {feature_dim!r} "
        f"differ from those seen at fit: got {list(index)}, expected "
        f"{list(fitted)}."
    )


def stack(X, feature_dim: Hashable | None, layout: FeatureLayout | None = None) -> Rows:
    """Stack the sample dimensions of X into rows.

    Parameters
    ----------
    X : xarray.DataArray or xarray.Dataset
        As for :func:`feature_array`.
    feature_dim : hashable or None
        As for :func:`feature_array`.
    layout : FeatureLayout, optional
        The fit's; None while fitting.

    Returns
    -------
    Rows
        ``rows`` of shape (n_samples, n_features), lazy for dask-backed X
        (one chunk along the features), and what it takes to unstack.
    """
    array = feature_array(X, feature_dim, layout)
    data = array.data
    if is_lazy(data):
        data = data.rechunk({data.ndim - 1: -1})
    sample_dims = array.dims[:-1]
    coords = {
        name: coord
        for name, coord in array.coords.items()
        if set(coord.dims) <= set(sample_dims)
    }
    return Rows(
        rows=to_rows(data),
        sample_dims=sample_dims,
        sample_shape=tuple(array.shape[:-1]),
        sample_chunks=tuple(data.chunks[:-1]) if is_lazy(data) else None,
        coords=coords,
        stacked=array,
    )


def stack_y(y, rows: Rows):
    """y as rows aligned with the rows of X (dask like X).

    Parameters
    ----------
    y : xarray.DataArray or array-like of shape ``sample_shape``
        A DataArray over the sample dimensions of X in any order (aligned by
        dimension name and coordinate values), or an array of the shape of
        X's sample dimensions in X's order.
    rows : Rows
        X, stacked.

    Returns
    -------
    ndarray or dask.array.Array of shape (n_samples,)
        The targets in the order of ``rows.rows``; chunked like them for
        dask-backed X.
    """
    if isinstance(y, xr.Dataset):
        raise TypeError(
            "y must be a DataArray over the sample dimensions of X, not a Dataset."
        )
    if isinstance(y, xr.DataArray):
        data = _aligned_y(y, rows).data
    else:
        data = y if is_lazy(y) else np.asarray(y)
        if tuple(data.shape) != rows.sample_shape:
            raise ValueError(
                f"y has shape {tuple(data.shape)}; expected the shape of X's "
                f"sample dimensions {rows.sample_dims}, {rows.sample_shape}. "
                "Pass y as a DataArray to align it by dimension name."
            )
    return to_rows(chunked_like(data, rows.sample_chunks)[..., None])[:, 0]


def _aligned_y(y: xr.DataArray, rows: Rows) -> xr.DataArray:
    """y on X's sample dimensions, in X's order and at X's coordinate values."""
    if set(y.dims) != set(rows.sample_dims):
        raise ValueError(
            f"y has dims {y.dims}; expected the sample dimensions of X, "
            f"{rows.sample_dims} (in any order)."
        )
    y = y.transpose(*rows.sample_dims)
    X = rows.stacked
    for dim in rows.sample_dims:
        if y.sizes[dim] != X.sizes[dim] and not (dim in y.indexes and dim in X.indexes):
            raise ValueError(
                f"y has {y.sizes[dim]} values along {dim!r}, X has {X.sizes[dim]}."
            )
        if dim not in y.indexes or dim not in X.indexes:
            continue
        x_index, y_index = X.indexes[dim], y.indexes[dim]
        if x_index.equals(y_index):
            continue
        if y_index.is_unique and x_index.isin(y_index).all():
            y = y.sel({dim: x_index})
            continue
        n_missing = int((~x_index.isin(y_index)).sum())
        raise ValueError(
            f"The coordinate values of y along {dim!r} do not match those "
            f"of X: {n_missing} of X's {len(x_index)} values are missing "
            f"from y's (first of y: {list(y_index[:3])}, of X: "
            f"{list(x_index[:3])})."
        )
    return y


# ------------------------------------------------------------------ outputs
def unstack(result, rows: Rows, name: Hashable | None) -> xr.DataArray:
    """A per-row result back on the sample dimensions of the stacked input.

    Parameters
    ----------
    result : ndarray or dask.array.Array of shape (n_samples,) or (n_samples, K)
        One value (or K) per row of ``rows``.
    rows : Rows
        The input the result belongs to.
    name : hashable or None
        The DataArray's name.

    Returns
    -------
    xarray.DataArray of shape ``sample_shape`` or (*sample_shape, K)
        On the sample dimensions with their coordinates, and
        :data:`COMPONENT_DIM` (0 to K - 1) for a 2-D result; lazy for a
        dask result.
    """
    values = from_rows(result, rows.sample_shape, rows.sample_chunks)
    dims = tuple(rows.sample_dims)
    coords = dict(rows.coords)
    if values.ndim == len(dims) + 1:
        dims += (COMPONENT_DIM,)
        coords[COMPONENT_DIM] = np.arange(values.shape[-1])
    return xr.DataArray(values, dims=dims, coords=coords, name=name)
