"""The backbone's MLM head: one per backbone, the same for every recipe, source and target.

me5-small ships no MLM head, yet every language adapter trains against one (its transform starts
the head each language fits, :func:`~unibridge.adaptation.head.prepare_head`). That head belongs to
the backbone, not to a run: it is fitted once, on a fixed multilingual text that no recipe
changes (:func:`head_text`, FLORES-200 devtest of every language the data root holds, without the
SIB-200 test sentences), for a fixed schedule (:data:`HEAD_STEPS` steps), and found in this order:

1. a head saved with the backbone, in ``<backbone folder>/unibridge-mlm-head/`` (a user's own
   backbone, the tests' tiny ones);
2. the head shipped for a named backbone, ``adapters_hub/heads/<name>/`` (me5-small), used only
   when its record of the backbone's embedding matrix matches the loaded one;
3. the machine cache, ``<cache>/heads/<folder name>-<backbone identity>-<settings digest>/``,
   where it is fitted and saved the first time.

A head folder holds ``mlm_head.safetensors`` (dense, LayerNorm and output bias; the decoder stays
tied to the backbone's frozen embeddings and is not stored) and ``head.json`` (format, backbone,
the file's sha256, the fit's report). The file's digest (:attr:`BackboneHead.digest`) enters the
fingerprint of every adapter trained against the head, so a run never restores an adapter
trained against another head.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data.digest import sha256_file
from .head import HEAD_FILE, fit_mlm_head, unigram_log_prior
from .model import MLMHead

FORMAT = "unibridge-head/1"
RECORD = "head.json"
HEAD_FOLDER = "unibridge-mlm-head"
"""Folder inside a backbone's model folder that holds a head saved with that backbone."""
SHIPPED_HEADS = Path(__file__).resolve().parents[2] / "adapters_hub" / "heads"
HEAD_TEXT = "parallel/flores200_devtest/devtest/*.devtest"
"""The fixed multilingual text heads are fitted on (under the data root), less :data:`HELD_OUT_TEXT`."""
HELD_OUT_TEXT = "sib200/*/test.tsv"
"""Test sentences that never enter a head's text: SIB-200's test split is made of FLORES-200 sentences."""
HEAD_STEPS = 600
HEAD_BATCH_SIZE = 32
HEAD_MAX_LENGTH = 64
HEAD_HELDOUT_LINES = 256


@dataclass
class BackboneHead:
    """A backbone's frozen MLM head (decoder tied to the backbone's own embeddings) and where it
    came from: ``origin`` is ``"backbone folder"``, ``"shipped"``, ``"cache"`` or ``"fitted"``;
    ``digest`` the first 16 hex digits of the sha256 of its ``mlm_head.safetensors``; ``report``
    the fit's record (held-out masked-token accuracy in %, loss in nats, steps, lines)."""

    head: MLMHead
    digest: str
    origin: str
    folder: Path
    report: dict = field(default_factory=dict)


def embedding_digest(model) -> str:
    """sha256 (first 16 hex digits) of the bytes of ``model``'s input embedding matrix (V, d),
    whatever its storage: names the exact backbone weights a shipped head was fitted on."""
    import numpy as np

    w = model.get_input_embeddings().weight.detach().to(torch.float32).cpu().contiguous().numpy()
    return hashlib.sha256(np.ascontiguousarray(w).data).hexdigest()[:16]


def head_text() -> list[str]:
    """The fixed text backbone heads are fitted on: every line of the FLORES-200 devtest files
    under the data root (:data:`HEAD_TEXT`, 24 languages, 1,012 aligned lines each) except the
    lines whose text, in any language, is a SIB-200 test sentence (:data:`HELD_OUT_TEXT`); the
    devtest files are line-aligned, so such a line is left out in every language. Returns the
    lines file by file in name order; [] when the data root holds no devtest file."""
    from ..data import resolve_data_paths
    from ..errors import DataError

    try:
        files = sorted(resolve_data_paths(HEAD_TEXT))
    except DataError:
        return []
    held: set[str] = set()
    try:
        for f in resolve_data_paths(HELD_OUT_TEXT):
            for row in Path(f).read_text(encoding="utf-8").splitlines()[1:]:
                parts = row.split("\t")
                if len(parts) >= 3:
                    held.add(parts[2].strip())
    except DataError:
        pass
    per_file = [Path(f).read_text(encoding="utf-8").splitlines() for f in files]
    drop = {i for lines in per_file for i, t in enumerate(lines) if t.strip() in held}
    return [t for lines in per_file for i, t in enumerate(lines) if i not in drop and t.strip()]


def fit_backbone_head(model, tokenizer, texts: list[str], *, steps: int = HEAD_STEPS,
                      batch_size: int = HEAD_BATCH_SIZE, max_length: int = HEAD_MAX_LENGTH,
                      heldout_lines: int = HEAD_HELDOUT_LINES, seed: int = 0) -> tuple[MLMHead, dict]:
    """Fit a head on the model's active embeddings (its own, ``"default"``) over ``texts``.

    A seeded shuffle sets ``min(heldout_lines, 5%)`` of the lines aside; the output bias starts at
    the log unigram frequencies of the rest (:func:`~unibridge.adaptation.head.unigram_log_prior`)
    and :func:`~unibridge.adaptation.head.fit_mlm_head` fits dense, LayerNorm and bias for
    ``steps`` steps. Returns ``(frozen head, report)``, the report with held-out masked-token
    accuracy (%) and loss (nats), ``lines`` and ``heldout_lines``. Raises ValueError without text.
    """
    lines = [t for t in texts if t.strip()]
    if not lines:
        raise ValueError("no text to fit the backbone MLM head on")
    emb = model.get_input_embeddings()
    head = MLMHead(emb, getattr(model.config, "layer_norm_eps", 1e-12))
    order = torch.randperm(len(lines), generator=torch.Generator().manual_seed(seed)).tolist()
    n_held = min(heldout_lines, max(1, len(lines) // 20)) if heldout_lines > 0 and len(lines) > 1 else 0
    held = [lines[i] for i in order[:n_held]]
    train = [lines[i] for i in order[n_held:]]
    with torch.no_grad():
        head.bias.copy_(unigram_log_prior(tokenizer, train, emb.num_embeddings))
    report = fit_mlm_head(model, head, tokenizer, train, steps=steps, batch_size=batch_size, max_length=max_length,
                          heldout=held or None, seed=seed)
    report.update(lines=len(train), heldout_lines=len(held), batch_size=batch_size, max_length=max_length)
    return head.freeze(), report


def save_head(folder: str | Path, head: MLMHead, report: dict, *, backbone: str, embeddings: str) -> str:
    """Write ``head`` (dense, norm, bias) and its record into ``folder`` atomically (a sibling
    temp folder renamed into place; an existing folder is replaced). ``backbone``: the backbone's
    name; ``embeddings``: :func:`embedding_digest` of the model it was fitted on. Returns the
    head's digest (16 hex digits)."""
    from safetensors.torch import save_file

    from ..artifacts import write_json

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in head.state_dict().items()
             if k in ("dense.weight", "dense.bias", "norm.weight", "norm.bias", "bias")}
    save_file(state, str(tmp / HEAD_FILE))
    sha = sha256_file(tmp / HEAD_FILE)
    write_json(tmp / RECORD, {"format": FORMAT, "backbone": backbone, "embeddings": embeddings,
                              "files": {HEAD_FILE: sha}, "report": report})
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return sha[:16]


def verify_head(folder: str | Path) -> dict:
    """Check a head folder's record and file checksum without a model; returns the record with
    ``digest`` added. Raises ArtifactError as :func:`load_head` does for those checks."""
    from ..hub.artifact import ArtifactError

    folder = Path(folder)
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{folder}: no readable {RECORD} ({e})") from None
    if record.get("format") != FORMAT:
        raise ArtifactError(f"{folder / RECORD}: unsupported format {record.get('format')!r}")
    f = folder / HEAD_FILE
    sha = sha256_file(f) if f.is_file() else None
    if sha is None or sha != record.get("files", {}).get(HEAD_FILE):
        raise ArtifactError(f"{folder}: '{HEAD_FILE}' is missing or differs from its checksum; refusing to load it")
    return {**record, "digest": sha[:16]}


def load_head(folder: str | Path, model, *, origin: str) -> BackboneHead:
    """The head saved in ``folder``, tied to ``model``'s active embeddings, frozen.

    Raises:
        ArtifactError: no record, an unknown format, a file that differs from its sha256, or a
            head whose shapes do not fit the model's embeddings (V, d).
    """
    from safetensors.torch import load_file

    from ..hub.artifact import ArtifactError

    folder = Path(folder)
    record = verify_head(folder)
    emb = model.get_input_embeddings()
    state = load_file(str(folder / HEAD_FILE))
    V, d = emb.num_embeddings, emb.embedding_dim
    if tuple(state["bias"].shape) != (V,) or tuple(state["dense.weight"].shape) != (d, d):
        raise ArtifactError(f"{folder}: a head for {tuple(state['bias'].shape)[0]} pieces and hidden size "
                            f"{state['dense.weight'].shape[0]} does not fit a backbone with {V} x {d} embeddings")
    head = MLMHead(emb, getattr(model.config, "layer_norm_eps", 1e-12))
    head.load_state_dict(state)
    return BackboneHead(head.freeze(), record["digest"], origin, folder, record.get("report", {}))


def backbone_identity(base_dir: str | Path) -> str:
    """A short digest naming a backbone folder's weights (path, config and weight files' sizes
    and modification times), so that two backbones never share a cached head."""
    base = Path(base_dir).resolve()
    parts = [str(base)]
    for f in sorted(base.glob("*")):
        if f.suffix in (".json", ".safetensors", ".bin"):
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{int(st.st_mtime)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def _settings_digest(texts: list[str]) -> str:
    return hashlib.sha256(json.dumps({
        "texts": hashlib.sha256("\n".join(texts).encode()).hexdigest(), "steps": HEAD_STEPS,
        "batch_size": HEAD_BATCH_SIZE, "max_length": HEAD_MAX_LENGTH, "heldout_lines": HEAD_HELDOUT_LINES,
        "v": 2}).encode()).hexdigest()[:16]


def backbone_head(model, tokenizer, base_model: str, base_dir: str | Path, *, cache_dir: str | Path | None = None,
                  shipped: str | Path | None = SHIPPED_HEADS, say=None) -> BackboneHead:
    """The backbone's MLM head, found or fitted as the module docstring says.

    ``base_model``: the recipe's backbone name (``"me5-small"``, a folder, a hub id);
    ``base_dir``: its resolved folder; the model's active embeddings are set to ``"default"``
    while the head is loaded or fitted and restored afterwards. ``say``: called with a line
    before a fit starts. Raises ArtifactError for a damaged head folder and ValueError when a
    head must be fitted but the data root holds no :data:`HEAD_TEXT`.
    """
    from ..backbones import cache_root

    base_dir = Path(base_dir)
    saved = getattr(model, "active_embeddings", None)
    if saved is not None:
        model.set_active_embeddings("default")
    try:
        if (base_dir / HEAD_FOLDER / RECORD).is_file():
            return load_head(base_dir / HEAD_FOLDER, model, origin="backbone folder")
        name = str(base_model).strip()
        if shipped is not None and "/" not in name and (Path(shipped) / name / RECORD).is_file():
            record = verify_head(Path(shipped) / name)
            if record.get("embeddings") == embedding_digest(model):
                return load_head(Path(shipped) / name, model, origin="shipped")
            if say:
                say(f"shipped MLM head not used: {Path(shipped) / name}: fitted on other {record.get('backbone')} "
                    f"weights (embeddings {record.get('embeddings')}, loaded {embedding_digest(model)})")
        texts = head_text()
        if not texts:
            raise ValueError(f"no text to fit the backbone MLM head on: the data root holds no {HEAD_TEXT}")
        folder = (Path(cache_dir or cache_root()) / "heads"
                  / f"{base_dir.name}-{backbone_identity(base_dir)}-{_settings_digest(texts)}")
        if (folder / RECORD).is_file():
            return load_head(folder, model, origin="cache")
        if say:
            say(f"backbone MLM head: fitting {HEAD_STEPS} steps on {len(texts)} lines (once per backbone, "
                f"cached in {folder.parent})")
        head, report = fit_backbone_head(model, tokenizer, texts, steps=HEAD_STEPS)
        save_head(folder, head, report, backbone=name, embeddings=embedding_digest(model))
        return load_head(folder, model, origin="fitted")
    finally:
        if saved is not None:
            model.set_active_embeddings(saved)
