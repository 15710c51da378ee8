"""Task kinds as objects: what each built-in kind does on constructed inputs, that no code outside
the kind modules compares kind names, and a toy kind registered from outside the package that
runs from recipe to predictor, command line and model card."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import tiny_recipe
from unibridge.config import Recipe, TaskConfig
from unibridge.data import LabelledText, NLIExample, TaggedSentence
from unibridge.errors import ConfigError
from unibridge.tasks import get_task
from unibridge.tasks.kind import TaskKind, get_kind

PACKAGE = Path(__file__).resolve().parents[1] / "unibridge"
KIND_MODULES = {"tasks/kind.py", "tasks/tagging.py", "tasks/classification.py", "tasks/text_classification.py"}


def test_no_code_outside_the_kind_modules_compares_kind_names():
    compare = re.compile(r"\bkind\s*(==|!=) ")
    found = [f"{p.relative_to(PACKAGE)}:{i}: {line.strip()}"
             for p in PACKAGE.rglob("*.py") if str(p.relative_to(PACKAGE)) not in KIND_MODULES
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if compare.search(line)]
    assert not found, "ask the task's kind instead:\n" + "\n".join(found)


def test_each_task_names_its_kind_and_the_kind_its_capabilities():
    pos, nli, topic = get_task("pos"), get_task("nli"), get_task("topic")
    assert (pos.kind.name, nli.kind.name, topic.kind.name) == ("tagging", "classification", "text-classification")
    assert get_task("ner").kind is pos.kind and get_kind("tagging") is pos.kind
    assert (pos.kind.token_level, nli.kind.token_level, topic.kind.token_level) == (True, False, False)
    assert (pos.kind.uses_pooling, nli.kind.uses_pooling, topic.kind.uses_pooling) == (False, True, True)
    assert topic.labels == ("science/technology", "travel", "politics", "sports", "health", "entertainment",
                            "geography") and topic.main_metric == "accuracy"
    with pytest.raises(ConfigError, match="unknown task kind 'tree'; known task kinds: tagging, classification, text-classification"):
        get_kind("tree")
    cfg = TaskConfig(pooling="mean")
    assert cfg.fingerprint_for(True)["pooling"] == "mean" and "pooling" not in cfg.fingerprint_for(False)


def test_the_kinds_turn_examples_into_inputs_gold_labels_and_lines():
    pos, nli, topic = get_task("pos").kind, get_task("nli").kind, get_task("topic").kind
    s = TaggedSentence(["a", "b"], ["NOUN", "VERB"])
    p = NLIExample("It rains.", "It is wet.", "entailment")
    t = LabelledText("Football is a sport.", "sports", "12")
    assert (pos.inputs(s), pos.gold(s), pos.texts(s)) == (["a", "b"], ["NOUN", "VERB"], ["a b"])
    assert (nli.inputs(p), nli.gold(p), nli.texts(p)) == (("It rains.", "It is wet."), ["entailment"],
                                                          ["It rains.", "It is wet."])
    assert (topic.inputs(t), topic.gold(t), topic.texts(t)) == ("Football is a sport.", ["sports"],
                                                                ["Football is a sport."])
    assert pos.check_input("a b", "pos") == ["a", "b"] and topic.check_input(t, "topic") == t.text
    assert nli.check_input(p, "nli") == ("It rains.", "It is wet.")
    with pytest.raises(TypeError, match="topic takes texts"):
        topic.check_input(["a", "b"], "topic")
    with pytest.raises(TypeError, match=r"nli takes \(premise, hypothesis\) pairs"):
        nli.check_input(("only one",), "nli")
    assert topic.parse_line("Football ||| sport", "topic") == "Football ||| sport"
    assert nli.parse_line("A ||| B", "nli") == ("A", "B")
    with pytest.raises(ConfigError, match="'nli' takes a pair written as \"premise [|]{3} hypothesis\""):
        nli.parse_line("A and B", "nli")
    assert pos.format_line("a b", ["NOUN", "VERB"]) == "a/NOUN b/VERB"
    assert topic.format_line("Football is a sport.", "sports") == "sports\tFootball is a sport."


def test_a_text_is_encoded_alone_and_batched_with_one_label(tiny_base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    spec = get_task("topic")
    x = LabelledText("Football is a sport.", "sports")
    enc = spec.encode(tok, x, 64)
    assert enc == {"input_ids": tok("Football is a sport.")["input_ids"], "labels": 3}
    assert spec.encode(tok, "Football is a sport.", 64, labelled=False)["labels"] == 0
    batch = spec.collate([enc, spec.encode(tok, LabelledText("Eat.", "health"), 64)], tok.pad_token_id)
    n = len(enc["input_ids"])
    assert batch["input_ids"].shape == (2, n) and batch["labels"].tolist() == [3, 4]
    assert batch["attention_mask"].sum(1).tolist() == [n, len(tok("Eat.")["input_ids"])]


class WordBag(TaskKind):
    """A toy kind: one label for a list of words (read as one text)."""

    name = "word-bag"
    input_help = "words"
    usage_logits = "per word bag"

    def inputs(self, example):
        return list(example.tokens)

    def gold(self, example):
        return ["verbal" if "VERB" in example.tags else "nominal"]

    def texts(self, example):
        return [" ".join(example.tokens)]

    def check_input(self, x, task):
        return x.split() if isinstance(x, str) else list(x)

    def encode(self, tokenizer, x, label2id, max_length, labelled=True):
        words = x.tokens if labelled else x
        ids = tokenizer(" ".join(words), truncation=True, max_length=max_length)["input_ids"]
        return {"input_ids": ids, "labels": label2id[self.gold(x)[0]] if labelled else 0}

    def collate(self, items, pad_id):
        from unibridge.tasks.classification import collate_pairs

        return collate_pairs(items, pad_id)

    def add_head(self, model, name, labels, pooling="first"):
        model.add_classification_head(name, num_labels=len(labels), id2label=dict(enumerate(labels)))

    def parse_line(self, line, task):
        return line.split()

    def format_line(self, line, labels):
        return f"{labels}: {line}"

    def usage_call(self):
        return "    outs = model(**tokenizer([\"word bag\"], return_tensors=\"pt\"))  # word-bag"


@pytest.mark.slow
def test_a_toy_kind_registered_outside_the_package_runs_end_to_end(finished_run, tmp_path, monkeypatch, capsys):
    """A new kind is one class: registered here, a task of that kind trains, is scored, predicts
    one label per input, prints through `unibridge predict` and gets its own card lines."""
    import shutil

    from unibridge import MultiSourcePredictor
    from unibridge.artifacts import read_json
    from unibridge.cli import main
    from unibridge.data import read_conllu
    from unibridge.hub.artifact import plain_adapters_usage
    from unibridge.pipeline import Pipeline
    from unibridge.registry import TASK_KINDS, TASKS
    from unibridge.tasks import TaskSpec, accuracy, register_task
    from unibridge.tasks.kind import register_kind

    monkeypatch.setattr(TASKS, "_items", dict(TASKS._items))  # the toy kind and task leave with the test
    monkeypatch.setattr(TASK_KINDS, "_items", dict(TASK_KINDS._items))
    with pytest.raises(TypeError, match="a task kind is a TaskKind instance"):
        register_kind(object())
    register_kind(WordBag())
    register_task(TaskSpec("verbal", ("verbal", "nominal"), lambda path, limit=None, label_map=None:
                           read_conllu(path, limit=limit), accuracy, "accuracy", kind="word-bag"))
    raw = tiny_recipe(read_json(finished_run[0] / "run.json")["base_model"])
    raw["tasks"] = {"verbal": raw["tasks"]["pos"]}
    for spec in raw["sources"].values():
        spec["verbal"] = spec.pop("pos")
    run = tmp_path / "run"
    shutil.copytree(finished_run[0], run, ignore=shutil.ignore_patterns("tasks", "tasks-base", "harmony", "evaluation"))
    result = Pipeline(Recipe.from_dict(raw), run).run()
    assert result.cached == ["vocab", "embeddings", "adaptation"]
    scores = result.scores["verbal"]
    assert scores["metric"] == "accuracy" and scores["n_test"] == 12
    assert 0.0 <= scores["strategies"]["harmony"]["accuracy"] <= 1.0
    pred = MultiSourcePredictor(target="amh", task="verbal", run_dir=run)
    labels = pred.predict(["አበበ በሶ በላ", ["ቤት"]])
    assert len(labels) == 2 and set(labels) <= {"verbal", "nominal"}
    (rich,) = pred.predict(["አበበ በሶ በላ"], return_probs=True)
    assert rich["probs"].shape == (2,) and abs(float(rich["probs"].sum()) - 1.0) < 1e-5
    capsys.readouterr()
    assert main(["-q", "predict", "--target", "amh", "--task", "verbal", "--run-dir", str(run), "አበበ በሶ በላ"]) == 0
    assert capsys.readouterr().out.strip() == f"{labels[0]}: አበበ በሶ በላ"
    lines = plain_adapters_usage("verbal", "amh", "intfloat/multilingual-e5-small")
    assert WordBag().usage_call() in lines and lines[-1].endswith("# per word bag")
