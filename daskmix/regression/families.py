"""Response families of the regression mixture's components: one object each.

A component of the mixture is a generalised linear model of y given the
experts' design row ``phi`` (:mod:`daskmix.regression.params`): a linear
predictor ``eta_k = phi . W_k`` (plus an optional offset), a canonical link
and a log-density. The kernels and the M-step ask the family object, never
its name:

==============  ============  ==================  ===========================
family          link          ``log f(y | eta)``  working weight, score
==============  ============  ==================  ===========================
``gaussian``    identity      ``N(y | eta, s2)``  ``1``, ``y - eta``
``poisson``     log           ``y eta - e^eta``   ``mu``, ``y - mu``
                              ``- log y!``
``binomial``    logit         ``y eta - m log``   ``m p (1 - p)``,
                              ``(1 + e^eta)``     ``y - m p``
                              ``+ log C(m, y)``
==============  ============  ==================  ===========================

Every pass accumulates, per component, ``A_k = Phi^T diag(r_k v_k) Phi`` and
``b_k = Phi^T (r_k s_k)`` with ``v`` the working weights and ``s`` the scores
at the current coefficients: the Hessian (up to sign) and the gradient of the
component's weighted log-likelihood ``Q_k``. For the Gaussian family these
are the residual-shifted least-squares statistics of the design note (``v =
1``, ``s`` the residuals of the previous lines) and the M-step solves them
exactly; for the others the M-step is one Newton (IRLS) step from them,
safeguarded so that ``Q_k`` cannot decrease (:mod:`daskmix.regression.newton`).

The Poisson family reads an optional offset added to ``eta`` (the log of an
exposure); the binomial family reads the number of trials ``m`` of each row
(the ``trials`` array; one trial when absent).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from scipy import special

from .._engine.stats import Stats
from .._engine.tiles import Tile

F64 = np.float64
#: the largest linear predictor whose exponential a pass uses (Poisson family)
MAX_LOG_MEAN = 700.0


@dataclass
class GLMTerms:
    """What a GLM family computes on one tile, (K, tile) unless noted.

    Attributes
    ----------
    y : ndarray of shape (tile,)
        Responses (successes for the binomial), float64.
    eta : ndarray
        Linear predictors, offset included.
    mean : ndarray
        ``mu`` (Poisson: counts; binomial: ``m p``).
    log_prob : ndarray
        ``log f(y | eta)``, constants included.
    trials : ndarray of shape (tile,) or None
        Binomial trials (None: one each).
    """

    y: np.ndarray
    eta: np.ndarray
    mean: np.ndarray
    log_prob: np.ndarray
    trials: np.ndarray | None = None


class Family(ABC):
    """One response family of the components (see the module docstring).

    Attributes
    ----------
    name : str
    has_noise : bool
        Whether components have a noise variance (the Gaussian family).
    linear_mean : bool
        Whether a component's mean is linear in x, so that lines drawn in
        the (x, y) space are starts for it (the line-picking initialisers).
    growth : {'none', 'positive', 'absolute'}
        How the curvature of ``Q_k`` can grow along a step ``d``, for the
        safeguard: not at all (quadratic), by ``exp(max(phi . d, 0))``
        (Poisson) or by ``exp(|phi . d|)`` (binomial).
    """

    name: str = "family"
    has_noise: bool = False
    linear_mean: bool = False
    growth: str = "none"

    def check_y(self, y: np.ndarray, trials: np.ndarray | None) -> None:  # noqa: B027
        """Raise a ValueError if numpy targets are outside the family's support."""

    @abstractmethod
    def terms(self, phi: np.ndarray, tile: Tile, plan):
        """Per-tile quantities of every component (``plan`` of the pass)."""

    @abstractmethod
    def log_prob(self, terms, plan) -> np.ndarray:
        """``log f_k(y | x)``, (K, tile), float64."""

    @abstractmethod
    def statistics(self, phi, terms, resp, resp_d, plan, shared=None) -> Stats:
        """``A`` (K, P(P+1)/2), ``b`` (K, P) and the family's other sums.

        ``resp`` (K, tile) float64 and ``resp_d`` (its copy in the data
        dtype) already carry the row weights. With ``shared`` (a
        :class:`~daskmix.regression.design.SharedGrams` of ``phi``) ``A`` is
        requested from it instead of computed here.
        """

    @abstractmethod
    def score_and_weight(self, terms, plan) -> tuple[np.ndarray, np.ndarray]:
        """``d log f / d eta`` and ``-d^2 log f / d eta^2``, (K, tile) each."""

    @abstractmethod
    def component_means(self, eta: np.ndarray) -> np.ndarray:
        """Each component's mean of y on the response scale, from ``eta``.

        Binomial: the success probability (per trial).
        """

    @abstractmethod
    def component_variances(self, means: np.ndarray, plan) -> np.ndarray:
        """Each component's variance of y given x (per trial), (K, tile)."""

    def response(self, tile: Tile) -> np.ndarray:
        """The target on the response scale of :meth:`component_means`."""
        return tile.y.reshape(-1).astype(F64, copy=False)

    def link(self, mean: float) -> float:
        """The linear predictor of a constant ``mean`` (flat starting lines)."""
        return float(mean)

    def linearized(self, y: np.ndarray, trials: np.ndarray | None) -> np.ndarray:
        """Targets on the linear-predictor scale, for starts that fit lines."""
        return y


class GaussianFamily(Family):
    """Normal components ``N(y | phi . W_k, sigma_k^2)``: the least-squares lines."""

    name = "gaussian"
    has_noise = True
    linear_mean = True

    def terms(self, phi: np.ndarray, tile: Tile, plan) -> np.ndarray:
        """Residuals ``e = y - phi W`` as (K, tile), float64 and C-ordered.

        C order matters: every later reduction over components (softmax,
        sums) runs along axis 0, which on a transposed (F-ordered) array was
        5x slower.
        """
        predictions = plan.weights_t.T @ phi.T
        y = tile.y.reshape(-1).astype(F64, copy=False)
        offset = plan.offset_of(tile.X)
        if offset is not None:
            y = y - offset
        return y[None, :] - predictions

    def log_prob(self, residuals: np.ndarray, plan) -> np.ndarray:
        """``log N(e_k | 0, sigma_k^2)`` (K, tile)."""
        return (
            plan.noise_log_const[:, None]
            - 0.5 * plan.noise_precision[:, None] * residuals**2
        )

    def statistics(self, phi, residuals, resp, resp_d, plan, shared=None) -> Stats:
        dtype = phi.dtype
        weighted = resp * residuals
        stats = Stats()
        if shared is None:
            stats["A"] = plan.grams(phi, resp_d).astype(F64, copy=False)
        else:
            shared.request(stats, "A", resp_d)
        stats["b"] = (weighted.astype(dtype, copy=False) @ phi).astype(F64, copy=False)
        stats["q"] = np.einsum("kn,kn->k", weighted, residuals)
        return stats

    def score_and_weight(self, residuals, plan):
        precision = plan.noise_precision[:, None]
        return residuals * precision, np.broadcast_to(precision, residuals.shape)

    def component_means(self, eta: np.ndarray) -> np.ndarray:
        return eta

    def component_variances(self, means: np.ndarray, plan) -> np.ndarray:
        return np.broadcast_to((1.0 / plan.noise_precision)[:, None], means.shape)


class _GLMFamily(Family):
    """A family with a canonical link, fitted by safeguarded Newton steps."""

    def terms(self, phi: np.ndarray, tile: Tile, plan) -> GLMTerms:
        y = tile.y.reshape(-1).astype(F64, copy=False)
        trials = self._trials(tile)
        self._check_tile(y, trials)
        eta = (plan.weights_t.T @ phi.T).astype(F64, copy=False)
        offset = plan.offset_of(tile.X)
        if offset is not None:
            eta = eta + offset[None, :]
        mean, log_prob = self._mean_and_log_prob(y, eta, trials)
        return GLMTerms(y, eta, mean, log_prob, trials)

    def log_prob(self, terms: GLMTerms, plan) -> np.ndarray:
        return terms.log_prob

    def statistics(
        self, phi, terms: GLMTerms, resp, resp_d, plan, shared=None
    ) -> Stats:
        dtype = phi.dtype
        working = (resp * self.working_weights(terms)).astype(dtype, copy=False)
        score = resp * (terms.y[None, :] - terms.mean)
        stats = Stats()
        if shared is None:
            stats["A"] = plan.grams(phi, working).astype(F64, copy=False)
        else:
            shared.request(stats, "A", working)
        stats["b"] = (score.astype(dtype, copy=False) @ phi).astype(F64, copy=False)
        return stats

    def score_and_weight(self, terms: GLMTerms, plan):
        return terms.y[None, :] - terms.mean, self.working_weights(terms)

    def _trials(self, tile: Tile) -> np.ndarray | None:
        return None

    @abstractmethod
    def _check_tile(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        """Raise a ValueError for targets outside the support (inside a pass)."""

    @abstractmethod
    def _mean_and_log_prob(self, y, eta, trials):
        """``mu`` and ``log f(y | eta)``, (K, tile)."""

    @abstractmethod
    def working_weights(self, terms: GLMTerms) -> np.ndarray:
        """``v = Var(y | eta)``, the IRLS weights (K, tile)."""


class PoissonFamily(_GLMFamily):
    """Poisson components with a log link: ``y ~ Poisson(exp(phi . W_k + offset))``."""

    name = "poisson"
    growth = "positive"

    def check_y(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        if np.any(y < 0):
            raise ValueError(
                "family='poisson' needs non-negative counts y; got a minimum of "
                f"{float(np.min(y))}."
            )

    def _check_tile(self, y, trials) -> None:
        if y.size and y.min() < 0:
            raise ValueError("family='poisson' needs non-negative counts y.")

    def _mean_and_log_prob(self, y, eta, trials):
        # a mean past exp(700) has a log-likelihood of about -1e304 either way:
        # capped, it keeps every statistic finite (a start's wild line)
        mean = np.exp(np.minimum(eta, MAX_LOG_MEAN))
        log_prob = y[None, :] * eta - mean - special.gammaln(y + 1.0)[None, :]
        return mean, log_prob

    def working_weights(self, terms: GLMTerms) -> np.ndarray:
        return terms.mean

    def component_means(self, eta: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(eta)

    def component_variances(self, means: np.ndarray, plan) -> np.ndarray:
        return means

    def link(self, mean: float) -> float:
        return float(np.log(max(mean, 1e-8)))

    def linearized(self, y, trials):
        return np.log(y + 0.5)


class BinomialFamily(_GLMFamily):
    """Binomial components with a logit link: successes of ``m`` trials.

    ``y`` holds the successes and the ``trials`` array the trials (one each
    for 0/1 responses). With one trial per row a mixture of logistic
    regressions is not identifiable (see the user guide): only the mixed
    success probability ``sum_k g_k(x) p_k(x)`` of each x is.
    """

    name = "binomial"
    growth = "absolute"

    def check_y(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        if trials is None:
            if np.any((y < 0) | (y > 1)):
                raise ValueError(
                    "family='binomial' with a 1-D y needs 0/1 responses (one trial "
                    "per row); for several trials pass y as two columns "
                    "(successes, failures)."
                )
            return
        if np.any(y < 0) or np.any(trials < y):
            raise ValueError(
                "family='binomial' needs non-negative successes and failures in "
                "the two columns of y."
            )

    def _check_tile(self, y, trials) -> None:
        if not y.size:
            return
        if y.min() < 0 or (y.max() > 1 if trials is None else np.any(trials < y)):
            raise ValueError(
                "family='binomial' needs 0 <= successes <= trials (0/1 for a 1-D y)."
            )

    def _trials(self, tile: Tile) -> np.ndarray | None:
        trials = tile.arrays.get("trials")
        return None if trials is None else trials.reshape(-1).astype(F64, copy=False)

    def _mean_and_log_prob(self, y, eta, trials):
        m = 1.0 if trials is None else trials[None, :]
        p = special.expit(eta)
        log_prob = y[None, :] * eta - m * np.logaddexp(0.0, eta)
        if trials is not None:
            log_prob = log_prob + _log_binomial_coefficient(trials, y)[None, :]
        return m * p, log_prob

    def working_weights(self, terms: GLMTerms) -> np.ndarray:
        p = special.expit(terms.eta)
        m = 1.0 if terms.trials is None else terms.trials[None, :]
        return m * p * (1.0 - p)

    def component_means(self, eta: np.ndarray) -> np.ndarray:
        return special.expit(eta)

    def component_variances(self, means: np.ndarray, plan) -> np.ndarray:
        return means * (1.0 - means)

    def response(self, tile: Tile) -> np.ndarray:
        y = tile.y.reshape(-1).astype(F64, copy=False)
        trials = self._trials(tile)
        if trials is None:
            return y
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(trials > 0, y / np.where(trials > 0, trials, 1.0), 0.0)

    def link(self, mean: float) -> float:
        p = min(max(mean, 1e-6), 1.0 - 1e-6)
        return float(np.log(p / (1.0 - p)))

    def linearized(self, y, trials):
        m = 1.0 if trials is None else trials
        return np.log((y + 0.5) / (m - y + 0.5))


def _log_binomial_coefficient(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``log C(n, k)`` for real ``0 <= k <= n``."""
    return (
        special.gammaln(n + 1.0)
        - special.gammaln(k + 1.0)
        - special.gammaln(n - k + 1.0)
    )


_FAMILIES = {
    family.name: family
    for family in (GaussianFamily(), PoissonFamily(), BinomialFamily())
}
#: the family names ``RegressionMixture(family=...)`` accepts
FAMILIES = tuple(_FAMILIES)


def family(name: str) -> Family:
    """The family object of ``name`` (one of :data:`FAMILIES`)."""
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"Unknown family {name!r}; expected one of {list(FAMILIES)}."
        ) from None
