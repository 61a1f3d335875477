"""Seeding algorithms (k-means||, k-means++, random rows), Lloyd and KMeans."""

from .kmeans import KMeans

__all__ = ["KMeans"]
