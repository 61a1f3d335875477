"""
A fit on a LocalCluster, streamed from a zarr store
===================================================

Writes a zarr store of 200,000 rows in a temporary directory, starts a
:class:`distributed.LocalCluster` with one worker process of two threads (a
real cluster has more workers; the code is the same, and each worker process
takes seconds to start and import its libraries), and fits
:class:`daskmix.GaussianMixture` on the store as it is on disk: every EM
iteration streams the blocks through the worker (nothing is persisted), one
pass per iteration. The left panel draws the lower bound at each iteration,
the right one a sample of the rows coloured by their predicted component
(computed lazily on the cluster, then sampled).

Writes ``cluster_zarr.png``.
"""

import tempfile

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster

from daskmix import GaussianMixture


def make_store(path: str, n_rows: int = 200_000) -> None:
    """Four Gaussian clusters in 2-D, written in blocks of 25,000 rows."""
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [6.0, 1.0], [2.0, 6.0], [-4.0, 4.0]])
    labels = rng.integers(0, len(centers), n_rows)
    X = centers[labels] + rng.standard_normal((n_rows, 2)) * [1.0, 0.6]
    da.from_array(X, chunks=(25_000, 2)).to_zarr(path)


if __name__ == "__main__":  # worker processes import this file too
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/X.zarr"
        make_store(path)
        with LocalCluster(
            n_workers=1, threads_per_worker=2, dashboard_address=None
        ) as cluster:
            with Client(cluster):
                X = da.from_zarr(path)  # lazy: read block by block each pass
                model = GaussianMixture(4, tol=1e-6, random_state=0).fit(X)
                labels = model.predict(X)  # lazy, computed on the workers
                rows = np.sort(np.random.default_rng(1).choice(len(X), 5000))
                sample, sample_labels = da.compute(X[rows], labels[rows])
        print(f"{model.n_iter_} iterations, lower bound {model.lower_bound_:.4f}")

    fig, (ax_bound, ax_rows) = plt.subplots(1, 2, figsize=(11, 4.5))
    iterations = np.arange(1, len(model.lower_bounds_) + 1)
    ax_bound.plot(iterations, model.lower_bounds_, "-o")
    ax_bound.set_xticks(iterations)
    ax_bound.set_xlabel("EM iteration (one pass over the store)")
    ax_bound.set_ylabel("lower bound (mean log-likelihood)")
    ax_bound.set_title("EM on a LocalCluster, streamed from zarr")
    ax_rows.scatter(sample[:, 0], sample[:, 1], c=sample_labels, s=3, cmap="tab10")
    ax_rows.scatter(*model.means_.T, marker="x", color="k", s=80, label="means_")
    ax_rows.set_aspect("equal")
    ax_rows.set_xlabel("x1")
    ax_rows.set_ylabel("x2")
    ax_rows.set_title("predicted components (5,000 rows)")
    ax_rows.legend()
    fig.tight_layout()
    fig.savefig("cluster_zarr.png", dpi=90)
