"""The ``classification`` task kind (nli): one label per (premise, hypothesis) pair from a
classification head over the pair."""

from __future__ import annotations

from .kind import TaskKind, register_kind


def encode_pair(tokenizer, premise: str, hypothesis: str | None, label: str | None, label2id: dict[str, int],
                max_length: int) -> dict:
    """Tokenise a pair as the tokenizer's pair template (``<s> P </s></s> H </s>`` for XLM-R,
    ``[CLS] P [SEP] H [SEP]`` for BERT), longest side truncated first to ``max_length``;
    ``hypothesis=None`` tokenises ``premise`` alone (one text). Returns ``{"input_ids",
    "labels": label id (0 when label is None)}``; an unknown label raises KeyError."""
    enc = tokenizer(premise, hypothesis, truncation=True, max_length=max_length)
    return {"input_ids": enc["input_ids"], "labels": label2id[label] if label is not None else 0}


def collate_pairs(items: list[dict], pad_id: int) -> dict:
    """Pad :func:`encode_pair` outputs: ``input_ids``/``attention_mask`` (B, L), ``labels`` (B,)."""
    import torch
    from torch.nn.utils.rnn import pad_sequence

    ids = pad_sequence([torch.tensor(x["input_ids"]) for x in items], batch_first=True, padding_value=pad_id)
    att = torch.zeros_like(ids)
    for j, x in enumerate(items):
        att[j, : len(x["input_ids"])] = 1
    return {"input_ids": ids, "attention_mask": att, "labels": torch.tensor([x["labels"] for x in items])}


class PairClassification(TaskKind):
    """One label per sentence pair (NLIExample): NLI. The head reads the first token's final
    state (``pooling="first"``, adapters' ``ClassificationHead``) or the mean over the attention
    mask (``"mean"``, :data:`~unibridge.heads.MEAN_POOLED_HEAD`)."""

    name = "classification"
    uses_pooling = True
    input_help = "a pair written as \"premise ||| hypothesis\""

    def inputs(self, example):
        return (example.premise, example.hypothesis)

    def gold(self, example) -> list[str]:
        return [example.label]

    def texts(self, example) -> list[str]:
        return [example.premise, example.hypothesis]

    def check_input(self, x, task: str):
        pair = (x.premise, x.hypothesis) if hasattr(x, "premise") else tuple(x)
        if len(pair) != 2 or not all(isinstance(s, str) for s in pair):
            raise TypeError(f"{task} takes (premise, hypothesis) pairs, got {x!r}")
        return pair

    def encode(self, tokenizer, x, label2id, max_length, labelled=True) -> dict:
        (p, h), label = (self.inputs(x), x.label) if labelled else (x, None)
        return encode_pair(tokenizer, p, h, label, label2id, max_length)

    def collate(self, items, pad_id) -> dict:
        return collate_pairs(items, pad_id)

    def add_head(self, model, name, labels, pooling="first") -> None:
        from ..heads import MEAN_POOLED_HEAD, POOLINGS, register_heads

        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be 'first' or 'mean', got {pooling!r}")
        id2label = dict(enumerate(labels))
        if pooling == "mean":
            register_heads(model).add_custom_head(MEAN_POOLED_HEAD, name, num_labels=len(labels), id2label=id2label)
        else:
            model.add_classification_head(name, num_labels=len(labels), id2label=id2label)

    def parse_line(self, line: str, task: str):
        from ..errors import ConfigError

        parts = line.split(" ||| ")
        if len(parts) != 2:
            raise ConfigError(f"'{task}' takes {self.input_help}")
        return tuple(parts)

    def format_line(self, line: str, labels) -> str:
        return f"{labels}\t{line}"

    def usage_call(self) -> str:
        return "    outs = model(**tokenizer([\"premise ...\"], [\"hypothesis ...\"], return_tensors=\"pt\"))"

    usage_logits = "per pair; labels: the heads' id2label"


PAIR_CLASSIFICATION = register_kind(PairClassification())
