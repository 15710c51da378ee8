"""Recipe schema: profiles, validation errors, round trip."""

from pathlib import Path

import pytest

from unibridge.config import Recipe
from unibridge.errors import ConfigError

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))
BASE = {"target": "amh", "base_model": "me5-small", "mono": ["a.txt"],
        "sources": {"en": {"pos": "x.conllu", "parallel": "p.txt"}}, "tasks": {"pos": {"test": "t.conllu"}}}


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_and_profile_validates(path):
    import yaml

    raw = yaml.safe_load(path.read_text())
    for profile in [None, *raw.get("profiles", {})]:
        r = Recipe.load(path, profile)
        assert r.target == raw["target"] and r.sources


def test_profile_overrides_merge_deeply():
    raw = {**BASE, "task": {"train": {"batch_size": 8}}, "profiles": {"p": {"task": {"train": {"max_steps": 3}}}}}
    r = Recipe.from_dict(raw, "p")
    assert r.task.train.batch_size == 8 and r.task.train.max_steps == 3
    assert r.task.reduction_factor == 16  # the paper's default survives
    assert Recipe.from_dict(raw).task.train.max_steps is None


def test_round_trip_and_fingerprint():
    r = Recipe.from_dict(BASE)
    assert Recipe.from_dict(r.to_dict()) == r
    changed = Recipe.from_dict({**BASE, "vocab": {"eps": 2.0}})
    assert r.fingerprint("embeddings") == changed.fingerprint("embeddings")
    assert r.fingerprint("vocab") != changed.fingerprint("vocab")


@pytest.mark.parametrize("change,msg", [
    ({"target": "xx-nope"}, "unknown language code"),
    ({"tasks": {"sentiment": {"test": "t"}}}, "unknown task 'sentiment'"),
    ({"vocab": {"epsilon": 3}}, "unknown key"),
    ({"sources": {}}, "no source languages"),
    ({"tasks": {"ner": {"test": "t"}}}, "no training data"),
])
def test_invalid_recipes_raise_config_error(change, msg):
    with pytest.raises(ConfigError, match=msg):
        Recipe.from_dict({**BASE, **change})


def test_unknown_profile_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="unknown profile 'gpu'"):
        Recipe.from_dict({**BASE, "profiles": {"cpu": {}}}, "gpu")
    with pytest.raises(ConfigError, match="recipe not found"):
        Recipe.load(tmp_path / "none.yaml")
