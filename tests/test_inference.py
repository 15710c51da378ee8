"""Multi-source inference: Parallel single pass vs separate Stack passes, weight strategies, metrics."""

import math

import pytest
import torch
from adapters import SeqBnConfig

from unibridge.adaptation.model import add_language_adapter, load_adapter_model
from unibridge.errors import ConfigError
from unibridge.inference.predictor import source_logits
from unibridge.inference.weights import harmony_from_distances, resolve_weights
from unibridge.tasks import accuracy, entity_f1, get_task
from unibridge.tasks.tagging import encode_tagged


def test_parallel_pass_equals_separate_stack_passes(tiny_base):
    torch.manual_seed(0)
    model = load_adapter_model(tiny_base)
    add_language_adapter(model, "amh")
    heads = []
    for s in ["en", "zh", "ru"]:
        name = f"pos_{s}"
        model.add_adapter(name, config=SeqBnConfig(reduction_factor=16))
        model.add_tagging_head(name, num_labels=17)
        heads.append(name)
    for n, p in model.named_parameters():
        if "adapter" in n or "heads" in n:
            torch.nn.init.normal_(p, std=0.2)
    model.eval()
    ids = torch.randint(5, 1000, (4, 9))
    att = torch.ones_like(ids)
    att[1, 6:] = 0
    par = source_logits(model, ids, att, "amh", heads, mode="parallel")
    seq = source_logits(model, ids, att, "amh", heads, mode="sequential")
    assert par.shape == (3, 4, 9, 17)
    assert torch.allclose(par, seq, atol=1e-5)
    assert not torch.allclose(par[0], par[1])  # the sources really differ


def test_harmony_weights_exact_and_sum_to_one():
    w = harmony_from_distances({"en": 2.0, "zh": 4.0})
    e = math.exp(0.5) / (math.exp(0.5) + math.exp(0.25))
    assert w["en"] == pytest.approx(e) and w["zh"] == pytest.approx(1 - e)
    w = harmony_from_distances({"a": 1.0, "b": 3.0, "c": 10.0}, temperature=0.1)
    assert sum(w.values()) == pytest.approx(1.0)
    assert w["a"] > w["b"] > w["c"]  # closer source, larger weight
    with pytest.raises(ValueError):
        harmony_from_distances({"a": 0.0})


def test_resolve_weights_strategies():
    src = ["en", "zh", "ru"]
    assert resolve_weights("uniform", src) == pytest.approx({s: 1 / 3 for s in src})
    assert resolve_weights("single:zh", src) == {"en": 0.0, "zh": 1.0, "ru": 0.0}
    assert resolve_weights({"en": 2, "zh": 1, "ru": 1}, src) == {"en": 0.5, "zh": 0.25, "ru": 0.25}
    sub = resolve_weights("harmony", ["en", "zh"], {"en": 0.2, "zh": 0.3, "ru": 0.5})
    assert sub == pytest.approx({"en": 0.4, "zh": 0.6})
    with pytest.raises(ConfigError, match="single-source"):
        resolve_weights("single:ja", src)
    with pytest.raises(ConfigError, match="unknown weight strategy"):
        resolve_weights("median", src)


def test_first_subtoken_labels(tiny_base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    spec = get_task("pos")
    words = ["Internationalisation", "is", "ሰላምታችንን"]
    enc = encode_tagged(tok, words, ["NOUN", "AUX", "NOUN"], spec.label2id, 64)
    wid = tok(words, is_split_into_words=True).word_ids()
    assert len(enc["first"]) == 3
    assert [wid[p] for p in enc["first"]] == [0, 1, 2]
    labelled = [i for i, l in enumerate(enc["labels"]) if l != -100]
    assert labelled == enc["first"]
    assert [enc["labels"][p] for p in enc["first"]] == [spec.label2id[t] for t in ["NOUN", "AUX", "NOUN"]]
    assert sum(1 for w in wid if w == 0) > 1  # the first word really is split into several pieces


def test_metrics_on_constructed_examples():
    assert accuracy([["A", "B"], ["C"]], [["A", "X"], ["C"]])["accuracy"] == pytest.approx(2 / 3)
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"]]
    m = entity_f1(gold, pred)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5) and m["f1"] == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="unknown task"):
        get_task("sentiment")
