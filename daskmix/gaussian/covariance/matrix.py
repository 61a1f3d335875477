"""Full and tied covariances: precision factors are triangular matrices."""

from __future__ import annotations

import numpy as np
from scipy import linalg
from sklearn.utils import check_array

from ..._engine.stats import Stats
from ..._engine.workspace import FRESH
from .base import (
    ILL_DEFINED,
    Covariance,
    _float64_stats,
    _result_dtype,
    inverse_upper,
)


class _Matrix(Covariance):
    """Full and tied: precision factors are upper-triangular matrices."""

    matrix = True

    def prior_covariance(self, scatter):
        return np.atleast_2d(scatter)

    def check_prior_covariance(self, prior, n_features):
        prior = check_array(
            prior,
            dtype=[np.float64, np.float32],
            ensure_2d=False,
            input_name="covariance_prior",
        )
        if prior.shape != (n_features, n_features):
            raise ValueError(
                f"The parameter '{self.name} covariance_prior' should have the "
                f"shape of {(n_features, n_features)}, but got {prior.shape}"
            )
        if not (
            np.allclose(prior, prior.T) and np.all(np.linalg.eigvalsh(prior) > 0.0)
        ):
            raise ValueError(
                f"'{self.name} precision' should be symmetric, positive-definite"
            )
        return prior

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

    def component_precisions(self, prec_chol, n_components, n_features):
        stack = self._stack(self.precisions_from_cholesky(prec_chol))
        shape = (n_components, n_features, n_features)
        return np.ascontiguousarray(np.broadcast_to(stack, shape), dtype=np.float64)

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

    centred_per_component = True

    def stats_from_moments(self, nk, first, second, whiten):
        # y_k = (x - c_k) U_k
        s1 = np.einsum("kd,kde->ke", first, whiten)
        return Stats(nk=nk, s1=s1, s2=np.swapaxes(whiten, 1, 2) @ second @ whiten)

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

    def from_pooled(self, pooled, n_components):
        return np.tile(pooled, (n_components, 1, 1))

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

    def stats_from_moments(self, nk, first, second, whiten):
        # y = (x - m) U; s2 sums over every row, and sum_k r_k = 1
        return Stats(
            nk=nk, s1=first @ whiten, s2=whiten.T @ second.sum(axis=0) @ whiten
        )

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

    def from_pooled(self, pooled, n_components):
        return np.array(pooled, dtype=np.float64)

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
