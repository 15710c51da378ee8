"""Run a :class:`~unibridge.config.Recipe` stage by stage, caching each stage in the run directory.

Stages: ``vocab`` -> ``embeddings`` -> ``adaptation`` -> ``sources`` (source language adapters and
task adapters) -> ``harmony`` -> ``evaluation``. Each stage (and each source adapter / task adapter
inside ``sources``) is written atomically with a fingerprint of the settings it depends on; a
second run skips every stage whose fingerprint still matches, so an interrupted run resumes at
the first unfinished stage and editing one setting reruns only what depends on it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .artifacts import (
    check_run_target,
    jsonable,
    read_json,
    restore_stage,
    run_lock,
    share_stage,
    stage_dir,
    sweep_temp,
    task_adapter_dir,
    target_tokenizer_dir,
    write_json,
)
from .adaptation.model import ensure_adapter, load_run_target
from .backbones import load_tokenizer
from .config import STAGES, UNREADABLE_SHARE, Recipe
from .errors import DataError
from .registry import TASKS

log = logging.getLogger("unibridge")


@dataclass
class RunResult:
    """Outcome of a pipeline run: scores per task and weight strategy, wall time per stage (s)."""

    run_dir: Path
    scores: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    cached: list = field(default_factory=list)


def _say(msg: str) -> None:
    """A stage message: INFO on the ``unibridge`` logger (the command line shows it on stderr)."""
    log.info(msg)


class Pipeline:
    """The five UniBridge stages for one recipe.

    ``Pipeline(recipe, run_dir).run()`` -> RunResult. Models are loaded lazily and shared
    between stages of one run. ``stage_cache``: a folder shared between run directories; a
    stage (or source / task adapter) whose fingerprint it holds is copied instead of rebuilt,
    and every stage built is added to it (the transfer grid shares source adapters across
    targets and configurations this way).
    """

    def __init__(self, recipe: Recipe, run_dir: str | Path, stage_cache: str | Path | None = None,
                 retrain_sources: bool = False):
        from .hub.sources import SHIPPED_SOURCES

        self.recipe = recipe
        # shipped source adapters whose fingerprint matches are restored, not retrained
        self.shipped_sources: Path | None = None if retrain_sources else SHIPPED_SOURCES
        self.run_dir = Path(run_dir)
        self.stage_cache = Path(stage_cache) if stage_cache else None
        self._base_dir = None
        self._base_tok = None
        self._model = None
        self._backbone_head = None
        self._mono = None
        self._mono_dropped = 0
        self._reads: dict = {}
        torch.set_num_threads(max(1, os.cpu_count() or 1))

    # ------------------------------------------------------------------ shared inputs
    @property
    def base_dir(self) -> Path:
        if self._base_dir is None:
            from .backbones import resolve_backbone

            self._base_dir = resolve_backbone(self.recipe.base_model)
        return self._base_dir

    @property
    def base_tokenizer(self):
        if self._base_tok is None:
            self._base_tok = load_tokenizer(self.base_dir)
        return self._base_tok

    @property
    def mono(self) -> list[str]:
        if self._mono is None:
            from .data import read_text

            lines = read_text(list(self.recipe.mono), limit=self.recipe.mono_max_lines)
            tests = self._test_sentences()
            kept = [ln for ln in lines if ln.strip() not in tests]
            if len(kept) < len(lines):
                _say(f"target text: {len(lines) - len(kept)} line(s) left out, test sentences of the recipe's tasks")
            if not kept:
                raise DataError(f"the target corpus {list(self.recipe.mono)} is empty")
            self._mono, self._mono_dropped = kept, len(lines) - len(kept)
        return self._mono

    def _test_sentences(self) -> set[str]:
        """Every raw sentence of the recipe's target test sets (:meth:`TaskKind.texts`), stripped:
        the target text never holds one (SIB-200's sentences are FLORES-200's, whose devtest
        files serve as target text)."""
        from .tasks import get_task

        r, out = self.recipe, set()
        for task, tspec in r.tasks.items():
            spec = get_task(task)
            examples = self._read_once(("test-all", task), lambda: [
                x for p in tspec.test for x in spec.read(p, limit=None, label_map=tspec.label_map)])
            out.update(t.strip() for x in examples for t in spec.kind.texts(x))
        return out

    def target_tokenizer(self):
        """The tokenizer of the target embeddings (after the embeddings stage)."""
        return load_tokenizer(target_tokenizer_dir(self.run_dir))

    def data_refs(self, part: str) -> list:
        """The data references of one input ``part`` of the recipe: ``mono`` (target text),
        ``dictionary``, ``sources`` (every source's text and labelled files of the recipe's
        tasks), ``parallel`` (every source's parallel sentences) or ``tests``."""
        r = self.recipe
        if part == "mono":
            return list(r.mono)
        if part == "dictionary":
            return list(r.embeddings.dictionary or ())
        if part == "sources":
            return [p for spec in r.sources.values()
                    for p in (*spec.text, *(p for task in r.tasks for p in (*spec.task_files(task), *spec.dev_files(task))))]
        if part == "parallel":
            return [x for spec in r.sources.values() for x in (spec.parallel or "").split("|") if x]
        if part == "tests":
            return [p for t in r.tasks.values() for p in t.test]
        if part == "dev":
            return [p for t in r.tasks.values() for p in t.dev]
        raise ValueError(f"unknown data part {part!r}")

    def data_digest(self, *parts: str) -> str:
        """Content digest (32 hex chars) of the files of the named :meth:`data_refs` parts;
        it changes when any of those files' bytes change (DataError if one is missing). The
        order of a recipe's entries does not count here (the recipe's own fingerprint has it)."""
        from .data import data_digest

        return data_digest(ref for part in parts for ref in sorted(self.data_refs(part), key=str))

    _STAGE_DATA = {"vocab": ("mono",), "embeddings": ("mono", "dictionary"),
                   "adaptation": ("mono", "dictionary"),
                   "harmony": ("mono", "dictionary", "sources", "parallel", "dev"),
                   "evaluation": ("mono", "dictionary", "sources", "parallel", "dev", "tests")}

    def fingerprint(self, *keys: str, data: tuple[str, ...] = ("mono",), extra: str = "") -> str:
        """Fingerprint of the recipe's base model, seed and target text settings plus the named
        recipe sections ``keys``, and the content digest of the ``data`` parts; ``extra`` is
        appended (e.g. ``":mad-x"`` for a configuration built on the same inputs). Where test
        sentences were left out of the target text (:attr:`mono`), the test files' digest is part
        of it too."""
        dropped = f":minus-{self._mono_dropped}-tests-{self.data_digest('tests')[:8]}" \
            if "mono" in data and self.mono and self._mono_dropped else ""
        recipe = self.recipe
        if "adaptation" in keys and recipe.adaptation.regulariser == "auto":  # as it trains: `auto` resolved
            recipe = dataclasses.replace(recipe, adaptation=self.adaptation_config)
        if "embeddings" in keys and recipe.embeddings.method == "auto":  # likewise
            recipe = dataclasses.replace(recipe, embeddings=self.embeddings_config)
        return (recipe.fingerprint("base_model", "seed", "mono", "mono_max_lines", *keys)
                + "-" + self.data_digest(*data)[:16] + dropped + extra)

    def base_unk_share(self) -> float:
        """Share of the target text's pieces (:attr:`mono`, at most 2,000 lines) that the base
        tokenizer reads as ``<unk>`` (:func:`~unibridge.vocab.tokenizer.unk_share`), in [0, 1]."""
        from .vocab.tokenizer import unk_share

        return self._read_once(("base-unk-share",), lambda: unk_share(self.base_tokenizer, self.mono))

    @property
    def adaptation_config(self):
        """The recipe's target-adaptation settings as they train: ``regulariser: auto`` resolved
        on :meth:`base_unk_share` (:meth:`~unibridge.config.AdaptationConfig.resolved`)."""
        cfg = self.recipe.adaptation
        return cfg.resolved(self.base_unk_share()) if cfg.regulariser == "auto" else cfg

    @property
    def embeddings_config(self):
        """The recipe's embedding-initialisation settings as they run: ``method: auto`` resolved
        on :meth:`base_unk_share` (:meth:`~unibridge.config.EmbeddingConfig.resolved`)."""
        cfg = self.recipe.embeddings
        return cfg.resolved(self.base_unk_share()) if cfg.method == "auto" else cfg

    def _embeddings_read_parallel(self) -> bool:
        """Whether the recipe's embedding initializer takes the sources' parallel sentences (it
        declared the ``parallel`` option, e.g. ``align``)."""
        from .embeddings.registry import INITIALIZERS

        return "parallel" in INITIALIZERS.get(self.embeddings_config.method).options

    def stage_fingerprint(self, stage: str) -> str | None:
        """Fingerprint of what a stage depends on (None for ``sources``, cached per adapter): the
        recipe's settings for it and the contents of its data files (:meth:`data_digest`), so a
        stage is rebuilt when the text behind a recipe's path changes. Harmony depends on the
        task adapters (its dev-data choice runs them; their settings decide the source side of
        its distances), and evaluation on harmony's fingerprint (it scores with the stored weights)."""
        chain = {"vocab": ("vocab",), "embeddings": ("vocab", "embeddings"),
                 "adaptation": ("vocab", "embeddings", "adaptation"),
                 "harmony": ("vocab", "embeddings", "adaptation", "source_adaptation", "task", "harmony", "sources")}
        if stage == "harmony":  # its dev-data choice also depends on each task's dev files and label map
            dev = {t: [str(p) for p in spec.dev] + [spec.label_map] for t, spec in self.recipe.tasks.items() if spec.dev}
            extra = ":dev-" + hashlib.sha256(json.dumps(dev, sort_keys=True).encode()).hexdigest()[:12] if dev else ""
            extra += self.head_digest("adaptation") + self.head_digest("source_adaptation")
            return self.fingerprint(*chain[stage], data=self._STAGE_DATA[stage], extra=extra)
        if stage in ("embeddings", "adaptation") and self._embeddings_read_parallel():
            # the initializer reads every source's parallel sentences: which files, paired how
            pairs = ":parallel-" + hashlib.sha256(json.dumps(
                {s: spec.parallel for s, spec in self.recipe.sources.items()}, sort_keys=True).encode()).hexdigest()[:12]
            data = self._STAGE_DATA[stage] + ("parallel",)
        else:
            pairs, data = "", self._STAGE_DATA.get(stage, ())
        if stage == "adaptation":  # the target language adapter trains against the backbone head
            return self.fingerprint(*chain[stage], data=data, extra=pairs + self.head_digest())
        if stage in chain:
            return self.fingerprint(*chain[stage], data=data, extra=pairs)
        if stage == "evaluation":  # scores with the stored harmony: rebuilt whenever harmony is
            return self.fingerprint(data=self._STAGE_DATA[stage],
                                    extra=self.recipe.fingerprint() + ":" + self.stage_fingerprint("harmony"))
        return None

    def source_fingerprint(self, lang: str, task: str | None = None, on_source: bool | None = None) -> str:
        """Fingerprint of source ``lang``'s language adapter (or, with ``task``, its task adapter,
        of kind ``on_source`` when given: the task settings as :meth:`TaskConfig.with_kind` reads
        them): the base model, seed, the source data that adapter reads (names and content
        digests: a task adapter that task's files and label map), the task settings, and, for a
        language adapter and a task adapter stacked on one, the language adapter's text, the
        source-adaptation settings and the backbone head's digest (:meth:`head_digest`); a task
        adapter on the bare base depends on none of these. Nothing of the target, and nothing of
        the source's other tasks, so one source adapter serves every target and recipe."""
        from .data import data_digest

        r = self.recipe
        src = r.sources[lang]
        full = {k: v for k, v in src.fingerprint_dict().items()  # dev files: scoring; unspaced: below
                if not k.endswith(("_dev", "_unspaced"))}
        full.pop("parallel")
        stacked = task is None or (on_source if on_source is not None else r.task.source_language_adapter is not False)
        spec: dict = {}
        if stacked:  # the language adapter reads the source's text, or without one all its labelled text
            spec = {"text": full["text"]} if src.text else full
            text = src.text or tuple(sorted((f for t in src.labelled for f in src.task_files(t)), key=str))
            spec["text_digest"] = data_digest(text)
        if task is not None:
            spec.update({task: full.get(task, ()), f"{task}_label_map": src.label_map(task)})
        part = {"base_model": r.base_model, "seed": r.seed, "lang": lang, "spec": spec}
        if stacked:
            part.update(source_adaptation=r.source_adaptation.fingerprint_dict(),
                        head=self.head_digest("source_adaptation"))
        if task is not None:
            from .tasks import get_task

            cfg = r.task if on_source is None else r.task.with_kind(on_source)
            part.update(task=task, task_config=cfg.fingerprint_for(get_task(task).kind.uses_pooling, task),
                        files=data_digest(src.task_files(task)),  # the stage also scores it on the source's dev split
                        dev={"files": data_digest(src.dev_files(task)) if src.dev_files(task) else "past the cap",
                             "label_map": src.label_map(task)})
            if not src.is_spaced(task):  # read without word-boundary markers: other inputs
                part["unspaced"] = True
        return hashlib.sha256(json.dumps(jsonable(part), sort_keys=True).encode()).hexdigest()[:32]

    def check_inputs(self) -> None:
        """Resolve and parse every data file the recipe names before any work starts, as the
        stages will read them (the same readers and limits; the results are kept for them), so
        a missing or malformed file fails in seconds, not when its stage is reached.

        Raises:
            DataError: a file is missing, unreadable, not UTF-8 or malformed (``file:line: ...``),
                or the target text is empty. ConfigError: an unknown embedding initializer or
                weight strategy.
        """
        from .data import read_dictionary, resolve_data_paths
        from .embeddings import get_initializer
        from .inference.strategies import get_strategy

        r = self.recipe
        if r.embeddings.method != "auto":
            get_initializer(r.embeddings.method)  # ConfigError naming the registered ones
        get_strategy(r.harmony.strategy)  # likewise
        for part in ("mono", "dictionary", "sources", "parallel", "dev", "tests"):
            for ref in self.data_refs(part):
                resolve_data_paths(ref)
        self.mono  # noqa: B018 (reads and checks the target text)
        if r.embeddings.dictionary:
            read_dictionary(list(r.embeddings.dictionary))
        for lang, spec in r.sources.items():
            self._source_texts(lang)
            for task in r.tasks:
                self.task_data(lang, task)
                if spec.dev_files(task):  # a dev split the recipe names (the held-out rows are read when used)
                    self.source_dev(lang, task)
            if spec.parallel:
                self._pairs(lang, r.harmony.k)
        if self._embeddings_read_parallel():
            self.parallel_pairs()
        for task in r.tasks:
            self.test_examples(task)
            self.dev_examples(task)

    def _read_once(self, key: tuple, read):
        """``read()``, kept per ``key`` for the life of the pipeline (inputs are parsed once)."""
        if key not in self._reads:
            self._reads[key] = read()
        return self._reads[key]

    # ------------------------------------------------------------------ stage 1
    def stage_vocab(self) -> None:
        from .vocab.stage import build_vocabulary

        with stage_dir(self.run_dir / "vocab", self.stage_fingerprint("vocab")) as d:
            info, _ = build_vocabulary(self.mono, self.recipe.vocab, d, self.base_tokenizer)
        share = info.get("base_unk_share")
        if share is not None:  # measured on the same text: base_unk_share() need not tokenize it again
            self._reads.setdefault(("base-unk-share",), share)
        unk = f"; the base tokenizer reads {share:.0%} of the text's pieces as unknown" if share is not None else ""
        _say(f"vocabulary: {info.get('vocab_size')} pieces ({info['tokenizer_size']} with special tokens){unk}")
        r = self.recipe
        if r.embeddings.method == "auto":
            _say(f"embeddings: method auto -> {self.embeddings_config.method} (the base reads "
                 f"{self.base_unk_share():.0%} of the target text as unknown pieces; align from {UNREADABLE_SHARE:.0%})")
        if r.adaptation.regulariser == "auto":
            _say(f"adaptation: regulariser auto -> {self.adaptation_config.regulariser} (the base reads "
                 f"{self.base_unk_share():.0%} of the target text as unknown pieces; none from {UNREADABLE_SHARE:.0%})")
        if share is not None and share >= UNREADABLE_SHARE and (
                self.embeddings_config.method, self.adaptation_config.regulariser) != ("align", "none"):
            log.warning(f"the base model reads {share:.0%} of the target text as unknown pieces: for such a script "
                        "the recipes use `embeddings: {method: align}` and `adaptation: {regulariser: none}` "
                        "(recipes/sat.yaml; with Eq. 2-8 and the base as teacher every configuration stayed at the "
                        "majority class, docs/results.md)")

    # ------------------------------------------------------------------ stage 2
    def stage_embeddings(self) -> None:
        from .backbones import load_input_embeddings
        from .embeddings.stage import build_embeddings

        cfg = self.embeddings_config
        with stage_dir(self.run_dir / "embeddings", self.stage_fingerprint("embeddings")) as d:
            res, _ = build_embeddings(cfg, d, base_embeddings=load_input_embeddings(str(self.base_dir)),
                                      base_tokenizer=self.base_tokenizer,
                                      target_tokenizer=load_tokenizer(self.run_dir / "vocab" / "tokenizer"),
                                      corpus=self.mono, seed=self.recipe.seed,
                                      parallel=self.parallel_pairs() if self._embeddings_read_parallel() else None,
                                      workdir=self.run_dir / "cache" / "static",
                                      title=f"{self.recipe.target}: {cfg.method} initialisation")
        _say(f"embeddings ({cfg.method}): {res.report}")

    # ------------------------------------------------------------------ model
    def model(self):
        """The shared adapter model: base + target embeddings (loaded lazily)."""
        if self._model is None:
            from .adaptation.model import load_adapter_model

            self._model = load_adapter_model(self.base_dir)
        return self._model

    def _uses_backbone_head(self, section: str = "source_adaptation") -> bool:
        return getattr(self.recipe, section).mlm_head == "fitted"

    def backbone_head_info(self):
        """The backbone's MLM head (:func:`~unibridge.adaptation.backbone_head.backbone_head`:
        saved with the backbone, shipped, or fitted once per backbone on a fixed text and
        cached) as a :class:`~unibridge.adaptation.backbone_head.BackboneHead`; loaded once per
        pipeline. Every language adapter of every run on this backbone trains against it."""
        if self._backbone_head is None:
            from .adaptation.backbone_head import backbone_head

            info = backbone_head(self.model(), self.base_tokenizer, self.recipe.base_model, self.base_dir, say=_say)
            acc = info.report.get("heldout_accuracy")
            _say(f"backbone MLM head ({info.origin}, {info.digest}): held-out masked-token accuracy {acc}%")
            self._backbone_head = info
        return self._backbone_head

    def backbone_head(self):
        """The backbone head's :class:`~unibridge.adaptation.model.MLMHead` (frozen), or None when
        no language adapter of the recipe trains against a fitted head."""
        if not (self._uses_backbone_head() or self._uses_backbone_head("adaptation")):
            return None
        return self.backbone_head_info().head

    def head_digest(self, section: str = "adaptation") -> str:
        """``":head-<digest>"`` of the backbone head when ``section``'s language adapters train
        against it (appended to their fingerprints), else ``""``."""
        return f":head-{self.backbone_head_info().digest}" if self._uses_backbone_head(section) else ""

    # ------------------------------------------------------------------ stage 3
    def stage_adaptation(self) -> None:
        from .adaptation.stage import adapt_language

        cfg, t = self.adaptation_config, self.recipe.target
        model, tok = self.model(), self.target_tokenizer()
        load_run_target(model, self.run_dir, t, tok, trained=False)
        fp = self.stage_fingerprint("adaptation")
        checkpoints = self.run_dir / "cache" / "checkpoints" / f"adaptation-{fp[:16]}"
        with stage_dir(self.run_dir / "adaptation", fp) as d:
            dictionary = None
            if cfg.align_alpha > 0 and self.recipe.embeddings.dictionary:
                from .data import read_dictionary

                dictionary = read_dictionary(self.recipe.embeddings.dictionary)
            res = adapt_language(model, t, tok, self.mono, d, cfg=cfg, train_embeddings=True,
                                 base_tokenizer=self.base_tokenizer, seed=self.recipe.seed, checkpoints=checkpoints,
                                 dictionary=dictionary, head_init=self.backbone_head)
            _say_diagnostics(t, res["diagnostics"])
        _rm(checkpoints)
        load_run_target(model, self.run_dir, t, tok)

    # ------------------------------------------------------------------ stage 4
    def _source_texts(self, lang: str) -> list[str]:
        return self._read_once(("text", lang), lambda: self._read_source_texts(lang))

    def _read_source_texts(self, lang: str) -> list[str]:
        from .data import read_text

        spec = self.recipe.sources[lang]
        if spec.text:
            return read_text(list(spec.text))
        sents = []
        for task in TASKS.names():  # registration order: pos, ner, nli, topic, then tasks added by users
            kind = TASKS.get(task).kind
            for x in self.task_data(lang, task):
                sents.extend(kind.texts(x))
        return [t for t in sents if t.strip()]

    def task_data(self, lang: str, task: str) -> list:
        """Source ``lang``'s labelled training examples of ``task`` (its files under the recipe's
        ``task.train.max_examples`` cap, label map applied), read once per pipeline."""
        from .tasks import get_task

        spec = self.recipe.sources[lang]

        def read():
            out = []
            for p in spec.task_files(task):
                out.extend(get_task(task).read(p, limit=self.recipe.task.train.max_examples,
                                               label_map=spec.label_map(task)))
            return _as_spaced(out, spec.is_spaced(task))
        return self._read_once(("task", lang, task), read)

    def source_dev(self, lang: str, task: str) -> tuple[list, str]:
        """Source ``lang``'s own dev examples of ``task``, on which its task adapter is scored
        (:func:`~unibridge.tasks.stage.adapt_task`): its ``<task>_dev`` files, else the rows of its
        training files past the ``task.train.max_examples`` cap (held out from training); at most
        ``task.dev_max_examples``, label map and ``<task>_unspaced`` applied. Returns ``(examples, where)``, ``where``
        naming their origin; no examples (``[]``) where the source gives no dev files and its
        training files end within the cap."""
        from .tasks import get_task

        spec, cfg = self.recipe.sources[lang], self.recipe.task
        n, cap, given = cfg.dev_max_examples, cfg.train.max_examples, spec.dev_files(task)

        def read():
            if given:
                out = []
                for p in given:
                    out.extend(get_task(task).read(p, limit=n - len(out), label_map=spec.label_map(task)))
                    if len(out) >= n:
                        break
                return out[:n], "dev files"
            if not cap:
                return [], ""
            rows = []
            for p in spec.task_files(task):
                rows.extend(get_task(task).read(p, limit=cap + n, label_map=spec.label_map(task)))
            return rows[cap:cap + n], f"training rows past {cap}"

        def read_marked():
            examples, where = read()
            return _as_spaced(examples, spec.is_spaced(task)), where
        return self._read_once(("source-dev", lang, task), read_marked)

    def _restore_source(self, path: Path, fp: str, kind: str, on_source: bool | None = None) -> bool:
        """A source adapter from the run, the stage cache or the shipped ones (verified), if any has it."""
        from .hub.sources import restore_shipped

        if restore_stage(path, fp, self.stage_cache, kind):
            return True
        if restore_shipped(path, fp, kind, self.shipped_sources):
            what = ("" if on_source is None else " on its language adapter" if on_source else " on the bare base")
            _say(f"{kind}{what}: shipped adapter restored (checksums verified)")
            share_stage(path, fp, self.stage_cache, kind)
            return True
        return False

    def source_adapters(self) -> list[tuple[str, str, str | None, bool | None]]:
        """Every adapter the sources stage provides, in training order: ``(kind, lang, task,
        on_source)``, ``task`` and ``on_source`` None for a source language adapter (one per
        source where a task-adapter kind stacks on it), else a task adapter of each kind in
        :attr:`TaskConfig.adapter_kinds` for each source with that task's data. ``kind`` names it
        in the stage cache and among the shipped ones (``source-en``, ``task-pos-en``); its
        fingerprint is :meth:`source_fingerprint` ``(lang, task, on_source)``."""
        r = self.recipe
        kinds = r.task.adapter_kinds
        out: list[tuple[str, str, str | None, bool | None]] = [
            (f"source-{lang}", lang, None, None) for lang in (r.sources if True in kinds else ())]
        out += [(f"task-{t}-{s}", s, t, k) for t in r.tasks for k in kinds for s in r.sources
                if r.sources[s].task_files(t)]
        return out

    def stage_sources(self) -> int:
        """Train every source language adapter and task adapter (:meth:`source_adapters`) not yet
        cached or shipped; returns how many were trained."""
        from .adaptation.stage import adapt_language

        r = self.recipe
        model = self.model()
        model.set_active_embeddings("default")
        trained = 0
        for kind, lang, task, on_source in self.source_adapters():
            fp = self.source_fingerprint(lang, task, on_source)
            if task is None:
                d_lang = self.run_dir / "sources" / lang
                if self._restore_source(d_lang, fp, kind):
                    continue
                trained += 1
                _say(f"source language adapter '{lang}'")
                cfg = r.source_adaptation
                checkpoints = self.run_dir / "cache" / "checkpoints" / f"source-{lang}-{fp[:16]}"
                with stage_dir(d_lang, fp) as d:
                    res = adapt_language(model, lang, self.base_tokenizer, self._source_texts(lang), d, cfg=cfg,
                                         train_embeddings=False, base_tokenizer=self.base_tokenizer, seed=r.seed,
                                         checkpoints=checkpoints,
                                         head_init=self.backbone_head)
                    _say_diagnostics(lang, res["diagnostics"])
                _rm(checkpoints)
                share_stage(d_lang, fp, self.stage_cache, kind)
                continue
            d_task = task_adapter_dir(self.run_dir, task, lang, on_source)
            if self._restore_source(d_task, fp, kind, on_source):
                continue
            trained += 1
            _say(f"task adapter '{task}' on '{lang}'" + ("" if on_source else " (bare base model)"))
            if on_source:
                ensure_adapter(model, lang, self.run_dir / "sources" / lang / "adapter")
            with stage_dir(d_task, fp) as d:
                self.train_task_adapter(model, lang, task, on_source, d)
            share_stage(d_task, fp, self.stage_cache, kind)
        return trained

    def train_task_adapter(self, model, lang: str, task: str, on_source: bool, out: Path, *,
                           seed: int | None = None) -> list[dict]:
        """Train source ``lang``'s ``task`` adapter of kind ``on_source`` into ``out`` with the
        recipe's task settings, scored on :meth:`source_dev` and held to its floor
        (:func:`~unibridge.tasks.stage.adapt_task`); ``seed`` defaults to the recipe's. Returns
        the training history."""
        from functools import partial

        from .inference.predictor import score_adapter
        from .tasks import get_task
        from .tasks.stage import adapt_task

        r = self.recipe
        dev, where = self.source_dev(lang, task)
        score = partial(score_adapter, model, self.base_tokenizer, task, batch_size=r.evaluation.batch_size)
        return adapt_task(model, self.base_tokenizer, self.task_data(lang, task), get_task(task), lang, out,
                          cfg=r.task, seed=r.seed if seed is None else seed, language_adapter=on_source, dev=dev,
                          dev_source=where, score=score, say=_say)

    # ------------------------------------------------------------------ stage 5
    def _pairs(self, lang: str, k: int | None) -> list[tuple[str, str]]:
        from .data import read_pairs

        p = self.recipe.sources[lang].parallel
        if not p:
            from .data import get_language

            none = "" if get_language(self.recipe.target).alignment_dir else (
                f" (target '{self.recipe.target}' has no UniBridge alignment file to default to: give each source "
                "`parallel: target_file|source_file` of line-aligned sentences)")
            raise DataError(f"source '{lang}' names no parallel sentences ('parallel:') for harmony weights{none}")
        return self._read_once(("pairs", lang, k), lambda: read_pairs(p, limit=k))

    def parallel_pairs(self) -> list[tuple[str, str]]:
        """Every (target, source) sentence pair that the sources' ``parallel:`` entries name, all
        of them (not only harmony's K), sources in recipe order: what an embedding initializer
        that aligns them (``align``) reads. Raises DataError as :meth:`_pairs`, or when no source
        names parallel sentences and the target has no default alignment file."""
        return [p for s in self.recipe.sources for p in self._pairs(s, None)]

    def stage_harmony(self) -> None:
        """Stage 5 (:func:`~unibridge.inference.stage.build_harmony`): harmony weights from the
        run's target adapter, source language adapters and task adapters, each source's K
        parallel sentences and each task's dev examples."""
        from .inference.stage import build_harmony

        r = self.recipe
        model = self.model()
        load_run_target(model, self.run_dir, r.target, self.target_tokenizer())
        for _, lang, task, _ in self.source_adapters():
            if task is None:  # the source language adapters
                ensure_adapter(model, lang, self.run_dir / "sources" / lang / "adapter")
        with stage_dir(self.run_dir / "harmony", self.stage_fingerprint("harmony")) as d:
            build_harmony(model, r, self.run_dir, d, target_tokenizer=self.target_tokenizer(),
                          base_tokenizer=self.base_tokenizer, pairs={s: self._pairs(s, r.harmony.k) for s in r.sources},
                          dev={t: self.dev_examples(t) for t, spec in r.tasks.items() if spec.dev}, say=_say)

    # ------------------------------------------------------------------ evaluation
    def test_examples(self, task: str) -> list:
        """The target test set of ``task`` (capped at ``evaluation.max_examples`` per file)."""
        return self._target_examples(task, "test")

    def dev_examples(self, task: str) -> list:
        """The target dev examples of ``task`` (empty when the recipe names none; capped like the
        test set). Settings are chosen on these, never on :meth:`test_examples`."""
        return self._target_examples(task, "dev")

    def _target_examples(self, task: str, split: str) -> list:
        """The examples of the files the recipe names under ``tasks.<task>.<split>``, read once."""
        from .tasks import get_task

        r, spec = self.recipe, get_task(task)
        tspec = r.tasks[task]
        return self._read_once((split, task), lambda: [
            x for p in getattr(tspec, split)
            for x in spec.read(p, limit=r.evaluation.max_examples, label_map=tspec.label_map)])

    def stage_evaluation(self) -> dict:
        """Stage 6 (:func:`~unibridge.inference.stage.evaluate_run`): every task's test set scored
        by the predictor a user gets, for each weight strategy."""
        from .inference.stage import evaluate_run

        self._write_run_json()
        self._model = None  # the predictor loads exactly what a user would
        with stage_dir(self.run_dir / "evaluation", self.stage_fingerprint("evaluation")) as d:
            return evaluate_run(self.recipe, self.run_dir, d, {t: self.test_examples(t) for t in self.recipe.tasks})

    # ------------------------------------------------------------------ driver
    def _write_run_json(self, timings: dict | None = None) -> None:
        f = self.run_dir / "run.json"
        prev = read_json(f) if f.is_file() else {}
        r = self.recipe
        record = {"target": r.target, "base_model": r.base_model, "profile": r.profile,
                  "recipe": r.to_dict(), "sources": {t: [s for s, sp in r.sources.items() if sp.task_files(t)]
                                                     for t in r.tasks},
                  "timings": {**prev.get("timings", {}), **(timings or {})}}
        if jsonable(record) != prev:  # a finished run that is only read again is not rewritten
            write_json(f, record)

    def run(self, only: list[str] | None = None) -> RunResult:
        """Run the stages in order (``only`` restricts to named stages); returns the RunResult.

        Wall times are recorded in ``run.json`` as each stage finishes; a cached stage reports
        the time it took when it was built (and is listed in ``RunResult.cached``).
        """
        self.check_inputs()
        check_run_target(self.run_dir, self.recipe.target)
        with run_lock(self.run_dir):
            from .data import get_language

            lang = get_language(self.recipe.target)
            _say(f"target {lang.iso3}: {lang.name}, {lang.script} script"
                 + ("" if lang.alignment_dir or all(s.parallel for s in self.recipe.sources.values())
                    else " (no default alignment sentences for harmony weights)"))
            for left in sweep_temp(self.run_dir):
                _say(f"removed {left.relative_to(self.run_dir)}, left by an interrupted run")
            return self._run(only)

    def _run(self, only: list[str] | None) -> RunResult:
        run_json = self.run_dir / "run.json"
        built = read_json(run_json).get("timings", {}) if run_json.is_file() else {}
        result = RunResult(self.run_dir)
        for stage in STAGES:
            if only and stage not in only:
                continue
            fp = self.stage_fingerprint(stage)
            if fp is not None and restore_stage(self.run_dir / stage, fp, self.stage_cache, stage):
                result.cached.append(stage)
                result.timings[stage] = built.get(stage, 0.0)
                if stage == "evaluation":
                    result.scores = read_json(self.run_dir / "evaluation" / "results.json")
                _say(f"stage {stage}: cached")
                continue
            _say(f"stage {stage}")
            t0 = time.perf_counter()
            out = getattr(self, f"stage_{stage}")()
            result.timings[stage] = round(time.perf_counter() - t0, 1)
            if fp is not None:
                share_stage(self.run_dir / stage, fp, self.stage_cache, stage)
            if stage == "sources" and out == 0:  # every adapter was cached
                result.cached.append(stage)
                result.timings[stage] = built.get(stage, result.timings[stage])
            if stage == "evaluation":
                result.scores = out
            self._write_run_json({stage: result.timings[stage]})
        self._write_run_json()
        return result


def _say_diagnostics(adapter: str, diag: dict | None) -> None:
    """Log a trained language adapter's representation diagnostics on one line."""
    if diag is not None:
        from .adaptation.diagnostics import format_diagnostics

        _say(f"diagnostics '{adapter}': " + format_diagnostics(diag).replace("\n", "; "))


def _as_spaced(examples: list, spaced: bool) -> list:
    """``examples`` as read, or, for a task whose words are written without spaces
    (``<task>_unspaced``), each TaggedSentence marked ``spaced=False``."""
    return examples if spaced else [dataclasses.replace(x, spaced=False) for x in examples]


def _rm(p: Path) -> None:
    import shutil

    shutil.rmtree(p, ignore_errors=True)


def run_recipe(recipe: Recipe, run_dir: str | Path | None = None, only: list[str] | None = None,
               stage_cache: str | Path | None = None, retrain_sources: bool = False) -> RunResult:
    """Run ``recipe`` into ``run_dir`` (default ``runs/<target>``); see :class:`Pipeline`."""
    from .artifacts import default_run_dir

    return Pipeline(recipe, run_dir or default_run_dir(recipe.target), stage_cache,
                    retrain_sources=retrain_sources).run(only)
