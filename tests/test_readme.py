"""The README's snippets run as written: each one as a script, all in order.

The snippets are small enough to run here as they are (a few seconds each);
nothing is patched. They run in fresh interpreters, as a user would run them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), re.S | re.M)


def run_python(args: list[str], cwd: Path):
    env = dict(os.environ)
    # the daskmix of this source tree, installed or not
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_readme_has_the_tour():
    blocks = python_blocks()
    assert len(blocks) >= 6
    # the cluster snippet makes its own store and guards the worker processes
    cluster = [b for b in blocks if "LocalCluster" in b]
    assert len(cluster) == 1
    assert 'if __name__ == "__main__":' in cluster[0]
    assert "to_zarr" in cluster[0] and "tempfile" in cluster[0]


def test_readme_snippets_run_in_order_as_one_program(tmp_path):
    # run with -c: a program without a file, that worker processes do not re-import
    program = "\n\n".join(python_blocks())
    result = run_python(["-c", program], tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    # the model-selection snippet finds the three clusters it was given
    assert "{'gaussianmixture__n_components': 3}" in result.stdout
    assert "('time', 'component')" in result.stdout


@pytest.mark.parametrize(
    "index",
    [i for i, b in enumerate(python_blocks()) if "LocalCluster" in b],
    ids=["cluster"],
)
def test_cluster_snippet_runs_as_a_script(tmp_path, index):
    # as a file, worker processes re-import it: the __main__ guard must hold
    script = tmp_path / "cluster_snippet.py"
    script.write_text(python_blocks()[index])
    result = run_python([str(script)], tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    n_iter, lower_bound = result.stdout.split()[-2:]
    assert int(n_iter) >= 1 and float(lower_bound) < 0
