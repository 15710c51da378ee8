"""Task-adapter training (stage 4b): a SeqBn task adapter stacked on a source language adapter.

MAD-X (Pfeiffer et al. 2020): ``Stack(lang_s, task_s)``, only the task adapter and its head
(the task kind's: tagging or classification) train; the language adapter and the base stay frozen.
"""

from __future__ import annotations

import torch
from adapters import AdapterTrainer, SeqBnConfig
from adapters.composition import Stack

from ..adaptation.train import training_arguments
from ..config import TaskConfig
from ..errors import DataError
from .definitions import TaskSpec


def task_adapter_name(task: str, lang: str) -> str:
    """Name of the task adapter (and its head) of ``task`` trained on source ``lang``: ``"{task}_{lang}"``."""
    return f"{task}_{lang}"


def train_task_adapter(model, tokenizer, sentences, task: TaskSpec, lang: str, *, cfg: TaskConfig,
                       seed: int = 42, output_dir: str = "/tmp/unibridge-trainer",
                       language_adapter: bool = True) -> list[dict]:
    """Add and train task adapter ``{task}_{lang}`` + the task's head on top of language adapter ``lang``
    (``language_adapter=False``: directly on the base model, the zero-shot baseline).

    ``sentences``: the task's examples (TaggedSentence, NLIExample or LabelledText) in ``task.labels``.
    Returns the logged training history. Raises DataError if ``sentences`` is empty.
    """
    if not sentences:
        raise DataError(f"no training sentences for task '{task.name}' in '{lang}'")
    if cfg.train.max_examples:
        sentences = sentences[: cfg.train.max_examples]
    name = task_adapter_name(task.name, lang)
    torch.manual_seed(seed)  # the adapter's and head's initial weights depend on the seed alone
    model.add_adapter(name, config=SeqBnConfig(reduction_factor=cfg.reduction_factor))
    task.add_head(model, name, pooling=cfg.pooling)
    model.train_adapter(name)
    if language_adapter:
        model.set_active_adapters(Stack(lang, name))  # train_adapter activates the task adapter alone
    model.active_head = name
    items = [task.encode(tokenizer, s, cfg.train.max_length) for s in sentences]
    history: list[dict] = []
    args = training_arguments(cfg.train, output_dir, seed, len(items), group_by_length=cfg.group_by_length)
    trainer = AdapterTrainer(model=model, args=args, train_dataset=items,
                             data_collator=lambda b: task.collate(b, tokenizer.pad_token_id))
    trainer.train()
    history.extend(h for h in trainer.state.log_history if "loss" in h)
    model.eval()
    return history
