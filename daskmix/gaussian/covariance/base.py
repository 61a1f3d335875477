"""The covariance-model interface, the registry, and what the models share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from ..._engine.stats import Stats
from ..._engine.workspace import FRESH

#: scikit-learn adds this many machine epsilons to every component count
NK_EPS = 10 * np.finfo(np.float64).eps

ILL_DEFINED = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples). Try to decrease the number of components, "
    "increase reg_covar, or scale the input data."
)


@dataclass(frozen=True)
class StatsFrame:
    """The coordinates in which the kernel statistics of one pass are taken.

    The kernels accumulate around the parameters that entered the pass (see
    :mod:`daskmix.gaussian.kernels`): ``full`` in the whitened frame of each
    component, ``y_k = (x - c_k) U_k``; ``tied`` in ``y = (x - m) U``;
    ``diag`` and ``spherical`` around ``x - m``.

    Attributes
    ----------
    means : ndarray of shape (K, D)
        ``c_k``, the means that entered the pass.
    whiten : ndarray or None
        ``U_k`` (K, D, D) for full, ``U`` (D, D) for tied, None otherwise.
    center : ndarray of shape (D,)
        ``m``, float64 value of the shift actually applied to the data.
    """

    means: np.ndarray
    whiten: np.ndarray | None
    center: np.ndarray


def inverse_upper(prec_chol: np.ndarray) -> np.ndarray:
    """``inv(U)`` for one (D, D) or a stack (K, D, D) of upper-triangular U."""
    if prec_chol.ndim == 2:
        return linalg.solve_triangular(
            prec_chol, np.eye(prec_chol.shape[0]), lower=False
        )
    return np.stack([inverse_upper(u) for u in prec_chol])


def _float64_stats(nk: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> Stats:
    f64 = np.float64
    return Stats(nk=nk, s1=s1.astype(f64, copy=False), s2=s2.astype(f64, copy=False))


def _result_dtype(*arrays: np.ndarray) -> np.dtype:
    return np.result_type(*(a.dtype for a in arrays))


#: the one instance of each covariance model, by name (filled by the package)
COVARIANCES: dict[str, Covariance] = {}


def registered(name: str) -> Covariance:
    """The registered instance of a model: what a pickled covariance loads as."""
    return COVARIANCES[name]


class Covariance:
    """What a covariance type decides; one instance per type (see :func:`covariance`).

    Subclasses implement every method; this base class holds only what all
    four share.
    """

    #: the type's name, as in ``covariance_type``
    name: str = ""
    #: dimensions of the covariances / precisions array
    ndim: int = 0

    def __repr__(self) -> str:
        return f"covariance({self.name!r})"

    def __reduce__(self):
        return registered, (self.name,)

    # ------------------------------------------------------------ shapes
    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        """Shape of the covariances, precisions and their Cholesky factors."""
        raise NotImplementedError

    def identity_precisions_cholesky(
        self, n_components: int, n_features: int
    ) -> np.ndarray:
        """Identity precision factors: the frame of an initialisation pass."""
        raise NotImplementedError

    def n_covariance_parameters(self, n_components: int, n_features: int) -> float:
        raise NotImplementedError

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free parameters of the mixture, as scikit-learn counts them for BIC/AIC.

        Covariances, means and ``K - 1`` weights.
        """
        cov_params = self.n_covariance_parameters(n_components, n_features)
        return int(cov_params + n_features * n_components + n_components - 1)

    # ------------------------------------------------------- factorisations
    def precisions_cholesky_from_covariances(
        self, covariances: np.ndarray
    ) -> np.ndarray:
        """Upper-triangular ``U`` with ``U @ U.T = inv(covariance)`` (scikit-learn's).

        Raises
        ------
        ValueError
            If a covariance is not positive definite.
        """
        raise NotImplementedError

    def precisions_cholesky_from_precisions(self, precisions: np.ndarray) -> np.ndarray:
        """Upper-triangular Cholesky factor of precisions (for ``precisions_init``)."""
        raise NotImplementedError

    def precisions_from_cholesky(self, prec_chol: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def covariances_from_cholesky(self, prec_chol: np.ndarray) -> np.ndarray:
        """Invert precision Cholesky factors back to covariances."""
        raise NotImplementedError

    def log_det_cholesky(self, prec_chol: np.ndarray, n_features: int):
        """log det of the precision's Cholesky factor: (K,), or a scalar for tied."""
        raise NotImplementedError

    def whitening(self, prec_chol: np.ndarray) -> np.ndarray | None:
        """The ``whiten`` of a :class:`StatsFrame` for factors ``prec_chol``."""
        raise NotImplementedError

    def check_precisions(self, precisions: np.ndarray) -> None:
        """Raise scikit-learn's ValueError if ``precisions`` are not valid.

        ``precisions`` already have this type's shape.
        """
        raise NotImplementedError

    # ------------------------------------------------------------- E-step
    def plan_arrays(
        self, prec_chol: np.ndarray, rel_means: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The E-step's ``transform`` and ``offsets`` (float64; see ``GaussianPlan``).

        ``rel_means`` (K, D) are the means relative to the tile's shift ``m``.
        """
        raise NotImplementedError

    def mahalanobis(
        self,
        xs: np.ndarray,
        transform: np.ndarray,
        offsets: np.ndarray,
        n_components: int,
        work=FRESH,
    ) -> tuple[np.ndarray, object]:
        """Squared Mahalanobis distances (K, tile) of a shifted tile ``xs``.

        Returns the distances and the *frame* data that :meth:`accumulate`
        needs (the whitened tile, or squares), both held in ``work``.
        """
        raise NotImplementedError

    def accumulate(self, xs: np.ndarray, frame, resp: np.ndarray, work=FRESH) -> Stats:
        """Float64 statistics ``nk`` (K,), ``s1``, ``s2`` of one tile."""
        raise NotImplementedError

    # ------------------------------------------- statistics from moments
    #: whether the statistics frame is centred on each component's mean (full),
    #: rather than on the common shift ``m``
    centred_per_component = False

    def component_precisions(
        self, prec_chol: np.ndarray, n_components: int, n_features: int
    ) -> np.ndarray:
        """The K precisions, float64: (K, D, D) matrices, or (K, D) diagonals.

        Matrices when :attr:`matrix`, else the diagonals of diagonal
        precisions. What the masked kernel factors, pattern by pattern
        (:mod:`daskmix.gaussian.missing`).
        """
        raise NotImplementedError

    def stats_from_moments(
        self,
        nk: np.ndarray,
        first: np.ndarray,
        second: np.ndarray,
        whiten: np.ndarray | None,
    ) -> Stats:
        """The statistics ``nk``, ``s1``, ``s2`` of given moments, in this frame.

        ``first`` (K, D) and ``second`` are sums over rows of ``r_k e`` and
        ``r_k e e^T`` for (expected) deviations ``e`` from the frame's origin:
        component k's mean when :attr:`centred_per_component`, the common
        shift ``m`` otherwise. ``second`` is (K, D, D) when :attr:`matrix`,
        else its diagonal (K, D). ``whiten`` is the frame's
        (:meth:`whitening`). The M-step reads the result as it reads
        :meth:`accumulate`'s.
        """
        raise NotImplementedError

    # ------------------------------------------------------------- M-step
    def m_step(
        self, stats: Stats, frame: StatsFrame, reg_covar: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Weights, means and covariances from the statistics of one pass.

        Every count gets ``NK_EPS`` (as in scikit-learn), so a component that
        lost all its mass never turns NaN: it keeps a tiny weight, its mean
        goes to the origin of its frame (``s1 = 0``: its previous mean for
        full, the common shift ``m`` otherwise) and its covariance becomes
        ``reg_covar`` times the identity (tied: the shared covariance).

        Returns
        -------
        weights : ndarray of shape (K,)
            Normalised to one.
        means : ndarray of shape (K, D)
        covariances : ndarray
            ``reg_covar`` added to every variance.
        """
        nk = stats["nk"] + NK_EPS
        weights = nk / nk.sum()
        means, covariances = self._estimate(stats, nk, frame, reg_covar)
        return weights, means, covariances

    def moments(
        self, stats: Stats, frame: StatsFrame, reg_covar: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Means and covariances of the responsibilities, no factorisation.

        The M-step's estimates (``NK_EPS`` on every count, ``reg_covar`` on
        every variance) for models that use them otherwise (the variational
        posterior), where a covariance may be singular without harm.
        """
        return self._estimate(stats, stats["nk"] + NK_EPS, frame, reg_covar)

    def _estimate(self, stats, nk, frame, reg_covar):
        raise NotImplementedError

    #: whether one covariance serves every component (tied)
    shared = False

    def wishart_posterior(
        self,
        nk: np.ndarray,
        sk: np.ndarray,
        diff: np.ndarray,
        prior_covariance,
        prior_dof: float,
        prior_precision: float,
        mean_precision: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray | float]:
        """The variational posterior's covariances and degrees of freedom.

        ``sk`` are the responsibilities' covariances, ``diff`` (K, D) their
        means less the prior mean; the covariances are the posterior Wishart
        scale's inverse divided by its degrees of freedom (scikit-learn's
        ``covariances_``).
        """
        raise NotImplementedError

    def reframe(self, stats: Stats, old: StatsFrame, new: StatsFrame) -> Stats:
        """Re-express statistics taken in frame ``old`` as if taken in ``new``.

        See :func:`daskmix.gaussian.params.reframe_stats`.
        """
        raise NotImplementedError

    # ------------------------------------------ starts and variational priors
    #: whether the model's covariances are matrices (full, tied), not variances
    matrix = False

    def from_pooled(self, pooled: np.ndarray, n_components: int) -> np.ndarray:
        """K components of covariance ``pooled`` (D, D), in this type's shape.

        A flat start: every component the Gaussian of all rows.
        """
        raise NotImplementedError

    def prior_covariance(self, scatter: np.ndarray):
        """The variational covariance prior, in this type's form, from the data's.

        ``scatter`` is the data's covariance: (D, D) when :attr:`matrix`, else
        its variances (D,). Returns (D, D), (D,) or a float (spherical).
        """
        raise NotImplementedError

    def check_prior_covariance(self, prior, n_features: int):
        """A user's ``covariance_prior`` checked (scikit-learn's messages)."""
        raise NotImplementedError

    def as_prior(self, prior):
        """A covariance prior as the posterior reads it (float64 array)."""
        return np.asarray(prior, dtype=np.float64)

    # ------------------------------------------------------------ sampling
    def sample(
        self,
        rng: np.random.RandomState,
        means: np.ndarray,
        covariances: np.ndarray,
        counts: np.ndarray,
    ) -> np.ndarray:
        """``counts[k]`` draws from component ``k``, stacked in component order."""
        raise NotImplementedError
