"""daskmix: mixture models on dask, scikit-learn compatible."""

from . import metrics
from ._core.progress import show_progress
from .cluster.kmeans import KMeans
from .gaussian.bayesian_mixture import BayesianGaussianMixture
from .gaussian.mixture import GaussianMixture
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
