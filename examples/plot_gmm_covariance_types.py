"""
Covariance types on a dask array
================================

Fits :class:`daskmix.GaussianMixture` with each of the four covariance types to the same
200,000-point dask array of three elongated clusters, and draws the fitted 2-sigma
ellipses over the data.

Writes ``gmm_covariance_types.png``.
"""

import dask.array as da
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from daskmix import GaussianMixture  # noqa: E402

rng = np.random.default_rng(0)
n_samples = 200_000
means = np.array([[0.0, 0.0], [5.0, 3.0], [-4.0, 5.0]])
shapes = np.array(
    [[[2.0, 0.0], [1.2, 0.4]], [[0.5, 0.0], [0.0, 0.5]], [[1.0, -0.8], [0.0, 0.6]]]
)
labels = rng.integers(0, 3, n_samples)
X = means[labels] + np.einsum(
    "nij,nj->ni", shapes[labels], rng.standard_normal((n_samples, 2))
)
Xd = da.from_array(X, chunks=(25_000, 2))


def covariance_matrices(model):
    """The (K, 2, 2) covariances of any covariance type."""
    cov = model.covariances_
    K = model.n_components
    if model.covariance_type == "full":
        return cov
    if model.covariance_type == "tied":
        return np.broadcast_to(cov, (K, 2, 2))
    if model.covariance_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([np.eye(2) * c for c in cov])


fig, axes = plt.subplots(
    2, 2, figsize=(10, 9), sharex=True, sharey=True, layout="constrained"
)
sample = X[::40]
for ax, covariance_type in zip(axes.ravel(), ["full", "tied", "diag", "spherical"]):
    model = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(Xd)
    ax.scatter(sample[:, 0], sample[:, 1], s=1, c=model.predict(sample), cmap="tab10")
    for mean, cov in zip(model.means_, covariance_matrices(model)):
        values, vectors = np.linalg.eigh(cov)
        angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
        width, height = 4 * np.sqrt(values[::-1])
        ax.add_patch(Ellipse(mean, width, height, angle=angle, fill=False, lw=2))
    # one unit is as long on both axes: spherical components are circles
    ax.set_aspect("equal")
    ax.set_title(
        f"{covariance_type}: {model.n_iter_} iterations,\n"
        f"mean log-likelihood {model.lower_bound_:.3f}",
        fontsize=10,
    )
for ax in axes[-1]:
    ax.set_xlabel("feature 0")
for ax in axes[:, 0]:
    ax.set_ylabel("feature 1")
fig.suptitle(
    "daskmix.GaussianMixture on a dask array, four covariance types\n"
    "(2-sigma ellipses of the fitted components)"
)
fig.savefig("gmm_covariance_types.png", dpi=90)
print("wrote gmm_covariance_types.png")
