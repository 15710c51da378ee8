"""End to end on a tiny config-built backbone and real (truncated) data: every stage, caching,
task-adapter kinds, the predictor, evaluation strategies and the walkthrough notebook."""

import json
import math
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import needs_data, tiny_recipe
from unibridge.config import Recipe
from unibridge.pipeline import STAGES, Pipeline

pytestmark = needs_data


def test_all_stages_write_their_artifacts(finished_run):
    run_dir, result = finished_run
    assert list(result.timings) == list(STAGES)
    search = json.loads((run_dir / "vocab" / "search.json").read_text())
    assert search["vocab_size"] == 800  # Algorithm 1: one step past v_i, then Delta < eps stops it
    report = json.loads((run_dir / "embeddings" / "report.json").read_text())["counts"]
    assert sum(report.values()) == search["tokenizer_size"]
    weights = json.loads((run_dir / "harmony" / "weights.json").read_text())["weights"]
    assert set(weights) == {"en", "ru"} and sum(weights.values()) == pytest.approx(1.0)
    # standardised inverse distances of two sources are +1 and -1: weights softmax(±1)
    assert max(weights.values()) == pytest.approx(1 / (1 + math.exp(-2.0)))
    gaps = json.loads((run_dir / "harmony" / "diagnostics.json").read_text())["centroid_gap"]
    assert set(gaps) == {"en", "ru"} and all(g["adapted"] > 0 and g["base"] > 0 for g in gaps.values())
    for folder in ("adaptation", "sources/en", "sources/ru"):  # every language adapter is diagnosed
        diag = json.loads((run_dir / folder / "diagnostics.json").read_text())
        assert 0 <= diag["adapted"]["spread_mean"] <= 1 and len(diag["layer_cosine"]) == 3
        assert json.loads((run_dir / folder / "head.json").read_text())["steps"] == 2  # fitted head
    for task in ("pos", "ner", "nli"):
        s = result.scores[task]
        assert s["n_test"] == 12
        assert set(s["strategies"]) == {"harmony", "harmony-untuned", "uniform", "lang2vec",
                                        *(f"single:{x}" for x in (["en"] if task == "ner" else ["en", "ru"]))}
        assert all(0.0 <= m[s["metric"]] <= 1.0 for m in s["strategies"].values())
    assert not list(run_dir.glob(".*tmp"))  # nothing half-written left behind
    # adapters are stored as safetensors (loading never unpickles)
    for folder in ("adaptation/adapter", "sources/en/adapter", "tasks/pos/en/adapter"):
        names = {p.name for p in (run_dir / folder).iterdir()}
        assert any(n.endswith(".safetensors") for n in names) and not any(n.endswith(".bin") for n in names), names


def test_harmony_setting_is_chosen_per_task_on_dev_data_and_used_by_the_predictor(finished_run):
    from unibridge import MultiSourcePredictor

    run_dir, result = finished_run
    stored = json.loads((run_dir / "harmony" / "weights.json").read_text())
    assert set(stored["tasks"]) == {"pos", "ner"}  # nli names no dev data: the recipe's setting
    assert stored["distance"] == "sentence" and set(stored["centroid_gap"]) == {"en", "ru"}
    pos = stored["tasks"]["pos"]
    assert pos["n_dev"] == 12 and len(pos["candidates"]) == 2 * 7  # 2 distance kinds x 7 temperatures
    assert pos["dev_score"] == max(c["dev_score"] for c in pos["candidates"])
    # the first best candidate wins, and the recipe's own setting is tried first
    assert pos["candidates"][0] == {"distance": "sentence", "temperature": 1.0,
                                    "dev_score": pos["candidates"][0]["dev_score"]}
    first_best = next(c for c in pos["candidates"] if c["dev_score"] == pos["dev_score"])
    assert (pos["distance"], pos["temperature"]) == (first_best["distance"], first_best["temperature"])
    assert stored["tasks"]["ner"]["weights"] == {"en": 1.0}  # NER has one source here
    # each source alone on the same dev examples: with one source, exactly the chosen score
    assert stored["tasks"]["ner"]["dev_score_per_source"] == {"en": stored["tasks"]["ner"]["dev_score"]}
    assert set(pos["dev_score_per_source"]) == {"en", "ru"}
    assert all(0.0 <= v <= 1.0 for v in pos["dev_score_per_source"].values())
    assert MultiSourcePredictor("amh", "pos", run_dir=run_dir).weights == pytest.approx(pos["weights"])
    assert MultiSourcePredictor("amh", "nli", run_dir=run_dir).weights == pytest.approx(stored["weights"])
    assert result.scores["pos"]["harmony"] == {k: pos[k] for k in ("distance", "temperature", "dev_score", "n_dev")}
    assert result.scores["pos"]["weights"] == pytest.approx(pos["weights"])


def test_second_run_skips_finished_stages(finished_run, tiny_base):
    run_dir, first = finished_run
    again = Pipeline(Recipe.from_dict(tiny_recipe(tiny_base)), run_dir).run()
    assert again.cached == list(STAGES)
    assert again.timings == {k: v for k, v in first.timings.items()}  # build times, not 0
    assert again.scores == json.loads(json.dumps(first.scores))


def test_predictor_matches_sequential_passes_and_uses_weights(finished_run):
    from unibridge import MultiSourcePredictor

    run_dir, _ = finished_run
    p = MultiSourcePredictor(target="amh", task="pos", run_dir=run_dir)
    texts = ["ሰኞ እለት በስታንፎርድ ዩኒቨርሲቲ", "አበበ በሶ በላ"]
    labels = p.predict(texts)
    assert [len(l) for l in labels] == [4, 3]
    assert p.predict(texts, mode="sequential") == labels
    rich = p.predict(texts, return_probs=True, return_source_logits=True)
    assert rich[0]["probs"].shape == (4, 17)
    assert rich[0]["probs"].dtype == np.float32 and float(np.abs(rich[0]["probs"].sum(-1) - 1).max()) < 1e-5
    combined = sum(p.weights[s] * rich[0]["source_logits"][s] for s in p.sources)
    assert [p.task.labels[i] for i in combined.argmax(-1).tolist()] == labels[0]
    single = MultiSourcePredictor(target="amh", task="pos", run_dir=run_dir, weights="single:ru")
    assert single.weights == {"en": 0.0, "ru": 1.0}


def test_long_texts_are_read_in_windows_and_every_word_gets_its_windows_label(finished_run):
    from unibridge import MultiSourcePredictor
    from unibridge.data import read_text
    from unibridge.tasks.tagging import window_owner, word_windows

    run_dir, _ = finished_run
    p = MultiSourcePredictor(target="amh", task="pos", run_dir=run_dir, max_length=24)
    words = " ".join(read_text("mono/masakhane_ner_text_by_language/amharic/amharic_news.txt", limit=20)).split()[:150]
    [labels] = p.predict([words])
    assert len(labels) == 150
    counts = [len(x) for x in p.tokenizer(words, add_special_tokens=False)["input_ids"]]
    spans = word_windows(counts, 24 - p.tokenizer.num_special_tokens_to_add())
    assert len(spans) > 3 and all(sum(counts[s:e]) <= 22 for s, e in spans if e - s > 1)
    alone = [p.predict([words[s:e]])[0] for s, e in spans]  # each window on its own
    owner = window_owner(spans, 150)
    assert labels == [alone[owner[g]][g - spans[owner[g]][0]] for g in range(150)]
    rich = p.predict([words], return_probs=True, return_source_logits=True)[0]
    assert rich["probs"].shape == (150, 17) and rich["source_logits"]["ru"].shape == (150, 17)


def test_word_windows_exact():
    from unibridge.tasks.tagging import window_owner, word_windows

    assert word_windows([1] * 20, 9) == [(0, 9), (7, 16), (14, 20)]
    assert word_windows([3, 3, 3, 3], 6) == [(0, 2), (2, 4)]
    assert word_windows([10, 1, 1], 4) == [(0, 1), (1, 3)]  # a word longer than the budget stands alone
    assert word_windows([2, 2], 100) == [(0, 2)] and word_windows([], 5) == []
    assert window_owner([(0, 9), (7, 16), (14, 20)], 20)[6:10] == [0, 0, 1, 1]
    with pytest.raises(ValueError):
        word_windows([1], 0)


def test_nli_predictor_pairs_parallel_equals_sequential(finished_run, capsys):
    from unibridge import MultiSourcePredictor
    from unibridge.cli import main
    from unibridge.data import NLI_LABELS, read_nli_tsv

    run_dir, _ = finished_run
    p = MultiSourcePredictor(target="amh", task="nli", run_dir=run_dir)
    pairs = [("ሰላም ነው።", "ደህና ነው።"), ("አበበ በሶ በላ", "አበበ ምንም አልበላም")]
    labels = p.predict(pairs)
    assert len(labels) == 2 and all(l in NLI_LABELS for l in labels)
    assert p.predict(pairs, mode="sequential") == labels
    rich = p.predict(pairs, return_probs=True, return_source_logits=True)
    assert rich[0]["probs"].shape == (3,) and set(rich[0]["source_logits"]) == {"en", "ru"}
    combined = sum(p.weights[s] * rich[1]["source_logits"][s] for s in p.sources)
    assert NLI_LABELS[int(combined.argmax())] == labels[1]
    examples = read_nli_tsv("nli/americasnli/test/quy.tsv", limit=6)
    assert p.predict(examples) == p.predict([(x.premise, x.hypothesis) for x in examples])
    ent = MultiSourcePredictor(target="amh", task="nli", run_dir=run_dir, weights="entropy")
    ent.predict(pairs)
    assert sum(ent.last_weights.values()) == pytest.approx(1.0)
    assert main(["predict", "--target", "amh", "--task", "nli", "--run-dir", str(run_dir),
                 "ሰላም ነው። ||| ደህና ነው።"]) == 0
    assert capsys.readouterr().out.split("\t")[0] in NLI_LABELS
    assert main(["predict", "--target", "amh", "--task", "nli", "--run-dir", str(run_dir), "--json",
                 "ሰላም ነው። ||| ደህና ነው።"]) == 0
    out = json.loads(capsys.readouterr().out)
    (rec,) = out["predictions"]
    assert out["labels"] == list(NLI_LABELS) and rec["input"] == ["ሰላም ነው።", "ደህና ነው።"]
    assert rec["labels"] == NLI_LABELS[max(range(3), key=rec["probs"].__getitem__)]
    with pytest.raises(TypeError, match="pairs"):
        p.predict(["just one sentence"])


def test_merge_mode_and_entropy_weights(finished_run, capsys):
    from unibridge import MultiSourcePredictor
    from unibridge.cli import main

    run_dir, _ = finished_run
    texts = ["ሰኞ እለት በስታንፎርድ ዩኒቨርሲቲ", "አበበ በሶ በላ", "ኢትዮጵያ ውስጥ"]
    # averaging with weight 1 on one source reproduces that source's adapter and head exactly
    single = MultiSourcePredictor(target="amh", task="pos", run_dir=run_dir, weights="single:ru")
    a = single.predict(texts, return_probs=True)
    b = single.predict(texts, return_probs=True, mode="merge")
    assert all(np.allclose(x["probs"], y["probs"], atol=1e-5) for x, y in zip(a, b))
    uni = MultiSourcePredictor(target="amh", task="pos", run_dir=run_dir, weights="uniform")
    merged = uni.predict(texts, mode="merge")
    assert [len(m) for m in merged] == [4, 3, 2]
    ent = MultiSourcePredictor(target="amh", task="pos", run_dir=run_dir, weights="entropy")
    ent.predict(texts)
    assert set(ent.last_weights) == {"en", "ru"} and sum(ent.last_weights.values()) == pytest.approx(1.0)
    assert main(["weights", str(run_dir), "--out", str(run_dir / "w.png")]) == 0
    out = capsys.readouterr().out
    assert "target" in out and "amh" in out and (run_dir / "w.png").is_file()
    assert (run_dir / "harmony" / "weights.png").is_file()
    stored = json.loads((run_dir / "harmony" / "weights.json").read_text())
    for task, expected in (("pos", stored["tasks"]["pos"]["weights"]), (None, stored["weights"])):
        assert main(["weights", str(run_dir), "--json", *(["--task", task] if task else [])]) == 0
        assert json.loads(capsys.readouterr().out) == {"amh": pytest.approx(expected)}
    # the installed command: lang2vec's own bin/lang2vec.py must not shadow the package there
    script = Path(sys.executable).with_name("unibridge")
    if script.is_file():
        p = subprocess.run([str(script), "weights", str(run_dir), "--strategy", "lang2vec"],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr[-2000:]
        from unibridge.inference.weights import lang2vec_weights

        expected = lang2vec_weights("amh", ["en", "ru"])
        assert p.stdout.splitlines()[-1].split() == ["amh", f"{expected['en']:.3f}", f"{expected['ru']:.3f}"]


def test_evaluation_scores_every_registered_strategy_and_the_recipes_own(finished_run, tmp_path, monkeypatch):
    """A toy strategy registered outside the package is scored by the evaluation stage from the
    same pass as the others; the main score follows the recipe's strategy, per-batch included."""
    import shutil

    from unibridge.inference import strategies

    run_dir, result = finished_run
    monkeypatch.setattr(strategies, "STRATEGIES", strategies.STRATEGIES.copy())
    strategies.register_strategy("first", help="all weight on the first source")(
        lambda ctx: {s: float(i == 0) for i, s in enumerate(ctx.sources)})
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    raw = tiny_recipe(Path(json.loads((run_dir / "run.json").read_text())["base_model"]))
    for own in ("harmony", "entropy"):
        raw["harmony"] = {**raw.get("harmony", {}), "strategy": own}
        scores = Pipeline(Recipe.from_dict(raw), copy).stage_evaluation()
        for task, s in scores.items():
            st = s["strategies"]
            assert {"harmony", "harmony-untuned", "lang2vec", "uniform", "first", "single:en", own} <= set(st)
            assert st["first"] == st["single:en"]  # the sources are en, ru: the same weights
            assert st["harmony"] == result.scores[task]["strategies"]["harmony"]
    assert set(scores["pos"]["strategies"]["entropy"]) == set(scores["pos"]["strategies"]["uniform"])


def test_the_pooling_of_classification_heads_reaches_only_classification_fingerprints(tiny_base, tmp_path):
    raw = tiny_recipe(tiny_base)
    default = Pipeline(Recipe.from_dict(raw), tmp_path)
    raw["task"] = {**raw["task"], "pooling": "mean"}
    mean = Pipeline(Recipe.from_dict(raw), tmp_path)
    for task in ("pos", "ner"):  # tagging task adapters (the shipped ones among them) stay valid
        assert mean.source_fingerprint("en", task) == default.source_fingerprint("en", task)
    assert mean.source_fingerprint("en", "nli") != default.source_fingerprint("en", "nli")
    assert mean.source_fingerprint("en") == default.source_fingerprint("en")
    assert mean.stage_fingerprint("adaptation") == default.stage_fingerprint("adaptation")
    assert mean.stage_fingerprint("harmony") != default.stage_fingerprint("harmony")


@pytest.mark.slow
def test_task_adapters_on_the_bare_base_train_no_source_language_adapter(finished_run, tiny_base, tmp_path,
                                                                         monkeypatch):
    import shutil

    import unibridge.adaptation.train as adaptation_train
    import unibridge.tasks.train as tasks_pkg  # the task services look training up here at call time

    raw = tiny_recipe(tiny_base)
    raw["tasks"] = {"pos": raw["tasks"]["pos"]}
    default = Recipe.from_dict(raw)
    raw["task"] = {**raw["task"], "source_language_adapter": False}
    recipe = Recipe.from_dict(raw)
    run = tmp_path / "run"  # the finished run's target stages, without its source and task adapters
    shutil.copytree(finished_run[0], run, ignore=shutil.ignore_patterns("sources", "tasks", "harmony", "evaluation"))
    pipe = Pipeline(recipe, run)
    assert pipe.source_fingerprint("en") == Pipeline(default, run).source_fingerprint("en")
    assert pipe.source_fingerprint("en", "pos") != Pipeline(default, run).source_fingerprint("en", "pos")
    # harmony runs the task adapters (dev choice, source side of its distances), evaluation its weights
    for stage in ("harmony", "evaluation"):
        assert pipe.stage_fingerprint(stage) != Pipeline(default, run).stage_fingerprint(stage)
    assert pipe.stage_fingerprint("adaptation") == Pipeline(default, run).stage_fingerprint("adaptation")
    adapted, task_calls = [], []
    real_la, real_ta = adaptation_train.train_language_adapter, tasks_pkg.train_task_adapter
    monkeypatch.setattr(adaptation_train, "train_language_adapter",
                        lambda model, tok, texts, name, **k: (adapted.append(name), real_la(model, tok, texts, name, **k))[1])
    monkeypatch.setattr(tasks_pkg, "train_task_adapter",
                        lambda *a, **k: (task_calls.append((a[4], k.get("language_adapter"))), real_ta(*a, **k))[1])
    result = pipe.run()
    assert adapted == []  # the target's adapter is the finished run's; no source language adapter trains
    assert sorted(task_calls) == [("en", False), ("ru", False)]
    assert not (run / "sources").exists() or not any((run / "sources").iterdir())
    weights = json.loads((run / "harmony" / "weights.json").read_text())
    assert set(weights["centroid_gap"]) == {"en", "ru"} and all(g > 0 for g in weights["centroid_gap"].values())
    s = result.scores["pos"]
    assert set(s["strategies"]) >= {"harmony", "single:en", "single:ru"}
    assert all(0.0 <= m[s["metric"]] <= 1.0 for m in s["strategies"].values())


def test_choose_trains_both_kinds_of_task_adapters_and_predicts_with_the_one_better_on_dev(
        finished_run, tiny_base, tmp_path, monkeypatch):
    import shutil

    from safetensors.torch import load_file

    import unibridge.tasks.train as tasks_pkg  # the task services look training up here at call time
    from unibridge import MultiSourcePredictor
    from unibridge.artifacts import task_adapter_dir, used_task_adapter_dir
    from unibridge.errors import ConfigError
    from unibridge.hub.sources import pack_sources

    raw = tiny_recipe(tiny_base)
    raw["tasks"] = {"pos": raw["tasks"]["pos"]}  # with dev data
    on_base = Recipe.from_dict({**raw, "task": {**raw["task"], "source_language_adapter": False}})
    recipe = Recipe.from_dict({**raw, "task": {**raw["task"], "source_language_adapter": "choose"}})
    with pytest.raises(ConfigError, match="source_language_adapter must be true, false or choose"):
        Recipe.from_dict({**raw, "task": {**raw["task"], "source_language_adapter": "both"}})
    assert recipe.task.adapter_kinds == (True, False) and on_base.task.adapter_kinds == (False,)
    run = tmp_path / "run"  # the finished run: target stages, source language adapters, source-kind task adapters
    shutil.copytree(finished_run[0], run, ignore=shutil.ignore_patterns("harmony", "evaluation"))
    pipe = Pipeline(recipe, run)
    # each kind keeps the fingerprint it has when it is the only kind: caches of either setting serve `choose`
    assert pipe.source_fingerprint("en", "pos", True) == Pipeline(Recipe.from_dict(raw), run).source_fingerprint("en", "pos")
    assert pipe.source_fingerprint("en", "pos", False) == Pipeline(on_base, run).source_fingerprint("en", "pos")
    task_calls = []
    real_ta = tasks_pkg.train_task_adapter
    monkeypatch.setattr(tasks_pkg, "train_task_adapter",
                        lambda *a, **k: (task_calls.append((a[4], k.get("language_adapter"))), real_ta(*a, **k))[1])
    dev = {True: 0.9, False: 0.4}  # the dev score of each kind's tuned harmony, constructed
    from unibridge.inference import stage as harmony_stage

    real_tune = harmony_stage.tune_harmony
    monkeypatch.setattr(harmony_stage, "tune_harmony", lambda *a: {**real_tune(*a), "dev_score": dev[a[-1]]})
    pipe.run(only=["sources", "harmony"])
    assert sorted(task_calls) == [("en", False), ("ru", False)]  # only the bare-base kind was missing
    for s in ("en", "ru"):
        assert (task_adapter_dir(run, "pos", s, True) / "adapter").is_dir()
        assert (task_adapter_dir(run, "pos", s, False) / "adapter").is_dir()
    weights = json.loads((run / "harmony" / "weights.json").read_text())
    chosen = weights["tasks"]["pos"]
    assert chosen["source_language_adapter"] is True and chosen["dev_score"] == 0.9
    assert chosen["dev_score_per_kind"] == {"source": 0.9, "base": 0.4}
    tried = chosen["candidates_per_kind"]  # every setting of both kinds, with its dev score
    n = len(recipe.harmony.tune_distances) * len(recipe.harmony.tune_temperatures)
    assert set(tried) == {"source", "base"} and all(len(c) == n for c in tried.values())
    assert tried["source"] == chosen["candidates"]
    assert weights["source_language_adapter"] is False  # the fall-back kind (tasks without dev data)
    Pipeline(recipe, run).run(only=["evaluation"])
    assert used_task_adapter_dir(run, "pos", "en") == task_adapter_dir(run, "pos", "en", True)

    def loaded_equals(pred, kind: bool) -> bool:  # the predictor holds that kind's English adapter weights
        saved = load_file(str(task_adapter_dir(run, "pos", "en", kind) / "adapter" / "adapter.safetensors"))
        loaded = {round(float(p.detach().double().sum()), 8) for n, p in pred.model.named_parameters() if "pos_en" in n}
        return all(round(float(v.double().sum()), 8) in loaded for v in saved.values())

    assert loaded_equals(MultiSourcePredictor("amh", "pos", run_dir=run), True)
    # a tie goes to the fall-back kind, the bare-base task adapters, and the predictor follows the choice
    dev[True] = dev[False] = 0.5
    shutil.rmtree(run / "harmony")
    Pipeline(recipe, run).run(only=["harmony"])
    assert json.loads((run / "harmony" / "weights.json").read_text())["tasks"]["pos"]["source_language_adapter"] is False
    assert used_task_adapter_dir(run, "pos", "en") == task_adapter_dir(run, "pos", "en", False)
    pred = MultiSourcePredictor("amh", "pos", run_dir=run)
    assert loaded_equals(pred, False) and not loaded_equals(pred, True)
    # both kinds pack as shipped source adapters, told apart by their folder
    shipped = pack_sources(run, tmp_path / "shipped")["entries"].values()
    assert {(e["kind"], e["folder"]) for e in shipped if e["kind"].startswith("task-pos-")} == {
        (f"task-pos-{s}", f) for s in ("en", "ru") for f in ("tasks", "tasks-base")}


@pytest.mark.slow
def test_vocabulary_augmentation_runs_through_adaptation(tiny_base, tmp_path):
    """``va`` builds its own tokenizer: later stages must read it, not the search's."""
    from safetensors.torch import load_file

    from unibridge.artifacts import target_tokenizer_dir
    from unibridge.backbones import load_tokenizer

    raw = tiny_recipe(tiny_base)
    raw["embeddings"] = {"method": "va", "augment_size": 40}
    pipe = Pipeline(Recipe.from_dict(raw), tmp_path)
    pipe.run(only=["vocab", "embeddings", "adaptation"])
    assert target_tokenizer_dir(tmp_path) == tmp_path / "embeddings" / "tokenizer"
    tok = load_tokenizer(target_tokenizer_dir(tmp_path))
    base = load_tokenizer(tiny_base)
    assert len(tok) == len(base) + 40
    trained = load_file(str(tmp_path / "adaptation" / "embeddings.safetensors"))["weight"]
    assert trained.shape == (len(tok), 32)
    report = json.loads((tmp_path / "embeddings" / "report.json").read_text())
    assert report["vocab_size"] == len(tok) and report["counts"]["combined"] + report["counts"]["fallback"] == 40


def test_the_walkthrough_notebook_runs_on_a_finished_run_and_writes_nothing_outside_it(finished_run, tmp_path,
                                                                                       monkeypatch):
    """Every code cell of notebooks/walkthrough.ipynb, in order, on the tiny run placed where the
    notebook looks (``runs/amh``); IPython's display functions are stubbed (recorded)."""
    import shutil
    import types

    import matplotlib

    matplotlib.use("Agg")
    run_dir, _ = finished_run
    repo = Path(__file__).resolve().parents[1]
    root = tmp_path / "clone"
    (root / "runs").mkdir(parents=True)
    (root / "runs" / "amh").symlink_to(run_dir)
    (root / "docs" / "grid").mkdir(parents=True)
    shutil.copy(repo / "docs" / "grid" / "amh.json", root / "docs" / "grid" / "amh.json")
    shown = []
    display_mod = types.ModuleType("IPython.display")
    display_mod.display = lambda *objs: shown.extend(objs)
    display_mod.Markdown = lambda text: ("markdown", text)
    display_mod.Image = lambda filename, width=None: ("image", Path(filename).is_file())
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: None  # pyplot asks whether it runs inside IPython
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display_mod)
    monkeypatch.chdir(root)
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}
    nb = json.loads((repo / "notebooks" / "walkthrough.ipynb").read_text())
    ns: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "walkthrough.ipynb", "exec"), ns)
    assert ns["RUN"] == root / "runs" / "amh" and len(ns["pred"]) == len(ns["gold"]) == 1074
    right = sum(g == y for s, p in zip(ns["gold"], ns["pred"]) for g, y in zip(s.tags, p))
    assert ns["acc"] == pytest.approx(right / sum(len(s.tags) for s in ns["gold"]))
    assert ("image", True) in shown  # the embeddings' PCA picture exists
    markdown = [x[1] for x in shown if isinstance(x, tuple) and x[0] == "markdown"]
    assert "no grid results" not in markdown[-1] and "amh pos (accuracy)" in markdown[-1]
    outside = {p.relative_to(root) for p in root.rglob("*") if p.is_file() and not p.is_relative_to(root / "runs")}
    assert outside == {Path("docs/grid/amh.json")}
    after = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}
    assert after == before  # reading a finished run rewrites nothing in it


def test_the_walkthrough_notebook_says_what_to_run_first_when_no_run_is_finished(tmp_path, monkeypatch):
    import types

    repo = Path(__file__).resolve().parents[1]
    display_mod = types.ModuleType("IPython.display")
    display_mod.display = display_mod.Markdown = display_mod.Image = lambda *a, **k: None
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(sys.modules, "IPython.display", display_mod)
    monkeypatch.chdir(tmp_path)
    first = next(c for c in json.loads((repo / "notebooks" / "walkthrough.ipynb").read_text())["cells"]
                 if c["cell_type"] == "code")
    with pytest.raises(SystemExit, match="No finished Amharic run yet: run `make run`"):
        exec(compile("".join(first["source"]), "walkthrough.ipynb", "exec"), {})


@pytest.mark.slow
def test_a_task_registered_outside_the_package_runs_from_recipe_to_predictor_and_cli(finished_run, tiny_base,
                                                                                     tmp_path, monkeypatch, capsys):
    """A toy task (coarse UPOS: NOUN, VERB, OTHER) added in a few lines, without touching the
    package: recipes and source data name it, the pipeline trains and scores it, the predictor
    and `unibridge predict --task` serve it."""
    import dataclasses
    import shutil

    from unibridge import MultiSourcePredictor
    from unibridge.cli import main
    from unibridge.data import read_conllu
    from unibridge.errors import ConfigError
    from unibridge.registry import TASKS
    from unibridge.tasks import TaskSpec, accuracy, register_task

    monkeypatch.setattr(TASKS, "_items", dict(TASKS._items))  # the toy task leaves with the test
    raw = tiny_recipe(tiny_base)
    raw["tasks"] = {"coarse": raw["tasks"]["pos"]}
    for spec in raw["sources"].values():
        spec["coarse"] = spec.pop("pos")
    with pytest.raises(ConfigError, match="unknown key 'coarse' in 'sources.en'.*known tasks: pos, ner, nli"):
        Recipe.from_dict(raw)

    def read(path, limit=None, label_map=None):
        return [dataclasses.replace(s, tags=[t if t in ("NOUN", "VERB") else "OTHER" for t in s.tags])
                for s in read_conllu(path, limit=limit)]

    register_task(TaskSpec("coarse", ("NOUN", "VERB", "OTHER"), read, accuracy, "accuracy"))
    with pytest.raises(ValueError, match="already registered"):
        register_task(TaskSpec("coarse", ("X",), read, accuracy, "accuracy"))
    with pytest.raises(ValueError, match="is a source key"):
        register_task(TaskSpec("text", ("X",), read, accuracy, "accuracy"))
    recipe = Recipe.from_dict(raw)
    assert recipe.sources["en"].task_files("coarse") == ("ud/UD_English-EWT/en_ewt-ud-dev.conllu",)
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    run = tmp_path / "run"  # the finished run's target stages and source language adapters
    shutil.copytree(finished_run[0], run, ignore=shutil.ignore_patterns("tasks", "tasks-base", "harmony", "evaluation"))
    result = Pipeline(recipe, run).run()
    assert result.cached == ["vocab", "embeddings", "adaptation"]  # nothing of the target is retrained
    assert sorted(p.name for p in (run / "tasks" / "coarse").iterdir()) == ["en", "ru"]
    scores = result.scores["coarse"]
    assert scores["metric"] == "accuracy" and 0.0 <= scores["strategies"]["harmony"]["accuracy"] <= 1.0
    words = ["አበበ", "በሶ", "በላ"]
    (labels,) = MultiSourcePredictor(target="amh", task="coarse", run_dir=run).predict([" ".join(words)])
    assert len(labels) == 3 and set(labels) <= {"NOUN", "VERB", "OTHER"}
    capsys.readouterr()
    assert main(["-q", "predict", "--target", "amh", "--task", "coarse", "--run-dir", str(run), " ".join(words)]) == 0
    assert capsys.readouterr().out.split() == [f"{w}/{t}" for w, t in zip(words, labels)]


def test_the_target_text_never_holds_a_test_sentence(tiny_base, tmp_path, caplog):
    """SIB-200's sentences are FLORES-200's: a FLORES file used as target text holds the test set's
    texts. Every line equal to a test input of the recipe's tasks is left out, and the stages'
    fingerprints say so (a run without the task keeps its own)."""
    import logging

    from unibridge.data import read_topic_tsv

    test = read_topic_tsv("sib200/amh_Ethi/test.tsv")
    mono = tmp_path / "mono.txt"
    mono.write_text(f"ሰላም ነው።\n{test[0].text}\nሌላ መስመር።\n {test[5].text}\n", encoding="utf-8")
    raw = tiny_recipe(tiny_base)
    raw["mono"] = [str(mono)]
    raw["sources"]["en"]["topic"] = "sib200/eng_Latn/dev.tsv"
    with_topic = dict(raw, tasks={**raw["tasks"], "topic": {"test": "sib200/amh_Ethi/test.tsv"}})
    with caplog.at_level(logging.INFO, logger="unibridge"):
        pipe = Pipeline(Recipe.from_dict(with_topic), tmp_path / "a")
        assert pipe.mono == ["ሰላም ነው።", "ሌላ መስመር።"]
    assert "target text: 2 line(s) left out, test sentences of the recipe's tasks" in caplog.text
    plain = Pipeline(Recipe.from_dict(raw), tmp_path / "b")
    assert len(plain.mono) == 4
    assert ":minus-2-tests-" in pipe.stage_fingerprint("vocab") and ":minus" not in plain.stage_fingerprint("vocab")


def test_the_align_initializer_reads_every_parallel_pair_of_every_source(tiny_base, tmp_path):
    """``align`` reads all the sources' parallel sentences (not harmony's K); which files and how
    they pair enter the fingerprints of the stages it feeds, and only when the method reads them."""
    from unibridge.data import read_alignment_file, read_parallel

    raw = tiny_recipe(tiny_base)
    raw["embeddings"] = {"method": "align"}
    pipe = Pipeline(Recipe.from_dict(raw), tmp_path / "a")
    en = read_alignment_file("parallel/unibridge_alignment/flores/am/amh_Ethi-eng_Latn.txt")
    ru = read_parallel(*raw["sources"]["ru"]["parallel"].split("|"))
    assert pipe.parallel_pairs() == en + ru and len(ru) > pipe.recipe.harmony.k  # all, not harmony's K
    pipe.run(only=["vocab", "embeddings"])
    report = json.loads((tmp_path / "a" / "embeddings" / "report.json").read_text())
    assert report["counts"]["aligned"] > 100
    fp = pipe.stage_fingerprint("embeddings")
    assert ":parallel-" in fp and ":parallel-" in pipe.stage_fingerprint("adaptation")
    raw["sources"]["ru"]["parallel"] = "parallel/unibridge_alignment/flores/am/amh_Ethi-rus_Cyrl.txt"
    other = Pipeline(Recipe.from_dict(raw), tmp_path / "b")
    assert other.stage_fingerprint("embeddings") != fp and other.stage_fingerprint("vocab") == pipe.stage_fingerprint("vocab")
    raw["embeddings"] = {"method": "fvt"}
    assert ":parallel-" not in Pipeline(Recipe.from_dict(raw), tmp_path / "c").stage_fingerprint("embeddings")


def test_a_target_the_base_reads_as_unknown_is_measured_and_warned_about(tiny_base, tmp_path, caplog):
    """Santali in Ol Chiki: the vocab stage says how much of the text the base reads as <unk> and
    warns unless the recipe uses the settings chosen for such scripts."""
    import logging

    raw = tiny_recipe(tiny_base)
    raw["mono"] = ["sib200/sat_Olck/train.tsv"]
    with caplog.at_level(logging.INFO, logger="unibridge"):
        Pipeline(Recipe.from_dict(raw), tmp_path / "a").run(only=["vocab"])
    share = json.loads((tmp_path / "a" / "vocab" / "search.json").read_text())["base_unk_share"]
    assert share > 0.9  # 92% under XLM-R's tokenizer (the "▁" before each unreadable word not counted)
    assert f"the base tokenizer reads {share:.0%} of the text's pieces as unknown" in caplog.text
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "reads" in r.getMessage()]
    assert len(warned) == 1 and "embeddings: {method: align}" in warned[0].getMessage()
    caplog.clear()
    raw["embeddings"], raw["adaptation"]["regulariser"] = {"method": "align"}, "none"
    with caplog.at_level(logging.INFO, logger="unibridge"):
        Pipeline(Recipe.from_dict(raw), tmp_path / "b").run(only=["vocab"])
    assert "as unknown" in caplog.text and not [r for r in caplog.records if r.levelno == logging.WARNING]



OL_CHIKI = ["sib200/sat_Olck/train.tsv"]  # Santali: the base reads 92% of its pieces as <unk>


def _pipeline_on(tiny_base, run_dir, mono: list | None = None, **sections) -> Pipeline:
    """The tiny recipe on its Amharic text, or on ``mono``, with ``sections`` merged into its sections."""
    raw = tiny_recipe(tiny_base)
    for key, change in sections.items():
        raw[key] = {**raw.get(key, {}), **change}
    if mono:
        raw["mono"] = mono
    return Pipeline(Recipe.from_dict(raw), run_dir)


def test_the_auto_regulariser_trains_and_fingerprints_as_the_setting_it_resolves_to(tiny_base, tmp_path, caplog):
    """`regulariser: auto` is `none` on Ol Chiki text (the base reads 92% as <unk>) and `both` on
    Amharic (0%), with the same stage fingerprints as those settings written out, so a recipe that
    switches to `auto` keeps its cached stages; the vocab stage says what it resolved to."""
    import logging

    def pipe(mono, regulariser, name):
        return _pipeline_on(tiny_base, tmp_path / name, mono, adaptation={"regulariser": regulariser})

    for mono, resolved in ((OL_CHIKI, "none"), (None, "both")):
        auto = pipe(mono, "auto", f"auto-{resolved}")
        assert auto.adaptation_config.regulariser == resolved
        explicit = pipe(mono, resolved, f"explicit-{resolved}")
        assert auto.stage_fingerprint("adaptation") == explicit.stage_fingerprint("adaptation")
        assert auto.stage_fingerprint("harmony") == explicit.stage_fingerprint("harmony")
    assert pipe(None, "none", "x").stage_fingerprint("adaptation") != explicit.stage_fingerprint("adaptation")
    with caplog.at_level(logging.INFO, logger="unibridge"):
        _pipeline_on(tiny_base, tmp_path / "v", OL_CHIKI, adaptation={"regulariser": "auto"},
                     embeddings={"method": "align"}).run(only=["vocab"])
    assert "adaptation: regulariser auto -> none (the base reads 9" in caplog.text
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]  # align + auto: the settings chosen


def test_auto_embeddings_initialise_and_fingerprint_as_the_method_they_resolve_to(tiny_base, tmp_path, caplog):
    """`embeddings: {method: auto}` is `align` on Ol Chiki text (the base reads 92% as <unk>) and
    `va` on Amharic (0%), with the stage fingerprints of those methods written out (so a recipe
    that switches to `auto` keeps its cached stages); on Amharic the embeddings stage appends
    the target pieces to the base vocabulary and the vocab stage says what `auto` resolved to."""
    import logging

    from unibridge.artifacts import target_tokenizer_dir
    from unibridge.backbones import load_tokenizer

    def pipe(mono, method, name):
        return _pipeline_on(tiny_base, tmp_path / name, mono, embeddings={"method": method, "augment_size": 7})

    for mono, resolved in ((OL_CHIKI, "align"), (None, "va")):
        auto = pipe(mono, "auto", f"auto-{resolved}")
        assert auto.embeddings_config.method == resolved
        explicit = pipe(mono, resolved, f"explicit-{resolved}")
        for stage in ("embeddings", "adaptation", "harmony"):
            assert auto.stage_fingerprint(stage) == explicit.stage_fingerprint(stage)
    assert pipe(None, "fvt", "x").stage_fingerprint("embeddings") != explicit.stage_fingerprint("embeddings")
    with caplog.at_level(logging.INFO, logger="unibridge"):
        auto.run(only=["vocab", "embeddings"])
    assert "embeddings: method auto -> va (the base reads 0% of the target text" in caplog.text
    base = load_tokenizer(tiny_base)
    assert len(load_tokenizer(target_tokenizer_dir(auto.run_dir))) == len(base) + 7  # the base vocabulary, 7 pieces appended


@pytest.mark.slow
def test_topic_classification_runs_from_recipe_to_predictor_and_cli(finished_run, tmp_path, capsys):
    """SIB-200 topics on the tiny run: source task adapters train on each source's topic file, the
    target's test set is scored, the predictor gives one label per text or (N, 7) probabilities,
    and `unibridge predict --task topic` prints `label<TAB>text`."""
    import shutil

    from unibridge import MultiSourcePredictor
    from unibridge.artifacts import read_json
    from unibridge.cli import main
    from unibridge.data import SIB_TOPICS

    raw = tiny_recipe(read_json(finished_run[0] / "run.json")["base_model"])
    raw["tasks"] = {"topic": {"test": "sib200/amh_Ethi/test.tsv", "dev": "sib200/amh_Ethi/dev.tsv"}}
    raw["sources"]["en"]["topic"] = "sib200/eng_Latn/train.tsv"
    raw["sources"]["ru"]["topic"] = "sib200/rus_Cyrl/train.tsv"
    raw["sources"]["ru"]["parallel"] = "sib200/amh_Ethi/train.tsv|sib200/rus_Cyrl/train.tsv"  # joined on index_id
    run = tmp_path / "run"
    shutil.copytree(finished_run[0], run, ignore=shutil.ignore_patterns("tasks", "tasks-base", "harmony", "evaluation"))
    result = Pipeline(Recipe.from_dict(raw), run).run()
    assert result.cached == ["vocab", "embeddings", "adaptation"]
    scores = result.scores["topic"]
    assert scores["metric"] == "accuracy" and scores["n_test"] == 12 and scores["harmony"]["n_dev"] == 12
    assert set(scores["strategies"]) >= {"harmony", "uniform", "single:en", "single:ru"}
    texts = ["ስፖርት በጣም ጥሩ ነው።", "ሐኪሙ መድኃኒት ሰጠ።", "ጉዞ"]
    pred = MultiSourcePredictor(target="amh", task="topic", run_dir=run)
    labels = pred.predict(texts)
    assert len(labels) == 3 and set(labels) <= set(SIB_TOPICS)
    rich = pred.predict(texts, return_probs=True)
    probs = np.stack([r["probs"] for r in rich])
    assert probs.shape == (3, 7) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert [SIB_TOPICS[i] for i in probs.argmax(1)] == labels == [r["labels"] for r in rich]
    capsys.readouterr()
    assert main(["-q", "predict", "--target", "amh", "--task", "topic", "--run-dir", str(run), *texts]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{l}\t{t}" for l, t in zip(labels, texts)]
