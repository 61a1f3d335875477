"""Every input check and conversion.

numpy, lists and pandas go through scikit-learn's own ``validate_data`` (same
messages, same feature-name handling); dask arrays and xarray DataArrays get
the same checks without being computed: shape, dtype and feature count are
checked here, and non-finite values are caught in the first pass over the
data (see ``RowBlocks.all_finite``). The result is always a numpy array or a
dask array chunked along rows only, plus an :class:`InputInfo` that tells the
output wrappers how to give results back in the type that came in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
import scipy.sparse as sp
from dask.array.utils import meta_from_array
from sklearn import get_config
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, InvalidParameterError
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    _check_sample_weight,
    validate_data,
)

try:  # xarray is a dependency, but keep the import cheap and explicit
    import xarray as xr
except ImportError:  # pragma: no cover
    xr = None

from .._engine import cluster_events
from .._engine.namespaces import (
    device,
    is_device_array,
    like,
    namespace,
    numpy_dtype,
    to_host,
)
from .._engine.passes import settled
from .._engine.tiles import is_finite_block

FLOAT_DTYPES = (np.float64, np.float32)

#: what an estimator with a ``missing`` option says about NaN it rejects
MISSING_HINT = (
    "{name}(missing='marginalize') fits and predicts through missing entries "
    "(NaN), taken as missing at random; missing='error', the default, rejects "
    "them."
)


def _nan_policy(estimator, allow_nan: bool | None) -> tuple[bool, bool]:
    """Whether X may hold NaN, and whether the estimator has a ``missing`` option."""
    option = getattr(estimator, "missing", None)
    if allow_nan is None:
        allow_nan = option == "marginalize"
    return allow_nan, option is not None


def _reject_nan(estimator, X: np.ndarray) -> None:
    """The ValueError for NaN in X that names the ``missing`` option."""
    if not is_finite_block(X):
        name = type(estimator).__name__
        raise ValueError("Input X contains NaN. " + MISSING_HINT.format(name=name))


@contextmanager
def naming_missing_option(estimator) -> Iterator[None]:
    """Add the ``missing`` option to an error about NaN in X raised inside.

    NaN in dask input shows only when the data are read, in a pass; the
    engine's message then says what was found, and this adds what to do.
    """
    try:
        yield
    except ValueError as exc:
        message = str(exc)
        if (
            getattr(estimator, "missing", None) == "error"
            and message.startswith("Input X contains NaN")
            and "missing=" not in message
        ):
            hint = MISSING_HINT.format(name=type(estimator).__name__)
            raise ValueError(f"{message} {hint}") from exc
        raise


@dataclass
class InputInfo:
    """Where the data came from, so that outputs can follow the input type.

    Attributes
    ----------
    kind : {'numpy', 'pandas', 'dask', 'xarray'}
    sample_dim : str or None
        Name of the sample dimension of an xarray input.
    sample_coords : dict
        Coordinates of an xarray input that lie along the sample dimension.
    """

    kind: str
    sample_dim: str | None = None
    sample_coords: dict[str, Any] = field(default_factory=dict)


def _is_xarray(X) -> bool:
    """Whether X is an xarray DataArray or Dataset."""
    return xr is not None and isinstance(X, (xr.DataArray, xr.Dataset))


def _check_counts(X, ensure_min_samples: int) -> None:
    """scikit-learn's errors for too few samples or no feature, for a 2-D ``X``."""
    n_samples, n_features = X.shape
    if n_samples < ensure_min_samples:
        raise ValueError(
            f"Found array with {n_samples} sample(s) (shape={X.shape}) while a "
            f"minimum of {ensure_min_samples} is required."
        )
    if n_features < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 "
            "is required."
        )


def _check_dask_array(X: da.Array, name: str, ensure_min_samples: int) -> da.Array:
    """scikit-learn's ``check_array`` checks for a dask array, without computing it."""
    meta = meta_from_array(X)
    if sp.issparse(meta):
        raise TypeError(
            f"Sparse input is not supported: {name} is a dask array of sparse "
            f"blocks ({type(meta).__name__}). Convert it to dense blocks first, "
            f"e.g. {name}.map_blocks(lambda b: b.toarray())."
        )
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead for {name} "
            f"(shape={X.shape}). Reshape your data, e.g. with X.reshape(-1, 1) "
            "for a single feature."
        )
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(
            f"{name} has unknown chunk sizes along rows; call "
            f"{name}.compute_chunk_sizes() first (or create it with known lengths)."
        )
    kind = X.dtype.kind
    if kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}.")
    if kind not in "biuf":
        raise ValueError(
            f"{name} has dtype {X.dtype}; expected a numeric (integer or float) "
            "dtype: could not convert it to float."
        )
    _check_counts(X, ensure_min_samples)
    if X.dtype not in FLOAT_DTYPES:
        X = X.astype(np.float64)
    if len(X.chunks[1]) > 1:
        # blocks must hold whole rows; rechunk once, up front
        X = X.rechunk({1: -1})
    return X


def check_X(
    estimator,
    X,
    *,
    reset: bool,
    ensure_min_samples: int = 1,
    accept_sparse: bool = False,
    allow_nan: bool | None = None,
) -> tuple[np.ndarray | da.Array, InputInfo]:
    """Validate ``X`` for ``estimator`` and return it as numpy or row-chunked dask.

    Parameters
    ----------
    estimator : BaseEstimator
        Gets ``n_features_in_`` / ``feature_names_in_`` set (``reset=True``) or
        checked (``reset=False``).
    X : array-like, dask array, pandas DataFrame or xarray DataArray
        Of shape (n_samples, n_features).
    reset : bool
        True in ``fit``, False in predict-like methods.
    ensure_min_samples : int
        Fewest rows accepted.
    accept_sparse : bool, default=False
        Accept SciPy sparse input (returned as CSR, as scikit-learn's KMeans
        takes it); otherwise sparse input raises scikit-learn's TypeError.
    allow_nan : bool, optional
        Whether NaN may stand for missing entries (infinity never may).
        None: when the estimator's ``missing`` is ``'marginalize'``. An
        estimator with a ``missing`` option that rejects NaN says so, naming
        the option. Dask input is checked when it is read.

    Returns
    -------
    X : ndarray, SciPy CSR matrix or dask.array.Array of shape \
            (n_samples, n_features)
        float64 or float32; dask arrays have one chunk along features.
    info : InputInfo
    """
    if reset:  # the dim names of an earlier xarray fit no longer apply
        vars(estimator).pop("_xarray_dims", None)
    if is_device_array(X):
        if array_api_dispatch():
            return _check_device_array(
                estimator, X, reset=reset, ensure_min_samples=ensure_min_samples
            )
        X = _host_copy(X)
    allow_nan, has_option = _nan_policy(estimator, allow_nan)
    finite = "allow-nan" if allow_nan or has_option else True
    if _is_xarray(X):
        X, info = _check_xarray(
            estimator,
            X,
            reset=reset,
            ensure_min_samples=ensure_min_samples,
            ensure_all_finite=finite,
        )
        if has_option and not allow_nan and not isinstance(X, da.Array):
            _reject_nan(estimator, X)
        return X, info
    if _is_dask_frame(X):
        return _check_dask_frame(
            estimator, X, reset=reset, ensure_min_samples=ensure_min_samples
        )
    if isinstance(X, da.Array):
        X = _check_dask_array(X, "X", ensure_min_samples)
        _check_n_features(estimator, X, reset=reset)
        _check_feature_names(estimator, X, reset=reset)
        return X, InputInfo("dask")
    kind = "pandas" if isinstance(X, pd.DataFrame) else "numpy"
    if hasattr(X, "dtype") and getattr(X.dtype, "kind", None) == "c":
        raise ValueError(f"Complex data not supported: X has dtype {X.dtype}.")
    X = validate_data(
        estimator,
        X,
        reset=reset,
        dtype=list(FLOAT_DTYPES),
        ensure_min_samples=ensure_min_samples,
        ensure_all_finite=finite,
        accept_sparse="csr" if accept_sparse else False,
    )
    if has_option and not allow_nan:
        _reject_nan(estimator, X)
    return X, InputInfo(kind)


def _is_dask_frame(X) -> bool:
    """A dask DataFrame, or any dask-backed frame with the same two methods."""
    return (
        hasattr(X, "__dask_graph__")
        and hasattr(X, "to_dask_array")
        and hasattr(X, "columns")
    )


def _check_dask_frame(estimator, X, *, reset: bool, ensure_min_samples: int):
    """A dask DataFrame as a row-chunked dask array, lazily.

    The frame is never loaded: ``to_dask_array(lengths=True)`` only computes
    the length of each partition (a cheap pass that returns one number per
    partition) so that the array has known row chunks. The column names
    become ``feature_names_in_`` (scikit-learn's rules, as for pandas), and
    per-row outputs are lazy dask arrays. pandas' nullable numeric columns
    (``Float64``, ``Int64``, ...) are numbers: they become float columns, a
    missing value NaN.
    """
    # scikit-learn reads names from eager frames only: give it an empty one
    _check_feature_names(estimator, pd.DataFrame(columns=X.columns), reset=reset)
    nullable = _nullable_numbers(X.dtypes)
    if nullable:
        X = X.astype(nullable)
    array = X.to_dask_array(lengths=True)
    if array.ndim == 2 and array.dtype.kind not in "biuf":
        dtypes = {str(name): str(dtype) for name, dtype in X.dtypes.items()}
        raise ValueError(
            "X is a dask DataFrame with non-numeric columns; expected numeric "
            f"(integer or float) columns only, got dtypes {dtypes}."
        )
    array = _check_dask_array(array, "X", ensure_min_samples)
    _check_n_features(estimator, array, reset=reset)
    return array, InputInfo("dask")


def _nullable_numbers(dtypes) -> dict[str, str]:
    """numpy dtypes for pandas' nullable numeric columns (``Float64``, ``Int64``).

    A missing value (``pd.NA``) becomes NaN, which the first pass reports
    as missing ("Input X contains NaN"), as it does for NaN in float columns.
    """
    return {
        name: "float32" if str(dtype) == "Float32" else "float64"
        for name, dtype in dtypes.items()
        if pd.api.types.is_extension_array_dtype(dtype)
        and pd.api.types.is_numeric_dtype(dtype)
    }


def _check_xarray(
    estimator, X, *, reset: bool, ensure_min_samples: int, ensure_all_finite=True
):
    """A 2-D DataArray as (samples, features), its dims matched by name once fitted.

    ``fit`` records the (sample, feature) dim names on the estimator
    (``_xarray_dims``); later calls transpose a DataArray that has the fitted
    feature dim (or, failing that, the fitted sample dim) to that order, and
    take any other 2-D DataArray by position, as an array.
    """
    if isinstance(X, xr.Dataset):
        raise TypeError(
            f"X is an xarray Dataset (variables {list(X.data_vars)}); "
            f"{type(estimator).__name__} takes a 2-D array or DataArray of shape "
            "(n_samples, n_features). Wrap the estimator in daskmix.Labeled to "
            "fit a Dataset (one feature per variable), e.g. "
            f"daskmix.Labeled({type(estimator).__name__}(...)).fit(ds)."
        )
    if X.ndim < 2:
        raise ValueError(
            "Expected a 2D DataArray with dims (samples, features), got "
            f"{X.ndim}D dims {X.dims}; for a single feature use "
            "X.expand_dims('feature', axis=-1)."
        )
    if X.ndim > 2:
        raise ValueError(
            "Expected a 2D DataArray with dims (samples, features), got "
            f"{X.ndim}D dims {X.dims}. For N-D labeled data, wrap the estimator "
            "in daskmix.Labeled, which stacks the sample dimensions: "
            f"daskmix.Labeled({type(estimator).__name__}(...), "
            "feature_dim=<feature dim>)."
        )
    if reset:
        estimator._xarray_dims = tuple(X.dims)
    else:
        fitted_dims = getattr(estimator, "_xarray_dims", None)
        if fitted_dims is not None:
            sample_dim, feature_dim = fitted_dims
            if feature_dim in X.dims:
                X = X.transpose(..., feature_dim)
            elif sample_dim in X.dims:
                X = X.transpose(sample_dim, ...)
    sample_dim, feature_dim = X.dims
    info = InputInfo(
        "xarray",
        sample_dim=sample_dim,
        sample_coords={
            name: coord
            for name, coord in X.coords.items()
            if coord.dims == (sample_dim,)
        },
    )
    names = None
    if feature_dim in X.coords and all(
        isinstance(v, str) for v in X[feature_dim].values
    ):
        names = [str(v) for v in X[feature_dim].values]
    # scikit-learn's feature-name logic reads only ``.columns``: give it an empty frame
    _check_feature_names(
        estimator, pd.DataFrame(columns=names) if names else X.data, reset=reset
    )
    data = X.data
    if isinstance(data, da.Array):
        data = _check_dask_array(data, "X", ensure_min_samples)
        _check_n_features(estimator, data, reset=reset)
        return data, info
    data = np.asarray(data)
    if data.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: X has dtype {data.dtype}.")
    data = check_array(
        data,
        dtype=list(FLOAT_DTYPES),
        ensure_min_samples=ensure_min_samples,
        ensure_all_finite=ensure_all_finite,
    )
    _check_n_features(estimator, data, reset=reset)
    return data, info


def check_y(y, X, info: InputInfo | None = None):
    """Validate a regression target: 1-D or (n, 1), finite (numpy), numeric.

    Parameters
    ----------
    y : array-like, dask array, pandas Series/DataFrame or xarray DataArray
    X : ndarray or dask.array.Array
        The validated features (from :func:`check_X`): ``y`` must have as many
        rows, and is rechunked to X's rows when X is a dask array.
    info : InputInfo, optional
        Where X came from (from :func:`check_X`). When X and y are both
        DataArrays, y must lie along X's sample dimension, and when both carry
        an index along it, y is reordered to X's coordinate values (any order);
        values missing from y or duplicated raise a ValueError. Any other y is
        taken by position.

    Returns
    -------
    ndarray or dask.array.Array of shape (n_samples,), float64
    """
    if y is None:
        raise ValueError("y is required: this estimator needs targets y to fit.")
    n_samples = X.shape[0]
    like_dask = X if isinstance(X, da.Array) else None
    if xr is not None and isinstance(y, xr.DataArray):
        if info is not None and info.kind == "xarray":
            y = _align_on_samples(y, info)
        y = y.data
    if isinstance(y, (pd.Series, pd.DataFrame)):
        y = y.to_numpy()
    if isinstance(y, da.Array) and sp.issparse(meta_from_array(y)):
        raise TypeError(
            "Sparse input is not supported: y is a dask array of sparse blocks "
            f"({type(meta_from_array(y)).__name__}); pass dense targets."
        )
    if not isinstance(y, da.Array):
        y = np.asarray(y)
    elif y.ndim and any(np.isnan(c) for c in y.chunks[0]):
        raise ValueError(
            "y has unknown chunk sizes along rows; call y.compute_chunk_sizes() "
            "first (or create it with known lengths)."
        )
    if y.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: y has dtype {y.dtype}.")
    if y.dtype.kind not in "biuf":
        if isinstance(y, da.Array):
            raise ValueError(f"y has dtype {y.dtype}; expected numeric values.")
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"y must be numeric: {exc}") from exc
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"y must be 1-D (n_samples,) or (n_samples, 1); got shape {y.shape}."
        )
    if y.shape[0] != n_samples:
        raise ValueError(
            "X and y have inconsistent numbers of samples: "
            f"{n_samples} and {y.shape[0]}."
        )
    y = y.astype(np.float64)
    if isinstance(y, da.Array) or like_dask is not None:
        if like_dask is None:
            raise TypeError("y is a dask array but X is not: pass both as dask arrays.")
        y = da.asarray(y).rechunk((like_dask.chunks[0],))
    elif not np.isfinite(y).all():
        raise ValueError("Input y contains NaN or infinity.")
    return y


def _align_on_samples(y, info: InputInfo):
    """A DataArray ``y`` along X's sample dimension, in the order of X's index."""
    dim = info.sample_dim
    if dim not in y.dims:
        raise ValueError(
            f"y is a DataArray with dims {y.dims}, but X's sample dimension is "
            f"{dim!r}: give y that dimension (e.g. y.rename(...)), or pass "
            "y.values to take it by position."
        )
    if y.ndim == 2:  # (n_samples, 1) once the sample dimension comes first
        y = y.transpose(dim, ...)
    if dim not in y.indexes or dim not in info.sample_coords:
        return y  # nothing to align on: by position
    x_index = info.sample_coords[dim].to_index()
    y_index = y.indexes[dim]
    if x_index.equals(y_index):
        return y
    positions = (
        y_index.get_indexer(x_index)
        if x_index.is_unique and y_index.is_unique
        else None
    )
    if positions is None or len(x_index) != len(y_index) or (positions < 0).any():
        missing = x_index[~x_index.isin(y_index)]
        extra = y_index[~y_index.isin(x_index)]
        raise ValueError(
            f"The coordinate values of y along {dim!r} do not match those of X "
            f"(y is aligned on them, in any order): X has {len(x_index)} values, "
            f"y {len(y_index)}; {len(missing)} of X's are missing from y "
            f"(first: {list(missing[:3])}), {len(extra)} of y's are not in X "
            f"(first: {list(extra[:3])})"
            + (
                ""
                if x_index.is_unique and y_index.is_unique
                else "; the coordinate has duplicate values"
            )
            + "."
        )
    return y.isel({dim: positions})


def array_api_dispatch() -> bool:
    """Whether scikit-learn's array API dispatch is on (``sklearn.set_config``)."""
    return bool(get_config().get("array_api_dispatch", False))


def _host_copy(X) -> np.ndarray:
    """An array-API ``X`` as numpy, as scikit-learn takes it without dispatch."""
    try:
        return np.asarray(X)
    except (TypeError, RuntimeError, ValueError):
        raise TypeError(
            f"X is a {type(X).__module__.split('.')[0]} array that numpy cannot "
            "read. daskmix fits it where it lives with scikit-learn's array API "
            "dispatch on: sklearn.set_config(array_api_dispatch=True), or "
            "sklearn.config_context(array_api_dispatch=True)."
        ) from None


def _check_device_array(estimator, X, *, reset: bool, ensure_min_samples: int):
    """An array-API array (cupy, torch...) checked where it lives, not copied.

    The checks of :func:`check_X` for numpy input: two dimensions, a numeric
    dtype (integers become the namespace's widest float), enough rows,
    finite values (one reduction on the device), the number of features.
    """
    if not getattr(estimator, "_supports_array_api", False):
        raise TypeError(
            f"{type(estimator).__name__} does not run on array-API input "
            f"({type(X).__module__.split('.')[0]} arrays) yet; pass numpy or dask "
            "input, or turn scikit-learn's array_api_dispatch off to have X "
            "copied to numpy."
        )
    xp = namespace(X)
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead (shape={X.shape}). "
            "Reshape your data, e.g. with X.reshape(-1, 1) for a single feature."
        )
    if xp.isdtype(X.dtype, "complex floating"):
        raise ValueError(f"Complex data not supported: X has dtype {X.dtype}.")
    if not xp.isdtype(X.dtype, "real floating"):
        if not xp.isdtype(X.dtype, ("integral", "bool")):
            raise ValueError(f"X has dtype {X.dtype}; expected a numeric dtype.")
        X = xp.astype(X, _widest_float(xp, X))
    _check_counts(X, ensure_min_samples)
    if not bool(xp.all(xp.isfinite(X))):
        if getattr(estimator, "missing", "error") != "error":
            raise ValueError(
                "Input X contains NaN or infinity: missing values are fitted "
                "through (missing='marginalize') on numpy and dask input only, "
                "not on array-API input."
            )
        raise ValueError("Input X contains NaN or infinity.")
    _check_n_features(estimator, X, reset=reset)
    if reset:
        vars(estimator).pop("feature_names_in_", None)
    return X, InputInfo("array_api")


def _widest_float(xp, X):
    """float64, unless the device has none (some GPUs): then float32."""
    try:
        xp.zeros(1, dtype=xp.float64, device=device(X))
    except (TypeError, RuntimeError, ValueError):
        return xp.float32
    return xp.float64


def check_sample_weight(sample_weight, X, *, read_dask: bool = True):
    """Validate row weights for ``X`` with scikit-learn's rules and messages.

    Parameters
    ----------
    sample_weight : None, float, array-like or dask array of shape (n_samples,)
    X : ndarray or dask.array.Array of shape (n_samples, n_features)
        The validated data (from :func:`check_X`).
    read_dask : bool, default=True
        Check the values of dask weights here, with one ``compute``. False:
        only their shape and dtype; the caller checks the values in a pass
        of its own (the mixtures count the rows of non-zero weight anyway:
        :func:`~daskmix._estimator.base.check_enough_weights`).

    Returns
    -------
    None, or ndarray or dask.array.Array of shape (n_samples,)
        None for ``None`` (unit weights, the unweighted code path); else
        non-negative finite weights, not all zero, in X's dtype: numpy for
        numpy ``X``, a dask array chunked as X's rows for dask ``X``. dask
        weights are checked with one small ``compute`` (minimum, finiteness,
        any non-zero) that reads the weights only.
    """
    if sample_weight is None:
        return None
    n_samples = X.shape[0]
    if is_device_array(X):
        host = np.empty((n_samples, 0), dtype=numpy_dtype(X.dtype))
        if not np.isscalar(sample_weight):
            sample_weight = to_host(sample_weight)
        return like(check_sample_weight(sample_weight, host), X)
    if not isinstance(sample_weight, da.Array):
        if isinstance(sample_weight, (pd.Series, pd.DataFrame)):
            sample_weight = sample_weight.to_numpy()
        if not np.isscalar(sample_weight):
            sample_weight = np.asarray(sample_weight)
            if sample_weight.ndim == 1:
                _check_weight_length(sample_weight.shape, n_samples)
        shape_only = np.empty((n_samples, 0), dtype=X.dtype)
        weights = _check_sample_weight(
            sample_weight, shape_only, dtype=X.dtype, ensure_non_negative=True
        )
        if not weights.any():  # scikit-learn checks it itself from 1.9 only
            raise ValueError(
                "Sample weights must contain at least one non-zero number."
            )
        if isinstance(X, da.Array):
            return da.from_array(weights, chunks=(X.chunks[0],))
        return weights
    if not isinstance(X, da.Array):
        raise TypeError(
            "sample_weight is a dask array but X is not: pass X as a dask array "
            "too, or sample_weight as a numpy array."
        )
    if sample_weight.ndim != 1:
        raise ValueError(
            f"Sample weights must be 1D array or scalar, got {sample_weight.ndim}D "
            f"array. Expected either a scalar value or a 1D array of length "
            f"{n_samples}."
        )
    if any(np.isnan(c) for c in sample_weight.chunks[0]):
        raise ValueError(
            "sample_weight has unknown chunk sizes; call "
            "sample_weight.compute_chunk_sizes() first."
        )
    _check_weight_length(sample_weight.shape, n_samples)
    if sample_weight.dtype.kind not in "biuf":
        raise ValueError(
            f"sample_weight has dtype {sample_weight.dtype}; expected numeric values."
        )
    # settled now: the checks and the fit's passes then read one form of it
    weights = settled(sample_weight.astype(X.dtype).rechunk((X.chunks[0],)))
    if not read_dask:
        return weights
    finite, smallest, any_nonzero = cluster_events.compute(
        da.isfinite(weights).all(), weights.min(), (weights != 0).any()
    )
    if not finite:
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if smallest < 0:
        raise ValueError("Negative values in data passed to `sample_weight`.")
    if not any_nonzero:
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return weights


def _check_weight_length(shape: tuple, n_samples: int) -> None:
    """scikit-learn's message for weights of the wrong length, and the lengths."""
    if shape != (n_samples,):
        raise ValueError(
            f"sample_weight.shape == {shape}, expected {(n_samples,)}!: "
            f"sample_weight has {shape[0]} values but X has {n_samples} samples."
        )


def reject_booleans(estimator) -> None:
    """Raise for a boolean given to an integer parameter (``n_components=True``).

    scikit-learn's parameter validation takes ``True`` for an int (``bool`` is
    an ``Integral``), and the fit then fails far from the cause ("an integer
    is required"). Called after scikit-learn's own validation, with its error
    type and wording.

    Raises
    ------
    InvalidParameterError
        A ValueError and TypeError naming the parameter and what it takes.
    """
    for name, constraints in estimator._parameter_constraints.items():
        value = getattr(estimator, name, None)
        if not isinstance(value, (bool, np.bool_)) or "boolean" in constraints:
            continue
        integers = [
            c for c in constraints if isinstance(c, Interval) and c.type is Integral
        ]
        if integers:
            raise InvalidParameterError(
                f"The {name!r} parameter of {type(estimator).__name__} must be "
                f"{integers[0]}, not a boolean. Got {value!r} instead."
            )


def check_n_samples(n_samples) -> int:
    """The number of samples ``sample`` draws, taken as scikit-learn takes it.

    scikit-learn's ``GaussianMixture.sample`` hands ``n_samples`` to
    ``numpy.random.RandomState.multinomial``, which truncates a float
    (``sample(1.5)`` draws one sample); values below 1 raise.

    Raises
    ------
    TypeError
        If ``n_samples`` is not a real number.
    ValueError
        If it is below 1, or not finite.
    """
    if isinstance(n_samples, str) or not isinstance(n_samples, Real):
        raise TypeError(
            "n_samples must be a number of samples (an integer >= 1); got "
            f"{n_samples!r} of type {type(n_samples).__name__}."
        )
    if not np.isfinite(n_samples) or n_samples < 1:
        raise ValueError(
            f"Invalid value for 'n_samples': {n_samples} . The sampling requires "
            "at least one sample."
        )
    return int(n_samples)
