"""Recipe schema: profiles, validation errors, round trip."""

from pathlib import Path

import re

import pytest
import yaml

from unibridge.config import Recipe
from unibridge.data import HFDataRef, get_language
from unibridge.errors import ConfigError

from .conftest import needs_data

RECIPE_DIR = Path(__file__).resolve().parents[1] / "recipes"
RECIPES = sorted(p for p in RECIPE_DIR.glob("*.yaml") if not p.name.startswith("_"))
BASE = {"target": "amh", "base_model": "me5-small", "mono": ["a.txt"],
        "sources": {"en": {"pos": "x.conllu", "parallel": "p.txt"}}, "tasks": {"pos": {"test": "t.conllu"}}}


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_and_profile_validates(path):
    profiles = Recipe.profile_names(path)
    assert {"paper", "cpu", "smoke"} <= set(profiles)  # inherited from _base.yaml
    for profile in [None, *profiles]:
        r = Recipe.load(path, profile)
        assert get_language(r.target).iso3 == path.stem and r.sources
        for code, spec in r.sources.items():  # every source names its harmony pairs: UniBridge's or SIB-200's
            lang = get_language(code)
            assert spec.parallel and (spec.parallel.endswith(f"-{lang.alignment_code}.txt") or re.fullmatch(
                rf"sib200/{r.target[:3]}_\w+/train\.tsv\|sib200/{lang.alignment_code[:3]}_\w+/train\.tsv", spec.parallel))
        for task in r.tasks:  # every task has training data in at least two sources
            assert sum(bool(s.task_files(task)) for s in r.sources.values()) >= 2


def test_catalogue_covers_the_papers_targets():
    wikiann = "amh ang cdo crh eml frr khm kan lij pbt san snd sin som".split()
    ud = "amh lij olo san snd sin tam tgl tat".split()
    americasnli = "aym bzd cni grn hch nah oto quy shp tar".split()
    tasks = {p.stem: set(Recipe.load(p).tasks) for p in RECIPES}
    assert {t for t in wikiann if "ner" in tasks.get(t, ())} == set(wikiann)
    assert {t for t in ud if "pos" in tasks.get(t, ())} == set(ud)
    assert {t for t in americasnli if "nli" in tasks.get(t, ())} == set(americasnli)
    sib200 = "amh tir lij san snd tam khm quy sat tzm bod".split()  # SIB-200 topics: every target of the shared data
    assert {t for t in sib200 if "topic" in tasks.get(t, ())} == set(sib200)
    assert Recipe.load(RECIPE_DIR / "tzm.yaml").target == "tzm-Tfng"  # Tifinagh, as SIB-200 writes it
    sources = sorted(p.stem for p in (RECIPE_DIR / "sources").glob("*.yaml"))
    assert sources == ["ar", "en", "ja", "ru", "zh"]
    assert "ja" not in Recipe.load(RECIPE_DIR / "quy.yaml").sources  # XNLI has no Japanese


@needs_data
def test_recipe_data_is_here_except_two_treebanks():
    from unibridge.recipes import recipe_status

    missing = {str(m) for p in RECIPES for m in recipe_status(p, runs=None).missing}
    assert missing == {"ud/UD_Sinhala-STB/si_stb-ud-test.conllu", "ud/UD_Tatar-NMCTT/tt_nmctt-ud-test.conllu"}
    st = recipe_status(RECIPE_DIR / "khm.yaml", runs=None)
    assert [str(h) for h in st.hub] == ["hf:unimelb-nlp/wikiann[km]:test"] and not st.missing


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_extends_and_source_files(tmp_path):
    _write(tmp_path / "_base.yaml", "base_model: me5-small\nseed: 7\nprofiles:\n  cpu: {seed: 8, task: {train: {max_steps: 3}}}\n")
    _write(tmp_path / "sources" / "en.yaml", "language: en\ndescription: English\npos: en.conllu\ntext: en.txt\n")
    r = _write(tmp_path / "amh.yaml", "extends: _base.yaml\ntarget: amh\nmono: [a.txt]\n"
               "sources:\n  en: {from: sources/en.yaml, text: other.txt}\n"
               "tasks: {pos: {test: t.conllu}}\nprofiles: {cpu: {seed: 9}}\n")
    rec = Recipe.load(r)
    assert (rec.base_model, rec.seed) == ("me5-small", 7)
    assert rec.sources["en"].task_files("pos") == ("en.conllu",) and rec.sources["en"].text == ("other.txt",)
    assert rec.sources["en"].parallel == "parallel/unibridge_alignment/flores/am/amh_Ethi-eng_Latn.txt"
    cpu = Recipe.load(r, "cpu")  # the recipe's profile keys win, the base's others survive
    assert cpu.seed == 9 and cpu.task.train.max_steps == 3
    assert Recipe.profile_names(r) == ["cpu"]


def test_a_parallel_pattern_names_every_source_s_pairs_and_a_source_s_own_entry_wins(tmp_path):
    base = {"target": "tir", "base_model": "m", "mono": ["a.txt"], "tasks": {"pos": {"test": "t.conllu"}},
            "sources": {"en": {"pos": "en.conllu"}, "ja": {"pos": "ja.conllu", "parallel": "mine.txt|theirs.txt"}}}
    r = Recipe.from_dict({**base, "parallel": "sib200/{flores}/train.tsv"})
    # tir is outside the table: its FLORES-200 code is built from ISO 639-3 and its script
    assert r.sources["en"].parallel == "sib200/tir_Ethi/train.tsv|sib200/eng_Latn/train.tsv"
    assert r.sources["ja"].parallel == "mine.txt|theirs.txt"
    assert Recipe.from_dict({**base, "target": "amh", "parallel": "p/{code}.txt"}).sources["en"].parallel == "p/amh.txt|p/en.txt"
    assert Recipe.from_dict(r.to_dict()) == r  # the pattern round-trips with the entries it made
    assert Recipe.from_dict(base).fingerprint() != r.fingerprint()
    # `unibridge config` says which layer made each entry: the pattern's, not "default"
    from unibridge.config import effective_settings

    f = _write(tmp_path / "tir.yaml", yaml.safe_dump(base))
    origin = {k: o for k, _, o in effective_settings(f, settings={"parallel": "sib200/{flores}/train.tsv"})}
    assert (origin["sources.en.parallel"], origin["sources.ja.parallel"]) == ("--set", "tir.yaml")
    for bad, msg in (("sib200/train.tsv", "must name {flores} or {code}"), ("x/{lang}.tsv", "and nothing else"),
                     ("x/{flores", "malformed"), (["a"], "must be a file pattern")):
        with pytest.raises(ConfigError, match=re.escape(msg)):
            Recipe.from_dict({**base, "parallel": bad})


def test_recipe_file_errors(tmp_path):
    _write(tmp_path / "a.yaml", "extends: b.yaml\n")
    _write(tmp_path / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(ConfigError, match="extends itself"):
        Recipe.load(tmp_path / "a.yaml")
    _write(tmp_path / "sources" / "ru.yaml", "language: ru\npos: ru.conllu\n")
    bad = _write(tmp_path / "c.yaml", "target: amh\nbase_model: m\nmono: a\nsources: {en: sources/ru.yaml}\n"
                 "tasks: {pos: {test: t}}\n")
    with pytest.raises(ConfigError, match="describes 'ru'"):
        Recipe.load(bad)
    with pytest.raises(ConfigError, match="recipe not found"):
        Recipe.load(_write(tmp_path / "d.yaml", "extends: nowhere.yaml\n"))


@pytest.mark.parametrize("ref,msg", [
    ({"hf": "../secrets"}, "not a Hugging Face dataset id"),
    ({"hf": "a/b/c"}, "not a Hugging Face dataset id"),
    ({"hf": "unimelb-nlp/wikiann", "subset": "km"}, "unknown key"),
    ({"hf": "unimelb-nlp/wikiann", "max_rows": 0}, "must be positive"),
    ({"name": "x"}, "mapping without 'hf:'"),
])
def test_bad_dataset_references(ref, msg):
    with pytest.raises(ConfigError, match=msg):
        Recipe.from_dict({**BASE, "tasks": {"pos": {"test": ref}}})


def test_dataset_references_round_trip():
    ref = {"hf": "unimelb-nlp/wikiann", "config": "km", "split": "test"}
    r = Recipe.from_dict({**BASE, "mono": ["a.txt", {"hf": "wikimedia/wikipedia", "config": "20231101.km",
                                                     "max_rows": 10}], "tasks": {"pos": {"test": ref}}})
    test = r.tasks["pos"].test[0]
    assert isinstance(test, HFDataRef) and (test.hf, test.config, test.split) == ("unimelb-nlp/wikiann", "km", "test")
    assert r.mono[0] == "a.txt" and r.mono[1].max_rows == 10
    assert Recipe.from_dict(r.to_dict()) == r
    other = Recipe.from_dict({**BASE, "tasks": {"pos": {"test": {**ref, "config": "kn"}}}})
    assert r.fingerprint("tasks") != other.fingerprint("tasks")


def test_yaml_exponents_without_a_sign_are_numbers(tmp_path):
    # YAML 1.1 reads 1.0e9 as a string; the schema turns numeric strings into numbers
    r = Recipe.from_dict({**BASE, "vocab": {"eps": "1.0e9", "v_i": "7000"}})
    assert r.vocab.eps == 1.0e9 and isinstance(r.vocab.eps, float) and r.vocab.v_i == 7000
    assert Recipe.from_dict({**BASE, "task": {"reduction_factor": 16}}).task.reduction_factor == 16


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


def test_settings_parse_into_a_nested_change_and_reach_the_grid_before_any_stage(tmp_path, capsys):
    from unibridge.cli import main
    from unibridge.config import parse_settings

    assert parse_settings(["task.train.max_steps=300", "task.source_language_adapter=false",
                           "adaptation.anchor_layers=[0, -1]", "embeddings.method=fvt"]) == {
        "task": {"train": {"max_steps": 300}, "source_language_adapter": False},
        "adaptation": {"anchor_layers": [0, -1]}, "embeddings": {"method": "fvt"}}
    for bad in ("task.train.max_steps", "=3", "task..x=1"):
        with pytest.raises(ConfigError, match="KEY=VALUE with a dotted KEY"):
            parse_settings([bad])
    with pytest.raises(ConfigError, match="conflicts"):
        parse_settings(["task=1", "task.x=2"])
    recipe = str(Path(__file__).resolve().parents[1] / "recipes" / "lij.yaml")
    assert main(["transfer", recipe, "--task", "pos", "--set", "task.source_language_adapter=false"]) == 2
    assert "give the grid its own --out folder" in capsys.readouterr().err
    out = tmp_path / "grid"
    assert main(["transfer", recipe, "--task", "pos", "--set", "task.nope=1", "--out", str(out)]) == 2
    assert "nope" in capsys.readouterr().err and not out.exists()  # refused before the first stage


def test_an_added_option_at_its_default_leaves_fingerprints_as_they_were():
    import hashlib
    import json

    r = Recipe.from_dict(BASE)
    d = r.to_dict()
    # written out, but not fingerprinted at their defaults
    assert d["adaptation"]["anchor_layers"] == [-1] and d["adaptation"]["adapter"] is None
    assert d["adaptation"]["mlm_layer"] == -1
    assert d["adaptation"]["teacher"] == "base" and "teacher" not in d["source_adaptation"]
    for stage in ("adaptation", "source_adaptation"):
        del d[stage]["anchor_layers"], d[stage]["adapter"], d[stage]["mlm_layer"]
    del d["adaptation"]["teacher"]
    want = hashlib.sha256(json.dumps({"adaptation": d["adaptation"]}, sort_keys=True).encode()).hexdigest()[:16]
    assert r.fingerprint("adaptation") == want
    init = Recipe.from_dict({**BASE, "adaptation": {"teacher": "init"}})
    assert init.fingerprint("adaptation") != r.fingerprint("adaptation")
    assert init.adaptation.fingerprint_dict()["teacher"] == "init"
    same = Recipe.from_dict({**BASE, "adaptation": {"anchor_layers": [-1]}})
    moved = Recipe.from_dict({**BASE, "adaptation": {"anchor_layers": [0, -1]}})
    assert same.fingerprint() == r.fingerprint()
    assert moved.fingerprint("adaptation") != r.fingerprint("adaptation")
    assert moved.fingerprint("source_adaptation") == r.fingerprint("source_adaptation")
    assert "anchor_layers" not in r.source_adaptation.fingerprint_dict()  # what source caches key on
    assert moved.adaptation.fingerprint_dict()["anchor_layers"] == [0, -1]
    middle = Recipe.from_dict({**BASE, "adaptation": {"mlm_layer": 4}})
    assert middle.adaptation.fingerprint_dict()["mlm_layer"] == 4
    assert middle.fingerprint("source_adaptation") == r.fingerprint("source_adaptation")
    with pytest.raises(ConfigError, match="anchor_layers must be a non-empty list of distinct"):
        Recipe.from_dict({**BASE, "adaptation": {"anchor_layers": [3, 3]}})


@pytest.mark.parametrize("change,msg", [
    ({"target": "xx-nope"}, "unknown language code"),
    ({"tasks": {"sentiment": {"test": "t"}}}, "unknown task 'sentiment'"),
    ({"vocab": {"epsilon": 3}}, "unknown key"),
    ({"sources": {}}, "no source languages"),
    ({"tasks": {"ner": {"test": "t"}}}, "no training data"),
    ({"vocab": {"eps": "five"}}, "'vocab.eps' must be a number"),
    ({"vocab": {"v_i": "1.5"}}, "'vocab.v_i' must be an integer"),
    ({"task": {"train": {"max_steps": True}}}, "'task.train.max_steps' must be a number"),
    # a label map only where the task's reader applies one (it would be read unmapped otherwise)
    ({"sources": {"en": {"pos": "x.conllu", "pos_label_map": {"PROPN": "NOUN"}}}},
     r"'sources.en.pos_label_map': the 'pos' task takes no label map \(tasks that do: ner\)"),
    ({"tasks": {"pos": {"test": "t.conllu", "label_map": "wikiann"}}},
     "'tasks.pos.label_map': the 'pos' task takes no label map"),
])
def test_invalid_recipes_raise_config_error(change, msg):
    with pytest.raises(ConfigError, match=msg):
        Recipe.from_dict({**BASE, **change})


def test_unknown_profile_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="unknown profile 'gpu'"):
        Recipe.from_dict({**BASE, "profiles": {"cpu": {}}}, "gpu")
    with pytest.raises(ConfigError, match=r"unknown profile 'gpu' \(extended by 'long'\)"):
        Recipe.from_dict({**BASE, "profiles": {"long": {"extends": "gpu"}}}, "long")
    with pytest.raises(ConfigError, match="profile 'a' extends itself: a -> b -> a"):
        Recipe.from_dict({**BASE, "profiles": {"a": {"extends": "b"}, "b": {"extends": "a"}}}, "a")
    with pytest.raises(ConfigError, match="recipe not found"):
        Recipe.load(tmp_path / "none.yaml")


def test_the_cpu_long_profile_is_cpu_with_a_longer_target_adaptation():
    cpu, long = (Recipe.load(RECIPE_DIR / "lij.yaml", p).to_dict() for p in ("cpu", "cpu-long"))
    assert long["adaptation"]["train"]["max_steps"] == 800 and long["adaptation"]["train"]["max_examples"] == 12800
    long["adaptation"]["train"].update(max_steps=200, max_examples=3200)
    assert long == cpu


def test_a_profile_extends_another_key_by_key():
    profiles = {"cpu": {"seed": 7, "adaptation": {"beta": 0.5, "train": {"max_steps": 200, "batch_size": 16}}},
                "long": {"extends": "cpu", "adaptation": {"train": {"max_steps": 800}}}}
    long, cpu = (Recipe.from_dict({**BASE, "profiles": profiles}, p) for p in ("long", "cpu"))
    assert (long.seed, long.adaptation.beta, long.adaptation.train.batch_size) == (7, 0.5, 16)
    assert (long.adaptation.train.max_steps, cpu.adaptation.train.max_steps) == (800, 200)


@needs_data
def test_recipes_command(tmp_path, capsys):
    import json

    from unibridge.cli import main

    run = tmp_path / "tam"
    (run / "evaluation").mkdir(parents=True)
    (run / "evaluation" / "results.json").write_text(json.dumps(
        {"pos": {"metric": "accuracy", "strategies": {"harmony": {"accuracy": 0.5}, "uniform": {"accuracy": 0.4}}}}))
    (run / "run.json").write_text(json.dumps({"profile": "cpu", "base_model": "me5-small"}))
    grid = tmp_path / "transfer" / "quy"
    grid.mkdir(parents=True)
    (grid / "results.json").write_text(json.dumps({"profile": "cpu", "base_model": "me5-small", "seeds": [1, 2],
        "tasks": {"nli": {"metric": "accuracy", "configs": {"unibridge": {"mean": 0.4}, "mad-x": {"mean": 0.3}}}}}))
    assert main(["recipes", str(RECIPE_DIR), "--runs", str(tmp_path)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    assert len(rows) == len(RECIPES)
    assert rows["tat"][-2:] == ["1", "ud/UD_Tatar-NMCTT/tt_nmctt-ud-test.conllu"] and rows["tam"][-1] == "0"
    # the table's scores come from the recorded grids a file lists, never from a machine's runs
    grids = tmp_path / "defaults.txt"
    grids.write_text(f"{grid / 'results.json'}:unibridge\n{grid / 'results.json'}:zero-shot,mad-x\n")
    rec = json.loads((grid / "results.json").read_text())
    rec.update(target="quy", recipe="quy.yaml", command="unibridge transfer recipes/quy.yaml", machine={})
    rec["tasks"]["nli"]["configs"] = {"unibridge": {"mean": 0.4, "std": 0.012, "per_seed": {"1": 0.39, "2": 0.41}},
                                      "zero-shot": {"mean": 0.35, "std": 0.0, "per_seed": {"1": 0.35, "2": 0.35}}}
    rec["tasks"]["nli"].update(strategies={}, n_test=750, test=["nli/americasnli/test/quy.tsv"])
    (grid / "results.json").write_text(json.dumps(rec))
    assert main(["recipes", str(RECIPE_DIR), "--runs", str(tmp_path), "--markdown", "--grids", str(grids)]) == 0
    table = capsys.readouterr().out
    assert "| [tam](tam.yaml) | Tamil | Taml | pos, topic | all here | — |" in table
    assert "| [sat](sat.yaml) | Santali | Olck | topic | all here | — |" in table
    assert "| [khm](khm.yaml) | Khmer | Khmr | ner, topic | hub: unimelb-nlp/wikiann km | — |" in table
    assert "| nli, topic | all here | nli accuracy 40.0 ± 1.2 (35.0) |" in table
    assert main(["recipes", str(RECIPE_DIR), "--runs", str(tmp_path), "--json"]) == 0
    records = {r["recipe"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(records) == set(rows) and records["tat"]["missing"] == ["ud/UD_Tatar-NMCTT/tt_nmctt-ud-test.conllu"]
    assert records["tam"]["last_scores"] == {"pos": {"metric": "accuracy", "score": 0.5}}  # the machine's own run
    assert records["tam"]["last_run"] == "cpu profile, me5-small" and records["khm"]["last_scores"] == {}


@needs_data
def test_the_recipes_readme_table_is_the_generated_one(monkeypatch):
    from unibridge.recipes import recipe_table
    from unibridge.transfer import recorded_scores

    monkeypatch.chdir(RECIPE_DIR.parent)
    table = recipe_table(RECIPE_DIR, recorded=recorded_scores())
    assert table in (RECIPE_DIR / "README.md").read_text(encoding="utf-8")  # `unibridge recipes --markdown`


def _search_corpus(recipe: Recipe) -> list[str] | None:
    """The lines the vocabulary search trains on under ``recipe``, or None if any is on the hub."""
    from unibridge.data import read_text
    from unibridge.vocab.search import split_heldout

    if any(isinstance(x, HFDataRef) for x in recipe.mono):
        return None
    lines = read_text(list(recipe.mono), limit=recipe.mono_max_lines)
    return split_heldout(lines, recipe.vocab.heldout_fraction)[0]


@needs_data
@pytest.mark.parametrize("profile", ["cpu", "smoke"])
@pytest.mark.slow
def test_every_local_corpus_supports_its_starting_vocabulary(profile, tmp_path):
    """SentencePiece can train v_i pieces on each recipe's local target text (the search's first step)."""
    from unibridge.vocab import train_sentencepiece

    checked = []
    for path in RECIPES:
        r = Recipe.load(path, profile)
        lines = _search_corpus(r)
        if lines is None:
            continue
        train_sentencepiece(lines, r.vocab.v_i, tmp_path / path.stem, model_type=r.vocab.model_type,
                            character_coverage=r.vocab.character_coverage)
        checked.append(path.stem)
    assert {"amh", "tam", "san", "snd", "quy", "oto", "nah"} <= set(checked)


def test_cli_options_take_their_defaults_and_ranges_from_the_config(capsys):
    """One home for defaults: `unibridge vocab/init/adapt` options default to the dataclass fields."""
    from unibridge.cli import build_parser
    from unibridge.config import EmbeddingConfig, SourceAdaptationConfig, TrainConfig, VocabConfig

    ap = build_parser()
    v, vc = ap.parse_args(["vocab", "t.txt", "--out", "o"]), VocabConfig()
    assert (v.v_i, v.v_m, v.delta, v.eps, v.sample_words, v.heldout) == (
        vc.v_i, vc.v_m, vc.delta, vc.eps, vc.sample_words, vc.heldout_fraction) == (7000, 60000, 1000, 5.0, 128, 0.0)
    i, ec = ap.parse_args(["init", "t.txt", "--tokenizer", "tok", "--out", "o"]), EmbeddingConfig()
    assert (i.augment_size, i.static_dim, i.static_epochs) == (ec.augment_size, ec.static_dim, ec.static_epochs)
    d, sc, tc = ap.parse_args(["adapt", "t.txt", "--out", "o"]), SourceAdaptationConfig(), TrainConfig()
    assert (d.eval_fraction, d.eval_steps, d.patience, d.save_steps, d.anchor_weight, d.head_fit_steps,
            d.kl_temperature, d.leave_out) == (
        sc.eval_fraction, sc.eval_steps, sc.patience, sc.save_steps, sc.anchor_weight, sc.head_fit_steps,
        sc.kl_temperature, sc.leave_out)
    assert (d.epochs, d.batch_size, d.lr, d.max_length, d.steps) == (
        tc.epochs, tc.batch_size, tc.learning_rate, tc.max_length, tc.max_steps)
    assert d.beta is None  # the command's own rule: 1.0 with --tokenizer, else 0
    with pytest.raises(SystemExit):
        ap.parse_args(["adapt", "t.txt", "--out", "o", "--eval-fraction", "1.5"])  # the field's range
    assert "argument --eval-fraction: must be in [0, 1); got 1.5" in capsys.readouterr().err


def _layered(tmp_path, own: str) -> Path:
    _write(tmp_path / "_base.yaml", "base_model: xlm-roberta-base\nseed: 42\nprofiles:\n"
           "  smoke: {base_model: me5-small, adaptation: {train: {max_steps: 4}}, task: {train: {max_steps: 4}}}\n")
    return _write(tmp_path / "amh.yaml", "extends: _base.yaml\ntarget: amh\nmono: [a.txt]\nsources: {en: {pos: e}}\n"
                  "tasks: {pos: {test: t}}\n" + own)


def test_a_recipes_own_value_is_validated_before_a_profile_could_replace_it(tmp_path):
    r = _layered(tmp_path, "adaptation: {train: {max_steps: 0}}\n")
    for profile in (None, "smoke"):  # the smoke profile's max_steps: 4 used to replace it silently
        with pytest.raises(ConfigError, match=r"amh.yaml: .*adaptation.train.max_steps.*0"):
            Recipe.load(r, profile)


def test_a_recipes_own_keys_win_over_the_profiles_it_inherits(tmp_path):
    r = _layered(tmp_path, "adaptation: {train: {max_steps: 50}}\nprofiles: {smoke: {seed: 5}}\n")
    smoke = Recipe.load(r, "smoke")
    assert smoke.adaptation.train.max_steps == 50  # the recipe's own value, not _base.yaml:smoke's 4
    assert (smoke.task.train.max_steps, smoke.base_model, smoke.seed) == (4, "me5-small", 5)
    assert Recipe.load(r).adaptation.train.max_steps == 50 and Recipe.load(r).seed == 42


def test_config_prints_every_effective_setting_and_where_it_comes_from(tmp_path, capsys):
    import json

    from unibridge.cli import main

    r = _layered(tmp_path, "adaptation: {train: {max_steps: 50}}\nprofiles: {smoke: {seed: 5}}\n")
    assert main(["config", str(r), "--profile", "smoke", "--set", "task.train.batch_size=3", "--json"]) == 0
    rows = {x["key"]: (x["value"], x["from"]) for x in json.loads(capsys.readouterr().out)}
    assert rows["adaptation.train.max_steps"] == (50, "amh.yaml")
    assert rows["task.train.max_steps"] == (4, "_base.yaml:smoke")
    assert rows["base_model"] == ("me5-small", "_base.yaml:smoke") and rows["seed"] == (5, "amh.yaml:smoke")
    assert rows["task.train.batch_size"] == (3, "--set") and rows["vocab.v_i"] == (7000, "default")
    assert main(["config", str(r), "--profile", "smoke", "--changed"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["setting", "value", "from"] and not any(line.endswith("default") for line in table)
    assert any(line.split() == ["adaptation.train.max_steps", "50", "amh.yaml"] for line in table)


def test_a_directory_given_as_a_recipe_says_so(tmp_path):
    with pytest.raises(ConfigError, match="is a directory; give a recipe file"):
        Recipe.load(tmp_path)


@needs_data
def test_recipes_for_languages_outside_the_table_validate_and_an_unknown_code_is_refused(tmp_path, tiny_base):
    from tests.conftest import tiny_recipe

    for code, name in (("cop", "Coptic"), ("sat", "Santali")):
        r = Recipe.from_dict({**tiny_recipe(tiny_base), "target": code})
        assert r.target == code and get_language(r.target).name == name
        assert all(s.parallel for s in r.sources.values())  # the tiny recipe names its pairs itself
    no_pairs = {**tiny_recipe(tiny_base), "target": "cop"}
    no_pairs["sources"] = {"en": {k: v for k, v in no_pairs["sources"]["en"].items() if k != "parallel"}}
    assert Recipe.from_dict(no_pairs).sources["en"].parallel is None  # no alignment file for Coptic
    with pytest.raises(ConfigError, match="unknown language code 'xqz'"):
        Recipe.from_dict({**tiny_recipe(tiny_base), "target": "xqz"})


@needs_data
@pytest.mark.slow
def test_a_run_for_a_language_outside_the_table_completes_and_names_it(tiny_base, tmp_path, capsys):
    import json

    import yaml

    from tests.conftest import tiny_recipe
    from unibridge.cli import main
    from unibridge.hub import pack

    recipe = {**tiny_recipe(tiny_base), "target": "sat", "tasks": {"pos": tiny_recipe(tiny_base)["tasks"]["pos"]}}
    (tmp_path / "sat.yaml").write_text(yaml.safe_dump(recipe, allow_unicode=True))
    assert main(["run", str(tmp_path / "sat.yaml"), "--run-dir", str(tmp_path / "run"), "--json"]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert out["target"] == "sat" and "harmony" in out["scores"]["pos"]["strategies"]
    assert "[unibridge] target sat: Santali, Olck script\n" in cap.err  # every source names its pairs
    art = pack(tmp_path / "run", tmp_path / "art")
    assert "Santali" in (art / "README.md").read_text(encoding="utf-8")
