"""Arrays of other array-API libraries: cupy, torch, array-api-strict.

The one adapter between daskmix and the array API standard. Data held by
another library (on a GPU, say) stay there: the engine runs *device kernels*
(:mod:`daskmix.gaussian.device_kernels`, :mod:`daskmix.cluster.device_kernels`)
on them, written against the input's own namespace, and brings back only the
small statistics, as float64 numpy arrays, for the M-step on the host.

Which kernel runs is decided per tile by :func:`kernel_for`: a numpy kernel
whose device variant is registered (:func:`register_device_kernel`) gives way
to it when the tile's arrays are not numpy. numpy and dask-of-numpy input never
meet this module beyond that one check.
"""

from __future__ import annotations

from collections.abc import Callable

import array_api_compat
import numpy as np

#: numpy kernel or per-row function -> its device variant
_DEVICE_VARIANTS: dict[Callable, Callable] = {}


def register_device_kernel(numpy_kernel: Callable, device_kernel: Callable) -> None:
    """Run ``device_kernel`` instead of ``numpy_kernel`` on non-numpy tiles.

    Both have the same signature (``(tile, plan)``); the device variant returns
    statistics or rows in the tile's namespace (statistics are brought to the
    host by the engine).
    """
    _DEVICE_VARIANTS[numpy_kernel] = device_kernel


def is_device_array(array) -> bool:
    """Whether ``array`` is an array of an array-API library other than numpy.

    dask arrays (of any chunks), numpy arrays and everything that is not an
    array-API object (lists, pandas, xarray) are not.
    """
    if isinstance(array, np.ndarray) or array_api_compat.is_dask_array(array):
        return False
    return array_api_compat.is_array_api_obj(array)


def namespace(array):
    """The array-API namespace of ``array`` (numpy's for numpy arrays)."""
    return array_api_compat.array_namespace(array)


def device(array):
    """The device ``array`` lives on."""
    return array_api_compat.device(array)


def kernel_for(kernel: Callable, tile) -> Callable:
    """The kernel to run on ``tile``: ``kernel``, or its device variant.

    Raises
    ------
    TypeError
        If the tile holds non-numpy arrays and ``kernel`` has no device
        variant.
    """
    if not is_device_array(tile.X):  # numpy, or scipy.sparse rows
        return kernel
    try:
        return _DEVICE_VARIANTS[kernel]
    except KeyError:
        raise TypeError(
            f"{getattr(kernel, '__name__', kernel)} has no array-API variant: "
            f"this estimator cannot run on {type(tile.X).__module__} arrays. Pass "
            "numpy (or dask) input."
        ) from None


def to_host(array) -> np.ndarray:
    """``array`` as a numpy array in host memory (a copy for device arrays)."""
    if isinstance(array, np.ndarray) or np.isscalar(array):
        return np.asarray(array)
    try:
        return np.from_dlpack(array)
    except (TypeError, RuntimeError, BufferError, ValueError):
        pass
    if hasattr(array, "get"):  # cupy
        return np.asarray(array.get())
    if hasattr(array, "cpu"):  # torch
        return np.asarray(array.detach().cpu())
    return np.asarray(array)


def like(array: np.ndarray, reference):
    """Host ``array`` in the namespace and on the device of ``reference``."""
    if isinstance(reference, np.ndarray):
        return array
    xp = namespace(reference)
    return xp.asarray(np.ascontiguousarray(array), device=device(reference))


def astype(array, dtype):
    """``array`` in the numpy ``dtype`` (its namespace's equivalent), no copy."""
    if isinstance(array, np.ndarray) or array_api_compat.is_dask_array(array):
        return array.astype(dtype, copy=False)
    xp = namespace(array)
    return xp.astype(array, getattr(xp, np.dtype(dtype).name), copy=False)


def numpy_dtype(dtype) -> np.dtype:
    """The numpy dtype of an array-API floating dtype (float32 or float64)."""
    if isinstance(dtype, np.dtype) or dtype in (np.float32, np.float64):
        return np.dtype(dtype)
    name = str(dtype).rsplit(".", 1)[-1]
    return np.dtype(name)


def stats_to_host(stats):
    """Statistics with every field a float64 numpy array (or float64 scalar)."""
    for name, value in list(stats.items()):
        if not isinstance(value, (np.ndarray, np.floating, float, int)):
            stats[name] = to_host(value).astype(np.float64, copy=False)
    return stats
