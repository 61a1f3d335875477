"""daskmix reaches dask and distributed through their public APIs only.

No module or name beginning with an underscore is imported from dask or
distributed, no private attribute of a dask array is read, and no expression's
token is forced (docs/design.rst, "Public dask only").
"""

from __future__ import annotations

import re
from pathlib import Path

import daskmix

PRIVATE = re.compile(r"dask\._|distributed\._|\._meta\b|_determ_token")


def test_no_private_dask_or_distributed_names():
    root = Path(daskmix.__file__).parent
    found = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE.search(line)
    ]
    assert not found, "\n".join(found)
