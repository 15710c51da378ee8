"""What a task kind owns: :class:`TaskKind`, the interface, and :func:`register_kind`.

A task (:class:`~unibridge.tasks.definitions.TaskSpec`: labels, reader, metric) names its kind;
the kind turns the task's examples into model inputs and gold labels, batches them, adds the
prediction head, reads command-line inputs and writes outputs, and gives the model card's
plain-``adapters`` forward line. Code outside the kind modules asks the kind, never its name, so a
new kind is one module that subclasses :class:`TaskKind` and registers an instance
(``tests/test_task_kinds.py`` registers a toy one). The built-in kinds:
:mod:`~unibridge.tasks.tagging` (``tagging``), :mod:`~unibridge.tasks.classification`
(``classification``: sentence pairs) and :mod:`~unibridge.tasks.text_classification`
(``text-classification``: one text).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from ..registry import TASK_KINDS


class TaskKind(ABC):
    """The interface of a task kind. ``name``: registered name (in task-adapter fingerprints and
    recipes' docs). ``token_level``: one label per word, taken from each word's first sub-token
    (long texts are read in overlapping word windows, :meth:`encode` gives ``first`` and
    ``word_index``); else one label per input from a pooled head. ``uses_pooling``: the head
    reads a pooled state, so ``task.pooling`` enters its task adapters' fingerprints.
    ``input_help``: how one input is written on the command line (``unibridge predict``)."""

    name: str = ""
    token_level: bool = False
    uses_pooling: bool = False
    input_help: str = "a text"

    # ---------------------------------------------------------------- data
    @abstractmethod
    def inputs(self, example) -> Any:
        """What :meth:`MultiSourcePredictor.predict` takes for one labelled example."""

    @abstractmethod
    def gold(self, example) -> list[str]:
        """The example's gold labels as a list (one per word, or one per input)."""

    @abstractmethod
    def texts(self, example) -> list[str]:
        """The raw sentences of one example (source text when a source names none; test
        sentences left out of the target text)."""

    @abstractmethod
    def check_input(self, x, task: str) -> Any:
        """One predictor input as :meth:`encode` takes it; raises TypeError naming ``task`` and
        what it takes."""

    @abstractmethod
    def encode(self, tokenizer, x, label2id: dict[str, int], max_length: int, labelled: bool = True) -> dict:
        """Model inputs of one labelled example (``labelled``) or one :meth:`check_input` value:
        ``input_ids`` and ``labels`` at least."""

    @abstractmethod
    def collate(self, items: list[dict], pad_id: int) -> dict:
        """A batch of :meth:`encode` outputs: ``input_ids``/``attention_mask`` (B, L) and ``labels``."""

    # ---------------------------------------------------------------- model
    @abstractmethod
    def add_head(self, model, name: str, labels: tuple[str, ...], pooling: str = "first") -> None:
        """Add the prediction head ``name`` over ``labels`` to an adapters flexible-head model."""

    # ---------------------------------------------------------------- command line and card
    @abstractmethod
    def parse_line(self, line: str, task: str) -> Any:
        """One ``unibridge predict`` argument as a predictor input; raises ConfigError naming
        ``task`` and :attr:`input_help` when it does not parse."""

    @abstractmethod
    def format_line(self, line: str, labels) -> str:
        """The output line of one ``unibridge predict`` argument and its predicted labels."""

    @abstractmethod
    def usage_call(self) -> str:
        """The model card's plain-``adapters`` forward line (inside ``torch.no_grad()``), which
        sets ``outs``."""

    usage_logits: str = "per input; labels: the heads' id2label"  # what the card's logits line says

    def __repr__(self) -> str:
        return f"<task kind {self.name!r}>"


def register_kind(kind: TaskKind) -> TaskKind:
    """Register ``kind`` under ``kind.name`` (:data:`unibridge.registry.TASK_KINDS`) and return it;
    a :class:`~unibridge.tasks.definitions.TaskSpec` may then name it. Raises ValueError if the
    name is taken or not a lowercase name (letters, digits, ``-``, ``_``), TypeError if ``kind``
    is no TaskKind."""
    if not isinstance(kind, TaskKind):
        raise TypeError(f"a task kind is a TaskKind instance, got {type(kind).__name__}")
    return TASK_KINDS.register(kind.name, kind)


def get_kind(name: str) -> TaskKind:
    """The registered task kind ``name``; raises ConfigError listing the known kinds."""
    return TASK_KINDS.get(name)
