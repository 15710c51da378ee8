"""Stage 1: ALP, Algorithm 1, SentencePiece training and tokenizer wrapping."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import sentencepiece as spm

from tests.conftest import DATA
from unibridge.errors import ConfigError, DataError, VocabSizeError
from unibridge.vocab import (
    VocabSearchResult,
    algorithm1,
    alp,
    default_character_coverage,
    bisect_algorithm1,
    full_curve,
    parallel_algorithm1,
    pack_samples,
    plot_alp_curve,
    search_vocab_size,
    split_heldout,
    train_sentencepiece,
    wrap_tokenizer,
)

AMH = DATA / "mono/masakhane_ner_text_by_language/amharic/amharic_news.txt"
E5_TOKENIZER = (
    Path(__file__).resolve().parents[1]
    / ".venv/lib/python3.11/site-packages/semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"
)
# 4 letters + "▁" + <unk> <s> </s> = 8 required pieces; SentencePiece reports at most 11.
TINY = ["abc abd", "cab bad"] * 5
TINY_MAX = 11


# --------------------------------------------------------------------------- pack_samples / ALP


def test_pack_samples_exact():
    lines = ["a b c", "d  e", "", "f g h i\n"]
    assert pack_samples(lines, 3) == ["a b c", "d e f", "g h i"]
    assert pack_samples(lines, 2) == ["a b", "c d", "e f", "g h", "i"]
    assert pack_samples(lines, None) == ["a b c", "d  e", "f g h i"]
    assert pack_samples([], 128) == []
    with pytest.raises(ConfigError):
        pack_samples(lines, 0)


class FakeProcessor:
    """Batched encoder with a fixed segmentation; records the calls it receives."""

    def __init__(self, table):
        self.table = table
        self.calls = []

    def encode(self, batch):
        self.calls.append(list(batch))
        return [self.table[s] for s in batch]


def test_alp_hand_computed():
    proc = FakeProcessor({"s1": [0, 1, 1], "s2": [1, 2], "s3": []})
    # counts: id0 1, id1 3, id2 1; N = 5
    total = math.log(1 / 5) + 3 * math.log(3 / 5) + math.log(1 / 5)
    assert alp(proc, ["s1", "s2"]) == pytest.approx(total / 2, rel=1e-12)
    assert alp(proc, ["s1", "s2"], per_token=True) == pytest.approx(total / 5, rel=1e-12)
    assert proc.calls == [["s1", "s2"], ["s1", "s2"]]  # one batched call per ALP
    # an empty sample counts in the mean over samples
    assert alp(proc, ["s1", "s2", "s3"]) == pytest.approx(total / 3, rel=1e-12)
    with pytest.raises(DataError):
        alp(proc, [])
    with pytest.raises(DataError):
        alp(proc, ["s3"])


def test_alp_matches_bruteforce_on_sentencepiece(amh_model):
    sp = spm.SentencePieceProcessor(model_file=str(amh_model))
    samples = pack_samples(_amh_lines()[:300], 128)
    enc = [sp.encode(s) for s in samples]
    counts: dict[int, int] = {}
    for ids in enc:
        for i in ids:
            counts[i] = counts.get(i, 0) + 1
    n = sum(counts.values())
    expected = sum(math.log(counts[i] / n) for ids in enc for i in ids) / len(samples)
    assert alp(sp, samples) == pytest.approx(expected, rel=1e-9)


# --------------------------------------------------------------------------- Algorithm 1 (pure)


def _curve_fn(values: dict[int, float], calls: list[int], feasible: int | None = None):
    def score_at(v: int) -> float:
        calls.append(v)
        if feasible is not None and v > feasible:
            err = VocabSizeError(f"too large: {v}")
            err.feasible_max = feasible
            raise err
        return values[v]

    return score_at


def test_algorithm1_stops_at_first_small_gain_and_returns_that_size():
    # gains: +20, +10, +6, +4 (<= eps 5) -> stop at 11000, the size whose gain fell below eps
    values = {7000: -100.0, 8000: -80.0, 9000: -70.0, 10000: -64.0, 11000: -60.0, 12000: -59.0}
    calls: list[int] = []
    out = algorithm1(_curve_fn(values, calls), v_i=7000, v_m=60000, delta=1000, eps=5.0)
    assert out.vocab_size == 11000
    assert out.stopped_by == "epsilon"
    assert calls == [7000, 8000, 9000, 10000, 11000]
    assert [p.delta for p in out.curve] == [None, 20.0, 10.0, 6.0, 4.0]
    assert out.feasible_max is None and out.effective_v_m == 60000


def test_algorithm1_gain_equal_to_eps_stops():
    values = {1000: -10.0, 1100: -5.0, 1200: 0.0}  # gain exactly 5.0 is not > eps
    out = algorithm1(_curve_fn(values, []), v_i=1000, v_m=5000, delta=100, eps=5.0)
    assert out.vocab_size == 1100 and out.stopped_by == "epsilon"


def test_algorithm1_v_m_cap():
    values = {v: float(v) for v in range(7000, 10001, 500)}  # gain 1000 per step, never stops
    calls: list[int] = []
    out = algorithm1(_curve_fn(values, calls), v_i=7000, v_m=9500, delta=1000, eps=5.0)
    assert (out.vocab_size, out.stopped_by) == (9500, "v_m")
    assert calls == [7000, 8000, 9000, 9500]  # 10000 > v_m -> v = v_m, build, stop
    calls.clear()
    out = algorithm1(_curve_fn(values, calls), v_i=7000, v_m=9000, delta=1000, eps=5.0)
    assert (out.vocab_size, out.stopped_by) == (9000, "v_m")
    assert calls == [7000, 8000, 9000]  # v_m already built: not rebuilt


def test_algorithm1_feasible_max_cap(caplog):
    values = {v: float(v) for v in (7000, 8000, 8500)}
    calls: list[int] = []
    with caplog.at_level(logging.WARNING, logger="unibridge.vocab.search"):
        out = algorithm1(_curve_fn(values, calls, feasible=8500), v_i=7000, v_m=60000, delta=1000, eps=5.0)
    assert (out.vocab_size, out.stopped_by) == (8500, "feasible_max")
    assert out.feasible_max == 8500 and out.effective_v_m == 8500
    assert calls == [7000, 8000, 9000, 8500]
    assert [p.vocab_size for p in out.curve] == [7000, 8000, 8500]
    assert "feasible maximum 8500" in caplog.text


def test_algorithm1_v_i_infeasible_and_bad_grid():
    with pytest.raises(VocabSizeError, match=r"at most 5000 pieces; v_i=7000 is too large") as ei:
        algorithm1(_curve_fn({}, [], feasible=5000), v_i=7000)
    assert ei.value.feasible_max == 5000
    with pytest.raises(ConfigError):
        algorithm1(lambda v: 0.0, v_i=9000, v_m=8000)
    with pytest.raises(ConfigError):
        algorithm1(lambda v: 0.0, delta=0)


# --------------------------------------------------------------------------- SentencePiece + search


def test_train_sentencepiece_feasible_max_from_message(tmp_path):
    with pytest.raises(VocabSizeError, match=f"at most {TINY_MAX}") as ei:
        train_sentencepiece(TINY, 100, tmp_path / "x")
    assert ei.value.feasible_max == TINY_MAX
    path = train_sentencepiece(TINY, TINY_MAX, tmp_path / "ok")
    sp = spm.SentencePieceProcessor(model_file=str(path))
    assert sp.get_piece_size() == TINY_MAX
    assert [sp.id_to_piece(i) for i in range(3)] == ["<unk>", "<s>", "</s>"]
    with pytest.raises(VocabSizeError, match="smaller than the 8 characters"):
        train_sentencepiece(TINY, 5, tmp_path / "small")


def test_empty_corpus_is_data_error(tmp_path):
    with pytest.raises(DataError):
        train_sentencepiece([], 100, tmp_path / "e")
    with pytest.raises(DataError):
        search_vocab_size(["", "   "], workdir=tmp_path, progress=False)


def test_corpus_too_small_for_v_i(tmp_path):
    with pytest.raises(VocabSizeError, match=rf"corpus supports at most {TINY_MAX} pieces; v_i=7000 is too large"):
        search_vocab_size(TINY, workdir=tmp_path, progress=False)
    # fewer pieces than the corpus has distinct characters (4 letters, ▁ and 3 specials)
    with pytest.raises(VocabSizeError, match="smaller than the 8 characters the corpus needs"):
        search_vocab_size(TINY, v_i=6, v_m=10, delta=2, workdir=tmp_path / "small", progress=False)


def test_search_caps_at_feasible_max_and_round_trips(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="unibridge.vocab.search"):
        res = search_vocab_size(TINY, v_i=8, v_m=100, delta=2, eps=-1e9, workdir=tmp_path / "w", progress=False)
    assert (res.vocab_size, res.stopped_by) == (TINY_MAX, "feasible_max")
    assert res.feasible_max == TINY_MAX and res.effective_v_m == TINY_MAX
    assert [p.vocab_size for p in res.curve] == [8, 10, TINY_MAX]
    assert res.model_path.is_file()
    assert spm.SentencePieceProcessor(model_file=str(res.model_path)).get_piece_size() == TINY_MAX
    assert "capping v_m" in caplog.text
    back = VocabSearchResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert back == res
    png = plot_alp_curve(res, tmp_path / "curve.png")
    assert png.stat().st_size > 1000


# --------------------------------------------------------------------------- tokenizer wrapping


def _amh_lines() -> list[str]:
    if not AMH.is_file():
        pytest.skip(f"{AMH} not available")
    return [s for s in (line.strip() for line in AMH.read_text(encoding="utf-8").splitlines()) if s]


@pytest.fixture(scope="module")
def amh_model(tmp_path_factory) -> Path:
    return train_sentencepiece(_amh_lines()[:2000], 2000, tmp_path_factory.mktemp("spm") / "amh")


@pytest.fixture(scope="module")
def xlmr_base():
    from transformers import XLMRobertaTokenizerFast

    if not E5_TOKENIZER.is_file():
        pytest.skip("offline multilingual-e5-small tokenizer not installed")
    return XLMRobertaTokenizerFast(tokenizer_file=str(E5_TOKENIZER))


@pytest.fixture(scope="module")
def bert_base(tmp_path_factory):
    from transformers import BertTokenizerFast

    d = tmp_path_factory.mktemp("bert")
    (d / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]) + "\n")
    return BertTokenizerFast(vocab_file=str(d / "vocab.txt"))


def _clean_texts(sp) -> list[str]:
    """Amharic lines that the target model covers without <unk>."""
    texts = [t for t in _amh_lines()[:200] if 0 not in sp.encode(t)]
    assert len(texts) >= 20
    return texts[:20]


def test_wrap_xlmr_style(amh_model, xlmr_base, tmp_path):
    from transformers import AutoTokenizer

    tok = wrap_tokenizer(amh_model, xlmr_base, out_dir=tmp_path / "tok")
    sp = spm.SentencePieceProcessor(model_file=str(amh_model))
    assert (tok.cls_token_id, tok.pad_token_id, tok.sep_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert tok.mask_token_id == len(tok) - 1 == sp.get_piece_size() + 1
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    for text in _clean_texts(sp):
        ids = tok(text).input_ids
        assert ids[0] == 0 and ids[-1] == 2
        assert ids[1:-1] == [i + 1 for i in sp.encode(text)]  # fairseq offset
        assert tok.decode(ids, skip_special_tokens=True) == text
        assert reloaded(text).input_ids == ids
    pair = tok("ሰላም", "ዓለም").input_ids
    assert pair.count(2) == 3  # <s> A </s></s> B </s>
    words = _clean_texts(sp)[0].split()[:6]
    enc = tok(words, is_split_into_words=True)
    wids = enc.word_ids()
    assert wids[0] is None and wids[-1] is None
    assert sorted(set(w for w in wids if w is not None)) == list(range(len(words)))


def test_wrap_bert_style(amh_model, bert_base, tmp_path):
    from transformers import AutoTokenizer

    tok = wrap_tokenizer(amh_model, bert_base, out_dir=tmp_path / "btok")
    sp = spm.SentencePieceProcessor(model_file=str(amh_model))
    assert tok.cls_token == "[CLS]" and tok.sep_token == "[SEP]" and tok.mask_token == "[MASK]"
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "btok")
    for text in _clean_texts(sp)[:10]:
        enc = tok(text)
        assert enc.input_ids[0] == tok.cls_token_id and enc.input_ids[-1] == tok.sep_token_id
        assert enc.input_ids[1:-1] == [i + 2 for i in sp.encode(text)]
        assert tok.decode(enc.input_ids, skip_special_tokens=True) == text
        assert reloaded(text).input_ids == enc.input_ids
    pair = tok("ሰላም", "ዓለም")
    assert pair.input_ids.count(tok.sep_token_id) == 2 and pair.token_type_ids[-1] == 1
    words = _clean_texts(sp)[0].split()[:4]
    assert set(w for w in tok(words, is_split_into_words=True).word_ids() if w is not None) == set(range(4))


def test_wrap_rejects_unknown_style(amh_model):
    class Base:
        cls_token = "<cls>"

    with pytest.raises(ConfigError, match="CLS/BOS token"):
        wrap_tokenizer(amh_model, Base())
    with pytest.raises(DataError):
        wrap_tokenizer(Path("/nonexistent.model"), Base())


# --------------------------------------------------------------------------- concurrent searches


def _scorer(values: dict[int, float], calls: list[int], feasible: int | None = None):
    """score_one over a fixed curve (thread-safe); records every size; refuses sizes above ``feasible``."""
    return _curve_fn(values, calls, feasible)


def _power_curve(c: float, b: float, v_i=7000, v_m=60000, delta=1000) -> dict[int, float]:
    """ALP with gains Δ_k = c·v_k^(−b): concave on the grid."""
    vals, a = {}, -200.0
    for v in range(v_i, v_m + delta, delta):
        if v > v_i:
            a += c * v ** (-b)
        vals[v] = a
    return vals


def _from_gains(gains: list[float], v_i=7000, delta=1000) -> dict[int, float]:
    vals, a = {v_i: 0.0}, 0.0
    for k, g in enumerate(gains, start=1):
        a += g
        vals[v_i + delta * k] = a
    return vals


NOISY = [24.2, 17.7, 15.6, 12.7, 12.3, 8.3, 10.7, 8.1, 6.5, 3.3, 6.3, 5.5, 6.2, 5.0] + [1.0] * 40
"""The Amharic ALP gains (128-word samples, 7000 → 21000): not monotone; the stop is 17000."""


@pytest.mark.parametrize("search", [parallel_algorithm1, bisect_algorithm1, full_curve])
@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_concurrent_searches_equal_algorithm1_on_concave_curves(search, workers):
    import random

    rng = random.Random(0)
    for _ in range(25):
        c, b = rng.uniform(1e2, 1e9), rng.uniform(0.5, 2.5)
        eps = rng.choice([0.1, 1.0, 5.0, 20.0])
        vals = _power_curve(c, b)
        ref = algorithm1(_curve_fn(vals, []), eps=eps)
        out = search(_scorer(vals, []), eps=eps, workers=workers)
        assert (out.vocab_size, out.stopped_by, out.effective_v_m) == (ref.vocab_size, ref.stopped_by, 60000)
        assert not out.fell_back
        if out.stopped_by == "epsilon":  # the stop is backed by the two sizes it compares
            point = next(p for p in out.curve if p.vocab_size == out.vocab_size)
            assert point.delta is not None and point.delta <= eps


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_parallel_scan_is_exact_on_a_noisy_curve_and_wastes_at_most_workers_minus_one(workers):
    vals = _from_gains(NOISY)
    ref = algorithm1(_curve_fn(vals, []))
    assert (ref.vocab_size, ref.stopped_by) == (17000, "epsilon")
    calls: list[int] = []
    out = parallel_algorithm1(_scorer(vals, calls), workers=workers)
    assert (out.vocab_size, out.stopped_by) == (17000, "epsilon")
    assert sorted(calls)[:11] == list(range(7000, 17001, 1000))
    assert len(calls) <= 11 + workers - 1 and len(set(calls)) == len(calls)
    assert [p.vocab_size for p in out.curve] == sorted(calls)


def test_bisect_needs_fewer_trainings_on_a_smooth_curve():
    vals = {7000 + 1000 * k: -sum(2e9 / (7000 + 1000 * j) ** 2 for j in range(k, 54)) for k in range(54)}
    ref = algorithm1(_curve_fn(vals, []))
    calls: list[int] = []
    out = bisect_algorithm1(_scorer(vals, calls), workers=2)
    assert out.vocab_size == ref.vocab_size and ref.vocab_size >= 20000
    assert len(calls) * 2 < len(ref.curve) and not out.fell_back


def test_bisect_falls_back_to_the_scan_when_gains_are_not_monotone():
    vals = _from_gains(NOISY)
    out = bisect_algorithm1(_scorer(vals, []), workers=2)
    assert (out.vocab_size, out.stopped_by) == (17000, "epsilon") and out.fell_back
    # a convex stretch between evaluated sizes: the scan decides
    vals2 = _from_gains([30.0, 20.0, 10.0, 9.0, 8.0, 7.0, 6.0, 5.5, 9.0, 9.0, 9.0, 9.0, 1.0] + [0.5] * 30)
    ref2 = algorithm1(_curve_fn(vals2, []), v_m=50000)
    out2 = bisect_algorithm1(_scorer(vals2, []), v_m=50000, workers=4)
    assert (out2.vocab_size, out2.stopped_by) == (ref2.vocab_size, ref2.stopped_by) == (20000, "epsilon")
    assert out2.fell_back


@pytest.mark.parametrize("search", [parallel_algorithm1, bisect_algorithm1, full_curve])
def test_concurrent_searches_cap_at_the_feasible_maximum(search, caplog):
    vals = {v: float(v) for v in range(7000, 60001, 500)}  # gain 1000 per step: never stops by ε
    with caplog.at_level(logging.WARNING, logger="unibridge.vocab.search"):
        out = search(_scorer(vals, [], feasible=12500), workers=2)
    assert (out.vocab_size, out.stopped_by) == (12500, "feasible_max")
    assert out.feasible_max == 12500 and out.effective_v_m == 12500
    assert [p.vocab_size for p in out.curve][-1] == 12500
    assert "feasible maximum 12500" in caplog.text
    with pytest.raises(VocabSizeError, match="v_i=7000 is too large"):
        search(_scorer(vals, [], feasible=5000))
    with pytest.raises(ConfigError, match="workers"):
        search(_scorer(vals, []), workers=0)


def test_full_curve_covers_the_grid_and_decides_like_algorithm1():
    vals = _power_curve(3e6, 1.2, v_m=30000)
    out = full_curve(_scorer(vals, []), v_m=30000, eps=1.0, workers=4)
    ref = algorithm1(_curve_fn(vals, []), v_m=30000, eps=1.0)
    assert (out.vocab_size, out.stopped_by) == (ref.vocab_size, ref.stopped_by)
    assert [p.vocab_size for p in out.curve] == list(range(7000, 30001, 1000))
    capped = full_curve(_scorer({v: float(v) for v in range(7000, 13000, 500)}, [], feasible=12500),
                        workers=3)
    assert [p.vocab_size for p in capped.curve] == [7000, 8000, 9000, 10000, 11000, 12000, 12500]


def test_split_heldout_and_character_coverage():
    lines = ["a", " ", "b", "c", "d", "e"]
    assert split_heldout(lines, 0.0) == (["a", "b", "c", "d", "e"],) * 2
    assert split_heldout(lines, 0.2) == (["a", "b", "c", "d"], ["e"])
    assert split_heldout(lines, 0.5) == (["a", "b"], ["c", "d", "e"])
    with pytest.raises(ConfigError):
        split_heldout(lines, 1.0)
    with pytest.raises(DataError):
        split_heldout(["a"], 0.5)
    assert default_character_coverage(["東京は日本の首都です", "ひらがな"]) == 0.9995
    assert default_character_coverage(["안녕하세요 세계"]) == 0.9995
    assert default_character_coverage(["ሰኞ እለት በስታንፎርድ", "hello world 東京"]) == 1.0


@pytest.mark.slow
def test_search_strategies_agree_and_resume_from_cache(tmp_path):
    lines = _amh_lines()[:1500]
    grid = dict(v_i=1000, v_m=3500, delta=250, eps=15.0, progress=False)
    scan = search_vocab_size(lines, workdir=tmp_path / "scan", workers=1, **grid)
    fast = search_vocab_size(lines, workdir=tmp_path / "fast", strategy="fast", workers=2, **grid)
    bisect = search_vocab_size(lines, workdir=tmp_path / "bisect", strategy="bisect", workers=2, **grid)
    full = search_vocab_size(lines, workdir=tmp_path / "full", strategy="full", workers=2, **grid)
    assert (scan.vocab_size, scan.stopped_by) == (2750, "epsilon")  # gains 52.9 39.7 … 17.3, 7.8
    assert fast.vocab_size == full.vocab_size == bisect.vocab_size == scan.vocab_size
    by_size = {p.vocab_size: p.alp for p in full.curve}
    for p in scan.curve + fast.curve + bisect.curve:  # one-thread trainings: identical models, identical ALP
        assert p.alp == by_size[p.vocab_size]
    assert len(full.curve) == 11 and scan.workers == 1
    # a second search over the same directory reads every score back instead of training
    stamps = {m: m.stat().st_mtime_ns for m in (tmp_path / "full").glob("spm_*.model")}
    again = search_vocab_size(lines, workdir=tmp_path / "full", strategy="full", workers=2, **grid)
    assert [(p.vocab_size, p.alp) for p in again.curve] == [(p.vocab_size, p.alp) for p in full.curve]
    assert {m: m.stat().st_mtime_ns for m in (tmp_path / "full").glob("spm_*.model")} == stamps
    # other ALP samples: the cache key changes, so nothing stale is reused
    held = search_vocab_size(lines, workdir=tmp_path / "full", workers=1, heldout_fraction=0.1, **grid)
    assert held.heldout_fraction == 0.1
    assert held.curve[0].alp != full.curve[0].alp


def test_search_rejects_bad_options(tmp_path):
    with pytest.raises(ConfigError, match="strategy"):
        search_vocab_size(TINY, workdir=tmp_path, strategy="anneal", progress=False)
    with pytest.raises(ConfigError, match="workers"):
        search_vocab_size(TINY, workdir=tmp_path, workers=0, progress=False)


def test_cli_vocab_writes_tokenizer_plot_and_curve(tmp_path, xlmr_base):
    from unibridge.backbones import load_tokenizer
    from unibridge.cli import main

    corpus = tmp_path / "amh.txt"
    corpus.write_text("\n".join(_amh_lines()[:1500]), encoding="utf-8")
    out = tmp_path / "out"
    rc = main(["vocab", str(corpus), "--out", str(out), "--v-i", "1000", "--v-m", "3000", "--delta", "500",
               "--eps", "40", "--no-progress"])
    assert rc == 0
    rec = json.loads((out / "search.json").read_text())
    assert rec["vocab_size"] in {p["vocab_size"] for p in rec["curve"]}
    assert (out / "alp_curve.png").stat().st_size > 1000
    tok = load_tokenizer(out / "tokenizer")
    sp = spm.SentencePieceProcessor(model_file=str(out / "spm.model"))
    assert sp.get_piece_size() == rec["vocab_size"] and len(tok) == rec["vocab_size"] + 2
    assert rec["searched"] and rec["tokenizer_size"] == len(tok)  # the pipeline's record (one service)
    text = _clean_texts(sp)[0]
    assert tok(text).input_ids[1:-1] == [i + 1 for i in sp.encode(text)]


def test_unk_share_counts_the_base_pieces_read_as_unknown(tmp_path):
    from transformers import BertTokenizerFast

    from unibridge.vocab.tokenizer import unk_share

    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nab\n##ab\n##c\nc\n", encoding="utf-8")
    bert = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"), do_lower_case=False)
    # "ab" "zz"->[UNK] "c" | "abc"->ab ##c "q"->[UNK]: 2 of 6 pieces
    assert unk_share(bert, ["ab zz c", "abc q"]) == pytest.approx(2 / 6)
    assert unk_share(bert, ["ab zz c", "abc q"], max_lines=1) == pytest.approx(1 / 3)
    assert unk_share(bert, []) == 0.0
