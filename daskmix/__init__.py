"""daskmix: mixture models on dask, scikit-learn compatible."""

from . import metrics
from .cluster.kmeans import KMeans
from .gaussian.mixture import GaussianMixture
from .labeled import Labeled
from .regression.mixture import RegressionMixture
from .selection import GaussianMixtureIC, RegressionMixtureIC

__all__ = [
    "GaussianMixture",
    "GaussianMixtureIC",
    "KMeans",
    "Labeled",
    "RegressionMixture",
    "RegressionMixtureIC",
    "metrics",
]
__version__ = "0.1.0"
