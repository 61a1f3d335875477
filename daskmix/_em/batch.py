"""EM drivers shared by the estimators: the batch loop, restarts and warm starts.

A model plugs in through the :class:`~daskmix._em.model.MixtureModel`
protocol (its kernel, plan, M-step, lower bound and start); the driver runs
the passes and owns everything else so that every estimator behaves exactly
like scikit-learn's ``BaseMixture.fit``: the
lower bound of an iteration is the mean log-likelihood under the parameters
that *entered* it, convergence is ``abs(change) < tol``, ``n_init`` restarts
keep the best lower bound, ``warm_start`` continues from the fitted
parameters, ``max_iter=0`` returns the initialisation, and a
``ConvergenceWarning`` is raised when the best run did not converge.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._engine.rows import RowBlocks, one_blas_thread
from .._engine.stats import Stats
from .model import MixtureModel
from .progress import fit_progress


@dataclass
class EMResult:
    """Outcome of :func:`fit_em` (the best run)."""

    params: Any
    lower_bound: float
    lower_bounds: list[float] = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    degenerate: list[int] = field(default_factory=list)


class _VerbosePrinter:
    """scikit-learn's verbose messages, word for word; and the progress bar."""

    def __init__(self, verbose: int, verbose_interval: int):
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self._init_start = self._iter_start = perf_counter()
        self.progress = fit_progress("EM")

    def init_begin(self, n_init: int) -> None:
        self.progress.begin(n_init)
        if self.verbose >= 1:
            print(f"Initialization {n_init}")
            self._init_start = self._iter_start = perf_counter()

    def iter_end(
        self, n_iter: int, change: float, lower_bound: float | None = None
    ) -> None:
        self.progress.step(n_iter, lower_bound)
        if n_iter % self.verbose_interval != 0:
            return
        if self.verbose == 1:
            print(f"  Iteration {n_iter}")
        elif self.verbose >= 2:
            now = perf_counter()
            print(
                f"  Iteration {n_iter}\t time lapse {now - self._iter_start:.5f}s\t "
                f"ll change {change:.5f}"
            )
            self._iter_start = now

    def init_end(self, lower_bound: float, converged: bool) -> None:
        self.progress.end(lower_bound, converged)
        message = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {message}.")
        elif self.verbose >= 2:
            elapsed = perf_counter() - self._init_start
            print(
                f"Initialization {message}. time lapse {elapsed:.5f}s\t lower bound "
                f"{lower_bound:.5f}."
            )


def check_pass(stats: Stats, data: RowBlocks, allow_nan: bool = False) -> Stats:
    """Raise a clear error when a pass produced non-finite statistics.

    That happens for two reasons only: NaN/inf in the data (which dask input
    cannot show before it is read), or values so large that squared distances
    overflow float64. The first costs nothing to detect here, the check pass
    runs only when something already went wrong. ``allow_nan``: the model
    takes NaN in X as missing values (:attr:`MixtureModel.allow_nan`), so
    only infinity there is an error.
    """
    if all(np.all(np.isfinite(value)) for value in stats.values()):
        return stats
    data.raise_if_not_finite(allow_nan)
    raise ValueError(
        "The log-likelihood overflowed to a non-finite value: the data are too "
        "large in magnitude for float64 arithmetic (squared distances overflow). "
        "Scale the input data, e.g. with sklearn.preprocessing.StandardScaler."
    )


def blas_single_threaded(func: Callable) -> Callable:
    """Run ``func`` with BLAS held to one thread.

    The client's share of EM is tiny LAPACK calls (K Cholesky factors and
    triangular solves per M-step). A multi-threaded OpenBLAS wakes its threads
    for each of them: measured at ~9 ms a call on the 2-core development
    machines, enough to double the time of an EM iteration on a million rows.
    The passes themselves already run one BLAS thread per engine thread.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return func(*args, **kwargs)

    return wrapper


def run_pass(model: MixtureModel, data: RowBlocks, params: Any) -> Stats:
    """One pass over ``data`` under ``params``: the model's kernel on every block.

    The statistics are checked for non-finite values (:func:`check_pass`).
    """
    plan = model.plan(params, data.dtype)
    stats = data.map_reduce(
        model.kernel, plan, model.tile_rows(data.n_features), name=model.name
    )
    return check_pass(stats, data, model.allow_nan)


def better_run(candidate: EMResult, best: EMResult | None) -> bool:
    """Whether restart ``candidate`` beats ``best`` (scikit-learn's rule).

    The larger final lower bound wins, except that a run whose components
    collapsed (:meth:`MixtureModel.degenerate`) never beats one without.
    """
    if best is None or best.lower_bound == -np.inf:
        return True
    if bool(candidate.degenerate) != bool(best.degenerate):
        return not candidate.degenerate
    return candidate.lower_bound > best.lower_bound


def warn_degenerate(model: MixtureModel, components: list[int]) -> None:
    """Warn that the kept run has collapsed components, naming them."""
    if components:
        warnings.warn(
            model.degenerate_message(sorted(components)), UserWarning, stacklevel=4
        )


@blas_single_threaded
def fit_em(
    model: MixtureModel,
    data: RowBlocks,
    *,
    n_init: int,
    max_iter: int,
    tol: float,
    random_state: np.random.RandomState,
    verbose: int = 0,
    verbose_interval: int = 10,
    warm_params: Any = None,
    warm_lower_bound: float = -np.inf,
) -> EMResult:
    """Batch EM with restarts; the semantics of scikit-learn's ``BaseMixture``.

    Each iteration is one pass (:func:`run_pass`) and one M-step on the
    client. The lower bound of an iteration is :meth:`MixtureModel.lower_bound`
    of that pass (by default the mean log-likelihood under the parameters
    that *entered* it); convergence is ``abs(change) < tol``.

    Parameters
    ----------
    model : MixtureModel
    data : RowBlocks
        The training data.
    n_init : int
        Restarts; ignored (one run) when ``warm_params`` is given.
    max_iter, tol : int, float
        Iteration cap and convergence threshold on the lower-bound change.
    random_state : RandomState
        Shared by all restarts, drawn from in order.
    verbose, verbose_interval : int
        scikit-learn's verbose messages.
    warm_params, warm_lower_bound
        Fitted parameters and lower bound to continue from (``warm_start``).

    Returns
    -------
    EMResult
        The best run (:func:`better_run`). ``max_iter=0`` returns the
        initialisation. A ConvergenceWarning is emitted when the best run did
        not converge and ``max_iter > 0``.
    """
    printer = _VerbosePrinter(verbose, verbose_interval)
    do_init = warm_params is None
    best: EMResult | None = None
    for init in range(n_init if do_init else 1):
        printer.init_begin(init)
        params = (
            model.initialize(data, random_state, restart=init)
            if do_init
            else warm_params
        )
        lower_bound = -np.inf if do_init else warm_lower_bound
        if max_iter == 0:
            best = EMResult(params, -np.inf)
            continue
        lower_bounds: list[float] = []
        converged = False
        n_iter = 0
        stats = None
        for n_iter in range(1, max_iter + 1):
            previous = lower_bound
            stats = run_pass(model, data, params)
            new_params = model.m_step(stats, params, model.frame(params, data.dtype))
            lower_bound = model.lower_bound(stats, params, new_params)
            params = new_params
            lower_bounds.append(lower_bound)
            change = lower_bound - previous
            printer.iter_end(n_iter, change, lower_bound)
            if abs(change) < tol:
                converged = True
                break
        printer.init_end(lower_bound, converged)
        run = EMResult(
            params,
            lower_bound,
            lower_bounds,
            n_iter,
            converged,
            degenerate=model.degenerate(params, stats),
        )
        if better_run(run, best):
            best = run
    warn_degenerate(model, best.degenerate)
    if not best.converged and max_iter > 0:
        warnings.warn(
            "Best performing initialization did not converge. Try different init "
            "parameters, or increase max_iter, tol, or check for degenerate data.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return best
