"""Labeled in, labeled out: per-row results back in the type that came in."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .validation import InputInfo


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
