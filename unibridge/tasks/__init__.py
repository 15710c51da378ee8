"""Downstream tasks (POS, NER): definitions, tagging data, task-adapter training."""

from .definitions import TaskSpec, accuracy, entity_f1, get_task, register_task
from .train import task_adapter_name, train_task_adapter

__all__ = ["TaskSpec", "accuracy", "entity_f1", "get_task", "register_task", "task_adapter_name",
           "train_task_adapter"]
