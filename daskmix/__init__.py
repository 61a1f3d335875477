"""daskmix: mixture models on dask, scikit-learn compatible."""

from ._core.progress import show_progress
from .cluster.kmeans import KMeans
from .gaussian.mixture import GaussianMixture
from .regression.mixture import RegressionMixture

__all__ = ["GaussianMixture", "KMeans", "RegressionMixture", "show_progress"]
__version__ = "0.1.0"
