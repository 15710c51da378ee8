"""Tests of unibridge.embeddings: registry, static spaces, UniBridge / random / script init."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from unibridge.embeddings import (InitResult, StaticConfig, available_initializers,
                                  combine_rows, get_initializer, initialize_embeddings,
                                  lexical_overlap, mutual_argmax, procrustes,
                                  register_initializer, sample_script_normal,
                                  script_statistics, special_token_map, token_script,
                                  train_static_space)
from unibridge.embeddings.registry import canonical_token, seed_matrix
from unibridge.errors import ConfigError, DataError

from tests.conftest import DATA
AMH = DATA / "mono/masakhane_ner_text_by_language/amharic/amharic_news.txt"
ENG = DATA / "ud/UD_English-EWT/en_ewt-ud-train.conllu"
D = 16

pytestmark = pytest.mark.skipif(not (AMH.exists() and ENG.exists()),
                                reason="shared text data not available")


def _amharic(n: int, skip: int = 0) -> list[str]:
    lines = [x.strip() for x in AMH.read_text(encoding="utf-8").splitlines() if x.strip()]
    return lines[skip:skip + n]


def _english(n: int, skip: int = 0) -> list[str]:
    out = [ln[len("# text = "):].strip() for ln in ENG.read_text(encoding="utf-8").splitlines()
           if ln.startswith("# text = ")]
    return out[skip:skip + n]


def _sp_tokenizer(lines: list[str], vocab: int, prefix: Path):
    import sentencepiece as spm
    from transformers import XLMRobertaTokenizerFast

    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_prefix=str(prefix),
                                   vocab_size=vocab, model_type="unigram",
                                   character_coverage=1.0, hard_vocab_limit=False,
                                   minloglevel=2, num_threads=1)
    return XLMRobertaTokenizerFast(vocab_file=str(prefix) + ".model")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("emb")
    corpus = _amharic(300)
    tgt = _sp_tokenizer(corpus + _english(300), 500, tmp / "tgt")
    src = _sp_tokenizer(_english(600, skip=300) + _amharic(300, skip=300), 700, tmp / "src")
    E_S = torch.randn(len(src), D, generator=torch.Generator().manual_seed(1))
    cfg = StaticConfig(dim=16, epochs=3, threads=1)
    res = initialize_embeddings("unibridge", source_embeddings=E_S, source_tokenizer=src,
                                target_tokenizer=tgt, corpus=corpus, config=cfg, seed=0,
                                workdir=tmp / "cache")
    return dict(tmp=tmp, corpus=corpus, tgt=tgt, src=src, E_S=E_S, cfg=cfg, res=res)


def _sparsemax_ref(z: np.ndarray) -> np.ndarray:
    """Sparsemax of Martins & Astudillo (2016), one row at a time (reference)."""
    out = np.zeros_like(z, dtype=np.float64)
    for r, row in enumerate(z.astype(np.float64)):
        s = np.sort(row)[::-1]
        cs = np.cumsum(s)
        k = np.arange(1, len(s) + 1)
        support = 1 + k * s > cs
        kz = k[support][-1]
        tau = (cs[kz - 1] - 1) / kz
        out[r] = np.maximum(row - tau, 0)
    return out


# ---------------------------------------------------------------- registry and errors


def test_registry_lists_plugins_and_rejects_unknown(setup):
    assert {"unibridge", "random", "script"} <= set(available_initializers())
    with pytest.raises(ConfigError, match="unibridge"):
        get_initializer("nope")
    with pytest.raises(ConfigError):
        initialize_embeddings("nope", source_embeddings=setup["E_S"], source_tokenizer=setup["src"],
                              target_tokenizer=setup["tgt"], corpus=setup["corpus"])


def test_a_toy_initializer_registered_outside_the_package(setup, monkeypatch):
    """Adding an initialiser is a few lines: registered, listed, and run by initialize_embeddings
    with the common inputs (method options only where it declares them)."""
    from unibridge.embeddings import registry
    from unibridge.embeddings.registry import seed_matrix, vocab_size

    monkeypatch.setattr(registry, "INITIALIZERS", registry.INITIALIZERS.copy())
    seen = {}

    @register_initializer("copy-or-zero")
    def copy_or_zero(*, source_embeddings, source_tokenizer, target_tokenizer, **_):  # corpus, config, seed ...
        seen["called"] = True
        E_T, done, specials, overlap = seed_matrix(source_embeddings, source_tokenizer, target_tokenizer)
        E_T[~done] = 0.0
        return InitResult(E_T, {"special": len(specials), "overlap": len(overlap), "aligned": 0, "combined": 0,
                                "fallback": int((~done).sum())})

    assert "copy-or-zero" in available_initializers()
    res = initialize_embeddings("copy-or-zero", source_embeddings=setup["E_S"], source_tokenizer=setup["src"],
                                target_tokenizer=setup["tgt"], corpus=setup["corpus"], config=setup["cfg"])
    assert seen == {"called": True} and res.embeddings.shape == (vocab_size(setup["tgt"]), D)
    assert int((res.embeddings.abs().sum(1) == 0).sum()) == res.report["fallback"] > 0


def test_duplicate_registration_raises():
    with pytest.raises(ValueError):
        register_initializer("random")(lambda **kw: None)


def test_source_rows_mismatch_raises(setup):
    bad = setup["E_S"][:-5]
    for method in ("random", "unibridge"):
        with pytest.raises(ConfigError):
            initialize_embeddings(method, source_embeddings=bad, source_tokenizer=setup["src"],
                                  target_tokenizer=setup["tgt"], corpus=setup["corpus"])


def test_empty_corpus_and_bad_config_raise(setup):
    kw = dict(source_embeddings=setup["E_S"], source_tokenizer=setup["src"],
              target_tokenizer=setup["tgt"])
    for method in ("random", "unibridge", "script"):
        with pytest.raises(DataError):
            initialize_embeddings(method, corpus=["", "   "], **kw)
    with pytest.raises(ConfigError):
        initialize_embeddings("unibridge", corpus=setup["corpus"], config={"dim": 3}, **kw)
    with pytest.raises(ConfigError):
        StaticConfig(dim=0)
    with pytest.raises(ConfigError):
        StaticConfig.from_dict({"dims": 3})


# ---------------------------------------------------------------- pure building blocks


def test_procrustes_recovers_rotation():
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(20, 20, generator=g, dtype=torch.float64))
    X = torch.randn(200, 20, generator=g, dtype=torch.float64)
    W = procrustes(X, X @ Q)
    assert torch.allclose(W, Q, atol=1e-8)
    assert torch.allclose(W.T @ W, torch.eye(20, dtype=torch.float64), atol=1e-8)
    Wf = procrustes(X.float(), (X @ Q).float())
    assert Wf.dtype == torch.float32 and torch.allclose(Wf.double(), Q, atol=1e-4)


def test_mutual_argmax_known_answer_and_chunking():
    g = torch.Generator().manual_seed(0)
    S = torch.randn(50, 8, generator=g)
    # Rows 0..9 of T are noisy copies of S[perm[0..9]]; rows 10..14 are near-duplicates of
    # row 0's partner, so only the closest of them can be mutual.
    perm = torch.randperm(50, generator=g)
    T = S[perm[:10]] + 0.01 * torch.randn(10, 8, generator=g)
    expected = {(i, int(perm[i])) for i in range(10)}
    T = torch.cat([T, S[perm[0]] + 0.2 * torch.randn(5, 8, generator=g)])
    for chunk in (3, 7, 4096):
        assert set(mutual_argmax(T, S, chunk=chunk)) == expected
    # Against a dense brute force on random data.
    A, B = torch.randn(37, 5, generator=g), torch.randn(41, 5, generator=g)
    C = torch.nn.functional.normalize(A, dim=1) @ torch.nn.functional.normalize(B, dim=1).T
    brute = [(i, int(C[i].argmax())) for i in range(37) if int(C[:, C[i].argmax()].argmax()) == i]
    assert mutual_argmax(A, B, chunk=4) == brute
    assert mutual_argmax(A[:0], B) == []


def test_combine_rows_sparsemax_weights():
    g = torch.Generator().manual_seed(0)
    F_al, E_al = torch.randn(30, 6, generator=g), torch.randn(30, 4, generator=g)
    F_rest = torch.randn(9, 6, generator=g)
    E, W = combine_rows(F_rest, F_al, E_al, chunk=4)
    cos = torch.nn.functional.normalize(F_rest, dim=1) @ torch.nn.functional.normalize(F_al, dim=1).T
    w_ref = torch.from_numpy(_sparsemax_ref(cos.numpy())).float()
    Wd = W.to_dense()
    assert torch.allclose(Wd, w_ref, atol=1e-6)
    assert torch.allclose(Wd.sum(1), torch.ones(9), atol=1e-6)
    assert (Wd == 0).any() and (Wd > 0).any()
    assert torch.allclose(E, w_ref @ E_al, atol=1e-5)


@pytest.mark.parametrize("token,script", [
    ("\u2581ሰማያዊ", "ETHIOPIC"), ("\u2581hello", "LATIN"), ("##ing", "LATIN"),
    ("Москва", "CYRILLIC"), ("中国", "CJK"), ("한국어", "HANGUL"), ("مرحبا", "ARABIC"),
    ("नमस्ते", "DEVANAGARI"), ("தமிழ்", "TAMIL"), ("Ελλάδα", "GREEK"), ("\u2581", "COMMON"),
    ("2024", "COMMON"), ("።", "COMMON"), (",", "COMMON"), ("ि", "DEVANAGARI")])
def test_token_script(token, script):
    assert token_script(token) == script


def test_script_normal_statistics_and_sampling():
    g = torch.Generator().manual_seed(0)
    toks = {i: t for i, t in enumerate(["abc", "def", "ghi", "ሰማ", "ያዊ", "中"])}
    E = torch.zeros(6, 3)
    E[:3] = torch.tensor([[1.0, 0, 0], [3.0, 0, 0], [5.0, 0, 0]])
    E[3:5] = torch.tensor([[-10.0, 1, 1], [-10.0, 3, 1]])
    E[5] = torch.tensor([100.0, 100, 100])
    st = script_statistics(E, toks)
    m, s = st.params("LATIN")
    assert torch.allclose(m, torch.tensor([3.0, 0, 0])) and torch.allclose(s[0], torch.tensor(8 / 3) ** 0.5)
    m, s = st.params("ETHIOPIC")
    assert torch.allclose(m, torch.tensor([-10.0, 2, 1])) and torch.allclose(s, torch.tensor([0.0, 1, 0]))
    # CJK has one token (< 2): the all-vocabulary normal; unknown scripts too.
    assert torch.equal(st.params("CJK")[0], st.global_mean)
    assert torch.equal(st.params("HANGUL")[0], st.global_mean)
    rows = sample_script_normal(["ሀ"] * 4000, st, g)
    assert rows.dtype == torch.float32 and rows.shape == (4000, 3)
    assert torch.allclose(rows.mean(0), torch.tensor([-10.0, 2, 1]), atol=0.05)
    assert torch.allclose(rows[:, 0], torch.full((4000,), -10.0))


def test_bert_style_canonicalisation_and_special_roles(setup, tmp_path):
    from transformers import BertTokenizerFast

    tgt = setup["tgt"]
    pieces = [t for t in tgt.get_vocab() if t not in tgt.all_special_tokens]
    starts = [t for t in pieces if t.startswith("\u2581") and len(t) > 1][:20]
    conts = [t for t in pieces if not t.startswith("\u2581")][:20]
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [t[1:] for t in starts] + \
        ["##" + t for t in conts] + ["zzzq", "##qqqz"]
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("\n".join(dict.fromkeys(words)) + "\n", encoding="utf-8")
    bert = BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=False)
    assert canonical_token("##ing", "wordpiece") == "ing"
    assert canonical_token("the", "wordpiece") == "\u2581the"
    ov = lexical_overlap(bert, tgt)
    tv, bv = tgt.get_vocab(), bert.get_vocab()
    for t in starts:
        assert ov[tv[t]] == bv[t[1:]]
    for t in conts:
        assert ov[tv[t]] == bv["##" + t]
    assert len(ov) == len(set(starts) | set(conts))
    sm = special_token_map(bert, tgt)
    assert sm[tv["<s>"]] == bv["[CLS]"] and sm[tv["</s>"]] == bv["[SEP]"]
    assert sm[tv["<pad>"]] == bv["[PAD]"] and sm[tv["<unk>"]] == bv["[UNK]"]
    assert sm[tv["<mask>"]] == bv["[MASK]"]


# ---------------------------------------------------------------- UniBridge init


def test_unibridge_report_and_shapes(setup):
    res, tgt = setup["res"], setup["tgt"]
    assert isinstance(res, InitResult)
    assert res.embeddings.shape == (len(tgt), D) and res.embeddings.dtype == torch.float32
    assert sum(res.report.values()) == len(tgt)
    for key in ("special", "overlap", "aligned", "combined", "fallback"):
        assert res.report[key] > 0, res.report
    assert res.details["n_anchors"] > 0
    assert res.details["anchor_cos_after"] > res.details["anchor_cos_before"]
    assert torch.isfinite(res.embeddings).all()


def test_unibridge_overlap_special_and_semantic_rows_copied(setup):
    res, src, tgt, E_S = setup["res"], setup["src"], setup["tgt"], setup["E_S"]
    ov = lexical_overlap(src, tgt)
    assert len(ov) == res.report["overlap"]
    for t, s in ov.items():
        assert torch.equal(res.embeddings[t], E_S[s])
    sv, tv = src.get_vocab(), tgt.get_vocab()
    for tok in ("<s>", "</s>", "<pad>", "<unk>", "<mask>"):
        assert torch.equal(res.embeddings[tv[tok]], E_S[sv[tok]])
    pairs = res.details["semantic_pairs"]
    assert len(pairs) == res.report["aligned"]
    assert len({t for t, _ in pairs}) == len(pairs) == len({s for _, s in pairs})
    for t, s in pairs:
        assert t not in ov and s not in set(ov.values())
        assert torch.equal(res.embeddings[t], E_S[s])


def test_unibridge_combined_rows_are_sparsemax_sums(setup):
    res = setup["res"]
    F_T = res.details["static_target"]
    al, comb = res.details["aligned_ids"], res.details["combined_ids"]
    assert len(comb) == res.report["combined"]
    Fa = torch.nn.functional.normalize(F_T.lookup(al.tolist()), dim=1)
    Fr = torch.nn.functional.normalize(F_T.lookup(comb.tolist()), dim=1)
    w = torch.from_numpy(_sparsemax_ref((Fr @ Fa.T).numpy())).float()
    assert torch.allclose(w.sum(1), torch.ones(len(comb)), atol=1e-5)
    assert (w == 0).sum() > 0
    expected = w @ res.embeddings[al]
    assert torch.allclose(res.embeddings[comb], expected, atol=1e-5)
    E2, W2 = combine_rows(F_T.lookup(comb.tolist()), F_T.lookup(al.tolist()),
                          res.embeddings[al], chunk=7)
    assert torch.allclose(W2.to_dense(), w, atol=1e-5)
    assert torch.equal(E2, res.embeddings[comb]) or torch.allclose(E2, expected, atol=1e-5)


def test_unibridge_fallback_rows_and_determinism(setup):
    res = setup["res"]
    fb = res.details["fallback_ids"]
    F_T = res.details["static_target"]
    assert len(fb) == res.report["fallback"]
    assert all(int(i) not in F_T for i in fb)
    again = initialize_embeddings("unibridge", source_embeddings=setup["E_S"],
                                  source_tokenizer=setup["src"], target_tokenizer=setup["tgt"],
                                  corpus=setup["corpus"], config=setup["cfg"], seed=0,
                                  workdir=setup["tmp"] / "cache")
    assert torch.equal(again.embeddings, res.embeddings)
    other = initialize_embeddings("unibridge", source_embeddings=setup["E_S"],
                                  source_tokenizer=setup["src"], target_tokenizer=setup["tgt"],
                                  corpus=setup["corpus"], config=setup["cfg"], seed=1,
                                  workdir=setup["tmp"] / "cache")
    keep = torch.ones(len(res.embeddings), dtype=torch.bool)
    keep[fb] = False
    assert torch.equal(other.embeddings[keep], res.embeddings[keep])
    assert not torch.equal(other.embeddings[fb], res.embeddings[fb])


def test_static_space_cache(setup, monkeypatch):
    import fasttext

    cache = setup["tmp"] / "cache"
    assert len(list(cache.glob("static-*.npz"))) == 2
    monkeypatch.setattr(fasttext, "train_unsupervised",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    sp = train_static_space(setup["corpus"], setup["tgt"], setup["cfg"], workdir=cache)
    assert torch.equal(sp.vectors, setup["res"].details["static_target"].vectors)
    assert sp.vectors.dtype == torch.float32 and sp.vectors.shape[1] == 16


# ---------------------------------------------------------------- random / script init


def test_random_init_determinism_and_specials(setup):
    kw = dict(source_embeddings=setup["E_S"], source_tokenizer=setup["src"],
              target_tokenizer=setup["tgt"], corpus=setup["corpus"])
    a = initialize_embeddings("random", seed=3, **kw)
    b = initialize_embeddings("random", seed=3, **kw)
    c = initialize_embeddings("random", seed=4, **kw)
    assert torch.equal(a.embeddings, b.embeddings)
    assert not torch.equal(a.embeddings, c.embeddings)
    assert sum(a.report.values()) == len(setup["tgt"]) and a.report["special"] == 5
    sm = special_token_map(setup["src"], setup["tgt"])
    for t, s in sm.items():
        assert torch.equal(a.embeddings[t], setup["E_S"][s])
    rest = torch.ones(len(a.embeddings), dtype=torch.bool)
    rest[list(sm)] = False
    std = float(a.embeddings[rest].std())
    assert abs(std - a.details["std"]) / a.details["std"] < 0.1


def test_script_init(setup):
    kw = dict(source_embeddings=setup["E_S"], source_tokenizer=setup["src"],
              target_tokenizer=setup["tgt"], corpus=setup["corpus"])
    a = initialize_embeddings("script", seed=0, **kw)
    assert torch.equal(a.embeddings, initialize_embeddings("script", seed=0, **kw).embeddings)
    assert sum(a.report.values()) == len(setup["tgt"])
    for t, s in lexical_overlap(setup["src"], setup["tgt"]).items():
        assert torch.equal(a.embeddings[t], setup["E_S"][s])


# ---------------------------------------------------------------- ident / script+posn / focus / tema


def _kw(setup, **extra):
    return dict(source_embeddings=setup["E_S"], source_tokenizer=setup["src"],
                target_tokenizer=setup["tgt"], corpus=setup["corpus"], **extra)


def test_ident_copies_overlap_and_draws_the_rest_like_random(setup):
    a = initialize_embeddings("ident", seed=5, **_kw(setup))
    r = initialize_embeddings("random", seed=5, **_kw(setup))
    overlap = lexical_overlap(setup["src"], setup["tgt"])
    specials = special_token_map(setup["src"], setup["tgt"])
    assert a.report == {"special": len(specials), "overlap": len(overlap), "aligned": 0,
                        "combined": 0, "fallback": len(setup["tgt"]) - len(specials) - len(overlap)}
    for t, s in {**specials, **overlap}.items():
        assert torch.equal(a.embeddings[t], setup["E_S"][s])
    rest = torch.ones(len(a.embeddings), dtype=torch.bool)
    rest[list(specials) + list(overlap)] = False
    assert torch.equal(a.embeddings[rest], r.embeddings[rest])


@pytest.mark.parametrize("token, style, position", [
    ("\u2581abc", "sentencepiece", "initial"), ("abc", "sentencepiece", "medial"),
    ("abc", "wordpiece", "initial"), ("##abc", "wordpiece", "medial")])
def test_token_position(token, style, position):
    from unibridge.embeddings.script import token_position

    assert token_position(token, style) == position


def test_script_posn_draws_from_the_position_wise_normal(setup):
    """Source rows: word-initial pieces around +5, word-medial pieces around −5 (every script)."""
    src = setup["src"]
    E_S = torch.randn(len(src), D, generator=torch.Generator().manual_seed(2)) * 0.1
    initial = torch.tensor([tok.startswith("\u2581") for tok, _ in
                            sorted(src.get_vocab().items(), key=lambda kv: kv[1])])
    E_S[initial] += 5.0
    E_S[~initial] -= 5.0
    kw = dict(source_embeddings=E_S, source_tokenizer=src, target_tokenizer=setup["tgt"],
              corpus=setup["corpus"])
    posn = initialize_embeddings("script+posn", seed=0, **kw)
    plain = initialize_embeddings("script", seed=0, **kw)
    assert torch.equal(posn.embeddings, initialize_embeddings("script+posn", seed=0, **kw).embeddings)
    assert posn.report == plain.report
    done = set(special_token_map(src, setup["tgt"])) | set(lexical_overlap(src, setup["tgt"]))
    vocab = setup["tgt"].get_vocab()
    ini = [i for t, i in vocab.items() if i not in done and t.startswith("\u2581")]
    med = [i for t, i in vocab.items() if i not in done and not t.startswith("\u2581")]
    assert len(ini) > 20 and len(med) > 20
    assert float(posn.embeddings[ini].mean()) == pytest.approx(5.0, abs=0.2)
    assert float(posn.embeddings[med].mean()) == pytest.approx(-5.0, abs=0.2)
    # one normal per script mixes both groups: its rows spread over ±5
    assert float(plain.embeddings[ini + med].std()) > 3.0 > float(posn.embeddings[ini].std())


def test_focus_combines_from_the_overlap(setup):
    res = initialize_embeddings("focus", seed=0, config=setup["cfg"],
                                workdir=setup["tmp"] / "cache", **_kw(setup))
    E = res.embeddings
    overlap = lexical_overlap(setup["src"], setup["tgt"])
    for t, s in overlap.items():
        assert torch.equal(E[t], setup["E_S"][s])
    F_T = res.details["static_target"]
    anchors, comb = res.details["anchor_ids"], res.details["combined_ids"]
    assert set(anchors.tolist()) == {t for t in overlap if t in F_T}
    assert res.report["combined"] == len(comb) > 0 and res.report["aligned"] == 0
    W = _sparsemax_ref(_cos(F_T.lookup(comb.tolist()), F_T.lookup(anchors.tolist())))
    expected = torch.from_numpy(W).float() @ E[anchors]
    assert torch.allclose(E[comb], expected, atol=1e-5)
    # the sparsemax-combined rows are the same as unibridge's when no semantic pair exists
    assert sum(res.report.values()) == len(setup["tgt"])


def _cos(A: torch.Tensor, B: torch.Tensor) -> np.ndarray:
    A = A / A.norm(dim=1, keepdim=True).clamp_min(1e-12)
    B = B / B.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (A @ B.T).double().numpy()


def test_tema_maps_dictionary_words_to_their_translations(setup):
    src, tgt, E_S = setup["src"], setup["tgt"], setup["E_S"]
    done = set(special_token_map(src, tgt)) | set(lexical_overlap(src, tgt))
    words = sorted(t[1:] for t, i in tgt.get_vocab().items()
                   if i not in done and t.startswith("\u2581") and len(t) > 2)[:3]
    assert len(words) == 3
    dictionary = [("house", words[0]), ("water", words[1]), ("river", words[1]),
                  ("big dog", words[2]), ("tree", "not in the vocabulary"), ("x", "two words")]
    res = initialize_embeddings("tema", seed=0, dictionary=dictionary, **_kw(setup))
    vocab = tgt.get_vocab()

    def base(word):
        return E_S[src(word, add_special_tokens=False)["input_ids"]].mean(0)

    assert torch.allclose(res.embeddings[vocab["\u2581" + words[0]]], base("house"))
    assert torch.allclose(res.embeddings[vocab["\u2581" + words[1]]], (base("water") + base("river")) / 2)
    assert torch.allclose(res.embeddings[vocab["\u2581" + words[2]]], base("big dog"))
    assert res.report["aligned"] == 3 and res.details["pairs_used"] == 4
    with pytest.raises(ConfigError, match="bilingual dictionary"):
        initialize_embeddings("tema", **_kw(setup))


def test_read_dictionary(tmp_path):
    from unibridge.data import read_dictionary

    f = tmp_path / "d.txt"
    f.write_text("English\tField\tAmharic\nabdomen\tMe\tሆድ\nabdomen\tZo\tህልፅ (ግእዝ)\n"
                 "big (adj.)\t\tትልቅ, ታላቅ\nabdomen\tMe\tሆድ\nbroken line\n", encoding="utf-8")
    assert read_dictionary(f) == [("abdomen", "ሆድ"), ("abdomen", "ህልፅ"), ("big", "ትልቅ"), ("big", "ታላቅ")]
    (tmp_path / "empty.txt").write_text("English\tAmharic\n")
    with pytest.raises(DataError, match="no dictionary pairs"):
        read_dictionary(tmp_path / "empty.txt")


@pytest.mark.slow
def test_cli_init_writes_embeddings_report_and_pca(tmp_path, tiny_base):
    import json

    from safetensors.torch import load_file

    from unibridge.backbones import load_backbone, load_tokenizer
    from unibridge.cli import main
    from unibridge.vocab import train_sentencepiece, wrap_tokenizer

    lines = _amharic(400)
    corpus = tmp_path / "amh.txt"
    corpus.write_text("\n".join(lines), encoding="utf-8")
    model, base_tok = load_backbone(str(tiny_base))
    wrap_tokenizer(train_sentencepiece(lines, 600, tmp_path / "spm"), base_tok, tmp_path / "tok")
    out = tmp_path / "init"
    assert main(["init", str(corpus), "--tokenizer", str(tmp_path / "tok"), "--out", str(out),
                 "--method", "script+posn", "--base", str(tiny_base)]) == 0
    E = load_file(str(out / "embeddings.safetensors"))["weight"]
    tgt = load_tokenizer(tmp_path / "tok")
    assert E.shape == (len(tgt), 32)
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "script+posn" and sum(report["counts"].values()) == len(tgt)
    E_S = model.get_input_embeddings().weight.detach()
    overlap = lexical_overlap(base_tok, tgt)
    assert report["counts"]["overlap"] == len(overlap) > 0
    for t, s in list(overlap.items())[:50]:
        assert torch.equal(E[t], E_S[s])
    assert (out / "pca.png").stat().st_size > 5000
    assert main(["init", str(corpus), "--tokenizer", str(tmp_path / "tok"), "--out", str(out),
                 "--method", "tema", "--base", str(tiny_base)]) == 2  # no dictionary: one-line error
    # with one: a target word that is one new piece gets the base rows of its translation
    done = set(special_token_map(base_tok, tgt)) | set(overlap)
    word = sorted(t[1:] for t, i in tgt.get_vocab().items() if i not in done and t.startswith("\u2581") and len(t) > 2)[0]
    (tmp_path / "dict.tsv").write_text(f"English\tField\tAmharic\nhouse\t\t{word}\n", encoding="utf-8")
    assert main(["init", str(corpus), "--tokenizer", str(tmp_path / "tok"), "--out", str(tmp_path / "tema"),
                 "--method", "tema", "--dictionary", str(tmp_path / "dict.tsv"), "--base", str(tiny_base)]) == 0
    report = json.loads((tmp_path / "tema" / "report.json").read_text())
    assert report["method"] == "tema" and report["counts"]["aligned"] == 1
    # align reads --parallel: here the K=10 pairs of UniBridge's Amharic-English alignment file
    assert main(["init", str(corpus), "--tokenizer", str(tmp_path / "tok"), "--out", str(tmp_path / "align"),
                 "--method", "align", "--base", str(tiny_base), "--no-plot"]) == 2  # none given: one-line error
    assert main(["init", str(corpus), "--tokenizer", str(tmp_path / "tok"), "--out", str(tmp_path / "align"),
                 "--method", "align", "--base", str(tiny_base), "--no-plot",
                 "--parallel", "parallel/unibridge_alignment/flores/am/amh_Ethi-eng_Latn.txt"]) == 0
    report = json.loads((tmp_path / "align" / "report.json").read_text())
    assert report["method"] == "align" and report["counts"]["aligned"] > 0  # most pieces here overlap the base's


def test_focus_without_overlapping_anchors_is_a_clear_error(setup, monkeypatch):
    import unibridge.embeddings.focus as focus_mod

    real = focus_mod.seed_matrix

    def no_overlap(E_S, src, tgt, overlap=True):
        return real(E_S, src, tgt, overlap=False)

    monkeypatch.setattr(focus_mod, "seed_matrix", no_overlap)
    with pytest.raises(DataError, match="FOCUS needs overlapping tokens"):
        initialize_embeddings("focus", config=setup["cfg"], workdir=setup["tmp"] / "cache", **_kw(setup))


# ---------------------------------------------------------------- vocabulary augmentation


def _piece_ranking(base, tgt, corpus, style="sentencepiece"):
    """Target pieces absent from the base, most frequent first (ties: lower target id)."""
    from collections import Counter

    counts = Counter(p for line in corpus for p in tgt.tokenize(line))
    base_vocab = {canonical_token(t, style) for t in base.get_vocab()}
    tv = tgt.get_vocab()
    ranked = sorted(counts, key=lambda p: (-counts[p], tv[p]))
    return [p for p in ranked if p not in base_vocab and p.strip("\u2581")]


def test_va_keeps_the_base_vocabulary_and_adds_the_most_frequent_new_pieces(setup):
    src, tgt, corpus, E_S = setup["src"], setup["tgt"], setup["corpus"], setup["E_S"]
    res = initialize_embeddings("va", augment_size=30, **_kw(setup))
    aug, v_s = res.tokenizer, len(src)
    assert res.details["pieces"] == _piece_ranking(src, tgt, corpus)[:30]
    assert len(aug) == v_s + 30 and res.embeddings.shape == (v_s + 30, D)
    av = aug.get_vocab()
    assert all(av[t] == i for t, i in src.get_vocab().items())  # base ids unchanged
    assert [av[p] for p in res.details["pieces"]] == list(range(v_s, v_s + 30))
    assert torch.equal(res.embeddings[:v_s], E_S[:v_s])  # base rows bit-exact
    # New rows: mean of the base rows of the piece's segmentation by the base model (unknown
    # characters and a leading lone "▁" dropped); pieces the base knows only as <unk> fall back
    # to the script normal.
    unk, space = src.unk_token_id, src.convert_tokens_to_ids("\u2581")
    known = 0
    for k, p in enumerate(res.details["pieces"]):
        seg = [t.id for t in src.backend_tokenizer.model.tokenize(p) if t.id != unk]
        seg = seg[1:] if len(seg) > 1 and seg[0] == space else seg
        if seg:
            known += 1
            assert torch.allclose(res.embeddings[v_s + k], E_S[seg].mean(0))
        else:
            assert k + v_s in res.details["fallback_ids"]
    assert 0 < known < 30
    assert res.report == {"special": len(src.all_special_tokens), "aligned": 0, "fallback": 30 - known,
                          "overlap": v_s - len(src.all_special_tokens), "combined": known}
    # The augmented tokenizer uses the new pieces and reads text exactly as the base does.
    n_base = sum(len(src.tokenize(x)) for x in corpus)
    used = {t for x in corpus for t in aug.tokenize(x)}
    assert sum(len(aug.tokenize(x)) for x in corpus) < n_base
    assert set(res.details["pieces"][:10]) <= used
    clean = [x for x in corpus if unk not in src.encode(x)][:20]
    assert clean and all(aug.decode(aug.encode(x), skip_special_tokens=True) ==
                         src.decode(src.encode(x), skip_special_tokens=True) for x in clean)
    n_unk = [sum(t.encode(x).count(unk) for x in corpus) for t in (src, aug)]
    assert n_unk[1] < n_unk[0]  # added pieces cover characters the base lacks


def test_va_wordpiece_base_gets_hash_continuations(setup, tmp_path):
    from transformers import BertTokenizerFast

    from unibridge.embeddings import augment_tokenizer

    tgt, corpus = setup["tgt"], setup["corpus"]
    chars = sorted({c for x in corpus for c in x if not c.isspace()})
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars]
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("\n".join(words) + "\n", encoding="utf-8")
    bert = BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=False, tokenize_chinese_chars=False,
                             strip_accents=False)
    aug = augment_tokenizer(bert, tgt, corpus, 20, out_dir=tmp_path / "aug")
    expect = [p[1:] if p.startswith("\u2581") else "##" + p
              for p in _piece_ranking(bert, tgt, corpus, "wordpiece")][:20]
    assert aug.pieces == expect
    from unibridge.backbones import load_tokenizer

    again = load_tokenizer(tmp_path / "aug")
    assert again.get_vocab() == aug.tokenizer.get_vocab() and len(again) == len(bert) + 20
    word = next(p for p in aug.pieces if not p.startswith("##") and len(p) > 1)
    assert again.tokenize(word) == [word]  # longest match takes the new piece
    assert bert.tokenize(word) == [word[0]] + ["##" + c for c in word[1:]]


def test_va_bad_size_and_unsupported_base(setup):
    from tokenizers import Tokenizer
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    from unibridge.embeddings import augment_tokenizer

    with pytest.raises(ConfigError, match="augment_size must be a positive integer"):
        initialize_embeddings("va", augment_size=0, **_kw(setup))
    bpe = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(BPE({"<unk>": 0, "a": 1}, [], unk_token="<unk>")),
                                  unk_token="<unk>")
    with pytest.raises(ConfigError, match="SentencePiece-unigram and WordPiece base tokenizers, not BPE"):
        augment_tokenizer(bpe, setup["tgt"], setup["corpus"], 5)


def test_token_vocab_memo_follows_added_tokens(setup, tmp_path):
    from unibridge.vocab.tokenizer import token_vocab, vocab_digest

    tok = _sp_tokenizer(setup["corpus"], 300, tmp_path / "memo")
    v1, d1 = token_vocab(tok), vocab_digest(tok)
    assert token_vocab(tok) is v1 and v1 == tok.get_vocab()
    tok.add_tokens(["qqzzqq"])
    v2 = token_vocab(tok)
    assert v2["qqzzqq"] == len(tok) - 1 and vocab_digest(tok) != d1


# ---------------------------------------------------------------- fvt


def test_fvt_rows_are_the_mean_of_the_base_pieces_that_spell_each_token(setup):
    from unibridge.embeddings.registry import base_pieces

    src, tgt, E_S = setup["src"], setup["tgt"], setup["E_S"]
    res = initialize_embeddings("fvt", seed=0, **_kw(setup))
    E = res.embeddings
    overlap = lexical_overlap(src, tgt)
    for t, s in overlap.items():
        assert torch.equal(E[t], E_S[s])
    comb = res.details["combined_ids"].tolist()
    assert res.report["combined"] == len(comb) > 0 and not set(comb) & set(overlap)
    assert sum(res.report.values()) == len(tgt) and res.report["aligned"] == 0
    inv = {i: t for t, i in tgt.get_vocab().items()}
    for t in comb:
        ids = base_pieces(inv[t], src)
        spelled = "".join(src.convert_ids_to_tokens(ids))
        assert spelled in (inv[t], inv[t][1:])  # the pieces spell the token (a lone "▁" piece dropped)
        assert torch.allclose(E[t], E_S[ids].mean(0), atol=1e-6)
    again = initialize_embeddings("fvt", seed=0, **_kw(setup))
    assert torch.equal(again.embeddings, E)


def test_fvt_pieces_of_a_wordpiece_base_use_its_continuations(tmp_path):
    from transformers import BertTokenizerFast

    from unibridge.embeddings.registry import base_pieces

    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nab\n##ab\n##c\nc\n", encoding="utf-8")
    bert = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"), do_lower_case=False)
    v = bert.get_vocab()
    assert base_pieces("\u2581abc", bert) == [v["ab"], v["##c"]]  # word start: the word's own pieces
    assert base_pieces("abc", bert) == [v["##ab"], v["##c"]]  # inside a word: continuations
    assert base_pieces("\u2581zz", bert) == []  # unknown to the base: nothing to average


def test_the_cli_names_every_registered_initializer_without_loading_torch():
    import subprocess
    import sys

    from unibridge.cli import build_parser

    init = build_parser()._subparsers._group_actions[0].choices["init"]
    method = next(a for a in init._actions if a.dest == "method")
    assert all(name in method.help for name in available_initializers())
    loaded = subprocess.run([sys.executable, "-c", "import sys; from unibridge.cli import build_parser; "
                             "build_parser(); print('torch' in sys.modules)"], capture_output=True, text=True)
    assert loaded.stdout.strip() == "False"


def test_method_options_reach_only_the_initializers_that_declare_them(setup, monkeypatch):
    from unibridge.embeddings import registry

    monkeypatch.setattr(registry, "INITIALIZERS", registry.INITIALIZERS.copy())
    seen = {}

    def make(name):
        def init(*, source_embeddings, source_tokenizer, target_tokenizer, **kw):
            seen[name] = sorted(k for k in kw if k in registry.METHOD_OPTIONS)
            E_T, done, specials, overlap = seed_matrix(source_embeddings, source_tokenizer, target_tokenizer)
            return InitResult(E_T, {"special": len(specials), "overlap": len(overlap), "aligned": 0,
                                    "combined": 0, "fallback": int((~done).sum())})
        return init

    register_initializer("plain")(make("plain"))
    register_initializer("with-dict", options=("dictionary",))(make("with-dict"))
    for m in ("plain", "with-dict"):
        initialize_embeddings(m, source_embeddings=setup["E_S"], source_tokenizer=setup["src"],
                              target_tokenizer=setup["tgt"], corpus=setup["corpus"], dictionary=[("a", "b")])
    assert seen == {"plain": [], "with-dict": ["dictionary"]}
    with pytest.raises(ValueError, match="unknown initializer option"):
        register_initializer("bad", options=("lexicon",))
    assert registry.INITIALIZERS.find("va").options == ("augment_size",)
    assert registry.INITIALIZERS.find("tema").options == ("dictionary",)


# ---------------------------------------------------------------- align (IBM Model 1)


def test_ibm1_spreads_a_lone_token_evenly_and_keeps_each_tokens_mass():
    from unibridge.embeddings.align import NULL, ibm1_counts

    # one target token, two source tokens and NULL: every table entry stays 1, so 1/3 each
    assert ibm1_counts([[7]], [[1, 2]], iterations=4) == pytest.approx({(7, NULL): 1 / 3, (7, 1): 1 / 3,
                                                                       (7, 2): 1 / 3})
    tgt, src = [[1, 2], [1, 3], [1, 2, 3]], [[10, 20], [10, 30], [30, 20, 10]]
    counts = ibm1_counts(tgt, src, iterations=10)
    for t, n in ((1, 3), (2, 2), (3, 2)):  # each occurrence spreads exactly one link
        assert sum(c for (a, _), c in counts.items() if a == t) == pytest.approx(n)
    # the pigeonhole: 1 always meets 10, so EM gives 1 to 10 and 2, 3 to what is left
    assert max((c, s) for (t, s), c in counts.items() if t == 1)[1] == 10
    assert max((c, s) for (t, s), c in counts.items() if t == 2)[1] == 20
    assert max((c, s) for (t, s), c in counts.items() if t == 3)[1] == 30
    with pytest.raises(ValueError, match="2 target sentences but 1"):
        ibm1_counts([[1], [2]], [[3]])


def test_aligned_rows_are_count_weighted_means_without_null_links():
    from unibridge.embeddings.align import NULL, aligned_rows

    E = torch.tensor([[0.0, 0.0], [4.0, 8.0], [1.0, 1.0]])
    rows = aligned_rows(E, {(5, 0): 1.0, (5, 1): 3.0, (5, NULL): 10.0, (6, 1): 0.5, (7, 2): 2.0},
                        min_count=1.0, ignore={2})
    assert set(rows) == {5}  # 6 has too few links, 7 links only to an ignored id
    assert torch.allclose(rows[5], torch.tensor([3.0, 6.0]))


def test_align_places_each_piece_at_the_base_rows_of_its_translation(setup):
    """Target words that only ever appear opposite one English word start nearest that word's pieces."""
    src, tgt, E_S = setup["src"], setup["tgt"], setup["E_S"]
    inv = {i: t for t, i in tgt.get_vocab().items()}
    new = [i for i, t in sorted(inv.items()) if t.startswith("\u2581") and len(t) > 2
           and i not in lexical_overlap(src, tgt) and tgt(t[1:], add_special_tokens=False)["input_ids"] == [i]][:6]
    assert len(new) == 6
    words = ["dog", "house", "water", "king", "road", "river"]
    w_ids = [src(w, add_special_tokens=False)["input_ids"] for w in words]
    parallel = []
    for k in range(40):  # each target piece, in varying company, opposite its one English word
        a, b = k % 6, (k % 6 + 1 + k // 6) % 6
        if a != b:
            parallel.append((inv[new[a]][1:] + " " + inv[new[b]][1:], f"{words[a]} {words[b]}"))
    res = initialize_embeddings("align", seed=0, parallel=parallel, **_kw(setup))
    assert sum(res.report.values()) == len(tgt) and res.report["aligned"] >= 6
    word_rows = torch.stack([E_S[ids].mean(0) for ids in w_ids])
    nearest = torch.nn.functional.cosine_similarity(res.embeddings[new][:, None], word_rows[None], dim=-1).argmax(1)
    assert nearest.tolist() == list(range(6))  # each piece sits nearest the word it translates
    for t, s in lexical_overlap(src, tgt).items():
        assert torch.equal(res.embeddings[t], E_S[s])
    with pytest.raises(ConfigError, match="needs parallel sentences"):
        initialize_embeddings("align", seed=0, **_kw(setup))


# ---------------------------------------------------------------- roman (uroman + FVT)


def test_romanize_piece_keeps_the_word_start_and_drops_what_needs_no_romanising():
    from unibridge.embeddings.roman import romanize_piece

    assert romanize_piece("\u2581ⴰⵣⵓⵍ") == "\u2581azul"  # Tifinagh "hello"
    assert romanize_piece("ላም") == "laame"  # Ethiopic, word-internal
    assert romanize_piece("\u2581བོད") == "\u2581bod"  # Tibetan, the tsheg dropped
    assert romanize_piece("\u2581abc") == romanize_piece("12") == ""  # already Latin / digits


def test_roman_starts_unreadable_pieces_at_the_base_pieces_of_their_romanisation(setup, tmp_path):
    from unibridge.embeddings.registry import base_pieces, subtoken_mean

    E_S, tgt = setup["E_S"], setup["tgt"]
    english = _sp_tokenizer(_english(600, skip=300), 400, tmp_path / "en")  # reads no Ethiopic
    E = E_S[:len(english)]
    res = initialize_embeddings("roman", source_embeddings=E, source_tokenizer=english, target_tokenizer=tgt,
                                corpus=setup["corpus"], seed=0)
    roman = res.details["romanized"]
    assert sum(res.report.values()) == len(tgt) and res.report["aligned"] == len(roman) > 50
    inv = {i: t for t, i in tgt.get_vocab().items()}
    for t, r in roman.items():
        assert base_pieces(inv[t], english) == [] and base_pieces(r, english)  # unreadable, its romanisation read
        assert torch.equal(res.embeddings[t], subtoken_mean(E, english, [r])[0][0])
    fvt = initialize_embeddings("fvt", source_embeddings=E, source_tokenizer=english, target_tokenizer=tgt,
                                corpus=setup["corpus"], seed=0)
    assert fvt.report["combined"] == res.report["combined"]  # pieces the base reads: FVT's rows
    assert torch.equal(fvt.embeddings[fvt.details["combined_ids"]], res.embeddings[res.details["combined_ids"]])
