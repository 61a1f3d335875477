"""The ``'gmm'`` start: a Gaussian mixture fitted in memory on a row sample."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._core.engine import RowBlocks
from ..cluster.seeding import sample_indices

#: rows of the uniform sample that ``init_params='gmm'`` fits
GMM_SAMPLE_ROWS = 20_000
#: restarts of the mixture fitted on that sample (the best lower bound wins)
GMM_RESTARTS = 3


def gmm_sample_init(
    data: RowBlocks,
    n_components: int,
    random_state: np.random.RandomState,
    *,
    covariance_type: str = "full",
    reg_covar: float = 1e-6,
    tol: float = 1e-3,
    max_iter: int = 100,
    n_restarts: int = GMM_RESTARTS,
    n_rows: int = GMM_SAMPLE_ROWS,
    joint: bool = False,
):
    """A Gaussian mixture fitted on a uniform random sample of rows.

    The sample is read once; the ``n_restarts`` k-means-initialised fits run
    in memory on it, and the one with the best lower bound is returned, so
    that restarts are cheap and the long run on all the data happens once.

    Parameters
    ----------
    data : RowBlocks
    n_components : int
    random_state : RandomState
    covariance_type, reg_covar, tol, max_iter
        As for :class:`daskmix.GaussianMixture`.
    n_restarts : int, default=GMM_RESTARTS
    n_rows : int, default=GMM_SAMPLE_ROWS
        Rows to sample (all rows when there are fewer).
    joint : bool, default=False
        Fit the joint space of all the arrays of ``data`` (``X`` and ``y``,
        for regression mixtures) instead of ``X`` alone.

    Returns
    -------
    daskmix.GaussianMixture
        Fitted on the sample (of ``n_features`` or, when ``joint``, all
        columns).
    """
    from .mixture import GaussianMixture

    indices = sample_indices(data.n_samples, n_rows, random_state)
    taken = data.take_rows(indices)
    arrays = taken if joint else taken[:1]
    rows = np.hstack(
        [np.asarray(a, dtype=np.float64).reshape(len(indices), -1) for a in arrays]
    )
    model = GaussianMixture(
        n_components,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        tol=tol,
        max_iter=max_iter,
        n_init=n_restarts,
        init_params="kmeans",
        random_state=random_state,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(rows)
