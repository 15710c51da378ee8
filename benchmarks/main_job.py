"""Wall time of the main job: ``unibridge run recipes/amh.yaml`` from an empty run directory.

Three timings, each a fresh process on an empty run directory and no shared stage cache (the backbone
image, its fitted MLM head and hub datasets stay cached, as on any machine after the first run):

* ``cpu_s``: ``--profile cpu`` with the shipped source adapters (``adapters_hub/sources``)
  installed where their fingerprints match; sources without a shipped match are trained;
* ``retrain_s``: the same with ``--retrain-sources`` (every source adapter trained here), the
  baseline; ``ratio`` = retrain / shipped;
* ``smoke_s``: ``--profile smoke`` (the installation check).

``--quick`` times the smoke profile only (the two cpu-profile runs take most of an hour on 2
cores).

    python benchmarks/main_job.py [--quick] [--recipe recipes/amh.yaml]

Writes benchmarks/results/main_job.json (per run: seconds, the stage times of its run.json and
its scores); the last line printed is
``RESULT main_job cpu_s=... retrain_s=... smoke_s=... ratio=...`` (n/a for what was not run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]


def timed_run(recipe: str, profile: str, work: Path, *extra: str) -> dict:
    """Run ``unibridge run`` in a fresh process on an empty run directory under ``work``; returns
    seconds, stage times (run.json) and scores (``--json``). Raises CalledProcessError on failure."""
    run_dir = work / f"{profile}{''.join(extra).replace('-', '_')}"
    cmd = [sys.executable, "-m", "unibridge.cli", "-q", "run", recipe, "--profile", profile,
           "--run-dir", str(run_dir), "--json", *extra]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)  # no --stage-cache: nothing reused
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
        raise subprocess.CalledProcessError(p.returncode, cmd)
    out = json.loads(p.stdout)
    return {"command": " ".join(["unibridge", *cmd[3:]]), "seconds": round(seconds, 1),
            "timings": out.get("timings"), "cached": out.get("cached"), "scores": out.get("scores")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the smoke profile only (a few minutes)")
    ap.add_argument("--recipe", default="recipes/amh.yaml")
    ap.add_argument("--workdir", help="keep the run directories here (default: a temporary folder)")
    a = ap.parse_args()
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(a.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        runs["smoke"] = timed_run(a.recipe, "smoke", work)
        if not a.quick:
            runs["cpu"] = timed_run(a.recipe, "cpu", work)
            runs["retrain"] = timed_run(a.recipe, "cpu", work, "--retrain-sources")
    res = {"recipe": a.recipe, "quick": a.quick, "cores": os.cpu_count(), "runs": runs,
           "smoke_s": runs["smoke"]["seconds"], "cpu_s": runs.get("cpu", {}).get("seconds"),
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
