"""Tagged words written without spaces (a Chinese NER corpus with one character per token): read
as running text, without the word-boundary marker before every word; the ``<task>_unspaced``
source key, its fingerprint scope, and the predictor's ``spaced=False``."""

from __future__ import annotations

import pytest
import torch
from adapters import SeqBnConfig

from tests.conftest import tiny_recipe
from unibridge.backbones import load_tokenizer
from unibridge.config import Recipe, SourceSpec
from unibridge.data import TaggedSentence
from unibridge.errors import ConfigError
from unibridge.pipeline import Pipeline
from unibridge.tasks.tagging import encode_tagged, unspaced_pieces

NER = {"O": 0, "B-PER": 1, "I-PER": 2, "B-ORG": 3, "I-ORG": 4, "B-LOC": 5, "I-LOC": 6}


@pytest.fixture(scope="module")
def tok(tiny_base):
    return load_tokenizer(tiny_base)  # me5-small's XLM-R vocabulary


def test_unspaced_words_are_read_without_the_word_boundary_marker(tok):
    ids = lambda *ts: tok.convert_tokens_to_ids(list(ts))  # noqa: E731
    chars, tags = ["在", "过", "去", "邓", "小", "平"], ["O", "O", "O", "B-PER", "I-PER", "I-PER"]
    enc = encode_tagged(tok, chars, tags, NER, 64, spaced=False)
    assert enc["input_ids"] == [tok.cls_token_id, *ids("在", "过", "去", "邓", "小", "平"), tok.sep_token_id]
    assert enc["first"] == [1, 2, 3, 4, 5, 6] and enc["word_index"] == list(range(6))
    assert enc["labels"] == [-100, 0, 0, 0, 1, 2, 2, -100]
    spaced = encode_tagged(tok, chars, tags, NER, 64)  # split into words: "▁" before (most) characters
    assert tok.convert_ids_to_tokens(spaced["input_ids"][1:4]) == ["▁在", "▁", "过"]
    assert len(spaced["input_ids"]) == 12 and spaced["labels"].count(-100) == 6  # 10 pieces for 6 words
    # no own vocabulary entry: the word's pieces without a lone leading marker; "▁Stanford" is one piece
    assert unspaced_pieces(tok, ["𠀋", "Stanford", "邓小平"]) == [[tok.unk_token_id], ids("▁Stanford"), ids("邓小平")]
    assert unspaced_pieces(tok, []) == []


def test_unspaced_encoding_keeps_only_the_words_that_fit(tok):
    chars = list("科学家们周一宣布")
    enc = encode_tagged(tok, chars, ["O"] * 8, NER, 5, spaced=False)  # <s> + 3 pieces + </s>
    assert len(enc["input_ids"]) == 5 and enc["word_index"] == [0, 1, 2] and enc["first"] == [1, 2, 3]
    assert enc["labels"] == [-100, 0, 0, 0, -100]
    empty = encode_tagged(tok, [], None, NER, 5, spaced=False)
    assert empty["input_ids"] == [tok.cls_token_id, tok.sep_token_id] and empty["first"] == []
    assert encode_tagged(tok, ["在"], None, NER, 64, spaced=False)["labels"] == [-100, 0, -100]  # unlabelled


def test_unspaced_keys_parse_round_trip_and_are_refused_where_they_mean_nothing():
    from unibridge.tasks import TaskSpec, register_task

    spec = SourceSpec.from_dict({"ner": "a.txt", "ner_unspaced": True, "pos": "b.conllu", "pos_unspaced": False})
    assert spec.unspaced == ("ner",) and not spec.is_spaced("ner") and spec.is_spaced("pos")
    assert SourceSpec.from_dict(spec.to_dict()) == spec and "pos_unspaced" not in spec.to_dict()
    with pytest.raises(ConfigError, match="'src.topic_unspaced': the 'topic' task has no words"):
        SourceSpec.from_dict({"topic": "t.tsv", "topic_unspaced": True}, "src")
    with pytest.raises(ConfigError, match="'src.ner_unspaced' must be true or false, got 'yes please'"):
        SourceSpec.from_dict({"ner_unspaced": "yes please"}, "src")
    with pytest.raises(ValueError, match="task name .chunk_unspaced. is a source key"):
        register_task(TaskSpec("chunk_unspaced", ("O",), lambda *a, **k: [], lambda g, p: {}, "f1"))


def test_unspaced_marks_the_tasks_examples_and_only_its_adapters_fingerprint(tiny_base, tmp_path):
    base = tiny_recipe(tiny_base)
    flagged = tiny_recipe(tiny_base)
    src = next(s for s, d in flagged["sources"].items() if d.get("ner"))
    flagged["sources"][src]["ner_unspaced"] = True
    a = Pipeline(Recipe.from_dict(base), tmp_path / "a")
    b = Pipeline(Recipe.from_dict(flagged), tmp_path / "b")
    assert all(x.spaced for x in a.task_data(src, "ner"))
    ner = b.task_data(src, "ner")
    assert ner and not any(x.spaced for x in ner) and [x.tokens for x in ner] == [x.tokens for x in a.task_data(src, "ner")]
    assert not any(x.spaced for x in b.source_dev(src, "ner")[0]) and b.source_dev(src, "ner")[0]
    assert all(x.spaced for x in b.task_data(src, "pos"))
    for kind in (True, False):
        assert a.source_fingerprint(src, "ner", kind) != b.source_fingerprint(src, "ner", kind)
        assert a.source_fingerprint(src, "pos", kind) == b.source_fingerprint(src, "pos", kind)
    assert a.source_fingerprint(src) == b.source_fingerprint(src)


def test_the_predictor_reads_unspaced_words_as_running_text(tiny_base, tok):
    from unibridge.adaptation.model import load_adapter_model
    from unibridge.inference import MultiSourcePredictor

    torch.manual_seed(0)
    model = load_adapter_model(tiny_base)
    model.add_adapter("ner_zh", config=SeqBnConfig(reduction_factor=16))
    model.add_tagging_head("ner_zh", num_labels=len(NER))
    pred = MultiSourcePredictor.from_model(model, tok, "ner", {"zh": "ner_zh"}, language_adapter=None)
    chars = list("科学家们周一宣布发明了")
    probs = pred.predict([chars], spaced=False, return_probs=True)[0]["probs"]
    enc = encode_tagged(tok, chars, None, NER, 256, spaced=False)
    model.set_active_adapters("ner_zh")
    model.active_head = "ner_zh"
    with torch.no_grad():
        direct = torch.softmax(model(torch.tensor([enc["input_ids"]])).logits[0, enc["first"]], -1)
    assert probs.shape == (len(chars), len(NER)) and torch.allclose(torch.from_numpy(probs), direct, atol=1e-5)
    assert not torch.allclose(torch.from_numpy(pred.predict([chars], return_probs=True)[0]["probs"]), direct, atol=1e-3)
    # evaluate() reads each example as it is written, spaced and unspaced ones in one call
    examples = [TaggedSentence(chars, ["O"] * len(chars), spaced=False), TaggedSentence(["a", "b"], ["B-PER", "O"])]
    gold = [x.tags for x in examples]
    want = pred.task.metric(gold, [pred.predict([chars], spaced=False)[0], pred.predict([["a", "b"]])[0]])
    assert pred.evaluate(examples, progress=False) == want
