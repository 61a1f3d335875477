"""``python -m daskmix.demo``: its options, its output, and its picture or the
line that says why there is none."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

from daskmix import demo


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as stop:
        demo.main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for option in ("--output", "--no-plot", "--samples", "--processes", "--dashboard"):
        assert option in text


def test_bad_options_are_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        demo.main(["--samples", "10"])
    assert stop.value.code == 2
    assert "--samples must be at least 100" in capsys.readouterr().err


def test_a_small_run_writes_its_picture_where_asked(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "sub" / "fit.png"
    path.parent.mkdir()
    assert demo.main(["--samples", "3000", "--output", str(path)]) == 0
    out = capsys.readouterr().out
    assert path.is_file() and path.stat().st_size > 1000
    assert f"wrote {path}" in out
    assert "EM iterations, converged=True" in out
    counts = out.split("points per component: ")[1].splitlines()[0]
    assert sum(json.loads(counts)) == 3000


def test_without_matplotlib_it_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    path = tmp_path / "fit.png"
    assert demo.main(["--samples", "500", "-o", str(path)]) == 0
    out = capsys.readouterr().out
    assert "no picture: matplotlib is not installed" in out
    assert not path.exists()


def test_make_data_has_five_blobs():
    X, means = demo.make_data(n_samples=1001)
    assert X.shape == (1001, 2) and X.numblocks[0] == 8
    assert means.shape == (5, 2)
    assert np.isfinite(X.compute()).all()


def test_dashboard_stays_up_until_enter(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no input: end of file
    assert demo.main(["--dashboard", "--samples", "500", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "dashboard: http://127.0.0.1:" in out
    assert "press Enter to shut down" in out
