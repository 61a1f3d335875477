"""
Water masses from ocean temperature profiles (N-D xarray)
=========================================================

Ocean temperature is commonly stored as a labeled cube ``time x depth x lat x
lon``. Each (time, lat, lon) point holds one temperature profile over depth,
and profiles of the same water mass look alike. :class:`daskmix.Labeled`
wraps a :class:`daskmix.GaussianMixture` so that it takes the cube as it
is. ``feature_dim="depth"`` makes the depth levels the features and every
other dimension a sample dimension. The labels come back as a
``time x lat x lon`` DataArray with the cube's coordinates.
``skipna=True`` leaves the land points (NaN columns) out of the fit and
labels them -1.

The data here are synthetic: three water masses (warm tropical, subtropical,
cold subpolar) whose fronts meander with longitude and move north and south
with the seasons, a continent and an island, and noise. The cube is
dask-backed (one chunk per two months), so ``predict`` only builds a lazy
result; it is computed for plotting. The figure shows the labels in January
and in July, and the mean profile of each class.
"""

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
from sklearn.metrics import adjusted_rand_score

from daskmix import GaussianMixture, Labeled

rng = np.random.default_rng(0)

# %%
# A synthetic ocean
# -----------------
# Three typical profiles (surface to 600 m), fronts at latitudes that depend
# on longitude and month, land where a continent and an island are.
depth = np.array([0, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 600.0])
lat = np.linspace(-60.0, 60.0, 61)
lon = np.linspace(100.0, 220.0, 81)
month = np.arange(1, 13)


def profile(surface, bottom, thermocline, width):
    """Temperature falling from ``surface`` to ``bottom`` across a thermocline."""
    return bottom + (surface - bottom) / (1.0 + np.exp((depth - thermocline) / width))


masses = {
    "tropical": profile(28.0, 6.0, 120.0, 30.0),
    "subtropical": profile(20.0, 5.0, 250.0, 60.0),
    "subpolar": profile(8.0, 3.0, 150.0, 80.0),
}
names = list(masses)

LAT, LON = np.meshgrid(lat, lon, indexing="ij")
winter = np.cos(2 * np.pi * (month - 1) / 12)[:, None, None]  # +1 in January
meander = 8.0 * np.sin(2 * np.pi * (LON - 100.0) / 80.0)
# |latitude| of the two fronts: they move south in January, north in July
tropical_front = 18.0 + meander - 6.0 * winter * np.sign(LAT)
polar_front = 42.0 - meander / 2 - 5.0 * winter * np.sign(LAT)
truth = np.where(
    np.abs(LAT) < tropical_front, 0, np.where(np.abs(LAT) < polar_front, 1, 2)
)  # (month, lat, lon)
mean_profiles = np.stack([masses[n] for n in names])  # (mass, depth)
temperature = mean_profiles[truth] + 0.5 * rng.standard_normal(
    truth.shape + depth.shape
)

continent = ((LAT - 20.0) / 25.0) ** 2 + ((LON - 125.0) / 18.0) ** 2 < 1.0
island = ((LAT + 30.0) / 6.0) ** 2 + ((LON - 190.0) / 8.0) ** 2 < 1.0
land = continent | island
temperature[:, land, :] = np.nan

cube = xr.DataArray(
    temperature,
    dims=("time", "lat", "lon", "depth"),
    coords={"time": month, "lat": lat, "lon": lon, "depth": depth},
    name="temperature",
    attrs={"units": "degC"},
).transpose("time", "depth", "lat", "lon")
cube = cube.chunk({"time": 2})  # dask-backed: 6 blocks of 2 months
print(cube)

# %%
# Classify the profiles
# ---------------------
# With ``skipna=True``, ``fit`` first computes which profiles are complete
# (one pass over the data), then fits the mixture on those alone.
model = Labeled(
    GaussianMixture(3, covariance_type="diag", random_state=0),
    feature_dim="depth",
    skipna=True,
)
model.fit(cube)
labels = model.predict(cube)  # lazy: dims (time, lat, lon)
print(type(labels.data).__name__, labels.dims)
labels = labels.compute()

# name the classes by their mean surface temperature, warmest first
order = np.argsort(-model.estimator_.means_[:, 0])
rank = np.empty_like(order)
rank[order] = np.arange(order.size)
classes = labels.copy(data=np.where(labels >= 0, rank[labels], -1))  # land: -1
ocean = ~land
agreement = adjusted_rand_score(
    truth[:, ocean].ravel(), classes.values[:, ocean].ravel()
)
print(f"agreement with the true water masses (adjusted Rand index): {agreement:.3f}")

# %%
# Maps of the classes and their mean profiles
# -------------------------------------------
colors = ["tab:red", "tab:orange", "tab:blue"]
cmap = ListedColormap(colors)
fig, axes = plt.subplots(
    1, 3, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1, 1, 0.7]}
)
for ax, when, title in zip(axes[:2], (1, 7), ("January", "July")):
    field = classes.sel(time=when)
    ax.set_facecolor("0.75")  # land: the masked cells let the background through
    ax.pcolormesh(
        lon,
        lat,
        np.ma.masked_less(field.values, 0),
        cmap=cmap,
        vmin=-0.5,
        vmax=2.5,
        shading="nearest",
    )
    ax.set_aspect("equal")
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title(f"Classes in {title}")
axes[0].legend(
    handles=[Patch(color=c, label=n) for c, n in zip(colors, names)]
    + [Patch(color="0.75", label="land")],
    loc="lower left",
    fontsize="small",
    framealpha=0.9,
)

ax = axes[2]
for k, (color, name) in enumerate(zip(colors, names)):
    mean = cube.where(classes == k).mean(("time", "lat", "lon"))
    ax.plot(mean, depth, color=color, marker="o", markersize=3, label=name)
ax.invert_yaxis()  # depth increases downward
ax.set_xlabel("temperature (°C)")
ax.set_ylabel("depth (m)")
ax.set_title("Mean profile of each class")
ax.legend(fontsize="small")
fig.tight_layout()
plt.show()
