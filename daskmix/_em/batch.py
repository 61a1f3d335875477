"""Batch EM: restarts one after another, one pass over the data per step.

The driver of a lone fit with ``algorithm='batch'``: it starts each ``n_init``
run in turn, feeds it one full pass per step until it ends, and keeps the best
(:mod:`daskmix._em.run` holds the run and the choice). The semantics are
scikit-learn's ``BaseMixture.fit``: the lower bound of an iteration is the
mean log-likelihood under the parameters that *entered* it, convergence is
``abs(change) < tol``, ``warm_start`` continues from the fitted parameters,
``max_iter=0`` returns the start, and a ``ConvergenceWarning`` is raised when
the kept run did not converge.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .._engine.rows import RowBlocks
from .model import MixtureModel
from .progress import run_report
from .run import (
    BatchRule,
    EMResult,
    EMRun,
    best_result,
    blas_single_threaded,
    warn_outcome,
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

    Each step of a run (:meth:`~daskmix._em.run.EMRun.iterate`) is one pass
    over the data and one M-step on the client.

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
        The best run (:func:`~daskmix._em.run.better_run`). ``max_iter=0``
        returns the start. A ConvergenceWarning is emitted when the best run
        did not converge and ``max_iter > 0``.
    """
    report = run_report(verbose, verbose_interval)
    rule = BatchRule(max_iter, tol)
    results = []
    for init in range(n_init if warm_params is None else 1):
        if report is not None:
            report.run_begin(init)
        if warm_params is None:
            run = EMRun(model, model.initialize(data, random_state, restart=init), rule)
        else:
            run = EMRun(model, warm_params, rule, lower_bound=warm_lower_bound)
        if run.done:  # max_iter=0: the start
            results.append(EMResult(run.params, -np.inf))
            continue
        results.append(run.run_on(itertools.repeat(data), report))
        if report is not None:
            report.run_end(run)
    best = best_result(results)
    warn_outcome(model, best, max_iter)
    return best
