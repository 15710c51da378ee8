"""Multi-source inference: weight strategies (a registry, :mod:`.strategies`) and the predictor.

Names are imported on first use, so that the strategy registry can be read without torch."""

from importlib import import_module

_EXPORTS = {"MultiSourcePredictor": "predictor", "source_logits": "predictor", "task_setup": "predictor",
            "harmony_from_distances": "weights", "harmony_weights": "weights",
            "resolve_weights": "strategies", "register_strategy": "strategies", "get_strategy": "strategies"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
