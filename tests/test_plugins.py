"""Plug-ins from the command line: a module named by ``--plugin`` or declared as an entry point of
the group ``unibridge.plugins`` registers an initializer and a weight strategy that ``unibridge
run`` then accepts. Each case runs in its own process (registries are process-wide)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from .conftest import needs_data, tiny_recipe

pytestmark = needs_data

PLUGIN = '''
from unibridge.embeddings import register_initializer
from unibridge.inference.strategies import register_strategy

@register_initializer("toyinit")
def toyinit(**kw):
    raise RuntimeError("not meant to run here")

@register_strategy("toyweights", help="all weight on the first source")
def toyweights(ctx):
    return {s: float(i == 0) for i, s in enumerate(ctx.sources)}
'''


def _cli(args, path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "unibridge.cli", *args], capture_output=True, text=True, env=env,
                          cwd=path)


def _recipe(tmp_path, tiny_base):
    recipe = {**tiny_recipe(tiny_base), "embeddings": {"method": "toyinit"}, "harmony": {"strategy": "toyweights"},
              "mono": ["mono/not-here.txt"]}  # the data check comes after the plug-in names: nothing runs
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    return str(tmp_path / "r.yaml")


@pytest.mark.slow
def test_a_plugin_module_named_on_the_command_line_registers_what_run_accepts(tmp_path, tiny_base):
    (tmp_path / "toy_unibridge_plugin.py").write_text(PLUGIN)
    r = _recipe(tmp_path, tiny_base)
    without = _cli(["run", r, "--run-dir", str(tmp_path / "run")], tmp_path)
    assert without.returncode == 2 and "unknown embedding initializer 'toyinit'" in without.stderr
    with_it = _cli(["run", r, "--run-dir", str(tmp_path / "run"), "--plugin", "toy_unibridge_plugin"], tmp_path)
    assert with_it.returncode == 2 and "toyinit" not in with_it.stderr and "toyweights" not in with_it.stderr
    assert "mono/not-here.txt" in with_it.stderr.strip().splitlines()[-1]  # got past both names
    bad = _cli(["--plugin", "no_such_plugin", "recipes"], tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "unibridge: error: plug-in no_such_plugin could not be loaded: ModuleNotFoundError: "
        "No module named 'no_such_plugin'")


@pytest.mark.slow
def test_an_installed_package_declaring_the_entry_point_loads_by_itself(tmp_path, tiny_base):
    (tmp_path / "toy_ep_plugin.py").write_text(PLUGIN)
    info = tmp_path / "toy_ep-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-ep\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[unibridge.plugins]\ntoy = toy_ep_plugin\n")
    done = _cli(["run", _recipe(tmp_path, tiny_base), "--run-dir", str(tmp_path / "run")], tmp_path)
    assert done.returncode == 2 and "mono/not-here.txt" in done.stderr and "toyinit" not in done.stderr
