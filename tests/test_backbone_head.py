"""The backbone's MLM head: one per backbone, found saved with it, shipped or fitted once on a fixed
text; its digest in the fingerprint of every adapter trained against it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from unibridge.adaptation import backbone_head as bh
from unibridge.adaptation.head import _piece_counts
from unibridge.hub.artifact import ArtifactError

from .conftest import DATA, needs_data, tiny_recipe


def test_pieces_are_counted_with_one_bincount_as_per_sentence_counts_would(tiny_base):
    from unibridge.backbones import load_tokenizer

    tok = load_tokenizer(tiny_base)
    texts = ["the river flows east", "", "the the <unk> river", "ሰኞ እለት"]
    V = len(tok)
    expected = torch.zeros(V, dtype=torch.float64)
    for t in texts:
        for i in tok(t, add_special_tokens=False)["input_ids"]:
            expected[i] += 1
    assert torch.equal(_piece_counts(tok, texts, V), expected)
    unk = tok.unk_token_id
    without = _piece_counts(tok, texts, V, special=False)
    assert without[unk] == 0 and torch.equal(without.sum() + expected[unk], expected.sum())
    assert float(expected[tok.convert_tokens_to_ids("▁the")]) == 3.0


@needs_data
def test_the_head_text_leaves_out_every_sib200_test_sentence_in_every_language():
    texts = bh.head_text()
    devtest = DATA / "parallel" / "flores200_devtest" / "devtest"
    eng = (devtest / "eng_Latn.devtest").read_text(encoding="utf-8").splitlines()
    sib = [r.split("\t")[2] for r in (DATA / "sib200" / "eng_Latn" / "test.tsv").read_text(encoding="utf-8")
           .splitlines()[1:]]
    held = [i for i, t in enumerate(eng) if t in set(sib)]
    assert len(held) > 50  # SIB-200's test split draws on devtest sentences
    amh = (devtest / "amh_Ethi.devtest").read_text(encoding="utf-8").splitlines()
    kept = set(texts)
    assert not any(eng[i] in kept or amh[i] in kept for i in held)  # left out in every language
    files = sorted(devtest.glob("*.devtest"))
    assert len(texts) == len(files) * (len(eng) - len({*held, *_held_elsewhere(devtest, files)}))


def _held_elsewhere(devtest: Path, files: list[Path]) -> set[int]:
    out = set()
    for f in files:
        code = f.stem
        test = DATA / "sib200" / code / "test.tsv"
        if test.is_file():
            sents = {r.split("\t")[2].strip() for r in test.read_text(encoding="utf-8").splitlines()[1:]}
            out |= {i for i, t in enumerate(f.read_text(encoding="utf-8").splitlines()) if t.strip() in sents}
    return out


def _model(base):
    from unibridge.adaptation.model import load_adapter_model

    return load_adapter_model(base)


def test_a_head_saved_with_the_backbone_is_found_first_and_verified(tiny_base, tmp_path):
    model = _model(tiny_base)
    found = bh.backbone_head(model, None, str(tiny_base), tiny_base, cache_dir=tmp_path, shipped=None)
    assert found.origin == "backbone folder" and found.report["steps"] == 2
    assert found.digest == json.loads((tiny_base / bh.HEAD_FOLDER / bh.RECORD).read_text())["files"][
        "mlm_head.safetensors"][:16]
    assert not any(p.requires_grad for p in found.head.parameters())
    assert found.head.embedding is model.get_input_embeddings()  # decoder tied to the frozen embeddings
    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_base / bh.HEAD_FOLDER, damaged)
    data = bytearray((damaged / "mlm_head.safetensors").read_bytes())
    data[-1] ^= 0xFF  # one weight's last byte
    (damaged / "mlm_head.safetensors").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="differs from its checksum"):
        bh.load_head(damaged, model, origin="shipped")


def test_a_backbone_without_a_head_fits_one_on_the_fixed_text_once(tmp_path, monkeypatch):
    from unibridge.backbones import load_tokenizer
    from unibridge.testing import make_tiny_backbone

    base = make_tiny_backbone(tmp_path / "bare", head_text=None)
    assert not (base / bh.HEAD_FOLDER).exists()
    lines = ["the river flows east to the sea", "scientists announced a new tool", "ሰኞ እለት አዲስ መሣሪያ"] * 4
    monkeypatch.setattr(bh, "head_text", lambda: lines)
    monkeypatch.setattr(bh, "HEAD_STEPS", 3)
    model, tok = _model(base), load_tokenizer(base)
    said = []
    first = bh.backbone_head(model, tok, str(base), base, cache_dir=tmp_path / "cache", shipped=None, say=said.append)
    again = bh.backbone_head(model, tok, str(base), base, cache_dir=tmp_path / "cache", shipped=None)
    assert (first.origin, again.origin) == ("fitted", "cache") and first.digest == again.digest
    assert first.report["steps"] == 3 and first.report["lines"] + first.report["heldout_lines"] == len(lines)
    assert len(said) == 1 and "fitting 3 steps on 12 lines" in said[0]
    assert first.folder.parent == tmp_path / "cache" / "heads"
    monkeypatch.setattr(bh, "head_text", lambda: [])
    with pytest.raises(ValueError, match="no text to fit the backbone MLM head"):
        bh.backbone_head(model, tok, str(base), base, cache_dir=tmp_path / "other", shipped=None)


def test_a_shipped_head_is_used_only_for_the_embeddings_it_was_fitted_on(tiny_base, tmp_path, monkeypatch):
    from unibridge.testing import make_tiny_backbone

    shipped = tmp_path / "heads"
    shutil.copytree(tiny_base / bh.HEAD_FOLDER, shipped / "tiny")
    other = make_tiny_backbone(tmp_path / "other", head_text=None, seed=1)  # other weights, same shapes
    mine = make_tiny_backbone(tmp_path / "mine", head_text=None)  # the weights the head was fitted on
    got = bh.backbone_head(_model(mine), None, "tiny", mine, cache_dir=tmp_path, shipped=shipped)
    assert got.origin == "shipped"
    monkeypatch.setattr(bh, "head_text", lambda: [])
    said = []
    with pytest.raises(ValueError, match="no text"):  # not used: it would fit one instead
        bh.backbone_head(_model(other), None, "tiny", other, cache_dir=tmp_path, shipped=shipped, say=said.append)
    assert "shipped MLM head not used" in said[0] and "fitted on other" in said[0]


@needs_data
def test_the_head_digest_keys_language_adapters_and_the_task_adapters_stacked_on_them(tmp_path):
    from unibridge.config import Recipe
    from unibridge.pipeline import Pipeline
    from unibridge.testing import make_tiny_backbone

    a = make_tiny_backbone(tmp_path / "a")
    b = make_tiny_backbone(tmp_path / "b", head_text=("a few other lines", "to fit another head on"))
    recipe = Recipe.from_dict(tiny_recipe(a))
    same, changed = Pipeline(recipe, tmp_path / "ra"), Pipeline(recipe, tmp_path / "rb")
    changed._base_dir = b  # the same recipe and backbone weights, another head saved with it
    assert same.backbone_head_info().digest != changed.backbone_head_info().digest
    for lang, task, on_source in (("en", None, None), ("en", "pos", True)):
        assert same.source_fingerprint(lang, task, on_source) != changed.source_fingerprint(lang, task, on_source)
    assert same.source_fingerprint("en", "pos", False) == changed.source_fingerprint("en", "pos", False)
    assert same.stage_fingerprint("adaptation") != changed.stage_fingerprint("adaptation")
    assert same.stage_fingerprint("harmony") != changed.stage_fingerprint("harmony")
    assert same.stage_fingerprint("vocab") == changed.stage_fingerprint("vocab")


@pytest.mark.slow
def test_the_shipped_me5_small_head_fits_the_built_backbone():
    from unibridge.backbones import ME5_SMALL, resolve_backbone

    record = bh.verify_head(bh.SHIPPED_HEADS / ME5_SMALL)
    assert record["report"]["steps"] == bh.HEAD_STEPS and record["backbone"] == ME5_SMALL
    model = _model(resolve_backbone(ME5_SMALL))
    found = bh.backbone_head(model, None, ME5_SMALL, resolve_backbone(ME5_SMALL), shipped=bh.SHIPPED_HEADS)
    assert found.origin == "shipped" and found.digest == record["digest"]
