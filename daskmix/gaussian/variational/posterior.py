"""The variational Gaussian mixture: priors, E-step plan, M-step, lower bound.

Pure functions and small dataclasses on the client (tiny arrays only), plus
one pure numpy block kernel. The model is scikit-learn's
``BayesianGaussianMixture`` (Bishop 2006, ch. 10; Blei & Jordan 2006 for the
Dirichlet-process prior), formula for formula:

* E-step. The variational responsibilities are those of a Gaussian mixture
  whose per-component constants are the variational expectations:
  ``E[log pi_k]`` (Dirichlet or stick-breaking), the expected log
  determinant ``0.5 (D log 2 + sum_i digamma((nu_k - i) / 2))``, and
  ``-0.5 D / beta_k`` from the uncertainty of the mean. They are folded into
  the ``log_const`` of the Gaussian kernel's plan, so the E-step is the
  Gaussian kernel (:func:`~daskmix.gaussian.kernels.component_log_prob`) and
  costs the same: one GEMM per block for full covariances.
* Statistics. The Gaussian kernel's shifted statistics, plus the sum of
  ``r log r`` over rows and components that the lower bound needs.
* M-step. The maximum-likelihood M-step of
  :func:`~daskmix.gaussian.params.m_step` gives ``N_k``, ``xbar_k`` and
  ``S_k`` (with ``reg_covar``); :func:`posterior` turns them into the
  variational posterior (Dirichlet / Beta, Gaussian, Wishart parameters).
* Lower bound. scikit-learn's simplified ELBO after the M-step: the entropy
  of the responsibilities minus the normalisers of the posterior factors.

Stochastic variational inference (Hoffman et al. 2013) is stepwise EM on the
same statistics: the posterior parameters are the prior plus ``N`` times the
per-row average statistics, so averaging the statistics (what the stepwise
driver does) is averaging the natural parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import betaln, digamma, gammaln

from ..._engine.namespaces import register_device_kernel
from ..._engine.stats import Stats
from ..._engine.tiles import Tile
from ..covariance import covariance
from ..device_kernels import variational_kernel_device
from ..kernels import (
    GaussianPlan,
    component_log_prob,
    make_plan,
    normalize_log_prob,
)
from ..params import (
    NK_EPS,
    GaussianParams,
    StatsFrame,
    log_det_cholesky,
    precisions_cholesky_from_covariances,
)

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")


@dataclass(frozen=True)
class Priors:
    """The priors of the variational mixture (scikit-learn's ``*_prior_``).

    Parameters
    ----------
    weight_concentration_prior_type : {'dirichlet_process', \
            'dirichlet_distribution'}
        Stick-breaking or Dirichlet weights.
    weight_concentration : float
        Dirichlet concentration (or the stick-breaking Beta's second parameter).
    mean_precision : float
        ``beta_0``.
    mean : ndarray of shape (D,)
        ``m_0``.
    degrees_of_freedom : float
        ``nu_0``.
    covariance : ndarray or float
        Wishart scale's inverse ``W_0^-1``: (D, D) full and tied, (D,) diag,
        float spherical.
    covariance_type : str
        One of 'full', 'tied', 'diag', 'spherical'.
    """

    weight_concentration_prior_type: str
    weight_concentration: float
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    covariance: np.ndarray | float
    covariance_type: str


@dataclass(frozen=True)
class BayesianParams:
    """The variational posterior, in scikit-learn's fitted-attribute terms.

    Parameters
    ----------
    gaussian : GaussianParams
        ``weights_`` (posterior-mean weights), ``means_``, ``covariances_``
        (``W_k^-1 / nu_k``) and ``precisions_cholesky_``.
    weight_concentration : ndarray of shape (K,) or tuple of two
        Dirichlet parameters, or the stick-breaking Beta parameters.
    mean_precision : ndarray of shape (K,)
        ``beta_k``.
    degrees_of_freedom : ndarray of shape (K,), or float for tied
        ``nu_k``.
    """

    gaussian: GaussianParams
    weight_concentration: np.ndarray | tuple[np.ndarray, np.ndarray]
    mean_precision: np.ndarray
    degrees_of_freedom: np.ndarray | float


# ------------------------------------------------------------ normalisers
def log_dirichlet_norm(dirichlet_concentration: np.ndarray) -> float:
    """Log normaliser of a Dirichlet distribution.

    Parameters
    ----------
    dirichlet_concentration : ndarray of shape (K,)
        The Dirichlet parameters.

    Returns
    -------
    float
        ``log Gamma(sum a) - sum log Gamma(a)``.
    """
    return gammaln(np.sum(dirichlet_concentration)) - np.sum(
        gammaln(dirichlet_concentration)
    )


def log_wishart_norm(
    degrees_of_freedom: np.ndarray | float,
    log_det_precisions_chol: np.ndarray | float,
    n_features: int,
) -> np.ndarray:
    """Log normaliser of Wishart distributions, without the ``log pi`` term.

    Parameters
    ----------
    degrees_of_freedom : ndarray of shape (K,) or float
        Degrees of freedom of each Wishart distribution.
    log_det_precisions_chol : ndarray of shape (K,) or float
        Log determinant of the Cholesky factor of each scale matrix.
    n_features : int
        Dimension ``D`` of the matrices.

    Returns
    -------
    ndarray of shape (K,), or (1,) for one scalar distribution
        The log normalisers.
    """
    return -(
        degrees_of_freedom * log_det_precisions_chol
        + degrees_of_freedom * n_features * 0.5 * math.log(2.0)
        + np.sum(
            gammaln(0.5 * (degrees_of_freedom - np.arange(n_features)[:, np.newaxis])),
            0,
        )
    )


# ------------------------------------------------------------------ weights
def expected_log_weights(prior_type: str, weight_concentration) -> np.ndarray:
    """``E[log pi_k]`` under the posterior of the weights.

    Parameters
    ----------
    prior_type : {'dirichlet_process', 'dirichlet_distribution'}
        The weight concentration prior type.
    weight_concentration : ndarray of shape (K,) or tuple of two
        Dirichlet parameters, or the stick-breaking Beta parameters.

    Returns
    -------
    ndarray of shape (K,)
        The expected log weights.
    """
    if prior_type == "dirichlet_process":
        a, b = weight_concentration
        digamma_sum = digamma(a + b)
        return (
            digamma(a)
            - digamma_sum
            + np.hstack((0, np.cumsum(digamma(b) - digamma_sum)[:-1]))
        )
    return digamma(weight_concentration) - digamma(np.sum(weight_concentration))


def mean_weights(prior_type: str, weight_concentration) -> np.ndarray:
    """The posterior-mean mixture weights (scikit-learn's ``weights_``).

    Parameters
    ----------
    prior_type : {'dirichlet_process', 'dirichlet_distribution'}
        The weight concentration prior type.
    weight_concentration : ndarray of shape (K,) or tuple of two
        Dirichlet parameters, or the stick-breaking Beta parameters.

    Returns
    -------
    ndarray of shape (K,)
        Weights summing to one.
    """
    if prior_type == "dirichlet_process":
        a, b = weight_concentration
        total = a + b
        weights = a / total * np.hstack((1, np.cumprod((b / total)[:-1])))
        return weights / np.sum(weights)
    return weight_concentration / np.sum(weight_concentration)


# ------------------------------------------------------------------ M-step
def posterior(
    nk: np.ndarray, xk: np.ndarray, sk: np.ndarray, priors: Priors
) -> BayesianParams:
    """The variational posterior from the responsibilities' statistics.

    Parameters
    ----------
    nk : ndarray of shape (K,)
        ``N_k`` (scikit-learn adds ``10 eps``).
    xk : ndarray of shape (K, D)
        The responsibilities' means.
    sk : ndarray
        Their covariances, ``reg_covar`` included (shape per covariance type).
    priors : Priors
        The priors, with the covariance type.

    Returns
    -------
    BayesianParams
        The variational posterior.
    """
    cov_type = priors.covariance_type
    if priors.weight_concentration_prior_type == "dirichlet_process":
        concentration = (
            1.0 + nk,
            priors.weight_concentration + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0)),
        )
    else:
        concentration = priors.weight_concentration + nk
    beta0, m0, cov0 = priors.mean_precision, priors.mean, priors.covariance
    mean_precision = beta0 + nk
    means = (beta0 * m0 + nk[:, None] * xk) / mean_precision[:, None]
    diff = xk - m0
    covariances, dof = covariance(cov_type).wishart_posterior(
        nk, sk, diff, cov0, priors.degrees_of_freedom, beta0, mean_precision
    )
    gaussian = GaussianParams(
        cov_type,
        mean_weights(priors.weight_concentration_prior_type, concentration),
        means,
        covariances,
        precisions_cholesky_from_covariances(covariances, cov_type),
    )
    return BayesianParams(gaussian, concentration, mean_precision, dof)


def stats_frame(params: BayesianParams, dtype) -> StatsFrame:
    """The frame in which :func:`variational_kernel` takes its statistics.

    Parameters
    ----------
    params : BayesianParams
        The parameters of the pass.
    dtype : numpy dtype
        The blocks' dtype (the common shift is rounded to it).

    Returns
    -------
    StatsFrame
        Means, whitening factors (full, tied) and common shift.
    """
    gaussian = params.gaussian
    whiten = covariance(gaussian.covariance_type).whitening(
        gaussian.precisions_cholesky
    )
    center = make_plan(gaussian, dtype).center.astype(np.float64)
    return StatsFrame(gaussian.means, whiten, center)


def variational_m_step(
    stats: Stats,
    frame: StatsFrame,
    priors: Priors,
    reg_covar: float,
    scale: float = 1.0,
) -> BayesianParams:
    """The posterior from one pass's statistics, taken in ``frame``.

    Parameters
    ----------
    stats : Stats
        ``nk``, ``s1``, ``s2`` of :func:`variational_kernel` (or of the
        Gaussian kernel).
    frame : StatsFrame
        Of the parameters the statistics were taken under.
    priors : Priors
        The priors, with the covariance type.
    reg_covar : float
        Added to the diagonal of the responsibilities' covariances.
    scale : float, default=1.0
        Multiplies ``nk``: the number of rows the statistics stand for when
        they are per-row averages (stepwise / stochastic variational
        inference). The ML estimates are ratios and do not depend on it.

    Returns
    -------
    BayesianParams
        The variational posterior.
    """
    xk, sk = ml_moments(stats, frame, priors.covariance_type, reg_covar)
    return posterior(stats["nk"] * scale + NK_EPS, xk, sk, priors)


def ml_moments(stats: Stats, frame: StatsFrame, covariance_type: str, reg_covar: float):
    """Means and covariances of the responsibilities, from shifted statistics.

    The M-step's estimates without its factorisation
    (:meth:`daskmix.gaussian.covariance.Covariance.moments`): a component's
    covariance may be singular here (``reg_covar=0``, two rows) while the
    posterior, which adds the prior, is not.

    Returns
    -------
    means : ndarray of shape (K, D)
    covariances : ndarray
        Shape per covariance type, ``reg_covar`` added to the diagonal.
    """
    return covariance(covariance_type).moments(stats, frame, reg_covar)


# ------------------------------------------------------------------ E-step
def expected_log_const(params: BayesianParams, n_features: int) -> np.ndarray:
    """Per-component constant of the variational E-step, (K,), float64.

    ``E[log pi_k] + log det U_k - D/2 log(2 pi) - D/2 log nu_k
    + 1/2 (D log 2 + sum_i digamma((nu_k - i)/2) - D / beta_k)``, with
    ``U_k`` the Cholesky factor of ``nu_k W_k`` (scikit-learn's normalised
    precision, whence the ``- D/2 log nu_k``).

    Parameters
    ----------
    params : BayesianParams
        The variational posterior.
    n_features : int
        Dimension ``D``.

    Returns
    -------
    ndarray of shape (K,)
        The constants.
    """
    gaussian = params.gaussian
    dof = params.degrees_of_freedom
    log_lambda = n_features * np.log(2.0) + np.sum(
        digamma(0.5 * (dof - np.arange(n_features)[:, np.newaxis])), 0
    )
    prior_type = (
        "dirichlet_process"
        if isinstance(params.weight_concentration, tuple)
        else "dirichlet_distribution"
    )
    return (
        expected_log_weights(prior_type, params.weight_concentration)
        + log_det_cholesky(
            gaussian.precisions_cholesky, gaussian.covariance_type, n_features
        )
        - 0.5 * n_features * np.log(2 * np.pi)
        - 0.5 * n_features * np.log(dof)
        + 0.5 * (log_lambda - n_features / params.mean_precision)
    )


def variational_plan(params: BayesianParams, dtype) -> GaussianPlan:
    """The Gaussian kernel's plan with the variational constants folded in.

    The kernels of :mod:`daskmix.gaussian.kernels` (``score_rows``,
    ``proba_rows``, ``label_rows``) then give scikit-learn's
    ``BayesianGaussianMixture`` outputs, and :func:`variational_kernel` its
    E-step.

    Parameters
    ----------
    params : BayesianParams
        The variational posterior.
    dtype : numpy dtype
        The blocks' dtype.

    Returns
    -------
    GaussianPlan
        Small and picklable, shipped once per pass.
    """
    plan = make_plan(params.gaussian, dtype)
    log_const = expected_log_const(params, params.gaussian.n_features)
    return replace(plan, log_const=np.asarray(log_const, dtype=dtype))


def variational_kernel(tile: Tile, plan: GaussianPlan) -> Stats:
    """Variational E-step and statistics of one tile.

    Parameters
    ----------
    tile : Tile
        ``tile.X`` (tile, D), the rows of X. (BayesianGaussianMixture takes
        no row weights.)
    plan : GaussianPlan
        From :func:`variational_plan`.

    Returns
    -------
    Stats
        The Gaussian kernel's ``nk``, ``s1``, ``s2``, plus ``resp_log_resp``
        (the sum of ``r log r`` over the tile), ``loglik`` (summed
        ``log sum_k exp(E-step log-probability)``) and ``n_rows``.
    """
    x = tile.X
    xs = x - plan.center
    weighted_log_prob, frame = component_log_prob(xs, plan)
    resp, log_norm = normalize_log_prob(weighted_log_prob)
    stats = plan.covariance.accumulate(xs, frame, resp)
    if resp.dtype == np.float64:
        # sum r log r = sum r (w - log_norm) = <r, w> - sum log_norm, as
        # sum_k r = 1: one BLAS dot instead of three passes over (K, tile)
        stats["resp_log_resp"] = np.vdot(resp, weighted_log_prob) - log_norm.sum()
    else:
        # float32 dots accumulate in float32: take log r, then r log r, in
        # place, and sum in float64
        weighted_log_prob -= log_norm
        np.multiply(resp, weighted_log_prob, out=weighted_log_prob)
        stats["resp_log_resp"] = weighted_log_prob.sum(dtype=np.float64)
    stats["loglik"] = log_norm.sum(dtype=np.float64)
    stats["n_rows"] = np.float64(x.shape[0])
    return stats


register_device_kernel(variational_kernel, variational_kernel_device)


# ------------------------------------------------------------- lower bound
def global_terms(params: BayesianParams, n_features: int) -> float:
    """The parameter part of scikit-learn's lower bound (all but the entropy).

    ``- sum log Wishart norm - log weight norm - D/2 sum log beta_k``.

    Parameters
    ----------
    params : BayesianParams
        The variational posterior.
    n_features : int
        Dimension ``D``.

    Returns
    -------
    float
        The parameter terms.
    """
    gaussian = params.gaussian
    dof = params.degrees_of_freedom
    log_det = log_det_cholesky(
        gaussian.precisions_cholesky, gaussian.covariance_type, n_features
    ) - 0.5 * n_features * np.log(dof)
    log_wishart = np.sum(log_wishart_norm(dof, log_det, n_features))
    if covariance(gaussian.covariance_type).shared:
        log_wishart *= gaussian.n_components  # one Wishart term per component
    concentration = params.weight_concentration
    if isinstance(concentration, tuple):
        log_norm_weight = -np.sum(betaln(concentration[0], concentration[1]))
    else:
        log_norm_weight = log_dirichlet_norm(concentration)
    return float(
        -log_wishart
        - log_norm_weight
        - 0.5 * n_features * np.sum(np.log(params.mean_precision))
    )


def lower_bound(resp_log_resp: float, params: BayesianParams) -> float:
    """The variational lower bound after an M-step, as scikit-learn's.

    Parameters
    ----------
    resp_log_resp : float
        ``sum r log r`` of the E-step that fed the M-step.
    params : BayesianParams
        The M-step's posterior.

    Returns
    -------
    float
        Up to constants, the evidence lower bound of all the rows (not a mean).
    """
    return -float(resp_log_resp) + global_terms(params, params.gaussian.n_features)
