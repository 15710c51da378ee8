"""Wall time of the main job: ``unibridge run recipes/amh.yaml`` from an empty run directory.

Five timings, each a fresh process on an empty run directory and no shared stage cache; the warm
ones keep the machine cache (the built backbone image, hub datasets, any fitted backbone head), as
on any machine after the first run, the cold ones start from an empty one, as on a new machine:

* ``cpu_s``: ``--profile cpu`` with the shipped source adapters (``adapters_hub/sources``)
  installed where their fingerprints match; sources without a shipped match are trained;
* ``retrain_s``: the same with ``--retrain-sources`` (every source adapter trained here), the
  baseline; ``ratio`` = retrain / shipped;
* ``smoke_s``: ``--profile smoke`` (the installation check);
* ``cold_cpu_s`` and ``cold_smoke_s``: the cpu and smoke runs with ``UNIBRIDGE_CACHE`` set to a new
  empty folder: the backbone is built, and nothing a first run fills is there yet;
* ``cold_test_s``: the test suite (``make test``'s pytest command) with an empty ``UNIBRIDGE_CACHE``.

``--quick`` times the smoke profile only (the two cpu-profile runs take most of an hour on 2
cores) and reads and writes its own file, main_job_quick.json, so a quick run never overwrites the
full runs recorded in main_job.json (a full run reads and writes main_job.json). ``--runs cpu``
(or any of smoke, cpu, retrain) times only those and keeps the other runs of an earlier result of
the same recipe, so a run can be re-measured alone. A run that had to build something of the
machine's cache (the backbone image, a backbone MLM head of its profile) is marked
``cache_filled`` with what it added: its time includes that one-time cost.

    python benchmarks/main_job.py [--quick] [--runs cpu,retrain] [--recipe recipes/amh.yaml]

Writes benchmarks/results/main_job.json (--quick: main_job_quick.json; per run: seconds, the stage
times of its run.json, its scores, when it ran); the last line printed is
``RESULT main_job cpu_s=... retrain_s=... smoke_s=... cold_cpu_s=... cold_smoke_s=... cold_test_s=... ratio=...``
(n/a for what was not run).
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

from results_io import result_path, write_result

ROOT = Path(__file__).resolve().parents[1]
RUNS = {"smoke": ("smoke",), "cpu": ("cpu",), "retrain": ("cpu", "--retrain-sources"),
        "cold_smoke": ("smoke",), "cold_cpu": ("cpu",), "cold_test": ()}
COLD = {"cold_smoke", "cold_cpu", "cold_test"}  # run with an empty UNIBRIDGE_CACHE


def timed_run(recipe: str, profile: str, *extra: str, work: Path, cache: Path | None = None) -> dict:
    """Run ``unibridge run`` in a fresh process on an empty run directory under ``work`` (with
    ``cache``: ``UNIBRIDGE_CACHE`` set to that folder, emptied first); returns seconds, stage times
    (run.json) and scores (``--json``). Raises CalledProcessError on failure."""
    run_dir = work / f"{'cold_' if cache else ''}{profile}{''.join(extra).replace('-', '_')}"
    env = dict(os.environ)
    if cache is not None:
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        env["UNIBRIDGE_CACHE"] = str(cache)
    shutil.rmtree(run_dir, ignore_errors=True)  # from an empty run directory, also under a kept --workdir
    cmd = [sys.executable, "-m", "unibridge.cli", "-q", "run", recipe, "--profile", profile,
           "--run-dir", str(run_dir), "--json", *extra]
    before = cache_entries()
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)  # no --stage-cache: nothing reused
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
        raise subprocess.CalledProcessError(p.returncode, cmd)
    out = json.loads(p.stdout)
    res = {"command": " ".join(["unibridge", *cmd[3:]]), "seconds": round(seconds, 1), "when": when,
           "timings": out.get("timings"), "cached": out.get("cached"), "scores": out.get("scores")}
    filled = sorted(cache_entries() - before)
    if cache is not None:
        res["cold_cache"] = True
    elif filled:
        res["cache_filled"] = filled
        print(f"note: the {profile} run built {', '.join(filled)} into the machine cache; its time includes "
              "that one-time cost (run it again to time it warm: --runs)", file=sys.stderr)
    return res


def timed_tests(cache: Path) -> dict:
    """``make test``'s pytest command in a fresh process with ``UNIBRIDGE_CACHE`` set to ``cache``
    (emptied first); returns seconds and pytest's closing line. Raises CalledProcessError on failure."""
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "UNIBRIDGE_CACHE": str(cache)})
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-3000:])
        raise subprocess.CalledProcessError(p.returncode, cmd)
    return {"command": "python -m pytest -q tests", "seconds": round(seconds, 1), "when": when, "cold_cache": True,
            "summary": p.stdout.strip().splitlines()[-1]}


def cache_entries() -> set[str]:
    """The backbone images and backbone MLM heads in the machine cache (``$UNIBRIDGE_CACHE``)."""
    from unibridge.backbones.cache import cache_root

    root = cache_root()
    return {str(p.relative_to(root)) for sub in ("backbones", "heads") if (root / sub).is_dir()
            for p in (root / sub).iterdir()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the smoke profile only (a few minutes)")
    ap.add_argument("--runs", help="comma-separated runs to time, of smoke, cpu, retrain, cold_smoke, cold_cpu, "
                                   "cold_test "
                                   "(default: all; "
                                   "the others are kept from an earlier result of the same recipe)")
    ap.add_argument("--recipe", default="recipes/amh.yaml")
    ap.add_argument("--workdir", help="keep the run directories here (default: a temporary folder)")
    a = ap.parse_args()
    wanted = ["smoke"] if a.quick else (a.runs.split(",") if a.runs else list(RUNS))
    if not set(wanted) <= set(RUNS):
        ap.error(f"--runs: choose from {', '.join(RUNS)}")
    earlier = result_path("main_job", a.quick)  # --quick: main_job_quick.json, never the full runs' file
    old = json.loads(earlier.read_text()) if a.runs and earlier.is_file() else {}
    runs: dict[str, dict] = dict(old.get("runs", {})) if old.get("recipe") == a.recipe else {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(a.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in wanted:
            if name == "cold_test":
                runs[name] = timed_tests(cache=work / "empty-cache")
                continue
            runs[name] = timed_run(a.recipe, *RUNS[name], work=work,
                                   cache=work / "empty-cache" if name in COLD else None)
    res = {"recipe": a.recipe, "quick": a.quick, "cores": os.cpu_count(), "runs": runs,
           "smoke_s": runs.get("smoke", {}).get("seconds"), "cpu_s": runs.get("cpu", {}).get("seconds"),
           "retrain_s": runs.get("retrain", {}).get("seconds"),
           "cold_cpu_s": runs.get("cold_cpu", {}).get("seconds"),
           "cold_smoke_s": runs.get("cold_smoke", {}).get("seconds"),
           "cold_test_s": runs.get("cold_test", {}).get("seconds")}
    res["ratio"] = round(res["retrain_s"] / res["cpu_s"], 2) if res["cpu_s"] and res["retrain_s"] else None
    write_result("main_job", res, a.quick)
    keys = ("cpu_s", "retrain_s", "smoke_s", "cold_cpu_s", "cold_smoke_s", "cold_test_s", "ratio")
    print("RESULT main_job " + " ".join(f"{k}={'n/a' if res[k] is None else res[k]}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
