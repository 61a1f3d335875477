"""One EM run: its start, its steps from statistics, its end; and the choice of run.

Every driver steps :class:`EMRun` objects: batch EM
(:func:`~daskmix._em.batch.fit_em`), stepwise EM
(:func:`~daskmix._em.stepwise.fit_stepwise`, and ``partial_fit``'s
:func:`~daskmix._em.stepwise.partial_step`) and the model-selection sweep
(:mod:`daskmix._em.sweep`), which steps many runs from shared passes. A driver
decides where a run's statistics come from (a pass over all the data, over a
mini-batch, or one pass shared by many runs) and hands them to
:meth:`EMRun.step`; the run owns the rest, so that every driver has the same
semantics:

* the step: the M-step from the statistics and the lower bound of the
  iteration, under the parameters that *entered* it (scikit-learn's); for
  stepwise EM also the running statistics, their change of frame and the
  smoothed bound;
* the end: ``abs(change) < tol`` or ``max_iter`` iterations (batch);
  ``max_no_improvement`` steps without progress or ``max_iter`` passes' worth
  of batches (stepwise);
* the choice among ``n_init`` runs (:func:`best_result`): the largest final
  lower bound, except that a run whose components collapsed never beats one
  without (:func:`better_run`); stepwise runs are compared by their exact
  mean log-likelihood (:func:`score_exactly`).

Runs return :class:`EMResult` objects; only the estimator
(:class:`~daskmix._estimator.base.BaseMixture`) turns one into fitted
attributes. The settings of a fit are an :class:`EMJob`, which the estimator
builds the same way for a lone fit (it hands them to ``fit_em`` or
``fit_stepwise``) and for each of a selector's candidates (the sweep takes
the jobs).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import linalg
from sklearn.exceptions import ConvergenceWarning

from .._engine.combined_pass import shared_pass
from .._engine.rows import RowBlocks, one_blas_thread
from .._engine.stats import Stats
from .model import MixtureModel

# ---------------------------------------------------------------- settings


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


@dataclass(frozen=True)
class EMJob:
    """What one fit asks of EM, as the estimator's parameters say.

    Built by :meth:`~daskmix._estimator.base.BaseMixture._em_job` for a lone
    fit and for every candidate of a selector alike.

    Attributes
    ----------
    model : MixtureModel
    n_init : int
        Restarts (one run when ``warm_params`` is given).
    max_iter : int
        Iterations (batch) or passes' worth of steps (stepwise) at most.
    tol : float
        Convergence threshold on the change of the lower bound (batch).
    random_state : RandomState
        Drawn from by the starts and the mini-batch draws, in order.
    verbose, verbose_interval : int
        scikit-learn's verbose messages.
    warm_params : object, optional
        Parameters to continue from (``warm_start``).
    warm_lower_bound : float
        Their lower bound (batch EM measures the first change against it).
    batch_size : int or None
        Stepwise EM on mini-batches of this many rows; None: batch EM.
    schedule : StepSchedule or None
        Stepwise EM's step sizes and stopping rule.
    n_rows : float or None
        Rows the running statistics stand for: the summed weight of weighted
        data; None: the number of rows.
    """

    model: MixtureModel
    n_init: int
    max_iter: int
    tol: float
    random_state: np.random.RandomState
    verbose: int = 0
    verbose_interval: int = 10
    warm_params: Any = None
    warm_lower_bound: float = -np.inf
    batch_size: int | None = None
    schedule: StepSchedule | None = None
    n_rows: float | None = None


@dataclass(frozen=True)
class BatchRule:
    """When a batch EM run ends: ``abs(change) < tol``, or ``max_iter`` steps."""

    max_iter: int
    tol: float


@dataclass(frozen=True)
class StepwiseRule:
    """Stepwise EM's step sizes, smoothing and end.

    Attributes
    ----------
    schedule : StepSchedule
    smoothing : float
        ``1 / window`` of the moving mean that smooths the lower bound.
    max_batches : float
        Batches offered at most (``ceil(max_iter * N / batch_size)``; infinite
        for ``partial_fit``, whose caller decides when to stop).
    count_rows : bool
        Add each batch's rows (summed weight) to the rows the running
        statistics stand for (``partial_fit``: the rows seen so far).
    batch_size, n_samples : int or None
        Give ``n_iter`` as passes' worth of batches; None (``partial_fit``):
        ``n_iter`` is the number of updates.
    """

    schedule: StepSchedule
    smoothing: float
    max_batches: float = math.inf
    count_rows: bool = False
    batch_size: int | None = None
    n_samples: int | None = None


@dataclass
class StepwiseState:
    """Where a stepwise run stands: enough to continue it (``partial_fit``).

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
        Batches offered: ``n_steps`` plus the batches of zero total weight
        that were skipped.
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

    def copy(self) -> StepwiseState:
        """An independent copy (statistics and parameters are never mutated)."""
        return replace(
            self, recent=list(self.recent), lower_bounds=list(self.lower_bounds)
        )


@dataclass
class EMResult:
    """Outcome of an EM run: what the estimator turns into fitted attributes.

    Attributes
    ----------
    params : object
        The fitted parameters.
    lower_bound : float
        The final lower bound (stepwise: the smoothed bound, or the exact
        mean log-likelihood when restarts were compared by it).
    lower_bounds : list of float
        The lower bound after every iteration (stepwise: every step).
    n_iter : int
        Iterations; stepwise fits: passes' worth of batches; ``partial_fit``:
        updates.
    converged : bool
    degenerate : list of int
        Collapsed components (:meth:`MixtureModel.degenerate`).
    state : StepwiseState or None
        Stepwise runs: where the run stands, for ``partial_fit`` to continue.
    n_steps : int
        Stepwise updates of the run (0 for batch EM).
    """

    params: Any
    lower_bound: float
    lower_bounds: list[float] = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    degenerate: list[int] = field(default_factory=list)
    state: StepwiseState | None = None
    n_steps: int = 0


# --------------------------------------------------------------------- the run


class EMRun:
    """One EM run of one model: its parameters, its steps, its end.

    Parameters
    ----------
    model : MixtureModel
    params : object
        The start (or the parameters a warm start continues from).
    rule : BatchRule or StepwiseRule
        Batch or stepwise EM, and when the run ends.
    lower_bound : float, default=-inf
        Batch EM: the bound the first change is measured against (a warm
        start's fitted bound).
    state : StepwiseState, optional
        Stepwise EM: where to continue from (``partial_fit``); by default a
        fresh state at ``params`` standing for ``n_rows`` rows.
    n_rows : float, default=0.0
        Stepwise EM: rows the running statistics stand for.

    Attributes
    ----------
    params : object
        Current parameters.
    lower_bound : float
        Batch: the lower bound of the last iteration. Stepwise: the smoothed
        bound.
    lower_bounds : list of float
        ``lower_bound`` after every step.
    n_iter : int
        Steps taken (batch: iterations; stepwise: updates).
    change : float
        Change of the lower bound in the last step (NaN before the first).
    done, converged : bool
    state : StepwiseState or None
        Stepwise EM: the running statistics and the schedule's position.
    error : str or None
        Why the run failed (the model-selection sweep records it); None.
    """

    def __init__(
        self,
        model: MixtureModel,
        params: Any,
        rule: BatchRule | StepwiseRule,
        *,
        lower_bound: float = -np.inf,
        state: StepwiseState | None = None,
        n_rows: float = 0.0,
    ):
        self.model = model
        self.rule = rule
        self.stepwise = isinstance(rule, StepwiseRule)
        self.state = None
        if self.stepwise:
            if state is None:
                state = StepwiseState(params, n_rows=n_rows)
            self.state = state
            params, lower_bound = state.params, state.smoothed
        self.params = params
        self.lower_bound = lower_bound
        self.lower_bounds: list[float] = state.lower_bounds if self.stepwise else []
        self.n_iter = state.n_steps if self.stepwise else 0
        self.stats: Stats | None = None
        self.change = np.nan
        self.converged = False
        self.error: str | None = None
        self.exact_lower_bound: float | None = None
        self._entry: tuple[int, Any, int] | None = None
        self.done = self._out_of_steps()

    def _out_of_steps(self) -> bool:
        if self.stepwise:
            return self.state.n_batches >= self.rule.max_batches
        return self.n_iter >= self.rule.max_iter

    # ---------------------------------------------------------------- passes
    def pass_entry(self, data: RowBlocks) -> tuple[Any, Any, int]:
        """``(kernel, plan, tile_rows)`` of the next pass over ``data``."""
        if self._entry is None or self._entry[0] != data.n_features:
            model = self.model
            self._entry = (
                data.n_features,
                model.kernel,
                model.tile_rows(data.n_features),
            )
        _, kernel, tile_rows = self._entry
        return kernel, self.model.plan(self.params, data.dtype), tile_rows

    def pass_over(self, data: RowBlocks) -> Stats:
        """The statistics of one pass over ``data`` under :attr:`params`, unchecked."""
        kernel, plan, tile_rows = self.pass_entry(data)
        return data.map_reduce(kernel, plan, tile_rows, name=self.model.name)

    def iterate(self, data: RowBlocks) -> None:
        """One pass over ``data`` (all rows, or a mini-batch), then a :meth:`step`.

        Non-finite statistics raise (:func:`check_pass`).
        """
        stats = check_pass(self.pass_over(data), data, self.model.allow_nan)
        self.step(stats, data.dtype)

    def run_on(self, source: Iterable[RowBlocks], report=None) -> EMResult:
        """Iterate on the rows ``source`` yields until the run ends; its result.

        ``source`` gives the rows of every step: the data again and again
        (batch EM), or mini-batches, drawn only when the run asks for one.
        ``report.step(run)`` follows every step (not a skipped batch of zero
        weight).
        """
        rows = iter(source)
        while not self.done:
            steps = self.n_iter
            self.iterate(next(rows))
            if report is not None and self.n_iter > steps:
                report.step(self)
        return self.result()

    # ---------------------------------------------------------------- steps
    def step(self, stats: Stats, dtype) -> None:
        """One step from ``stats``, taken under :attr:`params` on blocks of ``dtype``.

        Batch EM: ``stats`` are a full pass's; stepwise EM: a mini-batch's.
        Nothing changes when the M-step raises.
        """
        if self.stepwise:
            self._stepwise_step(stats, dtype)
        else:
            self._batch_step(stats, dtype)
        if self._out_of_steps():
            self.done = True

    def _batch_step(self, stats: Stats, dtype) -> None:
        model, params = self.model, self.params
        new_params = model.m_step(stats, params, model.frame(params, dtype))
        lower_bound = model.lower_bound(stats, params, new_params)
        self.change = lower_bound - self.lower_bound
        self.params, self.stats, self.lower_bound = new_params, stats, lower_bound
        self.lower_bounds.append(lower_bound)
        self.n_iter += 1
        if abs(self.change) < self.rule.tol:
            self.converged = self.done = True

    def _stepwise_step(self, batch_stats: Stats, dtype) -> None:
        """``s <- (1 - eta_t) s + eta_t s_B / |B|``, then the M-step and re-framing.

        ``s_B`` are the batch statistics under the current parameters; the
        design's ``(N / |B|) s_B`` is this update multiplied by ``N``: keeping
        per-row averages works for a stream of unknown length, and the M-step
        sees them scaled to ``state.n_rows``. With row weights ``|B|`` is the
        batch's summed weight, so that a batch with integer weights makes the
        update of its rows repeated (:func:`~daskmix._em.stepwise.stepwise_update`
        says why). A batch of zero total weight is skipped: it counts as a
        batch, not as a step.
        """
        model, rule, state = self.model, self.rule, self.state
        n_rows = float(batch_stats["n_rows"])
        if not n_rows > 0.0:
            state.n_batches += 1
            return
        rows = state.n_rows + n_rows if rule.count_rows else state.n_rows
        step = state.n_steps + 1
        eta = rule.schedule.step_size(step)
        if state.stats is None or eta >= 1.0:
            # nothing to average with (first partial_fit call), or t + t0 <= 1
            running = batch_stats.scale(1.0 / n_rows)
        else:
            running = state.stats.scale(1.0 - eta) + batch_stats.scale(eta / n_rows)
        frame = model.frame(state.params, dtype)
        new_params = model.m_step(running.scale(max(rows, n_rows)), state.params, frame)
        running = model.reframe(running, frame, model.frame(new_params, dtype))
        batch_bound = model.batch_bound(batch_stats, state.params, max(rows, n_rows))
        window = max(1, round(1.0 / rule.smoothing))
        recent = [*state.recent, batch_bound][-window:]
        smoothed = float(np.mean(recent))
        if smoothed > state.best + rule.schedule.tol:
            best, no_improvement = smoothed, 0
        else:
            best, no_improvement = max(state.best, smoothed), state.no_improvement + 1
        self.change = smoothed - state.smoothed
        # everything computed: commit
        state.params, state.stats, state.dtype = new_params, running, dtype
        state.n_rows, state.n_batches, state.n_steps = rows, state.n_batches + 1, step
        state.recent, state.smoothed = recent, smoothed
        state.best, state.no_improvement = best, no_improvement
        state.lower_bounds.append(smoothed)
        self.params, self.lower_bound, self.n_iter = new_params, smoothed, step
        patience = rule.schedule.max_no_improvement
        if patience is not None and no_improvement >= patience:
            self.converged = self.done = True

    def warm_up(self, stats: Stats, dtype) -> None:
        """Start the running statistics from ``stats`` (a pass under the start).

        Without this the first update would have nothing to average with and
        would take one batch's statistics whole (``eta = 1``): a component
        absent from that batch (sorted data, small batches) would get no mass
        and a ``reg_covar``-sized covariance, and never recover. The warm-up
        counts as no step, and its mean log-likelihood seeds the smoothed
        lower bound. Rows of zero total weight leave the run as it was (the
        first update then takes its batch whole).
        """
        state = self.state
        n_rows = float(stats["n_rows"])
        if not n_rows > 0.0:
            return
        bound = self.model.batch_bound(stats, state.params, max(state.n_rows, n_rows))
        state.stats = stats.scale(1.0 / n_rows)
        state.dtype = dtype
        state.smoothed = state.best = self.lower_bound = bound
        state.recent = [bound]

    def fail(self, error: str) -> None:
        """End the run with ``error`` (the sweep records a candidate's failure)."""
        self.error, self.done = error, True

    # ---------------------------------------------------------------- result
    def result(self) -> EMResult:
        """The run's outcome (its state, for a stepwise run, not copied)."""
        if not self.stepwise:
            degenerate = (
                self.model.degenerate(self.params, self.stats)
                if self.stats is not None
                else []
            )
            return EMResult(
                self.params,
                self.lower_bound,
                self.lower_bounds,
                self.n_iter,
                self.converged,
                degenerate,
            )
        state, rule = self.state, self.rule
        if rule.batch_size is None:
            n_iter = state.n_steps
        else:
            n_iter = math.ceil(state.n_batches * rule.batch_size / rule.n_samples)
        degenerate = (
            self.model.degenerate(state.params, state.stats.scale(state.n_rows))
            if state.stats is not None and state.n_steps > 0
            else []
        )
        exact = self.exact_lower_bound
        return EMResult(
            state.params,
            state.smoothed if exact is None else exact,
            state.lower_bounds,
            n_iter,
            self.converged,
            degenerate,
            state,
            state.n_steps,
        )


# ------------------------------------------------------------------ the choice


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


def best_result(results: Iterable[EMResult]) -> EMResult | None:
    """The run to keep among ``results``, in restart order (:func:`better_run`)."""
    best = None
    for result in results:
        if better_run(result, best):
            best = result
    return best


def score_exactly(groups: Sequence[Sequence[EMRun]], data: RowBlocks) -> None:
    """Give the stepwise runs of each group their exact mean log-likelihood.

    A smoothed bound is a moving mean of batches under changing parameters,
    biased by up to several nats when a small, distant cluster is missed, and
    must not decide between restarts: each run's exact (weighted) mean
    log-likelihood on ``data`` becomes its lower bound. A group is the
    restarts of one fit; one whose runs took no step is left as it is. All
    the runs scored share one pass.
    """
    runs = [
        run
        for group in groups
        if max(run.state.n_steps for run in group) > 0
        for run in group
    ]
    if not runs:
        return
    entries = [
        (
            run.model.score_kernel,
            run.model.plan(run.params, data.dtype),
            run.model.tile_rows(data.n_features),
        )
        for run in runs
    ]
    for run, stats in zip(runs, shared_pass(entries, data)):
        run.exact_lower_bound = float(stats["loglik"] / stats["n_rows"])


def warn_outcome(model: MixtureModel, result: EMResult, max_iter: int) -> None:
    """A lone fit's warnings: collapsed components, and no convergence."""
    warn_degenerate(model, result.degenerate, stacklevel=7)
    if result.converged or max_iter == 0:
        return
    if result.state is None:
        message = (
            "Best performing initialization did not converge. Try different init "
            "parameters, or increase max_iter, tol, or check for degenerate data."
        )
    else:
        message = (
            "Stepwise EM stopped at max_iter passes before the smoothed lower "
            "bound stopped improving. Increase max_iter, or lower "
            "max_no_improvement."
        )
    warnings.warn(message, ConvergenceWarning, stacklevel=6)


def warn_degenerate(
    model: MixtureModel, components: list[int], stacklevel: int = 2
) -> None:
    """Warn that the kept run has collapsed components, naming them."""
    if components:
        warnings.warn(
            model.degenerate_message(sorted(components)),
            UserWarning,
            stacklevel=stacklevel,
        )


# ---------------------------------------------------------------- the passes


def check_pass(stats: Stats, data: RowBlocks, allow_nan: bool = False) -> Stats:
    """Raise a clear error when a pass produced non-finite statistics.

    That happens for two reasons only: NaN/inf in the data (which dask input
    cannot show before it is read), or values so large that squared distances
    overflow float64. The first costs nothing to detect here, the check pass
    runs only when something already went wrong. ``allow_nan``: the model
    takes NaN in X as missing values (:attr:`MixtureModel.allow_nan`), so
    only infinity there is an error.
    """
    if finite(stats):
        return stats
    data.raise_if_not_finite(allow_nan)
    raise ValueError(
        "The log-likelihood overflowed to a non-finite value: the data are too "
        "large in magnitude for float64 arithmetic (squared distances overflow). "
        "Scale the input data, e.g. with sklearn.preprocessing.StandardScaler."
    )


def finite(stats: Stats) -> bool:
    """Whether every statistic is finite."""
    return all(np.all(np.isfinite(value)) for value in stats.values())


def run_pass(model: MixtureModel, data: RowBlocks, params: Any) -> Stats:
    """One pass over ``data`` under ``params``: the model's kernel on every block.

    The statistics are checked for non-finite values (:func:`check_pass`).
    """
    plan = model.plan(params, data.dtype)
    stats = data.map_reduce(
        model.kernel, plan, model.tile_rows(data.n_features), name=model.name
    )
    return check_pass(stats, data, model.allow_nan)


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


# ------------------------------------------------------------------- failures

#: modules whose frames in a traceback mean the error came from reading or
#: computing data (the engine, and dask and distributed below it)
_DATA_MODULES = ("daskmix._engine", "dask", "distributed")


def candidate_failure(exc: BaseException) -> bool:
    """Whether ``exc`` belongs to one model's numerics, not to the data.

    True for a ValueError or LinAlgError raised on the client by a model's
    M-step, lower bound or start (an ill-defined covariance, a singular
    system). False for everything raised while reading or computing data: a
    frame of the engine, dask or distributed in its traceback (a failed task,
    a transient read error, NaN found in a block, a lost worker), and for any
    other type (MemoryError, KeyboardInterrupt). The model-selection sweep
    records the first kind against the candidate and lets the second
    propagate.
    """
    if not isinstance(exc, (ValueError, linalg.LinAlgError)):
        return False
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if any(
            module == name or module.startswith(name + ".") for name in _DATA_MODULES
        ):
            return False
        tb = tb.tb_next
    return True
