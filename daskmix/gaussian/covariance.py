"""Covariance types of a Gaussian mixture, one object each.

Everything that differs between ``'full'``, ``'tied'``, ``'diag'`` and
``'spherical'`` lives here, in one class per type: the parameter shapes, the
precision Cholesky factors, the per-tile component log-probabilities (the
E-step), the accumulation of shifted statistics, the M-step, the exact
re-framing of running statistics for stepwise EM, the number of free
parameters and sampling. The rest of the package asks :func:`covariance` for
the object of a type and never branches on the type's name.

Shapes, with ``K = n_components`` and ``D = n_features`` (scikit-learn's):

===========  ==============  ===========================  =================
type         covariances     precisions_cholesky          statistics frame
===========  ==============  ===========================  =================
full         (K, D, D)       (K, D, D), upper triangular  ``(x - c_k) U_k``
tied         (D, D)          (D, D), upper triangular     ``(x - m) U``
diag         (K, D)          (K, D)                       ``x - m``
spherical    (K,)            (K,)                         ``x - m``
===========  ==============  ===========================  =================

Statistics are shifted (and for full and tied, whitened) around the
parameters that entered the pass: ``c_k`` are the previous means, ``m`` the
common shift of the tile, ``U`` the previous precision factors; see
:class:`StatsFrame` and :mod:`daskmix.gaussian.kernels`.

The E-step methods write their tile-sized temporaries into a workspace (see
:mod:`daskmix._core.workspace`); pass :data:`~daskmix._core.workspace.FRESH`
to get arrays of one's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from .._core.stats import Stats
from .._core.workspace import FRESH

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
        return covariance, (self.name,)

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


class _Matrix(Covariance):
    """Full and tied: precision factors are upper-triangular matrices."""

    def _stack(self, matrices: np.ndarray) -> np.ndarray:
        """The (n, D, D) stack of this type's matrices."""
        raise NotImplementedError

    def _unstack(self, stack: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def identity_precisions_cholesky(self, n_components, n_features):
        shape = self.shape(n_components, n_features)
        return np.broadcast_to(np.eye(n_features), shape).copy()

    def precisions_cholesky_from_covariances(self, covariances):
        stack = self._stack(covariances)
        out = np.empty_like(stack)
        eye = np.eye(stack.shape[-1])
        for k, cov in enumerate(stack):
            try:
                cov_chol = linalg.cholesky(cov, lower=True)
            except linalg.LinAlgError:
                raise ValueError(ILL_DEFINED) from None
            out[k] = linalg.solve_triangular(cov_chol, eye, lower=True).T
        return self._unstack(out)

    def precisions_cholesky_from_precisions(self, precisions):
        # reversing rows and columns turns the lower factor into the upper one
        out = np.stack(
            [
                linalg.cholesky(p[::-1, ::-1], lower=True)[::-1, ::-1]
                for p in self._stack(precisions)
            ]
        )
        return self._unstack(out)

    def covariances_from_cholesky(self, prec_chol):
        # precision = U U^T  =>  covariance = U^-T U^-1
        inv_u = inverse_upper(prec_chol)
        return np.swapaxes(inv_u, -1, -2) @ inv_u

    def whitening(self, prec_chol):
        return prec_chol

    def check_precisions(self, precisions):
        for matrix in self._stack(precisions):
            # the symmetry tolerance of the input's dtype (scikit-learn 1.9)
            atol = 1e-6 if matrix.dtype == np.float32 else 1e-8
            symmetric = np.allclose(matrix, matrix.T, atol=atol)
            if not (symmetric and np.all(np.linalg.eigvalsh(matrix) > 0)):
                raise ValueError(
                    f"'{self.name} precision' should be symmetric, positive-definite"
                )

    def reframe(self, stats, old, new):
        out = Stats(stats)
        # y_old = (x - c) U  =>  y_new = (x - c') U' = y_old (U^-1 U') + (c - c') U'
        transform = inverse_upper(old.whiten) @ new.whiten
        out["s1"], s2 = self._move(stats, transform, old, new)
        out["s2"] = 0.5 * (s2 + np.swapaxes(s2, -1, -2))
        return out

    def _move(self, stats, transform, old, new):
        """Moved ``s1`` and (unsymmetrised) ``s2``."""
        raise NotImplementedError

    def _component_covariance(self, covariances, k):
        raise NotImplementedError

    def sample(self, rng, means, covariances, counts):
        return np.vstack(
            [
                rng.multivariate_normal(
                    mean, self._component_covariance(covariances, k), int(count)
                )
                for k, (mean, count) in enumerate(zip(means, counts))
            ]
        )


class Full(_Matrix):
    """One (D, D) covariance per component.

    E-step: one GEMM whitens the tile against all K components at once,
    ``Y = X_s @ [U_1 ... U_K] - [(c_1 - m) U_1 ... (c_K - m) U_K]``, computed
    transposed as a ``(K*D, tile)`` array so that every later reduction runs
    over contiguous memory; the distances are the squared column norms of
    ``Y``. Statistics ``s1_k = sum r y_k`` (K, D), ``s2_k = sum r y_k y_k^T``
    (K, D, D), in each component's whitened frame.
    """

    name = "full"
    ndim = 3

    def shape(self, n_components, n_features):
        return (n_components, n_features, n_features)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components * n_features * (n_features + 1) / 2.0

    def _stack(self, matrices):
        return matrices

    def _unstack(self, stack):
        return stack

    def precisions_from_cholesky(self, prec_chol):
        return prec_chol @ prec_chol.transpose(0, 2, 1)

    def log_det_cholesky(self, prec_chol, n_features):
        return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)

    def plan_arrays(self, prec_chol, rel_means):
        n_components, n_features = rel_means.shape
        transform = prec_chol.transpose(0, 2, 1).reshape(n_components * n_features, -1)
        offsets = np.einsum("kd,kde->ke", rel_means, prec_chol).reshape(-1, 1)
        return transform, offsets

    def mahalanobis(self, xs, transform, offsets, n_components, work=FRESH):
        tile = xs.shape[0]
        dtype = _result_dtype(transform, xs)
        whitened = work.array("frame", (transform.shape[0], tile), dtype)
        np.matmul(transform, xs.T, out=whitened)
        whitened -= offsets
        whitened = whitened.reshape(n_components, -1, tile)
        maha = work.array("maha", (n_components, tile), dtype)
        np.einsum("kdb,kdb->kb", whitened, whitened, out=maha)
        return maha, whitened

    def accumulate(self, xs, frame, resp, work=FRESH):
        f64 = np.float64
        nk = resp.sum(axis=1, dtype=f64)
        s1 = np.matmul(frame, resp[:, :, None])[:, :, 0]
        s2 = np.empty((frame.shape[0], frame.shape[1], frame.shape[1]), dtype=f64)
        weighted = work.array("weighted", frame.shape[1:], _result_dtype(frame, resp))
        for k, whitened_k in enumerate(frame):
            np.multiply(whitened_k, resp[k], out=weighted)
            s2[k] = weighted @ whitened_k.T
        return Stats(nk=nk, s1=s1.astype(f64, copy=False), s2=s2)

    def _estimate(self, stats, nk, frame, reg_covar):
        eye = np.eye(frame.center.shape[0])
        inv_u = inverse_upper(frame.whiten)  # (K, D, D): x - c = y @ inv(U)
        shift_w = stats["s1"] / nk[:, None]
        scatter_w = stats["s2"] / nk[:, None, None] - np.einsum(
            "ki,kj->kij", shift_w, shift_w
        )
        means = frame.means + np.einsum("kd,kde->ke", shift_w, inv_u)
        covariances = np.swapaxes(inv_u, 1, 2) @ scatter_w @ inv_u
        covariances = 0.5 * (covariances + np.swapaxes(covariances, 1, 2))
        covariances += reg_covar * eye
        return means, covariances

    def _move(self, stats, transform, old, new):
        nk, s1, s2 = stats["nk"], stats["s1"], stats["s2"]
        offset = np.einsum("kd,kde->ke", old.means - new.means, new.whiten)
        moved = np.einsum("kd,kde->ke", s1, transform)
        cross = np.einsum("ki,kj->kij", moved, offset)
        s2 = (
            np.swapaxes(transform, 1, 2) @ s2 @ transform
            + cross
            + np.swapaxes(cross, 1, 2)
            + nk[:, None, None] * np.einsum("ki,kj->kij", offset, offset)
        )
        return moved + nk[:, None] * offset, s2

    def _component_covariance(self, covariances, k):
        return covariances[k]

    def wishart_posterior(
        self, nk, sk, diff, prior_covariance, prior_dof, prior_precision, mean_precision
    ):
        dof = prior_dof + nk
        shrink = nk * prior_precision / mean_precision
        covariances = (
            prior_covariance
            + nk[:, None, None] * sk
            + shrink[:, None, None] * np.einsum("ki,kj->kij", diff, diff)
        )
        return covariances / dof[:, None, None], dof


class Tied(_Matrix):
    """One (D, D) covariance shared by all components.

    E-step: one small GEMM whitens the tile with the shared factor, ``y =
    (x - m) U``, (D, tile); the distances expand ``|y - (c_k - m) U|^2``.
    Statistics ``s1_k = sum r y`` (K, D) and ``s2 = sum y y^T`` (D, D) over
    every row (the responsibilities sum to one).
    """

    name = "tied"
    ndim = 2

    def shape(self, n_components, n_features):
        return (n_features, n_features)

    def n_covariance_parameters(self, n_components, n_features):
        return n_features * (n_features + 1) / 2.0

    def _stack(self, matrices):
        return matrices[None]

    def _unstack(self, stack):
        return stack[0]

    def precisions_from_cholesky(self, prec_chol):
        return prec_chol @ prec_chol.T

    def log_det_cholesky(self, prec_chol, n_features):
        return np.log(np.diag(prec_chol)).sum()

    def plan_arrays(self, prec_chol, rel_means):
        return prec_chol.T, rel_means @ prec_chol

    def mahalanobis(self, xs, transform, offsets, n_components, work=FRESH):
        tile = xs.shape[0]
        dtype = _result_dtype(transform, xs)
        whitened = work.array("frame", (transform.shape[0], tile), dtype)
        np.matmul(transform, xs.T, out=whitened)
        maha = work.array("maha", (n_components, tile), _result_dtype(offsets, xs))
        # |y|^2 - 2 o.y + |o|^2, in that order
        np.matmul(offsets, whitened, out=maha)
        maha *= 2.0
        np.subtract(np.einsum("db,db->b", whitened, whitened), maha, out=maha)
        maha += np.einsum("kd,kd->k", offsets, offsets)[:, None]
        return maha, whitened

    def accumulate(self, xs, frame, resp, work=FRESH):
        f64 = np.float64
        nk = resp.sum(axis=1, dtype=f64)
        return _float64_stats(nk, resp @ frame.T, frame @ frame.T)

    def _estimate(self, stats, nk, frame, reg_covar):
        eye = np.eye(frame.center.shape[0])
        inv_u = inverse_upper(frame.whiten)
        means_w = stats["s1"] / nk[:, None]
        scatter_w = (stats["s2"] - (nk[:, None] * means_w).T @ means_w) / nk.sum()
        means = frame.center + means_w @ inv_u
        covariances = inv_u.T @ scatter_w @ inv_u
        covariances = 0.5 * (covariances + covariances.T) + reg_covar * eye
        return means, covariances

    def _move(self, stats, transform, old, new):
        nk, s1, s2 = stats["nk"], stats["s1"], stats["s2"]
        offset = (old.center - new.center) @ new.whiten
        moved = s1 @ transform
        # s2 sums over every row, and sum_k r_k = 1: its first moment is sum_k s1_k
        cross = np.outer(moved.sum(axis=0), offset)
        s2 = (
            transform.T @ s2 @ transform
            + cross
            + cross.T
            + stats["n_rows"] * np.outer(offset, offset)
        )
        return moved + nk[:, None] * offset, s2

    def _component_covariance(self, covariances, k):
        return covariances

    shared = True

    def wishart_posterior(
        self, nk, sk, diff, prior_covariance, prior_dof, prior_precision, mean_precision
    ):
        n_components = nk.shape[0]
        dof = prior_dof + nk.sum() / n_components
        covariances = (
            prior_covariance
            + sk * nk.sum() / n_components
            + prior_precision
            / n_components
            * np.dot((nk / mean_precision) * diff.T, diff)
        )
        return covariances / dof, dof


class _Vector(Covariance):
    """Diagonal and spherical: precision factors are ``1 / sqrt(variance)``."""

    def identity_precisions_cholesky(self, n_components, n_features):
        return np.ones(self.shape(n_components, n_features))

    def precisions_cholesky_from_covariances(self, covariances):
        if not np.all(covariances > 0.0):
            raise ValueError(ILL_DEFINED)
        return 1.0 / np.sqrt(covariances)

    def precisions_cholesky_from_precisions(self, precisions):
        return np.sqrt(precisions)

    def precisions_from_cholesky(self, prec_chol):
        return prec_chol**2

    def covariances_from_cholesky(self, prec_chol):
        return 1.0 / prec_chol**2

    def whitening(self, prec_chol):
        return None

    def check_precisions(self, precisions):
        if np.any(precisions <= 0.0):
            raise ValueError(f"'{self.name} precision' should be positive")

    def plan_arrays(self, prec_chol, rel_means):
        return prec_chol**2, rel_means

    def accumulate(self, xs, frame, resp, work=FRESH):
        # diag: frame = xs**2; spherical: frame = |xs|**2
        nk = resp.sum(axis=1, dtype=np.float64)
        return _float64_stats(nk, resp @ xs, resp @ frame)

    def _estimate(self, stats, nk, frame, reg_covar):
        shift = stats["s1"] / nk[:, None]
        means = frame.center + shift
        variances = self._variances(stats, nk, shift)
        # rounding can push a collapsed variance a hair below zero
        covariances = np.maximum(variances, 0.0) + reg_covar
        return means, covariances

    def _variances(self, stats, nk, shift):
        raise NotImplementedError

    def reframe(self, stats, old, new):
        out = Stats(stats)
        nk, s1, s2 = stats["nk"], stats["s1"], stats["s2"]
        shift = old.center - new.center  # x - m' = (x - m) + (m - m')
        out["s1"] = s1 + nk[:, None] * shift
        out["s2"] = self._move_s2(s1, s2, nk, shift)
        return out

    def _move_s2(self, s1, s2, nk, shift):
        raise NotImplementedError

    def sample(self, rng, means, covariances, counts):
        n_features = means.shape[1]
        pieces = []
        for k, (mean, count) in enumerate(zip(means, counts)):
            scale = np.sqrt(covariances[k])
            pieces.append(mean + rng.standard_normal((count, n_features)) * scale)
        return np.vstack(pieces)


class Diag(_Vector):
    """One variance per component and feature.

    E-step: two small GEMMs, of the precisions against ``X_s**2`` and of
    ``precision * offset`` against ``X_s``. Statistics ``s1 = sum r x_s`` and
    ``s2 = sum r x_s**2``, both (K, D).
    """

    name = "diag"
    ndim = 2

    def shape(self, n_components, n_features):
        return (n_components, n_features)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components * n_features

    def log_det_cholesky(self, prec_chol, n_features):
        return np.log(prec_chol).sum(axis=1)

    def mahalanobis(self, xs, transform, offsets, n_components, work=FRESH):
        tile = xs.shape[0]
        squares = work.array("frame", xs.shape, xs.dtype)
        np.multiply(xs, xs, out=squares)
        prec = transform
        dtype = _result_dtype(prec, xs)
        maha = work.array("maha", (n_components, tile), dtype)
        cross = work.array("cross", (n_components, tile), dtype)
        # prec . xs^2 - 2 (prec * o) . xs + prec . o^2, in that order
        np.matmul(prec, squares.T, out=maha)
        np.matmul(prec * offsets, xs.T, out=cross)
        cross *= 2.0
        maha -= cross
        maha += (prec * offsets**2).sum(axis=1)[:, None]
        return maha, squares

    def _variances(self, stats, nk, shift):
        return stats["s2"] / nk[:, None] - shift**2

    def _move_s2(self, s1, s2, nk, shift):
        return s2 + 2.0 * s1 * shift + nk[:, None] * shift**2

    def wishart_posterior(
        self, nk, sk, diff, prior_covariance, prior_dof, prior_precision, mean_precision
    ):
        dof = prior_dof + nk
        covariances = prior_covariance + nk[:, None] * (
            sk + (prior_precision / mean_precision)[:, None] * np.square(diff)
        )
        return covariances / dof[:, None], dof


class Spherical(_Vector):
    """One variance per component.

    E-step: one small GEMM of the offsets against ``X_s`` and the rows'
    squared norms. Statistics ``s1 = sum r x_s`` (K, D) and
    ``s2 = sum r |x_s|^2`` (K,).
    """

    name = "spherical"
    ndim = 1

    def shape(self, n_components, n_features):
        return (n_components,)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components

    def log_det_cholesky(self, prec_chol, n_features):
        return n_features * np.log(prec_chol)

    def mahalanobis(self, xs, transform, offsets, n_components, work=FRESH):
        tile = xs.shape[0]
        squared_norms = np.einsum("bd,bd->b", xs, xs)
        maha = work.array("maha", (n_components, tile), _result_dtype(offsets, xs))
        # prec * (|x|^2 - 2 o.x + |o|^2), in that order
        np.matmul(offsets, xs.T, out=maha)
        maha *= 2.0
        np.subtract(squared_norms, maha, out=maha)
        maha += np.einsum("kd,kd->k", offsets, offsets)[:, None]
        maha *= transform[:, None]
        return maha, squared_norms

    def _variances(self, stats, nk, shift):
        n_features = shift.shape[1]
        return (stats["s2"] / nk - (shift**2).sum(axis=1)) / n_features

    def _move_s2(self, s1, s2, nk, shift):
        return s2 + 2.0 * (s1 @ shift) + nk * (shift @ shift)

    def wishart_posterior(
        self, nk, sk, diff, prior_covariance, prior_dof, prior_precision, mean_precision
    ):
        dof = prior_dof + nk
        covariances = prior_covariance + nk * (
            sk + prior_precision / mean_precision * np.mean(np.square(diff), 1)
        )
        return covariances / dof, dof


#: the covariance object of each ``covariance_type``
COVARIANCES: dict[str, Covariance] = {
    cov.name: cov for cov in (Full(), Tied(), Diag(), Spherical())
}

#: the names of the covariance types, in scikit-learn's order
COVARIANCE_TYPES = tuple(COVARIANCES)


def covariance(name: str) -> Covariance:
    """The covariance object of ``covariance_type`` ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`COVARIANCE_TYPES`.
    """
    try:
        return COVARIANCES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}, got {name!r}"
        ) from None
