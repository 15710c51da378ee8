"""Layout of a run directory: where each stage writes its artifact, and atomic writes.

::

    <run>/run.json                     recipe, base model, per-stage wall time
    <run>/vocab/                       tokenizer (save_pretrained), spm.model, search.json, alp_curve.png
    <run>/embeddings/                  embeddings.safetensors (initial E_T), report.json, pca.png,
                                       tokenizer/ (only for vocabulary augmentation, ``va``)
    <run>/adaptation/                  adapter/ (language adapter), embeddings.safetensors (trained E_T),
                                       mlm_head.safetensors, head.json (fitted head),
                                       history.json, diagnostics.json
    <run>/sources/<lang>/              adapter/ (source language adapter), history.json
    <run>/tasks/<task>/<lang>/         adapter/ (task adapter + head), history.json
    <run>/harmony/weights.json         harmony weights and distances per source
    <run>/evaluation/results.json      scores on the target test sets

Every stage directory is written under a temporary name and renamed into place when complete,
with a ``stage.json`` marker carrying the fingerprint of the settings that produced it; a stage
whose marker matches is skipped on the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from .errors import ConfigError, DataError

MARKER = "stage.json"


def default_run_dir(target: str) -> Path:
    """``$UNIBRIDGE_RUNS/<target>`` if the variable is set, else ``./runs/<target>``."""
    root = os.environ.get("UNIBRIDGE_RUNS")
    return (Path(root) if root else Path("runs")) / target


def target_tokenizer_dir(run_dir: str | Path) -> Path:
    """Folder of the tokenizer the target embeddings index: ``embeddings/tokenizer`` when the
    initializer built its own vocabulary (vocabulary augmentation), else ``vocab/tokenizer``."""
    run_dir = Path(run_dir)
    augmented = run_dir / "embeddings" / "tokenizer"
    return augmented if (augmented / "tokenizer_config.json").is_file() else run_dir / "vocab" / "tokenizer"


EMBEDDINGS = "embeddings.safetensors"
EMBEDDING_DELTA = "embeddings-delta.safetensors"


def embedding_delta(trained, base) -> dict | None:
    """The target embeddings ``trained`` (V_T, d) as the rows that differ from the base model's
    ``base`` (V_S, d): ``{"index": (n,) int64 ascending, "rows": (n, d) float32}``, every row
    past V_S included. None where they do not share the base's rows: another ``d``, or half or
    more of the first min(V_T, V_S) rows changed (a replaced vocabulary). With vocabulary
    augmentation (``va``) the target keeps the base's 250k rows and appends about a hundred, and
    training moves only the rows its text reaches: a few thousand rows instead of 384 MB."""
    import torch

    if trained.ndim != 2 or base.ndim != 2 or trained.shape[1] != base.shape[1]:
        return None
    shared = min(trained.shape[0], base.shape[0])
    changed = (trained[:shared] != base[:shared].to(trained.dtype)).any(dim=1)
    if int(changed.sum()) * 2 >= shared:
        return None
    index = torch.cat([changed.nonzero().flatten(), torch.arange(shared, trained.shape[0])]).to(torch.int64)
    return {"index": index.contiguous(), "rows": trained[index].to(torch.float32).contiguous()}


def apply_embedding_delta(delta: dict, base, n_rows: int):
    """The (n_rows, d) float32 matrix that :func:`embedding_delta` stored as ``delta``: the first
    n_rows of ``base`` (V_S, d) with the stored rows put in. Raises DataError when the rows'
    width is not ``d``, an index is outside [0, n_rows), or the rows past V_S are not all stored."""
    import torch

    index, rows = delta["index"].to(torch.int64), delta["rows"]
    d = base.shape[1]
    if rows.ndim != 2 or rows.shape[1] != d or rows.shape[0] != index.numel():
        raise DataError(f"embedding delta of {tuple(rows.shape)} rows for {index.numel()} indices does not fit "
                        f"a base of width {d}")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n_rows):
        raise DataError(f"embedding delta indexes rows outside [0, {n_rows})")
    out = torch.zeros(n_rows, d, dtype=torch.float32)
    shared = min(n_rows, base.shape[0])
    out[:shared] = base[:shared].to(torch.float32)
    filled = torch.zeros(n_rows, dtype=torch.bool)
    filled[:shared] = True
    out[index] = rows.to(torch.float32)
    filled[index] = True
    if not bool(filled.all()):
        raise DataError(f"embedding delta leaves rows past the base's {base.shape[0]} unset")
    return out


def base_rows_digest(base, n_rows: int) -> str:
    """sha256 (hex) of the first min(n_rows, V_S) rows of ``base`` as float32 bytes: what an
    embedding delta was taken against."""
    import torch

    rows = base[: min(n_rows, base.shape[0])].detach().to(torch.float32).contiguous().cpu()
    return hashlib.sha256(rows.numpy().tobytes()).hexdigest()


def read_target_embeddings(folder: str | Path, base) -> "torch.Tensor":  # noqa: F821
    """The target embeddings (V_T, d) float32 in ``folder``: ``embeddings.safetensors``
    (``{"weight": ...}``), else ``embeddings-delta.safetensors`` (:func:`embedding_delta`, with
    ``n_rows`` and ``base_sha256`` in its metadata) put onto ``base()``, a callable giving the base
    model's input embeddings (V_S, d), called only for a delta. Raises DataError when neither
    file is there or the delta was taken against other base embeddings."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    folder = Path(folder)
    if (folder / EMBEDDINGS).is_file():
        return load_file(str(folder / EMBEDDINGS))["weight"]
    path = folder / EMBEDDING_DELTA
    if not path.is_file():
        raise DataError(f"{folder} holds no target embeddings ({EMBEDDINGS} or {EMBEDDING_DELTA})")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
        delta = {k: f.get_tensor(k) for k in ("index", "rows")}
    n_rows, base_w = int(meta["n_rows"]), base()
    if base_rows_digest(base_w, n_rows) != meta.get("base_sha256"):
        raise DataError(f"{path}: these embeddings were stored as changes to other base embeddings than this "
                        "model's; load them on the base model they were trained on")
    return apply_embedding_delta(delta, base_w, n_rows)


def write_embedding_delta(path: str | Path, delta: dict, base, n_rows: int) -> None:
    """Write :func:`embedding_delta`'s ``delta`` of an (n_rows, d) matrix to ``path`` (safetensors,
    with ``n_rows`` and the base rows' :func:`base_rows_digest` as metadata), atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(delta, str(tmp), metadata={"n_rows": str(n_rows), "base_sha256": base_rows_digest(base, n_rows)})
    os.replace(tmp, path)


DEV_RECORD = "dev.json"
"""A task adapter's score on its source's own dev split, written next to its ``adapter/``
(:func:`~unibridge.tasks.stage.adapt_task`)."""


def dev_record(folder: str | Path) -> dict | None:
    """The dev record of the finished task adapter stage at ``folder``
    (:func:`~unibridge.tasks.stage.adapt_task`), or
    None where it has none (adapters trained before dev scores were kept)."""
    f = Path(folder) / DEV_RECORD
    return read_json(f) if f.is_file() else None


def passes_floor(folder: str | Path) -> bool:
    """False only where the task adapter at ``folder`` was held to a floor and missed it."""
    rec = dev_record(folder)
    return rec is None or rec.get("passed") is not False


def sources_above_floor(folders: dict[str, Path]) -> list[str]:
    """The sources (keys of ``folders``: source -> its task adapter's stage folder, in order)
    whose task adapter did not miss its floor (:func:`passes_floor`); all of them if every one
    missed it (a prediction needs a source)."""
    kept = [s for s, f in folders.items() if passes_floor(f)]
    return kept or list(folders)


def task_adapter_folder(on_source: bool) -> str:
    """The run folder holding one kind of task adapters: ``tasks`` for those trained stacked on
    their source's language adapter, ``tasks-base`` for those trained on the bare base model."""
    return "tasks" if on_source else "tasks-base"


def task_adapter_dir(run_dir: str | Path, task: str, lang: str, on_source: bool = True) -> Path:
    """Folder of source ``lang``'s ``task`` adapter (the stage; the adapter is its ``adapter/``):
    ``<task_adapter_folder>/<task>/<lang>``."""
    return Path(run_dir) / task_adapter_folder(on_source) / task / lang


def task_adapters_on_source(run_dir: str | Path, task: str) -> bool:
    """Which kind of ``task`` adapters the finished run at ``run_dir`` predicts with (True: those
    stacked on their source language adapters): the recipe's ``task.source_language_adapter``,
    or under ``choose`` the kind the harmony stage chose (``harmony/weights.json``)."""
    run_dir = Path(run_dir)
    setting = read_json(run_dir / "run.json")["recipe"].get("task", {}).get("source_language_adapter", True)
    if setting != "choose":
        return bool(setting)
    stored = read_json(run_dir / "harmony" / "weights.json")
    return bool(((stored.get("tasks") or {}).get(task) or stored)["source_language_adapter"])


def used_task_adapter_dir(run_dir: str | Path, task: str, lang: str) -> Path:
    """:func:`task_adapter_dir` of the kind the finished run predicts with (:func:`task_adapters_on_source`)."""
    return task_adapter_dir(run_dir, task, lang, task_adapters_on_source(run_dir, task))


def stage_done(path: Path, fingerprint: str) -> bool:
    """True if ``path`` holds a finished stage produced with ``fingerprint``."""
    m = path / MARKER
    if not m.is_file():
        return False
    try:
        return json.loads(m.read_text())["fingerprint"] == fingerprint
    except (ValueError, KeyError):
        return False


@contextlib.contextmanager
def stage_dir(path: Path, fingerprint: str, meta: dict | None = None):
    """Yield a temporary directory beside ``path`` (``.<name>.<pid>.<random>.tmp``); on success
    write the marker and rename it to ``path`` (replacing an older version); on error or interrupt
    remove it, leaving ``path`` untouched (what a killed process leaves, :func:`sweep_temp` removes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        write_json(tmp / MARKER, {"fingerprint": fingerprint, **(meta or {})})
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _cache_entry(cache: Path, kind: str, fingerprint: str) -> Path:
    return cache / f"{kind}-{hashlib.sha256(fingerprint.encode()).hexdigest()[:20]}"


def restore_stage(path: Path, fingerprint: str, cache: Path | None, kind: str) -> bool:
    """Copy a finished stage with ``fingerprint`` from the shared stage cache into ``path``.

    ``cache`` is a folder shared by several run directories (the transfer grid's configurations
    and seeds); entries are ``<cache>/<kind>-<hash of fingerprint>/``. Returns True if ``path``
    now holds the stage (already there, or copied atomically), False if the cache lacks it.
    """
    if stage_done(path, fingerprint):
        return True
    src = _cache_entry(cache, kind, fingerprint) if cache is not None else None
    if src is None or not stage_done(src, fingerprint):
        return False
    with stage_dir(path, fingerprint) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
    return True


def share_stage(path: Path, fingerprint: str, cache: Path | None, kind: str) -> None:
    """Copy the finished stage at ``path`` into the shared stage cache (no-op without a cache or
    when the cache has it)."""
    if cache is None or stage_done(_cache_entry(cache, kind, fingerprint), fingerprint):
        return
    with stage_dir(_cache_entry(cache, kind, fingerprint), fingerprint) as tmp:
        shutil.copytree(path, tmp, dirs_exist_ok=True)


def write_json(path: Path, data) -> None:
    """Write JSON atomically (temporary file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
    os.replace(tmp, path)


def jsonable(x):
    """``x`` made JSON-ready: dict keys as str, tuples as lists, small tensors as lists (larger
    ones as ``"tensor(shape)"``), other objects as ``str``."""
    import torch

    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, torch.Tensor):
        return x.tolist() if x.numel() < 64 else f"tensor{tuple(x.shape)}"
    return x if isinstance(x, (int, float, str, bool, type(None))) else str(x)


def read_json(path: Path):
    """The JSON document in ``path``. Raises DataError naming the file if it is not JSON (a
    damaged run record or manifest), OSError if it cannot be read."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is damaged: not a JSON document ({e}); remove it or the folder that "
                        "holds it") from None


@contextlib.contextmanager
def run_lock(run_dir: str | Path):
    """Hold the exclusive lock of run directory ``run_dir`` (created) for the block.

    A second process that asks for it fails at once: ConfigError "run directory ... is in use
    by process N". The lock (``.lock``, with the holder's pid in ``.lock.pid``) is released when
    the block ends or the process dies. Raises ConfigError if ``run_dir`` is a file or cannot be
    written.
    """
    from filelock import FileLock, Timeout

    d = Path(run_dir)
    if d.exists() and not d.is_dir():
        raise ConfigError(f"run directory {d} is a file, not a folder")
    try:
        d.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(d / ".lock"))
        lock.acquire(timeout=0)
    except Timeout:
        pid = (d / ".lock.pid").read_text().strip() if (d / ".lock.pid").is_file() else "?"
        raise ConfigError(f"run directory {d} is in use by process {pid}; wait for it or use another "
                          "--run-dir") from None
    except PermissionError as e:
        raise ConfigError(f"run directory {d} cannot be written ({e.strerror})") from None
    try:
        (d / ".lock.pid").write_text(str(os.getpid()))
        yield d
    finally:
        lock.release()


_TEMP = re.compile(r"^\..+?\.(?:(?P<pid>\d+)\.[^.]+\.tmp|[^.]+\.tmp|old)$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_temp(run_dir: str | Path) -> list[Path]:
    """Remove the temporary stage folders a dead process left anywhere under ``run_dir``
    (``.<name>.<pid>.<random>.tmp`` whose process is gone, ``.<name>.<random>.tmp`` of older
    versions, ``.<name>.old``); those of a live process (this one included) stay. Call it holding
    the run's lock (:func:`run_lock`), so no other run writes there. Returns the folders removed."""
    gone = []
    for parent, dirs, _ in os.walk(run_dir):
        for name in list(dirs):
            m = _TEMP.match(name)
            if m and not (m.group("pid") and _alive(int(m.group("pid")))):
                shutil.rmtree(Path(parent) / name, ignore_errors=True)
                gone.append(Path(parent) / name)
                dirs.remove(name)
    return gone


def check_run_target(run_dir: str | Path, target: str, what: str = "this recipe") -> None:
    """Raise ConfigError if run directory ``run_dir`` holds a run for a target other than
    ``target`` (its ``run.json``); a folder without a run record passes."""
    f = Path(run_dir) / "run.json"
    held = read_json(f).get("target") if f.is_file() else None
    if held is not None and held != target:
        raise ConfigError(f"run directory {run_dir} holds the run for target '{held}', but {what} is for "
                          f"'{target}'; use another --run-dir")

