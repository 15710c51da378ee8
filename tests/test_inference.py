"""Multi-source inference: Parallel single pass vs separate Stack passes, weight strategies, metrics."""

import math

import numpy as np
import pytest
import torch
from adapters import SeqBnConfig

from unibridge.adaptation.model import add_language_adapter, load_adapter_model
from unibridge.errors import ConfigError
from unibridge.inference.predictor import source_logits
from unibridge.inference.strategies import resolve_weights
from unibridge.inference.weights import choose_harmony, harmony_from_distances, stored_harmony
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


def test_standardised_harmony_discriminates_where_the_paper_formula_is_uniform():
    import math

    d = {"en": 4.7, "zh": 5.0, "ru": 4.8, "ar": 4.9, "ja": 4.75}  # distances as measured on me5-small
    paper = harmony_from_distances(d)
    assert max(abs(w - 0.2) for w in paper.values()) < 0.002  # uniform by construction
    std = harmony_from_distances(d, standardise=True)
    assert std["en"] > std["ja"] > std["ru"] > std["ar"] > std["zh"]  # closer source, larger weight
    assert std["en"] / std["zh"] > 5 and math.isclose(sum(std.values()), 1.0)
    # exact on two sources: z = (+1, -1) -> softmax(2/T) ratio
    two = harmony_from_distances({"a": 1.0, "b": 2.0}, temperature=0.5, standardise=True)
    assert two["a"] == pytest.approx(1 / (1 + math.exp(-4.0)))
    assert harmony_from_distances({"a": 3.0, "b": 3.0}, standardise=True) == {"a": 0.5, "b": 0.5}
    with pytest.raises(ValueError, match="temperature"):
        harmony_from_distances(d, temperature=0.0)


def test_choose_harmony_keeps_the_setting_that_scores_best_on_dev_data():
    # Eq. 10 distances favour zh; the centroid gaps favour en, the source that scores on dev
    distances = {"sentence": {"en": 3.04, "zh": 3.03, "ru": 3.04},
                 "centroid": {"en": 0.68, "zh": 0.83, "ru": 0.70}}
    calls = []

    def dev_accuracy(w):  # a constructed dev set on which only en's task adapter is right
        calls.append(w)
        return w["en"]

    best = choose_harmony(distances, dev_accuracy, temperatures=[0.5, 1.0, 2.0], preferred=("sentence", 1.0))
    assert (best["distance"], best["temperature"]) == ("centroid", 0.5)  # sharpest weights on the best source
    assert best["weights"] == harmony_from_distances(distances["centroid"], 0.5, standardise=True)
    assert best["dev_score"] == pytest.approx(best["weights"]["en"]) and best["weights"]["en"] > 0.5
    assert [(c["distance"], c["temperature"]) for c in best["candidates"]] == [
        ("sentence", 1.0), ("sentence", 2.0), ("sentence", 0.5), ("centroid", 2.0), ("centroid", 1.0),
        ("centroid", 0.5)]
    assert len(calls) == 6
    # ties: the preferred setting wins; identical weightings are scored once
    flat = choose_harmony({"sentence": {"a": 2.0, "b": 2.0}}, lambda w: 0.5, temperatures=[1.0, 4.0],
                          preferred=("sentence", 4.0))
    assert flat["temperature"] == 4.0 and flat["weights"] == {"a": 0.5, "b": 0.5}
    n = []
    choose_harmony({"sentence": {"a": 2.0, "b": 2.0}}, lambda w: n.append(1) or 0.0, temperatures=[1.0, 4.0])
    assert len(n) == 1
    with pytest.raises(ValueError, match="no harmony candidates"):
        choose_harmony(distances, dev_accuracy, temperatures=[])


def test_stored_harmony_prefers_the_weights_chosen_for_the_task():
    record = {"weights": {"en": 0.3, "zh": 0.7}, "tasks": {"pos": {"weights": {"en": 0.9, "zh": 0.1}}}}
    assert stored_harmony(record, "pos") == {"en": 0.9, "zh": 0.1}
    assert stored_harmony(record, "ner") == {"en": 0.3, "zh": 0.7}
    assert stored_harmony({"weights": {"en": 1.0}}, "pos") == {"en": 1.0}  # a run stored before tuning


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
    for bad in ("single", "uniform:en", "single:"):  # an argument where none is taken, or none given
        with pytest.raises(ConfigError, match="unknown weight strategy"):
            resolve_weights(bad, src)
    assert resolve_weights("harmony-untuned", ["en", "zh"], untuned={"en": 1.0, "zh": 3.0}) == {"en": 0.25, "zh": 0.75}
    with pytest.raises(ConfigError, match="no harmony weights"):
        resolve_weights("harmony-untuned", src, harmony={"en": 1.0, "zh": 1.0, "ru": 1.0})
    with pytest.raises(ConfigError, match="sources are"):
        resolve_weights({"en": 1.0}, src)


def test_a_toy_weight_strategy_registered_outside_the_package(monkeypatch):
    """Adding a strategy is a few lines: the registry, the CLI's choices and the grid see it."""
    import argparse

    from unibridge.cli.options import weights_choice
    from unibridge.inference import strategies

    monkeypatch.setattr(strategies, "STRATEGIES", strategies.STRATEGIES.copy())

    @strategies.register_strategy("last", help="all weight on the last source")
    def last(ctx):
        return {s: float(i == len(ctx.sources) - 1) for i, s in enumerate(ctx.sources)}

    assert resolve_weights("last", ["en", "zh", "ru"]) == {"en": 0.0, "zh": 0.0, "ru": 1.0}
    assert "last" in strategies.strategy_names(static_only=True) and "last" in strategies.strategy_help()
    assert weights_choice()("last") == "last" and weights_choice(static_only=True)("single:en") == "single:en"
    with pytest.raises(argparse.ArgumentTypeError, match="per-batch|each batch"):
        weights_choice(static_only=True)("entropy")
    with pytest.raises(argparse.ArgumentTypeError, match="unknown weight strategy 'median'"):
        weights_choice()("median")
    with pytest.raises(ValueError, match="invalid weight strategy name 'a:b'"):
        strategies.register_strategy("a:b", help="")


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


def test_entropy_weights_move_to_the_confident_source():
    from unibridge.inference.weights import entropy_weights

    g = torch.Generator().manual_seed(0)
    confident = torch.zeros(20, 5)
    confident[torch.arange(20), torch.randint(0, 5, (20,), generator=g)] = 8.0
    flat = torch.randn(20, 5, generator=g) * 0.1
    logits = torch.stack([flat, confident, flat * 2])
    mask = torch.ones(20, dtype=torch.bool)
    w = entropy_weights(logits, mask, steps=30, lr=0.2)
    assert w.sum().item() == pytest.approx(1.0, abs=1e-6) and (w >= 0).all()
    assert w[1] > 0.6 and w[1] > w[0] and w[1] > w[2]

    def entropy(weights):
        p = torch.softmax((weights.view(3, 1, 1) * logits).sum(0), -1)
        return float(-(p * p.log()).sum(-1).mean())

    assert entropy(w) < entropy(torch.full((3,), 1 / 3))
    # masked positions do not count; no step keeps the initial weights
    assert torch.allclose(entropy_weights(logits, torch.zeros(20, dtype=torch.bool)), torch.full((3,), 1 / 3))
    with pytest.raises(ValueError, match="does not match"):
        entropy_weights(logits, torch.ones(7, dtype=torch.bool))


def test_lang2vec_weights_and_uniform_fallback():
    from unibridge.inference.weights import lang2vec_weights

    w = lang2vec_weights("amh", ["en", "ar", "ja"])
    assert sum(w.values()) == pytest.approx(1.0) and all(v > 0 for v in w.values())
    assert len(set(round(v, 6) for v in w.values())) == 3  # real similarities, not uniform
    assert resolve_weights("lang2vec", ["en", "ar", "ja"], target="amh") == pytest.approx(w)
    with pytest.warns(UserWarning, match="not found in the URIEL database"):
        fb = lang2vec_weights("nah", ["en", "ar", "ja"])  # Nahuatl (macro code) is not in URIEL
    assert fb == pytest.approx({"en": 1 / 3, "ar": 1 / 3, "ja": 1 / 3})
    with pytest.raises(ConfigError, match="need the target"):
        resolve_weights("lang2vec", ["en"])


def test_weight_heatmap_writes_png(tmp_path):
    from unibridge.errors import DataError
    from unibridge.inference.plot import plot_weight_heatmap

    out = plot_weight_heatmap({"amh": {"en": 0.3, "zh": 0.7}, "san": {"en": 0.5}}, tmp_path / "w.png")
    assert out.stat().st_size > 3000
    with pytest.raises(DataError):
        plot_weight_heatmap({}, tmp_path / "x.png")


def test_length_sorted_batches_cover_every_index_once():
    from unibridge.inference.predictor import length_sorted_batches

    lengths = [5, 2, 9, 2, 7, 1, 5]
    batches = length_sorted_batches(lengths, 3)
    assert batches == [[5, 1, 3], [0, 6, 4], [2]]
    assert sorted(i for b in batches for i in b) == list(range(7))
    with pytest.raises(ValueError):
        length_sorted_batches(lengths, 0)


def test_nli_task_pairs_encoding_and_metric(tiny_base):
    from transformers import AutoTokenizer

    from unibridge.data import NLIExample

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    spec = get_task("nli")
    assert spec.kind.name == "classification" and spec.labels == ("entailment", "neutral", "contradiction")
    ex = NLIExample("the cat sat", "a cat is sitting", "entailment")
    enc = spec.encode(tok, ex, 64)
    assert enc["input_ids"] == tok("the cat sat", "a cat is sitting")["input_ids"] and enc["labels"] == 0
    assert spec.encode(tok, ("the cat sat", "a cat is sitting"), 64, labelled=False)["input_ids"] == enc["input_ids"]
    short = spec.encode(tok, NLIExample("word " * 50, "other " * 50, "neutral"), 16)
    assert len(short["input_ids"]) == 16 and short["labels"] == 1
    batch = spec.collate([enc, short], tok.pad_token_id)
    assert batch["labels"].tolist() == [0, 1] and batch["input_ids"].shape == (2, 16)
    assert batch["attention_mask"][0].sum() == len(enc["input_ids"])
    assert spec.gold(ex) == ["entailment"] and spec.inputs(ex) == ("the cat sat", "a cat is sitting")
    gold = [["entailment"], ["neutral"], ["contradiction"], ["neutral"]]
    assert spec.metric(gold, [["entailment"], ["neutral"], ["neutral"], ["neutral"]])["accuracy"] == 0.75
    with pytest.raises(KeyError):
        spec.encode(tok, NLIExample("a", "b", "maybe"), 16)


def test_a_mean_pooled_head_reads_the_masked_mean_and_saves_and_loads(tiny_base, tmp_path):
    from adapters.composition import Stack

    from unibridge.config import TaskConfig
    from unibridge.heads import MEAN_POOLED_HEAD

    torch.manual_seed(0)
    model = load_adapter_model(tiny_base)
    model.add_adapter("nli_en", config=SeqBnConfig(reduction_factor=16))
    get_task("nli").add_head(model, "nli_en", pooling="mean")
    head = model.heads["nli_en"].eval()
    assert head.config["head_type"] == MEAN_POOLED_HEAD and head.config["num_labels"] == 3
    states = torch.randn(2, 5, 32)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    logits = head((states,), None, mask, False)[0]
    by_hand = head((states,), torch.stack([states[0, :3].mean(0), states[1].mean(0)]), mask, False)[0]
    assert torch.allclose(logits, by_hand, atol=1e-6)
    padded = states.clone()
    padded[0, 3:] = 100.0  # padding does not count
    assert torch.allclose(head((padded,), None, mask, False)[0], logits, atol=1e-6)
    later = states.clone()
    later[1, 2] += 1.0  # a token after the first one does (the first-token head would not see it)
    assert not torch.allclose(head((later,), None, mask, False)[0][1], logits[1])

    model.save_adapter(str(tmp_path / "nli"), "nli_en", with_head=True, use_safetensors=True)
    other = load_adapter_model(tiny_base)
    other.load_adapter(str(tmp_path / "nli"), load_as="nli_en", with_head=True, use_safetensors=True)
    assert other.heads["nli_en"].config["head_type"] == MEAN_POOLED_HEAD
    ids = torch.tensor([[0, 5, 6, 7, 2], [0, 8, 2, 1, 1]])
    att = (ids != 1).long()
    outs = []
    for m in (model, other):
        m.eval()
        m.set_active_adapters(Stack("nli_en"))
        m.active_head = "nli_en"
        outs.append(m(input_ids=ids, attention_mask=att).logits)
    assert torch.allclose(outs[0], outs[1], atol=1e-6)
    with pytest.raises(ValueError, match="pooling must be 'first' or 'mean'"):
        get_task("nli").add_head(model, "x", pooling="max")
    with pytest.raises(ConfigError, match="task.pooling must be first or mean"):
        TaskConfig(pooling="max")


@pytest.mark.slow
def test_nli_trains_through_a_language_adapter_on_a_separable_pair_task(tiny_base, tmp_path):
    """The hypothesis' last word gives the label; a mean-pooled head learns it through a frozen
    language adapter (training loss far below ln 3), where the first-token head of the same
    budget stays near ln 3."""
    from transformers import AutoTokenizer

    from unibridge.config import TaskConfig, TrainConfig
    from unibridge.data import NLIExample
    from unibridge.tasks import train_task_adapter

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    rng = np.random.default_rng(0)
    nouns = "house river tree stone bird cloud road field".split()
    cue = {"entailment": "yes", "neutral": "maybe", "contradiction": "no"}
    pairs = [NLIExample(" ".join(rng.choice(nouns, 4)), " ".join(rng.choice(nouns, 2)) + " " + cue[lab], lab)
             for lab in rng.choice(list(cue), 192)]
    final = {}
    for pooling in ("mean", "first"):
        torch.manual_seed(0)
        model = load_adapter_model(tiny_base)
        add_language_adapter(model, "xx", seed=0)
        cfg = TaskConfig(pooling=pooling, train=TrainConfig(max_steps=240, batch_size=16, learning_rate=1e-2,
                                                            max_length=24))
        hist = train_task_adapter(model, tok, pairs, get_task("nli"), "xx", cfg=cfg, seed=0,
                                  output_dir=str(tmp_path / pooling))
        assert all(not p.requires_grad for n, p in model.named_parameters() if ".xx." in n)
        final[pooling] = hist[-1]["loss"]
    assert final["mean"] < 0.5 * math.log(3) < final["first"], final


def test_pick_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    from unibridge.inference.predictor import pick_device

    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device(None) == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device(None) == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device(None) == torch.device("cpu")


def _two_source_tagger(tiny_base, weights=None):
    """A predictor over a tiny model with a language adapter 'amh' and untrained pos task adapters
    for en and ru (seed 0)."""
    from transformers import AutoTokenizer

    from unibridge.inference import MultiSourcePredictor

    torch.manual_seed(0)
    model = load_adapter_model(tiny_base)
    add_language_adapter(model, "amh")
    for s in ["en", "ru"]:
        model.add_adapter(f"pos_{s}", config=SeqBnConfig(reduction_factor=16))
        model.add_tagging_head(f"pos_{s}", num_labels=17)
    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    return MultiSourcePredictor.from_model(model, tok, "pos", {"en": "pos_en", "ru": "pos_ru"},
                                           language_adapter="amh", weights=weights)


def test_a_predictor_on_a_model_keeps_its_device_and_returns_cpu_float32(tiny_base):
    pred = _two_source_tagger(tiny_base)
    assert pred.device == torch.device("cpu") and pred.labels == list(pred.task.labels) and len(pred.labels) == 17
    out = pred.predict(["a b c", "d e"], return_probs=True, batch_size=1)
    assert [len(o["labels"]) for o in out] == [3, 2]
    assert isinstance(out[0]["probs"], np.ndarray) and out[0]["probs"].dtype == np.float32
    assert pred.predict(["a b c", "d e"]) == [o["labels"] for o in out]  # the default batch size, same labels


def test_a_per_batch_strategy_reweights_each_batch_in_the_predictor(tiny_base, monkeypatch):
    """A toy per-batch strategy (all weight on the source with the larger mean top logit over the
    batch's scored words): the combined logits are that source's, and last_weights say which."""
    from unibridge.inference import strategies

    monkeypatch.setattr(strategies, "STRATEGIES", strategies.STRATEGIES.copy())
    seen = []

    def most_confident(logits, mask, weights):  # (S, N, C), (N,), (S,)
        seen.append((tuple(logits.shape), int(mask.sum()), weights.tolist()))
        top = logits[:, mask].max(-1).values.mean(-1)
        return torch.nn.functional.one_hot(top.argmax(), logits.shape[0]).float()

    strategies.register_strategy("confident", help="the most confident source", per_batch=most_confident)(
        lambda ctx: {s: 1.0 for s in ctx.sources})
    pred = _two_source_tagger(tiny_base, weights="confident")
    assert not pred.static and pred.weights == {"en": 0.5, "ru": 0.5}
    (out,) = pred.predict(["a b c"], return_probs=True, return_source_logits=True, batch_size=1)
    assert seen[0][1] == 3 and seen[0][2] == [0.5, 0.5]  # three scored words, the static weights
    chosen = max(pred.last_weights, key=pred.last_weights.get)
    assert sorted(pred.last_weights.values()) == [0.0, 1.0]
    expected = torch.softmax(torch.from_numpy(out["source_logits"][chosen]), -1).numpy()
    np.testing.assert_allclose(out["probs"], expected, atol=1e-6)


def test_length_grouped_task_batches_pad_less_than_random_ones(tiny_base, tmp_path):
    """``task.group_by_length``: on sentences of 2 and 12 words mixed, the batches the task
    adapter trains on carry under a third of the padding of random batches (the sampler moves the
    longest example to the first batch, so one batch stays mixed)."""
    import dataclasses

    from transformers import AutoTokenizer

    from unibridge.config import TaskConfig, TrainConfig
    from unibridge.data import TaggedSentence
    from unibridge.tasks import train_task_adapter

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    short, long = TaggedSentence(["the", "cat"], ["DET", "NOUN"]), TaggedSentence(["the", "cat"] * 6, ["DET", "NOUN"] * 6)
    sents = [short, long] * 32
    spec = get_task("pos")
    padding = {}
    for grouped in (False, True):
        seen: list[float] = []

        def collate(items, pad_id, _real=spec.collate):
            batch = _real(items, pad_id)
            seen.append(1 - float(batch["attention_mask"].float().mean()))
            return batch

        task = dataclasses.replace(spec)
        object.__setattr__(task, "collate", collate)
        model = load_adapter_model(tiny_base)
        cfg = TaskConfig(group_by_length=grouped, train=TrainConfig(max_steps=8, batch_size=8, max_length=32))
        train_task_adapter(model, tok, sents, task, "xx", cfg=cfg, seed=0, output_dir=str(tmp_path / str(grouped)),
                           language_adapter=False)
        assert len(seen) == 8
        padding[grouped] = sum(seen) / len(seen)
    assert padding[False] > 0.3 and padding[True] < padding[False] / 3, padding
    assert "group_by_length" not in TaskConfig().fingerprint_dict()  # the default keeps fingerprints
    assert TaskConfig(group_by_length=True).fingerprint_dict()["group_by_length"] is True
