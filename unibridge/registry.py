"""Named plug-ins of one kind, and the registry of tasks.

The registry of tasks sits at the bottom of the package so that recipes (:mod:`unibridge.config`)
and the command line can name tasks without importing the task code: the built-in tasks
(``pos``, ``ner``, ``nli``) register themselves in :mod:`unibridge.tasks.definitions`, which
``import unibridge`` loads; a user's task registers with
:func:`unibridge.tasks.register_task` and is then valid in recipes, source data, the predictor,
the grid and every ``--task`` option.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Plug-ins of one ``kind`` by name, in registration order.

    >>> colours = Registry("colour")
    >>> colours.register("red", 1)
    1
    >>> colours.get("red")
    1
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        """Add ``item`` under ``name`` and return it; raises ValueError if ``name`` is taken or
        is not a lowercase identifier (letters, digits, ``_``, starting with a letter)."""
        if not (name and name[0].isalpha() and name.replace("_", "").isalnum() and name == name.lower()):
            raise ValueError(f"invalid {self.kind} name {name!r}: use lowercase letters, digits and _")
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        """The item registered as ``name``; raises ConfigError naming the known ones."""
        if name not in self._items:
            raise ConfigError(f"unknown {self.kind} '{name}'; known {self.kind}s: {', '.join(self._items)}")
        return self._items[name]

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items


TASKS: Registry = Registry("task")
"""Task name -> :class:`unibridge.tasks.TaskSpec` (labels, reader, metric, kind)."""
