"""``Labeled``: mixture estimators on N-D xarray data."""

from .estimator import Labeled
from .stacking import COMPONENT_DIM, DATASET_FEATURE_DIM

__all__ = ["COMPONENT_DIM", "DATASET_FEATURE_DIM", "Labeled"]
