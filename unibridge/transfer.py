"""Transfer quality on real data: baselines, ablations and weight strategies for one target
(Tables 1-5 of Pham et al. 2024), several seeds, mean ± std.

Configurations (``CONFIGS``):

* ``zero-shot``: an English task adapter trained on the base model, no language adapters, applied
  to the target as it is;
* ``mad-x``: MAD-X (Pfeiffer et al. 2020): a target language adapter (+ invertible adapter)
  trained on the base vocabulary with the same objective minus UniBridge's KL term (``madx_config``), the English task adapter (trained on the English
  language adapter) stacked on it;
* ``unibridge``: the full method (the recipe as written), harmony weights;
* ``no-kl`` (β = 0), ``random-init`` (random embedding initialisation), ``fixed-vocab`` (no
  vocabulary search: 10,000 pieces): Table 5's ablations, each a full run with one change;
* ``fvt-init`` / ``paper-init`` / ``align-init`` / ``roman-init``: the full method with the
  embeddings initialised by FVT (each new token's row the mean of its base pieces', Gee et al.
  2022) / by Eq. 2–8 of Pham et al. 2024 / by IBM Model 1 word alignments of the sources' parallel
  sentences / by FVT over uroman's romanisation, whichever the recipe does not use already;
* ``english-only``: the UniBridge run with the English task adapter alone (no multi-source).

Weight strategies (the registry of :mod:`~unibridge.inference.strategies`: harmony,
harmony-untuned, lang2vec, uniform, entropy, and any registered later) score the ``unibridge``
run's task adapters; ``harmony`` uses the setting chosen on the target's dev data where the
recipe names some, ``harmony-untuned`` the recipe's distance and temperature; static strategies
are read from the evaluation stage's one pass, per-batch ones (entropy) run the predictor. Every
run shares one stage cache (``<out>/cache``), so source language and
task adapters are trained once per seed for all targets and configurations, and an ablation
rebuilds only the stages its change reaches. Each piece is written atomically with a
fingerprint, so an interrupted grid resumes where it stopped.

Layout: ``<out>/<target>/<config>/seed<k>/`` (run directories), ``<out>/<target>/results.json``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import platform
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from .artifacts import read_json, restore_stage, share_stage, stage_dir, task_adapter_dir, write_json
from .config import Recipe, _deep_merge, derived_parallel
from .errors import ConfigError
from .inference.strategies import strategy_names

FIXED_VOCAB_SIZE = 10000  # the fixed-vocab ablation's vocabulary unless a grid names another (the paper's 10k)
CONFIGS = ("zero-shot", "mad-x", "unibridge", "no-kl", "random-init", "fvt-init", "paper-init", "align-init",
           "roman-init", "fixed-vocab", "english-only")
ABLATIONS = {
    "no-kl": {"adaptation": {"beta": 0.0}},
    "random-init": {"embeddings": {"method": "random"}},
    "fvt-init": {"embeddings": {"method": "fvt"}},
    "paper-init": {"embeddings": {"method": "unibridge"}},
    "align-init": {"embeddings": {"method": "align"}},
    "roman-init": {"embeddings": {"method": "roman"}},
    "fixed-vocab": {"vocab": {"fixed_size": FIXED_VOCAB_SIZE}},  # TransferGrid.fixed_vocab_size
}
LABELS = {
    "zero-shot": "Zero-shot (English task adapter, no language adapter)",
    "mad-x": "MAD-X (language adapters on the base vocabulary, English task adapter)",
    "unibridge": "UniBridge (full)",
    "no-kl": "− KL regulariser (β = 0)",
    "random-init": "− embedding initialisation (random)",
    "fvt-init": "embedding initialisation by base pieces (FVT)",
    "paper-init": "embedding initialisation of Eq. 2–8 (the paper's)",
    "align-init": "embedding initialisation by word alignments of the parallel sentences (IBM Model 1)",
    "roman-init": "embedding initialisation by base pieces of the romanisation (uroman + FVT)",
    "fixed-vocab": "− vocabulary search (10k pieces)",
    "english-only": "− multi-source (English task adapter only)",
}


def _say(msg: str) -> None:
    """A grid message: INFO on the ``unibridge.transfer`` logger (stderr on the command line)."""
    logging.getLogger("unibridge.transfer").info(msg)


def madx_config(cfg):
    """The MAD-X baseline's language-adapter settings from the recipe's adaptation settings: the
    same schedule, head and anchor term, without UniBridge's KL term (β = 0) and ALIGN."""
    return dataclasses.replace(cfg, beta=0.0, align_alpha=0.0)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0.0 for one value). Raises ValueError if empty."""
    if not values:
        raise ValueError("no values")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def machine() -> dict:
    """The machine a grid ran on: CPU, cores, torch threads and version, GPU if any."""
    import torch

    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


@dataclass
class TransferGrid:
    """The grid for one recipe: ``TransferGrid("recipes/amh.yaml", "cpu", seeds=[1, 2]).run()``.

    ``tasks`` restricts the recipe's tasks; ``configs`` and ``strategies`` restrict the grid
    (strategies are scored on the UniBridge run, so only where ``unibridge`` or ``english-only`` is
    among the configurations; None: all registered ones there, none elsewhere; ``mad-x`` without
    them runs only that run's sources stage, which holds MAD-X's English task adapters);
    ``fixed_vocab_size`` is the vocabulary of the ``fixed-vocab`` ablation (the paper's 10k);
    ``sources`` restricts the source languages; ``change`` is merged into every configuration's
    recipe (e.g. ``{"mono_max_lines": 500}``); ``cache`` is the stage cache (default
    ``<out>/cache``; grids that name the same one share their stages).
    Raises ConfigError for an unknown configuration or strategy or a task the recipe lacks, and
    if ``mad-x``/``zero-shot``/``english-only`` are asked for without an English source, or
    strategies without ``unibridge`` or ``english-only``.
    """

    recipe_path: str | Path
    profile: str | None = "cpu"
    seeds: list[int] = field(default_factory=lambda: [42])
    configs: list[str] = field(default_factory=lambda: list(CONFIGS))
    strategies: list[str] | None = None
    tasks: list[str] | None = None
    out: str | Path = "runs/transfer"
    fixed_vocab_size: int = FIXED_VOCAB_SIZE
    sources: list[str] | None = None
    change: dict | None = None
    cache: str | Path | None = None

    def __post_init__(self):
        self.out = Path(self.out)
        self.cache = Path(self.cache) if self.cache else self.out / "cache"
        self.base = Recipe.load(self.recipe_path, self.profile)
        for c in self.configs:
            if c not in CONFIGS:
                raise ConfigError(f"unknown configuration '{c}'; known: {', '.join(CONFIGS)}")
        for s in self.strategies or ():
            if s not in strategy_names():
                raise ConfigError(f"unknown weight strategy '{s}'; known: {', '.join(strategy_names())}")
        if not {"unibridge", "english-only"} & set(self.configs):  # no UniBridge run to score them on
            if self.strategies:
                raise ConfigError("weight strategies are scored on the UniBridge run: add the unibridge "
                                  "configuration or leave the strategies out")
            self.strategies = []
        elif self.strategies is None:
            self.strategies = strategy_names()
        unknown = [s for s in self.sources or [] if s not in self.base.sources]
        if unknown:
            raise ConfigError(f"the recipe has no source(s) {unknown}; it has {list(self.base.sources)}")
        self.tasks = list(self.tasks or self.base.tasks)
        missing = [t for t in self.tasks if t not in self.base.tasks]
        if missing:
            raise ConfigError(f"the recipe has no test set for task(s) {missing}; it has {list(self.base.tasks)}")
        if {"mad-x", "zero-shot", "english-only"} & set(self.configs) and "en" not in (self.sources or self.base.sources):
            raise ConfigError("mad-x, zero-shot and english-only need an English source ('en')")
        if not self.seeds:
            raise ConfigError("no seeds")
        if self.change:
            self.recipe(self.seeds[0])  # a change that breaks the recipe fails here, before any stage
        plain = self.recipe(0)
        same = [c for c in self.configs if c in ABLATIONS and self.recipe(0, self.config_change(c)) == plain]
        if same:  # e.g. fvt-init where the recipe initialises by FVT already: the unibridge run is that run
            _say(f"{self.base.target}: {', '.join(same)} change(s) nothing in this recipe; not run")
            self.configs = [c for c in self.configs if c not in same]
        self._tests: dict[str, list] = {}

    # ------------------------------------------------------------------ recipes and runs
    def recipe(self, seed: int, change: dict | None = None) -> Recipe:
        """The recipe with ``seed``, the grid's tasks only, and ``change`` merged in."""
        d = self.base.to_dict()
        d["tasks"] = {t: d["tasks"][t] for t in self.tasks}
        if self.sources:
            d["sources"] = {s: d["sources"][s] for s in self.sources}
        d["seed"] = seed
        for code, spec in d["sources"].items():  # pairs the recipe derived, not named: a change of the pattern reaches them
            if spec["parallel"] == derived_parallel(self.base.parallel, self.base.target, code):
                spec["parallel"] = None
        r = Recipe.from_dict(_deep_merge(_deep_merge(d, self.change or {}), change or {}))
        return dataclasses.replace(r, profile=self.base.profile)

    def test_examples(self, task: str) -> list:
        """The target test set of ``task``, read once per grid (every configuration and seed
        scores the same examples)."""
        if task not in self._tests:
            self._tests[task] = self._pipeline("unibridge", self.seeds[0]).test_examples(task)
        return self._tests[task]

    def run_dir(self, config: str, seed: int) -> Path:
        return self.out / self.base.target / config / f"seed{seed}"

    def config_change(self, config: str) -> dict | None:
        """The recipe change of an ablation configuration (None for the others)."""
        if config == "fixed-vocab":
            return {"vocab": {"fixed_size": self.fixed_vocab_size}}
        return ABLATIONS.get(config)

    def _pipeline(self, config: str, seed: int):
        from .pipeline import Pipeline

        return Pipeline(self.recipe(seed, self.config_change(config)), self.run_dir(config, seed), self.cache)

    def _run_pipeline(self, config: str, seed: int) -> dict:
        _say(f"{self.base.target} {config} seed {seed}")
        return self._pipeline(config, seed).run().scores

    # ------------------------------------------------------------------ baselines
    def _score(self, predictor, examples, batch_size: int) -> float:
        return predictor.evaluate(examples, batch_size=batch_size, progress=False)[predictor.task.main_metric]

    def _score_english(self, model, pipe, task: str, adapter: Path, language_adapter: str | None,
                       examples: list | None = None) -> float:
        """Load the English task adapter + head at ``adapter`` into ``model`` (replacing one
        loaded before) and score it on ``examples`` (default: the target test set), stacked on
        ``language_adapter`` (None: directly on the base model)."""
        from .inference.predictor import MultiSourcePredictor
        from .tasks.train import task_adapter_name

        name = task_adapter_name(task, "en")
        if name in model.adapters_config:
            model.delete_adapter(name)
            model.delete_head(name)
        model.load_adapter(str(adapter), load_as=name, use_safetensors=True)
        pred = MultiSourcePredictor.from_model(model, pipe.base_tokenizer, task, {"en": name},
                                               language_adapter=language_adapter)
        return self._score(pred, self.test_examples(task) if examples is None else examples,
                           pipe.recipe.evaluation.batch_size)

    def _madx(self, seed: int) -> dict:
        """MAD-X: target language adapter on the base vocabulary (the schedule, head and anchor of the
        UniBridge adaptation), English task adapter of the UniBridge run stacked on it."""
        from .adaptation.model import ensure_adapter, load_adapter_model
        from .adaptation.stage import adapt_language

        pipe = self._pipeline("unibridge", seed)
        r, t = pipe.recipe, pipe.recipe.target
        d = self.run_dir("mad-x", seed)
        fp = pipe.fingerprint("adaptation") + ":mad-x" + pipe.head_digest()
        model = load_adapter_model(pipe.base_dir)
        if not restore_stage(d / "adaptation", fp, self.cache, "madx-adaptation"):
            _say(f"{t} mad-x seed {seed}: target language adapter on the base vocabulary")
            cfg = pipe.adaptation_config
            ck = d / "checkpoints"
            with stage_dir(d / "adaptation", fp) as out:
                adapt_language(model, t, pipe.base_tokenizer, pipe.mono, out, cfg=madx_config(cfg),
                               train_embeddings=False, base_tokenizer=pipe.base_tokenizer, seed=seed, checkpoints=ck,
                               head_init=pipe.backbone_head,
                               diagnostics=False)
            shutil.rmtree(ck, ignore_errors=True)
            share_stage(d / "adaptation", fp, self.cache, "madx-adaptation")
            model.delete_adapter(t)
        ensure_adapter(model, t, d / "adaptation" / "adapter")
        scores = {}
        kinds = r.task.adapter_kinds
        for task in self.tasks:
            adapters = {k: task_adapter_dir(self.run_dir("unibridge", seed), task, "en", k) / "adapter" for k in kinds}
            kind, dev = kinds[-1], pipe.dev_examples(task)
            if len(kinds) > 1 and dev:  # `choose`: the kind that scores higher on MAD-X's own dev run
                on_dev = {k: self._score_english(model, pipe, task, adapters[k], t, examples=dev) for k in kinds}
                kind = max(reversed(kinds), key=on_dev.get)
                _say(f"{t} mad-x seed {seed}: {task} task adapters " + ("on the source adapter" if kind else "on the base")
                     + " (dev " + ", ".join(f"{'source' if k else 'base'} {v:.3f}" for k, v in on_dev.items()) + ")")
            scores[task] = self._score_english(model, pipe, task, adapters[kind], language_adapter=t)
        return scores

    def _zero_shot(self, seed: int) -> dict:
        """Zero-shot: an English task adapter trained on the base model (no language adapter)."""
        from .adaptation.model import load_adapter_model

        pipe = self._pipeline("unibridge", seed)
        r = pipe.recipe
        model = load_adapter_model(pipe.base_dir)
        scores = {}
        for task in self.tasks:
            d = self.run_dir("zero-shot", seed) / "tasks" / task
            fp = pipe.source_fingerprint("en", task, False) + ":zero-shot"
            if not restore_stage(d, fp, self.cache, f"zeroshot-{task}"):
                _say(f"{r.target} zero-shot seed {seed}: English {task} task adapter on the base model")
                with stage_dir(d, fp) as out:
                    pipe.train_task_adapter(model, "en", task, False, out, seed=seed)
                share_stage(d, fp, self.cache, f"zeroshot-{task}")
            scores[task] = self._score_english(model, pipe, task, d / "adapter", language_adapter=None)
        return scores

    def _predictor_scores(self, strategy: str, seed: int) -> dict:
        """A strategy's scores on the UniBridge run through the predictor: a per-batch strategy
        (re-weighting each batch) or one registered after the run's evaluation was stored."""
        from .inference.predictor import MultiSourcePredictor

        pipe = self._pipeline("unibridge", seed)
        f = self.run_dir("unibridge", seed) / f"{strategy}.json"
        fp = pipe.stage_fingerprint("evaluation")
        if f.is_file() and read_json(f).get("fingerprint") == fp:
            return read_json(f)["scores"]
        scores = {}
        for task in self.tasks:
            pred = MultiSourcePredictor(pipe.recipe.target, task, run_dir=pipe.run_dir, weights=strategy)
            scores[task] = self._score(pred, self.test_examples(task), pipe.recipe.evaluation.batch_size)
        write_json(f, {"fingerprint": fp, "scores": scores})
        return scores

    # ------------------------------------------------------------------ the grid
    def run_seed(self, seed: int) -> tuple[dict, dict, dict]:
        """(config -> task -> score, strategy -> task -> score, config -> seconds) for one seed."""
        configs, strategies, seconds = {}, {}, {}
        own = self.base.harmony.strategy  # the recipe's own strategy, as its evaluation scored it
        # the UniBridge run (and the weight strategies, scored on it) only where a configuration
        # reads it; MAD-X takes the English task adapters from its sources stage alone
        need_unibridge = bool({"unibridge", "english-only"} & set(self.configs))
        if "mad-x" in self.configs and not need_unibridge:
            _say(f"{self.base.target} unibridge seed {seed}: sources stage only (for mad-x)")
            t0 = time.perf_counter()
            self._pipeline("unibridge", seed).run(only=["sources"])
            seconds["unibridge"] = time.perf_counter() - t0
        if need_unibridge:
            t0 = time.perf_counter()
            res = self._run_pipeline("unibridge", seed)
            seconds["unibridge"] = time.perf_counter() - t0
            main = {t: res[t]["strategies"][own][res[t]["metric"]] for t in self.tasks}
            if "unibridge" in self.configs:
                configs["unibridge"] = main
            if "english-only" in self.configs:
                configs["english-only"] = {t: res[t]["strategies"]["single:en"][res[t]["metric"]] for t in self.tasks}
            for s in self.strategies:
                if all(s in res[t]["strategies"] for t in self.tasks):
                    strategies[s] = {t: res[t]["strategies"][s][res[t]["metric"]] for t in self.tasks}
                else:
                    strategies[s] = self._predictor_scores(s, seed)
        for c in self.configs:
            if c in ("unibridge", "english-only"):
                continue
            t0 = time.perf_counter()
            if c in ABLATIONS:
                res = self._run_pipeline(c, seed)
                configs[c] = {t: res[t]["strategies"][own][res[t]["metric"]] for t in self.tasks}
            else:
                configs[c] = self._madx(seed) if c == "mad-x" else self._zero_shot(seed)
            seconds[c] = time.perf_counter() - t0
        return configs, strategies, seconds

    def run(self, command: str = "") -> dict:
        """Run every seed; write and return ``<out>/<target>/results.json``, merged with the one
        already there (:func:`merge_results`)."""
        from .tasks import get_task

        per_seed = {}
        for seed in self.seeds:
            per_seed[seed] = self.run_seed(seed)
        record = {"target": self.base.target, "profile": self.profile, "base_model": self.base.base_model,
                  "recipe": str(self.recipe_path), "seeds": list(self.seeds), "machine": machine(),
                  "command": command, "tasks": {}}
        if "fixed-vocab" in self.configs:
            record["fixed_vocab_size"] = self.fixed_vocab_size
        for task in self.tasks:
            spec = get_task(task)
            entry = {"metric": spec.main_metric, "n_test": len(self.test_examples(task)), "test": [
                str(x) for x in self.base.tasks[task].test], "configs": {}, "strategies": {},
                "majority": majority_score(spec, self.test_examples(task))}
            for part, idx, names in (("configs", 0, self.configs), ("strategies", 1, self.strategies)):
                for name in names:
                    vals = {str(s): per_seed[s][idx][name][task] for s in self.seeds if name in per_seed[s][idx]}
                    if vals:
                        m, sd = mean_std(list(vals.values()))
                        entry[part][name] = {"per_seed": vals, "mean": m, "std": sd}
            record["tasks"][task] = entry
        record["seconds"] = {c: sum(per_seed[s][2].get(c, 0.0) for s in self.seeds) for c in
                             dict.fromkeys(c for s in self.seeds for c in per_seed[s][2])}
        f = self.out / self.base.target / "results.json"
        if f.is_file():
            record = merge_results(read_json(f), record)
        write_json(f, record)
        return record


def majority_score(spec, examples: list) -> float:
    """The task's main metric when every label is the most frequent gold label of ``examples``
    (ties: the first in ``spec.labels``): the floor a transfer method must clear (for a
    classification task the majority-class accuracy; for IOB2 NER, ``O`` everywhere scores F1 0).
    Raises ValueError if ``examples`` is empty."""
    from collections import Counter

    if not examples:
        raise ValueError("no examples")
    gold = [spec.gold(x) for x in examples]
    counts = Counter(label for g in gold for label in g)
    top = max(spec.labels, key=lambda label: counts[label])  # max keeps the first of equal counts
    return float(spec.metric(gold, [[top] * len(g) for g in gold])[spec.main_metric])


def merge_results(old: dict, new: dict) -> dict:
    """``new`` grid results merged onto ``old`` of the same target, profile and base model, so a
    grid can grow (more seeds, tasks or configurations) run by run: per task and configuration
    the per-seed scores are united (``new`` wins on a seed both have) and mean ± std recomputed;
    ``command`` lists every distinct command. A record of another target/profile/base model is
    replaced, not merged."""
    if any(old.get(k) != new.get(k) for k in ("target", "profile", "base_model")):
        return new
    out = copy.deepcopy(old)
    for task, e in new["tasks"].items():
        dst = out["tasks"].setdefault(task, {**e, "configs": {}, "strategies": {}})
        dst.update({k: e[k] for k in ("metric", "n_test", "test", "majority") if k in e})
        for kind in ("configs", "strategies"):
            for name, entry in e[kind].items():
                vals = {**dst[kind].get(name, {}).get("per_seed", {}), **entry["per_seed"]}
                m, sd = mean_std(list(vals.values()))
                dst[kind][name] = {"per_seed": dict(sorted(vals.items())), "mean": m, "std": sd}
    out["seeds"] = sorted({*old["seeds"], *new["seeds"]})
    cmds = old["command"] if isinstance(old["command"], list) else [old["command"]]
    out["command"] = list(dict.fromkeys([*cmds, *(new["command"] if isinstance(new["command"], list)
                                                  else [new["command"]])]))
    out["machine"] = new["machine"]
    if "fixed_vocab_size" in new:
        out["fixed_vocab_size"] = new["fixed_vocab_size"]
    out["seconds"] = {**old.get("seconds", {}), **new.get("seconds", {})}
    return out


def select_configs(record: dict, configs: list[str]) -> dict:
    """A copy of the grid record ``record`` with only the configurations ``configs`` (names of
    :data:`CONFIGS`); its weight strategies are kept only where ``unibridge`` is among them (they
    score the UniBridge run), and tasks left without a configuration are dropped. Raises
    ConfigError on a name that is not a configuration."""
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise ConfigError(f"unknown configuration {unknown[0]!r}: choose from {', '.join(CONFIGS)}")
    out = copy.deepcopy(record)
    for task, e in list(out["tasks"].items()):
        e["configs"] = {c: v for c, v in e["configs"].items() if c in configs}
        if "unibridge" not in configs:
            e["strategies"] = {}
        if not e["configs"]:
            del out["tasks"][task]
    return out


def combine_results(records: list[dict]) -> list[dict]:
    """Grid records of the same target, profile and base model merged into one, in the order given
    (:func:`merge_results`: a later record wins on a seed both have), so one report can draw a
    target's configurations from several grids; one record per (target, profile, base model), in
    order of first appearance."""
    out: dict[tuple, dict] = {}
    for r in records:
        key = (r["target"], r["profile"], r["base_model"])
        out[key] = merge_results(out[key], r) if key in out else r  # merge_results copies, never mutates
    return list(out.values())


def read_grids(args: list[str]) -> list[dict]:
    """Grid records from ``results.json`` files, ``FILE:CONFIG,CONFIG`` taking only those
    configurations (:func:`select_configs`), merged per target (:func:`combine_results`). Raises
    DataError for a file that cannot be read as JSON, ConfigError for an unknown configuration."""
    from .errors import DataError

    records = []
    for arg in args:
        f, configs = arg, None
        if ":" in arg and not Path(arg).is_file():  # FILE:CONFIG,CONFIG
            f, _, names = arg.rpartition(":")
            configs = [c for c in names.split(",") if c]
        try:
            record = json.loads(Path(f).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read results {f}: {e}") from None
        records.append(select_configs(record, configs) if configs is not None else record)
    return combine_results(records)


GRIDS = "docs/grid/defaults.txt"
"""The recorded grids of docs/results.md's table of every target on the current defaults, one
``transfer-report`` argument (``FILE`` or ``FILE:CONFIG,...``) a line."""


def recorded_scores(grids: str | Path = GRIDS) -> dict[str, dict]:
    """Per target, per task: ``(metric, UniBridge mean, spread, zero-shot mean or None, seeds)``
    from the grids listed in the file ``grids`` (paths relative to the working folder), merged as
    ``transfer-report`` merges them. {} when the file does not exist."""
    f = Path(grids)
    if not f.is_file():
        return {}
    args = [x.strip() for x in f.read_text(encoding="utf-8").splitlines() if x.strip() and not x.startswith("#")]
    out: dict[str, dict] = {}
    for r in read_grids(args):
        for task, e in r["tasks"].items():
            ub, zs = e["configs"].get("unibridge"), e["configs"].get("zero-shot")
            if ub:
                out.setdefault(r["target"], {})[task] = (e["metric"], ub["mean"], ub["std"],
                                                         zs["mean"] if zs else None, len(ub["per_seed"]))
    return out


# ---------------------------------------------------------------------- report

def _cell(entry: dict | None) -> str:
    if not entry:
        return "—"
    n = len(entry["per_seed"])
    return f"{100 * entry['mean']:.1f} ± {100 * entry['std']:.1f}" if n > 1 else f"{100 * entry['mean']:.1f}"


def results_markdown(records: list[dict]) -> str:
    """The results of several grids (``results.json`` records) as Markdown: one column per
    (target, task), rows = the majority-class score (where the grid recorded it), the
    configurations, then the weight strategies; scores in %, mean ± std over seeds (a single seed
    shows the value alone)."""
    if not records:
        raise ValueError("no results")
    cols = [(r, t) for r in records for t in r["tasks"]]
    head = "| | " + " | ".join(f"{r['target']} {t} ({r['tasks'][t]['metric']})" for r, t in cols) + " |"
    sep = "|---" * (len(cols) + 1) + "|"
    out = ["### Baselines and ablations", "", head, sep]
    sizes = {r.get("fixed_vocab_size", FIXED_VOCAB_SIZE) for r in records
             if any("fixed-vocab" in e["configs"] for e in r["tasks"].values())}
    labels = dict(LABELS)  # the fixed-vocab row names the size its grids used (records before it: 10k)
    if sizes and sizes != {FIXED_VOCAB_SIZE}:
        labels["fixed-vocab"] = "− vocabulary search (" + (f"{sizes.pop():,} pieces)" if len(sizes) == 1 else "fixed sizes)")
    if any("majority" in r["tasks"][t] for r, t in cols):  # grids before it recorded none
        out.append("| Majority class (every example the test set's most frequent label) | " + " | ".join(
            f"{100 * r['tasks'][t]['majority']:.1f}" if "majority" in r["tasks"][t] else "—" for r, t in cols) + " |")
    for c in CONFIGS:
        if any(c in r["tasks"][t]["configs"] for r, t in cols):
            out.append(f"| {labels[c]} | " + " | ".join(_cell(r["tasks"][t]["configs"].get(c)) for r, t in cols) + " |")
    named = [s for r, t in cols for s in r["tasks"][t]["strategies"]]
    if named:  # a grid without the UniBridge run has none
        out += ["", "### Weight strategies (UniBridge run)", "", head, sep]
    for s in dict.fromkeys([*strategy_names(), *named]):
        if any(s in r["tasks"][t]["strategies"] for r, t in cols):
            out.append(f"| {s} | " + " | ".join(_cell(r["tasks"][t]["strategies"].get(s)) for r, t in cols) + " |")
    out += ["", "### Runs", "", "| target | profile | base model | seeds | test sets (examples) | command |",
            "|---|---|---|---|---|---|"]
    for r in records:
        tests = "; ".join(f"{t}: {', '.join(e['test'])} ({e['n_test']})" for t, e in r["tasks"].items())
        cmds = r.get("command") or []
        cmds = "<br>".join(f"`{c}`" for c in ([cmds] if isinstance(cmds, str) else cmds))
        out.append(f"| {r['target']} | {r['profile']} | {r['base_model']} | {', '.join(map(str, r['seeds']))} | "
                   f"{tests} | {cmds} |")
    m = records[0]["machine"]
    out += ["", f"Machine: {m['processor']}, {m['cpu_count']} cores, torch {m['torch']} "
                f"({m['torch_threads']} threads){', ' + m['gpu'] if m.get('gpu') else ', no GPU'}."]
    return "\n".join(out) + "\n"


def results_rows(records: list[dict]) -> list[dict]:
    """The results of several grids as flat rows, one per (target, task, configuration or weight
    strategy): ``{"target", "task", "metric", "kind": "config" | "strategy", "name", "mean",
    "std", "per_seed"}`` (scores as fractions, as in ``results.json``)."""
    rows = []
    for r in records:
        for task, e in r["tasks"].items():
            for kind, group in (("config", "configs"), ("strategy", "strategies")):
                for name, v in e[group].items():
                    rows.append({"target": r["target"], "task": task, "metric": e["metric"], "kind": kind,
                                 "name": name, "mean": v["mean"], "std": v["std"], "per_seed": v["per_seed"]})
    return rows


def plot_results(records: list[dict], path: str | Path | None = None):
    """Grouped bars: one group per (target, task), one bar per configuration, error bars = std
    over seeds (clipped at 0); a configuration a grid did not run is marked "n/a" where its bar
    would stand. Written to ``path`` (PNG) and the path returned, or the
    ``matplotlib.figure.Figure`` returned when ``path`` is None. Raises ValueError if there are
    no results."""
    import numpy as np

    from .plotting import finish, new_figure

    if not records:
        raise ValueError("no results")
    cols = [(r, t) for r in records for t in r["tasks"]]
    configs = [c for c in CONFIGS if any(c in r["tasks"][t]["configs"] for r, t in cols)]
    x = np.arange(len(cols))
    width = 0.8 / max(len(configs), 1)
    fig = new_figure((1.6 + 1.5 * len(cols), 3.8))
    ax = fig.subplots()
    for i, c in enumerate(configs):
        e = [r["tasks"][t]["configs"].get(c) for r, t in cols]
        at = x + (i - (len(configs) - 1) / 2) * width
        mean = np.array([100 * v["mean"] if v else np.nan for v in e])
        std = np.array([100 * v["std"] if v else np.nan for v in e])
        bars = ax.bar(at, mean, width, yerr=[np.minimum(std, mean), std], label=c, capsize=2)
        for k, v in enumerate(e):
            if v is None:
                ax.text(at[k], 1, "n/a", ha="center", va="bottom", rotation=90, fontsize=6,
                        color=bars.patches[k].get_facecolor())
    ax.set_xticks(x, [f"{r['target']} {t}\n({r['tasks'][t]['metric']})" for r, t in cols])
    ax.set_ylabel("score (%)")
    ax.legend(fontsize=7, ncol=min(4, len(configs)), loc="upper left", bbox_to_anchor=(0, 1.22))
    ax.grid(axis="y", alpha=0.3)
    seeds = sorted({s for r in records for s in r.get("seeds", [])})
    ax.set_title(f"Transfer grid, mean ± std over seeds {', '.join(map(str, seeds))}", fontsize=9, pad=38)
    fig.tight_layout()
    return finish(fig, path, dpi=120)
