"""The recipe catalogue: which target recipes exist, what data each needs, which of it is here.

Target recipes are the ``*.yaml`` files of a recipe folder whose names do not start with ``_``
(``_base.yaml`` holds shared settings); ``sources/`` holds the source-language files they name.
:func:`recipe_status` reports, without fetching anything, each recipe's data as *here* (local
files that resolve under the data root), *hub* (Hugging Face dataset splits, fetched on first
use) or *missing*; :func:`recipe_table` renders the catalogue as the Markdown table of
``recipes/README.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .artifacts import read_json
from .config import Recipe
from .data.hf import HFDataRef
from .errors import DataError


@dataclass(frozen=True)
class RecipeStatus:
    """One recipe's data: ``here``/``hub``/``missing`` are lists of data entries (file names or
    :class:`HFDataRef`); ``scores`` maps task -> (metric, score in [0, 1]) of the last run found."""

    path: Path
    recipe: Recipe
    here: tuple
    hub: tuple
    missing: tuple
    scores: dict
    run: str | None = None


def recipe_files(folder: str | Path = "recipes") -> list[Path]:
    """Target recipes of ``folder``, sorted by name; raises DataError if there are none."""
    files = sorted(p for p in Path(folder).glob("*.yaml") if not p.name.startswith("_"))
    if not files:
        raise DataError(f"no recipes (*.yaml) in {folder}")
    return files


def data_entries(recipe: Recipe) -> list:
    """Every data entry a run of ``recipe`` reads, in order, without duplicates: target text, test
    sets, and per source its text, the training files of the recipe's tasks and the parallel
    sentences (``a|b`` names two files)."""
    out = [*recipe.mono, *(x for t in recipe.tasks.values() for x in t.test)]
    for s in recipe.sources.values():
        out += [*s.text, *(x for t in recipe.tasks for x in s.task_files(t))]
        out += [p for p in (s.parallel or "").split("|") if p]
    return list(dict.fromkeys(out))


def _grid_scores(f: Path) -> tuple[dict, str | None]:
    """UniBridge's scores in a transfer grid's results.json (mean over its seeds)."""
    rec = read_json(f)
    out = {t: (e["metric"], e["configs"]["unibridge"]["mean"]) for t, e in rec["tasks"].items()
           if "unibridge" in e["configs"]}
    return out, f"{rec['profile']} profile, {rec['base_model']}, {len(rec['seeds'])} seed(s)" if out else None


def _last_scores(run_dir: Path, strategy: str) -> tuple[dict, str | None]:
    f = run_dir / "evaluation" / "results.json"
    grid = run_dir.parent / "transfer" / run_dir.name / "results.json"
    if not f.is_file():
        return _grid_scores(grid) if grid.is_file() else ({}, None)
    res = json.loads(f.read_text(encoding="utf-8"))
    out = {}
    for task, r in res.items():
        s = r.get("strategies", {}).get(strategy)
        if s is not None:
            out[task] = (r["metric"], s[r["metric"]])
    info = run_dir / "run.json"
    if not (out and info.is_file()):
        return out, None
    run = json.loads(info.read_text(encoding="utf-8"))
    return out, f"{run.get('profile') or 'default'} profile, {run.get('base_model')}"


def recipe_status(path: str | Path, runs: str | Path | None = "runs") -> RecipeStatus:
    """Load ``path`` (no profile) and sort its data entries into here / hub / missing.

    Scores come from ``<runs>/<target>/evaluation/results.json`` (the recipe's weight strategy),
    else from the transfer grid's ``<runs>/transfer/<target>/results.json`` (UniBridge, mean
    over seeds). Raises ConfigError if the recipe is invalid.
    """
    from .data import resolve_data_paths

    recipe = Recipe.load(path)
    here, hub, missing = [], [], []
    for x in data_entries(recipe):
        if isinstance(x, HFDataRef):
            hub.append(x)
            continue
        try:
            resolve_data_paths(x)
            here.append(x)
        except DataError:
            missing.append(x)
    scores, run = _last_scores(Path(runs) / recipe.target, recipe.harmony.strategy) if runs else ({}, None)
    return RecipeStatus(Path(path), recipe, tuple(here), tuple(hub), tuple(missing), scores, run)


def _data_cell(st: RecipeStatus) -> str:
    parts = []
    if st.missing:
        parts.append("missing: " + ", ".join(f"`{m}`" for m in st.missing))
    if st.hub:
        parts.append("hub: " + ", ".join(sorted({h.hf + (f" {h.config}" if h.config else "") for h in st.hub})))
    return "; ".join(parts) or "all here"


def recipe_table(folder: str | Path = "recipes", runs: str | Path | None = None, recorded: dict | None = None) -> str:
    """The catalogue as a Markdown table: target, language, script, tasks, data, and the recorded
    UniBridge score on the current defaults (``recorded``: per target, per task ``(metric, mean,
    spread, zero-shot mean or None, seeds)``, :func:`unibridge.transfer.recorded_scores`), so the
    table is regenerated, never edited."""
    from .data import get_language

    recorded = recorded or {}
    rows = ["| recipe | language | script | tasks | data | UniBridge (zero-shot), cpu profile, docs/results.md |",
            "|---|---|---|---|---|---|"]
    for f in recipe_files(folder):
        st = recipe_status(f, runs)
        lang = get_language(st.recipe.target)
        cells = []
        for t, (m, mean, std, zs, n) in recorded.get(st.recipe.target, {}).items():
            spread = f" ± {100 * std:.1f}" if n > 1 and std is not None else ""
            cells.append(f"{t} {m} {100 * mean:.1f}{spread}" + (f" ({100 * zs:.1f})" if zs is not None else ""))
        rows.append(f"| [{f.stem}]({f.name}) | {lang.name} | {lang.script} | {', '.join(st.recipe.tasks)} | "
                    f"{_data_cell(st)} | {'; '.join(cells) or '—'} |")
    return "\n".join(rows)
