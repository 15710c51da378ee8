"""The benchmarks' shared results helper: a --quick run writes its own file, and a missing baseline
package is one line naming the extra to install."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _results_io():
    spec = importlib.util.spec_from_file_location("results_io", BENCH / "results_io.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_quick_run_never_writes_over_the_full_runs_result(tmp_path, monkeypatch):
    rio = _results_io()
    monkeypatch.setattr(rio, "RESULTS", tmp_path)
    full = rio.write_result("main_job", {"cpu_s": 291.4}, quick=False)
    quick = rio.write_result("main_job", {"cpu_s": None, "smoke_s": 93.3}, quick=True)
    assert (full.name, quick.name) == ("main_job.json", "main_job_quick.json")
    assert json.loads(full.read_text()) == {"cpu_s": 291.4}
    assert rio.result_path("vocab_search", True, ".png") == tmp_path / "vocab_search_quick.png"


def test_every_benchmark_writes_through_the_helper():
    for script in sorted(BENCH.glob("*.py")):
        if script.name == "results_io.py":
            continue
        text = script.read_text(encoding="utf-8")
        assert "write_result(" in text, script.name
        assert "results\" / " not in text and 'RESULTS / "' not in text, script.name  # no direct writes


def test_a_missing_baseline_package_is_one_line_naming_the_extra(capsys):
    rio = _results_io()
    with pytest.raises(SystemExit) as e:
        rio.require("no_such_baseline_package", "benchmarks/x.py's baseline")
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["benchmarks: benchmarks/x.py's baseline needs the package 'no_such_baseline_package', which is "
                   "not installed: pip install -e \".[bench]\""]
