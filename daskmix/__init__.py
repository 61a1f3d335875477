"""daskmix: mixture models on dask, scikit-learn compatible."""

from .cluster.kmeans import KMeans
from .gaussian.mixture import GaussianMixture
from .labeled import Labeled
from .regression.mixture import RegressionMixture

__all__ = ["GaussianMixture", "KMeans", "Labeled", "RegressionMixture"]
__version__ = "0.1.0"
