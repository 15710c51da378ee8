"""The Python examples of README.md and docs/*.md run as written (on the tiny finished run, with the
few names a tiny run lacks substituted), and the plain-`adapters` lines of docs/hub.md are the
ones the model card prints and tests/test_hub.py runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
# what a tiny run on a CPU lacks: a Quechua run (its NLI task is on the Amharic one) and a GPU
SUBSTITUTE = {'target="quy"': 'target="amh"', 'device="cuda"': 'device="cpu"'}


def python_blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


def runnable_blocks() -> list[tuple[str, int, str]]:
    """(file, index, code) of every block that is a whole program (docs/hub.md's card lines are
    checked against the card below; a block that starts indented is a fragment)."""
    out = []
    for f in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for i, code in enumerate(python_blocks(f)):
            if f.name != "hub.md" and not code.startswith((" ", "\t")):
                out.append((str(f.relative_to(REPO)), i, code))
    return out


def test_the_docs_have_python_examples_to_run():
    names = {f for f, _, _ in runnable_blocks()}
    assert {"README.md", "docs/inference.md"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("where,index,code", runnable_blocks(), ids=lambda x: str(x).replace("/", "_")[:40])
def test_a_python_example_of_the_docs_runs(where, index, code, finished_run, tmp_path):
    run_dir, _ = finished_run
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "amh").symlink_to(run_dir)
    for old, new in SUBSTITUTE.items():
        code = code.replace(old, new)
    import os

    env = {**os.environ, "UNIBRIDGE_RUNS": str(runs)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, f"{where} block {index}:\n{done.stderr[-3000:]}"


def test_the_plain_adapters_lines_of_docs_hub_are_the_model_cards():
    from unibridge.hub.artifact import plain_adapters_usage

    blocks = python_blocks(REPO / "docs" / "hub.md")
    card = plain_adapters_usage("pos", "amh", "intfloat/multilingual-e5-small")
    assert blocks[0].rstrip("\n").splitlines() == card
    pair = plain_adapters_usage("nli", "amh", "intfloat/multilingual-e5-small", head_type="classification")
    assert set(blocks[1].rstrip("\n").splitlines()) <= set(pair)
