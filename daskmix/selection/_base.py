"""The selectors' common part: the sweep, the criteria table, the delegation.

Choosing the model: fit a grid of mixtures in shared passes, keep the best.

:class:`GaussianMixtureIC` and :class:`RegressionMixtureIC` fit every
candidate of a grid (numbers of components times covariance types, or times
gating and noise models) with one sweep that reads the data once per EM
iteration (:func:`daskmix._em.sweep.fit_sweep`), score the fitted
candidates on the training data in one more shared pass, and keep the one
with the lowest information criterion (BIC, AIC or ICL; ties go to the
smaller model). Information criteria belong on the training data; to choose
K by held-out data instead, use :func:`daskmix.metrics.log_likelihood_scorer`
in ``GridSearchCV``.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._em.progress import sweep_progress
from .._em.sweep import fit_sweep, score_candidates
from .._estimator.base import BaseMixture
from .._estimator.outputs import check_same_namespace
from .._estimator.validation import reject_booleans

CRITERIA = ("bic", "aic", "icl")

SAMPLE_WEIGHT_SELECTION = """
Weight of each row (frequency weights), for every candidate's fit and for
the criteria: each candidate is fitted as its estimator's ``fit`` fits
with ``sample_weight``, and the
``log_likelihood`` and classification entropy of ``criteria_`` are weighted
sums, with ``n`` the sum of the weights in BIC's (and ICL's)
``p log n``; an integer weight ``w`` counts as ``w`` copies of the row and
weight 0 leaves the row out. The candidates' own ``bic(X)`` and ``aic(X)``
stay unweighted, as in scikit-learn. Non-negative, finite, with at least
``max(n_components)`` non-zero values; numpy, or for dask ``X`` also a dask
array. None: unweighted.
"""
#: K = 1..10 (a tuple: scikit-learn's checks want defaults of plain types)
DEFAULT_COMPONENTS = tuple(range(1, 11))


def _as_options(value, name: str, allowed=None) -> list:
    """A grid axis as a list: one value, or an iterable of them; checked."""
    options = [value] if isinstance(value, (str, Integral)) else list(value)
    if not options:
        raise ValueError(f"{name} is an empty grid: give at least one value.")
    if allowed is not None:
        unknown = [option for option in options if option not in allowed]
        if unknown:
            raise ValueError(
                f"{name} has unknown value(s) {unknown}; expected values among "
                f"{list(allowed)}."
            )
    return options


def _check_components(n_components, n_samples: int) -> list[int]:
    options = _as_options(n_components, "n_components")
    for k in options:
        if not isinstance(k, Integral) or isinstance(k, (bool, np.bool_)) or k < 1:
            raise ValueError(
                "n_components must hold integers >= 1 (not booleans); got "
                f"{k!r} in {options}."
            )
        if k > n_samples:
            raise ValueError(
                f"n_components={k} is larger than n_samples={n_samples}: every "
                "component needs at least one sample."
            )
    return [int(k) for k in options]


class _MixtureIC(BaseEstimator):
    """The sweep, the criteria table and the delegation, for both families."""

    _parameter_constraints: dict = {
        "n_components": ["array-like", Interval(Integral, 1, None, closed="left")],
        "criterion": [StrOptions(set(CRITERIA))],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "verbose": ["verbose"],
        "algorithm": [StrOptions({"batch", "minibatch"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    #: the estimator class the candidates are
    _estimator: type[BaseMixture]

    def _validate_params(self) -> None:
        """scikit-learn's parameter validation, booleans refused as integers."""
        super()._validate_params()
        reject_booleans(self)

    def _grid(self) -> list[dict]:
        """The candidates' own parameters (besides the shared ones)."""
        raise NotImplementedError

    def _shared_params(self) -> dict:
        return {
            "algorithm": self.algorithm,
            "batch_size": self.batch_size,
            "n_init": self.n_init,
            "init_params": self.init_params,
            "random_state": self.random_state,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "reg_covar": self.reg_covar,
        }

    def _sweep(self, X, y=None, sample_weight=None):
        """Fit every candidate in one sweep, score them, keep the best.

        The candidates are estimators of ``_estimator``: the training rows,
        each candidate's EM job and its fitted attributes come from the code
        a lone fit runs (:meth:`BaseMixture._training_rows`,
        :meth:`BaseMixture._em_job`, :meth:`BaseMixture._record_fit`); only
        the driver is the shared-pass sweep.
        """
        probe = self._estimator(**self._shared_params())
        data, _ = probe._validate(
            X, y, reset=True, ensure_min_samples=2, sample_weight=sample_weight
        )
        self.n_features_in_ = probe.n_features_in_
        if hasattr(probe, "feature_names_in_"):
            self.feature_names_in_ = probe.feature_names_in_
        self._checked_components = _check_components(self.n_components, data.n_samples)
        rows = probe._training_rows(data, max(self._checked_components))
        data = rows.data
        candidates = [
            self._estimator(**grid_point, **self._shared_params())
            for grid_point in self._grid()
        ]
        jobs = [candidate._em_job(rows) for candidate in candidates]
        progress = sweep_progress(
            type(self).__name__, "pass" if rows.batch_size is None else "step"
        )
        try:
            results = fit_sweep(
                jobs,
                data,
                verbose=self.verbose,
                progress=progress,
                labels=[self._label(candidate) for candidate in candidates],
            )
            fitted = [i for i, r in enumerate(results) if r.result is not None]
            if not fitted:
                raise ValueError(
                    "Every candidate failed; the first error: " + str(results[0].error)
                )
            scores = score_candidates(
                [jobs[i].model for i in fitted],
                [results[i].result.params for i in fitted],
                data,
                self._score_kernel(),
            )
        except BaseException:
            progress.close()
            raise
        rows_out = []
        score_of = dict(zip(fitted, scores))
        for index, (candidate, result) in enumerate(zip(candidates, results)):
            row = {name: getattr(candidate, name) for name in self._grid_keys}
            if result.result is None:
                row.update(error=result.error)
                rows_out.append(row)
                continue
            candidate._record_fit(result.result, data)
            candidate.n_features_in_ = self.n_features_in_
            if hasattr(self, "feature_names_in_"):
                candidate.feature_names_in_ = self.feature_names_in_
            stats = score_of[index]
            loglik = float(stats["loglik"])
            n_params = candidate._n_parameters()
            bic = -2.0 * loglik + n_params * math.log(float(stats["n_rows"]))
            row.update(
                log_likelihood=loglik,
                n_parameters=n_params,
                bic=bic,
                aic=-2.0 * loglik + 2.0 * n_params,
                icl=bic + 2.0 * float(stats["entropy"]),
                n_iter=result.result.n_iter,
                converged=result.result.converged,
                degenerate=bool(result.result.degenerate),
                error=None,
            )
            rows_out.append(row)
        table = pd.DataFrame(rows_out)
        # as among restarts: a candidate whose components collapsed (an
        # unbounded likelihood's spike) never beats one without
        ranked = sorted(
            fitted,
            key=lambda i: (
                rows_out[i]["degenerate"],
                rows_out[i][self.criterion],
                rows_out[i]["n_parameters"],
                i,
            ),
        )
        best = ranked[0]
        progress.end(
            f"{self._label(candidates[best])}: "
            f"{self.criterion}={rows_out[best][self.criterion]:.6g}"
        )
        failed = [i for i, r in enumerate(results) if r.result is None]
        if failed:
            reasons = "; ".join(
                f"{self._label(candidates[i])}: {results[i].error}" for i in failed
            )
            warnings.warn(
                f"{len(failed)} of {len(candidates)} candidates failed and were "
                f"left out of the choice (criteria_['error'] has each reason): "
                f"{reasons}",
                UserWarning,
                stacklevel=3,
            )
        not_converged = [
            i for i in fitted if not results[i].result.converged and self.max_iter > 0
        ]
        if best in not_converged:
            warnings.warn(
                "The chosen candidate did not converge. Increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.best_estimator_ = candidates[best]
        self.best_index_ = best
        self.criteria_ = table
        self.n_components_ = candidates[best].n_components
        self.n_iter_ = candidates[best].n_iter_
        return self

    def _label(self, candidate) -> str:
        """A candidate's grid point, e.g. ``n_components=3, covariance_type='full'``."""
        return ", ".join(
            f"{name}={getattr(candidate, name)!r}" for name in self._grid_keys
        )

    def _score_kernel(self) -> str:
        """The models' kernel attribute that scores the candidates."""
        return "score_kernel"

    # ---------------------------------------------------------- delegation
    def score_samples(self, X, y=None):
        """Per-sample log-likelihood under the chosen model.

        Parameters
        ----------
        X : array-like, dask array, DataFrame or DataArray of shape \
                (n_samples, n_features)
            Data.
        y : array-like of shape (n_samples,), optional
            Targets (regression mixtures).

        Returns
        -------
        log_prob : ndarray, dask array or DataArray of shape (n_samples,)
            ``best_estimator_.score_samples``.
        """
        check_is_fitted(self)
        check_same_namespace(self, X, "score_samples", fitted=self.best_estimator_)
        if y is None:
            return self.best_estimator_.score_samples(X)
        return self.best_estimator_.score_samples(X, y)

    def sample(self, n_samples: int = 1):
        """Draw samples from the chosen model.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.

        Returns
        -------
        samples : tuple of ndarray
            As ``best_estimator_.sample``.
        """
        check_is_fitted(self)
        return self.best_estimator_.sample(n_samples)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
