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


def class_weights(items: list[dict], n_labels: int) -> torch.Tensor:
    """Per-label loss weights (n_labels,) float32 from the encoded training ``items`` (each with
    ``labels``: label ids, -100 where no label is scored): w_c = (N / (C · n_c))^½ over the C
    labels that occur (n_c of N scored labels), normalised so that the mean weight over the scored
    labels is 1; labels that never occur get weight 1. The square root softens inverse-frequency
    weighting (a tag of 1% gets about 10× the weight of one of 100%, not 100×), enough to pull a
    tagger off predicting only the majority label (``O`` in NER, about 90% of the words).
    Raises DataError if no item has a scored label."""
    counts = torch.zeros(n_labels, dtype=torch.float64)
    for it in items:
        lab = torch.as_tensor(it["labels"]).reshape(-1)
        lab = lab[lab >= 0]
        counts += torch.bincount(lab, minlength=n_labels)[:n_labels].double()
    total = counts.sum()
    if total == 0:
        raise DataError("no scored label in the training examples; cannot weight the classes")
    seen = counts > 0
    raw = (total / (int(seen.sum()) * counts[seen])).sqrt()
    w = torch.ones(n_labels, dtype=torch.float64)
    w[seen] = raw / ((raw * counts[seen]).sum() / total)  # mean weight over the scored labels: 1
    return w.float()


class _WeightedTrainer(AdapterTrainer):
    """AdapterTrainer whose loss is cross-entropy with per-label weights (:func:`class_weights`)."""

    def __init__(self, *a, label_weights: torch.Tensor, **kw):
        super().__init__(*a, **kw)
        self.label_weights = label_weights

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        out = model(**inputs)
        logits = out.logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                                 weight=self.label_weights.to(logits.device), ignore_index=-100)
        return (loss, out) if return_outputs else loss


def train_task_adapter(model, tokenizer, sentences, task: TaskSpec, lang: str, *, cfg: TaskConfig,
                       seed: int = 42, output_dir: str = "/tmp/unibridge-trainer",
                       language_adapter: bool = True, weighted: bool = False) -> list[dict]:
    """Add and train task adapter ``{task}_{lang}`` + the task's head on top of language adapter ``lang``
    (``language_adapter=False``: directly on the base model, the zero-shot baseline).

    ``sentences``: the task's examples (TaggedSentence, NLIExample or LabelledText) in ``task.labels``.
    ``weighted``: cross-entropy with :func:`class_weights` of these examples instead of the head's
    own unweighted loss. Returns the logged training history. Raises DataError if ``sentences``
    is empty.
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
    kw = dict(model=model, args=args, train_dataset=items, data_collator=lambda b: task.collate(b, tokenizer.pad_token_id))
    trainer = (_WeightedTrainer(**kw, label_weights=class_weights(items, len(task.labels))) if weighted
               else AdapterTrainer(**kw))
    trainer.train()
    history.extend(h for h in trainer.state.log_history if "loss" in h)
    model.eval()
    return history
