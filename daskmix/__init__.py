"""daskmix: mixture models on dask, scikit-learn compatible."""

from .cluster.kmeans import KMeans
from .gaussian.bayesian_mixture import BayesianGaussianMixture
from .gaussian.mixture import GaussianMixture
from .regression.mixture import RegressionMixture

__all__ = ["BayesianGaussianMixture", "GaussianMixture", "KMeans", "RegressionMixture"]
__version__ = "0.1.0"
