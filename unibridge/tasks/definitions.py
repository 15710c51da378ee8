"""Task definitions as plug-ins: label set, data reader and metric per task.

``pos``: the 17 UPOS tags, accuracy over words. ``ner``: IOB2 over the shared PER/ORG/LOC space
(see :mod:`unibridge.data.labels` for the mappings), entity-level F1 with seqeval. Word-level
predictions come from each word's first sub-token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import ConfigError


@dataclass(frozen=True)
class TaskSpec:
    """A token-level task: ``labels`` (ordered), ``read(path, limit, label_map)`` -> TaggedSentences,
    ``metric(gold, pred) -> dict`` over lists of word-label lists, and the metric's main key."""

    name: str
    labels: tuple[str, ...]
    read: Callable
    metric: Callable
    main_metric: str

    @property
    def label2id(self) -> dict[str, int]:
        return {l: i for i, l in enumerate(self.labels)}


_TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add a task to the registry; a duplicate name raises ValueError."""
    if spec.name in _TASKS:
        raise ValueError(f"task '{spec.name}' is already registered")
    _TASKS[spec.name] = spec
    return spec


def get_task(name: str) -> TaskSpec:
    """The registered task ``name``; raises ConfigError listing the known tasks."""
    if name not in _TASKS:
        raise ConfigError(f"unknown task '{name}'; known tasks: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]


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


def _labels():
    from ..data.labels import NER_LABELS, UPOS_TAGS

    return tuple(UPOS_TAGS), tuple(NER_LABELS)


_upos, _ner = _labels()
register_task(TaskSpec("pos", _upos, _read_pos, accuracy, "accuracy"))
register_task(TaskSpec("ner", _ner, _read_ner, entity_f1, "f1"))
