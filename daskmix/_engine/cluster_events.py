"""Waiting on a distributed cluster without waiting forever.

A pass on a ``distributed`` cluster used to wait for its results with
``client.get``, which returns only when the results arrive. After some
cluster events they never do: every worker lost or restarted and none back (a
``client.restart()`` whose nannies cannot bring workers back), a scheduler
whose connection is lost, a graph the scheduler holds but never runs. The fit
then hung with no message. :func:`gather` submits the same graph, waits for
its results a little at a time, and between waits asks the cluster whether it
can still finish them; when it cannot for ``daskmix.cluster-wait-seconds``
(dask config), or when the pass's tasks were cancelled (``client.restart()``,
a closed client, a lost scheduler), it raises :class:`ClusterEventError`
naming the event. Errors raised by the pass's own tasks come through
unchanged. :func:`compute` does the same for the other reads of a fit (rows
of a start, the finiteness check, mini-batches).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import CancelledError

import dask
import dask.base
import distributed
from dask.delayed import Delayed

from .. import config

#: seconds between checks of the cluster while a pass waits for its results
POLL_SECONDS = 1.0

#: what a bounded wait raises (asyncio's is another class before Python 3.11)
_TIMEOUTS = (TimeoutError, asyncio.TimeoutError)

#: what distributed's cancellation reasons mean, for the error message
_REASONS = {
    "scheduler-restart": "the cluster was restarted (Client.restart) during the "
    "pass, which cancels every task",
    "scheduler-connection-lost": "the client lost its connection to the scheduler "
    "during the pass",
}


class ClusterEventError(RuntimeError):
    """A pass could not finish because of something that happened to the cluster.

    Raised instead of waiting forever: the pass's tasks were cancelled (a
    cluster restart, a closed client, a lost scheduler), or the cluster could
    not run them for ``daskmix.cluster-wait-seconds`` (no workers, no
    connection to the scheduler, no task running anywhere). The fit is
    abandoned and the estimator keeps its previous state; fit again once the
    cluster is back.
    """


def client_of(schedule: Callable):
    """The ``distributed.Client`` whose ``get`` ``schedule`` is, or None."""
    client = getattr(schedule, "__self__", None)
    return client if hasattr(client, "processing") else None


def gather(schedule: Callable, graph, keys: list) -> list:
    """Run ``graph`` on ``schedule`` and return the values of ``keys``, in order.

    Parameters
    ----------
    schedule : callable
        A dask ``get`` function: ``dask.threaded.get``, or a distributed
        client's ``get``.
    graph : mapping or dask expression
        What ``schedule`` takes.
    keys : list
        The keys whose values to return.

    Returns
    -------
    list
        The values, in the order of ``keys``.

    Raises
    ------
    ClusterEventError
        On a distributed cluster: the tasks were cancelled by a cluster event,
        or the cluster could not make progress for
        ``daskmix.cluster-wait-seconds``.
    """
    client = client_of(schedule)
    if client is None:
        return schedule(graph, keys)
    return _values(client, client.get(graph, keys, sync=False))


def compute(*collections) -> tuple:
    """``dask.compute(*collections)``, watched as :func:`gather` watches a pass.

    Parameters
    ----------
    *collections : dask collections, or lists of them
        Dask arrays or delayed objects, computed together.

    Returns
    -------
    tuple
        Their values, in order.

    Raises
    ------
    ClusterEventError
        As :func:`gather`.
    """
    client = client_of(dask.base.get_scheduler(cls=Delayed))
    if client is None:
        return dask.compute(*collections)
    # a list of delayed objects, as dask.compute takes it, as one delayed
    collections = [
        c if dask.is_dask_collection(c) else dask.delayed(c) for c in collections
    ]
    # unoptimised: the data arrays come over their optimised graphs already
    # (passes.settled), the form the passes submit; optimising again here
    # would fuse their chunks into another form under the same keys, which a
    # scheduler given both kept forever and then failed client.restart()
    futures = client.compute(collections, optimize_graph=False)
    return tuple(_values(client, futures))


def _values(client, futures: list) -> list:
    """The values of ``futures``, in order; released whatever happens."""
    limit = config.get("cluster-wait-seconds")
    try:
        return [_result(client, future, limit) for future in futures]
    except CancelledError as exc:
        reason = getattr(exc, "reason", None)
        if client.status in ("closing", "closed"):
            event = "the client was closed during the pass"
        else:
            event = _REASONS.get(reason, f"the pass's tasks were cancelled ({reason})")
        raise ClusterEventError(
            f"A pass of the fit could not finish: {event}. The fit is abandoned; "
            "fit again once the cluster is back."
        ) from exc
    finally:
        for future in futures:
            future.release()


def settle(client, futures: list) -> None:
    """Wait until ``futures`` are done, bounded as a pass's wait is.

    For results that stay on the cluster (nothing is fetched, nothing
    released): a task's error or a cancellation surfaces when a pass uses them.

    Parameters
    ----------
    client : distributed.Client
        The client the futures belong to.
    futures : list of distributed.Future
        What to wait for.

    Raises
    ------
    ClusterEventError
        The cluster could not make progress for ``daskmix.cluster-wait-seconds``.
    """
    limit = config.get("cluster-wait-seconds")
    stuck_since = None
    while True:
        try:
            # all at once: one round trip to the scheduler, not one per future
            distributed.wait(futures, timeout=POLL_SECONDS)
            return
        except _TIMEOUTS:
            pass
        stuck_since = _still_stuck(client, stuck_since, limit)


def _result(client, future, limit: float):
    """The value of ``future``; raises when the cluster cannot produce it."""
    stuck_since = None
    while True:
        try:
            return future.result(timeout=POLL_SECONDS)
        except _TIMEOUTS:
            pass
        stuck_since = _still_stuck(client, stuck_since, limit)


def _still_stuck(client, stuck_since: float | None, limit: float) -> float | None:
    """Since when the cluster has been unable to run a pass (None: it can);
    raises once that has lasted ``limit`` seconds."""
    problem = _problem(client)
    if problem is None:
        return None
    now = time.monotonic()
    if stuck_since is None:
        return now
    if now - stuck_since >= limit:
        raise ClusterEventError(
            f"A pass of the fit could not finish: {problem} for {limit:g} s "
            "(daskmix.cluster-wait-seconds). The fit is abandoned; fit again "
            "once the cluster is back."
        )
    return stuck_since


def _problem(client) -> str | None:
    """What keeps the cluster from running a pass now, or None."""
    if client.status in ("closing", "closed"):
        # distributed cancels the futures of a closed client: the next wait
        # raises, this names it if it does not
        return "the client was closed"
    if client.status != "running":
        return f"the client had no connection to the scheduler (status {client.status})"
    try:
        processing = client.processing()
    except (OSError, TimeoutError) as exc:
        return f"the scheduler did not answer ({type(exc).__name__}: {exc})"
    if not processing:
        return "the cluster had no workers (lost or restarted, and none came back)"
    if not any(processing.values()):
        return "no task of the pass ran anywhere on the cluster"
    return None
