"""The transfer grid: shared stages and seeds on a tiny backbone; merging records, the Markdown report
and the figure (no models)."""

import json

import pytest
import yaml

from tests.conftest import needs_data, tiny_recipe

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
    assert "Weight strategies" not in text  # records without strategies (a grid without the UniBridge run)
    capsys.readouterr()
    assert main(["transfer-report", str(f), "--json"]) == 0
    rows = {(r["kind"], r["name"]): r for r in json.loads(capsys.readouterr().out)}
    assert rows[("config", "mad-x")]["per_seed"] == {"42": 0.2, "43": 0.3}
    assert rows[("config", "mad-x")]["mean"] == pytest.approx(0.25) and rows[("config", "mad-x")]["target"] == "amh"
    assert main(["transfer-report", str(tmp_path / "none.json")]) == 2  # a clear one-line error
    assert "cannot read results" in capsys.readouterr().err


def test_report_writes_a_named_block_and_the_majority_class_row(tmp_path, capsys):
    from unibridge.data import LabelledText, TaggedSentence
    from unibridge.tasks import get_task
    from unibridge.transfer import majority_score

    topic = get_task("topic")
    texts = [LabelledText("a", "sports"), LabelledText("b", "health"), LabelledText("c", "sports"),
             LabelledText("d", "travel")]
    assert majority_score(topic, texts) == 0.5  # "sports" for every text: 2 of 4
    assert majority_score(topic, texts[1:2] + texts[3:]) == 0.5  # a tie: the first label of the task's order
    assert majority_score(get_task("ner"), [TaggedSentence(
        ["A", "b"], ["B-PER", "O"])]) == 0.0  # O everywhere finds no entity
    a = rec([42, 43], {"zero-shot": {"42": 0.25, "43": 0.25}}, "grid")
    a["tasks"]["pos"]["majority"] = 0.25
    f = tmp_path / "sat.json"
    f.write_text(json.dumps(a))
    doc = tmp_path / "results.md"
    doc.write_text("<!-- results:begin -->\nmain\n<!-- results:end -->\n"
                   "<!-- results:topic:begin -->\nold\n<!-- results:topic:end -->\ntail\n")
    assert main(["transfer-report", str(f), "--out", str(doc), "--block", "topic"]) == 0
    text = doc.read_text()
    assert "main" in text and "old" not in text and text.endswith("<!-- results:topic:end -->\ntail\n")
    assert "| Majority class (every example the test set's most frequent label) | 25.0 |" in text
    assert main(["transfer-report", str(f), "--out", str(doc), "--block", "nli"]) == 2
    assert "has no <!-- results:nli:begin -->" in capsys.readouterr().err


def test_report_takes_configurations_from_several_grids_of_one_target(tmp_path, capsys):
    old = rec([42, 43], {"zero-shot": {"42": 0.5, "43": 0.7}, "unibridge": {"42": 0.1, "43": 0.1}}, "old")
    old["tasks"]["pos"]["strategies"] = {"harmony": {"per_seed": {"42": 0.1}, "mean": 0.1, "std": 0.0}}
    new = rec([42, 43], {"unibridge": {"42": 0.3, "43": 0.4}}, "new")
    new["tasks"]["pos"]["strategies"] = {"uniform": {"per_seed": {"42": 0.2}, "mean": 0.2, "std": 0.0}}
    other = rec([42], {"zero-shot": {"42": 0.9}}, "tam", target="tam")
    for name, r in (("old", old), ("new", new), ("tam", other)):
        (tmp_path / f"{name}.json").write_text(json.dumps(r))
    capsys.readouterr()
    assert main(["transfer-report", f"{tmp_path / 'old.json'}:zero-shot,mad-x", str(tmp_path / "tam.json"),
                 str(tmp_path / "new.json"), "--json"]) == 0
    rows = {(r["target"], r["kind"], r["name"]): r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {("amh", "config", "zero-shot"), ("amh", "config", "unibridge"),
                         ("amh", "strategy", "uniform"), ("tam", "config", "zero-shot")}  # old harmony dropped
    assert rows[("amh", "config", "zero-shot")]["mean"] == pytest.approx(0.6)
    assert rows[("amh", "config", "unibridge")]["per_seed"] == {"42": 0.3, "43": 0.4}  # not the old file's 0.1
    capsys.readouterr()
    assert main(["transfer-report", str(tmp_path / "old.json"), str(tmp_path / "tam.json")]) == 0
    assert "| | amh pos (accuracy) | tam pos (accuracy) |" in capsys.readouterr().out  # first-seen order
    assert main(["transfer-report", f"{tmp_path / 'old.json'}:zero-shot,madx"]) == 2
    assert "unknown configuration 'madx'" in capsys.readouterr().err


def test_the_fixed_vocabulary_row_names_the_size_the_grid_used():
    def label(*sizes):
        recs = [rec([42], {"fixed-vocab": {"42": 0.5}}, "x", target=t) for t in ("amh", "tam")[:len(sizes)]]
        for r, size in zip(recs, sizes):
            if size:
                r["fixed_vocab_size"] = size
        return next(ln for ln in results_markdown(recs).splitlines() if "vocabulary search" in ln).split(" |")[0]

    assert label(None) == label(10000) == "| − vocabulary search (10k pieces)"
    assert label(5000) == "| − vocabulary search (5,000 pieces)"
    assert label(5000, 8000) == "| − vocabulary search (fixed sizes)"
    merged = merge_results(rec([42], {}, "a"), {**rec([43], {"fixed-vocab": {"43": 0.4}}, "b"), "fixed_vocab_size": 5000})
    assert merged["fixed_vocab_size"] == 5000


def test_plots_return_figures_mark_missing_configurations_and_leave_the_backend_alone(tmp_path):
    import matplotlib

    from unibridge.inference.plot import plot_weight_heatmap
    from unibridge.transfer import plot_results

    backend = matplotlib.get_backend()
    a = rec([42, 43], {"unibridge": {"42": 0.02, "43": 0.10}, "mad-x": {"42": 0.2, "43": 0.3}}, "x")
    a["tasks"]["pos"]["configs"]["unibridge"]["std"] = 0.2  # 6 ± 20: the bar would reach -14
    b = rec([42], {"unibridge": {"42": 0.5}}, "y", target="tam")
    fig = plot_results([a, b])
    ax = fig.axes[0]
    assert "seeds 42, 43" in ax.get_title()
    assert [t.get_text() for t in ax.texts] == ["n/a"]  # tam has no MAD-X
    lows = [float(seg[0][1]) for c in ax.collections for seg in c.get_segments() if len(seg)]  # bar bottoms
    lows = [v for v in lows if v == v]
    assert min(lows) == 0.0  # clipped at 0
    heat = plot_weight_heatmap({"harmony": {"en": 0.6, "ru": 0.4}}, row_label="strategy")
    assert heat.axes[0].get_ylabel() == "strategy"
    assert plot_weight_heatmap({"amh": {"en": 1.0}}, tmp_path / "w.png").stat().st_size > 1000
    assert matplotlib.get_backend() == backend


@needs_data
def test_an_ablation_that_changes_nothing_in_the_recipe_is_not_run(tiny_base, tmp_path, caplog):
    from unibridge.transfer import TransferGrid

    raw = tiny_recipe(tiny_base)
    for method, dropped in (("unibridge", "paper-init"), ("fvt", "fvt-init")):
        raw["embeddings"]["method"] = method
        (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
        with caplog.at_level("INFO", logger="unibridge.transfer"):
            grid = TransferGrid(tmp_path / "r.yaml", None, out=tmp_path / "g", fixed_vocab_size=700,
                                configs=["unibridge", "fvt-init", "paper-init", "fixed-vocab"])
        assert grid.configs == [c for c in ("unibridge", "fvt-init", "paper-init", "fixed-vocab") if c != dropped]
        assert f"amh: {dropped} change(s) nothing in this recipe; not run" in caplog.text
    raw["vocab"]["fixed_size"] = 700
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
    grid = TransferGrid(tmp_path / "r.yaml", None, out=tmp_path / "g", fixed_vocab_size=700,
                        configs=["unibridge", "fixed-vocab"])
    assert grid.configs == ["unibridge"]


@needs_data
def test_a_grid_change_of_the_parallel_pattern_reaches_the_pairs_the_recipe_derived_only(tiny_base, tmp_path):
    from unibridge.transfer import TransferGrid

    raw = tiny_recipe(tiny_base)
    raw["sources"]["en"].pop("parallel")
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
    plain = TransferGrid(tmp_path / "r.yaml", None, out=tmp_path / "g", configs=["unibridge"])
    assert plain.recipe(42).sources["en"].parallel == "parallel/unibridge_alignment/flores/am/amh_Ethi-eng_Latn.txt"
    grid = TransferGrid(tmp_path / "r.yaml", None, out=tmp_path / "g", configs=["unibridge"],
                        change={"parallel": "p/{code}.txt"})
    assert grid.recipe(42).sources["en"].parallel == "p/amh.txt|p/en.txt"
    raw["sources"]["en"]["parallel"] = own = "mine.txt|theirs.txt"  # a source's own entry wins over the pattern
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
    grid = TransferGrid(tmp_path / "r.yaml", None, out=tmp_path / "g", configs=["unibridge"],
                        change={"parallel": "p/{code}.txt"})
    assert grid.recipe(42).sources["en"].parallel == own


@pytest.mark.slow
@needs_data
def test_transfer_grid_shares_stages_and_aggregates_seeds(tiny_base, tmp_path):
    import statistics

    from unibridge.errors import ConfigError
    from unibridge.transfer import CONFIGS, TransferGrid, results_markdown

    raw = tiny_recipe(tiny_base)
    raw["tasks"] = {"pos": raw["tasks"]["pos"]}
    (tmp_path / "amh.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
    configs = [c for c in CONFIGS if c not in ("align-init", "roman-init")]  # two more initialisers: no new path
    grid = TransferGrid(tmp_path / "amh.yaml", None, seeds=[1, 2], out=tmp_path / "grid", fixed_vocab_size=700,
                        configs=configs, strategies=["harmony", "uniform", "lang2vec"])
    rec = grid.run(command="test")
    pos = rec["tasks"]["pos"]
    # paper-init is the recipe itself here (Eq. 2-8 initialisation): not run again
    assert list(pos["configs"]) == [c for c in configs if c != "paper-init"] and pos["n_test"] == 12
    for e in [*pos["configs"].values(), *pos["strategies"].values()]:
        vals = list(e["per_seed"].values())
        assert len(vals) == 2 and all(0 <= v <= 1 for v in vals)
        assert e["mean"] == statistics.fmean(vals) and e["std"] == statistics.stdev(vals)
    for seed in ("1", "2"):  # english-only is the UniBridge run's English task adapter alone
        res = json.loads((grid.run_dir("unibridge", int(seed)) / "evaluation" / "results.json").read_text())
        assert pos["configs"]["english-only"]["per_seed"][seed] == res["pos"]["strategies"]["single:en"]["accuracy"]
        assert pos["configs"]["unibridge"]["per_seed"][seed] == res["pos"]["strategies"]["harmony"]["accuracy"]
    cache = tmp_path / "grid" / "cache"
    count = lambda kind: len(list(cache.glob(f"{kind}-*")))  # noqa: E731
    # source adapters once per seed for all five pipeline runs; vocabulary shared by all but fixed-vocab,
    # embeddings by unibridge and no-kl; adaptation rebuilt by every change
    assert (count("source-en"), count("task-pos-en"), count("source-ru")) == (2, 2, 2)
    assert (count("vocab"), count("embeddings"), count("adaptation")) == (4, 8, 10)
    assert (count("madx-adaptation"), count("zeroshot-pos")) == (2, 2)
    assert not (grid.run_dir("mad-x", 1) / "adaptation" / "embeddings.safetensors").exists()  # base vocabulary
    again = grid.run(command="test")  # everything cached: same numbers
    assert again["tasks"] == rec["tasks"]
    table = results_markdown([rec])
    row = next(line for line in table.splitlines() if line.startswith("| UniBridge (full)"))
    e = pos["configs"]["unibridge"]
    assert row == f"| UniBridge (full) | {100 * e['mean']:.1f} ± {100 * e['std']:.1f} |"
    # a MAD-X-only grid runs no UniBridge stage but the sources it reads (here all cached) and scores the same
    with pytest.raises(ConfigError, match="weight strategies are scored on the UniBridge run"):
        TransferGrid(tmp_path / "amh.yaml", None, configs=["mad-x"], strategies=["harmony"], out=tmp_path / "x")
    madx = TransferGrid(tmp_path / "amh.yaml", None, seeds=[1], out=tmp_path / "madx-only", configs=["mad-x"],
                        cache=cache).run(command="madx")
    assert madx["tasks"]["pos"]["configs"]["mad-x"]["per_seed"] == {"1": pos["configs"]["mad-x"]["per_seed"]["1"]}
    assert madx["tasks"]["pos"]["strategies"] == {}
    only = tmp_path / "madx-only" / "amh" / "unibridge" / "seed1"
    assert (only / "sources").is_dir() and not any((only / s).exists() for s in ("vocab", "adaptation", "harmony"))
