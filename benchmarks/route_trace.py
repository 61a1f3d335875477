"""Count the route a fit takes through daskmix's files (a static trace).

Traces, with :func:`sys.setprofile` on the calling thread (the client; the
block kernels that dask or the thread pool run elsewhere are not followed),
every Python call and return while one call runs, and keeps the daskmix file
the client is in after each event (the innermost frame in the package). The
route is that sequence with repeats collapsed:

* files: distinct daskmix files visited;
* stays: entries into a file (the length of the route);
* returns: stays in a file the route had already left once;
* climbs: calls from a file of ``daskmix/_em/`` into one of
  ``daskmix/gaussian/`` (a driver calling back up into the model family).

The route depends on the code only: fixed data, seed and chunking, no timing.
Phases traced: ``GaussianMixture.fit`` on a dask array (it converges in a
few iterations), the same fit run for 10 iterations (``tol=0``: the route of
the EM loop itself), the first fit with ``sample_weight``, and
``predict_proba`` on the fitted model. A fit's start
(``model.initialize``: k-means on a sample, whose route is the cluster
package's) is counted apart, and the fit is also counted without it; its
validation is the part of that route before it first enters
``daskmix/_em/``.

Usage::

    python benchmarks/route_trace.py            # the counts
    python benchmarks/route_trace.py --route    # and every stay, in order
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import dask
import dask.array as da
import numpy as np
from sklearn.exceptions import ConvergenceWarning

import daskmix
from daskmix import GaussianMixture

PACKAGE = os.path.dirname(os.path.abspath(daskmix.__file__)) + os.sep


def _package_file(frame) -> str | None:
    """The daskmix file of the innermost daskmix frame at or above ``frame``."""
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(PACKAGE):
            return name[len(PACKAGE) :]
        frame = frame.f_back
    return None


def _in_start(frame) -> bool:
    """Whether ``frame`` runs inside a model's ``initialize`` (the start)."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "initialize" and code.co_filename.startswith(PACKAGE):
            return True
        frame = frame.f_back
    return False


def trace(call) -> dict[str, tuple[list[str], int]]:
    """The routes of ``call()`` (collapsed stays) and their climbs.

    Keys: ``"all"`` (everything), ``"start"`` (inside ``initialize``) and
    ``"rest"`` (everything else, the start cut out).
    """
    routes: dict[str, list[str]] = {"all": [], "start": [], "rest": []}
    climbs = dict.fromkeys(routes, 0)

    def profile(frame, event, arg):
        if event == "call":
            here = _package_file(frame)
            caller = _package_file(frame.f_back)
            climb = (
                here is not None
                and caller is not None
                and caller.startswith("_em/")
                and here.startswith("gaussian/")
            )
            start = _in_start(frame)
        elif event == "return":
            here = _package_file(frame.f_back)
            climb = False
            start = _in_start(frame.f_back)
        else:
            return
        if here is None:
            return
        for key in ("all", "start" if start else "rest"):
            route = routes[key]
            climbs[key] += climb
            if not route or route[-1] != here:
                route.append(here)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return {key: (routes[key], climbs[key]) for key in routes}


def counts(route: list[str], climbs: int | None = None) -> str:
    seen: set[str] = set()
    returns = 0
    for stay in route:
        returns += stay in seen
        seen.add(stay)
    text = f"{len(seen)} files, {len(route)} stays, {returns} returns"
    return text if climbs is None else f"{text}, {climbs} climbs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--route", action="store_true", help="print every stay")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    means = rng.normal(0, 6, (3, 4))
    X = means[rng.integers(0, 3, 20_000)] + rng.normal(0, 1, (20_000, 4))
    Xd = da.from_array(X, chunks=(5_000, -1))
    weights = da.from_array(rng.uniform(0.5, 2.0, 20_000), chunks=(5_000,))
    model = GaussianMixture(3, random_state=0)
    ten = GaussianMixture(3, random_state=0, tol=0.0, max_iter=10)
    phases = {
        "fit(dask X)": lambda: model.fit(Xd),
        "fit(dask X), 10 iterations": lambda: ten.fit(Xd),
        "fit(dask X, sample_weight)": lambda: model.fit(Xd, sample_weight=weights),
        "predict_proba(dask X)": lambda: model.predict_proba(Xd),
    }
    # streamed, as large data are (small dask data are otherwise read once)
    with (
        dask.config.set({"daskmix.small-data-bytes": 0, "scheduler": "threads"}),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", ConvergenceWarning)  # the 10 iterations
        model.fit(Xd)  # imports and caches out of the way
        for name, call in phases.items():
            routes = trace(call)
            print(f"{name:30s} {counts(*routes['all'])}")
            if not name.startswith("fit"):
                if args.route:
                    print("    " + " > ".join(routes["all"][0]))
                continue
            rest = routes["rest"][0]
            first_em = next(
                (i for i, f in enumerate(rest) if f.startswith("_em/")), len(rest)
            )
            print(f"{'  its start (initialize)':30s} {counts(*routes['start'])}")
            print(f"{'  without the start':30s} {counts(*routes['rest'])}")
            print(f"{'    validation (before _em/)':30s} {counts(rest[:first_em])}")
            if args.route:
                print("    " + " > ".join(rest))


if __name__ == "__main__":
    main()
