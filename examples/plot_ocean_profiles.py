"""
Water masses from temperature and salinity profiles (N-D xarray)
================================================================

Ocean data commonly come as an :class:`xarray.Dataset` of several variables,
here temperature and salinity, each a cube over time, depth, latitude and
longitude. Each
(time, lat, lon) point holds one profile of each variable over depth, and
profiles of the same water mass look alike. An oceanographer classifies them
with one feature per (variable, depth) pair, pyxpcm's convention.

:class:`daskmix.Labeled` wraps a :class:`daskmix.GaussianMixture` so that it
takes the Dataset as it is. ``feature_dim="depth"`` makes the variables and
the depth levels the features (24 of them here: 2 variables x 12 depths) and
every other dimension a sample dimension. The labels come back as a
``time x lat x lon`` DataArray with the Dataset's coordinates.
``skipna=True`` leaves the land points (NaN profiles) out of the fit and
labels them -1.

The data are synthetic: four water masses whose fronts meander with longitude
and move north and south with the seasons, a continent and an island, and
noise. Two of the masses, west and east in the subtropics, have the same
temperatures and differ in salinity only: temperature alone cannot tell them
apart. The Dataset is dask-backed (one chunk per two months), so ``predict``
only builds a lazy result; it is computed for plotting. The figure shows the
classes in January and in July, and the mean temperature and salinity
profiles of each class, which :meth:`daskmix.Labeled.unstack_features` puts
back on (variable, depth). Writes ``ocean_profiles.png``.
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
# Four typical profiles (surface to 600 m) of temperature and salinity, fronts
# at latitudes that depend on longitude and month, land where a continent and
# an island are.
depth = np.array([0, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 600.0])
lat = np.linspace(-60.0, 60.0, 61)
lon = np.linspace(100.0, 220.0, 81)
month = np.arange(1, 13)


def profile(surface, bottom, thermocline, width):
    """A value going from ``surface`` to ``bottom`` across a thermocline."""
    return bottom + (surface - bottom) / (1.0 + np.exp((depth - thermocline) / width))


names = ["tropical", "subtropical west", "subtropical east", "subpolar"]
temperature_profiles = np.stack(
    [
        profile(28.0, 6.0, 120.0, 30.0),
        profile(20.0, 5.0, 250.0, 60.0),
        profile(20.0, 5.0, 250.0, 60.0),  # as warm as the west ...
        profile(8.0, 3.0, 150.0, 80.0),
    ]
)
salinity_profiles = np.stack(
    [
        profile(34.6, 34.8, 120.0, 30.0),
        profile(36.4, 34.9, 250.0, 60.0),
        profile(35.2, 34.7, 250.0, 60.0),  # ... but fresher
        profile(33.8, 34.6, 150.0, 80.0),
    ]
)

LAT, LON = np.meshgrid(lat, lon, indexing="ij")
winter = np.cos(2 * np.pi * (month - 1) / 12)[:, None, None]  # +1 in January
meander = 8.0 * np.sin(2 * np.pi * (LON - 100.0) / 80.0)
# |latitude| of the two fronts: they move south in January, north in July
tropical_front = 18.0 + meander - 6.0 * winter * np.sign(LAT)
polar_front = 42.0 - meander / 2 - 5.0 * winter * np.sign(LAT)
subtropical = np.where(LON < 160.0, 1, 2)
truth = np.where(
    np.abs(LAT) < tropical_front,
    0,
    np.where(np.abs(LAT) < polar_front, subtropical, 3),
)  # (month, lat, lon)
shape = truth.shape + depth.shape
temperature = temperature_profiles[truth] + 0.5 * rng.standard_normal(shape)
salinity = salinity_profiles[truth] + 0.1 * rng.standard_normal(shape)

continent = ((LAT - 20.0) / 25.0) ** 2 + ((LON - 125.0) / 18.0) ** 2 < 1.0
island = ((LAT + 30.0) / 6.0) ** 2 + ((LON - 190.0) / 8.0) ** 2 < 1.0
land = continent | island
temperature[:, land, :] = np.nan
salinity[:, land, :] = np.nan

dims = ("time", "lat", "lon", "depth")
ds = xr.Dataset(
    {
        "temperature": (dims, temperature, {"units": "degC"}),
        "salinity": (dims, salinity, {"units": "psu"}),
    },
    coords={"time": month, "lat": lat, "lon": lon, "depth": depth},
).transpose("time", "depth", "lat", "lon")
ds = ds.chunk({"time": 2})  # dask-backed: 6 blocks of 2 months
print(ds)

# %%
# Which dimensions hold the features?
# -----------------------------------
# The variables are features; depth could be either. ``Labeled`` does not
# guess: without ``feature_dim`` or ``sample_dims``, a Dataset whose variables
# have several dimensions is an error that says how to choose.
try:
    Labeled(GaussianMixture(4), skipna=True).fit(ds)
except ValueError as error:
    print(error)

# %%
# Classify the profiles
# ---------------------
# One feature per (variable, depth) pair. With ``skipna=True``, ``fit`` first
# computes which profiles are complete (one pass over the data), then fits the
# mixture on those alone.
model = Labeled(
    GaussianMixture(4, covariance_type="diag", random_state=0),
    feature_dim="depth",
    skipna=True,
)
model.fit(ds)
print("features:", model.feature_dim_, model.n_features_in_)
print(model.feature_index_[:3].tolist(), "...")
labels = model.predict(ds)  # lazy: dims (time, lat, lon)
print(type(labels.data).__name__, labels.dims)
labels = labels.compute()

# the mean profiles of each class on (component, variable, depth)
means = model.unstack_features(model.estimator_.means_, name="mean")
# name each class after the true mass most of its profiles belong to
ocean = ~land
found = labels.values[:, ocean]
rank = np.array(
    [np.bincount(truth[:, ocean][found == k]).argmax() for k in range(len(names))]
)
order = np.argsort(rank)  # order[m]: the component of mass m
classes = labels.copy(data=np.where(labels >= 0, rank[labels], -1))  # land: -1


def agreement(found):
    """Adjusted Rand index of a labelling with the true masses, on the ocean."""
    return adjusted_rand_score(truth[:, ocean].ravel(), found[:, ocean].ravel())


print(f"temperature and salinity: adjusted Rand index {agreement(classes.values):.3f}")

# %%
# Temperature alone
# -----------------
# The same mixture on the temperature profiles only (one feature per depth)
# cannot separate the two subtropical masses.
alone = Labeled(
    GaussianMixture(4, covariance_type="diag", random_state=0),
    feature_dim="depth",
    skipna=True,
)
alone_labels = alone.fit(ds["temperature"]).predict(ds["temperature"]).values
print(f"temperature alone: adjusted Rand index {agreement(alone_labels):.3f}")

# %%
# Maps of the classes and their mean profiles
# -------------------------------------------
colors = ["tab:red", "tab:orange", "tab:purple", "tab:blue"]
cmap = ListedColormap(colors)
fig, axes = plt.subplots(
    1, 4, figsize=(16, 4.6), gridspec_kw={"width_ratios": [1, 1, 0.55, 0.55]}
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
        vmax=3.5,
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
for ax, variable, unit in zip(axes[2:], ("temperature", "salinity"), ("°C", "psu")):
    for k in range(len(names)):
        mean = means.sel(variable=variable, component=order[k])
        style = "--" if k == 2 else "-"  # east: as warm as the west
        ax.plot(mean, depth, style, color=colors[k], marker="o", markersize=3)
    ax.invert_yaxis()  # depth increases downward
    ax.set_xlabel(f"{variable} ({unit})")
    ax.set_title(f"Mean {variable}")
axes[2].set_ylabel("depth (m)")
fig.tight_layout()
fig.savefig("ocean_profiles.png", dpi=90)
