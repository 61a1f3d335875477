"""One pass that serves several models: their kernels side by side on each block.

Used by the model-selection sweep (many candidates iterating together) and by
the stepwise driver (scoring several restarts exactly in one pass).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .namespaces import kernel_for, register_device_kernel, stats_to_host
from .rows import RowBlocks
from .stats import Stats, add_all
from .tiles import Tile, tiles_of


@dataclass(frozen=True)
class SweepPlan:
    """One pass's work for every run: ``(kernel, plan, tile_rows)`` each."""

    entries: tuple[tuple[Any, Any, int], ...]


def sweep_kernel(block: Tile, plan: SweepPlan) -> Stats:
    """Run every entry's kernel over the block, in its own tiles.

    The statistics of entry ``i`` come back under keys ``"i:field"``.
    """
    out = Stats()
    for i, (kernel, sub_plan, tile_rows) in enumerate(plan.entries):
        tiles = list(tiles_of(block, tile_rows)) or [block.part(slice(0, 0))]
        run = kernel_for(kernel, block)
        stats = add_all(stats_to_host(run(tile, sub_plan)) for tile in tiles)
        for name, value in stats.items():
            out[f"{i}:{name}"] = value
    return out


# the sweep runs every entry's own kernel, device variants included
register_device_kernel(sweep_kernel, sweep_kernel)


def split_stats(stats: Stats, n_entries: int) -> list[Stats]:
    """Undo the ``"i:field"`` keys of :func:`sweep_kernel`."""
    parts = [Stats() for _ in range(n_entries)]
    for key, value in stats.items():
        index, name = key.split(":", 1)
        parts[int(index)][name] = value
    return parts


def shared_pass(
    kernels_and_plans: Sequence[tuple[Any, Any, int]], data: RowBlocks
) -> list[Stats]:
    """One pass over ``data`` for several ``(kernel, plan, tile_rows)`` at once."""
    plan = SweepPlan(tuple(kernels_and_plans))
    # each kernel tiles the block itself: the engine hands over whole blocks
    # (groups of tiny blocks, joined)
    block_rows = max(max(data.group_rows, default=1), 1)
    stats = data.map_reduce(sweep_kernel, plan, block_rows, name="sweep")
    return split_stats(stats, len(plan.entries))
