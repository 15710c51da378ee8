"""Frozen configuration dataclasses for every stage, and the :class:`Recipe` that holds them.

A recipe is a YAML file naming a target language, a base model, the data of each stage and
the stage settings. Profiles (``cpu``, ``smoke``, ``paper`` ...) are partial overrides merged
onto the recipe's top level. Defaults for every setting live here and nowhere else; the
paper's values (Tables 6-9 of Pham et al. 2024) are the dataclass defaults unless a
comment says otherwise.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .data.hf import HFDataRef, is_hf_ref
from .heads import POOLINGS
from .errors import ConfigError
from .registry import TASKS
STAGES = ("vocab", "embeddings", "adaptation", "sources", "harmony", "evaluation")  # in pipeline order


def _number(value, typ: str, key: str):
    """``value`` as ``typ`` ("float" or "int"); YAML 1.1 reads ``1.0e9`` (no exponent sign) as a
    string, so numeric strings are accepted. Raises ConfigError for anything else."""
    if value is None or isinstance(value, bool):
        if value is None:
            return None
        raise ConfigError(f"'{key}' must be a number, got {value!r}")
    if isinstance(value, (int, float)) and (typ == "float" or isinstance(value, int)):
        return value  # as written (an int in a float field keeps the recipe's fingerprint)
    try:
        num = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"'{key}' must be a number, got {value!r}") from None
    if typ == "int":
        if num != int(num):
            raise ConfigError(f"'{key}' must be an integer, got {value!r}")
        return int(num)
    return num


@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric setting: ``lo``/``hi`` bounds (None: unbounded), each closed
    unless ``open_lo``/``open_hi``; None is allowed where the field's default is None."""

    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False
    open_hi: bool = False

    def __contains__(self, v) -> bool:
        if self.lo is not None and (v < self.lo or (self.open_lo and v == self.lo)):
            return False
        return not (self.hi is not None and (v > self.hi or (self.open_hi and v == self.hi)))

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.open_lo else '['}{self.lo:g}, {self.hi:g}{')' if self.open_hi else ']'}"
        if self.lo is not None:
            return f"{'>' if self.open_lo else '>='} {self.lo:g}"
        return f"{'<' if self.open_hi else '<='} {self.hi:g}"


def ranged(default, lo: float | None = None, hi: float | None = None, *, open_lo: bool = False,
           open_hi: bool = False, added: bool = False):
    """A dataclass field whose value (or every element of a list value) must lie in the
    :class:`Range`; checked by :meth:`_Config.__post_init__`. ``added``: an option that came
    after runs were cached; :meth:`Recipe.fingerprint` leaves it out while it has its default,
    so stage caches built before it stay valid."""
    rng = Range(lo, hi, open_lo, open_hi)
    meta = {"range": rng, "added": added}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def _drop_added_defaults(obj, d: dict) -> dict:
    """``d`` (the dict form of dataclass ``obj``) without the ``added`` fields that hold their
    default, at every depth (nested configs, dicts of them); returns ``d``, changed in place."""
    for f in fields(obj):
        value, sub = getattr(obj, f.name), d.get(f.name)
        if f.metadata.get("added"):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if value == default:
                d.pop(f.name, None)
                continue
        if dataclasses.is_dataclass(value) and isinstance(sub, dict):
            _drop_added_defaults(value, sub)
        elif isinstance(value, dict) and isinstance(sub, dict):
            for k, v in value.items():
                if dataclasses.is_dataclass(v) and isinstance(sub.get(k), dict):
                    _drop_added_defaults(v, sub[k])
    return d


def check_ranges(obj) -> None:
    """Raise ConfigError naming the first field of dataclass ``obj`` outside its range."""
    for f in fields(obj):
        rng = f.metadata.get("range")
        value = getattr(obj, f.name)
        if rng is None or value is None:
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"'{f.name}' must be a number, got {v!r}")
            if v not in rng:
                raise ConfigError(f"'{f.name}' must be {rng}; got {v!r}")


def _from_dict(cls, data: dict | None, where: str):
    """Build dataclass ``cls`` from ``data``; unknown keys or non-numbers in numeric fields raise
    ConfigError naming ``where``."""
    data = dict(data or {})
    names = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in '{where}'; allowed: {sorted(names)}")
    for k, v in data.items():
        typ = str(names[k].type).split(" |")[0]
        if typ in ("float", "int"):
            data[k] = _number(v, typ, f"{where}.{k}")
    try:
        return cls(**data)
    except ConfigError as e:
        msg = str(e)
        raise ConfigError(msg.replace("'", f"'{where}.", 1) if msg.startswith("'") else f"{where}: {msg}") from None


class _Config:
    def __post_init__(self):
        check_ranges(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint_dict(self) -> dict:
        """:meth:`to_dict` as cache keys see it: options marked ``added`` (:func:`ranged`) are
        left out while they hold their default."""
        return _drop_added_defaults(self, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict | None, where: str = ""):
        return _from_dict(cls, data, where or cls.__name__)


@dataclass(frozen=True)
class VocabConfig(_Config):
    """Stage 1: Algorithm 1 (Pham et al. 2024) with ALP (Zheng et al. 2021).

    ``fixed_size`` skips the search (the "without vocabulary search" ablation uses 10000).
    ``sample_words``: ALP samples are consecutive text packed into this many words (the
    paper's 128); ``None`` scores each line as a sample. ``per_token``: ALP per token
    instead of per sample. ``heldout_fraction``: score ALP on the last fraction of lines,
    trained without them (0: on the training text, as the paper does).
    ``character_coverage``: None = 0.9995 for CJK text, 1.0 otherwise. ``strategy``:
    ``fast`` (Algorithm 1's exact answer with one training per core in flight), ``bisect``
    (fewer trainings when the ALP curve is concave) or ``full`` (the whole curve, then
    Algorithm 1); see :mod:`unibridge.vocab.search`.
    """

    v_i: int = ranged(7000, 1)
    v_m: int = ranged(60000, 1)
    delta: int = ranged(1000, 1)
    eps: float = ranged(5.0, 0, open_lo=True)
    sample_words: int | None = ranged(128, 1)
    per_token: bool = False
    heldout_fraction: float = ranged(0.0, 0, 1, open_hi=True)
    model_type: str = "unigram"
    character_coverage: float | None = ranged(None, 0, 1, open_lo=True)
    strategy: str = "fast"
    fixed_size: int | None = ranged(None, 1)


@dataclass(frozen=True)
class EmbeddingConfig(_Config):
    """Stage 2: embedding initialisation plug-in and its static (fastText) spaces (Table 7).

    ``method``: a registered initializer (unibridge, focus, fvt, align, roman, script, script+posn,
    ident, tema, va, random; ``align`` reads the sources' ``parallel:`` sentences, all of them),
    or ``auto`` (the ``cpu`` profile's): ``va`` where the base model reads the target's script,
    ``align`` where it does not (:meth:`resolved`). ``dictionary``: bilingual dictionary files
    (relative to the data root) for ``tema``. ``augment_size``: pieces ``va`` adds to the base
    vocabulary (Chau et al.: 99).
    """

    method: str = "unibridge"
    static_dim: int = ranged(300, 1)
    static_epochs: int = ranged(3, 1)
    min_count: int = ranged(1, 1)
    dictionary: list[str] | None = None
    augment_size: int = ranged(99, 0)

    def resolved(self, base_unk_share: float) -> "EmbeddingConfig":
        """This config with ``method: auto`` made concrete for a target text of which the base
        tokenizer reads the share ``base_unk_share`` (in [0, 1]) of pieces as ``<unk>``
        (:func:`~unibridge.vocab.tokenizer.unk_share`): ``align`` from :data:`UNREADABLE_SHARE`
        on, else ``va``; any other method is returned as it is (``self``).

        Why: where the base reads the script, every other initializer *replaces* the base
        vocabulary and loses what the base knows of the language; ``va`` keeps the base vocabulary
        and rows and appends the most frequent target pieces (Chau et al. 2020), and it scored
        above the recipes' replacing initializers on 11 of the 13 seen-script dev splits (SIB-200
        topics, UPOS, NLI; not Amharic NER on seed 42, not Tigrinya topics; docs/results.md,
        "Vocabulary augmentation where the base reads the script").
        Where the base reads ``<unk>`` after ``<unk>`` (sat, tzm, bod), a base row is no start for
        a new piece, and ``align`` was the only initializer above the majority class. Raises
        ValueError if the share is outside [0, 1]."""
        if not 0.0 <= base_unk_share <= 1.0:
            raise ValueError(f"base_unk_share must be in [0, 1], got {base_unk_share}")
        if self.method != "auto":
            return self
        return dataclasses.replace(self, method="align" if base_unk_share >= UNREADABLE_SHARE else "va")


@dataclass(frozen=True)
class TrainConfig(_Config):
    """Optimisation settings shared by language-adapter and task-adapter training.

    ``max_steps`` (if set) overrides ``epochs``; ``max_examples`` caps the training data.
    """

    epochs: float = ranged(1.0, 0, open_lo=True)
    max_steps: int | None = ranged(None, 1)
    batch_size: int = ranged(32, 1)
    learning_rate: float = ranged(5e-4, 0, open_lo=True)
    max_length: int = ranged(128, 4)
    max_examples: int | None = ranged(None, 1)
    warmup_ratio: float = ranged(0.0, 0, 1, open_hi=True)
    weight_decay: float = ranged(0.0, 0)


REGULARISERS = ("both", "anchor", "paper-kl", "none", "auto")
UNREADABLE_SHARE = 0.25
"""Share of the target text's base pieces that are ``<unk>`` from which the base counts as unable
to read the target's script (Santali in Ol Chiki: 93%, Tamazight in Tifinagh: 88%, Tibetan: 52%;
every script the base reads: under 1%): ``regulariser: auto`` then trains without a regulariser,
and ``embeddings: {method: auto}`` initialises with ``align`` instead of ``va``."""
TEACHERS = ("base", "init")
MLM_HEADS = ("fitted", "joint")


@dataclass(frozen=True)
class SourceAdaptationConfig(_Config):
    """Language adapters: SeqBn adapter + NICE invertible adapter (Table 8 of Pham et al. 2024)
    trained with MLM + regulariser against the frozen base. Every language adapter (the
    sources', the target's and the MAD-X baseline's) is trained with this objective; stage 4a
    (source adapters) uses this class, stage 3 (:class:`AdaptationConfig`) extends it.

    ``adapter``: the language adapter's architecture as the ``adapters`` library names it
    (``AdapterConfig.load``: a name such as ``seq_bn``, ``double_seq_bn_inv`` or ``par_bn``, or a
    mapping such as ``{architecture: lora, r: 8}``); None (the default) is MAD-X's
    ``SeqBnInvConfig`` with ``reduction_factor`` and a NICE invertible adapter of
    ``inv_reduction_factor``. Architectures other than bottleneck adapters may not stack with
    task adapters.
    ``leave_out``: layer indices without an adapter. ``eval_fraction``: share of the text held
    out for pseudo-perplexity (at most ``eval_max_texts`` lines), evaluated every
    ``eval_steps`` steps (0: once, at the end); ``patience`` > 0 stops after that many
    evaluations without improvement and restores the best weights. ``save_steps`` > 0 writes a
    resumable checkpoint every that many steps (with evaluation, at every evaluation).
    ``group_by_length``: batches of similar length (less padding).

    Regulariser (``regulariser``: ``both``, ``anchor``, ``paper-kl``, ``none``, or for the target's
    adapter ``auto``, see :meth:`AdaptationConfig.resolved`):
    ``paper-kl`` is Eq. 9, β·KL between softmaxes over the hidden axis of the MLM head's input
    and the base's (``kl_level`` ``"word"``: per word, ``"sentence"``: mean pooling;
    ``kl_temperature`` divides the states); ``anchor`` is λ·(1 − cos) (``anchor_kind``
    ``"cosine"``) or λ·MSE (``"mse"``) between the last layer's output, what task adapters
    read, and the base's, at the first and last token and every word (``anchor_weight`` = λ);
    ``anchor_layers`` lists the hidden states it holds (0: the embedding output after the
    invertible adapter, i: Transformer layer i, negative: from the last; default ``[-1]``, the
    last layer), the term being the mean over them.

    MLM head (``mlm_head``): ``fitted`` prepares the head before the adapter trains (bias from
    the text's log unigram frequencies, transform from the backbone's fitted head, then
    ``head_fit_steps`` steps of fitting alone on the frozen base at ``head_learning_rate``) and
    keeps it frozen, decoder included (the backbone head is one per backbone, shipped or fitted
    once on a fixed text: :mod:`unibridge.adaptation.backbone_head`); ``joint`` is the original recipe: a fresh head trained
    with the adapter, decoder tied to the trainable embeddings (see
    :mod:`unibridge.adaptation.head`). ``mlm_layer``: the hidden state the head reads (default
    -1, the last layer, as in the paper; i: Transformer layer i, negative: from the last); the
    MLM loss then trains only the layers up to it and the embeddings, and the KL term still
    compares the last layer.
    """

    reduction_factor: float = ranged(2, 0, open_lo=True)
    inv_reduction_factor: float = ranged(2, 0, open_lo=True)
    adapter: Any = field(default=None, metadata={"added": True})
    leave_out: list[int] = ranged([], 0)
    mlm_probability: float = ranged(0.15, 0, 1, open_lo=True, open_hi=True)
    eval_fraction: float = ranged(0.0, 0, 1, open_hi=True)
    eval_max_texts: int = ranged(64, 1)
    eval_steps: int = ranged(0, 0)
    patience: int = ranged(0, 0)
    save_steps: int = ranged(0, 0)
    group_by_length: bool = True
    regulariser: str = "both"
    beta: float = ranged(1.0, 0)
    kl_level: str = "word"
    kl_temperature: float = ranged(1.0, 0, open_lo=True)
    anchor_weight: float = ranged(1.0, 0)
    anchor_kind: str = "cosine"
    anchor_layers: list[int] = ranged([-1], -64, 64, added=True)
    mlm_head: str = "fitted"
    mlm_layer: int = ranged(-1, -64, 64, added=True)
    head_fit_steps: int = ranged(200, 0)
    head_learning_rate: float = ranged(1e-3, 0, open_lo=True)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=50, batch_size=32, learning_rate=5e-4))

    def __post_init__(self):
        super().__post_init__()
        for key, allowed in (("regulariser", REGULARISERS), ("mlm_head", MLM_HEADS),
                             ("kl_level", ("word", "sentence")), ("anchor_kind", ("cosine", "mse"))):
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{key} must be one of {', '.join(allowed)}; got {getattr(self, key)!r}")
        if self.regulariser == "auto" and not isinstance(self, AdaptationConfig):
            raise ConfigError("regulariser 'auto' is for the target's adapter (adaptation), not source_adaptation: "
                              "every source is written in a script the base reads")
        if self.adapter is not None:
            self.adapter_config()  # ConfigError for what adapters cannot read
        if not self.anchor_layers or len(set(self.anchor_layers)) != len(self.anchor_layers):
            raise ConfigError(f"anchor_layers must be a non-empty list of distinct layer indices; "
                              f"got {self.anchor_layers!r}")

    def adapter_config(self):
        """The language adapter's ``adapters`` config: :attr:`adapter` read by
        ``AdapterConfig.load`` (``leave_out`` applied), else ``SeqBnInvConfig`` (MAD-X, NICE
        invertible adapter) with the reduction factors. Raises ConfigError if ``adapters``
        cannot read :attr:`adapter`."""
        from adapters import AdapterConfig, SeqBnInvConfig

        leave_out = list(self.leave_out or [])
        if self.adapter is None:
            return SeqBnInvConfig(reduction_factor=self.reduction_factor, inv_adapter="nice",
                                  inv_adapter_reduction_factor=self.inv_reduction_factor, leave_out=leave_out)
        if not isinstance(self.adapter, (str, dict)):
            raise ConfigError(f"'adapter' must be an adapters config name or mapping, got {self.adapter!r}")
        try:
            cfg = AdapterConfig.load(copy.deepcopy(self.adapter))
            return cfg.replace(leave_out=leave_out) if leave_out else cfg
        except (ValueError, TypeError, KeyError) as e:
            raise ConfigError(f"'adapter': adapters cannot read {self.adapter!r} ({e})") from None

    @property
    def kl_weight(self) -> float:
        """β where the regulariser includes the paper's KL term, else 0. Raises ValueError for an
        unresolved ``auto`` (:meth:`AdaptationConfig.resolved`)."""
        self._check_resolved()
        return self.beta if self.regulariser in ("both", "paper-kl") else 0.0

    @property
    def anchor(self) -> float:
        """λ where the regulariser includes the anchor term, else 0. Raises ValueError for an
        unresolved ``auto``."""
        self._check_resolved()
        return self.anchor_weight if self.regulariser in ("both", "anchor") else 0.0

    def _check_resolved(self) -> None:
        if self.regulariser == "auto":
            raise ValueError("regulariser 'auto' depends on the target text: train with "
                             "AdaptationConfig.resolved(base_unk_share)")


@dataclass(frozen=True)
class AdaptationConfig(SourceAdaptationConfig):
    """Stage 3: the target language adapter + new embeddings (Table 8), the objective of
    :class:`SourceAdaptationConfig` plus, when ``align_alpha`` > 0, ALIGN-MLM's term
    (align-mlm.md): α · (− mean cosine between the new embedding of each target word of
    ``embeddings.dictionary`` and the base embedding of its translation).
    ``embedding_lr_scale``: the new embeddings learn at this multiple of the learning rate
    (0: they keep their initialisation).
    ``regulariser: auto`` (the ``cpu`` profile's): ``none`` where the base model cannot read the
    target's script, else ``both`` (:meth:`resolved`).
    ``teacher``: what the regulariser holds the model to. ``base``: the frozen base reading the
    text with its own tokenizer (the paper's). ``init``: the frozen base reading it as the
    student does, through the new embeddings as initialised. Where the base reads a script only
    as ``<unk>`` (Santali in Ol Chiki: 93% of its pieces), its states carry nothing, and holding
    the adapter to them erases what the initialisation put in (docs/results.md).
    """

    align_alpha: float = ranged(0.0, 0)
    embedding_lr_scale: float = ranged(1.0, 0, 100)
    teacher: str = field(default="base", metadata={"added": True})

    def __post_init__(self):
        super().__post_init__()
        if self.teacher not in TEACHERS:
            raise ConfigError(f"adaptation.teacher must be one of {', '.join(TEACHERS)}; got {self.teacher!r}")

    def resolved(self, base_unk_share: float) -> "AdaptationConfig":
        """This config with ``regulariser: auto`` made concrete for a target text of which the
        base tokenizer reads the share ``base_unk_share`` (in [0, 1]) of pieces as ``<unk>``
        (:func:`~unibridge.vocab.tokenizer.unk_share`): ``none`` from :data:`UNREADABLE_SHARE`
        on, else ``both``; any other regulariser is returned as it is (``self``).

        Why: the regulariser holds the target adapter to the frozen base reading the text with
        its own tokenizer. On scripts the base reads, dropping it lost on every dev split
        measured (SIB-200 tir, lij); where the base reads ``<unk>`` after ``<unk>`` (sat, tzm,
        bod) it erased the initialisation and ``none`` won on all three dev splits
        (docs/results.md). Raises ValueError if the share is outside [0, 1]."""
        if not 0.0 <= base_unk_share <= 1.0:
            raise ValueError(f"base_unk_share must be in [0, 1], got {base_unk_share}")
        if self.regulariser != "auto":
            return self
        return dataclasses.replace(self, regulariser="none" if base_unk_share >= UNREADABLE_SHARE else "both")


@dataclass(frozen=True)
class TaskConfig(_Config):
    """Stage 4b: one task adapter (SeqBn) per source language, stacked on its language adapter (Table 9).

    ``source_language_adapter``: train each task adapter stacked on its source's language adapter
    (MAD-X and the paper, the default); ``false``: on the bare base model, so that the target
    language adapter is the only language adapter of a prediction. Then no source language
    adapter is trained, and harmony distances compare the target side (target adapter) with the
    source side on the bare base, the space those task adapters read. ``choose``: train both
    kinds and use, per task, the kind whose harmony-combined prediction scores higher on the
    target's ``dev`` data (ties and tasks without dev data: the bare-base kind, the better one
    on the pooled Ligurian and Tamil dev splits, docs/results.md).

    ``pooling``: what a classification head (NLI) reads: the first token's final state
    (``first``, adapters' ``ClassificationHead``, the paper's setting) or the mean of the final
    states over the pair's tokens (``mean``, how me5 was trained). Tagging tasks ignore it (it is
    left out of their task adapters' fingerprints).

    ``group_by_length``: batches of examples of similar length (the Trainer's length-grouped
    sampler) instead of random ones: on the ``cpu`` profile's English UPOS adapter 2% padding
    instead of 54% and 2.1× the steps/s (``benchmarks/task_adapter.py``); off by default, since
    it changes the trained adapters (the shipped ones were trained on random batches).

    Source dev scores and floors: every task adapter is scored on its source's own dev split
    (``<task>_dev`` of the source, else its training files' rows past ``train.max_examples``; at
    most ``dev_max_examples``), and the score is kept with the adapter (``dev.json``) and in the
    shipped manifest. ``floors``: task -> the least dev score (the task's main metric, in [0, 1];
    e.g. ``{ner: 0.5}``) a task adapter must reach. One below it is trained again, up to
    ``floor_attempts`` tries in all, with a class-weighted loss
    (:func:`~unibridge.tasks.train.class_weights`) from the second and twice the steps from the
    third (:func:`~unibridge.tasks.stage.escalated`); the best try is kept. A
    source whose adapter still misses its floor is left out of that task's harmony weights and
    predictions (an adapter that learned to predict the majority label carries no signal, yet
    harmony would weigh it by language distance alone).
    """

    reduction_factor: float = ranged(16, 0, open_lo=True)
    source_language_adapter: bool | str = field(default=True, metadata={"added": True})
    pooling: str = field(default="first", metadata={"added": True})
    group_by_length: bool = field(default=False, metadata={"added": True})
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=11, batch_size=32, learning_rate=5e-4))
    dev_max_examples: int = ranged(500, 1)
    floors: dict[str, float] = field(default_factory=dict)
    floor_attempts: int = ranged(3, 1)

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.source_language_adapter, bool) and self.source_language_adapter != "choose":
            raise ConfigError(f"source_language_adapter must be true, false or choose; "
                              f"got {self.source_language_adapter!r}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"task.pooling must be first or mean; got {self.pooling!r}")
        if not isinstance(self.floors, dict):
            raise ConfigError(f"task.floors must map task names to scores in [0, 1]; got {self.floors!r}")
        for t, v in self.floors.items():
            if t not in TASKS:
                raise ConfigError(f"task.floors: unknown task '{t}'; known tasks: {', '.join(TASKS.names())}")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise ConfigError(f"task.floors.{t} must be a score in [0, 1] (the task's main metric); got {v!r}")

    @property
    def adapter_kinds(self) -> tuple[bool, ...]:
        """The task-adapter kinds to train, each as ``on_source`` (True: stacked on the source's
        language adapter, False: on the bare base); under ``choose`` both, the fall-back last."""
        s = self.source_language_adapter
        return (True, False) if s == "choose" else (s,)

    def fingerprint_for(self, pooled: bool, task: str | None = None) -> dict:
        """:meth:`fingerprint_dict` as a task adapter depends on it: without ``pooling`` unless
        its head reads a ``pooled`` state (a tagging head reads every token; see
        :attr:`TaskKind.uses_pooling <unibridge.tasks.kind.TaskKind.uses_pooling>`); of
        ``floors`` only ``task``'s (and ``floor_attempts`` only with it)."""
        d = self.fingerprint_dict()
        if not pooled:
            d.pop("pooling", None)
        floor = self.floors.get(task) if task is not None else None
        d.pop("floors", None)
        d.pop("floor_attempts", None)
        if floor is not None:
            d.update(floor=floor, floor_attempts=self.floor_attempts)
        return d

    def floor(self, task: str) -> float | None:
        """The least source dev score of ``task``'s adapters (``floors``), or None."""
        return self.floors.get(task)

    def with_kind(self, on_source: bool) -> "TaskConfig":
        """This config as it reads for one kind of task adapter (what that kind's fingerprint covers)."""
        return dataclasses.replace(self, source_language_adapter=on_source)


HARMONY_DISTANCES = ("sentence", "centroid")


@dataclass(frozen=True)
class HarmonyConfig(_Config):
    """Stage 5: harmony weights w = softmax(d / temperature), d = 1 / distance per source
    (Eq. 10-12); ``standardise``: d standardised over the sources first (see
    :func:`~unibridge.inference.weights.harmony_from_distances`).

    ``distance``: ``sentence`` is Eq. 10, the mean L2 distance between the mean-pooled states of
    the K parallel sentences (target side through the target adapter, source side through the
    source's); ``centroid`` is the gap between the two sides' token-state centroids in units of
    their spread, on the states the task adapters read
    (:func:`~unibridge.adaptation.diagnostics.centroid_gap`).
    Where a task names target ``dev`` data, the harmony stage scores every kind in
    ``tune_distances`` with every temperature in ``tune_temperatures`` on it and keeps the best
    per task (:func:`~unibridge.inference.weights.choose_harmony`; ties go to ``distance`` /
    ``temperature``, then to flatter weights); either list empty: no tuning.
    ``strategy``: the weight strategy the run's predictor and main score use, a name in the
    registry of :mod:`unibridge.inference.strategies` (checked before the first stage).
    """

    k: int = ranged(10, 1)
    temperature: float = ranged(1.0, 0, open_lo=True)
    standardise: bool = True
    strategy: str = "harmony"
    distance: str = "sentence"
    tune_distances: list = field(default_factory=lambda: list(HARMONY_DISTANCES))
    tune_temperatures: list = ranged([0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0], 0, open_lo=True)

    def __post_init__(self):
        super().__post_init__()
        for key in ("tune_distances", "tune_temperatures"):
            if not isinstance(getattr(self, key), (list, tuple)):
                raise ConfigError(f"'{key}' must be a list, got {getattr(self, key)!r}")
        for d in (self.distance, *self.tune_distances):
            if d not in HARMONY_DISTANCES:
                raise ConfigError(f"harmony distance must be one of {', '.join(HARMONY_DISTANCES)}; got {d!r}")


@dataclass(frozen=True)
class EvalConfig(_Config):
    """Evaluation on the target test sets; ``max_examples`` caps each test set."""

    batch_size: int = ranged(32, 1)
    max_examples: int | None = ranged(None, 1)


DataRef = str | HFDataRef
"""A data file name (relative to the data root, glob allowed) or a Hugging Face dataset split."""


# Source keys that cache keys made before tasks became a registry always held (empty when a
# source has no such files); keeping them keeps the fingerprints of cached and shipped adapters.
_KEYED_WHEN_EMPTY = ("pos", "ner", "nli")
_LABEL_MAP = "_label_map"
_DEV = "_dev"
_UNSPACED = "_unspaced"
SOURCE_KEYS = ("text", "parallel")  # a source's keys that name no task (nor ``<task>_label_map``, ``<task>_dev``, ``<task>_unspaced``)
SOURCE_KEY_SUFFIXES = (_LABEL_MAP, _DEV, _UNSPACED)  # a task name may not end in one


def check_label_map(task: str, value, where: str) -> None:
    """Raise ConfigError for a label map given to a task whose reader takes none (an empty entry
    is no map); ``where`` names the setting (a recipe key or a CLI option)."""
    if value and not TASKS.get(task).takes_label_map:
        raise ConfigError(f"'{where}': the '{task}' task takes no label map "
                          f"(tasks that do: {', '.join(n for n in TASKS.names() if TASKS.get(n).takes_label_map)})")


@dataclass(frozen=True)
class SourceSpec(_Config):
    """Data of one source language: ``text`` for its language adapter, ``parallel`` (K pairs
    with the target) for harmony weights, ``labelled`` training files per registered task
    (:data:`unibridge.registry.TASKS`), ``dev`` files per task (the source's own dev split, on
    which its task adapter is scored and held to :attr:`TaskConfig.floors`; left out: the
    training files' rows past ``task.train.max_examples``), ``label_maps`` per task (e.g.
    ``ner``'s tag mapping, applied to its dev files too) and ``unspaced``: the tagging tasks
    whose files (training and dev) hold words of a text written without spaces between them,
    such as a Chinese corpus with one character per token; their words are read without the
    tokenizer's word-boundary marker (:func:`~unibridge.tasks.tagging.encode_tagged`).

    In a recipe these are flat keys: ``{text: ..., parallel: ..., pos: ..., ner: ...,
    ner_dev: ..., ner_label_map: wikiann, ner_unspaced: true}``; every key other than ``text``,
    ``parallel``, ``<task>_dev``, ``<task>_label_map`` and ``<task>_unspaced`` names a task. ``parallel`` left out defaults to UniBridge's alignment
    file for the target and this source (``parallel/unibridge_alignment/<dir>/<target
    code>-<source code>.txt``, codes from :mod:`unibridge.data.languages`);
    ``"target_file|source_file"`` names line-aligned text.
    """

    text: tuple[DataRef, ...] = ()
    parallel: str | None = None
    labelled: dict[str, tuple[DataRef, ...]] = field(default_factory=dict)
    label_maps: dict[str, Any] = field(default_factory=dict)
    dev: dict[str, tuple[DataRef, ...]] = field(default_factory=dict)
    unspaced: tuple[str, ...] = ()

    def task_files(self, task: str) -> tuple[DataRef, ...]:
        """The labelled training files of ``task`` (empty if this source has none)."""
        return self.labelled.get(task, ())

    def dev_files(self, task: str) -> tuple[DataRef, ...]:
        """The dev files given for ``task`` (``<task>_dev``; empty if none: then its training
        files' rows past the cap serve, :meth:`Pipeline.source_dev <unibridge.pipeline.Pipeline.source_dev>`)."""
        return self.dev.get(task, ())

    def label_map(self, task: str) -> str | dict | None:
        """The label mapping given for ``task``'s files (a name, or the mapping itself), or None."""
        return self.label_maps.get(task)

    def is_spaced(self, task: str) -> bool:
        """False where ``task``'s files hold words written without spaces (``<task>_unspaced: true``)."""
        return task not in self.unspaced

    @classmethod
    def from_dict(cls, data: dict | None, where: str = "SourceSpec") -> "SourceSpec":
        """From the recipe's flat form (see the class); raises ConfigError for a key that is no
        registered task, a value that is not a file name, ``{hf: ...}`` or a list of them, or an
        ``<task>_unspaced`` that is not a boolean or names a task whose labels are not per word."""
        data = dict(data or {})
        labelled, maps, dev, unspaced = {}, {}, {}, []
        for key in [k for k in data if k not in SOURCE_KEYS]:
            value = data.pop(key)
            suffix = next((x for x in SOURCE_KEY_SUFFIXES if key.endswith(x) and key[:-len(x)] in TASKS), "")
            task = key[:-len(suffix)] if suffix else key
            if task not in TASKS:
                raise ConfigError(f"unknown key '{key}' in '{where}': not text, parallel, a task, <task>_dev, "
                                  f"<task>_label_map or <task>_unspaced; known tasks: {', '.join(TASKS.names())}")
            if suffix == _UNSPACED:
                if not isinstance(value, bool):
                    raise ConfigError(f"'{where}.{key}' must be true or false, got {value!r}")
                if value and not TASKS.get(task).kind.token_level:
                    raise ConfigError(f"'{where}.{key}': the '{task}' task has no words to read unspaced "
                                      "(only tasks labelled per word do)")
                if value:
                    unspaced.append(task)
            elif suffix == _LABEL_MAP:
                check_label_map(task, value, f"{where}.{key}")
                if value is not None:
                    maps[task] = value  # a mapping's name, or the mapping itself
            else:
                refs = _data_refs(value, f"{where}.{key}")
                if refs:
                    (dev if suffix == _DEV else labelled)[task] = refs
        if "text" in data:
            data["text"] = _data_refs(data["text"], f"{where}.text")
        return _from_dict(cls, {**data, "labelled": labelled, "label_maps": maps, "dev": dev,
                                "unspaced": tuple(unspaced)}, where)

    def to_dict(self) -> dict:
        """The recipe's flat form; :meth:`from_dict` reads it back."""
        plain = lambda refs: tuple(dataclasses.asdict(r) if dataclasses.is_dataclass(r) else r for r in refs)  # noqa: E731
        d: dict[str, Any] = {"text": plain(self.text), "parallel": self.parallel}
        for task in (*_KEYED_WHEN_EMPTY, *self.labelled):
            d[task] = plain(self.task_files(task))
        d["ner_label_map"] = self.label_map("ner")
        d.update({f"{t}{_LABEL_MAP}": m for t, m in self.label_maps.items()})
        d.update({f"{t}{_DEV}": plain(refs) for t, refs in self.dev.items()})  # only those given
        d.update({f"{t}{_UNSPACED}": True for t in self.unspaced})
        return d


@dataclass(frozen=True)
class TargetTaskSpec(_Config):
    """Target-side labelled data of one task: ``test`` (scored, never used to choose settings) and
    ``dev`` (optional; settings such as the harmony temperature are chosen on it)."""

    test: tuple[DataRef, ...] = ()
    dev: tuple[DataRef, ...] = ()
    label_map: str | None = None


_STAGES = {
    "vocab": VocabConfig,
    "embeddings": EmbeddingConfig,
    "adaptation": AdaptationConfig,
    "source_adaptation": SourceAdaptationConfig,
    "task": TaskConfig,
    "harmony": HarmonyConfig,
    "evaluation": EvalConfig,
}
_NESTED_TRAIN = ("adaptation", "source_adaptation", "task")


def _data_refs(v, where: str) -> tuple[DataRef, ...]:
    """A recipe's data entry (a file name, a ``{hf: ...}`` mapping or a list of them) as a tuple."""
    if v is None:
        return ()
    if isinstance(v, (str, dict, HFDataRef)):
        v = [v]
    out: list[DataRef] = []
    for i, x in enumerate(v):
        if isinstance(x, HFDataRef):
            out.append(x)
        elif is_hf_ref(x):
            out.append(HFDataRef.from_dict(x, f"{where}[{i}]"))
        elif isinstance(x, dict):
            raise ConfigError(f"'{where}[{i}]' is a mapping without 'hf:'; a data entry is a file name "
                              "or {hf: owner/name, config: ..., split: ...}")
        else:
            out.append(str(x))
    return tuple(out)


def _source_entry(code: str, spec, base_dir: Path) -> dict:
    """A source entry as a dict: a string names a source file (relative to the recipe), a
    mapping may name one under ``from:`` and override its keys."""
    if isinstance(spec, str):
        spec = {"from": spec}
    spec = dict(spec or {})
    ref = spec.pop("from", None)
    if ref is None:
        return spec
    path = (base_dir / ref).resolve()
    shared = _read_yaml(path)
    lang = shared.pop("language", None)
    shared.pop("description", None)
    from .data.languages import get_language

    if lang is not None and get_language(lang) != get_language(code):
        raise ConfigError(f"source '{code}' names {path}, which describes '{lang}'")
    return {**shared, **spec}


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"recipe not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"recipe {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"recipe {path} is not UTF-8 text (byte {e.start}: {e.reason})") from None
    except OSError as e:
        raise ConfigError(f"recipe {path} cannot be read ({e.strerror})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"recipe {path} must be a YAML mapping")
    return raw


def _recipe_files(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[str, dict]]:
    """``[(file name, its own keys)]`` of a recipe and the files it ``extends:``, the furthest
    ancestor first; each file's source files (``sources: {en: sources/en.yaml}``) read relative to
    it, ``extends`` removed."""
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"recipe {path} extends itself: {' -> '.join(map(str, (*seen, path)))}")
    if path.is_dir():
        raise ConfigError(f"recipe {path} is a directory; give a recipe file (e.g. {path}/amh.yaml)")
    raw = _read_yaml(path)
    sources = raw.get("sources")
    if isinstance(sources, dict):
        raw["sources"] = {c: _source_entry(c, s, path.parent) for c, s in sources.items()}
    parent = raw.pop("extends", None)
    layers = [] if parent is None else _recipe_files(path.parent / parent, (*seen, path))
    if raw.get("profiles") is not None and not isinstance(raw["profiles"], dict):
        raise ConfigError(f"recipe {path}: 'profiles' must be a mapping of profile names to settings")
    return [*layers, (path.name, raw)]


def _profile_chain(profiles: dict, name: str, seen: tuple[str, ...] = ()) -> list[str]:
    """Profile ``name`` and those it ``extends:``, the furthest first. Raises ConfigError for an
    unknown profile or an ``extends`` loop."""
    if name not in profiles:
        raise ConfigError(f"unknown profile '{name}'" + (f" (extended by '{seen[-1]}')" if seen else "")
                          + f"; this recipe has: {sorted(profiles) or 'none'}")
    if name in seen:
        raise ConfigError(f"profile '{name}' extends itself: {' -> '.join((*seen, name))}")
    parent = (profiles[name] or {}).get("extends")
    return [name] if parent is None else [*_profile_chain(profiles, parent, (*seen, name)), name]


def _profile(profiles: dict, name: str) -> dict:
    """The settings of profile ``name`` of one recipe dict: a profile saying ``extends: <other>``
    is the other profile with its own keys merged over it (key by key)."""
    out: dict = {}
    for p in _profile_chain(profiles, name):
        out = _deep_merge(out, {k: v for k, v in (profiles[p] or {}).items() if k != "extends"})
    return out


def recipe_layers(path: str | Path, profile: str | None = None, settings: dict | None = None
                  ) -> list[tuple[str, dict]]:
    """The layers a recipe file's settings are merged from, lowest precedence first, each
    ``(origin, keys)``: per file, the furthest ``extends:`` ancestor first, the file's own
    top-level keys (origin ``"_base.yaml"``) then its part of ``profile`` and of the profiles that
    profile extends (``"_base.yaml:cpu"``); ``settings`` last (``"--set"``). So a recipe's own keys
    win over every profile value it inherits, and its own profile over its own keys.

    Raises ConfigError for a missing or invalid file, an ``extends`` loop or an unknown profile.
    """
    files = _recipe_files(Path(path))
    profiles: dict = {}
    for _, raw in files:
        profiles = _deep_merge(profiles, raw.get("profiles") or {})
    chain = _profile_chain(profiles, profile) if profile is not None else []
    out = []
    for label, raw in files:
        out.append((label, {k: v for k, v in raw.items() if k != "profiles"}))
        own = raw.get("profiles") or {}
        for p in chain:
            part = {k: v for k, v in (own.get(p) or {}).items() if k != "extends"}
            if part:
                out.append((f"{label}:{p}", part))
    if settings:
        out.append(("--set", settings))
    return out


def _flat(d: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists and empty mappings are leaves)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def effective_settings(path: str | Path, profile: str | None = None, settings: dict | None = None
                       ) -> list[tuple[str, Any, str]]:
    """Every setting of the recipe at ``path`` with ``profile`` and ``settings`` applied, as
    ``(dotted key, value, origin)`` in the recipe's key order: origin is the layer of
    :func:`recipe_layers` that set it last (``"amh.yaml"``, ``"_base.yaml:cpu"``, ``"--set"``)
    or ``"default"``. Raises ConfigError as :meth:`Recipe.load` does."""
    layers = recipe_layers(path, profile, settings)
    recipe = Recipe.from_layers(layers, profile)
    origin: dict[str, str] = {}
    for label, part in layers:
        for k in _flat(part):
            origin[k] = label
    out = []
    for key, value in _flat(recipe.to_dict()).items():
        parts = key.split(".")
        found = next((origin[".".join(parts[:i])] for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in origin),
                     "default")
        if found == "default" and parts[0] == "sources" and parts[-1] == "parallel" and "parallel" in origin:
            found = origin["parallel"]  # made from the recipe's pattern
        out.append((key, value, found))
    return out


PARALLEL_FIELDS = ("flores", "code")


def parallel_from_pattern(pattern: str, target: str, source: str) -> str:
    """A source's ``parallel:`` entry (``target_file|source_file``) from the recipe's one pattern
    for all sources, e.g. ``sib200/{flores}/train.tsv`` -> ``sib200/amh_Ethi/train.tsv|
    sib200/eng_Latn/train.tsv`` for target amh and source en. ``{flores}``: the language's FLORES-200
    code (the table's, else ISO 639-3 + ``_`` + ISO 15924 script, FLORES-200's own naming, so
    ``tir_Ethi`` for tir); ``{code}``: the recipe's code (``amh``, ``en``). Files are then read as any
    ``parallel:`` entry (TSV files joined on ``index_id``, line-aligned text otherwise).

    Raises ConfigError if the pattern is not a string, names another field or none (target and
    source would read the same file), or a language has no script to build its FLORES-200 code from.
    """
    import string

    from .data.languages import get_language

    if not isinstance(pattern, str):
        raise ConfigError(f"'parallel' must be a file pattern such as 'sib200/{{flores}}/train.tsv'; got {pattern!r}")
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    except ValueError as e:
        raise ConfigError(f"'parallel' pattern {pattern!r} is malformed ({e})") from None
    if not names or names - set(PARALLEL_FIELDS):
        raise ConfigError(f"'parallel' pattern {pattern!r} must name {{flores}} or {{code}} and nothing else "
                          "(one file per language: the target's and each source's)")

    def one(code: str) -> str:
        lang = get_language(code)
        flores = lang.flores or (f"{lang.iso3}_{lang.script}" if lang.script else None)
        if flores is None and "flores" in names:
            raise ConfigError(f"'parallel' pattern {pattern!r}: '{code}' has no FLORES-200 code and no script to "
                              f"build one from; give sources.{source}.parallel as target_file|source_file")
        return pattern.format(flores=flores, code=code)

    return f"{one(target)}|{one(source)}"


def derived_parallel(pattern: str | None, target: str, source: str) -> str | None:
    """The ``parallel`` entry of a source that names none: from the recipe's ``pattern``
    (:func:`parallel_from_pattern`), else UniBridge's alignment file for the target (None where
    it has none). Raises ConfigError as :func:`parallel_from_pattern`."""
    if pattern:
        return parallel_from_pattern(pattern, target, source)
    from .data.languages import get_language

    t, s = get_language(target), get_language(source)
    if not (t.alignment_dir and t.alignment_code and s.alignment_code):
        return None
    return f"parallel/unibridge_alignment/{t.alignment_dir}/{t.alignment_code}-{s.alignment_code}.txt"


def parse_settings(items: list[str]) -> dict:
    """``["task.train.max_steps=300", "embeddings.method=fvt"]`` -> the nested recipe change
    ``{"task": {"train": {"max_steps": 300}}, "embeddings": {"method": "fvt"}}``; values are
    read as YAML (numbers, ``true``/``false``, lists). Raises ConfigError for an item without
    ``=`` or with an empty key part."""
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"a setting is KEY=VALUE with a dotted KEY (e.g. task.train.max_steps=300); got {item!r}")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"setting {item!r} conflicts with an earlier one")
        node[parts[-1]] = yaml.safe_load(value)
    return out


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _stage_configs(raw: dict) -> dict:
    """Pop the stage sections (``vocab`` ... ``evaluation``) from a recipe dict and build their
    configs (defaults for absent ones). Raises ConfigError for unknown keys or values out of range."""
    stages = {}
    for key, klass in _STAGES.items():
        d = raw.pop(key, None)
        if d is not None and not isinstance(d, dict):
            raise ConfigError(f"'{key}' must be a mapping of settings, got {d!r}")
        d = dict(d or {})
        if key in _NESTED_TRAIN:
            default_train = getattr(klass(), "train").to_dict()
            train = d.get("train") or {}
            if not isinstance(train, dict):
                raise ConfigError(f"'{key}.train' must be a mapping of settings, got {train!r}")
            d["train"] = TrainConfig.from_dict(_deep_merge(default_train, train), f"{key}.train")
        stages[key] = klass.from_dict(d, key)
    return stages


@dataclass(frozen=True)
class Recipe:
    """A target language's recipe, with one profile applied.

    Build with :meth:`Recipe.load` (YAML file) or :meth:`Recipe.from_dict`. Raises
    ConfigError on unknown keys, tasks or profiles.

    A source's ``parallel`` entry, where it names none, comes from the recipe's ``parallel``
    pattern (:func:`parallel_from_pattern`, e.g. ``sib200/{flores}/train.tsv``), else from
    UniBridge's alignment file for the target (``None`` where the target has none).
    """

    target: str
    base_model: str
    mono: tuple[DataRef, ...]
    sources: dict[str, SourceSpec]
    tasks: dict[str, TargetTaskSpec]
    vocab: VocabConfig = VocabConfig()
    embeddings: EmbeddingConfig = EmbeddingConfig()
    adaptation: AdaptationConfig = AdaptationConfig()
    source_adaptation: SourceAdaptationConfig = SourceAdaptationConfig()
    task: TaskConfig = TaskConfig()
    harmony: HarmonyConfig = HarmonyConfig()
    evaluation: EvalConfig = EvalConfig()
    mono_max_lines: int | None = None
    seed: int = 42
    profile: str | None = None
    description: str = ""
    # every source's parallel sentences by one pattern (see from_dict); None: the alignment files
    parallel: str | None = field(default=None, metadata={"added": True})

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path, profile: str | None = None) -> "Recipe":
        """Read a recipe YAML and apply ``profile``.

        A recipe may ``extends: <file>`` (merged under it, the recipe's own keys winning,
        profiles included) and name a source language's data by file
        (``sources: {en: sources/en.yaml}``, or ``{from: sources/en.yaml, parallel: ...}`` to
        override keys); both paths are relative to the file naming them.

        Raises:
            ConfigError: a file is missing or not valid YAML, ``extends`` loops, a source file
                describes another language, or the recipe is invalid (see :meth:`from_dict`).
        """
        return cls.from_layers(recipe_layers(path, profile), profile)

    @classmethod
    def from_layers(cls, layers: list[tuple[str, dict]], profile: str | None = None) -> "Recipe":
        """The recipe merged from :func:`recipe_layers` (later layers win, key by key), each
        layer's stage settings first validated on their own (a value no layer may hold is refused
        even where a later layer replaces it). Raises ConfigError naming the layer."""
        merged: dict = {}
        for label, part in layers:
            try:
                _stage_configs(copy.deepcopy(part))
            except ConfigError as e:
                raise ConfigError(f"{label}: {e}") from None
            merged = _deep_merge(merged, part)
        return dataclasses.replace(cls.from_dict(merged), profile=profile)

    @staticmethod
    def profile_names(path: str | Path) -> list[str]:
        """Profiles a recipe file offers (its own and those of the files it extends), sorted."""
        names: set[str] = set()
        for _, raw in _recipe_files(Path(path)):
            names |= set(raw.get("profiles") or {})
        return sorted(names)

    @classmethod
    def from_dict(cls, raw: dict, profile: str | None = None) -> "Recipe":
        raw = copy.deepcopy(raw)
        profiles = raw.pop("profiles", {}) or {}
        if profile is not None:
            raw = _deep_merge(raw, _profile(profiles, profile))
        for key in ("target", "base_model", "mono", "sources", "tasks"):
            if key not in raw:
                raise ConfigError(f"recipe is missing the required key '{key}'")
        from .data.languages import get_language  # validates language codes

        get_language(raw["target"])
        sources = {}
        for code, spec in (raw.pop("sources") or {}).items():
            get_language(code)
            if not isinstance(spec, (dict, type(None))):
                raise ConfigError(f"sources.{code} must be a mapping (source files are read by Recipe.load)")
            spec = dict(spec or {})
            if spec.get("parallel") is None:
                spec["parallel"] = derived_parallel(raw.get("parallel"), raw["target"], code)
            sources[code] = SourceSpec.from_dict(spec, f"sources.{code}")
        if not sources:
            raise ConfigError("recipe names no source languages")
        tasks = {}
        for name, spec in (raw.pop("tasks") or {}).items():
            TASKS.get(name)  # ConfigError naming the registered tasks
            spec = dict(spec or {})
            spec["test"] = _data_refs(spec.get("test"), f"tasks.{name}.test")
            if "dev" in spec:
                spec["dev"] = _data_refs(spec["dev"], f"tasks.{name}.dev")
            check_label_map(name, spec.get("label_map"), f"tasks.{name}.label_map")
            tasks[name] = TargetTaskSpec.from_dict(spec, f"tasks.{name}")
            if not any(s.task_files(name) for s in sources.values()):
                raise ConfigError(f"task '{name}' has no training data in any source language")
        stages = _stage_configs(raw)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"unknown recipe key(s): {unknown}")
        raw["mono"] = _data_refs(raw["mono"], "mono")
        return cls(sources=sources, tasks=tasks, profile=profile, **stages, **raw)

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON/YAML serialisable); ``from_dict(to_dict())`` round-trips."""
        d = dataclasses.asdict(self)
        d.pop("profile")
        d["sources"] = {code: spec.to_dict() for code, spec in self.sources.items()}  # the flat form
        return json.loads(json.dumps(d))

    def fingerprint(self, *keys: str) -> str:
        """sha256 (16 hex chars) of the named parts of the recipe; stage caches key on it.
        Options marked ``added`` (:func:`ranged`) count only when they differ from their default."""
        d = _drop_added_defaults(self, self.to_dict())
        part = {k: d[k] for k in keys} if keys else d
        return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()[:16]
