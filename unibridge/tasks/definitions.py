"""Task definitions as plug-ins: label set, data reader, metric and kind per task.

``pos``: the 17 UPOS tags, accuracy over words. ``ner``: IOB2 over the shared PER/ORG/LOC space
(see :mod:`unibridge.data.labels` for the mappings), entity-level F1 with seqeval. Word-level
predictions come from each word's first sub-token (kind ``tagging``). ``nli``: premise and
hypothesis, 3 classes (entailment / neutral / contradiction), accuracy; XNLI and AmericasNLI
TSV files (kind ``classification``: one label per pair from a classification head). ``topic``:
the 7 topics of SIB-200 (Adelani et al. 2023), one per FLORES-200 sentence, accuracy; SIB-200
TSV files (kind ``text-classification``: one label per text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..config import SOURCE_KEY_SUFFIXES, SOURCE_KEYS
from ..registry import TASKS
from . import tagging  # noqa: F401, I001 (the built-in task kinds register, in this order)
from . import classification, text_classification  # noqa: F401
from .kind import TaskKind, get_kind


@dataclass(frozen=True)
class TaskSpec:
    """A task: ``labels`` (ordered), ``read(path, limit, label_map)`` -> examples,
    ``metric(gold, pred) -> dict`` over lists of label lists (one label per word, or a one-item
    list per input), the metric's main key, and ``kind``: the :class:`~unibridge.tasks.kind.TaskKind`
    (or its registered name) that turns the examples into model inputs and owns the head:
    ``"tagging"`` (TaggedSentence, word labels from the first sub-token), ``"classification"``
    (NLIExample, one label per pair) or ``"text-classification"`` (LabelledText, one label per
    text). ``takes_label_map``: whether ``read`` uses a label mapping (``ner``: a dataset's
    entity types to the shared PER/ORG/LOC); a recipe that gives one to a task without it is
    refused, not silently read unmapped. Raises ConfigError for an unknown kind name."""

    name: str
    labels: tuple[str, ...]
    read: Callable
    metric: Callable
    main_metric: str
    kind: TaskKind | str = "tagging"
    takes_label_map: bool = False

    def __post_init__(self):
        if isinstance(self.kind, str):
            object.__setattr__(self, "kind", get_kind(self.kind))

    @property
    def label2id(self) -> dict[str, int]:
        return {l: i for i, l in enumerate(self.labels)}

    @property
    def fill_label(self) -> str:
        """Label of words past the length limit (tagging): "O" for IOB2 tasks, else "X"."""
        return "O" if "O" in self.labels else "X"

    def inputs(self, example):
        """What :meth:`MultiSourcePredictor.predict` takes for an example: its words, the
        ``(premise, hypothesis)`` pair, or its text."""
        return self.kind.inputs(example)

    def gold(self, example) -> list[str]:
        """The example's labels as a list (one per word, or one per input)."""
        return self.kind.gold(example)

    def encode(self, tokenizer, x, max_length: int, labelled: bool = True) -> dict:
        """Model inputs of one example (``labelled``) or one :meth:`inputs` value (not)."""
        return self.kind.encode(tokenizer, x, self.label2id, max_length, labelled)

    def collate(self, items: list[dict], pad_id: int) -> dict:
        """Batch of :meth:`encode` outputs."""
        return self.kind.collate(items, pad_id)

    def add_head(self, model, name: str, pooling: str = "first") -> None:
        """Add this task's prediction head ``name`` to an adapters flexible-head model
        (:meth:`TaskKind.add_head`). A classification head reads the first token's final state
        (``pooling="first"``, adapters' ``ClassificationHead``) or the mean over the attention
        mask (``"mean"``, the head type :data:`~unibridge.heads.MEAN_POOLED_HEAD`); tagging heads
        ignore ``pooling``. Raises ValueError for another ``pooling``."""
        from ..heads import POOLINGS

        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be 'first' or 'mean', got {pooling!r}")
        self.kind.add_head(model, name, self.labels, pooling)


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add a task to the registry (:data:`unibridge.registry.TASKS`) and return it; recipes may
    then name it under ``tasks:`` and give source files for it under ``sources.<lang>.<name>``
    (a label map under ``sources.<lang>.<name>_label_map``, a dev split under
    ``sources.<lang>.<name>_dev``). Raises ValueError if the name is taken, is not a lowercase
    identifier, or would read as another source key (``text``, ``parallel``, ``*_label_map``,
    ``*_dev``, ``*_unspaced``)."""
    if spec.name in SOURCE_KEYS or spec.name.endswith(SOURCE_KEY_SUFFIXES):
        raise ValueError(f"task name {spec.name!r} is a source key of recipes; choose another")
    return TASKS.register(spec.name, spec)


def get_task(name: str) -> TaskSpec:
    """The registered task ``name``; raises ConfigError listing the known tasks."""
    return TASKS.get(name)


def accuracy(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """Word-level accuracy in [0, 1] over all words; raises ValueError on length mismatch."""
    n = ok = 0
    for g, p in zip(gold, pred, strict=True):
        if len(g) != len(p):
            raise ValueError(f"sentence has {len(g)} gold and {len(p)} predicted labels")
        n += len(g)
        ok += sum(a == b for a, b in zip(g, p))
    return {"accuracy": ok / n if n else 0.0, "words": n}


def entity_f1(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """Entity-level precision / recall / F1 in [0, 1] (seqeval, conlleval-style matching)."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    return {"f1": float(f1_score(gold, pred)), "precision": float(precision_score(gold, pred)),
            "recall": float(recall_score(gold, pred)), "sentences": len(gold)}


def _read_pos(path, limit=None, label_map=None):
    from ..data import read_conllu

    return read_conllu(path, limit=limit)


def _read_ner(path, limit=None, label_map=None):
    from ..data import get_ner_mapping, read_iob

    if isinstance(label_map, str):
        label_map = get_ner_mapping(label_map)
    return read_iob(path, limit=limit, label_map=label_map)


def _read_nli(path, limit=None, label_map=None):
    from ..data import read_nli_tsv

    return read_nli_tsv(path, limit=limit)


def _read_topic(path, limit=None, label_map=None):
    from ..data import read_topic_tsv

    return read_topic_tsv(path, limit=limit)


def _labels():
    from ..data.labels import NER_LABELS, NLI_LABELS, SIB_TOPICS, UPOS_TAGS

    return tuple(UPOS_TAGS), tuple(NER_LABELS), tuple(NLI_LABELS), tuple(SIB_TOPICS)


_upos, _ner, _nli, _topics = _labels()
register_task(TaskSpec("pos", _upos, _read_pos, accuracy, "accuracy"))
register_task(TaskSpec("ner", _ner, _read_ner, entity_f1, "f1", takes_label_map=True))
register_task(TaskSpec("nli", _nli, _read_nli, accuracy, "accuracy", kind="classification"))
register_task(TaskSpec("topic", _topics, _read_topic, accuracy, "accuracy", kind="text-classification"))
