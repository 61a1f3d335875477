"""Fit many candidate models in shared passes (the model-selection sweep).

A sweep runs EM for several models (and their ``n_init`` restarts) at once,
each restart an :class:`~daskmix._em.run.EMRun` as a lone fit's is, started,
stepped and chosen among by the same code:

* batch EM: every pass runs the E-steps of all the runs still going on each
  block while it is in memory, and tree-reduces all their statistics
  together, so a sweep of M candidates reads the data once per iteration,
  not M times. Inside a block each model's kernel sees the tiles it would see
  alone, so with the same integer ``random_state`` a candidate ends where
  fitting it alone ends (bit for bit on numpy input);
* stepwise EM: every mini-batch is drawn and read once and steps every run
  still going; each restart's start sample and warm-up rows are drawn once
  for all candidates.

Runs end by the rule of a lone fit and drop out. A run fails, and its
candidate with it when no restart survives, only for an error of its own
numerics on the client (:func:`~daskmix._em.run.candidate_failure`: an
ill-defined covariance in its M-step or start, statistics that overflow under
its parameters); an error reading or computing the data propagates. A final
shared pass scores every candidate's fitted parameters (log-likelihood and
classification entropy, for BIC, AIC, ICL: :func:`score_candidates`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg

from .. import config
from .._engine.combined_pass import shared_pass
from .._engine.rows import RowBlocks
from .._engine.stats import Stats
from .model import MixtureModel
from .run import (
    BatchRule,
    EMJob,
    EMResult,
    EMRun,
    best_result,
    blas_single_threaded,
    candidate_failure,
    finite,
    score_exactly,
)
from .stepwise import (
    fit_rule,
    init_sample,
    prefetch,
    start_rows,
    warm_up,
    warm_up_rows,
)

#: what a run whose statistics overflowed (data finite) records
OVERFLOW = "non-finite statistics (overflow)"


@dataclass
class SweepResult:
    """Outcome of one candidate: its best run, or the errors that stopped them.

    Attributes
    ----------
    result : EMResult or None
        The kept run; None when every restart failed.
    error : str or None
        The first failed run's error when ``result`` is None.
    """

    result: EMResult | None
    error: str | None = None


class _Guard:
    """Records a run's own numerical failure; lets everything else propagate.

    A failure counts as the run's only when :func:`candidate_failure` says
    so and the data are finite: a start that meets NaN in a sample it read
    fails on the client, but the error is the data's. The data are checked
    once, at the first failure (one pass; none when nothing fails).

    Parameters
    ----------
    data : RowBlocks
        The training data.
    """

    def __init__(self, data: RowBlocks):
        self.data = data
        self._finite = False

    def _record(self, run: EMRun, exc: BaseException) -> None:
        if not candidate_failure(exc):
            raise exc
        if not self._finite:
            self.data.raise_if_not_finite(run.model.allow_nan)
            self._finite = True
        run.fail(str(exc))

    def attempt(self, run: EMRun, action: Callable[[], Any]) -> None:
        """``action()``; a failure of the run's own numerics ends the run."""
        try:
            action()
        except (ValueError, linalg.LinAlgError) as exc:
            self._record(run, exc)

    def start(self, model: MixtureModel, rule, start: Callable[[], EMRun]) -> EMRun:
        """``start()``, or a failed run when the start fails on its numerics."""
        try:
            return start()
        except (ValueError, linalg.LinAlgError) as exc:
            run = EMRun(model, None, rule)
            self._record(run, exc)
            return run

    def step(self, run: EMRun, stats: Stats, rows: RowBlocks) -> None:
        """Step ``run`` from a pass's ``stats`` on ``rows``, or fail it on overflow.

        Non-finite statistics with non-finite rows raise (the data's error);
        with finite rows they come from the run's parameters: the run fails.
        """
        if not finite(stats):
            rows.raise_if_not_finite(run.model.allow_nan)
            run.fail(OVERFLOW)
            return
        self.attempt(run, lambda: run.step(stats, rows.dtype))


def _best_lower_bound(runs: Sequence[EMRun], labels: Sequence[str]) -> str:
    stepped = [
        (run.lower_bound, labels[index])
        for index, group in enumerate(runs)
        for run in group
        if run.error is None and np.isfinite(run.lower_bound)
    ]
    if not stepped:
        return "-"
    bound, label = max(stepped)
    return f"{bound:.6g} ({label})"


def _results(runs: Sequence[Sequence[EMRun]]) -> list[SweepResult]:
    results = []
    for group in runs:
        best = best_result(run.result() for run in group if run.error is None)
        error = None if best is not None else next(run.error for run in group)
        results.append(SweepResult(best, error))
    return results


@blas_single_threaded
def fit_sweep(
    jobs: Sequence[EMJob],
    data: RowBlocks,
    *,
    verbose: int = 0,
    progress=None,
    labels: Sequence[str] | None = None,
) -> list[SweepResult]:
    """EM for every candidate in shared passes; the best run of each.

    Parameters
    ----------
    jobs : sequence of EMJob
        The candidates' fits (of one family: their kernels read the same
        arrays), as each candidate's estimator builds it; they share
        ``n_init``, ``max_iter``, ``tol``, ``batch_size`` and ``schedule``.
        Batch EM: each candidate starts from its own ``random_state`` (an int
        seed gives each a fresh generator, as a lone fit with that seed
        would have; a RandomState instance is shared by all, in order).
        Stepwise EM: the first job's ``random_state`` draws the samples, the
        batches and every start, in order.
    data : RowBlocks
    verbose : int
        Batch EM, 1 or more: one line per shared pass (runs still going).
    progress : SweepProgress, optional
        The bar to update after every shared pass or batch.
    labels : sequence of str, optional
        Names of the candidates for the bar.

    Returns
    -------
    list of SweepResult
        One per job, in order.
    """
    labels = labels if labels is not None else [str(i) for i in range(len(jobs))]
    if jobs[0].batch_size is None:
        runs = _batch_sweep(jobs, data, verbose, progress, labels)
    else:
        runs = _stepwise_sweep(jobs, data, progress, labels)
    return _results(runs)


def _batch_sweep(jobs, data, verbose, progress, labels) -> list[list[EMRun]]:
    rule = BatchRule(jobs[0].max_iter, jobs[0].tol)
    guard = _Guard(data)
    runs: list[list[EMRun]] = []
    with data.sharing_reads():
        for job in jobs:
            group: list[EMRun] = []
            for restart in range(job.n_init):

                def start(model=job.model, state=job.random_state, restart=restart):
                    params = model.initialize(data, state, restart=restart)
                    return EMRun(model, params, rule)

                group.append(guard.start(job.model, rule, start))
                if group[-1].error is not None:
                    break  # as a lone fit would raise: no later restart
            runs.append(group)
    n_runs = sum(len(group) for group in runs)
    n_passes = 0
    while True:
        active = [run for group in runs for run in group if not run.done]
        if not active:
            break
        entries = [run.pass_entry(data) for run in active]
        for run, stats in zip(active, shared_pass(entries, data)):
            guard.step(run, stats, data)
        n_passes += 1
        if verbose:
            print(f"  Sweep pass {n_passes}: {len(active)} run(s) going")
        if progress is not None:
            going = sum(not run.done for group in runs for run in group)
            progress.step(n_passes, going, n_runs, _best_lower_bound(runs, labels))
    return runs


def _stepwise_sweep(jobs, data, progress, labels) -> list[list[EMRun]]:
    first = jobs[0]
    random_state, batch_size = first.random_state, first.batch_size
    rule = fit_rule(first.schedule, batch_size, data.n_samples, first.max_iter)
    stands_for = float(data.n_samples if first.n_rows is None else first.n_rows)
    min_start_rows = max(start_rows(job.model, data) for job in jobs)
    guard = _Guard(data)
    runs: list[list[EMRun]] = [[] for _ in jobs]
    for restart in range(first.n_init):
        sample = init_sample(data, batch_size, random_state, min_start_rows)
        warm_rows = (
            warm_up_rows(data, batch_size, random_state) if rule.max_batches else None
        )
        for index, job in enumerate(jobs):

            def start(model=job.model, sample=sample, rows=warm_rows, restart=restart):
                params = model.initialize(sample, random_state, restart=restart)
                run = EMRun(model, params, rule, n_rows=stands_for)
                if rows is not None:
                    warm_up(run, rows)
                return run

            runs[index].append(guard.start(job.model, rule, start))
    n_runs = sum(len(group) for group in runs)
    going = [run for group in runs for run in group if not run.done]
    pending: list[RowBlocks] = []
    n_batches = 0
    while going:
        if not pending:
            pending = prefetch(
                data,
                config.get("minibatch.prefetch-batches"),
                batch_size,
                random_state,
            )
        batch = pending.pop()
        for run in going:
            guard.step(run, run.pass_over(batch), batch)
        going = [run for run in going if not run.done]
        n_batches += 1
        if progress is not None:
            progress.step(
                n_batches, len(going), n_runs, _best_lower_bound(runs, labels)
            )
    score_exactly(
        [
            alive
            for alive in ([run for run in group if run.error is None] for group in runs)
            if len(alive) > 1
        ],
        data,
    )
    return runs


def score_candidates(
    models: Sequence[MixtureModel],
    params: Sequence[Any],
    data: RowBlocks,
    kernel_name: str = "score_kernel",
) -> list[Stats]:
    """``loglik``, ``entropy``, ``n_rows`` of every fitted candidate, one pass.

    ``kernel_name`` names the models' scoring kernel attribute.
    """
    entries = [
        (
            getattr(model, kernel_name),
            model.plan(p, data.dtype),
            model.tile_rows(data.n_features),
        )
        for model, p in zip(models, params)
    ]
    return shared_pass(entries, data)
