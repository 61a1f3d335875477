"""Degenerate optima of a regression mixture: components that explain a few points.

The likelihood of a mixture of regressions is unbounded: a line through
``P + 1`` points (``P`` coefficients) or a handful of nearly collinear points
can have a noise variance as small as the floor, and its density on those
points then out-scores any real fit. EM finds such optima from unlucky
starts, most often on small data or with many components. They are not
answers to report, so ``n_init`` should not pick one over a proper fit
merely because its likelihood is higher.

The rule, applied to the fitted parameters (R's flexmix drops components
below a minimum prior, mclust puts a conjugate prior on the variances; this
rule only flags):

A component ``k`` is *degenerate* when

* its effective number of rows ``n_k = sum_i r_ik`` is below
  ``P + 1`` (``daskmix.regression.degenerate.min-rows-over-coefficients``
  above ``P``): its line and
  noise variance are not determined by its points (with ``P + 1`` rows the
  residual has a single degree of freedom), or
* its noise variance is below ``daskmix.regression.degenerate.variance-ratio``
  (1e-3) times the median
  noise variance of the other components: a collapse onto a few nearly
  collinear rows. A true component that much less noisy than the others
  (a noise standard deviation over 30 times smaller) is flagged too; that is
  rare, and the flag only makes ``n_init`` prefer another run.

With ``noise='shared'`` all variances are equal and only the first test can
fire. With a single component there is nothing to compare against and only
the first test applies.
"""

from __future__ import annotations

import numpy as np

from .. import config


def degenerate_components(
    noise_variance: np.ndarray,
    effective_rows: np.ndarray,
    n_coef: int,
    *,
    variance_ratio: float | None = None,
) -> list[int]:
    """Indices of the degenerate components of a fitted regression mixture.

    Parameters
    ----------
    noise_variance : ndarray of shape (K,)
        ``sigma_k^2`` of each component (``noise_variance_``).
    effective_rows : ndarray of shape (K,)
        ``n_k = sum_i r_ik``, e.g. ``weights_ * n_samples`` after a batch fit
        (the weights are ``n_k / n`` up to ``1e-15``).
    n_coef : int
        Coefficients per line: ``n_features + 1`` with an intercept, else
        ``n_features``.
    variance_ratio : float, optional
        See the module docstring (default:
        ``daskmix.regression.degenerate.variance-ratio``).

    Returns
    -------
    list of int
        Sorted component indices; empty when the fit is proper.

    Raises
    ------
    ValueError
        If the two arrays are not 1-D of the same length, or ``n_coef < 1``.
    """
    variance = np.asarray(noise_variance, dtype=np.float64)
    rows = np.asarray(effective_rows, dtype=np.float64)
    if variance.ndim != 1 or rows.shape != variance.shape:
        raise ValueError(
            "noise_variance and effective_rows should be 1-D arrays of the same "
            f"length, got shapes {variance.shape} and {rows.shape}."
        )
    if int(n_coef) < 1:
        raise ValueError(f"n_coef should be >= 1, got {n_coef}.")
    if variance_ratio is None:
        variance_ratio = config.get("regression.degenerate.variance-ratio")
    margin = config.get("regression.degenerate.min-rows-over-coefficients")
    flagged = rows < n_coef + margin
    n_components = variance.shape[0]
    if n_components > 1:
        for k in range(n_components):
            others = np.median(np.delete(variance, k))
            flagged[k] |= variance[k] < variance_ratio * others
    return [int(k) for k in np.flatnonzero(flagged)]


def degenerate_message(components: list[int]) -> str:
    """The warning for a fit whose components ``components`` are degenerate."""
    names = ", ".join(str(k) for k in components)
    return (
        f"Component(s) {names} of the fitted regression mixture collapsed onto a "
        "few rows (fewer effective rows than coefficients + 1, or a noise "
        "variance over 1000 times below the other components'): a degenerate "
        "optimum of an unbounded likelihood. Try more restarts (n_init), another "
        "init_params, fewer components, or reg_covar to bound the variances."
    )
