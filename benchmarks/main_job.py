"""Wall time of the main job: ``unibridge run recipes/amh.yaml`` from an empty run directory.

Three timings, each a fresh process on an empty run directory and no shared stage cache (the backbone
image, its fitted MLM head and hub datasets stay cached, as on any machine after the first run):

* ``cpu_s``: ``--profile cpu`` with the shipped source adapters (``adapters_hub/sources``)
  installed where their fingerprints match; sources without a shipped match are trained;
* ``retrain_s``: the same with ``--retrain-sources`` (every source adapter trained here), the
  baseline; ``ratio`` = retrain / shipped;
* ``smoke_s``: ``--profile smoke`` (the installation check).

``--quick`` times the smoke profile only (the two cpu-profile runs take most of an hour on 2
cores); ``--runs cpu`` (or any of smoke, cpu, retrain) times only those and keeps the other runs of
an earlier result of the same recipe, so a run can be re-measured alone. A run that had to build
something of the machine's cache (the backbone image, a backbone MLM head of its profile) is
marked ``cache_filled`` with what it added: its time includes that one-time cost.

    python benchmarks/main_job.py [--quick] [--runs cpu,retrain] [--recipe recipes/amh.yaml]

Writes benchmarks/results/main_job.json (per run: seconds, the stage times of its run.json, its
scores, when it ran); the last line printed is
``RESULT main_job cpu_s=... retrain_s=... smoke_s=... ratio=...`` (n/a for what was not run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
RUNS = {"smoke": ("smoke",), "cpu": ("cpu",), "retrain": ("cpu", "--retrain-sources")}


def timed_run(recipe: str, profile: str, *extra: str, work: Path) -> dict:
    """Run ``unibridge run`` in a fresh process on an empty run directory under ``work``; returns
    seconds, stage times (run.json) and scores (``--json``). Raises CalledProcessError on failure."""
    run_dir = work / f"{profile}{''.join(extra).replace('-', '_')}"
    shutil.rmtree(run_dir, ignore_errors=True)  # from an empty run directory, also under a kept --workdir
    cmd = [sys.executable, "-m", "unibridge.cli", "-q", "run", recipe, "--profile", profile,
           "--run-dir", str(run_dir), "--json", *extra]
    before = cache_entries()
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)  # no --stage-cache: nothing reused
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
        raise subprocess.CalledProcessError(p.returncode, cmd)
    out = json.loads(p.stdout)
    res = {"command": " ".join(["unibridge", *cmd[3:]]), "seconds": round(seconds, 1), "when": when,
           "timings": out.get("timings"), "cached": out.get("cached"), "scores": out.get("scores")}
    filled = sorted(cache_entries() - before)
    if filled:
        res["cache_filled"] = filled
        print(f"note: the {profile} run built {', '.join(filled)} into the machine cache; its time includes "
              "that one-time cost (run it again to time it warm: --runs)", file=sys.stderr)
    return res


def cache_entries() -> set[str]:
    """The backbone images and backbone MLM heads in the machine cache (``$UNIBRIDGE_CACHE``)."""
    from unibridge.backbones.cache import cache_root

    root = cache_root()
    return {str(p.relative_to(root)) for sub in ("backbones", "heads") if (root / sub).is_dir()
            for p in (root / sub).iterdir()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the smoke profile only (a few minutes)")
    ap.add_argument("--runs", help="comma-separated runs to time, of smoke, cpu, retrain (default: all; "
                                   "the others are kept from an earlier result of the same recipe)")
    ap.add_argument("--recipe", default="recipes/amh.yaml")
    ap.add_argument("--workdir", help="keep the run directories here (default: a temporary folder)")
    a = ap.parse_args()
    wanted = ["smoke"] if a.quick else (a.runs.split(",") if a.runs else list(RUNS))
    if not set(wanted) <= set(RUNS):
        ap.error(f"--runs: choose from {', '.join(RUNS)}")
    earlier = RESULTS / "main_job.json"
    old = json.loads(earlier.read_text()) if a.runs and earlier.is_file() else {}
    runs: dict[str, dict] = dict(old.get("runs", {})) if old.get("recipe") == a.recipe else {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(a.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in wanted:
            runs[name] = timed_run(a.recipe, *RUNS[name], work=work)
    res = {"recipe": a.recipe, "quick": a.quick, "cores": os.cpu_count(), "runs": runs,
           "smoke_s": runs.get("smoke", {}).get("seconds"), "cpu_s": runs.get("cpu", {}).get("seconds"),
           "retrain_s": runs.get("retrain", {}).get("seconds")}
    res["ratio"] = round(res["retrain_s"] / res["cpu_s"], 2) if res["cpu_s"] and res["retrain_s"] else None
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "main_job.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    fmt = {k: ("n/a" if res[k] is None else res[k]) for k in ("cpu_s", "retrain_s", "smoke_s", "ratio")}
    print(f"RESULT main_job cpu_s={fmt['cpu_s']} retrain_s={fmt['retrain_s']} smoke_s={fmt['smoke_s']} "
          f"ratio={fmt['ratio']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
