"""Token tagging data: word-level labels on the first sub-token, -100 elsewhere."""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_sequence


def encode_tagged(tokenizer, tokens: list[str], tags: list[str] | None, label2id: dict[str, int],
                  max_length: int) -> dict:
    """Tokenise pre-split ``tokens``; ``labels`` holds the tag id at each word's first sub-token
    and -100 elsewhere (special tokens, continuation pieces, padding); ``first`` (n_words_kept,)
    gives each kept word's first-sub-token position. Tags outside ``label2id`` raise KeyError."""
    enc = tokenizer(tokens, is_split_into_words=True, truncation=True, max_length=max_length)
    labels, first, prev = [], [], None
    for pos, w in enumerate(enc.word_ids()):
        if w is not None and w != prev:
            first.append(pos)
            labels.append(label2id[tags[w]] if tags is not None else 0)
        else:
            labels.append(-100)
        prev = w
    return {"input_ids": enc["input_ids"], "labels": labels, "first": first}


def collate_tagged(items: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad a list of :func:`encode_tagged` outputs into (B, L) tensors."""
    ids = pad_sequence([torch.tensor(x["input_ids"]) for x in items], batch_first=True, padding_value=pad_id)
    att = torch.zeros_like(ids)
    for j, x in enumerate(items):
        att[j, : len(x["input_ids"])] = 1
    labels = pad_sequence([torch.tensor(x["labels"]) for x in items], batch_first=True, padding_value=-100)
    return {"input_ids": ids, "attention_mask": att, "labels": labels}


class TaggedDataset(torch.utils.data.Dataset):
    """Encoded tagged sentences for the Trainer."""

    def __init__(self, items: list[dict]):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]
