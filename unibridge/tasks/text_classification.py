"""The ``text-classification`` task kind (topic): one label per text from a classification head
over the text (SIB-200 topics)."""

from __future__ import annotations

from .classification import PairClassification, encode_pair
from .kind import register_kind


class TextClassification(PairClassification):
    """One label per text (:class:`~unibridge.data.LabelledText`): topic classification. Heads and
    batches as for sentence pairs (:class:`~unibridge.tasks.classification.PairClassification`),
    the input a single text."""

    name = "text-classification"
    input_help = "a text"
    usage_logits = "per text; labels: the heads' id2label"

    def inputs(self, example):
        return example.text

    def texts(self, example) -> list[str]:
        return [example.text]

    def check_input(self, x, task: str):
        text = x.text if hasattr(x, "text") else x
        if not isinstance(text, str):
            raise TypeError(f"{task} takes texts (strings), got {x!r}")
        return text

    def encode(self, tokenizer, x, label2id, max_length, labelled=True) -> dict:
        text, label = (x.text, x.label) if labelled else (x, None)
        return encode_pair(tokenizer, text, None, label, label2id, max_length)

    def parse_line(self, line: str, task: str):
        return line

    def usage_call(self) -> str:
        return "    outs = model(**tokenizer([\"...\"], return_tensors=\"pt\"))"


TEXT_CLASSIFICATION = register_kind(TextClassification())
