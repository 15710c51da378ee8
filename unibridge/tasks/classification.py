"""Sentence-pair classification data (NLI): one label per (premise, hypothesis) pair."""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_sequence


def encode_pair(tokenizer, premise: str, hypothesis: str, label: str | None, label2id: dict[str, int],
                max_length: int) -> dict:
    """Tokenise a pair as the tokenizer's pair template (``<s> P </s></s> H </s>`` for XLM-R,
    ``[CLS] P [SEP] H [SEP]`` for BERT), longest side truncated first to ``max_length``.
    Returns ``{"input_ids", "labels": label id (0 when label is None)}``; an unknown label
    raises KeyError."""
    enc = tokenizer(premise, hypothesis, truncation=True, max_length=max_length)
    return {"input_ids": enc["input_ids"], "labels": label2id[label] if label is not None else 0}


def collate_pairs(items: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad :func:`encode_pair` outputs: ``input_ids``/``attention_mask`` (B, L), ``labels`` (B,)."""
    ids = pad_sequence([torch.tensor(x["input_ids"]) for x in items], batch_first=True, padding_value=pad_id)
    att = torch.zeros_like(ids)
    for j, x in enumerate(items):
        att[j, : len(x["input_ids"])] = 1
    return {"input_ids": ids, "attention_mask": att, "labels": torch.tensor([x["labels"] for x in items])}
