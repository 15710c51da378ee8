"""Shipped source adapters: the source language adapters and task adapters of a backbone, which
are the same for every target and user, packed once and restored instead of retrained.

A shipped folder holds one sub-folder per adapter, named as the stage cache names them
(``source-<lang>``, ``task-<task>-<lang>``) plus a short hash of its fingerprint, and a
``manifest.json``: ``{"format": "unibridge-sources/1", "entries": {folder: {"kind",
"fingerprint", "files": {path: sha256}, "dev": {"metric", "score", "n_dev", "floor", "passed"}}}}``
(``dev``: a task adapter's score on its source's own dev split, :func:`~unibridge.tasks.stage.adapt_task`). The pipeline's ``sources`` stage restores an entry
whose fingerprint (backbone, seed, source data contents, settings) equals the one it would
train (:meth:`~unibridge.pipeline.Pipeline.source_fingerprint`), after checking every file's
sha256; anything else is trained. Weights are stored as float16 safetensors (loaded into the
float32 model); the MLM head used only during training is left out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path

from ..artifacts import DEV_RECORD, MARKER, passes_floor, read_json, stage_dir, stage_done, task_adapter_folder, write_json
from ..errors import ConfigError
from .artifact import ArtifactError, sha256_file

log = logging.getLogger("unibridge")

FORMAT = "unibridge-sources/1"
MANIFEST = "manifest.json"
SHIPPED_SOURCES = Path(__file__).resolve().parents[2] / "adapters_hub" / "sources"
_LEFT_OUT = {"mlm_head.safetensors"}
SHIPPED_MARK = "shipped.json"
"""Written into an adapter restored from the shipped ones (where it came from)."""


def entry_name(kind: str, fingerprint: str) -> str:
    """Folder name of a shipped adapter: ``{kind}-{first 12 hex digits of sha256(fingerprint)}``."""
    return f"{kind}-{hashlib.sha256(fingerprint.encode()).hexdigest()[:12]}"


def _half_copy(src: Path, dst: Path, half: bool) -> None:
    """Copy ``src`` to ``dst``; safetensors files have their float32 tensors stored as float16."""
    if src.suffix != ".safetensors" or not half:
        shutil.copyfile(src, dst)
        return
    import torch
    from safetensors.torch import load_file, save_file

    state = load_file(str(src))
    save_file({k: (v.half() if v.dtype == torch.float32 else v).contiguous() for k, v in state.items()}, str(dst))


def pack_sources(run_dir: str | Path, out_dir: str | Path = SHIPPED_SOURCES, *, half: bool = True) -> dict:
    """Pack the finished source language adapters (``sources/<lang>``) and task adapters
    (``tasks/<task>/<lang>``, ``tasks-base/<task>/<lang>``) of ``run_dir`` into ``out_dir`` (merged with what it holds; an
    entry with the same kind and fingerprint is replaced).

    Adapters the run restored from shipped ones (``shipped.json``) are not packed again. A task
    adapter that missed its floor on its source's dev split is packed with that record (``dev``
    in the manifest, ``passed: false``; a warning names it): a run restores it instead of
    spending the floor's retraining on it again, and leaves it out of harmony as it would a
    fresh one. Returns the manifest. Raises ConfigError if ``run_dir`` holds no finished source
    adapter it trained.
    """
    run = Path(run_dir)
    found = [(f"source-{d.name}", d) for d in sorted((run / "sources").glob("*")) if (d / MARKER).is_file()]
    found += [(f"task-{d.parent.name}-{d.name}", d) for root in map(task_adapter_folder, (True, False))
              for d in sorted((run / root).glob("*/*")) if (d / MARKER).is_file()]
    found = [(k, d) for k, d in found if not (d / SHIPPED_MARK).is_file()]  # restored ones are shipped already
    for k, d in found:
        if not passes_floor(d):  # shipped with its record, so runs restore it rather than train it again
            rec = read_json(d / DEV_RECORD)
            log.warning(f"{d}: its dev {rec['metric']} {rec['score']:.3f} is below its floor {rec['floor']:g}; packed "
                        "with that record, so runs restore it and leave it out of harmony")
    # the folder tells a task adapter trained on its source's language adapter (tasks) from one
    # trained on the bare base (tasks-base); their fingerprints differ, their kind does not
    if not found:
        raise ConfigError(f"{run} holds no finished source adapter (sources/<lang>, tasks/<task>/<lang>)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_json(out / MANIFEST) if (out / MANIFEST).is_file() else {"format": FORMAT, "entries": {}}
    for kind, d in found:
        fp = read_json(d / MARKER)["fingerprint"]
        for old in [k for k, e in manifest["entries"].items() if e["kind"] == kind and e["fingerprint"] == fp]:
            shutil.rmtree(out / old, ignore_errors=True)
            del manifest["entries"][old]
        name = entry_name(kind, fp)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out))
        files = {}
        for p in sorted(d.rglob("*")):
            rel = p.relative_to(d).as_posix()
            if not p.is_file() or p.name in _LEFT_OUT or rel.startswith("trainer/"):
                continue
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            _half_copy(p, tmp / rel, half)
            files[rel] = sha256_file(tmp / rel)
        shutil.rmtree(out / name, ignore_errors=True)
        tmp.rename(out / name)
        manifest["entries"][name] = {"kind": kind, "folder": d.relative_to(run).parts[0], "fingerprint": fp,
                                     "files": files}
        if (d / DEV_RECORD).is_file():  # a task adapter's score on its source's dev split, and its floor
            dev = read_json(d / DEV_RECORD)
            manifest["entries"][name]["dev"] = {k: dev.get(k) for k in ("metric", "score", "n_dev", "floor", "passed")}
    write_json(out / MANIFEST, manifest)
    return manifest


def restore_shipped(path: Path, fingerprint: str, kind: str, shipped: str | Path | None = SHIPPED_SOURCES) -> bool:
    """Restore the shipped adapter of ``kind`` with ``fingerprint`` into ``path`` (a finished
    stage). Returns False when ``shipped`` is None or holds no such entry.

    Raises:
        ArtifactError: the entry's files are missing or differ from their sha256 (nothing is
            written then).
    """
    if shipped is None or not (Path(shipped) / MANIFEST).is_file():
        return False
    if stage_done(path, fingerprint):
        return True
    root = Path(shipped)
    manifest = _manifest(root)
    name = entry_name(kind, fingerprint)
    entry = manifest.get("entries", {}).get(name)
    if entry is None or entry.get("fingerprint") != fingerprint or entry.get("kind") != kind:
        return False
    _check_entry(root, name, entry)
    with stage_dir(path, fingerprint) as tmp:
        for rel in entry["files"]:
            if rel == MARKER:
                continue
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / name / rel, tmp / rel)
        (tmp / SHIPPED_MARK).write_text(json.dumps({"from": str(root / name)}) + "\n")
    return True


def _manifest(root: Path) -> dict:
    try:
        manifest = read_json(root / MANIFEST)
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{root / MANIFEST}: not readable ({e})") from None
    if manifest.get("format") != FORMAT:
        raise ArtifactError(f"{root / MANIFEST}: unsupported format {manifest.get('format')!r}")
    return manifest


def _check_entry(root: Path, name: str, entry: dict) -> None:
    for rel, digest in entry["files"].items():
        f = root / name / rel
        if ".." in Path(rel).parts or not f.is_file() or sha256_file(f) != digest:
            raise ArtifactError(f"{root / name}: '{rel}' is missing or differs from its checksum; "
                                "refusing to load it (`unibridge hub pack-sources` rebuilds it)")


def is_sources_folder(folder: str | Path) -> bool:
    """True if ``folder`` has a manifest of the shipped-sources format."""
    try:
        return read_json(Path(folder) / MANIFEST).get("format") == FORMAT
    except (OSError, ValueError):
        return False


def verify_sources(folder: str | Path = SHIPPED_SOURCES) -> dict:
    """Check every entry of a shipped-sources folder against its manifest: each listed file present
    with its sha256, each entry's folder named by its kind and fingerprint (:func:`entry_name`), no
    adapter folder missing from the manifest. Returns the manifest.

    Raises:
        ArtifactError: an unreadable manifest or another format, a missing or changed file, an
            entry whose name does not match its fingerprint, or an unlisted adapter folder.
    """
    root = Path(folder)
    manifest = _manifest(root)
    entries = manifest.get("entries", {})
    for name, entry in entries.items():
        if name != entry_name(entry.get("kind", ""), entry.get("fingerprint", "")):
            raise ArtifactError(f"{root / MANIFEST}: entry '{name}' does not match its kind and fingerprint")
        _check_entry(root, name, entry)
    unlisted = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name not in entries)
    if unlisted:
        raise ArtifactError(f"{root}: adapter folder(s) not in the manifest {unlisted[:5]}")
    return manifest
