"""Sufficient-statistics containers shared by every model.

A block kernel returns a :class:`Stats`; the engine adds the per-block
objects together in a fixed tree, and the M-step reads the total. Keeping the
container this small (a mapping of names to float64 arrays) is what lets the
same reduction code serve Gaussian mixtures, regression mixtures and k-means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np


class Stats(dict):
    """Named float64 arrays that add field by field.

    Every field is summed over rows, so the statistics of two disjoint row sets
    are the sum of their statistics. ``n_rows`` (the number of rows seen) and
    ``loglik`` (the summed log-likelihood of those rows) are present by
    convention in every model's statistics.
    """

    def __add__(self, other: Mapping) -> Stats:
        if self.keys() != other.keys():
            raise ValueError(
                f"cannot add statistics with fields {sorted(self)} and {sorted(other)}"
            )
        return Stats({name: self[name] + other[name] for name in self})

    def scale(self, factor: float) -> Stats:
        """Return the statistics multiplied by ``factor`` (stepwise EM)."""
        return Stats({name: value * factor for name, value in self.items()})

    def copy(self) -> Stats:
        return Stats({name: np.array(value, copy=True) for name, value in self.items()})


def tree_sum(parts: list[Stats], split_every: int = 8) -> Stats:
    """Add ``parts`` pairwise-in-groups, always in the same order.

    The grouping depends only on ``len(parts)`` and ``split_every``, so numpy
    input, the threaded scheduler and a distributed cluster add the same block
    statistics in the same order and give bit-identical totals.
    """
    if not parts:
        raise ValueError("no statistics to add")
    level = list(parts)
    while len(level) > 1:
        level = [
            add_all(level[i : i + split_every])
            for i in range(0, len(level), split_every)
        ]
    return level[0]


def add_all(parts: Iterable[Stats]) -> Stats:
    """Sum a short sequence of statistics left to right."""
    iterator = iter(parts)
    total = next(iterator)
    for part in iterator:
        total = total + part
    return total
