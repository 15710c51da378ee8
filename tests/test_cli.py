"""The `unibridge` command: one-line errors with exit status 2 that leave nothing behind, the
predict output, results on stdout as JSON and stage messages on stderr."""

import json
from pathlib import Path
import subprocess
import sys

import pytest
import yaml

from tests.conftest import needs_data, tiny_recipe
from unibridge.pipeline import STAGES

pytestmark = needs_data


def _cli(*args, env_extra=None):
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "unibridge.cli", *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("change,needle", [
    ({"mono": ["mono/does-not-exist.txt"]}, "data file not found"),
    ({"target": "zzz"}, "unknown language code 'zzz'"),
    ({"tasks": {"srl": {"test": "x"}}}, "unknown task 'srl'"),
])
def test_cli_bad_input_is_one_line_and_leaves_nothing(tmp_path, tiny_base, change, needle):
    recipe = {**tiny_recipe(tiny_base), **change}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    run_dir = tmp_path / "run"
    res = _cli("run", str(path), "--run-dir", str(run_dir))
    assert res.returncode == 2
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in res.stderr
    assert not run_dir.exists() or not any(run_dir.iterdir())


@pytest.mark.slow
def test_cli_infeasible_vocab_size_and_empty_corpus(tmp_path, tiny_base):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    for change, needle in [({"vocab": {"fixed_size": 900000}}, "vocab"), ({"mono": [str(empty)]}, "empty")]:
        path = tmp_path / "r.yaml"
        path.write_text(yaml.safe_dump({**tiny_recipe(tiny_base), **change}))
        run_dir = tmp_path / "run"
        res = _cli("-q", "run", str(path), "--run-dir", str(run_dir))  # -q: no stage messages on stderr
        assert res.returncode == 2, res.stderr[-2000:]
        err = res.stderr.strip().splitlines()
        assert len(err) == 1 and needle in err[0].lower() and "Traceback" not in res.stderr
        assert not (run_dir / "vocab").exists() and not list(run_dir.glob(".*tmp"))


@pytest.mark.slow
def test_cli_predict_prints_word_tag_pairs(finished_run):
    run_dir, _ = finished_run
    res = _cli("predict", "--target", "amh", "--task", "pos", "--run-dir", str(run_dir), "አበበ በሶ በላ")
    assert res.returncode == 0, res.stderr[-2000:]
    pairs = res.stdout.strip().split()
    from unibridge.data import UPOS_TAGS

    assert [p.split("/")[0] for p in pairs] == ["አበበ", "በሶ", "በላ"]
    assert all(p.split("/")[1] in UPOS_TAGS for p in pairs)
    rich = json.loads(_cli("predict", "--target", "amh", "--task", "pos", "--run-dir", str(run_dir), "--json",
                           "አበበ በሶ በላ").stdout)
    (rec,) = rich["predictions"]
    assert rec["input"] == ["አበበ", "በሶ", "በላ"] and [f"{w}/{l}" for w, l in zip(rec["input"], rec["labels"])] == pairs
    assert len(rec["probs"]) == 3 and all(len(row) == len(rich["labels"]) == 17 for row in rec["probs"])
    assert [rich["labels"][max(range(17), key=row.__getitem__)] for row in rec["probs"]] == rec["labels"]
    missing = _cli("predict", "--target", "amh", "--task", "pos", "--run-dir", str(run_dir / "nope"), "x")
    assert missing.returncode == 2 and "no finished run" in missing.stderr


@pytest.mark.slow
def test_run_prints_results_on_stdout_as_json_and_stage_messages_on_stderr(finished_run, tmp_path, capsys):
    from unibridge import __version__
    from unibridge.cli import main

    run_dir, result = finished_run
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(tiny_recipe(Path(json.loads(
        (run_dir / "run.json").read_text())["base_model"])), allow_unicode=True))
    assert main(["run", str(tmp_path / "r.yaml"), "--run-dir", str(run_dir), "--json"]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)  # stdout is the JSON document alone
    assert out["scores"] == json.loads(json.dumps(result.scores)) and out["cached"] == list(STAGES)
    assert "[unibridge] stage vocab: cached" in cap.err.splitlines()
    assert main(["-q", "run", str(tmp_path / "r.yaml"), "--run-dir", str(run_dir)]) == 0
    cap = capsys.readouterr()
    assert cap.err == "" and "UniBridge run: target=amh" in cap.out
    assert main(["run", str(tmp_path / "r.yaml"), "--run-dir", str(run_dir), "--json", "-q"]) == 0  # after it too
    cap = capsys.readouterr()
    assert cap.err == "" and json.loads(cap.out)["cached"] == list(STAGES)
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"unibridge {__version__}"


@pytest.mark.slow
def test_quiet_silences_progress_bars_and_library_warnings(tiny_base):
    code = "\n".join([
        "import logging, torch",
        "from unibridge.cli.app import _quiet_libraries",
        "_quiet_libraries()",
        "from tqdm.auto import tqdm",
        "assert tqdm(range(3)).disable",
        "from unibridge.adaptation.model import load_adapter_model",
        f"m = load_adapter_model({str(tiny_base)!r})",
        "m.add_adapter('x')",
        "m(input_ids=torch.tensor([[5, 6, 7]]))",  # adapters warns: some are loaded, none active
    ])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "none are activated" not in done.stderr and "it/s" not in done.stderr
    loud = subprocess.run([sys.executable, "-c", code.replace("_quiet_libraries()", "pass").replace(
        "assert tqdm(range(3)).disable", "pass")], capture_output=True, text=True)
    assert "none are activated" in loud.stderr  # the warning the quiet run silenced


def test_a_closed_pipe_ends_the_command_quietly():
    p = subprocess.Popen([sys.executable, "-m", "unibridge.cli", "config", "recipes/amh.yaml", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])
    p.stdout.close()  # `unibridge ... | head` once head has what it wanted
    err = p.stderr.read().decode()
    assert p.wait() == 0 and err == ""


def test_a_device_this_machine_lacks_is_one_error_line():
    import torch

    from unibridge.errors import ConfigError
    from unibridge.inference.predictor import pick_device

    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="unknown device 'gpu0'"):
        pick_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device 'cuda' is not available on this machine"):
            pick_device("cuda")


def test_the_json_help_texts_say_what_is_printed(capsys):
    from unibridge.cli import main

    for argv, words in ((["recipes", "--help"], "JSON list with one record per recipe"),
                        (["transfer-report", "--help"], "JSON list with one row per"),
                        (["config", "--help"], "JSON list of {key, value, from} records")):
        with pytest.raises(SystemExit):
            main(argv)
        assert words in " ".join(capsys.readouterr().out.split())


def test_the_shipped_adapter_line_names_the_task_adapters_kind(tiny_base, tmp_path, monkeypatch):
    from unibridge import pipeline
    from unibridge.config import Recipe
    from unibridge.hub import sources

    pipe = pipeline.Pipeline(Recipe.from_dict(tiny_recipe(tiny_base)), tmp_path / "run")
    monkeypatch.setattr(sources, "restore_shipped", lambda *a: True)
    said = []
    monkeypatch.setattr(pipeline, "_say", said.append)
    for on_source in (True, False, None):
        assert pipe._restore_source(tmp_path / "x", "fp", "task-pos-en" if on_source is not None else "source-en",
                                    on_source)
    assert said == ["task-pos-en on its language adapter: shipped adapter restored (checksums verified)",
                    "task-pos-en on the bare base: shipped adapter restored (checksums verified)",
                    "source-en: shipped adapter restored (checksums verified)"]
