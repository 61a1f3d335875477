"""
Choosing the number of lines with RegressionMixtureIC
=====================================================

Three lines cross near the origin. :class:`daskmix.RegressionMixtureIC` fits
mixtures of linear regressions with K = 1..6 and both noise models in one
shared sweep and keeps the lowest BIC.

The weights are constant (``gating="none"``). Every fit starts
from k-means (``init_params="kmeans"``), a small fraction of the cost of the
default short-EM starts on data this small. The coefficient of
determination R^2 cannot make this choice: the mixture's mean prediction is
about the same for every K, so R^2 barely moves. The left panel draws BIC and
R^2 against K; the right one the chosen lines over the data, each point
coloured by its most probable line. Writes ``regression_selection.png``.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np

from daskmix import RegressionMixture, RegressionMixtureIC

rng = np.random.default_rng(0)
n_samples = 3000
x = rng.uniform(-3, 3, (n_samples, 1))
line = rng.integers(0, 3, n_samples)
slopes, intercepts = np.array([2.0, -2.0, 0.5]), np.array([1.0, 1.0, -2.0])
y = slopes[line] * x[:, 0] + intercepts[line] + rng.normal(0, 0.3, n_samples)

common = {"gating": "none", "n_init": 3, "init_params": "kmeans", "random_state": 0}
selector = RegressionMixtureIC(n_components=range(1, 7), **common).fit(x, y)
table = selector.criteria_
best = selector.best_estimator_
print(f"chosen: K = {selector.n_components_}, noise = {selector.noise_!r}")

fig, (ax_ic, ax_fit) = plt.subplots(1, 2, figsize=(11, 4.5))
rows = table[table["noise"] == selector.noise_]
ax_ic.plot(rows["n_components"], rows["bic"], "-o", label="BIC")
ax_ic.set_xlabel("number of lines K")
ax_ic.set_ylabel("BIC (lower is better)")
with warnings.catch_warnings():
    # beyond three lines a component may collapse onto a few rows (a warning
    # says so); R^2 hardly changes, which is the point of the panel
    warnings.simplefilter("ignore", UserWarning)
    r2 = [
        RegressionMixture(k, noise=selector.noise_, **common).fit(x, y).score(x, y)
        for k in rows["n_components"]
    ]
ax_r2 = ax_ic.twinx()
ax_r2.plot(rows["n_components"], r2, "-s", color="C1", label="R^2")
ax_r2.set_ylabel("R^2 of the mixture mean")
ax_r2.set_ylim(-0.1, 1.0)
ax_ic.set_title("BIC finds K, R^2 cannot")
ax_ic.legend(loc="upper center")
ax_r2.legend(loc="upper right")

labels = best.component_proba(x, y).argmax(axis=1)
ax_fit.scatter(x[:, 0], y, c=labels, s=3, cmap="tab10", vmax=9, alpha=0.5)
grid = np.linspace(-3, 3, 50)
for k in range(best.n_components):
    ax_fit.plot(grid, best.coef_[k, 0] * grid + best.intercept_[k], color="k", lw=2)
ax_fit.set_xlabel("x")
ax_fit.set_ylabel("y")
ax_fit.set_title(f"the {selector.n_components_} chosen lines")
fig.tight_layout()
fig.savefig("regression_selection.png", dpi=90)
