"""Stepwise (mini-batch) EM, model-agnostic: updates, warm-up, restarts.

Stepwise EM (Cappé & Moulines 2009) keeps running statistics
``s <- (1 - eta_t) s + eta_t s_B`` and re-derives the parameters after every
mini-batch; this module owns the schedule, the batch draws, the smoothed lower
bound, the stopping rule and ``n_init`` selection for every model.

Row weights (``sample_weight``) travel as the data's last array and the
model's kernel returns weighted sums (the rows' ``weight`` array), with
``n_rows`` the batch's summed weight. A batch's statistics are divided by
that summed weight (:func:`stepwise_update`), so a weighted batch makes the
update its rows repeated by their (integer) weights would make.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .. import config
from .._engine.batches import next_batches, read_pooled
from .._engine.combined_pass import shared_pass
from .._engine.rows import RowBlocks
from .._engine.stats import Stats
from .batch import _VerbosePrinter, blas_single_threaded, run_pass
from .model import MixtureModel


@dataclass(frozen=True)
class StepSchedule:
    """Step sizes ``eta_t = (t + t0)^-kappa`` and the stopping rule.

    Attributes
    ----------
    learning_offset : float
        ``t0 >= 0``; larger values make the early steps smaller.
    learning_decay : float
        ``kappa`` in (0.5, 1]: the sum of the steps diverges and the sum of
        their squares converges, the conditions under which stepwise EM
        converges (Cappé & Moulines 2009).
    max_no_improvement : int or None
        Stop after this many consecutive steps in which the smoothed lower
        bound did not exceed its best value by more than ``tol``. None: run
        ``max_iter`` passes' worth of steps.
    tol : float
    """

    learning_offset: float = 1.0
    learning_decay: float = 0.75
    max_no_improvement: int | None = 20
    tol: float = 1e-3

    def step_size(self, step: int) -> float:
        """``eta`` of update number ``step`` (1-based), at most 1."""
        if step + self.learning_offset <= 1.0:
            return 1.0
        return float((step + self.learning_offset) ** -self.learning_decay)


@dataclass
class StepwiseState:
    """Where a stepwise fit stands: enough to continue it (``partial_fit``).

    Attributes
    ----------
    params : object
        Current parameters.
    stats : Stats or None
        Running statistics, per-row averages, in the frame of ``params`` for
        blocks of ``dtype``; None before the first update.
    dtype : numpy dtype or None
        The dtype of the blocks the running statistics' frame is rounded to.
    n_rows : float
        Rows the running statistics stand for: the M-step sees them scaled
        to this many rows (``n_samples`` for a fit; rows seen so far for
        ``partial_fit``), which matters to penalties that do not scale with
        the data (RegressionMixture's ``reg_weights``). With row weights, the
        summed weight (of the data, or seen so far), as the batch fit's
        statistics sum to it.
    n_steps : int
        Updates done.
    n_batches : int
        Batches offered to :func:`stepwise_update`: ``n_steps`` plus the
        batches of zero total weight it skipped.
    smoothed : float
        Mean of the batch mean log-likelihoods (each under the parameters that
        entered its step) over the last few steps; -inf before the first.
    recent : list of float
        Those batch mean log-likelihoods, newest last.
    best : float
        Best ``smoothed`` so far (for the stopping rule).
    no_improvement : int
        Consecutive steps without progress.
    lower_bounds : list of float
        ``smoothed`` after every step.
    """

    params: Any
    stats: Stats | None = None
    dtype: Any = None
    n_rows: float = 0.0
    n_steps: int = 0
    n_batches: int = 0
    smoothed: float = -np.inf
    recent: list[float] = field(default_factory=list)
    best: float = -np.inf
    no_improvement: int = 0
    lower_bounds: list[float] = field(default_factory=list)


@dataclass
class StepwiseResult:
    """Outcome of :func:`fit_stepwise` (the best run)."""

    state: StepwiseState
    lower_bound: float
    n_iter: int
    converged: bool

    @property
    def params(self) -> Any:
        return self.state.params


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


def warmup_batches(batch_size: int) -> int:
    """Batches of a warm-up or start sample: enough for the configured rows."""
    n_batches = config.get("minibatch.warmup-batches")
    return max(
        n_batches, math.ceil(config.get("minibatch.warmup-min-rows") / batch_size)
    )


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
        Add the batch's rows (summed weight) to ``state.n_rows`` before the
        M-step (``partial_fit``: the rows seen so far).

    Returns
    -------
    StepwiseState
    """
    batch_stats = run_pass(model, batch, state.params)
    n_rows = float(batch_stats["n_rows"])
    state.n_batches += 1
    if not n_rows > 0.0:
        return state
    if count_rows:
        state.n_rows += n_rows
    step = state.n_steps + 1
    eta = schedule.step_size(step)
    if state.stats is None or eta >= 1.0:
        # nothing to average with (first partial_fit call), or t + t0 <= 1
        running = batch_stats.scale(1.0 / n_rows)
    else:
        running = state.stats.scale(1.0 - eta) + batch_stats.scale(eta / n_rows)
    frame = model.frame(state.params, batch.dtype)
    new_params = model.m_step(
        running.scale(max(state.n_rows, n_rows)), state.params, frame
    )
    running = model.reframe(running, frame, model.frame(new_params, batch.dtype))
    batch_bound = model.batch_bound(
        batch_stats, state.params, max(state.n_rows, n_rows)
    )
    window = max(1, round(1.0 / smoothing))
    state.recent = [*state.recent, batch_bound][-window:]
    smoothed = float(np.mean(state.recent))
    if smoothed > state.best + schedule.tol:
        state.best = smoothed
        state.no_improvement = 0
    else:
        state.best = max(state.best, smoothed)
        state.no_improvement += 1
    state.params = new_params
    state.stats = running
    state.dtype = batch.dtype
    state.n_steps = step
    state.smoothed = smoothed
    state.lower_bounds.append(smoothed)
    return state


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


def warm_up_from(
    model: MixtureModel, state: StepwiseState, rows: RowBlocks
) -> StepwiseState:
    """Start the running statistics from ``rows`` under the initial params.

    Without this the first update would have nothing to average with and
    would take one batch's statistics whole (``eta = 1``): a component absent
    from that batch (sorted data, small batches) would get no mass and a
    ``reg_covar``-sized covariance, and never recover. The warm-up counts as
    no step, and its mean log-likelihood seeds the smoothed lower bound.
    Rows of zero total weight leave the state as it was (the first update
    then takes its batch whole).
    """
    stats = run_pass(model, rows, state.params)
    n_rows = float(stats["n_rows"])
    if not n_rows > 0.0:
        return state
    state.stats = stats.scale(1.0 / n_rows)
    state.dtype = rows.dtype
    state.smoothed = state.best = model.batch_bound(
        stats, state.params, max(state.n_rows, n_rows)
    )
    state.recent = [state.smoothed]
    return state


def warm_up(
    model: MixtureModel,
    state: StepwiseState,
    data: RowBlocks,
    batch_size: int,
    random_state: np.random.RandomState,
) -> StepwiseState:
    """:func:`warm_up_from` the rows of :func:`warm_up_rows`."""
    rows = warm_up_rows(data, batch_size, random_state)
    return warm_up_from(model, state, rows)


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


def schedule_of(estimator) -> StepSchedule:
    """The step-size schedule of an estimator's minibatch parameters."""
    return StepSchedule(
        learning_offset=estimator.learning_offset,
        learning_decay=estimator.learning_decay,
        max_no_improvement=estimator.max_no_improvement,
        tol=estimator.tol,
    )


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


def check_first_batch(n_samples: int, n_components: int) -> None:
    """The first ``partial_fit`` call initialises: it needs K rows at least."""
    if n_samples < n_components:
        raise ValueError(
            "The first call to partial_fit initialises the model and needs "
            f"n_samples >= n_components; got n_components = {n_components}, "
            f"n_samples = {n_samples}"
        )


def record_stepwise(
    estimator, state: StepwiseState, lower_bound: float, n_iter: int, converged: bool
) -> None:
    """Set the fitted attributes a stepwise fit or ``partial_fit`` shares.

    The parameters themselves are the model's to set; ``_stepwise_state``
    lets a later ``partial_fit`` continue the running statistics.
    """
    estimator.converged_ = converged
    estimator.n_iter_ = n_iter
    estimator.n_steps_ = state.n_steps
    estimator.lower_bound_ = lower_bound
    estimator.lower_bounds_ = list(state.lower_bounds)
    estimator._stepwise_state = state


def _best_run(
    model: MixtureModel, runs: list[StepwiseResult], data: RowBlocks, exact: bool
) -> StepwiseResult:
    """The restart to keep: the largest lower bound.

    With ``exact``, every run's final parameters are scored in one shared full
    pass and compared by their exact mean log-likelihood, which then becomes
    the run's ``lower_bound``: a smoothed bound is a moving mean of batches
    under changing parameters, biased by up to several nats when a small,
    distant cluster is missed, and must not decide between restarts.
    """
    if exact and max(run.state.n_steps for run in runs) > 0:
        # (weighted data: the weighted scorer's loglik / n_rows is the
        # weighted mean log-likelihood)
        entries = [
            (
                model.score_kernel,
                model.plan(run.params, data.dtype),
                model.tile_rows(data.n_features),
            )
            for run in runs
        ]
        for run, stats in zip(runs, shared_pass(entries, data)):
            run.lower_bound = float(stats["loglik"] / stats["n_rows"])
    best = runs[0]
    for run in runs[1:]:
        if run.lower_bound > best.lower_bound or best.lower_bound == -np.inf:
            best = run
    return best


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
) -> StepwiseResult:
    """Stepwise (mini-batch) EM with restarts, model-agnostic.

    Each run starts from ``model.initialize`` on a sample of rows
    (:func:`init_sample`). Each step draws a mini-batch of random rows
    (:func:`~daskmix._engine.batches.draw_batches`), runs a pass on it under the
    current parameters, and makes one :func:`stepwise_update`. Batches are
    drawn and read ``daskmix.minibatch.prefetch-batches`` at a time (one ``compute`` for
    dask input; each batch has windows of its own);
    which rows a batch holds depends only on ``random_state`` and the
    chunking, so threads and a cluster give the same model.

    Parameters
    ----------
    model : MixtureModel
    data : RowBlocks
        The training data.
    batch_size : int
        Rows per step, at most ``data.n_samples``.
    schedule : StepSchedule
    n_init : int
        Restarts, each from ``model.initialize`` on a fresh sample; the run
        with the largest final lower bound is kept. With more than one, the
        runs are compared by their exact mean log-likelihood, from one shared
        full pass (:func:`_best_run`). Ignored (one run) with ``warm_params``.
    max_iter : int
        Passes' worth of steps at most: ``ceil(max_iter * N / batch_size)``
        steps (scikit-learn's ``MiniBatchKMeans`` meaning). 0 returns the
        initialisation.
    random_state : RandomState
        Shared by the initialisations and the batch draws, in order.
    warm_params : object, optional
        Parameters to continue from (``warm_start``): a fresh schedule
        (running statistics start from the first batch) from these parameters.
    n_rows : float, optional
        What the running statistics stand for, in rows: the summed weight of
        weighted data (``data.weight``; the batch fit's statistics sum to
        it). Default: ``data.n_samples``.

    Returns
    -------
    StepwiseResult
        The best run; ``n_iter`` is the number of passes' worth of batches
        (``ceil(n_batches * batch_size / N)``; batches of zero weight are
        drawn but skipped). A ConvergenceWarning is emitted
        when it stopped at ``max_iter``.
    """
    printer = _VerbosePrinter(verbose, verbose_interval)
    n_samples = data.n_samples
    max_steps = math.ceil(max_iter * n_samples / batch_size)
    smoothing = smoothing_weight(batch_size, n_samples)
    do_init = warm_params is None
    runs: list[StepwiseResult] = []
    for init in range(n_init if do_init else 1):
        printer.init_begin(init)
        if do_init:
            sample = init_sample(
                data, batch_size, random_state, start_rows(model, data)
            )
            params = model.initialize(sample, random_state, restart=init)
        else:
            params = warm_params
        state = StepwiseState(
            params, n_rows=float(n_samples if n_rows is None else n_rows)
        )
        if max_steps > 0:
            warm_up(model, state, data, batch_size, random_state)
        converged = False
        pending: list[tuple[np.ndarray, ...]] = []
        while state.n_batches < max_steps:
            if not pending:
                n_draw = min(
                    config.get("minibatch.prefetch-batches"),
                    max_steps - state.n_batches,
                )
                pending = next_batches(data, n_draw, batch_size, random_state)[::-1]
            previous, steps = state.smoothed, state.n_steps
            stepwise_update(
                model, state, batch_blocks(pending.pop()), schedule, smoothing
            )
            if state.n_steps == steps:
                continue  # a batch of zero weight: skipped
            printer.iter_end(state.n_steps, state.smoothed - previous, state.smoothed)
            if (
                schedule.max_no_improvement is not None
                and state.no_improvement >= schedule.max_no_improvement
            ):
                converged = True
                break
        lower_bound = state.smoothed
        printer.init_end(lower_bound, converged)
        n_iter = math.ceil(state.n_batches * batch_size / n_samples)
        runs.append(StepwiseResult(state, lower_bound, n_iter, converged))
    best = _best_run(model, runs, data, exact=len(runs) > 1)
    if not best.converged and max_iter > 0:
        warnings.warn(
            "Stepwise EM stopped at max_iter passes before the smoothed lower "
            "bound stopped improving. Increase max_iter, or lower "
            "max_no_improvement.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return best
