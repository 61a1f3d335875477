"""Drawing samples from a fitted Gaussian mixture (on the client)."""

from __future__ import annotations

import numpy as np

from .covariance import covariance
from .params import GaussianParams


def sample_mixture(
    params: GaussianParams, n_samples: int, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_samples`` points, grouped by component (scikit-learn's order).

    Parameters
    ----------
    params : GaussianParams
    n_samples : int
        At least 1.
    rng : RandomState

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
        Component of each sample, sorted.
    """
    if n_samples < 1:
        raise ValueError(
            f"Invalid value for 'n_samples': {n_samples} . The sampling "
            "requires at least one sample."
        )
    counts = rng.multinomial(n_samples, params.weights)
    X = covariance(params.covariance_type).sample(
        rng, params.means, params.covariances, counts
    )
    return X, np.repeat(np.arange(params.n_components), counts)
