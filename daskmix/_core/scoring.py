"""Statistics of a scoring pass, shared by every mixture family."""

from __future__ import annotations

import numpy as np

from .stats import Stats


def score_stats(weighted_log_prob: np.ndarray, sample_weight=None) -> Stats:
    """Log-likelihood and classification entropy of one tile.

    Parameters
    ----------
    weighted_log_prob : ndarray of shape (K, tile)
        ``log pi_k + log p(row | k)`` of each component and row.
    sample_weight : ndarray of shape (tile,) or (tile, 1), optional
        Row weights: ``loglik``, ``entropy`` and ``n_rows`` are then weighted
        sums (a row of integer weight ``w`` counts as ``w`` repeated rows).

    Returns
    -------
    Stats
        ``loglik`` (summed log-likelihood), ``entropy`` (summed entropy of the
        responsibilities, ``-sum_k r_k log r_k`` per row: the term ICL adds to
        BIC, twice) and ``n_rows``.
    """
    if sample_weight is not None:
        return _weighted_score_stats(weighted_log_prob, sample_weight)
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


def _weighted_score_stats(weighted_log_prob: np.ndarray, sample_weight) -> Stats:
    """:func:`score_stats` with every row's terms multiplied by its weight."""
    weights = sample_weight.reshape(-1).astype(np.float64, copy=False)
    top = weighted_log_prob.max(axis=0)
    with np.errstate(under="ignore", invalid="ignore", divide="ignore"):
        shifted = (weighted_log_prob - top).astype(np.float64)
        log_norm = np.log(np.exp(shifted).sum(axis=0))
        log_resp = shifted - log_norm
        resp = np.exp(log_resp)
        row_entropy = -np.where(resp > 0, resp * log_resp, 0.0).sum(axis=0)
    # rows of weight zero count for nothing, even where their terms are not finite
    positive = weights > 0
    loglik = (log_norm + top.astype(np.float64))[positive] @ weights[positive]
    entropy = row_entropy[positive] @ weights[positive]
    return Stats(
        loglik=np.float64(loglik),
        entropy=np.float64(entropy),
        n_rows=weights.sum(),
    )
