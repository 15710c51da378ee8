"""Transfer-grid records: merging runs, the Markdown report and the figure (no models)."""

import json

import pytest

from unibridge.cli import main
from unibridge.transfer import merge_results, results_markdown


def rec(seeds, scores, cmd, target="amh"):
    return {"target": target, "profile": "cpu", "base_model": "me5-small", "seeds": seeds,
            "machine": {"processor": "x86_64", "cpu_count": 2, "torch": "2", "torch_threads": 2},
            "command": cmd, "tasks": {"pos": {"metric": "accuracy", "n_test": 3, "test": ["t.conllu"],
                                              "strategies": {},
                                              "configs": {c: {"per_seed": v, "mean": sum(v.values()) / len(v),
                                                              "std": 0.0} for c, v in scores.items()}}}}


def test_grid_results_merge_across_runs():
    a = rec([42], {"unibridge": {"42": 0.30}, "no-kl": {"42": 0.25}}, "first")
    b = rec([42, 43], {"unibridge": {"42": 0.30, "43": 0.40}, "mad-x": {"42": 0.2, "43": 0.2}}, "second")
    m = merge_results(a, b)
    pos = m["tasks"]["pos"]["configs"]
    assert pos["unibridge"]["per_seed"] == {"42": 0.30, "43": 0.40}
    assert pos["unibridge"]["mean"] == pytest.approx(0.35) and pos["unibridge"]["std"] == pytest.approx(0.0707107, abs=1e-6)
    assert pos["no-kl"]["per_seed"] == {"42": 0.25} and pos["no-kl"]["std"] == 0.0
    assert pos["mad-x"]["mean"] == pytest.approx(0.2) and pos["mad-x"]["std"] == 0.0
    assert m["seeds"] == [42, 43] and m["command"] == ["first", "second"]
    assert merge_results(a, rec([1], {}, "x", target="tam"))["target"] == "tam"  # another target replaces


def test_report_rewrites_the_results_block_and_draws_the_figure(tmp_path, capsys):
    a = merge_results(rec([42], {"unibridge": {"42": 0.30}}, "first"),
                      rec([42, 43], {"unibridge": {"43": 0.40}, "mad-x": {"42": 0.2, "43": 0.3}}, "second"))
    f = tmp_path / "amh.json"
    f.write_text(json.dumps(a))
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n\n<!-- results:begin -->\nold\n<!-- results:end -->\n\nanalysis stays\n")
    assert main(["transfer-report", str(f), "--out", str(doc), "--plot", str(tmp_path / "r.png")]) == 0
    text = doc.read_text()
    assert "old" not in text and text.endswith("<!-- results:end -->\n\nanalysis stays\n")
    assert "| MAD-X (language adapters on the base vocabulary, English task adapter) | 25.0 ± 7.1 |" in text
    assert "| UniBridge (full) | 35.0 ± 7.1 |" in text
    assert "| amh | cpu | me5-small | 42, 43 | pos: t.conllu (3) | `first`<br>`second` |" in text
    assert (tmp_path / "r.png").stat().st_size > 1000
    assert results_markdown([a]).splitlines()[2] == "| | amh pos (accuracy) |"
    capsys.readouterr()
    assert main(["transfer-report", str(f), "--json"]) == 0
    rows = {(r["kind"], r["name"]): r for r in json.loads(capsys.readouterr().out)}
    assert rows[("config", "mad-x")]["per_seed"] == {"42": 0.2, "43": 0.3}
    assert rows[("config", "mad-x")]["mean"] == pytest.approx(0.25) and rows[("config", "mad-x")]["target"] == "amh"
    assert main(["transfer-report", str(tmp_path / "none.json")]) == 2  # a clear one-line error
    assert "cannot read results" in capsys.readouterr().err
