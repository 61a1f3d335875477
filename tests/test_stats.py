"""Statistics add field by field, in a tree fixed by the number of parts."""

from __future__ import annotations

import numpy as np
import pytest

from daskmix._core.stats import Stats, tree_sum


def test_add_scale_copy():
    a = Stats(n=np.float64(2.0), s=np.array([1.0, 2.0]))
    b = Stats(n=np.float64(3.0), s=np.array([0.5, 0.5]))
    total = a + b
    assert total["n"] == 5.0
    np.testing.assert_array_equal(total["s"], [1.5, 2.5])
    np.testing.assert_array_equal(a.scale(2.0)["s"], [2.0, 4.0])
    copied = a.copy()
    copied["s"][0] = 99.0
    assert a["s"][0] == 1.0


def test_mismatched_fields_are_an_error():
    with pytest.raises(ValueError, match="fields"):
        Stats(a=1.0) + Stats(b=1.0)


def test_tree_sum_is_deterministic_and_exact_for_integers():
    parts = [Stats(v=np.array([float(i)])) for i in range(37)]
    assert tree_sum(parts, 4)["v"][0] == sum(range(37))
    values = np.random.default_rng(0).standard_normal(100) * 1e10
    floats = [Stats(v=np.array([v])) for v in values]
    assert tree_sum(floats, 8)["v"][0] == tree_sum(list(floats), 8)["v"][0]
    with pytest.raises(ValueError):
        tree_sum([])
