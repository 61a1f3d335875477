"""
Temperature profiles with gaps: classify and fill them (missing data)
=====================================================================

Profiles from floats and ships are rarely complete: a sensor drops a level, a
cast stops before the deepest level. Dropping every profile with a gap throws
most of the data away. ``GaussianMixture(missing="marginalize")`` fits the
mixture on the observed entries instead: each profile is classified on the
levels it has, and :meth:`~daskmix.GaussianMixture.impute` fills each gap with
its conditional expectation under the mixture.

The data are synthetic: three water masses with typical profiles over 12
depths, 10% of the levels dropped at random and a third of the casts stopped
before the bottom, plus land (no level at all). :class:`daskmix.Labeled` keeps
the ``time x lat x lon`` layout; with ``skipna=True`` and a marginalizing
mixture only the land is masked. The figure compares the labels with those of
the usual workaround (complete profiles only), and the imputed temperatures
with the true ones.
"""

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from sklearn.metrics import adjusted_rand_score

from daskmix import GaussianMixture, Labeled

rng = np.random.default_rng(0)

# %%
# Profiles, gaps and land
# -----------------------
depth = np.array([0, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 600.0])
lat = np.linspace(-50.0, 50.0, 41)
lon = np.linspace(140.0, 220.0, 41)
time = np.arange(4)


def profile(surface, bottom, thermocline, width):
    return bottom + (surface - bottom) / (1.0 + np.exp((depth - thermocline) / width))


masses = np.array(
    [
        profile(28.0, 6.0, 120.0, 30.0),  # tropical
        profile(20.0, 5.0, 250.0, 60.0),  # subtropical
        profile(9.0, 3.0, 150.0, 80.0),  # subpolar
    ]
)
LAT, LON = np.meshgrid(lat, lon, indexing="ij")
front = 8.0 * np.sin(2 * np.pi * (LON - 140.0) / 80.0)
truth = np.where(np.abs(LAT + front) < 18, 0, np.where(np.abs(LAT + front) < 35, 1, 2))
truth = np.broadcast_to(truth, (len(time), *truth.shape))
full = masses[truth] + 0.6 * rng.standard_normal((*truth.shape, len(depth)))

observed = full.copy()
observed[rng.random(observed.shape) < 0.1] = np.nan  # dropped levels
stops = rng.integers(6, len(depth), truth.shape)  # casts that stop early
short = rng.random(truth.shape) < 1 / 3
observed[short[..., None] & (np.arange(len(depth)) >= stops[..., None])] = np.nan
land = (LAT - 10.0) ** 2 + (LON - 180.0) ** 2 < 12.0**2
observed[:, land] = np.nan

temp = xr.DataArray(
    observed,
    dims=("time", "lat", "lon", "depth"),
    coords={"time": time, "lat": lat, "lon": lon, "depth": depth},
    name="temperature",
)
complete = (~np.isnan(observed)).all(axis=-1)
print(f"profiles with a gap: {1 - complete[:, ~land].mean():.0%} of the ocean points")

# %%
# Fit through the gaps, and the workaround
# ----------------------------------------
marginal = Labeled(
    GaussianMixture(3, missing="marginalize", random_state=0), "depth", skipna=True
).fit(temp)
labels = marginal.predict(temp)
workaround = Labeled(GaussianMixture(3, random_state=0), "depth", skipna=True).fit(temp)
dropped = workaround.predict(temp)

ocean = ~np.broadcast_to(land, truth.shape)
print(
    "adjusted Rand index over the ocean: marginalize "
    f"{adjusted_rand_score(truth[ocean], labels.values[ocean]):.3f}; "
    f"complete profiles only: {(dropped.values[ocean] >= 0).mean():.0%} labelled"
)

# %%
# Imputed against true temperatures
# ---------------------------------
filled = marginal.impute(temp)
gaps = np.isnan(observed) & ocean[..., None]
error = filled.values[gaps] - full[gaps]
print(f"imputed temperatures: RMS error {np.sqrt(np.mean(error**2)):.2f} degC")

fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
kw = {"vmin": -1, "vmax": 2, "cmap": "viridis", "shading": "auto"}
axes[0].pcolormesh(lon, lat, labels.isel(time=0), **kw)
axes[0].set_title("missing='marginalize': every profile\nwith a level is labelled")
axes[1].pcolormesh(lon, lat, dropped.isel(time=0), **kw)
axes[1].set_title("complete profiles only:\nthe others are lost (-1)")
for ax in axes[:2]:
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
axes[2].plot(full[gaps], filled.values[gaps], ".", ms=1.5, alpha=0.4)
axes[2].plot([2, 30], [2, 30], "k-", lw=0.8)
axes[2].set_xlabel("true temperature (degC)")
axes[2].set_ylabel("imputed (degC)")
axes[2].set_title("gaps filled by impute()")
fig.tight_layout()
fig.savefig("missing_profiles.png", dpi=90)
