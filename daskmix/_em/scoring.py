"""Statistics of a scoring pass, shared by every mixture family."""

from __future__ import annotations

import numpy as np

from .._engine.stats import Stats


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
    row_loglik, entropy_terms = _row_terms(weighted_log_prob)
    if sample_weight is not None:
        weights = sample_weight.reshape(-1).astype(np.float64, copy=False)
        # rows of weight zero count for nothing, even where their terms are
        # not finite
        positive = weights > 0
        return Stats(
            loglik=np.float64(row_loglik[positive] @ weights[positive]),
            entropy=np.float64(entropy_terms.sum(axis=0)[positive] @ weights[positive]),
            n_rows=weights.sum(),
        )
    return Stats(
        loglik=row_loglik.sum(dtype=np.float64),
        entropy=np.float64(entropy_terms.sum()),
        n_rows=np.float64(weighted_log_prob.shape[1]),
    )


def _row_terms(weighted_log_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``log p(x)`` (tile,) and entropy terms ``-r log r`` (K, tile)."""
    top = weighted_log_prob.max(axis=0)
    with np.errstate(under="ignore", invalid="ignore", divide="ignore"):
        shifted = (weighted_log_prob - top).astype(np.float64)
        log_norm = np.log(np.exp(shifted).sum(axis=0))
        log_resp = shifted - log_norm
        resp = np.exp(log_resp)
        # 0 log 0 = 0: rows a component cannot explain contribute nothing
        entropy_terms = -np.where(resp > 0, resp * log_resp, 0.0)
    return log_norm + top, entropy_terms
