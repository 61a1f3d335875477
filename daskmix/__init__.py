"""daskmix: mixture models on dask, scikit-learn compatible."""

from . import metrics
from ._em.progress import show_progress
from .cluster.kmeans import KMeans
from .gaussian.mixture import GaussianMixture
from .gaussian.variational.mixture import BayesianGaussianMixture
from .labeled import Labeled
from .regression.mixture import RegressionMixture
from .selection import GaussianMixtureIC, RegressionMixtureIC

__all__ = [
    "BayesianGaussianMixture",
    "GaussianMixture",
    "GaussianMixtureIC",
    "KMeans",
    "Labeled",
    "RegressionMixture",
    "RegressionMixtureIC",
    "metrics",
    "show_progress",
]
__version__ = "0.1.0"
