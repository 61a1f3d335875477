"""Diagonal and spherical covariances: precisions are positive numbers."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array

from ..._engine.stats import Stats
from ..._engine.workspace import FRESH
from .base import (
    ILL_DEFINED,
    Covariance,
    _float64_stats,
    _result_dtype,
)


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

    def component_precisions(self, prec_chol, n_components, n_features):
        precisions = self.precisions_from_cholesky(prec_chol).reshape(n_components, -1)
        shape = (n_components, n_features)
        return np.ascontiguousarray(
            np.broadcast_to(precisions, shape), dtype=np.float64
        )

    def check_precisions(self, precisions):
        if np.any(precisions <= 0.0):
            raise ValueError(f"'{self.name} precision' should be positive")

    def plan_arrays(self, prec_chol, rel_means):
        return prec_chol**2, rel_means

    def check_prior_covariance(self, prior, n_features):
        prior = check_array(
            prior,
            dtype=[np.float64, np.float32],
            ensure_2d=False,
            input_name="covariance_prior",
        )
        if prior.shape != (n_features,):
            raise ValueError(
                f"The parameter '{self.name} covariance_prior' should have the "
                f"shape of {(n_features,)}, but got {prior.shape}"
            )
        if np.any(np.less_equal(prior, 0.0)):
            raise ValueError(f"'{self.name} precision' should be positive")
        return prior

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

    def stats_from_moments(self, nk, first, second, whiten):
        return Stats(nk=nk, s1=first, s2=second)

    def from_pooled(self, pooled, n_components):
        return np.tile(np.diag(pooled), (n_components, 1))

    def prior_covariance(self, scatter):
        return scatter

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

    def from_pooled(self, pooled, n_components):
        return np.full(n_components, np.diag(pooled).mean())

    def prior_covariance(self, scatter):
        return float(np.mean(scatter))

    def check_prior_covariance(self, prior, n_features):
        # scikit-learn's parameter validation has checked the number already
        return prior

    def as_prior(self, prior):
        return float(prior)

    def stats_from_moments(self, nk, first, second, whiten):
        return Stats(nk=nk, s1=first, s2=second.sum(axis=1))

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
