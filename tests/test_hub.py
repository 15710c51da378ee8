"""Artifacts on a finished tiny run: pack, verify, install, push and pull round trips, refusals,
shipped source adapters, loading with plain `adapters`; the local hub's location."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import needs_data, tiny_recipe
from unibridge.config import Recipe
from unibridge.errors import ConfigError
from unibridge.hub.artifact import default_hub_dir
from unibridge.pipeline import Pipeline


def test_the_local_hub_lives_in_the_cache_folder_not_in_the_source_tree(monkeypatch, tmp_path):
    monkeypatch.delenv("UNIBRIDGE_HUB", raising=False)
    monkeypatch.setenv("UNIBRIDGE_CACHE", str(tmp_path / "cache"))
    assert default_hub_dir() == tmp_path / "cache" / "hub"
    monkeypatch.setenv("UNIBRIDGE_HUB", str(tmp_path / "my-hub"))
    assert default_hub_dir() == tmp_path / "my-hub"
    monkeypatch.delenv("UNIBRIDGE_HUB")
    monkeypatch.delenv("UNIBRIDGE_CACHE")
    assert default_hub_dir().name == "hub" and default_hub_dir().parent != Path("adapters_hub")
    assert not (Path(__file__).parents[1] / "adapters_hub" / "index.json").exists()


@needs_data
def test_hub_pack_verify_install_and_predict_from_the_hub(finished_run, tmp_path, monkeypatch, capsys):
    from unibridge import MultiSourcePredictor
    from unibridge.cli import main
    from unibridge.hub import ArtifactError, find_installed, install, list_artifacts, pack, verify

    run_dir, _ = finished_run
    art = pack(run_dir, tmp_path / "art", version="1.0.0")
    m = verify(art)
    assert m["target"] == "amh" and set(m["tasks"]) == {"pos", "ner", "nli"}
    assert not any(f.endswith(".bin") for f in m["files"])
    assert "adaptation/embeddings.safetensors" in m["files"] and "README.md" in m["files"]
    card = (art / "README.md").read_text()
    assert card.startswith("---\nlanguage: [am]") and "## Usage" in card and "## Citation" in card
    hub_dir = tmp_path / "hub"
    dest = install(art, hub_dir)
    assert dest.parent == hub_dir / "amh" and dest.name.startswith("unibridge-amh-") and dest.name.endswith("-1.0.0")
    with pytest.raises(ConfigError, match="already installed"):
        install(art, hub_dir)
    install(pack(run_dir, tmp_path / "art2", version="1.1.0"), hub_dir)
    assert [a["version"] for a in list_artifacts(hub_dir, target="amh")] == ["1.0.0", "1.1.0"]
    assert find_installed("amh", hub_dir).name.endswith("-1.1.0")
    assert find_installed("amh", hub_dir, version="1.0.0") == dest
    assert list_artifacts(hub_dir, task="sentiment") == []

    # MultiSourcePredictor(target="amh") falls back to the hub when there is no run directory
    monkeypatch.setenv("UNIBRIDGE_RUNS", str(tmp_path / "no-runs"))
    monkeypatch.setenv("UNIBRIDGE_HUB", str(hub_dir))
    texts = ["ሰኞ እለት በስታንፎርድ ዩኒቨርሲቲ", "አበበ በሶ በላ"]
    from_hub = MultiSourcePredictor(target="amh", task="pos")
    assert from_hub.run_dir == find_installed("amh", hub_dir)
    assert from_hub.predict(texts) == MultiSourcePredictor(target="amh", task="pos", run_dir=run_dir).predict(texts)
    assert main(["hub", "list"]) == 0 and "1.1.0" in capsys.readouterr().out
    assert main(["hub", "list", "--json"]) == 0
    assert [(e["target"], e["version"]) for e in json.loads(capsys.readouterr().out)] == [("amh", "1.0.0"), ("amh", "1.1.0")]
    assert main(["hub", "show", "amh", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == "1.1.0" and shown["files_verified"] > 0

    # tampering: one changed byte is refused, by verify, by the resolver and by the CLI
    victim = find_installed("amh", hub_dir) / "harmony" / "weights.json"
    victim.write_text(victim.read_text().replace("0.", "1.", 1))
    with pytest.raises(ArtifactError, match="checksum mismatch for 'harmony/weights.json'"):
        MultiSourcePredictor(target="amh", task="pos")
    assert main(["hub", "verify", str(victim.parents[1])]) == 2


@needs_data
def test_hub_refuses_unsafe_names_paths_and_partial_installs(finished_run, tmp_path, monkeypatch):
    import json
    import shutil

    import unibridge.hub.artifact as ha
    from unibridge.hub import ArtifactError, check_name, install, pack, verify

    run_dir, _ = finished_run
    for bad in ("../evil", "a/b", "..", "UPPER", ""):
        with pytest.raises(ConfigError, match="invalid artifact name"):
            check_name(bad)
    with pytest.raises(ConfigError, match="invalid artifact name"):
        pack(run_dir, tmp_path / "x", name="../evil")
    art = pack(run_dir, tmp_path / "art")

    def edited(change) -> Path:
        copy = tmp_path / f"edit{len(list(tmp_path.glob('edit*')))}"
        shutil.copytree(art, copy)
        m = json.loads((copy / "manifest.json").read_text())
        change(copy, m)
        (copy / "manifest.json").write_text(json.dumps(m))
        return copy

    with pytest.raises(ArtifactError, match="invalid artifact name"):
        verify(edited(lambda d, m: m.update(name="../../etc")))
    with pytest.raises(ArtifactError, match="leaves the artifact folder"):
        verify(edited(lambda d, m: m["files"].update({"../outside.txt": "0" * 64})))
    with pytest.raises(ArtifactError, match="not in the manifest"):
        verify(edited(lambda d, m: (d / "extra.py").write_text("print('hi')")))
    with pytest.raises(ArtifactError, match="missing file"):
        verify(edited(lambda d, m: (d / "recipe.yaml").unlink()))

    # an install that fails half-way leaves neither a folder nor an index entry behind
    hub_dir = tmp_path / "hub"
    real = shutil.copytree
    depth = []

    def fail_midway(src, dst, *args, **kw):  # copy everything, then fail at the top level
        depth.append(1)
        try:
            real(src, dst, *args, **kw)
        finally:
            depth.pop()
        if not depth:
            raise OSError("disk full")

    monkeypatch.setattr(ha.shutil, "copytree", fail_midway)
    with pytest.raises(OSError, match="disk full"):
        install(art, hub_dir)
    assert list((hub_dir / "amh").iterdir()) == [] and not (hub_dir / "index.json").exists()


def test_pickled_adapter_weights_are_converted_to_safetensors(tmp_path):
    from safetensors.torch import load_file

    from unibridge.hub.artifact import _copy_adapter

    src = tmp_path / "old"
    src.mkdir()
    weights = {"a.weight": torch.randn(3, 2), "b.bias": torch.arange(4.0)}
    torch.save(weights, src / "pytorch_adapter.bin")
    torch.save({"h.weight": torch.ones(2)}, src / "pytorch_model_head.bin")
    (src / "adapter_config.json").write_text("{}")
    _copy_adapter(src, tmp_path / "new")
    names = sorted(p.name for p in (tmp_path / "new").iterdir())
    assert names == ["adapter.safetensors", "adapter_config.json", "model_head.safetensors"]
    got = load_file(str(tmp_path / "new" / "adapter.safetensors"))
    assert all(torch.equal(got[k], v) for k, v in weights.items())


@needs_data
def test_hub_push_pull_through_a_folder_and_through_huggingface_hub(finished_run, tmp_path, monkeypatch):
    import shutil

    import huggingface_hub

    from unibridge.hub import ArtifactError, list_artifacts, pack, pull, push
    from unibridge.hub.remote import check_repo_id

    run_dir, _ = finished_run
    art = pack(run_dir, tmp_path / "art", version="2.0.1")
    remote = tmp_path / "shared-drive"
    assert push(art, "lab/amh-tiny", remote=remote) == str(remote / "lab" / "amh-tiny" / "2.0.1")
    with pytest.raises(ConfigError, match="already has version 2.0.1"):
        push(art, "lab/amh-tiny", remote=remote)
    dest = pull("lab/amh-tiny", remote=remote, hub_dir=tmp_path / "hub")
    assert [a["version"] for a in list_artifacts(tmp_path / "hub", target="amh")] == ["2.0.1"]
    assert (dest / "adaptation" / "embeddings.safetensors").read_bytes() == \
        (run_dir / "adaptation" / "embeddings.safetensors").read_bytes()
    for bad in ("../x", "a/b/c", "/abs/x", "a"):
        with pytest.raises(ConfigError, match="invalid repository id"):
            check_repo_id(bad)
    # a tampered remote copy is refused and nothing is installed
    (remote / "lab" / "amh-tiny" / "2.0.1" / "recipe.yaml").write_text("target: evil\n")
    with pytest.raises(ArtifactError, match="checksum mismatch for 'recipe.yaml'"):
        pull("lab/amh-tiny", remote=remote, hub_dir=tmp_path / "hub2")
    assert not (tmp_path / "hub2" / "index.json").exists()

    # The huggingface_hub path, its network calls served from a local folder.
    repos = tmp_path / "hf"
    calls = []

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, repo_type=None, exist_ok=False):
            calls.append(("create_repo", repo_id))

        def upload_folder(self, *, repo_id, folder_path, repo_type=None, commit_message=None):
            calls.append(("upload_folder", repo_id, commit_message))
            shutil.copytree(folder_path, repos / repo_id, dirs_exist_ok=True)

        def create_tag(self, repo_id, *, tag, repo_type=None, exist_ok=False):
            calls.append(("create_tag", repo_id, tag))

    def fake_snapshot_download(repo_id, *, repo_type=None, revision=None, local_dir=None, token=None):
        calls.append(("snapshot_download", repo_id, revision))
        shutil.copytree(repos / repo_id, local_dir)
        (Path(local_dir) / ".cache" / "huggingface").mkdir(parents=True)  # its download metadata
        return local_dir

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    push(art, "lab/amh-tiny")
    got = pull("lab/amh-tiny", version="2.0.1", hub_dir=tmp_path / "hub3")
    assert calls[0] == ("create_repo", "lab/amh-tiny") and calls[2] == ("create_tag", "lab/amh-tiny", "v2.0.1")
    assert calls[1][:2] == ("upload_folder", "lab/amh-tiny") and calls[1][2].endswith(" 2.0.1 (amh)")
    assert calls[3] == ("snapshot_download", "lab/amh-tiny", "v2.0.1")
    assert got.name.endswith("-2.0.1") and not (got / ".cache").exists()

    # the resolver's last resort: run dir -> local hub -> the Hugging Face repository
    from unibridge import MultiSourcePredictor

    monkeypatch.setenv("UNIBRIDGE_RUNS", str(tmp_path / "no-runs"))
    monkeypatch.setenv("UNIBRIDGE_HUB", str(tmp_path / "empty-hub"))
    with pytest.raises(ConfigError, match="no installed artifact"):
        MultiSourcePredictor(target="amh", task="pos")
    p = MultiSourcePredictor(target="amh", task="pos", repo="lab/amh-tiny")
    assert p.run_dir.parent == tmp_path / "empty-hub" / "amh" and calls[-1][0] == "snapshot_download"
    assert p.predict(["አበበ በሶ በላ"]) == MultiSourcePredictor(target="amh", task="pos", run_dir=run_dir).predict(
        ["አበበ በሶ በላ"])


@needs_data
def test_shipped_source_adapters_are_restored_verified_and_not_retrained(finished_run, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    import unibridge.adaptation.train as train_mod
    import unibridge.tasks.train as tasks_mod
    from unibridge.hub import ArtifactError
    from unibridge.hub.sources import pack_sources

    run_dir, _ = finished_run
    manifest = pack_sources(run_dir, tmp_path / "shipped")
    assert sorted(e["kind"] for e in manifest["entries"].values()) == [
        "source-en", "source-ru", "task-ner-en", "task-nli-en", "task-nli-ru", "task-pos-en", "task-pos-ru"]
    assert {e["folder"] for e in manifest["entries"].values()} == {"sources", "tasks"}
    assert not any("mlm_head" in f for e in manifest["entries"].values() for f in e["files"])

    def no_training(*a, **k):
        raise AssertionError("a shipped adapter was retrained")
    monkeypatch.setattr(train_mod, "train_language_adapter", no_training)
    monkeypatch.setattr(tasks_mod, "train_task_adapter", no_training)
    recipe = Recipe.from_dict(tiny_recipe(Path(json.loads((run_dir / "run.json").read_text())["base_model"])))
    pipe = Pipeline(recipe, tmp_path / "fresh")
    pipe.shipped_sources = tmp_path / "shipped"
    assert pipe.stage_sources() == 0  # everything restored
    original = load_file(str(run_dir / "sources" / "en" / "adapter" / "adapter.safetensors"))
    restored = load_file(str(tmp_path / "fresh" / "sources" / "en" / "adapter" / "adapter.safetensors"))
    assert all(restored[k].dtype == torch.float16 and torch.equal(restored[k], v.half()) for k, v in original.items())

    entry = next(n for n, e in manifest["entries"].items() if e["kind"] == "source-ru")
    victim = tmp_path / "shipped" / entry / "adapter" / "adapter.safetensors"
    data = bytearray(victim.read_bytes())
    data[-1] ^= 1
    victim.write_bytes(bytes(data))
    other = Pipeline(recipe, tmp_path / "fresh2")
    other.shipped_sources = tmp_path / "shipped"
    with pytest.raises(ArtifactError, match="differs from its checksum"):
        other.stage_sources()
    assert not (tmp_path / "fresh2" / "sources" / "ru").exists()
    assert Pipeline(recipe, tmp_path / "x", retrain_sources=True).shipped_sources is None


@needs_data
def test_the_plain_usage_of_mean_pooled_heads_defines_the_packages_head(tiny_base):
    from unibridge.adaptation.model import load_adapter_model
    from unibridge.heads import MEAN_POOLED_HEAD
    from unibridge.hub.artifact import plain_adapters_usage
    from unibridge.tasks import get_task

    assert not any("register_custom_head" in line for line in plain_adapters_usage("nli", "quy", "b"))
    lines = plain_adapters_usage("nli", "quy", "b", head_type=MEAN_POOLED_HEAD)
    register = f'model.register_custom_head("{MEAN_POOLED_HEAD}", MeanPooledClassificationHead)'
    assert lines.index(register) == lines.index('model = AutoAdapterModel.from_pretrained("b")') + 1
    ns: dict = {}
    exec("\n".join(lines[: lines.index('art = pathlib.Path("ARTIFACT_FOLDER")')]), ns)
    torch.manual_seed(0)
    model = load_adapter_model(tiny_base)
    get_task("nli").add_head(model, "ours", pooling="mean")
    ours = model.heads["ours"].eval()
    theirs = ns["MeanPooledClassificationHead"](model, "theirs", num_labels=3).eval()
    theirs.load_state_dict(ours.state_dict())
    states, mask = torch.randn(2, 4, 32), torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    assert torch.allclose(ours((states,), None, mask, False)[0], theirs((states,), None, mask, False)[0])


def test_a_packed_artifact_loads_with_plain_adapters_and_gives_the_predictors_logits(finished_run, tmp_path):
    import subprocess
    import sys

    from huggingface_hub import ModelCard

    from unibridge import MultiSourcePredictor
    from unibridge.hub import pack
    from unibridge.hub.artifact import plain_adapters_usage
    from unibridge.inference.predictor import source_logits

    run_dir, _ = finished_run
    art = pack(run_dir, tmp_path / "art")
    base = json.loads((run_dir / "run.json").read_text())["base_model"]
    text = "ሰኞ እለት በስታንፎርድ ዩኒቨርሲቲ"
    pair = ("ሰኞ እለት", "በስታንፎርድ ዩኒቨርሲቲ")
    pos = "\n".join(plain_adapters_usage("pos", "amh", base)).replace('["..."]', json.dumps([text], ensure_ascii=False))
    nli = "\n".join(plain_adapters_usage("nli", "amh", base, head_type="classification"))
    assert '["..."]' not in nli  # a pair task's lines tokenize a (premise, hypothesis) pair
    nli = nli.replace('["premise ..."], ["hypothesis ..."]', ", ".join(json.dumps([x], ensure_ascii=False) for x in pair))
    code = "\n".join([pos, f"torch.save(logits, {str(tmp_path / 'pos.pt')!r})",
                      nli, f"torch.save(logits, {str(tmp_path / 'nli.pt')!r})", "import sys",
                      "assert not [m for m in sys.modules if m.startswith('unibridge')]"])
    done = subprocess.run([sys.executable, "-c", code.replace("ARTIFACT_FOLDER", str(art))], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-2000:]

    for task, inputs in (("pos", [[text]]), ("nli", [[pair[0]], [pair[1]]])):
        plain = torch.load(tmp_path / f"{task}.pt")
        pred = MultiSourcePredictor(target="amh", task=task, run_dir=art)
        enc = pred.tokenizer(*inputs, return_tensors="pt")
        per_src = source_logits(pred.model, enc["input_ids"], enc["attention_mask"], "amh", pred.heads)
        w = torch.tensor([pred.weights[s] for s in pred.sources]).view(-1, *[1] * (per_src.dim() - 1))
        ours = (per_src * w).sum(0)
        assert plain.shape == ours.shape and torch.allclose(plain, ours, atol=1e-5), task
    assert plain.shape == (1, 3)  # NLI: one row of (entailment, neutral, contradiction) per pair

    # one source: Parallel with one child would return one output, not a list
    import shutil

    one = tmp_path / "one-source"
    shutil.copytree(art, one)
    shutil.rmtree(one / "tasks" / "pos" / "ru")
    done = subprocess.run([sys.executable, "-c", "\n".join([pos, f"torch.save(logits, {str(tmp_path / 'one.pt')!r})"])
                           .replace("ARTIFACT_FOLDER", str(one))], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    pred = MultiSourcePredictor(target="amh", task="pos", run_dir=art, weights="single:en")
    enc = pred.tokenizer([text], return_tensors="pt")
    en = source_logits(pred.model, enc["input_ids"], enc["attention_mask"], "amh", pred.heads)[pred.sources.index("en")]
    assert torch.allclose(torch.load(tmp_path / "one.pt"), en, atol=1e-5)

    card = ModelCard((art / "README.md").read_text(encoding="utf-8"))
    assert card.data.library_name == "adapter-transformers" and card.data.base_model == base
    assert "unibridge hub pull" in card.text and "load_embeddings" in card.text


def test_an_embedding_delta_stores_the_changed_and_appended_rows_and_rebuilds_the_matrix(tmp_path):
    from unibridge.artifacts import (EMBEDDING_DELTA, apply_embedding_delta, embedding_delta, read_target_embeddings,
                                     write_embedding_delta)
    from unibridge.errors import DataError

    torch.manual_seed(0)
    base = torch.randn(10, 4)
    trained = torch.cat([base, torch.randn(3, 4)])
    trained[2] += 1.0
    trained[7, 0] = 0.5
    delta = embedding_delta(trained, base)
    assert delta["index"].tolist() == [2, 7, 10, 11, 12] and delta["index"].dtype == torch.int64
    assert torch.equal(delta["rows"], trained[[2, 7, 10, 11, 12]])
    assert torch.equal(apply_embedding_delta(delta, base, 13), trained)
    shorter = base[:6].clone()
    shorter[1] -= 1
    assert torch.equal(apply_embedding_delta(embedding_delta(shorter, base), base, 6), shorter)
    replaced = base.clone()
    replaced[:5] = 0  # half the rows: a replaced vocabulary is stored whole
    assert embedding_delta(replaced, base) is None and embedding_delta(torch.randn(10, 5), base) is None
    with pytest.raises(DataError, match="outside \\[0, 12\\)"):
        apply_embedding_delta(delta, base, 12)
    with pytest.raises(DataError, match="leaves rows past the base's 10 unset"):
        apply_embedding_delta({"index": torch.tensor([2]), "rows": trained[[2]]}, base, 13)

    write_embedding_delta(tmp_path / EMBEDDING_DELTA, delta, base, 13)
    assert torch.equal(read_target_embeddings(tmp_path, lambda: base), trained)
    other = base.clone()
    other[9, 3] += 1e-3
    with pytest.raises(DataError, match="other base embeddings than this model's"):
        read_target_embeddings(tmp_path, lambda: other)
    with pytest.raises(DataError, match="holds no target embeddings"):
        read_target_embeddings(tmp_path / "nothing", lambda: base)


@needs_data
def test_an_artifact_of_a_run_that_keeps_the_base_rows_ships_only_the_changed_ones(finished_run, tiny_base, tmp_path):
    """A run whose target vocabulary is the base's (as with vocabulary augmentation, tokenizer in
    embeddings/tokenizer): the artifact stores the changed rows; the predictor and the card's
    plain-adapters lines rebuild the same embeddings and logits as the run directory gives."""
    import shutil
    import subprocess
    import sys

    from safetensors.torch import save_file

    from unibridge import MultiSourcePredictor
    from unibridge.backbones import load_input_embeddings, load_tokenizer
    from unibridge.hub import pack, verify
    from unibridge.hub.artifact import plain_adapters_usage

    run = tmp_path / "run"
    shutil.copytree(finished_run[0], run)
    tok = load_tokenizer(tiny_base)
    tok.save_pretrained(str(run / "embeddings" / "tokenizer"))
    base = load_input_embeddings(str(tiny_base))
    trained = base[: len(tok)].clone()
    trained[[5, 300, 4000]] += 0.25
    save_file({"weight": trained}, str(run / "adaptation" / "embeddings.safetensors"))
    art = pack(run, tmp_path / "art")
    files = verify(art)["files"]
    assert "adaptation/embeddings-delta.safetensors" in files and "embeddings/tokenizer/tokenizer.json" in files
    assert "adaptation/embeddings.safetensors" not in files and "embeddings/embedding.pt" not in files
    assert (art / "adaptation" / "embeddings-delta.safetensors").stat().st_size < 10_000  # 3 rows of 32

    text = "ሰኞ እለት በስታንፎርድ ዩኒቨርሲቲ"
    ours = MultiSourcePredictor(target="amh", task="pos", run_dir=run).predict([text], return_probs=True)[0]["probs"]
    packed = MultiSourcePredictor(target="amh", task="pos", run_dir=art)
    assert torch.equal(packed.model.get_input_embeddings().weight.detach(), trained)
    assert np.allclose(packed.predict([text], return_probs=True)[0]["probs"], ours, atol=1e-6)

    lines = plain_adapters_usage("pos", "amh", str(tiny_base), embeddings_delta=True)
    code = "\n".join(lines).replace('["..."]', json.dumps([text], ensure_ascii=False)).replace("ARTIFACT_FOLDER", str(art))
    torch.save(trained, tmp_path / "w.pt")
    done = subprocess.run([sys.executable, "-c", code + "\nprint(torch.equal(model.get_input_embeddings().weight, "
                           f"torch.load({str(tmp_path / 'w.pt')!r})))"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip().endswith("True"), done.stderr[-2000:]
    assert "embeddings-delta.safetensors" in (art / "README.md").read_text(encoding="utf-8")
