"""Checks of user-given initial parameters (``weights_init`` and friends).

The messages are scikit-learn's, so that code catching them keeps working,
except that NaN or infinity and an array of the wrong number of dimensions
name the estimator parameter (``weights_init``, ``means_init``,
``precisions_init``).
Inputs are checked in their own float dtype, with that dtype's tolerances
(scikit-learn 1.9's rule: a float32 ``weights_init`` needs to sum to one
within 1e-6, a float64 one within 1e-8), and returned as float64 copies; the
estimator's own parameters are never overwritten.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array

from .covariance import covariance

FLOAT_DTYPES = [np.float64, np.float32]


def _atol(array: np.ndarray) -> float:
    """Absolute tolerance of the checks for an array of this float dtype."""
    return 1e-6 if array.dtype == np.float32 else 1e-8


def _check_shape(param: np.ndarray, shape: tuple, name: str) -> None:
    if param.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}, "
            f"but got {param.shape}"
        )


def check_weights(weights, n_components: int) -> np.ndarray:
    """(K,) weights in [0, 1] summing to one."""
    weights = check_array(
        weights, dtype=FLOAT_DTYPES, ensure_2d=False, input_name="weights_init"
    )
    _check_shape(weights, (n_components,), "weights")
    if np.any(weights < 0.0) or np.any(weights > 1.0):
        raise ValueError(
            "The parameter 'weights' should be in the range [0, 1], but got "
            f"max value {weights.max():.5f}, min value {weights.min():.5f}"
        )
    # summed in the array's own dtype, as the user computed it
    total = weights.sum()
    if not abs(1.0 - float(total)) <= _atol(weights):
        raise ValueError(
            "The parameter 'weights' should be normalized, but got "
            f"sum(weights) = {total:.5f}"
        )
    return weights.astype(np.float64)


def check_means(means, n_components: int, n_features: int) -> np.ndarray:
    """(K, D) means."""
    means = check_array(
        means, dtype=FLOAT_DTYPES, ensure_2d=False, input_name="means_init"
    )
    _check_shape(means, (n_components, n_features), "means")
    return means.astype(np.float64)


def check_precisions(
    precisions, covariance_type: str, n_components: int, n_features: int
) -> np.ndarray:
    """Precisions of the shape of ``covariance_type``, positive (definite)."""
    cov = covariance(covariance_type)
    shape = cov.shape(n_components, n_features)
    got = np.shape(precisions)
    if len(got) != len(shape):
        raise ValueError(
            f"The parameter '{covariance_type} precision' should have the shape of "
            f"{shape}, but got {got}: precisions_init must be {len(shape)}-D for "
            f"covariance_type='{covariance_type}'."
        )
    precisions = check_array(
        precisions,
        dtype=FLOAT_DTYPES,
        ensure_2d=False,
        allow_nd=cov.ndim > 2,
        input_name="precisions_init",
    )
    _check_shape(precisions, shape, f"{covariance_type} precision")
    cov.check_precisions(precisions)
    return precisions.astype(np.float64)
