"""Source task adapters scored on their own language's dev split and held to a floor: class
weights, the retraining ladder, the dev split a source gives or holds out, fingerprints, and the
sources that harmony and the predictor leave out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import tiny_recipe
from unibridge.config import Recipe, SourceSpec, TaskConfig, TrainConfig
from unibridge.errors import ConfigError
from unibridge.pipeline import Pipeline


def test_class_weights_are_inverse_square_root_frequencies_with_mean_one():
    from unibridge.errors import DataError
    from unibridge.tasks.train import class_weights

    items = [{"labels": [0, 0, -100, 1]}, {"labels": [0, -100]}, {"labels": 3}]  # counts 3, 1, 0, 1 of 5
    w = class_weights(items, 4).double()
    assert w.dtype == torch.float64 and w.shape == (4,)
    assert float(w[1] / w[0]) == pytest.approx(3 ** 0.5) and float(w[3]) == pytest.approx(float(w[1]))
    assert float((w * torch.tensor([3.0, 1, 0, 1])).sum() / 5) == pytest.approx(1.0)  # mean over scored labels
    assert float(w[2]) == 1.0  # never seen
    assert torch.equal(class_weights([{"labels": [2, 2]}], 3), torch.ones(3))  # one label: nothing to balance
    with pytest.raises(DataError, match="no scored label"):
        class_weights([{"labels": [-100]}], 3)


def test_escalated_doubles_the_steps_per_try():
    from unibridge.tasks.stage import escalated

    cfg = TaskConfig(train=TrainConfig(max_steps=150, epochs=3))
    assert [escalated(cfg, k).train.max_steps for k in range(4)] == [150, 150, 300, 600]
    assert escalated(cfg, 0) == cfg == escalated(cfg, 1)  # the second try changes the loss only
    assert escalated(TaskConfig(train=TrainConfig(epochs=1.5)), 3).train.epochs == 6.0
    with pytest.raises(ValueError, match="attempt must be >= 0"):
        escalated(cfg, -1)


def test_source_dev_keys_parse_round_trip_and_are_refused_when_unknown():
    from unibridge.tasks import TaskSpec, register_task

    spec = SourceSpec.from_dict({"ner": "a.txt", "ner_dev": ["b.txt", "c.txt"], "topic_dev": "d.tsv"})
    assert spec.task_files("ner") == ("a.txt",) and spec.dev_files("ner") == ("b.txt", "c.txt")
    assert spec.labelled == {"ner": ("a.txt",)} and spec.dev_files("pos") == ()
    assert SourceSpec.from_dict(spec.to_dict()) == spec
    assert "pos_dev" not in spec.to_dict() and SourceSpec.from_dict({"ner": "a"}).to_dict().get("ner_dev") is None
    with pytest.raises(ConfigError, match="unknown key 'chunk_dev' in 'src'.*<task>_dev"):
        SourceSpec.from_dict({"chunk_dev": "x"}, "src")
    with pytest.raises(ValueError, match="task name .chunk_dev. is a source key"):
        register_task(TaskSpec("chunk_dev", ("O",), lambda *a, **k: [], lambda g, p: {}, "f1"))


def test_floors_are_checked_and_enter_only_their_own_tasks_fingerprint():
    cfg = TaskConfig(floors={"ner": 0.5}, floor_attempts=2)
    assert cfg.floor("ner") == 0.5 and cfg.floor("pos") is None
    ner, pos = cfg.fingerprint_for(False, "ner"), cfg.fingerprint_for(False, "pos")
    assert ner["floor"] == 0.5 and ner["floor_attempts"] == 2 and "floors" not in ner
    assert pos == TaskConfig(floor_attempts=2).fingerprint_for(False, "pos") == TaskConfig().fingerprint_for(False, "pos")
    for bad, msg in (({"chunk": 0.5}, "unknown task 'chunk'"), ({"ner": 50}, r"task.floors.ner must be a score in \[0, 1\]"),
                     ({"ner": True}, "must be a score"), ([0.5], "must map task names")):
        with pytest.raises(ConfigError, match=msg):
            TaskConfig(floors=bad)


def _two_files(tmp_path: Path) -> tuple[Path, Path]:
    train, dev = tmp_path / "train.tsv", tmp_path / "dev.tsv"
    train.write_text("index_id\tcategory\ttext\n" + "".join(f"{i}\tsports\tline {i}\n" for i in range(10)))
    dev.write_text("index_id\tcategory\ttext\n" + "".join(f"{i}\thealth\tdev {i}\n" for i in range(5)))
    return train, dev


def test_source_dev_is_the_given_split_else_the_rows_past_the_cap(tiny_base, tmp_path):
    train, dev = _two_files(tmp_path)
    raw = tiny_recipe(tiny_base)
    raw["sources"]["en"]["topic"] = str(train)
    raw["task"] = {"train": {"max_examples": 4}, "dev_max_examples": 3}
    pipe = Pipeline(Recipe.from_dict(raw), tmp_path / "run")
    held, where = pipe.source_dev("en", "topic")
    assert [x.text for x in held] == ["line 4", "line 5", "line 6"] and where == "training rows past 4"
    assert pipe.source_dev("ru", "pos")[0] and pipe.source_dev("en", "nli")[1] == "training rows past 4"
    raw["sources"]["en"]["topic_dev"] = str(dev)
    given = Pipeline(Recipe.from_dict(raw), tmp_path / "run2")
    assert [x.text for x in given.source_dev("en", "topic")[0]] == ["dev 0", "dev 1", "dev 2"]
    assert given.source_dev("en", "topic")[1] == "dev files"
    # the dev split is part of the task adapter's stage (its score), not of its language adapter's
    assert given.source_fingerprint("en") == pipe.source_fingerprint("en")
    assert given.source_fingerprint("en", "topic") != pipe.source_fingerprint("en", "topic")
    assert given.source_fingerprint("en", "pos") == pipe.source_fingerprint("en", "pos")
    raw["task"]["train"]["max_examples"] = None
    assert Pipeline(Recipe.from_dict({**raw, "sources": {**raw["sources"], "en": {
        k: v for k, v in raw["sources"]["en"].items() if k != "topic_dev"}}}), tmp_path / "r3").source_dev("en", "topic") == ([], "")


@pytest.mark.parametrize("scores, floor, kept, passed", [
    ([0.1, 0.4, 0.3], 0.5, 1, False),  # every try misses: the best is kept, and flagged
    ([0.2, 0.6], 0.5, 1, True),  # the second try passes: no third
    ([0.7], 0.5, 0, True),
])
def test_adapt_task_trains_again_below_the_floor_and_keeps_the_best_try(tiny_base, tmp_path, monkeypatch,
                                                                       scores, floor, kept, passed):
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    import unibridge.tasks.train as train_mod
    from unibridge.adaptation.model import load_adapter_model
    from unibridge.data import TaggedSentence
    from unibridge.tasks import get_task
    from unibridge.artifacts import dev_record, passes_floor, sources_above_floor
    from unibridge.tasks.stage import adapt_task

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    sents = [TaggedSentence(["Anna", "lives", "in", "Paris"], ["B-PER", "O", "O", "B-LOC"])] * 8
    model = load_adapter_model(tiny_base)
    calls, after = [], []
    real = train_mod.train_task_adapter

    def spy(model, *a, **k):
        calls.append((k["cfg"].train.max_steps, k["weighted"]))
        hist = real(model, *a, **k)
        after.append(load_file_like(model))
        return hist

    def load_file_like(m):  # the task head's weights after a try, as saved
        return {n: p.detach().clone() for n, p in m.named_parameters() if "heads.ner_en" in n}

    tries, scored = iter(scores), []
    monkeypatch.setattr(train_mod, "train_task_adapter", spy)

    def score(name, examples, language_adapter):
        scored.append((name, len(examples), language_adapter))
        return next(tries)
    said = []
    cfg = TaskConfig(floors={"ner": floor}, train=TrainConfig(max_steps=2, batch_size=4, max_length=16))
    adapt_task(model, tok, sents, get_task("ner"), "en", tmp_path / "out", cfg=cfg, seed=0, language_adapter=False,
               dev=sents[:3], dev_source="dev files", score=score, say=said.append)
    assert scored == [("ner_en", 3, None)] * len(scores)
    assert calls == [(2, False), (2, True), (4, True)][:len(scores)]
    rec = dev_record(tmp_path / "out")
    assert rec["kept"] == kept and rec["score"] == scores[kept] and rec["passed"] is passed and rec["n_dev"] == 3
    assert [a["score"] for a in rec["attempts"]] == scores and rec["floor"] == floor and rec["metric"] == "f1"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["adapter", "dev.json", "history.json"]
    saved = load_file(str(tmp_path / "out" / "adapter" / "model_head.safetensors"))
    assert len(saved) == len(after[kept]) and all(  # the kept try's head, not the last one's
        any(torch.equal(v, w) for w in after[kept].values()) for v in saved.values())
    assert "ner_en" not in model.adapters_config  # removed from the model
    assert passes_floor(tmp_path / "out") is passed
    assert sources_above_floor({"en": tmp_path / "out", "ru": tmp_path / "none"}) == (["en", "ru"] if passed else ["ru"])
    assert sources_above_floor({"en": tmp_path / "out"}) == ["en"]  # never none
    assert any("below its floor" in s for s in said) is (scores[0] < floor)


def test_without_dev_examples_or_floor_one_try_and_no_score(tiny_base, tmp_path):
    from transformers import AutoTokenizer

    from unibridge.adaptation.model import load_adapter_model
    from unibridge.data import TaggedSentence
    from unibridge.tasks import get_task
    from unibridge.artifacts import dev_record
    from unibridge.tasks.stage import adapt_task

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    sents = [TaggedSentence(["a", "b"], ["NOUN", "VERB"])] * 4
    cfg = TaskConfig(floors={"pos": 1.0}, train=TrainConfig(max_steps=1, batch_size=4, max_length=16))
    adapt_task(load_adapter_model(tiny_base), tok, sents, get_task("pos"), "en", tmp_path, cfg=cfg, seed=0,
               language_adapter=False, dev=[], score=lambda *a, **k: 1 / 0)  # no dev examples: never called
    rec = dev_record(tmp_path)
    assert rec["score"] is None and rec["passed"] is None and len(rec["attempts"]) == 1 and rec["n_dev"] == 0


def test_a_source_below_its_floor_is_left_out_of_the_predictor_and_harmony(finished_run, tmp_path):
    from unibridge import MultiSourcePredictor
    from unibridge.artifacts import used_task_adapter_dir
    from unibridge.hub.sources import pack_sources

    run = tmp_path / "run"
    shutil.copytree(finished_run[0], run)
    rec = json.loads((used_task_adapter_dir(run, "pos", "ru") / "dev.json").read_text())
    assert rec["n_dev"] == 12 and 0.0 <= rec["score"] <= 1.0 and rec["passed"] is None  # scored, no floor
    manifest = pack_sources(run, tmp_path / "shipped")
    assert all(e["dev"]["metric"] in ("accuracy", "f1") for e in manifest["entries"].values() if e["kind"].startswith("task-"))
    both = MultiSourcePredictor("amh", "pos", run_dir=run)
    assert both.sources == ["en", "ru"]
    (used_task_adapter_dir(run, "pos", "ru") / "dev.json").write_text(json.dumps({**rec, "floor": 0.9, "passed": False}))
    pred = MultiSourcePredictor("amh", "pos", run_dir=run)
    assert pred.sources == ["en"] and pred.weights == {"en": 1.0}
    packed = {e["kind"]: e["dev"] for e in pack_sources(run, tmp_path / "shipped2")["entries"].values() if "dev" in e}
    assert packed["task-pos-ru"]["passed"] is False and packed["task-pos-en"]["passed"] is None  # shipped, flagged
    assert MultiSourcePredictor("amh", "pos", run_dir=run, sources=["en", "ru"]).sources == ["en", "ru"]  # asked for
    recipe = Recipe.from_dict(tiny_recipe(Path(json.loads((run / "run.json").read_text())["base_model"])))
    shutil.rmtree(run / "harmony")  # tuned again with the changed record
    Pipeline(recipe, run).run(only=["harmony"])
    tuned = json.loads((run / "harmony" / "weights.json").read_text())["tasks"]["pos"]
    assert set(tuned["weights"]) == {"en"} and set(tuned["dev_score_per_source"]) == {"en"}


def test_a_missing_or_malformed_source_dev_file_fails_before_the_first_stage(tiny_base, tmp_path):
    from unibridge.errors import DataError

    raw = tiny_recipe(tiny_base)
    raw["sources"]["en"]["ner_dev"] = "ner/nowhere/val.conllu"
    with pytest.raises(DataError, match="nowhere"):
        Pipeline(Recipe.from_dict(raw), tmp_path / "run").check_inputs()
    bad = tmp_path / "bad.conllu"
    bad.write_text("Anna B-PER\nParis\n")  # a token line without its tag
    raw["sources"]["en"]["ner_dev"] = str(bad)
    with pytest.raises(DataError, match="bad.conllu:2"):
        Pipeline(Recipe.from_dict(raw), tmp_path / "run").check_inputs()
    assert not (tmp_path / "run").exists()
