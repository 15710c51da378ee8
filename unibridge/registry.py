"""Named plug-ins of one kind (:class:`Registry`), and the registry of tasks.

The registry of tasks sits at the bottom of the package so that recipes (:mod:`unibridge.config`)
and the command line can name tasks without importing the task code: the built-in tasks
(``pos``, ``ner``, ``nli``) register themselves in :mod:`unibridge.tasks.definitions`, which
``import unibridge`` loads; a user's task registers with
:func:`unibridge.tasks.register_task` and is then valid in recipes, source data, the predictor,
the grid and every ``--task`` option.
"""

from __future__ import annotations

import re
from typing import Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Plug-ins of one ``kind`` by name, in registration order: the one shape of every extension
    point (tasks here, weight strategies in :mod:`unibridge.inference.strategies`, embedding
    initializers in :mod:`unibridge.embeddings.registry`).

    ``pattern``: the names it accepts (a regular expression matched whole; default a lowercase
    identifier). ``replace``: a later registration of a taken name replaces the item instead of
    raising. ``sort_names``: :meth:`names` (and error messages) list the names sorted.

    >>> colours = Registry("colour")
    >>> colours.register("red", 1)
    1
    >>> colours.get("red")
    1
    >>> colours.get("blue")
    Traceback (most recent call last):
    ...
    unibridge.errors.ConfigError: unknown colour 'blue'; known colours: red
    """

    def __init__(self, kind: str, *, pattern: str = r"[a-z][a-z0-9_]*", replace: bool = False,
                 sort_names: bool = False):
        self.kind = kind
        self.pattern = re.compile(pattern)
        self.replace = replace
        self.sort_names = sort_names
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        """Add ``item`` under ``name`` and return it; raises ValueError if ``name`` does not match
        the registry's pattern, or is taken (unless the registry replaces)."""
        self.check_name(name)
        if name in self._items and not self.replace:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._items[name] = item
        return item

    def check_name(self, name: str) -> None:
        """Raises ValueError if ``name`` does not match the registry's pattern."""
        if not isinstance(name, str) or not self.pattern.fullmatch(name):
            raise ValueError(f"invalid {self.kind} name {name!r}: it must match {self.pattern.pattern}")

    def get(self, name: str) -> T:
        """The item registered as ``name``; raises ConfigError naming the known ones."""
        if name not in self._items:
            raise ConfigError(f"unknown {self.kind} {name!r}; known {self.kind}s: {', '.join(self.names())}")
        return self._items[name]

    def find(self, name: str) -> T | None:
        """The item registered as ``name``, or None."""
        return self._items.get(name)

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order (sorted if the registry sorts)."""
        return tuple(sorted(self._items)) if self.sort_names else tuple(self._items)

    def items(self) -> list[tuple[str, T]]:
        """``(name, item)`` pairs in the order of :meth:`names`."""
        return [(n, self._items[n]) for n in self.names()]

    def copy(self) -> "Registry[T]":
        """A registry with the same settings and items; registering in it leaves this one alone
        (tests register toy plug-ins in a copy)."""
        new = Registry(self.kind, pattern=self.pattern.pattern, replace=self.replace, sort_names=self.sort_names)
        new._items = dict(self._items)
        return new

    def __contains__(self, name: object) -> bool:
        return name in self._items


TASKS: Registry = Registry("task")
"""Task name -> :class:`unibridge.tasks.TaskSpec` (labels, reader, metric, kind)."""

TASK_KINDS: Registry = Registry("task kind", pattern=r"[a-z][a-z0-9_-]*")
"""Task kind name -> :class:`unibridge.tasks.kind.TaskKind` (how a task's examples become model
inputs, which head reads them, how its labels come back): ``tagging``, ``classification``
(sentence pairs) and ``text-classification`` (one text), each in its own module of
:mod:`unibridge.tasks`."""
