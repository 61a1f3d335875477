"""daskmix: mixture models on dask, scikit-learn compatible."""

from .gaussian import GaussianMixture
from .kmeans import KMeans
from .regression import RegressionMixture

__all__ = ["GaussianMixture", "KMeans", "RegressionMixture"]
__version__ = "0.1.0"
