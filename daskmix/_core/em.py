"""EM drivers shared by the estimators: the batch loop, restarts and warm starts.

A model plugs in through a :class:`EMModel`: how to initialise, how to run one
pass over the data (E-step and statistics, one ``compute``), and how to turn
the statistics into new parameters. The driver owns everything else so that
both estimators behave exactly like scikit-learn's ``BaseMixture.fit``: the
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

from .engine import RowBlocks, one_blas_thread
from .progress import fit_progress
from .stats import Stats


@dataclass
class EMModel:
    """The three model-specific steps of EM.

    Attributes
    ----------
    initialize : callable
        ``initialize(random_state) -> params``.
    em_pass : callable
        ``em_pass(params) -> Stats`` with at least ``loglik`` and ``n_rows``:
        one pass over the data under ``params``.
    m_step : callable
        ``m_step(stats, params) -> params``.
    lower_bound : callable, optional
        ``lower_bound(stats, params_in, params_out) -> float``: the objective
        EM reports and tests for convergence, from one pass's statistics, the
        parameters that entered it and those its M-step gave. Default: the
        mean log-likelihood ``stats["loglik"] / stats["n_rows"]`` (under
        ``params_in``, as scikit-learn's GaussianMixture reports it).
    """

    initialize: Callable[[np.random.RandomState], Any]
    em_pass: Callable[[Any], Stats]
    m_step: Callable[[Stats, Any], Any]
    lower_bound: Callable[[Stats, Any, Any], float] | None = None


@dataclass
class EMResult:
    """Outcome of :func:`fit_em` (the best run)."""

    params: Any
    lower_bound: float
    lower_bounds: list[float] = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False


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


def check_pass(stats: Stats, data: RowBlocks, names: tuple[str, ...] = ("X",)) -> Stats:
    """Raise a clear error when a pass produced non-finite statistics.

    That happens for two reasons only: NaN/inf in the data (which dask input
    cannot show before it is read), or values so large that squared distances
    overflow float64. The first costs nothing to detect here, the check pass
    runs only when something already went wrong.
    """
    if all(np.all(np.isfinite(value)) for value in stats.values()):
        return stats
    for name, array in zip(names, data.arrays):
        # 1-D arrays (y) as one column: RowBlocks reads a 2-D shape
        if not RowBlocks(
            [array.reshape(-1, 1) if array.ndim == 1 else array]
        ).all_finite():
            raise ValueError(f"Input {name} contains NaN or infinity.")
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


@blas_single_threaded
def fit_em(
    model: EMModel,
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

    Parameters
    ----------
    model : EMModel
    n_init : int
        Restarts; ignored (one run) when ``warm_params`` is given.
    max_iter, tol : int, float
        Iteration cap and convergence threshold on the lower-bound change.
    random_state : RandomState
        Shared by all restarts, drawn from in order.
    warm_params, warm_lower_bound
        Fitted parameters and lower bound to continue from (``warm_start``).

    Returns
    -------
    EMResult
        The run with the largest final lower bound. A ConvergenceWarning is
        emitted when it did not converge and ``max_iter > 0``.
    """
    printer = _VerbosePrinter(verbose, verbose_interval)
    do_init = warm_params is None
    best: EMResult | None = None
    for init in range(n_init if do_init else 1):
        printer.init_begin(init)
        params = model.initialize(random_state) if do_init else warm_params
        lower_bound = -np.inf if do_init else warm_lower_bound
        if max_iter == 0:
            best = EMResult(params, -np.inf)
            continue
        lower_bounds: list[float] = []
        converged = False
        n_iter = 0
        for n_iter in range(1, max_iter + 1):
            previous = lower_bound
            stats = model.em_pass(params)
            new_params = model.m_step(stats, params)
            if model.lower_bound is None:
                lower_bound = float(stats["loglik"] / stats["n_rows"])
            else:
                lower_bound = float(model.lower_bound(stats, params, new_params))
            params = new_params
            lower_bounds.append(lower_bound)
            change = lower_bound - previous
            printer.iter_end(n_iter, change, lower_bound)
            if abs(change) < tol:
                converged = True
                break
        printer.init_end(lower_bound, converged)
        if (
            best is None
            or lower_bound > best.lower_bound
            or best.lower_bound == -np.inf
        ):
            best = EMResult(params, lower_bound, lower_bounds, n_iter, converged)
    if not best.converged and max_iter > 0:
        warnings.warn(
            "Best performing initialization did not converge. Try different init "
            "parameters, or increase max_iter, tol, or check for degenerate data.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return best
