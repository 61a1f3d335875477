"""Progress bars for long fits (tqdm, the optional ``progress`` extra).

Off by default. :func:`show_progress` turns them on for every fit of the
process, or for a ``with`` block::

    daskmix.show_progress(True)        # on from now on
    with daskmix.show_progress():      # on inside the block only
        model.fit(X)

A fit then shows one bar per initialisation on stderr: the iteration, the
objective after it (the lower bound for mixtures, the inertia for KMeans)
and the wall time of the last iteration (the first one's includes the
initialisation). Mini-batch fits count steps. The drivers call :func:`fit_progress`;
with progress off it returns a no-op, so a fit pays nothing for it.
"""

from __future__ import annotations

from time import perf_counter

_INSTALL_HINT = (
    "Progress bars need tqdm, which is not installed: install the 'progress' "
    "extra (pip install 'daskmix[progress]') or tqdm itself (pip install tqdm)."
)

_enabled = False


def _import_tqdm():
    try:
        from tqdm import tqdm
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return tqdm


class show_progress:  # noqa: N801 - used like a function, as numpy.errstate
    """Show progress bars for fits: a setter and a context manager.

    ``show_progress(True)`` turns progress bars on for the rest of the
    process, ``show_progress(False)`` off. Used in a ``with`` statement, the
    previous setting comes back at the end of the block.

    Parameters
    ----------
    enabled : bool, default=True
        Whether fits show a progress bar (iteration, lower bound, pass time).

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
        global _enabled
        if enabled:
            _import_tqdm()
        self._previous = _enabled
        _enabled = bool(enabled)

    def __enter__(self) -> show_progress:
        return self

    def __exit__(self, *exc_info) -> None:
        global _enabled
        _enabled = self._previous


def progress_enabled() -> bool:
    """Whether :func:`show_progress` is on."""
    return _enabled


class FitProgress:
    """One tqdm bar per initialisation of a fit.

    Parameters
    ----------
    name : str
        What is fitted (``"EM"``, ``"KMeans"``): the bar's description.
    value_name : str
        Name of the objective shown after each iteration.
    """

    def __init__(self, name: str, value_name: str):
        self._tqdm = _import_tqdm()
        self.name = name
        self.value_name = value_name
        self._bar = None
        self._last = perf_counter()
        self._pass_ms = 0.0

    def begin(self, init: int) -> None:
        """A new initialisation (restart) starts."""
        self.close()
        self._bar = self._tqdm(
            desc=f"{self.name} init {init}", unit="it", leave=True, mininterval=0.2
        )
        self._last = perf_counter()

    def step(self, n_iter: int, value: float | None) -> None:
        """Iteration ``n_iter`` (1-based) ended with objective ``value``."""
        if self._bar is None:
            self.begin(0)
        now = perf_counter()
        self._pass_ms = 1000 * (now - self._last)
        shown = "" if value is None else f"{self.value_name}={value:.6g}, "
        self._bar.set_postfix_str(f"{shown}pass={self._pass_ms:.0f} ms", refresh=False)
        self._bar.update(n_iter - self._bar.n)
        self._last = now

    def end(self, value: float, converged: bool) -> None:
        """The initialisation ended with objective ``value``."""
        if self._bar is None:
            return
        state = "converged" if converged else "not converged"
        self._bar.set_postfix_str(
            f"{self.value_name}={value:.6g}, pass={self._pass_ms:.0f} ms, {state}",
            refresh=False,
        )
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _NoProgress:
    """What :func:`fit_progress` returns with progress off: does nothing."""

    def begin(self, init: int) -> None:
        pass

    def step(self, n_iter: int, value: float | None) -> None:
        pass

    def end(self, value: float, converged: bool) -> None:
        pass

    def close(self) -> None:
        pass


def fit_progress(name: str, value_name: str = "lower bound"):
    """A :class:`FitProgress` when progress is on, else a no-op with its methods."""
    if _enabled:
        return FitProgress(name, value_name)
    return _NoProgress()
