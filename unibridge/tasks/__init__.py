"""Downstream tasks (POS, NER, NLI): definitions (a registry), tagging and pair data,
task-adapter training.

The definitions load without torch; the training code (:func:`train_task_adapter`) is imported
when first used.
"""

from .definitions import TaskSpec, accuracy, entity_f1, get_task, register_task

__all__ = ["TaskSpec", "accuracy", "entity_f1", "get_task", "register_task", "task_adapter_name",
           "train_task_adapter"]


def __getattr__(name):  # torch and adapters only when training is used
    if name in ("task_adapter_name", "train_task_adapter"):
        from . import train

        return getattr(train, name)
    raise AttributeError(name)
