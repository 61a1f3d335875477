"""
Choosing K and the covariance type with GaussianMixtureIC
=========================================================

:class:`daskmix.GaussianMixtureIC` fits every candidate of a grid (here K = 1..7
times the four covariance types, 28 mixtures) in one sweep whose passes are
shared: each pass over the data runs the E-steps of all candidates still
iterating. It keeps the candidate with the lowest BIC. The left panel draws
BIC (solid) and ICL (dashed) against K for each covariance type; the right one
the chosen model's 2-sigma ellipses over the data.

Writes ``choosing_k.png``.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

from daskmix import GaussianMixtureIC

rng = np.random.default_rng(0)
n_samples = 6000
means = np.array([[0.0, 0.0], [6.0, 2.0], [-4.0, 6.0], [3.0, 7.0]])
shapes = np.array(
    [
        [[1.8, 0.0], [1.0, 0.5]],
        [[0.6, 0.0], [0.0, 0.6]],
        [[1.0, -0.7], [0.0, 0.5]],
        [[0.4, 0.0], [0.3, 1.2]],
    ]
)
labels = rng.integers(0, len(means), n_samples)
X = means[labels] + np.einsum(
    "nij,nj->ni", shapes[labels], rng.standard_normal((n_samples, 2))
)

selector = GaussianMixtureIC(n_components=range(1, 8), random_state=0).fit(X)
table = selector.criteria_
best = selector.best_estimator_
print(
    f"chosen: K = {selector.n_components_}, covariance_type = "
    f"{selector.covariance_type_!r}"
)

fig, (ax_ic, ax_fit) = plt.subplots(1, 2, figsize=(11, 4.5))
for cov_type, color in zip(
    ("full", "tied", "diag", "spherical"), "C0 C1 C2 C3".split()
):
    rows = table[table["covariance_type"] == cov_type]
    ax_ic.plot(rows["n_components"], rows["bic"], "-o", color=color, label=cov_type)
    ax_ic.plot(rows["n_components"], rows["icl"], "--", color=color)
ax_ic.set_xlabel("number of components K")
ax_ic.set_ylabel("criterion (lower is better)")
ax_ic.set_title("BIC (solid) and ICL (dashed)")
ax_ic.legend(title="covariance type")

ax_fit.scatter(X[:, 0], X[:, 1], s=2, alpha=0.3, color="0.4")
covariances = best.covariances_
if best.covariance_type == "tied":
    covariances = np.broadcast_to(covariances, (best.n_components, 2, 2))
elif best.covariance_type == "diag":
    covariances = np.stack([np.diag(c) for c in covariances])
elif best.covariance_type == "spherical":
    covariances = np.stack([np.eye(2) * c for c in covariances])
for mean, cov in zip(best.means_, covariances):
    values, vectors = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
    width, height = 4 * np.sqrt(values[::-1])
    ax_fit.add_patch(
        Ellipse(mean, width, height, angle=angle, fill=False, color="C3", lw=2)
    )
ax_fit.set_aspect("equal")
ax_fit.set_xlabel("x1")
ax_fit.set_ylabel("x2")
ax_fit.set_title(f"chosen: K={selector.n_components_}, {selector.covariance_type_}")
fig.tight_layout()
fig.savefig("choosing_k.png", dpi=90)
