"""``python -m daskmix.demo``: fit a GaussianMixture on a local dask cluster.

Starts a ``distributed.LocalCluster``, builds a dataset of five Gaussian
blobs in 2-D (400,000 rows by default) as a chunked dask array, fits a
full-covariance mixture and prints what a user wants to see. Draws the fit
into a PNG file when matplotlib is installed, and says where (or why there
is no picture). ``python -m daskmix.demo --help`` lists the options.

By default the cluster's scheduler and its one worker (a thread per core)
run in this process: no worker process has to start and import numpy,
scikit-learn and daskmix, which took most of the demo's time on a small
machine. ``--processes N`` starts N worker processes instead, as a real
cluster has.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import dask.array as da
import numpy as np

from .gaussian.mixture import GaussianMixture

N_SAMPLES = 400_000
N_COMPONENTS = 5
N_CHUNKS = 8


def make_data(seed: int = 0, n_samples: int = N_SAMPLES) -> tuple[da.Array, np.ndarray]:
    """Five anisotropic blobs as a dask array of 8 row chunks, and the true means.

    Parameters
    ----------
    seed : int, default=0
        Seed of the random generator.
    n_samples : int, default=400_000
        Number of rows.

    Returns
    -------
    X : dask.array.Array of shape (n_samples, 2)
        The blobs, in 8 row chunks.
    means : ndarray of shape (5, 2)
        The true means.
    """
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0], [6.0, 1.0], [-5.0, 4.0], [2.0, 8.0], [-3.0, -6.0]])
    labels = rng.integers(0, N_COMPONENTS, n_samples)
    shears = rng.normal(0.0, 0.6, (N_COMPONENTS, 2, 2)) + np.eye(2)
    noise = np.einsum("nij,nj->ni", shears[labels], rng.standard_normal((n_samples, 2)))
    X = means[labels] + noise
    chunk = max(1, -(-n_samples // N_CHUNKS))
    return da.from_array(X, chunks=(chunk, 2)), means


def plot(model: GaussianMixture, X: np.ndarray, path: str | os.PathLike) -> str | None:
    """Scatter a subsample coloured by component, with 2-sigma ellipses.

    Parameters
    ----------
    model : GaussianMixture
        A fitted full-covariance mixture on 2-D data.
    X : ndarray of shape (n_samples, 2)
        The data.
    path : str or path-like
        The PNG file to write.

    Returns
    -------
    str or None
        None when the picture was written; otherwise why there is none.
    """
    try:
        import matplotlib
    except ImportError:
        return (
            "matplotlib is not installed "
            '(pip install matplotlib, or pip install -e ".[plot]")'
        )
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse

    sample = X[:: max(1, X.shape[0] // 20_000)]
    labels = model.predict(sample)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(sample[:, 0], sample[:, 1], c=labels, s=2, cmap="tab10", alpha=0.5)
    for mean, cov in zip(model.means_, model.covariances_):
        values, vectors = np.linalg.eigh(cov)
        angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
        width, height = 4 * np.sqrt(values[::-1])
        ax.add_patch(
            Ellipse(mean, width, height, angle=angle, fill=False, lw=2, color="k")
        )
        ax.plot(*mean, "k+", ms=12)
    ax.set_aspect("equal")  # the ellipses' shapes are true to the data
    ax.set_xlabel("feature 0")
    ax.set_ylabel("feature 1")
    ax.set_title(
        f"daskmix GaussianMixture, {model.n_components} components (2-sigma ellipses)"
    )
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as error:
        return f"{path} could not be written: {error}"
    finally:
        plt.close(fig)
    return None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line's options.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments; None: ``sys.argv[1:]``.

    Returns
    -------
    argparse.Namespace
    """
    parser = argparse.ArgumentParser(
        prog="python -m daskmix.demo",
        description=(
            "Fit a daskmix GaussianMixture (5 components, full covariances) to "
            "2-D blobs on a local dask cluster (distributed.LocalCluster), print "
            "the fit and draw it into a PNG file when matplotlib is installed."
        ),
    )
    parser.add_argument(
        "-o",
        "--output",
        default="daskmix_demo.png",
        help="the PNG file to write (default: %(default)s, in the current directory)",
    )
    parser.add_argument("--no-plot", action="store_true", help="write no picture")
    parser.add_argument(
        "--samples",
        type=int,
        default=N_SAMPLES,
        help="number of rows of the dataset (default: %(default)s)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        metavar="N",
        help="start N worker processes, as a real cluster has (slower to "
        "start: each one imports numpy, scikit-learn and daskmix); default 0: "
        "one worker in this process, with a thread per core",
    )
    parser.add_argument(
        "--dashboard",
        action="store_true",
        help="serve dask's dashboard on this machine, print its address and "
        "keep the cluster up until Enter is pressed (needs bokeh: "
        'pip install -e ".[dashboard]")',
    )
    args = parser.parse_args(argv)
    if args.samples < 100:
        parser.error("--samples must be at least 100")
    if args.processes < 0:
        parser.error("--processes must be 0 or more")
    return args


def _cluster(processes: int, dashboard: bool):
    """A LocalCluster: in this process (``processes=0``) or with worker processes."""
    from distributed import LocalCluster

    cores = os.cpu_count() or 1
    # this machine only, any free port. Without a dashboard the scheduler
    # still serves http (health checks), by default on port 8787 of every
    # interface, with a warning when another cluster has it.
    local = "127.0.0.1:0"
    common = {
        "dashboard_address": local if dashboard else None,
        "scheduler_kwargs": {} if dashboard else {"dashboard_address": local},
    }
    if processes == 0:
        return LocalCluster(
            processes=False, n_workers=1, threads_per_worker=cores, **common
        )
    return LocalCluster(
        n_workers=processes,
        threads_per_worker=max(1, cores // processes),
        **common,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments; None: ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status, 0.
    """
    args = parse_args(argv)
    from distributed import Client

    started = time.perf_counter()
    cluster = _cluster(args.processes, args.dashboard)
    client = Client(cluster)
    try:
        info = client.scheduler_info()["workers"].values()
        threads = sum(w["nthreads"] for w in info)
        where = (
            "in this process"
            if args.processes == 0
            else f"in {args.processes} worker process(es)"
        )
        print(
            f"dask cluster: {len(info)} worker(s), {threads} thread(s), {where} "
            f"(started in {time.perf_counter() - started:.1f} s)"
        )
        if args.dashboard:
            print(f"dashboard: {_dashboard_link(client)}")
        X, _ = make_data(n_samples=args.samples)
        X = X.persist()
        print(f"data: dask array {X.shape}, {X.numblocks[0]} row chunks")
        model = GaussianMixture(N_COMPONENTS, covariance_type="full", random_state=0)
        start = time.perf_counter()
        model.fit(X)
        elapsed = time.perf_counter() - start
        print(
            f"fitted in {elapsed:.2f} s: {model.n_iter_} EM iterations, "
            f"converged={model.converged_}"
        )
        print(f"mean log-likelihood (lower bound): {model.lower_bound_:.4f}")
        order = np.argsort(model.means_[:, 0])
        print("component  weight   mean")
        for k in order:
            mean = ", ".join(f"{v:7.3f}" for v in model.means_[k])
            print(f"{k:9d}  {model.weights_[k]:.4f}  [{mean}]")
        labels = model.predict(X)
        print(f"predict on dask input is lazy: {type(labels).__name__}")
        counts = np.bincount(labels.compute(), minlength=N_COMPONENTS)
        print(f"points per component: {counts.tolist()}")
        if args.no_plot:
            print("no picture: --no-plot")
        else:
            path = Path(args.output).expanduser().resolve()
            why_not = plot(model, X.compute(), path)
            print(f"no picture: {why_not}" if why_not else f"wrote {path}")
        if args.dashboard:
            _wait_for_enter(_dashboard_link(client))
    finally:
        _shut_down(client, cluster)
    return 0


def _dashboard_link(client) -> str:
    """The dashboard's address on this machine (where it listens)."""
    port = client.scheduler_info()["services"]["dashboard"]
    return f"http://127.0.0.1:{port}/status"


def _wait_for_enter(link: str) -> None:
    """Keep the cluster (and its dashboard) up until Enter, end of input or Ctrl-C."""
    try:
        input(f"dashboard still at {link}; press Enter to shut down ")
    except (EOFError, KeyboardInterrupt):
        pass
    print()


def _shut_down(client, cluster) -> None:
    """Close the client, then the cluster, quietly and without killing workers.

    Worker processes are given time to stop on a loaded machine; the
    scheduler's and nannies' routine shutdown messages are not shown.
    """
    quiet = [logging.getLogger(name) for name in ("distributed", "tornado")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)
    try:
        client.close(timeout=30)
        cluster.close(timeout=30)
    finally:
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)


if __name__ == "__main__":
    sys.exit(main())
