"""daskmix: mixture models on dask, scikit-learn compatible."""

from .gaussian import GaussianMixture

__all__ = ["GaussianMixture"]
__version__ = "0.1.0"
