"""Bad inputs a user may give `unibridge`, tried one by one: each must end with one clear error
line and exit status 2, before any work, with no traceback and nothing written.

Every case runs the real command line (``unibridge.cli.main``) in a fresh folder on tiny
recipes over the shared data; no model is loaded (the errors come before). The table of cases
(command, exit status, last line on stderr) goes to ``docs/reliability.md``.

    python benchmarks/reliability.py [--quick]

``--quick`` runs the same cases (they take seconds). Writes ``benchmarks/results/reliability.json``
(``--quick``: ``reliability_quick.json``) and prints
``RESULT reliability cases=... exit2=... tracebacks=... silent=...``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MONO = "parallel/flores200_devtest/devtest/amh_Ethi.devtest"
EN_POS = "ud/UD_English-EWT/en_ewt-ud-dev.conllu"
AMH_POS = "ud/UD_Amharic-ATT/am_att-ud-test.conllu"


def recipe(**change) -> dict:
    """A small valid recipe; ``change`` replaces top-level keys (None removes one)."""
    r = {"target": "amh", "base_model": "me5-small", "mono": [MONO],
         "sources": {"en": {"text": "parallel/flores200_devtest/devtest/eng_Latn.devtest", "pos": EN_POS,
                            "parallel": f"{MONO}|parallel/flores200_devtest/devtest/eng_Latn.devtest"}},
         "tasks": {"pos": {"test": AMH_POS}}, "vocab": {"v_i": 500, "delta": 100, "eps": 1.0e9}}
    r.update(change)
    return {k: v for k, v in r.items() if v is not None}


def write(path: str, content, binary: bool = False) -> str:
    import yaml

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if binary:
        p.write_bytes(content)
    elif isinstance(content, dict):
        p.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    else:
        p.write_text(content, encoding="utf-8")
    return str(p)


def conllu_with(line_change) -> str:
    """The English POS file with its 3rd sentence's first word line changed."""
    from unibridge.data import data_root

    lines = (data_root() / EN_POS).read_text(encoding="utf-8").split("\n")
    i = [k for k, ln in enumerate(lines) if ln.startswith("1\t")][2]
    lines[i] = line_change(lines[i])
    return "\n".join(lines)


def cases() -> list[tuple[str, list[str], callable]]:
    """(what is wrong, argv, set-up run in the case's folder before the command)."""
    none = lambda: None  # noqa: E731
    run = lambda r: ["run", r, "--run-dir", "out"]  # noqa: E731

    def with_recipe(**change):
        return lambda: write("r.yaml", recipe(**change))

    def bad_source(content):
        return lambda: (write("bad.conllu", content),
                        write("r.yaml", recipe(sources={"en": {"text": recipe()["sources"]["en"]["text"],
                                                                "pos": str(Path("bad.conllu").resolve())}})))

    def held_by(target):
        return lambda: write("out/run.json", json.dumps({"target": target}))

    out = [
        # recipes
        ("recipe file missing", run("nope.yaml"), none),
        ("recipe is not YAML", run("r.yaml"), lambda: write("r.yaml", "target: [amh\n")),
        ("recipe is not UTF-8", run("r.yaml"), lambda: write("r.yaml", b"target: am\xe9h\n", binary=True)),
        ("recipe is a list, not a mapping", run("r.yaml"), lambda: write("r.yaml", "- amh\n")),
        ("unknown top-level key", run("r.yaml"), with_recipe(vocab_size=8000)),
        ("unknown key inside a stage", run("r.yaml"), with_recipe(adaptation={"betta": 1.0})),
        ("unknown profile", ["run", "r.yaml", "--profile", "gpu"], with_recipe()),
        ("unknown task", run("r.yaml"), with_recipe(tasks={"upos": {"test": AMH_POS}})),
        ("target missing", run("r.yaml"), with_recipe(target=None)),
        ("unknown embedding initializer", run("r.yaml"), with_recipe(embeddings={"method": "fasttext"})),
        ("max_steps 0", run("r.yaml"), with_recipe(adaptation={"train": {"max_steps": 0}})),
        ("negative batch size", run("r.yaml"), with_recipe(task={"train": {"batch_size": -1}})),
        ("learning rate 0", run("r.yaml"), with_recipe(source_adaptation={"train": {"learning_rate": 0}})),
        ("warmup ratio above 1", run("r.yaml"), with_recipe(task={"train": {"warmup_ratio": 1.5}})),
        ("masking probability 1", run("r.yaml"), with_recipe(adaptation={"mlm_probability": 1.0})),
        ("harmony K = 0", run("r.yaml"), with_recipe(harmony={"k": 0})),
        ("ALP threshold ε = 0", run("r.yaml"), with_recipe(vocab={"eps": 0})),
        ("text where a number belongs", run("r.yaml"), with_recipe(vocab={"v_i": "many"})),
        ("negative leave_out layer", run("r.yaml"), with_recipe(adaptation={"leave_out": [-1]})),
        # data
        ("target text missing", run("r.yaml"), with_recipe(mono=["mono/nope.txt"])),
        ("glob that matches nothing", run("r.yaml"), with_recipe(mono=["mono/*.nope"])),
        ("empty target text", run("r.yaml"), lambda: (write("empty.txt", "\n\n"),
                                                        write("r.yaml", recipe(mono=[str(Path("empty.txt").resolve())])))),
        ("target text not UTF-8", run("r.yaml"), lambda: (write("latin1.txt", "caf\xe9\n".encode("latin-1"), binary=True),
                                                            write("r.yaml", recipe(mono=[str(Path("latin1.txt").resolve())])))),
        ("test set missing", run("r.yaml"), with_recipe(tasks={"pos": {"test": "ud/nope.conllu"}})),
        ("labelled file: tag that is not UPOS", run("r.yaml"),
         bad_source(conllu_with(lambda ln: "\t".join(c if k != 3 else "NOUNY" for k, c in enumerate(ln.split("\t")))))),
        ("labelled file: too few columns", run("r.yaml"),
         bad_source(conllu_with(lambda ln: "\t".join(ln.split("\t")[:4])))),
        ("labelled file: not CoNLL-U at all", run("r.yaml"), bad_source("word NOUN\nother VERB\n")),
        ("parallel file missing", run("r.yaml"),
         with_recipe(sources={"en": {"pos": EN_POS, "parallel": f"{MONO}|parallel/nope.txt"}})),
        ("dictionary missing", run("r.yaml"), with_recipe(embeddings={"method": "tema", "dictionary": ["dict/nope.tsv"]})),
        # command line
        ("unknown stage", ["run", "r.yaml", "--stage", "adapt"], with_recipe()),
        ("unknown configuration", ["transfer", "r.yaml", "--config", "madx"], with_recipe()),
        ("unknown weight strategy in the grid", ["transfer", "r.yaml", "--strategy", "softmax"], with_recipe()),
        ("unknown task on predict", ["predict", "--target", "amh", "--task", "upos", "a b"], none),
        ("unknown weights on predict", ["predict", "--target", "amh", "--task", "pos", "--weights", "harmon", "a"], none),
        ("negative steps", ["adapt", "x.txt", "--out", "o", "--steps", "-5"], none),
        ("batch size 0", ["adapt", "x.txt", "--out", "o", "--batch-size", "0"], none),
        ("learning rate not a number", ["adapt", "x.txt", "--out", "o", "--lr", "fast"], none),
        ("held-out fraction 1", ["vocab", "x.txt", "--out", "o", "--heldout", "1"], none),
        ("unknown initializer on init", ["init", "x.txt", "--tokenizer", "t", "--out", "o", "--method", "w2v"], none),
        # run directories
        ("run directory is a file", ["run", "r.yaml", "--run-dir", "file"], lambda: (write("r.yaml", recipe()),
                                                                                   write("file", "x"))),
        ("run directory of another target", run("r.yaml"), lambda: (write("r.yaml", recipe()), held_by("tam")())),
        ("predict with a run of another target", ["predict", "--target", "amh", "--task", "pos", "--run-dir", "out",
                                                  "a b"], held_by("tam")),
        ("damaged run record", ["predict", "--target", "amh", "--task", "pos", "--run-dir", "out", "a b"],
         lambda: write("out/run.json", '{"target": "am')),
        ("predict without a finished run", ["predict", "--target", "amh", "--task", "pos", "--run-dir", "nope", "a b"],
         none),
        ("evaluate without a finished run", ["evaluate", "--target", "amh", "--task", "pos", "--test", AMH_POS,
                                             "--run-dir", "nope"], none),
        ("run directory in use by another process", run("r.yaml"), lambda: (write("r.yaml", recipe()), hold_lock("out"))),
        # hub
        ("verify a folder that is no artifact", ["hub", "verify", "."], none),
        ("show an artifact that is not installed", ["hub", "show", "xyz", "--hub", "hub"], none),
        # recipes that mean what they say
        ("a value no profile may hide (max_steps 0 under --profile smoke)", ["run", "r.yaml", "--profile", "smoke"],
         lambda: (write("_base.yaml", {"profiles": {"smoke": {"adaptation": {"train": {"max_steps": 4}}}}}),
                  write("r.yaml", recipe(extends="_base.yaml", adaptation={"train": {"max_steps": 0}})))),
        ("a directory given as the recipe", run("recipes"), lambda: Path("recipes").mkdir()),
        ("a plug-in that cannot be loaded", ["--plugin", "no_such_plugin", "run", "r.yaml"], with_recipe()),
    ]
    return out


_HOLDERS: list = []


def hold_lock(run_dir: str) -> None:
    """Start a process that holds ``run_dir``'s lock until this script ends."""
    Path(run_dir).mkdir(exist_ok=True)
    code = ("import sys, time; sys.path.insert(0, %r)\nfrom unibridge.artifacts import run_lock\n"
            "with run_lock(%r):\n    print('held', flush=True)\n    time.sleep(600)\n") % (str(ROOT), run_dir)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    _HOLDERS.append(p)


class StageStarted(Exception):
    """Raised in place of the first stage: a bad input got past every check."""


def _no_stages(self, only):
    raise StageStarted("a stage would start: the bad input was not refused")


def try_case(what: str, argv: list[str], setup) -> dict:
    from unibridge.cli import main
    from unibridge.pipeline import Pipeline

    Pipeline._run = _no_stages  # every case must be refused before the stages

    with tempfile.TemporaryDirectory() as tmp:
        old = os.getcwd()
        os.chdir(tmp)
        try:
            setup()
            before = {str(p) for p in Path(".").rglob("*")}
            err, out = io.StringIO(), io.StringIO()
            tb = None
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                try:
                    code = main(argv)
                except SystemExit as e:
                    code = e.code
                except BaseException:  # noqa: BLE001 - recorded: a traceback is a defect
                    code, tb = None, traceback.format_exc()
            after = {str(p) for p in Path(".").rglob("*")}
        finally:
            os.chdir(old)
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    written = sorted(p for p in after - before if not p.startswith("out/.lock") and p != "out")
    message = tb.strip().splitlines()[-1] if tb else (lines[-1] if lines else "")
    for folder, shown in ((str(Path(tmp).resolve()) + "/", ""), (tmp + "/", ""),
                          (os.environ["UNIBRIDGE_DATA"], "$UNIBRIDGE_DATA")):
        message = message.replace(folder, shown)
    for p in _HOLDERS:
        message = message.replace(f"process {p.pid}", "process <pid>")
    return {"case": what, "command": "unibridge " + shlex.join(argv), "exit": code, "message": message,
            "traceback": tb is not None or "Traceback" in err.getvalue(), "written": written}


def markdown(rows: list[dict]) -> str:
    out = ["| # | bad input | command | exit | what the user sees (last line on stderr) |", "|---|---|---|---|---|"]
    for k, r in enumerate(rows, 1):
        msg, cmd = (r[key].replace("|", "\\|") for key in ("message", "command"))
        out.append(f"| {k} | {r['case']} | `{cmd}` | {r['exit']} | {msg} |")
    return "\n".join(out)


def main() -> int:
    from results_io import write_result  # here, not at the top: tests load this file by path

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the same cases (they take seconds)")
    ap.add_argument("--doc", default=str(ROOT / "docs" / "reliability.md"), help="table output (Markdown)")
    a = ap.parse_args()
    os.environ.setdefault("UNIBRIDGE_DATA", str(ROOT.parent / "shared" / "data"))
    os.environ["UNIBRIDGE_DATA"] = str(Path(os.environ["UNIBRIDGE_DATA"]).resolve())
    t0 = time.perf_counter()
    try:
        rows = []
        for c in cases():
            print(f"case: {c[0]}", file=sys.stderr, flush=True)
            rows.append(try_case(*c))
    finally:
        for p in _HOLDERS:
            p.kill()
    seconds = time.perf_counter() - t0
    n2 = sum(r["exit"] == 2 for r in rows)
    tbs = sum(r["traceback"] for r in rows)
    silent = sum(r["exit"] == 0 for r in rows)
    bad = [r for r in rows if r["exit"] != 2 or r["traceback"] or r["written"]]
    for r in bad:
        print(f"DEFECT: {r['case']}: exit {r['exit']}, written {r['written']}: {r['message']}", file=sys.stderr)
    doc = Path(a.doc)
    doc.write_text(DOC_HEAD.format(n=len(rows), n2=n2) + markdown(rows) + "\n" + DOC_TAIL, encoding="utf-8")
    write_result("reliability", {"cases": rows, "seconds": round(seconds, 1)}, a.quick)
    print(f"RESULT reliability cases={len(rows)} exit2={n2} tracebacks={tbs} silent={silent} "
          f"defects={len(bad)} seconds={seconds:.1f}")
    return 1 if bad else 0


DOC_HEAD = """# Bad input: what a user sees

`unibridge` checks a recipe, its numbers and every data file it names before the first stage
runs. A bad input ends the command with one line on stderr and exit status 2; nothing is
written and no model is loaded. Argument errors print argparse's usage line first.

The table is written by `python benchmarks/reliability.py` ({n} cases, {n2} with exit status 2):
each case runs the real command line in an empty folder on a small recipe over the shared data.

"""

DOC_TAIL = """
## Interrupts, pipes and devices

| case | what happens | checked by |
|---|---|---|
| Ctrl-C (SIGINT) during a stage | the stage being written removes its temporary folder; finished stages are kept; `unibridge: interrupted; finished stages are kept and the next run resumes`, exit 130 | `tests/test_reliability.py` (resume tests) |
| SIGTERM (`kill`, a scheduler's time limit) during a stage | the same: SIGTERM is raised as an interrupt in the main thread, so no `.<stage>.<pid>.<random>.tmp` folder stays; `unibridge: terminated; ...`, exit 143 | `test_sigterm_during_a_stage_leaves_no_temporary_folder_and_exit_status_143` |
| a run killed with SIGKILL or a power cut | its temporary folders stay until the next run on that run directory, which removes those of dead processes (their pid is in the name; older unnamed ones and `.<stage>.old` too) and says so | `test_a_run_sweeps_the_temporary_folders_of_dead_processes_and_keeps_live_ones` |
| the reader of stdout goes away (`unibridge recipes \\| head`) | the command ends quietly with exit 0, no BrokenPipeError traceback | `test_a_closed_pipe_ends_the_command_quietly` |
| `MultiSourcePredictor(..., device="cuda")` on a machine without CUDA | `ConfigError: device 'cuda' is not available on this machine (torch sees no CUDA device); use device='cpu' or leave it out` (one line and exit 2 from the command line) | `test_a_device_this_machine_lacks_is_one_error_line` |
| a shipped source adapter or backbone head whose file changed | the run stops before using it: `'<file>' is missing or differs from its checksum; refusing to load it`; `unibridge hub verify adapters_hub/sources` (or `adapters_hub/heads/me5-small`) checks every file | `tests/test_shipped.py`, `tests/test_backbone_head.py` |
"""

if __name__ == "__main__":
    sys.exit(main())
