"""Statistics of a scoring pass, shared by every mixture family."""

from __future__ import annotations

import numpy as np

from .stats import Stats


def score_stats(weighted_log_prob: np.ndarray) -> Stats:
    """Log-likelihood and classification entropy of one tile.

    Parameters
    ----------
    weighted_log_prob : ndarray of shape (K, tile)
        ``log pi_k + log p(row | k)`` of each component and row.

    Returns
    -------
    Stats
        ``loglik`` (summed log-likelihood), ``entropy`` (summed entropy of the
        responsibilities, ``-sum_k r_k log r_k`` per row: the term ICL adds to
        BIC, twice) and ``n_rows``.
    """
    top = weighted_log_prob.max(axis=0)
    with np.errstate(under="ignore", invalid="ignore", divide="ignore"):
        shifted = (weighted_log_prob - top).astype(np.float64)
        log_norm = np.log(np.exp(shifted).sum(axis=0))
        log_resp = shifted - log_norm
        resp = np.exp(log_resp)
        # 0 log 0 = 0: rows a component cannot explain contribute nothing
        entropy = -np.where(resp > 0, resp * log_resp, 0.0).sum()
    return Stats(
        loglik=(log_norm + top).sum(dtype=np.float64),
        entropy=np.float64(entropy),
        n_rows=np.float64(weighted_log_prob.shape[1]),
    )
