"""``python -m daskmix.demo``: fit a GaussianMixture on a local dask cluster.

Starts a ``distributed.LocalCluster``, builds a 400,000 x 2 dataset of five
Gaussian blobs as a chunked dask array, fits a full-covariance mixture and
prints what a user wants to see. Writes ``daskmix_demo.png`` when matplotlib
is installed.
"""

from __future__ import annotations

import sys
import time

import dask.array as da
import numpy as np

from .gaussian.mixture import GaussianMixture

N_SAMPLES = 400_000
N_COMPONENTS = 5


def make_data(seed: int = 0) -> tuple[da.Array, np.ndarray]:
    """Five anisotropic blobs as a dask array of 8 row chunks, and the true means."""
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0], [6.0, 1.0], [-5.0, 4.0], [2.0, 8.0], [-3.0, -6.0]])
    labels = rng.integers(0, N_COMPONENTS, N_SAMPLES)
    shears = rng.normal(0.0, 0.6, (N_COMPONENTS, 2, 2)) + np.eye(2)
    noise = np.einsum("nij,nj->ni", shears[labels], rng.standard_normal((N_SAMPLES, 2)))
    X = means[labels] + noise
    return da.from_array(X, chunks=(N_SAMPLES // 8, 2)), means


def plot(model: GaussianMixture, X: np.ndarray, path: str) -> bool:
    """Scatter a subsample coloured by component, with 2-sigma ellipses."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Ellipse
    except ImportError:
        return False
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
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main() -> int:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        print(f"dask cluster: {len(client.scheduler_info()['workers'])} workers")
        X, true_means = make_data()
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
        if plot(model, X.compute(), "daskmix_demo.png"):
            print("wrote daskmix_demo.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
