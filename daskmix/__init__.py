"""daskmix: mixture models on dask, scikit-learn compatible."""

from .gaussian import GaussianMixture
from .kmeans import KMeans

__all__ = ["GaussianMixture", "KMeans"]
__version__ = "0.1.0"
