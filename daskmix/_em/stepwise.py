"""Stepwise (mini-batch) EM: the drivers of a minibatch fit and of ``partial_fit``.

Stepwise EM (Cappé & Moulines 2009) keeps running statistics
``s <- (1 - eta_t) s + eta_t s_B`` and re-derives the parameters after every
mini-batch. The run (:class:`~daskmix._em.run.EMRun` with a
:class:`~daskmix._em.run.StepwiseRule`) owns the update, the smoothed lower
bound and the stopping rule; this module draws what it steps on: the sample a
start runs on, the rows the running statistics start from (the warm-up), and
the batches.

Row weights (``sample_weight``) travel as the data's ``weight`` array and
the model's kernel returns weighted sums, with ``n_rows`` the batch's summed
weight. A batch's statistics are divided by that summed weight, so a
weighted batch makes the update its rows repeated by their (integer) weights
would make.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from typing import Any

import numpy as np

from .. import config
from .._engine.batches import next_batches, read_pooled
from .._engine.rows import RowBlocks
from .model import MixtureModel
from .progress import run_report
from .run import (
    EMResult,
    EMRun,
    StepSchedule,
    StepwiseRule,
    StepwiseState,
    best_result,
    blas_single_threaded,
    run_pass,
    score_exactly,
    warn_outcome,
)


def smoothing_weight(batch_rows: int, n_samples: int | None) -> float:
    """``1 / window`` of the smoothed lower bound (a moving mean of batches).

    ``2 |B| / (N + 1)`` (scikit-learn's ``MiniBatchKMeans`` weight: about half
    a pass) when that is larger than ``daskmix.minibatch.min-smoothing``, else
    that (0.1: a mean over 10 steps, so that the stopping rule
    reacts within tens of steps on large data); ``n_samples=None`` (a stream,
    ``partial_fit``) gives the minimum. A moving mean rather than an
    exponential one: the first batches' log-likelihoods under a poor start can
    be thousands of nats low, and an exponential average would carry them
    (and report false progress) for hundreds of steps.
    """
    least = config.get("minibatch.min-smoothing")
    if n_samples is None:
        return least
    return float(min(1.0, max(least, 2.0 * batch_rows / (n_samples + 1))))


def fit_rule(
    schedule: StepSchedule, batch_size: int, n_samples: int, max_iter: int
) -> StepwiseRule:
    """The rule of a minibatch fit: ``max_iter`` passes' worth of batches at most."""
    return StepwiseRule(
        schedule,
        smoothing_weight(batch_size, n_samples),
        max_batches=math.ceil(max_iter * n_samples / batch_size),
        batch_size=batch_size,
        n_samples=n_samples,
    )


def warmup_batches(batch_size: int) -> int:
    """Batches of a warm-up or start sample: enough for the configured rows."""
    n_batches = config.get("minibatch.warmup-batches")
    return max(
        n_batches, math.ceil(config.get("minibatch.warmup-min-rows") / batch_size)
    )


def warm_up_rows(
    data: RowBlocks,
    batch_size: int,
    random_state: np.random.RandomState,
) -> RowBlocks:
    """The rows a stepwise run's running statistics start from.

    ``max(warmup-batches, ceil(warmup-min-rows / batch_size))`` (the
    ``daskmix.minibatch`` config keys) batches drawn
    as the training batches are (all rows when that is the whole dataset).
    With weighted ``data`` (a ``weight`` array) the rows of non-zero weight
    are what count: when the draw holds fewer than ``warmup-min-rows``
    of them, it is drawn again, larger in proportion (all rows when that
    would be the whole dataset), so that mostly-zero weights do not start
    the running statistics from a handful of rows.
    """
    n_batches = warmup_batches(batch_size)
    if n_batches * batch_size >= data.n_samples:
        return data
    rows = read_pooled(data, n_batches, batch_size, random_state)
    if data.weight is not None:
        n_positive = np.count_nonzero(rows["weight"])
        min_rows = config.get("minibatch.warmup-min-rows")
        if n_positive < min_rows:
            n_batches = math.ceil(n_batches * min_rows / max(n_positive, 1))
            if n_batches * batch_size >= data.n_samples:
                return data
            rows = read_pooled(data, n_batches, batch_size, random_state)
    return batch_blocks(rows)


def warm_up(run: EMRun, rows: RowBlocks) -> None:
    """Start ``run``'s running statistics from a pass over ``rows`` (see
    :meth:`~daskmix._em.run.EMRun.warm_up`)."""
    run.warm_up(run_pass(run.model, rows, run.params), rows.dtype)


def init_sample(
    data: RowBlocks,
    batch_size: int,
    random_state: np.random.RandomState,
    min_weighted_rows: int = 0,
) -> RowBlocks:
    """Rows to initialise a stepwise fit on: a few batches' worth, or all rows.

    ``max(warmup-batches, ceil(warmup-min-rows / batch_size))`` (the
    ``daskmix.minibatch`` config keys) batches, each
    drawn as a training batch is (:func:`~daskmix._engine.batches.draw_batches`:
    rows of many randomly chosen blocks), so that the sample spans many blocks
    of sorted data; duplicates are dropped.
    Every array of ``data`` (X and y, and the row weights) is sampled.
    Model-agnostic: a model's ``initialize`` runs its usual initialiser on
    this sample instead of on the whole dataset.

    Parameters
    ----------
    data : RowBlocks
    batch_size : int
    random_state : RandomState
    min_weighted_rows : int
        For weighted ``data`` (a ``weight`` array), the rows of non-zero weight
        the sample must hold (:func:`start_rows`); with fewer (weights mostly
        zero) the start gets ``data`` itself, as the batch fit's does, whose
        weighted starts sample it with its weights and fall back to rows drawn
        in proportion to their weights. 0: unweighted.

    Returns
    -------
    RowBlocks
        numpy blocks of about ``n_batches * batch_size`` rows, or ``data``
        itself when that would be all of it.
    """
    n_batches = warmup_batches(batch_size)
    if n_batches * batch_size >= data.n_samples:
        return data
    rows = read_pooled(data, n_batches, batch_size, random_state, unique=True)
    if min_weighted_rows and np.count_nonzero(rows["weight"]) < min_weighted_rows:
        return data
    return batch_blocks(rows)


def start_rows(model: MixtureModel, data: RowBlocks) -> int:
    """Rows of non-zero weight a weighted start's sample needs (0: unweighted).

    ``daskmix.minibatch.weighted-start-rows-per-component`` per component: a
    start on a handful of weighted rows (a sample of mostly zero weights) can
    place a broad component over several clusters, which stepwise EM, moving
    by small steps, does not undo.
    """
    if data.weight is None:
        return 0
    per_component = config.get("minibatch.weighted-start-rows-per-component")
    return per_component * int(getattr(model, "n_components", 1))


def batch_blocks(arrays: dict[str, np.ndarray]) -> RowBlocks:
    """A numpy mini-batch as row blocks of a fixed size (core-count independent)."""
    return RowBlocks(arrays, block_rows=config.get("minibatch.block-rows"))


def prefetch(data: RowBlocks, n_batches: int, batch_size: int, random_state):
    """The next ``n_batches`` mini-batches (read together), in the order to use."""
    return [
        batch_blocks(arrays)
        for arrays in next_batches(data, n_batches, batch_size, random_state)
    ][::-1]


def _batches(data: RowBlocks, run: EMRun, batch_size: int, random_state):
    """Mini-batches for ``run``, drawn a few at a time, never past its last."""
    pending: list[RowBlocks] = []
    while True:
        if not pending:
            n_draw = min(
                config.get("minibatch.prefetch-batches"),
                run.rule.max_batches - run.state.n_batches,
            )
            pending = prefetch(data, n_draw, batch_size, random_state)
        yield pending.pop()


def clip_batch_size(batch_size: int, n_samples: int) -> int:
    """``batch_size``, or ``n_samples`` with a UserWarning when it is larger."""
    if batch_size <= n_samples:
        return batch_size
    warnings.warn(
        f"batch_size={batch_size} is larger than n_samples={n_samples}; "
        f"using batch_size={n_samples}.",
        UserWarning,
        stacklevel=4,
    )
    return n_samples


@blas_single_threaded
def fit_stepwise(
    model: MixtureModel,
    data: RowBlocks,
    *,
    batch_size: int,
    schedule: StepSchedule,
    n_init: int,
    max_iter: int,
    random_state: np.random.RandomState,
    verbose: int = 0,
    verbose_interval: int = 10,
    warm_params: Any = None,
    n_rows: float | None = None,
) -> EMResult:
    """Stepwise (mini-batch) EM with restarts, model-agnostic.

    Each run starts from ``model.initialize`` on a sample of rows
    (:func:`init_sample`) and warms up its running statistics on more rows
    (:func:`warm_up_rows`). Each step draws a mini-batch of random rows
    (:func:`~daskmix._engine.batches.draw_batches`), runs a pass on it under
    the current parameters, and makes one stepwise update
    (:meth:`~daskmix._em.run.EMRun.step`). Batches are drawn and read
    ``daskmix.minibatch.prefetch-batches`` at a time (one ``compute`` for dask
    input; each batch has windows of its own); which rows a batch holds
    depends only on ``random_state`` and the chunking, so threads and a
    cluster give the same model.

    Parameters
    ----------
    model : MixtureModel
    data : RowBlocks
        The training data.
    batch_size : int
        Rows per step, at most ``data.n_samples``.
    schedule : StepSchedule
    n_init : int
        Restarts, each from ``model.initialize`` on a fresh sample; with more
        than one, the runs are compared by their exact mean log-likelihood,
        from one shared full pass (:func:`~daskmix._em.run.score_exactly`), and
        the best is kept (:func:`~daskmix._em.run.better_run`). Ignored (one
        run) with ``warm_params``.
    max_iter : int
        Passes' worth of steps at most: ``ceil(max_iter * N / batch_size)``
        steps (scikit-learn's ``MiniBatchKMeans`` meaning). 0 returns the
        start.
    random_state : RandomState
        Shared by the starts and the batch draws, in order.
    verbose, verbose_interval : int
        scikit-learn's verbose messages, counting steps.
    warm_params : object, optional
        Parameters to continue from (``warm_start``): a fresh schedule from
        these parameters.
    n_rows : float, optional
        What the running statistics stand for, in rows: the summed weight of
        weighted data (``data.weight``; the batch fit's statistics sum to
        it). Default: ``data.n_samples``.

    Returns
    -------
    EMResult
        The best run; ``n_iter`` is the number of passes' worth of batches
        (``ceil(n_batches * batch_size / N)``; batches of zero weight are
        drawn but skipped). A ConvergenceWarning is emitted when it stopped
        at ``max_iter``.
    """
    report = run_report(verbose, verbose_interval, batch_size)
    rule = fit_rule(schedule, batch_size, data.n_samples, max_iter)
    stands_for = float(data.n_samples if n_rows is None else n_rows)
    runs = []
    for init in range(n_init if warm_params is None else 1):
        if report is not None:
            report.run_begin(init)
        if warm_params is None:
            sample = init_sample(
                data, batch_size, random_state, start_rows(model, data)
            )
            params = model.initialize(sample, random_state, restart=init)
        else:
            params = warm_params
        run = EMRun(model, params, rule, n_rows=stands_for)
        if not run.done:
            warm_up(run, warm_up_rows(data, batch_size, random_state))
        run.run_on(_batches(data, run, batch_size, random_state), report)
        if report is not None:
            report.run_end(run)
        runs.append(run)
    if len(runs) > 1:
        score_exactly([runs], data)
    best = best_result(run.result() for run in runs)
    warn_outcome(model, best, max_iter)
    return best


def stepwise_update(
    model: MixtureModel,
    state: StepwiseState,
    batch: RowBlocks,
    schedule: StepSchedule,
    smoothing: float,
    count_rows: bool = False,
) -> StepwiseState:
    """One stepwise EM update on the rows of ``batch``; updates ``state``.

    ``s <- (1 - eta_t) s + eta_t s_B / |B|`` with ``s_B`` the batch statistics
    under the current parameters, then ``params <- m_step(s)``, then the
    running statistics are moved into the frame of the new parameters. The
    design's ``(N / |B|) s_B`` is this update multiplied by ``N``; keeping
    per-row averages works for a stream of unknown length, and the M-step
    sees them scaled to ``state.n_rows``.

    With row weights ``|B|`` is the batch's summed weight (the weighted
    kernel's ``n_rows``) and ``N`` the data's: ``s_B / |B|`` is then exactly
    the per-row average of the batch with its rows repeated by their integer
    weights, so ``partial_fit`` with weights equals ``partial_fit`` on the
    repeated rows call after call, and without weights nothing changes. (The
    alternative, dividing weighted sums by the batch's row count, is unbiased
    for uniform draws but gives each batch an influence that follows its
    total weight, so it is not the update of the repeated rows.) In a
    minibatch fit the ratio ``s_B / |B|`` estimates the weighted per-row
    average ``S / W`` with a bias of order ``1 / batch_size``, small beside
    the steps' own noise. A batch of zero total weight carries no rows: it is
    skipped (no update, no step, no lower bound; ``n_batches`` counts it).

    Parameters
    ----------
    model : MixtureModel
    state : StepwiseState
        Modified in place and returned. Its ``dtype`` must be the batch's
        (the caller re-frames the running statistics when it changes).
    batch : RowBlocks
        The mini-batch (numpy blocks run on the client's threads; a dask
        batch, e.g. in ``partial_fit``, runs on dask's scheduler).
    schedule : StepSchedule
    smoothing : float
        ``1 / window`` of the moving mean that smooths the lower bound.
    count_rows : bool
        Add the batch's rows (summed weight) to ``state.n_rows`` (``partial_fit``:
        the rows seen so far).

    Returns
    -------
    StepwiseState
    """
    rule = StepwiseRule(schedule, smoothing, count_rows=count_rows)
    EMRun(model, state.params, rule, state=state).iterate(batch)
    return state


def partial_step(
    model: MixtureModel,
    state: StepwiseState,
    data: RowBlocks,
    schedule: StepSchedule,
) -> EMResult:
    """``partial_fit``'s update: one stepwise step on ``data``, from ``state``.

    ``state`` is left as it was: the step works on a copy, so that an error
    or an interrupt anywhere in it (the pass, the M-step) leaves the caller's
    running statistics and counts unchanged. Running statistics taken on
    blocks of another dtype are first moved into this dtype's frame (the
    frame's shift is rounded to the block dtype). The rows seen so far grow by
    the batch's rows (summed weight); ``max_no_improvement`` does not apply:
    the caller decides when to stop.

    Returns
    -------
    EMResult
        ``n_iter`` is the number of updates so far, ``converged`` False, and
        ``state`` the new state.
    """
    state = state.copy()
    if state.stats is not None and state.dtype != data.dtype:
        state.stats = model.reframe(
            state.stats,
            model.frame(state.params, state.dtype),
            model.frame(state.params, data.dtype),
        )
    state.dtype = data.dtype
    rule = StepwiseRule(
        replace(schedule, max_no_improvement=None),
        smoothing_weight(1, None),
        count_rows=True,
    )
    run = EMRun(model, state.params, rule, state=state)
    run.iterate(data)
    return run.result()
