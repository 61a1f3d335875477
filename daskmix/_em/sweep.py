"""Fit many candidate models in shared passes (the model-selection sweep).

A sweep runs batch EM for several models (and their ``n_init`` restarts) at
once: every pass runs the E-steps of all the runs still going on each block
while it is in memory, and tree-reduces all their statistics together, so a
sweep of M candidates reads the data once per iteration, not M times. Runs
that converge drop out. A final shared pass scores every candidate's fitted
parameters (log-likelihood and classification entropy, for BIC, AIC, ICL).

Each run follows exactly the iteration of :func:`~daskmix._em.batch.fit_em`;
inside a block each model's kernel sees the tiles it would see alone, so with
the same integer ``random_state`` a candidate ends where fitting it alone
ends, up to the summation order of blocks (identical for numpy input).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import linalg
from sklearn.utils import check_random_state

from .. import config
from .._engine.batches import next_batches
from .._engine.combined_pass import shared_pass
from .._engine.rows import RowBlocks
from .._engine.stats import Stats
from .batch import EMResult, _VerbosePrinter, better_run, blas_single_threaded
from .model import MixtureModel
from .stepwise import (
    StepSchedule,
    StepwiseResult,
    StepwiseState,
    batch_blocks,
    init_sample,
    smoothing_weight,
    start_rows,
    stepwise_update,
    warm_up_from,
    warm_up_rows,
)


@dataclass
class _Run:
    """One restart of one candidate, as it goes."""

    candidate: int
    params: Any
    lower_bound: float = -np.inf
    lower_bounds: list[float] = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    stats: Stats | None = None
    error: str | None = None
    done: bool = False


@dataclass
class SweepResult:
    """Outcome of one candidate: its best run, or the error that stopped it."""

    result: EMResult | StepwiseResult | None
    error: str | None = None


def _finite(stats: Stats) -> bool:
    return all(np.all(np.isfinite(value)) for value in stats.values())


def _start_runs(
    models: Sequence[MixtureModel], data: RowBlocks, n_init: int, random_state
) -> list[_Run]:
    """Initialise every restart of every candidate, each candidate as if alone."""
    runs = []
    shared_state = isinstance(random_state, np.random.RandomState)
    for index, model in enumerate(models):
        # an int seed gives each candidate the stream a lone fit would draw
        rs = random_state if shared_state else check_random_state(random_state)
        for restart in range(n_init):
            try:
                params = model.initialize(data, rs, restart=restart)
            except (ValueError, linalg.LinAlgError) as exc:
                runs.append(_Run(index, None, error=str(exc), done=True))
                break
            runs.append(_Run(index, params))
    return runs


def _step(model: MixtureModel, run: _Run, stats: Stats, dtype, max_iter, tol):
    """The M-step and convergence test of one run after a shared pass."""
    try:
        new_params = model.m_step(stats, run.params, model.frame(run.params, dtype))
        lower_bound = model.lower_bound(stats, run.params, new_params)
    except (ValueError, linalg.LinAlgError) as exc:
        run.error, run.done = str(exc), True
        return
    change = lower_bound - run.lower_bound
    run.params, run.stats = new_params, stats
    run.lower_bound = lower_bound
    run.lower_bounds.append(lower_bound)
    run.n_iter += 1
    if abs(change) < tol:
        run.converged = run.done = True
    elif run.n_iter >= max_iter:
        run.done = True


@blas_single_threaded
def fit_sweep(
    models: Sequence[MixtureModel],
    data: RowBlocks,
    *,
    n_init: int,
    max_iter: int,
    tol: float,
    random_state,
    verbose: int = 0,
) -> list[SweepResult]:
    """Batch EM for every model in shared passes; the best run of each.

    Parameters
    ----------
    models : sequence of MixtureModel
        The candidates (of one family: their kernels read the same arrays).
    data : RowBlocks
    n_init : int
        Restarts per candidate.
    max_iter, tol : int, float
        As for :func:`~daskmix._em.batch.fit_em`.
    random_state : int, RandomState or None
        An int (or None) gives every candidate a fresh generator, as a lone
        fit with that ``random_state`` would have; a RandomState instance is
        shared by all candidates, in order.
    verbose : int
        1 or more prints one line per pass (runs still going).

    Returns
    -------
    list of SweepResult
        One per model, in order. A candidate whose every run failed (an
        ill-defined covariance, overflow) carries the error instead.
    """
    printer = _VerbosePrinter(verbose, 1)
    with data.sharing_reads():
        runs = _start_runs(models, data, n_init, random_state)
    n_passes = 0
    while max_iter > 0:
        active = [run for run in runs if not run.done]
        if not active:
            break
        entries = [
            (
                models[run.candidate].kernel,
                models[run.candidate].plan(run.params, data.dtype),
                models[run.candidate].tile_rows(data.n_features),
            )
            for run in active
        ]
        for run, stats in zip(active, shared_pass(entries, data)):
            model = models[run.candidate]
            if not _finite(stats):
                data.raise_if_not_finite(model.allow_nan)
                run.error, run.done = "non-finite statistics (overflow)", True
                continue
            _step(model, run, stats, data.dtype, max_iter, tol)
        n_passes += 1
        if verbose:
            print(f"  Sweep pass {n_passes}: {len(active)} run(s) going")
    del printer
    return _best_per_candidate(models, runs)


def _best_per_candidate(
    models: Sequence[MixtureModel], runs: list[_Run]
) -> list[SweepResult]:
    results = []
    for index, model in enumerate(models):
        best: EMResult | None = None
        errors = []
        for run in (r for r in runs if r.candidate == index):
            if run.error is not None:
                errors.append(run.error)
                continue
            degenerate = (
                model.degenerate(run.params, run.stats) if run.stats is not None else []
            )
            candidate = EMResult(
                run.params,
                run.lower_bound,
                run.lower_bounds,
                run.n_iter,
                run.converged,
                degenerate=degenerate,
            )
            if better_run(candidate, best):
                best = candidate
        results.append(SweepResult(best, None if best is not None else errors[0]))
    return results


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


@blas_single_threaded
def fit_sweep_stepwise(
    models: Sequence[MixtureModel],
    data: RowBlocks,
    *,
    batch_size: int,
    schedule: StepSchedule,
    n_init: int,
    max_iter: int,
    random_state,
    n_rows: float | None = None,
) -> list[SweepResult]:
    """Stepwise EM for every model on shared mini-batches; the best run of each.

    Each restart reads one initialisation sample and one warm-up sample for
    all candidates; every mini-batch is drawn and read once and updates every
    run still going. Runs stop by the rule of
    :func:`~daskmix._em.stepwise.fit_stepwise` (``max_no_improvement`` steps
    without progress, or ``max_iter`` passes' worth of steps).

    Parameters
    ----------
    models : sequence of MixtureModel
    data : RowBlocks
    batch_size : int
        Rows per step.
    schedule : StepSchedule
    n_init : int
        Restarts per candidate.
    max_iter : int
        Passes' worth of steps at most.
    random_state : int, RandomState or None
        Drawn from for the samples, the batches and every start, in order.
    n_rows : float, optional
        What the running statistics stand for: the summed weight of weighted
        data (its ``weight`` array), as in
        :func:`~daskmix._em.stepwise.fit_stepwise`; None: the rows.

    Returns
    -------
    list of SweepResult
        One per model; ``result`` is a
        :class:`~daskmix._em.stepwise.StepwiseResult`.
    """
    random_state = check_random_state(random_state)
    n_samples = data.n_samples
    max_steps = math.ceil(max_iter * n_samples / batch_size)
    smoothing = smoothing_weight(batch_size, n_samples)
    runs: list[tuple[int, StepwiseState]] = []
    errors: dict[int, str] = {}
    min_start_rows = max(start_rows(model, data) for model in models)
    for restart in range(n_init):
        sample = init_sample(data, batch_size, random_state, min_start_rows)
        warm_rows = warm_up_rows(data, batch_size, random_state) if max_steps else None
        for index, model in enumerate(models):
            try:
                state = StepwiseState(
                    model.initialize(sample, random_state, restart=restart),
                    n_rows=float(n_samples if n_rows is None else n_rows),
                )
                if warm_rows is not None:
                    warm_up_from(model, state, warm_rows)
            except (ValueError, linalg.LinAlgError) as exc:
                errors.setdefault(index, str(exc))
                continue
            runs.append((index, state))
    going = list(runs)
    stopped: set[int] = set()
    pending: list[tuple[np.ndarray, ...]] = []
    while going:
        if not pending:
            pending = next_batches(
                data, config.get("minibatch.prefetch-batches"), batch_size, random_state
            )[::-1]
        batch = batch_blocks(pending.pop())
        for position, (index, state) in enumerate(going):
            try:
                stepwise_update(models[index], state, batch, schedule, smoothing)
            except (ValueError, linalg.LinAlgError) as exc:
                errors.setdefault(index, str(exc))
                stopped.add(position)
                continue
            out_of_steps = state.n_steps >= max_steps
            if out_of_steps or (
                schedule.max_no_improvement is not None
                and state.no_improvement >= schedule.max_no_improvement
            ):
                stopped.add(position)
        going = [run for i, run in enumerate(going) if i not in stopped]
        stopped.clear()
    results = []
    for index in range(len(models)):
        best: StepwiseResult | None = None
        for _, state in (run for run in runs if run[0] == index):
            converged = state.n_steps < max_steps
            n_iter = math.ceil(state.n_steps * batch_size / n_samples)
            result = StepwiseResult(state, state.smoothed, n_iter, converged)
            if best is None or result.lower_bound > best.lower_bound:
                best = result
        results.append(SweepResult(best, None if best else errors.get(index)))
    return results
