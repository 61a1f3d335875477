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

    def add_in_place(self, other: Mapping) -> Stats:
        """The sum with ``other``, built in these statistics where it can be.

        Array fields that already have the sum's shape and dtype are updated
        in place (the same additions as ``+``, without a new array); the
        others, scalars included, are replaced by the sum. Statistics with an
        addition of their own (k-means' selected rows) return ``self + other``.
        Use the returned object, and only on statistics nothing else holds.
        """
        if type(self).__add__ is not Stats.__add__:
            return self + other
        if self.keys() != other.keys():
            raise ValueError(
                f"cannot add statistics with fields {sorted(self)} and {sorted(other)}"
            )
        for name, value in self.items():
            addend = other[name]
            if (
                isinstance(value, np.ndarray)
                and value.ndim > 0
                and value.flags.writeable
                and np.shape(addend) == value.shape
                and np.result_type(value, addend) == value.dtype
            ):
                np.add(value, addend, out=value)
            else:
                self[name] = value + addend
        return self

    def scale(self, factor: float) -> Stats:
        """Return the statistics multiplied by ``factor`` (stepwise EM)."""
        return Stats({name: value * factor for name, value in self.items()})

    def copy(self) -> Stats:
        return type(self)(
            {
                name: np.array(value, copy=True)
                if isinstance(value, np.ndarray)
                else value
                for name, value in self.items()
            }
        )


def tree_sum(parts: list[Stats], split_every: int = 8) -> Stats:
    """Add ``parts`` pairwise-in-groups, always in the same order.

    Consecutive groups of ``split_every`` parts are added left to right, then
    the group sums in groups of ``split_every``, and so on up to one total.
    The grouping depends only on ``len(parts)`` and ``split_every``, so numpy
    input, the threaded scheduler and a distributed cluster add the same block
    statistics in the same order and give bit-identical totals. The parts are
    not modified.
    """
    tree = StreamingTreeSum(split_every)
    for part in parts:
        tree.add(part)
    return tree.total()


class StreamingTreeSum:
    """:func:`tree_sum` of parts that arrive one at a time, in order.

    Each level of the tree keeps one running group total, so at most one
    total per level is alive instead of every part: for statistics the size
    of the parameters (``K * D * D`` values for full covariances) the parts
    need not pile up until the last block is done (numpy passes add block
    results as they arrive). :func:`tree_sum` is this tree over a list.

    Parameters
    ----------
    split_every : int
        Fan-in of the tree, as in :func:`tree_sum`.
    """

    def __init__(self, split_every: int):
        self.split_every = split_every
        # per level: [running total of the open group, parts in it]
        self._levels: list[list] = []

    def add(self, part: Stats, owned: bool = False) -> None:
        """Add the next part (in order) to the tree.

        ``owned=True`` says nothing else holds ``part``'s arrays, so the tree
        may add into them instead of copying the first part of a group.
        """
        self._add(part, 0, owned)

    def _add(self, part: Stats, level: int, owned: bool) -> None:
        if level == len(self._levels):
            self._levels.append([None, 0])
        group = self._levels[level]
        if group[0] is None:
            group[0] = part if owned else part.copy()
        else:
            group[0] = group[0].add_in_place(part)
        group[1] += 1
        if group[1] == self.split_every:
            total, group[0], group[1] = group[0], None, 0
            self._add(total, level + 1, owned=True)

    def total(self) -> Stats:
        """The sum of every part added (call once: it adds into the groups)."""
        if not self._levels:
            raise ValueError("no statistics to add")
        carried = None
        for total, count in self._levels:
            # an open group's total is the last element of the level above;
            # a level left with one element passes it up unchanged
            if carried is not None:
                total = carried if total is None else total.add_in_place(carried)
                count += 1
            carried = total if count else None
        # the top level always holds an element: the total
        return carried


def add_all(parts: Iterable[Stats]) -> Stats:
    """Sum a short sequence of statistics left to right.

    The parts are not modified: the running total starts as a copy of the
    first and the others are added into it in place (bit-identical to
    ``a + b``, without a new array per addition).
    """
    iterator = iter(parts)
    total = next(iterator).copy()
    for part in iterator:
        total = total.add_in_place(part)
    return total
