"""What a fit reports while it runs: progress bars and scikit-learn's messages.

Progress bars (tqdm, the optional ``progress`` extra) are off by default and
on while the dask config key ``daskmix.progress`` is True;
:func:`show_progress` sets it for the process, or for a ``with`` block::

    daskmix.show_progress(True)        # on from now on
    with daskmix.show_progress():      # on inside the block only
        model.fit(X)

Bars go to stderr:

* batch EM: one bar per initialisation, counting iterations, with the lower
  bound after each and the wall time of the last pass (the first one's
  includes the start);
* stepwise (mini-batch) EM: one bar per initialisation, counting steps, with
  the rows seen and the smoothed lower bound;
* a model-selection sweep: one bar counting its shared passes (or shared
  mini-batches), with the candidates still iterating and the best lower bound
  so far (the largest mean log-likelihood of a candidate's last step: it grows
  with the number of parameters, so it is not the choice), then the chosen
  candidate and its criterion once they are scored;
* KMeans: one bar per initialisation with the inertia.

With progress off the drivers get no-ops, so a fit pays nothing for them.
"""

from __future__ import annotations

from time import perf_counter

import dask.config

from .. import config

_INSTALL_HINT = (
    "Progress bars need tqdm, which is not installed: install the 'progress' "
    "extra (pip install 'daskmix[progress]') or tqdm itself (pip install tqdm)."
)
_KEY = "daskmix.progress"


def _import_tqdm():
    try:
        from tqdm import tqdm
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return tqdm


class show_progress:  # noqa: N801 - used like a function, as numpy.errstate
    """Show progress bars for fits: a setter and a context manager.

    ``show_progress(True)`` turns progress bars on for the rest of the
    process (it sets the dask config key ``daskmix.progress``),
    ``show_progress(False)`` off. Used in a ``with`` statement, the previous
    setting comes back at the end of the block.

    Parameters
    ----------
    enabled : bool, default=True
        Whether fits show a progress bar: iterations, lower bound and pass
        time for batch EM; steps, rows seen and smoothed lower bound for
        mini-batch EM; passes, candidates still iterating and the best lower
        bound for the model-selection estimators.

    Raises
    ------
    ImportError
        When turning bars on and tqdm is not installed.

    See Also
    --------
    daskmix.GaussianMixture : Its ``verbose`` prints scikit-learn's messages.

    Examples
    --------
    >>> import daskmix
    >>> with daskmix.show_progress():  # doctest: +SKIP
    ...     daskmix.GaussianMixture(3).fit(X)
    """

    def __init__(self, enabled: bool = True):
        if enabled:
            _import_tqdm()
        self._previous = progress_enabled()
        dask.config.set({_KEY: bool(enabled)})

    def __enter__(self) -> show_progress:
        return self

    def __exit__(self, *exc_info) -> None:
        dask.config.set({_KEY: self._previous})


def progress_enabled() -> bool:
    """Whether progress bars are on (the dask config key ``daskmix.progress``)."""
    return bool(config.get("progress"))


class FitProgress:
    """One tqdm bar per initialisation of a fit.

    Parameters
    ----------
    name : str
        What is fitted (``"EM"``, ``"KMeans"``): the bar's description.
    value_name : str
        Name of the objective shown after each iteration.
    unit : str
        What the bar counts (``"it"`` iterations, ``"step"``).
    timed : bool
        Show the wall time of the last iteration (a pass over the data).
    """

    def __init__(
        self, name: str, value_name: str, unit: str = "it", timed: bool = True
    ):
        self._tqdm = _import_tqdm()
        self.name = name
        self.value_name = value_name
        self.unit = unit
        self.timed = timed
        self._bar = None
        self._last = perf_counter()
        self._pass_ms = 0.0
        self._extra = ""

    def begin(self, init: int) -> None:
        """A new initialisation (restart) starts."""
        self.close()
        self._bar = self._tqdm(
            desc=f"{self.name} init {init}", unit=self.unit, leave=True, mininterval=0.2
        )
        self._last = perf_counter()

    def step(self, n_iter: int, value: float | None, extra: str = "") -> None:
        """Iteration ``n_iter`` (1-based) ended with objective ``value``.

        ``extra`` goes first in the bar's postfix (e.g. the rows seen).
        """
        if self._bar is None:
            self.begin(0)
        now = perf_counter()
        self._pass_ms = 1000 * (now - self._last)
        self._extra = extra
        self._bar.set_postfix_str(self._postfix(value), refresh=False)
        self._bar.update(n_iter - self._bar.n)
        self._last = now

    def end(self, value: float, converged: bool) -> None:
        """The initialisation ended with objective ``value``."""
        if self._bar is None:
            return
        state = "converged" if converged else "not converged"
        self._bar.set_postfix_str(self._postfix(value, state), refresh=False)
        self.close()

    def _postfix(self, value: float | None, state: str = "") -> str:
        parts = [self._extra] if self._extra else []
        if value is not None:
            parts.append(f"{self.value_name}={value:.6g}")
        if self.timed:
            parts.append(f"pass={self._pass_ms:.0f} ms")
        if state:
            parts.append(state)
        return ", ".join(parts)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _NoProgress:
    """What the progress factories return with progress off: does nothing."""

    def begin(self, *args) -> None:
        pass

    def step(self, *args, **kwargs) -> None:
        pass

    def end(self, *args) -> None:
        pass

    def close(self) -> None:
        pass


def fit_progress(
    name: str, value_name: str = "lower bound", unit: str = "it", timed: bool = True
):
    """A :class:`FitProgress` when progress is on, else a no-op with its methods."""
    if progress_enabled():
        return FitProgress(name, value_name, unit, timed)
    return _NoProgress()


class SweepProgress:
    """One bar for a model-selection sweep.

    Parameters
    ----------
    name : str
        The selector (``"GaussianMixtureIC"``): the bar's description.
    unit : str
        ``"pass"`` (batch EM: shared passes) or ``"step"`` (shared mini-batches).
    """

    def __init__(self, name: str, unit: str):
        self._bar = _import_tqdm()(desc=name, unit=unit, leave=True, mininterval=0.2)
        self._total = 0
        self._best = "-"

    def step(self, n: int, going: int, total: int, best: str) -> None:
        """After shared pass (or batch) ``n``: runs still going, the best so far.

        ``best`` is the best lower bound so far and whose it is.
        """
        self._total, self._best = total, best
        self._bar.set_postfix_str(
            f"going={going}/{total} runs, best lower bound={best}", refresh=False
        )
        self._bar.update(n - self._bar.n)

    def end(self, chosen: str) -> None:
        """The sweep and the scoring are over: ``chosen`` says what was chosen."""
        self._bar.set_postfix_str(
            f"{self._total} runs, best lower bound={self._best}, chosen {chosen}",
            refresh=False,
        )
        self._bar.close()

    def close(self) -> None:
        self._bar.close()


def sweep_progress(name: str, unit: str):
    """A :class:`SweepProgress` when progress is on, else a no-op."""
    if progress_enabled():
        return SweepProgress(name, unit)
    return _NoProgress()


def run_report(verbose: int, verbose_interval: int, batch_size=None):
    """A :class:`RunReport`, or None when it would show nothing.

    None (the default: ``verbose=0`` and progress off) lets the drivers skip
    the report altogether.
    """
    if verbose <= 0 and not progress_enabled():
        return None
    return RunReport(verbose, verbose_interval, batch_size)


class RunReport:
    """A lone fit's report on its runs: scikit-learn's messages and the bars.

    The verbose messages are scikit-learn's ``BaseMixture``'s, word for word;
    a stepwise fit counts steps where batch EM counts iterations.

    Parameters
    ----------
    verbose, verbose_interval : int
        As the estimators' parameters.
    batch_size : int, optional
        Stepwise EM on batches of this many rows: the bar counts steps and
        shows the rows seen and the smoothed bound. None: batch EM.
    """

    def __init__(self, verbose: int, verbose_interval: int, batch_size=None):
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.batch_size = batch_size
        self._init_start = self._iter_start = perf_counter()
        if batch_size is None:
            self.progress = fit_progress("EM")
        else:
            self.progress = fit_progress(
                "Stepwise EM", "smoothed bound", unit="step", timed=False
            )

    def run_begin(self, init: int) -> None:
        """Initialisation ``init`` starts."""
        self.progress.begin(init)
        if self.verbose >= 1:
            print(f"Initialization {init}")
            self._init_start = self._iter_start = perf_counter()

    def step(self, run) -> None:
        """``run`` (an :class:`~daskmix._em.run.EMRun`) made a step."""
        n_iter = run.n_iter
        if run.stepwise:
            rows = run.state.n_batches * self.batch_size
            self.progress.step(n_iter, run.lower_bound, f"rows seen={rows:,}")
        else:
            self.progress.step(n_iter, run.lower_bound)
        if n_iter % self.verbose_interval != 0:
            return
        if self.verbose == 1:
            print(f"  Iteration {n_iter}")
        elif self.verbose >= 2:
            now = perf_counter()
            print(
                f"  Iteration {n_iter}\t time lapse {now - self._iter_start:.5f}s\t "
                f"ll change {run.change:.5f}"
            )
            self._iter_start = now

    def run_end(self, run) -> None:
        """``run`` ended."""
        lower_bound, converged = run.lower_bound, run.converged
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
