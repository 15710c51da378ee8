"""Hub artifacts: a trained target language packed, verified and installed.

An artifact is the part of a run directory that :class:`~unibridge.MultiSourcePredictor`
reads, under the same relative paths, plus a manifest, a model card and the recipe::

    manifest.json                     format, name, target, base model, version, tasks, sha256 per file
    README.md                         model card (YAML front matter: language, tags, datasets, metrics)
    recipe.yaml                       the recipe that produced it
    run.json                          base model and the sources of each task
    vocab/tokenizer/ | embeddings/tokenizer/   the target tokenizer
    adaptation/embeddings.safetensors          trained target embeddings {"weight": (V_T, d)}, or
    adaptation/embeddings-delta.safetensors    only their rows that differ from the base model's
                                               (vocabulary augmentation keeps the base's rows)
    embeddings/                                the same in adapters' save_embeddings layout
                                               (embedding.pt, tokenizer/; tokenizer/ alone with a delta)
    adaptation/adapter/                        language adapter (adapters' format, safetensors)
    harmony/weights.json                       harmony weights and distances
    tasks/<task>/<source>/adapter/             task adapter + head per source (safetensors); tasks-base/
                                               for task adapters trained on the bare base model
    tasks/<task>/<source>/dev.json             its score on the source's dev split and floor
    evaluation/results.json                    scores of the run (when it has them)

Loading never unpickles: every weight file is safetensors (older ``.bin`` adapter weights are
converted with ``torch.load(weights_only=True)`` when packing). :func:`verify` checks every
file against the manifest and refuses unlisted files, links and paths that leave the folder;
:func:`install` copies into the hub under a temporary name and renames when complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from ..artifacts import (DEV_RECORD, read_json, target_tokenizer_dir, task_adapter_folder, task_adapters_on_source,
                         used_task_adapter_dir, write_json)
from ..errors import ConfigError, DataError
from ..heads import MEAN_POOLED_HEAD
from ..data.digest import sha256_file

FORMAT = 1
MANIFEST = "manifest.json"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_VERSION = re.compile(r"^\d+(\.\d+){0,2}$")


class ArtifactError(DataError):
    """An artifact is incomplete, tampered with, or unsafe to load."""


def check_name(name: str, what: str = "name") -> str:
    """``name`` if it is a safe single path component (lowercase letters, digits, ``.``, ``_``,
    ``-``; not ``.``/``..``); raises ConfigError otherwise (e.g. ``../x``)."""
    if not isinstance(name, str) or not _NAME.match(name) or set(name) <= {"."} or ".." in name:
        raise ConfigError(f"invalid artifact {what} {name!r}: use lowercase letters, digits, '.', '_' and '-' "
                          "(no path separators, no '..')")
    return name


def _files(root: Path) -> list[str]:
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            raise ArtifactError(f"{root}: '{rel}' is a link; artifacts hold plain files only")
        if p.is_file() and rel != MANIFEST:
            out.append(rel)
    return out


def _copy_adapter(src: Path, dst: Path) -> None:
    """Copy an adapter folder, converting pickled ``.bin`` weights to the safetensors files
    adapters loads with ``use_safetensors=True`` (``adapter.safetensors``,
    ``model_head.safetensors``); read with ``torch.load(weights_only=True)``."""
    import torch
    from adapters.utils import HEAD_WEIGHTS_NAME, SAFE_HEAD_WEIGHTS_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_NAME
    from safetensors.torch import save_file

    converted = {WEIGHTS_NAME: SAFE_WEIGHTS_NAME, HEAD_WEIGHTS_NAME: SAFE_HEAD_WEIGHTS_NAME}
    dst.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        if p.suffix == ".bin":
            if p.name not in converted:
                raise ConfigError(f"{p}: unknown pickled weight file; expected {sorted(converted)}")
            state = torch.load(p, map_location="cpu", weights_only=True)
            save_file({k: v.contiguous() for k, v in state.items()}, str(dst / converted[p.name]))
        elif p.is_file():
            shutil.copyfile(p, dst / p.name)


def _pack_embeddings(run_dir: Path, base_model: str, tokenizer_dir: Path, out: Path) -> bool:
    """Write the run's trained target embeddings into artifact folder ``out``; returns whether
    they went as a delta. Where they keep the base model's rows (vocabulary augmentation,
    :func:`~unibridge.artifacts.embedding_delta`), only the rows that differ:
    ``adaptation/embeddings-delta.safetensors`` and the tokenizer in ``embeddings/tokenizer``
    (about 7 MB for an Amharic run instead of twice 384 MB). Otherwise the full matrix twice:
    ``adaptation/embeddings.safetensors`` for the predictor and adapters' ``save_embeddings``
    layout in ``embeddings/`` (``embedding.pt``, a bare tensor that ``load_embeddings`` reads with
    ``torch.load(weights_only=True)``, and ``tokenizer/``), so plain ``adapters`` code loads them
    with ``model.load_embeddings(out, name)``."""
    import torch
    from adapters.utils import EMBEDDING_FILE, TOKENIZER_PATH
    from safetensors.torch import load_file

    from ..artifacts import EMBEDDING_DELTA, EMBEDDINGS, embedding_delta, write_embedding_delta
    from ..backbones import load_input_embeddings

    trained = load_file(str(run_dir / "adaptation" / EMBEDDINGS))["weight"]
    base = load_input_embeddings(base_model)
    delta = embedding_delta(trained, base)
    plain = out / "embeddings"
    if (plain / TOKENIZER_PATH) != out / tokenizer_dir.relative_to(run_dir):
        shutil.copytree(tokenizer_dir, plain / TOKENIZER_PATH)  # (va's tokenizer is there already)
    if delta is not None:
        write_embedding_delta(out / "adaptation" / EMBEDDING_DELTA, delta, base, trained.shape[0])
        return True
    shutil.copyfile(run_dir / "adaptation" / EMBEDDINGS, out / "adaptation" / EMBEDDINGS)
    torch.save(trained.contiguous(), plain / EMBEDDING_FILE)
    return False


# Hugging Face hub ids of the backbones the recipes name (the card's ``base_model``)
HUB_IDS = {"me5-small": "intfloat/multilingual-e5-small", "xlm-roberta-base": "FacebookAI/xlm-roberta-base",
           "xlm-roberta-large": "FacebookAI/xlm-roberta-large", "mbert": "google-bert/bert-base-multilingual-cased",
           "bert-base-multilingual-cased": "google-bert/bert-base-multilingual-cased"}


def plain_adapters_usage(task: str, target: str, base: str, folder: str = "tasks",
                         head_type: str = "tagging", embeddings_delta: bool = False) -> list[str]:
    """Python lines that load an artifact with ``adapters`` and ``transformers`` alone and
    compute the harmony-weighted logits (docs/hub.md; a test runs them). ``folder``: where the
    artifact holds the task's adapters (``tasks``, or ``tasks-base`` for ones trained on the bare
    base); ``head_type``: the type of the task's heads (``head_config.json``);
    ``mean-pooled-classification`` (``task.pooling: mean``) is a head type the lines define and
    register first. The forward line and what the logits hold come from the task's kind
    (:meth:`TaskKind.usage_call <unibridge.tasks.kind.TaskKind.usage_call>`): a tagging task reads a
    sentence and gives (1, tokens, labels) logits, a pair task (nli) a (premise, hypothesis)
    pair and a text task (topic) one text, each giving (1, labels). ``embeddings_delta``: the
    artifact stores its embeddings as the rows changed from the base model's
    (``adaptation/embeddings-delta.safetensors``); the lines put them onto the base's. Raises
    ConfigError for an unknown task."""
    from ..registry import TASKS

    kind = TASKS.get(task).kind
    mean_pooled = head_type == MEAN_POOLED_HEAD
    head = [
        "from adapters.heads import ClassificationHead",
        "",
        "class MeanPooledClassificationHead(ClassificationHead):  # reads the mean over the attention mask",
        "    def forward(self, outputs, cls_output=None, attention_mask=None, return_dict=False, **kwargs):",
        "        m = attention_mask.unsqueeze(-1).to(outputs[0].dtype)",
        "        pooled = (outputs[0] * m).sum(1) / m.sum(1).clamp(min=1.0)",
        "        return super().forward(outputs, pooled, attention_mask, return_dict, **kwargs)",
        "",
    ] if mean_pooled else []
    register = [f"model.register_custom_head(\"{MEAN_POOLED_HEAD}\", MeanPooledClassificationHead)"] if mean_pooled else []
    return [
        "import json, pathlib, torch",
        "from adapters import AutoAdapterModel",
        "from adapters.composition import Parallel, Stack",
        *head,
        "",
        "art = pathlib.Path(\"ARTIFACT_FOLDER\")",
        f"model = AutoAdapterModel.from_pretrained(\"{base}\")",
        *register,
        *(_delta_embedding_lines(target) if embeddings_delta else
          [f"tokenizer = model.load_embeddings(str(art / \"embeddings\"), \"{target}\")  # target vocabulary"]),
        f"model.load_adapter(str(art / \"adaptation\" / \"adapter\"), load_as=\"{target}\", with_head=False,",
        "                   use_safetensors=True)",
        "stored = json.loads((art / \"harmony\" / \"weights.json\").read_text())",
        f"harmony = stored.get(\"tasks\", {{}}).get(\"{task}\", stored)[\"weights\"]  # chosen on dev data if any",
        f"sources = [s for s in harmony if (art / \"{folder}\" / \"{task}\" / s).is_dir()]  # sources with this task",
        "weights = {s: harmony[s] / sum(harmony[t] for t in sources) for s in sources}",
        f"heads = [model.load_adapter(str(art / \"{folder}\" / \"{task}\" / s / \"adapter\"), load_as=f\"{task}_{{s}}\",",
        "                            use_safetensors=True)",
        "         for s in sources]",
        "many = len(heads) > 1  # Parallel takes two or more; one source is stacked alone",
        f"model.set_active_adapters(Stack(\"{target}\", Parallel(*heads) if many else heads[0]))",
        "model.active_head = heads if many else heads[0]",
        "model.eval()",
        "with torch.no_grad():",
        kind.usage_call(),
        "outs = outs if many else [outs]  # one output per source",
        f"logits = sum(w * o.logits for w, o in zip(weights.values(), outs))  # {kind.usage_logits}",
    ]


def _delta_embedding_lines(target: str) -> list[str]:
    """:func:`plain_adapters_usage`'s lines that build the target embeddings from the base
    model's and the rows the artifact stores (:func:`~unibridge.artifacts.embedding_delta`)."""
    return [
        "from safetensors import safe_open",
        "from transformers import AutoTokenizer",
        "tokenizer = AutoTokenizer.from_pretrained(str(art / \"embeddings\" / \"tokenizer\"))  # target vocabulary",
        "with safe_open(str(art / \"adaptation\" / \"embeddings-delta.safetensors\"), \"pt\") as f:  # changed rows",
        "    n_rows, index, rows = int(f.metadata()[\"n_rows\"]), f.get_tensor(\"index\"), f.get_tensor(\"rows\")",
        "base = model.get_input_embeddings().weight.detach()",
        "weight = torch.cat([base[:n_rows], base.new_zeros(max(0, n_rows - len(base)), base.shape[1])])",
        "weight[index] = rows",
        f"model.add_embeddings(\"{target}\", tokenizer)  # the new embeddings are active",
        "model.get_input_embeddings().weight.data.copy_(weight)",
    ]


def heads_type(task_dirs: list[Path]) -> str:
    """The head type (adapters' ``head_config.json``: ``config.head_type``) of the task adapters
    saved in ``task_dirs`` (each with ``adapter/``): the first one that has a head, else ``tagging``."""
    heads = [Path(d) / "adapter" / "head_config.json" for d in task_dirs]
    return next((read_json(h)["config"]["head_type"] for h in heads if h.is_file()), "tagging")


def _model_card(manifest: dict, recipe: dict, metrics: dict, folders: dict[str, str], head_type: str = "tagging",
                embeddings_delta: bool = False) -> str:
    from ..data import get_language

    lang = get_language(manifest["target"])
    datasets = sorted({x["hf"] if isinstance(x, dict) else str(x)
                       for spec in recipe.get("tasks", {}).values() for x in spec.get("test", [])
                       if isinstance(x, dict)})
    base = str(manifest["base_model"])
    base_id = HUB_IDS.get(base, base)
    task = next(iter(manifest["tasks"]), "pos")
    rows = []
    for t, res in metrics.items():
        for strategy, m in res.get("strategies", {}).items():
            rows.append(f"| {t} | {strategy} | {res['metric']} | {100 * m[res['metric']]:.2f} |")
    front = ["---", f"language: [{lang.iso1 or lang.iso3}]", "library_name: adapter-transformers",
             f"base_model: {base_id}",
             "tags: [adapter-transformers, unibridge, mad-x, " + ", ".join(manifest["tasks"]) + "]",
             "datasets: [" + ", ".join(json.dumps(d) for d in datasets) + "]",
             "metrics: [" + ", ".join(sorted({r['metric'] for r in metrics.values()})) + "]", "---", ""]
    body = [f"# UniBridge: {lang.name} ({manifest['target']}) on {manifest['base_model']}", "",
            f"Target tokenizer, embeddings and language adapter for {lang.name} ({lang.script} script), "
            "with one task adapter and head per source language, combined by harmony weights in one "
            "forward pass (Pham et al. 2024).", "",
            "| task | sources |", "|---|---|",
            *(f"| {t} | {', '.join(s)} |" for t, s in manifest["tasks"].items()), "",
            "## Usage", "", "```bash", "unibridge hub pull OWNER/NAME      # fetch, verify, install",
            f"unibridge predict --target {manifest['target']} --task {task} \"...\"", "```", "",
            "```python", "from unibridge import MultiSourcePredictor", "",
            f"p = MultiSourcePredictor(target=\"{manifest['target']}\", task=\"{task}\", repo=\"OWNER/NAME\")",
            "print(p.predict([\"...\"]))", "```", "",
            "With `adapters` and `transformers` alone (no unibridge):", "", "```python",
            *plain_adapters_usage(task, manifest["target"], base_id, folders.get(task, "tasks"),
                                  head_type=head_type, embeddings_delta=embeddings_delta), "```", ""]
    if base == "me5-small":
        body += [f"The base model of this run is `{base}`: UniBridge's 4-bit rebuild of `{base_id}`; the "
                 "adapters were trained on it, so loading them on the original weights is close but not identical.", ""]
    if rows:
        body += ["## Scores of the run that produced it", "", "| task | weights | metric | score (%) |",
                 "|---|---|---|---|", *rows, ""]
    body += ["## Citation", "", "Pham, Trinh, Huang, Hoang, Nguyen (2024). UniBridge: A Unified Approach to "
             "Cross-Lingual Transfer Learning for Low-Resource Languages. ACL 2024.", ""]
    return "\n".join(front + body)


def pack(run_dir: str | Path, out_dir: str | Path, *, version: str = "1.0.0", name: str | None = None) -> Path:
    """Pack a finished run into an artifact folder ``out_dir`` (written atomically).

    Args:
        run_dir: a run directory with run.json, adaptation/, harmony/ and tasks/.
        out_dir: the artifact folder to create (must not exist).
        version: ``MAJOR[.MINOR[.PATCH]]``.
        name: artifact name (default ``unibridge-<target>-<base model>``).
    Returns:
        ``out_dir`` as a Path.
    Raises:
        ConfigError: bad name/version, ``out_dir`` exists, or the run is not finished.
    """
    run_dir, out = Path(run_dir), Path(out_dir)
    if not _VERSION.match(version):
        raise ConfigError(f"invalid artifact version {version!r}: use MAJOR[.MINOR[.PATCH]]")
    if out.exists():
        raise ConfigError(f"{out} exists; pack into a new folder")
    run_file = run_dir / "run.json"
    needed = [run_file, run_dir / "adaptation" / "embeddings.safetensors", run_dir / "adaptation" / "adapter",
              run_dir / "harmony" / "weights.json"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise ConfigError(f"{run_dir} is not a finished run (missing {', '.join(missing)})")
    run = read_json(run_file)
    target = run["target"]
    name = check_name(name or f"unibridge-{target}-{Path(str(run['base_model'])).name.lower()}")
    folders = {t: task_adapter_folder(task_adapters_on_source(run_dir, t)) for t in run.get("sources", {})}
    used = {t: {src: used_task_adapter_dir(run_dir, t, src) for src in s} for t, s in run.get("sources", {}).items()}
    tasks = {t: list(d) for t, d in used.items() if d and all((p / "adapter").is_dir() for p in d.values())}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        tok = target_tokenizer_dir(run_dir)
        shutil.copytree(tok, tmp / tok.relative_to(run_dir))
        (tmp / "adaptation").mkdir()
        delta = _pack_embeddings(run_dir, str(run["base_model"]), tok, tmp)
        _copy_adapter(run_dir / "adaptation" / "adapter", tmp / "adaptation" / "adapter")
        (tmp / "harmony").mkdir()
        shutil.copyfile(run_dir / "harmony" / "weights.json", tmp / "harmony" / "weights.json")
        for t in tasks:
            for p in used[t].values():
                _copy_adapter(p / "adapter", tmp / p.relative_to(run_dir) / "adapter")
                if (p / DEV_RECORD).is_file():  # the source dev score: a source below its floor stays left out
                    shutil.copyfile(p / DEV_RECORD, tmp / p.relative_to(run_dir) / DEV_RECORD)
        metrics = {}
        if (run_dir / "evaluation" / "results.json").is_file():
            metrics = read_json(run_dir / "evaluation" / "results.json")
            write_json(tmp / "evaluation" / "results.json", metrics)
        import yaml

        recipe = run.get("recipe", {})
        (tmp / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True), encoding="utf-8")
        write_json(tmp / "run.json", {"target": target, "base_model": run["base_model"], "sources": tasks,
                                      "recipe": recipe})
        manifest = {"format": FORMAT, "name": name, "target": target, "base_model": run["base_model"],
                    "version": version, "tasks": tasks, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        first = next(iter(tasks), None)  # the task of the card's usage lines
        head_type = heads_type(list(used[first].values())) if first else "tagging"
        (tmp / "README.md").write_text(_model_card(manifest, recipe, metrics, folders, head_type, delta), encoding="utf-8")
        manifest["files"] = {rel: sha256_file(tmp / rel) for rel in _files(tmp)}
        write_json(tmp / MANIFEST, manifest)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def verify(artifact_dir: str | Path) -> dict:
    """Check an artifact folder against its manifest and return the manifest.

    Raises:
        ArtifactError: no or malformed manifest, unsafe or unknown name/version, a listed file
            missing or with a different sha256 (tampered), an unlisted file, a link, a listed
            path that is absolute or contains ``..``.
    """
    root = Path(artifact_dir)
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{root} has no {MANIFEST}; not a UniBridge artifact") from None
    except ValueError as e:
        raise ArtifactError(f"{root / MANIFEST} is not valid JSON ({e})") from None
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise ArtifactError(f"{root / MANIFEST}: unsupported format {manifest.get('format')!r}")
    try:
        check_name(manifest.get("name", ""))
        check_name(str(manifest.get("target", "")), "target")
    except ConfigError as e:
        raise ArtifactError(f"{root / MANIFEST}: {e}") from None
    if not _VERSION.match(str(manifest.get("version", ""))):
        raise ArtifactError(f"{root / MANIFEST}: invalid version {manifest.get('version')!r}")
    for rel in manifest["files"]:
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts or not parts:
            raise ArtifactError(f"{root / MANIFEST}: file path {rel!r} leaves the artifact folder")
    present = set(_files(root))
    listed = set(manifest["files"])
    if listed - present:
        raise ArtifactError(f"{root}: missing file(s) {sorted(listed - present)[:5]}")
    if present - listed:
        raise ArtifactError(f"{root}: file(s) not in the manifest {sorted(present - listed)[:5]}")
    for rel, digest in manifest["files"].items():
        if sha256_file(root / rel) != digest:
            raise ArtifactError(f"{root}: checksum mismatch for '{rel}' (tampered or corrupted); refusing to load")
    return manifest


def default_hub_dir() -> Path:
    """The local hub: ``$UNIBRIDGE_HUB`` if set, else ``hub/`` under UniBridge's cache
    (:func:`~unibridge.backbones.cache_root`: ``$UNIBRIDGE_CACHE`` or the user cache folder), so
    installing never writes into a source tree. Not created here."""
    env = os.environ.get("UNIBRIDGE_HUB")
    if env:
        return Path(env).expanduser()
    from ..backbones import cache_root

    return cache_root() / "hub"


def _index(hub: Path) -> dict:
    f = hub / "index.json"
    return read_json(f) if f.is_file() else {"artifacts": []}


def _version_key(v: str) -> tuple:
    return tuple(int(x) for x in v.split("."))


def copy_verified(src: str | Path, dest: Path) -> Path:
    """Copy artifact ``src`` to ``dest`` under a temporary name beside it, verify the copy, then
    rename it into place (replacing ``dest``); on any failure nothing is left behind."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
        verify(tmp)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def install(artifact_dir: str | Path, hub_dir: str | Path | None = None, *, force: bool = False) -> Path:
    """Verify an artifact and copy it to ``<hub>/<target>/<name>-<version>``, then index it.

    The copy is made under a temporary name, verified again and renamed into place, so an
    interrupted install leaves no half-written artifact; the index is rewritten atomically.
    Raises ArtifactError (verification) or ConfigError (already installed without ``force``).
    """
    manifest = verify(artifact_dir)
    hub = Path(hub_dir) if hub_dir is not None else default_hub_dir()
    dest = hub / manifest["target"] / f"{manifest['name']}-{manifest['version']}"
    if dest.resolve().parent.parent != hub.resolve():
        raise ArtifactError(f"artifact name {manifest['name']!r} would leave the hub folder")
    if dest.exists() and not force:
        raise ConfigError(f"{dest} is already installed (use force to replace it)")
    copy_verified(artifact_dir, dest)
    index = _index(hub)
    entry = {k: manifest[k] for k in ("name", "target", "base_model", "version")}
    entry["tasks"] = sorted(manifest["tasks"])
    entry["path"] = dest.relative_to(hub).as_posix()
    index["artifacts"] = [a for a in index["artifacts"]
                          if (a["name"], a["version"]) != (entry["name"], entry["version"])] + [entry]
    index["artifacts"].sort(key=lambda a: (a["target"], a["name"], _version_key(a["version"])))
    write_json(hub / "index.json", index)
    return dest


def list_artifacts(hub_dir: str | Path | None = None, *, target: str | None = None, task: str | None = None,
                   base_model: str | None = None) -> list[dict]:
    """Index entries of the hub, filtered; sorted by target, name, version (ascending)."""
    hub = Path(hub_dir) if hub_dir is not None else default_hub_dir()
    out = []
    for a in _index(hub)["artifacts"]:
        if (target is None or a["target"] == target) and (task is None or task in a["tasks"]) and \
                (base_model is None or a["base_model"] == base_model):
            out.append(a)
    return out


def find_installed(target: str, hub_dir: str | Path | None = None, *, version: str | None = None,
                   task: str | None = None) -> Path | None:
    """Folder of the newest (or the given ``version``) installed artifact of ``target``,
    verified against its manifest; None when the hub has none. Raises ArtifactError if the
    installed files were altered."""
    hub = Path(hub_dir) if hub_dir is not None else default_hub_dir()
    found = [a for a in list_artifacts(hub, target=target, task=task) if version is None or a["version"] == version]
    if not found:
        return None
    best = max(found, key=lambda a: _version_key(a["version"]))
    folder = hub / best["path"]
    if folder.resolve().parent.parent != hub.resolve():
        raise ArtifactError(f"hub index entry {best['path']!r} leaves the hub folder")
    verify(folder)
    return folder
