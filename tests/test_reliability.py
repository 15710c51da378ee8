"""Bad settings are refused where they are read: one clear error, exit status 2, nothing run."""

import pytest
import yaml

from tests.conftest import needs_data, tiny_recipe
from unibridge.cli import main
from unibridge.config import (AdaptationConfig, HarmonyConfig, Recipe, SourceAdaptationConfig, TrainConfig,
                              VocabConfig)
from unibridge.errors import ConfigError


@pytest.mark.parametrize("make, message", [
    (lambda: TrainConfig(batch_size=0), "'batch_size' must be >= 1; got 0"),
    (lambda: TrainConfig(max_steps=0), "'max_steps' must be >= 1; got 0"),
    (lambda: TrainConfig(learning_rate=0.0), "'learning_rate' must be > 0"),
    (lambda: TrainConfig(warmup_ratio=1.0), r"'warmup_ratio' must be in \[0, 1\)"),
    (lambda: SourceAdaptationConfig(leave_out=[11, -1]), "'leave_out' must be >= 0; got -1"),
    (lambda: SourceAdaptationConfig(mlm_probability=1.0), r"'mlm_probability' must be in \(0, 1\)"),
    (lambda: AdaptationConfig(embedding_lr_scale=-0.5), r"'embedding_lr_scale' must be in \[0, 100\]"),
    (lambda: VocabConfig(heldout_fraction=1.5), r"'heldout_fraction' must be in \[0, 1\)"),
    (lambda: VocabConfig(eps=0), "'eps' must be > 0"),
    (lambda: HarmonyConfig(k=0), "'k' must be >= 1"),
])
def test_numeric_settings_outside_their_range_are_refused(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_a_recipe_names_the_setting_out_of_range(tmp_path):
    (tmp_path / "r.yaml").write_text("target: amh\nbase_model: tiny\nmono: [x.txt]\n"
                                     "sources: {en: {pos: en.conllu}}\ntasks: {pos: {test: t.conllu}}\n"
                                     "adaptation: {train: {max_steps: 0}}\n")
    with pytest.raises(ConfigError, match=r"'adaptation\.train\.max_steps' must be >= 1; got 0"):
        Recipe.load(tmp_path / "r.yaml")
    # limits are the same where the value is fine: the default and a boundary value load
    assert TrainConfig(warmup_ratio=0.0, max_steps=1).max_steps == 1


@pytest.mark.parametrize("argv, message", [
    (["run", "recipes/amh.yaml", "--stage", "adapt"], "argument --stage: invalid choice: 'adapt'"),
    (["predict", "--target", "amh", "--task", "upos", "a b"], "argument --task: invalid choice: 'upos'"),
    (["predict", "--target", "amh", "--task", "pos", "--weights", "harmon", "a b"],
     "argument --weights: unknown weight strategy 'harmon'"),
    (["transfer", "recipes/amh.yaml", "--config", "madx"], "argument --config: invalid choice: 'madx'"),
    (["transfer", "recipes/amh.yaml", "--strategy", "softmax"], "argument --strategy: invalid choice"),
    (["adapt", "x.txt", "--out", "o", "--steps", "-5"], "argument --steps: must be >= 1; got -5"),
    (["adapt", "x.txt", "--out", "o", "--batch-size", "0"], "argument --batch-size: must be >= 1; got 0"),
    (["adapt", "x.txt", "--out", "o", "--lr", "fast"], "argument --lr: 'fast' is not a number"),
    (["vocab", "x.txt", "--out", "o", "--heldout", "1"], r"argument --heldout: must be in \[0, 1\); got 1"),
])
def test_cli_refuses_unknown_names_and_out_of_range_numbers_before_any_work(argv, message, capsys, tmp_path,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written: the folder stays empty
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    import re
    assert re.search(message, capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_single_source_weights_are_accepted_by_the_parser():
    from unibridge.cli import build_parser

    a = build_parser().parse_args(["predict", "--target", "amh", "--task", "pos", "--weights", "single:en", "a"])
    assert a.weights == "single:en"


# ---------------------------------------------------------------- one run directory, one target, one writer

def _pipeline(tiny_base, run_dir, target="amh"):
    from tests.conftest import tiny_recipe
    from unibridge.pipeline import Pipeline

    return Pipeline(Recipe.from_dict({**tiny_recipe(tiny_base), "target": target}), run_dir)


@needs_data
def test_a_run_directory_of_another_target_is_refused_by_the_pipeline_and_the_predictor(tiny_base, tmp_path):
    import json

    from unibridge.inference.predictor import MultiSourcePredictor

    (tmp_path / "run.json").write_text(json.dumps({"target": "tam", "sources": {"pos": ["en"]}}))
    with pytest.raises(ConfigError, match=f"run directory {tmp_path} holds the run for target 'tam', but this "
                                          "recipe is for 'amh'"):
        _pipeline(tiny_base, tmp_path).run(["vocab"])
    with pytest.raises(ConfigError, match="holds the run for target 'tam', but the predictor is for 'amh'"):
        MultiSourcePredictor("amh", "pos", run_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]  # nothing was built


@needs_data
def test_a_second_writer_fails_at_once_naming_the_lock_holder(tiny_base, tmp_path):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom unibridge.artifacts import run_lock\n"
                               f"with run_lock({str(tmp_path)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=f"run directory {tmp_path} is in use by process {holder.pid}"):
            _pipeline(tiny_base, tmp_path).run(["vocab"])
        assert not (tmp_path / "vocab").exists()
    finally:
        holder.kill()
        holder.wait()
    from unibridge.artifacts import run_lock

    with run_lock(tmp_path):  # released when its holder died
        pass


def test_run_directory_that_is_a_file_is_one_clear_error(tmp_path):
    from unibridge.artifacts import run_lock

    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        with run_lock(tmp_path / "f"):
            pass


def test_a_recipe_that_is_not_utf8_is_one_line_and_does_not_hide_the_others(tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad.yaml"
    bad.write_bytes("target: amh\nmono: [caf\xe9.txt]\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"recipe .*bad.yaml is not UTF-8 text \(byte 22"):
        Recipe.load(bad)
    assert main(["run", str(bad)]) == 2
    assert capsys.readouterr().err.strip().startswith("unibridge: error: recipe")
    shutil.copyfile("recipes/_base.yaml", tmp_path / "_base.yaml")
    shutil.copyfile("recipes/amh.yaml", tmp_path / "amh.yaml")
    shutil.copytree("recipes/sources", tmp_path / "sources")
    assert main(["recipes", str(tmp_path), "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "amh " in out and "bad " in out and "error: recipe" in out


# ---------------------------------------------------------------- stages follow their data's content

@needs_data
def test_a_stage_is_rebuilt_when_the_text_behind_its_path_changes(tiny_base, tmp_path):
    import shutil

    from tests.conftest import tiny_recipe
    from unibridge.data import data_root
    from unibridge.pipeline import Pipeline

    base = tiny_recipe(tiny_base)
    files = {}
    for key, rel in (("mono", base["mono"][0]), ("test", base["tasks"]["pos"]["test"]),
                     ("en_pos", base["sources"]["en"]["pos"])):
        files[key] = tmp_path / "data" / key
        files[key].parent.mkdir(exist_ok=True)
        shutil.copy(data_root() / rel, files[key])
    recipe = {**base, "mono": [str(files["mono"])],
              "tasks": {"pos": {"test": str(files["test"])}},
              "sources": {**base["sources"], "en": {**base["sources"]["en"], "pos": str(files["en_pos"])}}}

    def pipe():
        return Pipeline(Recipe.from_dict(recipe), tmp_path / "run")

    def fingerprints(p):
        return ({s: p.stage_fingerprint(s) for s in ("vocab", "embeddings", "adaptation", "harmony", "evaluation")},
                {k: p.source_fingerprint(*k) for k in (("en",), ("en", "pos"), ("ru", "pos"))})

    assert pipe().run(["vocab"]).cached == []
    record = (tmp_path / "run" / "run.json").stat().st_mtime_ns
    assert pipe().run(["vocab"]).cached == ["vocab"]
    assert (tmp_path / "run" / "run.json").stat().st_mtime_ns == record  # read again, not rewritten
    stages, sources = fingerprints(pipe())
    assert fingerprints(pipe()) == (stages, sources)  # the same bytes: the same fingerprints

    def rewrite(path, text):  # same path, same size, other text, and the clock not moved on
        st = path.stat()
        assert len(text.encode()) == st.st_size
        path.write_text(text)
        import os
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))

    mono = files["mono"].read_text()
    rewrite(files["mono"], mono[::-1])
    changed, same_sources = fingerprints(pipe())
    assert all(changed[s] != stages[s] for s in stages) and same_sources == sources
    assert pipe().run(["vocab"]).cached == []  # rebuilt, not reported as cached
    rewrite(files["mono"], mono)
    assert fingerprints(pipe())[0] == stages  # back to the first text: the first fingerprints

    test = files["test"].read_text()
    rewrite(files["test"], test.replace("\tNOUN\t", "\tVERB\t", 1).replace("\tADJ\t", "\tNUM\t", 1))
    after_test, _ = fingerprints(pipe())
    assert {s for s in stages if after_test[s] != stages[s]} == {"evaluation"}

    pos = files["en_pos"].read_text()
    rewrite(files["en_pos"], pos.replace("\tNOUN\t", "\tPRON\t", 1).replace("\tDET\t", "\tADP\t", 1))
    after_pos, after_sources = fingerprints(pipe())
    assert {k for k in sources if after_sources[k] != sources[k]} == {("en", "pos")}
    assert {s for s in stages if after_pos[s] != after_test[s]} == {"harmony", "evaluation"}


@needs_data
def test_a_malformed_labelled_file_fails_the_run_before_the_first_stage(tiny_base, tmp_path, capsys):
    import yaml

    from tests.conftest import tiny_recipe
    from unibridge.data import data_root

    base = tiny_recipe(tiny_base)
    lines = (data_root() / base["sources"]["ru"]["pos"]).read_text(encoding="utf-8").split("\n")
    # the 5th sentence (within the 40 examples the task adapter reads) gets a tag that is not UPOS
    starts = [i for i, ln in enumerate(lines) if ln.startswith("1\t")]
    bad = starts[4]
    cols = lines[bad].split("\t")
    cols[3] = "NOUNY"
    lines[bad] = "\t".join(cols)
    bad_file = tmp_path / "ru_bad.conllu"
    bad_file.write_text("\n".join(lines), encoding="utf-8")
    recipe = {**base, "sources": {**base["sources"], "ru": {**base["sources"]["ru"], "pos": str(bad_file)}}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    run_dir = tmp_path / "run"
    assert main(["run", str(tmp_path / "r.yaml"), "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"unibridge: error: {bad_file}:{bad + 1}: 'NOUNY' is not a UPOS tag"]
    assert not run_dir.exists()  # nothing ran, nothing was written


@needs_data
def test_every_bad_input_of_the_reliability_table_is_refused_with_one_line_and_status_2():
    """benchmarks/reliability.py's cases (docs/reliability.md): exit 2, no traceback, nothing
    written, no stage started."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "reliability.py"
    spec = importlib.util.spec_from_file_location("reliability", path)
    rel = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rel)
    from unibridge.pipeline import Pipeline

    real = Pipeline._run
    try:
        rows = [rel.try_case(*c) for c in rel.cases()]
    finally:
        Pipeline._run = real
        for p in rel._HOLDERS:
            p.kill()
    assert len(rows) >= 40
    bad = [(r["case"], r["exit"], r["message"], r["written"]) for r in rows
           if r["exit"] != 2 or r["traceback"] or r["written"] or not r["message"]]
    assert bad == []


def test_the_order_of_a_recipes_entries_does_not_change_its_data_digest(tiny_base):
    from tests.conftest import tiny_recipe
    from unibridge.pipeline import Pipeline

    raw = tiny_recipe(tiny_base)
    flipped = {**raw, "tasks": dict(reversed(list(raw["tasks"].items()))),
               "sources": dict(reversed(list(raw["sources"].items())))}
    a, b = (Pipeline(Recipe.from_dict(r), "unused") for r in (raw, flipped))
    assert all(a.stage_fingerprint(s) == b.stage_fingerprint(s) for s in ("vocab", "harmony", "evaluation"))


def test_a_tasks_dev_data_reaches_the_harmony_fingerprint_and_is_checked_first(tiny_base, tmp_path):
    from tests.conftest import tiny_recipe
    from unibridge.errors import DataError
    from unibridge.pipeline import Pipeline

    raw = tiny_recipe(tiny_base)
    other = {**raw, "tasks": {**raw["tasks"], "pos": {**raw["tasks"]["pos"],
                                                      "dev": "ud/UD_Sindhi-Isra/sd_isra-ud-dev.conllu"}}}
    a, b = (Pipeline(Recipe.from_dict(r), "unused") for r in (raw, other))
    assert a.stage_fingerprint("adaptation") == b.stage_fingerprint("adaptation")
    assert a.stage_fingerprint("harmony") != b.stage_fingerprint("harmony")
    assert a.stage_fingerprint("evaluation") != b.stage_fingerprint("evaluation")
    missing = {**raw, "tasks": {**raw["tasks"], "pos": {**raw["tasks"]["pos"], "dev": "ud/nowhere-dev.conllu"}}}
    with pytest.raises(DataError, match="nowhere-dev"):
        Pipeline(Recipe.from_dict(missing), tmp_path / "run").check_inputs()
    with pytest.raises(ConfigError, match="harmony distance must be one of sentence, centroid"):
        Recipe.from_dict({**raw, "harmony": {"tune_distances": ["cosine"]}})
    with pytest.raises(ConfigError, match="'harmony.tune_temperatures' must be a list, got 0.5"):
        Recipe.from_dict({**raw, "harmony": {"tune_temperatures": 0.5}})


def test_a_run_sweeps_the_temporary_folders_of_dead_processes_and_keeps_live_ones(tmp_path):
    import os
    import subprocess

    from unibridge.artifacts import sweep_temp

    dead = subprocess.Popen(["true"])
    dead.wait()
    run = tmp_path / "run"
    left = [run / "sources" / f".en.{dead.pid}.k2j_3.tmp", run / "sources" / ".ru.abcd1234.tmp",
            run / "tasks" / "pos" / ".en.old", run / f".vocab.{dead.pid}.x.tmp"]
    live = [run / "sources" / f".zh.{os.getpid()}.q9.tmp", run / "sources" / "en", run / ".lock.d"]
    for d in left + live:
        (d / "adapter").mkdir(parents=True)
    assert sorted(sweep_temp(run)) == sorted(left)
    assert not any(d.exists() for d in left) and all(d.exists() for d in live)


@pytest.mark.slow
def test_sigterm_during_a_stage_leaves_no_temporary_folder_and_exit_status_143(tiny_base, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from unibridge.artifacts import _TEMP

    (tmp_path / "r.yaml").write_text(yaml.safe_dump(tiny_recipe(tiny_base)))
    run = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "unibridge.cli", "run", str(tmp_path / "r.yaml"), "--run-dir", str(run)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def temps():
        return [d for d in run.rglob(".*") if d.is_dir() and _TEMP.match(d.name)] if run.is_dir() else []
    deadline = time.monotonic() + 120
    while not temps() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert temps(), "no stage started"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143, err[-2000:]
    assert "unibridge: terminated; finished stages are kept" in err and "Traceback" not in err
    assert temps() == []
