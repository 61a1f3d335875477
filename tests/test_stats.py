"""Statistics add field by field, in a tree fixed by the number of parts."""

from __future__ import annotations

import numpy as np
import pytest

from daskmix._engine.stats import Stats, StreamingTreeSum, tree_sum


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


def _reference_tree_sum(parts, split_every):
    # the tree with plain `+`, new arrays at every addition
    level = list(parts)
    while len(level) > 1:
        groups = [level[i : i + split_every] for i in range(0, len(level), split_every)]
        level = []
        for group in groups:
            total = group[0]
            for part in group[1:]:
                total = total + part
            level.append(total)
    return level[0]


@pytest.mark.parametrize("split_every", [2, 3, 16])
def test_streaming_and_in_place_sums_are_bit_identical_to_the_tree(split_every):
    rng = np.random.default_rng(0)
    for n_parts in [1, 2, 3, 15, 16, 17, 47, 48, 49, 257]:
        parts = [
            Stats(
                v=rng.standard_normal(3) * 10.0 ** rng.integers(-8, 8, 3),
                n=float(rng.random()),
            )
            for _ in range(n_parts)
        ]
        before = [p["v"].copy() for p in parts]
        expected = _reference_tree_sum(parts, split_every)
        streamed = StreamingTreeSum(split_every)
        owned = StreamingTreeSum(split_every)
        for part in parts:
            streamed.add(part)
            owned.add(part.copy(), owned=True)
        for total in (tree_sum(parts, split_every), streamed.total(), owned.total()):
            np.testing.assert_array_equal(total["v"], expected["v"])
            assert total["n"] == expected["n"]
        # the parts themselves are never added into
        for part, values in zip(parts, before):
            np.testing.assert_array_equal(part["v"], values)


def test_add_in_place_keeps_custom_additions_and_the_subclass():
    class Kept(Stats):
        def __add__(self, other):
            rows = np.r_[self["rows"], other["rows"]]
            return Kept(n=self["n"] + other["n"], rows=rows)

    a, b = Kept(n=1.0, rows=np.ones(2)), Kept(n=2.0, rows=np.zeros(3))
    total = a.copy().add_in_place(b)
    assert type(total) is Kept and total["rows"].shape == (5,)
    assert type(a.copy()) is Kept


def test_a_numpy_pass_holds_a_few_block_results_not_all_of_them():
    import tracemalloc

    from daskmix._engine.rows import RowBlocks
    from daskmix._engine.threads import n_threads

    field_bytes = 2**20

    def kernel(tile, params):
        x = tile.X
        # statistics as large as wide full-covariance parameters, per block
        return Stats(n_rows=float(x.shape[0]), big=np.full(field_bytes // 8, 1.0))

    X = np.zeros((64 * 16, 1))
    data = RowBlocks({"X": X}, block_rows=16)
    tracemalloc.start()
    stats = data.map_reduce(kernel, None, tile_rows=16)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert stats["big"][0] == 64.0 and stats["n_rows"] == X.shape[0]
    # 64 blocks; the window, the tile being added and one total per tree level
    assert peak < (2 * n_threads() + 8) * field_bytes
