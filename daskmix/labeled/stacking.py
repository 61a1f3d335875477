"""N-D labeled data (xarray) as rows and back, for :class:`daskmix.Labeled`.

A DataArray or a Dataset is split into sample dimensions and feature
dimensions. The sample dimensions are stacked into rows, the feature
dimensions (for a Dataset, its variables first) into the columns: rows of
shape (n_samples, n_features), n_samples being the product of the sizes of the
sample dimensions and n_features that of the feature dimensions. Every
per-sample result of shape (n_samples,) or (n_samples, K) goes back onto the
sample dimensions with their coordinates. Dask-backed data stay lazy: the
stacking reshapes block by block and moves no data (see
:func:`daskmix._estimator.outputs.to_rows`).

The feature dimensions seen at fit are kept as a :class:`FeatureLayout`; later
inputs are checked against it (lengths, coordinate values, a Dataset's
variables) and reordered by label.
"""

from __future__ import annotations

import math
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


def as_dims(dims) -> tuple[Hashable, ...] | None:
    """``None``, one dimension name, or a tuple or list of names, as a tuple.

    Parameters
    ----------
    dims : hashable, tuple or list of hashable, or None
        A tuple is always read as several names, never as one name.

    Returns
    -------
    tuple of hashable or None
    """
    if dims is None:
        return None
    if isinstance(dims, (tuple, list)):
        return tuple(dims)
    return (dims,)


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
    stacked : xarray.DataArray of shape (*sample_shape, *feature_shape)
        The input as one DataArray, sample dimensions first, then the feature
        dimensions in the layout's order.
    feature_dims : tuple of hashable
        The feature dimensions, in the order in which they make the columns
        (the last one varies fastest).
    """

    rows: Any
    sample_dims: tuple[Hashable, ...]
    sample_shape: tuple[int, ...]
    sample_chunks: tuple[tuple[int, ...], ...] | None
    coords: dict[Hashable, xr.DataArray]
    stacked: xr.DataArray
    feature_dims: tuple[Hashable, ...]


@dataclass(frozen=True)
class FeatureLayout:
    """The feature dimensions seen at fit, to check later inputs against.

    Attributes
    ----------
    dims : tuple of hashable
        The feature dimensions, in column order (a Dataset's variables
        first).
    sizes : tuple of int
        Their lengths; ``n_features`` is their product.
    values : tuple of (ndarray or None)
        Each one's coordinate values; None where it had no index.
    variables_dim : hashable or None
        The dimension that a Dataset's variables became, None for a
        DataArray.
    fitted_by : str
        The estimator's class name, for error messages.
    """

    dims: tuple[Hashable, ...]
    sizes: tuple[int, ...]
    values: tuple[np.ndarray | None, ...]
    variables_dim: Hashable | None
    fitted_by: str

    @property
    def n_features(self) -> int:
        """Number of columns: the product of the feature dimensions' lengths."""
        return math.prod(self.sizes)

    @property
    def dim(self) -> Hashable | tuple[Hashable, ...]:
        """The feature dimension, or the tuple of them when there are several."""
        return self.dims[0] if len(self.dims) == 1 else self.dims

    @property
    def names(self) -> np.ndarray | None:
        """String names of the columns, or None.

        One feature dimension whose values are all strings (a Dataset's
        variable names): those values, the estimator's ``feature_names_in_``.
        """
        if len(self.dims) != 1 or self.values[0] is None:
            return None
        values = self.values[0]
        if all(isinstance(v, str) for v in values):
            return np.asarray(values, dtype=object)
        return None

    @property
    def variables(self) -> list | None:
        """A Dataset's variable names, in column order; None for a DataArray."""
        if self.variables_dim is None:
            return None
        return list(self.values[self.dims.index(self.variables_dim)])

    @classmethod
    def of(cls, rows: Rows, fitted_by: str, variables_dim=None) -> FeatureLayout:
        """The layout of the stacked input ``rows``.

        Parameters
        ----------
        rows : Rows
            The input seen at fit.
        fitted_by : str
            The estimator's class name.
        variables_dim : hashable, optional
            The dimension of a Dataset's variables.

        Returns
        -------
        FeatureLayout
        """
        array = rows.stacked
        dims = rows.feature_dims
        values = tuple(
            np.asarray(array.indexes[d]) if d in array.indexes else None for d in dims
        )
        sizes = tuple(int(array.sizes[d]) for d in dims)
        return cls(dims, sizes, values, variables_dim, fitted_by)

    def index(self) -> pd.Index | None:
        """The columns as a pandas Index (a MultiIndex for several dims).

        Returns
        -------
        pandas.Index or pandas.MultiIndex or None
            None when a feature dimension has no coordinate values.
        """
        if any(v is None for v in self.values):
            return None
        if len(self.dims) == 1:
            return pd.Index(self.values[0], name=self.dims[0])
        return pd.MultiIndex.from_product(self.values, names=list(self.dims))


# ------------------------------------------------------------------- inputs
def _name_list(dims) -> str:
    return ", ".join(repr(d) for d in dims)


def _split_dims(
    dims: tuple[Hashable, ...],
    feature_dims: tuple[Hashable, ...] | None,
    sample_dims: tuple[Hashable, ...] | None,
    what: str,
) -> tuple[Hashable, ...]:
    """The feature dimensions among ``dims``, given either or both choices.

    Every name given must be one of ``dims``; given both, they must split
    ``dims`` between them. Given only ``sample_dims``, the features are the
    other dimensions, in the order of ``dims``.
    """
    for kind, names in (("feature_dim", feature_dims), ("sample_dims", sample_dims)):
        unknown = [d for d in names or () if d not in dims]
        if unknown:
            raise ValueError(
                f"{kind} {_name_list(unknown)} is not a dimension of {what}; "
                f"{what} has dims {dims}. Set {kind} to dimensions of X."
            )
    if feature_dims is not None and sample_dims is not None:
        both = [d for d in feature_dims if d in sample_dims]
        if both:
            raise ValueError(
                f"{_name_list(both)} named both in feature_dim and in sample_dims."
            )
        left = [d for d in dims if d not in feature_dims and d not in sample_dims]
        if left:
            raise ValueError(
                f"{what} has dims {dims}; {_name_list(left)} named neither in "
                "sample_dims nor in feature_dim. Add each dimension to one of "
                "them (or leave one of the two out: the other dimensions then "
                "make it)."
            )
    if feature_dims is None:
        return tuple(d for d in dims if d not in sample_dims)
    return feature_dims


def _dataset_feature_dims(
    X: xr.Dataset,
    names: list,
    feature_dim: tuple[Hashable, ...] | None,
    sample_dims: tuple[Hashable, ...] | None,
) -> tuple[Hashable, tuple[Hashable, ...]]:
    """The variables' new dimension and the feature dims among their dims, at fit.

    The names in ``feature_dim`` that are dimensions of the variables are
    feature dimensions; one other name may name the variables' new dimension
    (default :data:`DATASET_FEATURE_DIM`). A dimension that is named neither
    as a sample dimension nor as a feature dimension is an error unless the
    choice leaves no doubt (one dimension, which must be a sample dimension).
    """
    dims = X[names[0]].dims
    new = [d for d in feature_dim or () if d not in dims]
    if len(new) > 1:
        raise ValueError(
            f"feature_dim {_name_list(new)}: none of these is a dimension of the "
            f"Dataset's variables (dims {dims}). At most one new name may name "
            "the dimension of the variables."
        )
    variables_dim = new[0] if new else DATASET_FEATURE_DIM
    if variables_dim in dims:
        raise ValueError(
            f"The Dataset's variables have a dimension named {variables_dim!r}, "
            "the default name of the dimension that the variables become: add "
            "another name for it to feature_dim, e.g. "
            "feature_dim=('var', ...)."
        )
    named = tuple(d for d in feature_dim or () if d in dims)
    if sample_dims is not None:
        given = None if feature_dim is None else named
        features = _split_dims(dims, given, sample_dims, "the Dataset's variables")
    elif named:
        features = named
    elif len(dims) == 1:
        features = ()
    else:
        raise ValueError(
            f"The Dataset's variables have dims {dims}; Labeled does not guess "
            "which of them are sample dimensions and which hold features. Name "
            f"them: sample_dims={dims!r} for one feature per variable; or "
            "feature_dim=<some of these dims> for one feature per variable and "
            "value along them, the other dims being sample dims (e.g. "
            "feature_dim='depth' on variables over (time, depth, lat, lon): one "
            "feature per (variable, depth) pair)."
        )
    if len(features) == len(dims):
        raise ValueError(
            f"Every dimension of the Dataset's variables, {dims}, is a feature "
            "dimension: Labeled needs at least one sample dimension."
        )
    return variables_dim, features


def feature_array(
    X,
    feature_dim=None,
    layout: FeatureLayout | None = None,
    sample_dims=None,
) -> tuple[xr.DataArray, tuple[Hashable, ...], Hashable | None]:
    """X as one DataArray, sample dimensions first, then the feature dimensions.

    Parameters
    ----------
    X : xarray.DataArray or xarray.Dataset
        A DataArray, or a Dataset whose variables share their dimensions.
    feature_dim : hashable, tuple or list of hashable, or None
        The feature dimensions (used at fit only). For a Dataset, its
        variables are features too, along a new dimension named by the one
        name in ``feature_dim`` that is not a dimension of its variables
        (default :data:`DATASET_FEATURE_DIM`). None: the other dimensions
        than ``sample_dims``; without those, the last dimension of a
        DataArray, or the variables alone of a Dataset whose variables have
        one dimension.
    layout : FeatureLayout, optional
        The fit's; None while fitting. Given, its feature dimensions are
        used (every other dimension of ``X`` is a sample dimension) and ``X``
        must match them: lengths, and coordinate values (reordered by label
        where they agree).
    sample_dims : hashable, tuple or list of hashable, or None
        The sample dimensions (used at fit only).

    Returns
    -------
    array : xarray.DataArray of shape (*sample_shape, *feature_shape)
        The features along its last dimensions, in the fit's order.
    feature_dims : tuple of hashable
        Those last dimensions.
    variables_dim : hashable or None
        For a Dataset, the dimension of its variables (one of
        ``feature_dims``); None for a DataArray.
    """
    feature_dims = as_dims(feature_dim)
    sample_dims = as_dims(sample_dims)
    if isinstance(X, xr.Dataset):
        array, feature_dims, variables_dim = _dataset_array(
            X, feature_dims, sample_dims, layout
        )
    elif isinstance(X, xr.DataArray):
        array, variables_dim = X, None
        if layout is not None:
            feature_dims = layout.dims
            _require_dims(array, feature_dims, "X")
        else:
            if feature_dims is None and sample_dims is None:
                feature_dims = X.dims[-1:]
            feature_dims = _split_dims(X.dims, feature_dims, sample_dims, "X")
    else:
        raise TypeError(
            "Labeled takes an xarray DataArray or Dataset as X; got "
            f"{type(X).__name__}. Pass a plain array of shape "
            "(n_samples, n_features) to the wrapped estimator directly."
        )
    if not feature_dims:
        raise ValueError(f"X has dims {X.dims}: Labeled needs a feature dimension.")
    if array.ndim == len(feature_dims):
        raise ValueError(
            f"X has dims {array.dims}: Labeled needs the feature dimension(s) "
            f"{feature_dims} and at least one sample dimension."
        )
    array = array.transpose(..., *feature_dims)
    if layout is not None:
        array = _match_features(array, layout)
    return array, tuple(feature_dims), variables_dim


def _require_dims(X, dims: tuple[Hashable, ...], what: str) -> None:
    missing = [d for d in dims if d not in X.dims]
    if missing:
        raise ValueError(
            f"feature_dim {_name_list(missing)} is not a dimension of {what}; "
            f"{what} has dims {X.dims}. The data must have the feature "
            "dimensions seen at fit."
        )


def _dataset_array(
    X: xr.Dataset,
    feature_dims: tuple[Hashable, ...] | None,
    sample_dims: tuple[Hashable, ...] | None,
    layout: FeatureLayout | None,
) -> tuple[xr.DataArray, tuple[Hashable, ...], Hashable]:
    """A Dataset's variables as one DataArray, the variables a feature dimension.

    Parameters
    ----------
    X : xarray.Dataset
        Variables that share their dimensions.
    feature_dims, sample_dims : tuple of hashable or None
        See :func:`feature_array` (fit only).
    layout : FeatureLayout or None
        See :func:`feature_array`; its variables fix those taken and their
        order.

    Returns
    -------
    array : xarray.DataArray
        The variables along a new dimension; not yet transposed.
    feature_dims : tuple of hashable
        The variables' new dimension, then the other feature dimensions.
    variables_dim : hashable
        The variables' new dimension.
    """
    names = list(X.data_vars)
    if not names:
        raise ValueError("X is a Dataset with no data variables: no features.")
    if layout is not None:
        if layout.variables_dim is None:
            raise TypeError(
                f"{layout.fitted_by} was fitted on a DataArray; got a Dataset."
            )
        fitted = layout.variables
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
            "The variables of the Dataset X must share their "
            f"dimensions: {names[0]!r} has dims {dims}, but "
            + ", ".join(f"{n!r} has {d}" for n, d in other.items())
            + "."
        )
    if not dims:
        raise ValueError(
            "The variables of the Dataset X have no dimension: Labeled "
            "needs at least one sample dimension."
        )
    if layout is None:
        variables_dim, features = _dataset_feature_dims(
            X, names, feature_dims, sample_dims
        )
        feature_dims = (variables_dim, *features)
    else:
        variables_dim, feature_dims = layout.variables_dim, layout.dims
        _require_dims(X[names[0]], tuple(feature_dims[1:]), "the Dataset's variables")
    array = X[names].to_dataarray(dim=variables_dim).transpose(*dims, variables_dim)
    return array, feature_dims, variables_dim


def _match_features(X: xr.DataArray, layout: FeatureLayout) -> xr.DataArray:
    """Check the feature dimensions (last) against the fit; reorder them by label."""
    for dim, size, fitted in zip(layout.dims, layout.sizes, layout.values):
        if X.sizes[dim] != size:
            raise ValueError(
                f"X has {X.sizes[dim]} values along the feature dimension "
                f"{dim!r}, but {layout.fitted_by} was fitted with {size}."
            )
        if fitted is None or dim not in X.indexes:
            continue
        index = X.indexes[dim]
        if index.equals(pd.Index(fitted)):
            continue
        if index.is_unique and set(index) == set(fitted):
            X = X.sel({dim: fitted})
            continue
        raise ValueError(
            f"The coordinate values of the feature dimension {dim!r} "
            f"differ from those seen at fit: got {list(index)}, expected "
            f"{list(fitted)}."
        )
    return X


def stack(
    X,
    feature_dim=None,
    layout: FeatureLayout | None = None,
    sample_dims=None,
) -> tuple[Rows, Hashable | None]:
    """Stack the sample dimensions of X into rows, its feature dims into columns.

    Parameters
    ----------
    X : xarray.DataArray or xarray.Dataset
        As for :func:`feature_array`.
    feature_dim : hashable, tuple or list of hashable, or None
        As for :func:`feature_array`.
    layout : FeatureLayout, optional
        The fit's; None while fitting.
    sample_dims : hashable, tuple or list of hashable, or None
        As for :func:`feature_array`.

    Returns
    -------
    rows : Rows
        ``rows.rows`` of shape (n_samples, n_features), lazy for dask-backed
        X (one chunk along the features), and what it takes to unstack.
    variables_dim : hashable or None
        For a Dataset, the dimension of its variables.
    """
    array, feature_dims, variables_dim = feature_array(
        X, feature_dim, layout, sample_dims
    )
    n_sample_dims = array.ndim - len(feature_dims)
    data = array.data
    n_features = math.prod(data.shape[n_sample_dims:])
    if is_lazy(data):
        data = data.rechunk({axis: -1 for axis in range(n_sample_dims, data.ndim)})
    # the feature axes, each in one chunk, into one: a reshape within blocks
    data = data.reshape(data.shape[:n_sample_dims] + (n_features,))
    sample_dims = array.dims[:n_sample_dims]
    coords = {
        name: coord
        for name, coord in array.coords.items()
        if set(coord.dims) <= set(sample_dims)
    }
    rows = Rows(
        rows=to_rows(data),
        sample_dims=sample_dims,
        sample_shape=tuple(array.shape[:n_sample_dims]),
        sample_chunks=tuple(data.chunks[:-1]) if is_lazy(data) else None,
        coords=coords,
        stacked=array,
        feature_dims=feature_dims,
    )
    return rows, variables_dim


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
        if not y_index.is_unique:
            duplicated = list(pd.unique(y_index[y_index.duplicated()]))
            raise ValueError(
                f"y's coordinate along {dim!r} has duplicated labels "
                f"{duplicated[:10]}{' ...' if len(duplicated) > 10 else ''}, so "
                "it cannot be aligned with X by label. Make y's labels unique, or "
                "give y exactly X's coordinate values along it (in X's order)."
            )
        if x_index.isin(y_index).all():
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


def unstack_features(values, layout: FeatureLayout, name=None) -> xr.DataArray:
    """Per-feature values (the last axis) back on the feature dimensions.

    Parameters
    ----------
    values : array-like of shape (n_features,) or (K, n_features)
        One value per column, e.g. a mixture's ``means_``.
    layout : FeatureLayout
        The fit's.
    name : hashable, optional
        The DataArray's name.

    Returns
    -------
    xarray.DataArray of shape (*feature_shape,) or (K, *feature_shape)
        On the feature dimensions with their coordinate values, after
        :data:`COMPONENT_DIM` (0 to K - 1) for 2-D values.
    """
    values = np.asarray(values)
    if values.ndim not in (1, 2) or values.shape[-1] != layout.n_features:
        raise ValueError(
            f"Expected values of shape (n_features,) or (K, n_features) with "
            f"n_features={layout.n_features}; got shape {values.shape}."
        )
    leading = values.shape[:-1]
    dims = ((COMPONENT_DIM,) if leading else ()) + tuple(layout.dims)
    coords = {d: v for d, v in zip(layout.dims, layout.values) if v is not None}
    if leading:
        coords[COMPONENT_DIM] = np.arange(leading[0])
    return xr.DataArray(
        values.reshape(leading + tuple(layout.sizes)),
        dims=dims,
        coords=coords,
        name=name,
    )
