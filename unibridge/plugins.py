"""Plug-ins from outside the package: modules that register embedding initializers, tasks or weight
strategies (:func:`unibridge.embeddings.register_initializer`, :func:`unibridge.tasks.register_task`,
:func:`unibridge.inference.strategies.register_strategy`) when imported.

A package declares its plug-in module as an entry point of the group ``unibridge.plugins``
(``[project.entry-points."unibridge.plugins"] mine = "my_package.unibridge_plugin"``); the command
line loads every such entry point before it reads its arguments, so ``unibridge run`` and
``unibridge transfer`` accept what they register, and ``--plugin MODULE`` loads a module that no
package declares. An entry point may also name a function, which is called once.
"""

from __future__ import annotations

import importlib
from importlib import metadata

from .errors import ConfigError

GROUP = "unibridge.plugins"
_loaded: set[str] = set()


def load_plugins(modules: list[str] | tuple[str, ...] = (), *, entry_points: bool = True) -> list[str]:
    """Import the plug-in ``modules`` (dotted names) and, with ``entry_points``, every entry point of
    the group :data:`GROUP`; each is loaded once per process. Returns the names loaded by this call.

    Raises:
        ConfigError: a module or entry point that cannot be imported or raises while loading
            (one line naming it and the error).
    """
    todo: list[tuple[str, object]] = [(m, None) for m in modules]
    if entry_points:
        todo += [(f"{ep.name} ({ep.value})", ep) for ep in metadata.entry_points(group=GROUP)]
    done = []
    for name, ep in todo:
        if name in _loaded:
            continue
        try:
            obj = importlib.import_module(name) if ep is None else ep.load()
            if ep is not None and callable(obj) and not isinstance(obj, type):
                obj()
        except ConfigError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure of a user's module is one input error
            raise ConfigError(f"plug-in {name} could not be loaded: {type(e).__name__}: {e}") from None
        _loaded.add(name)
        done.append(name)
    return done
