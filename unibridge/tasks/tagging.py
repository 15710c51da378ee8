"""The ``tagging`` task kind (pos, ner): word-level labels on each word's first sub-token, -100
elsewhere; a tagging head; long texts read in overlapping word windows."""

from __future__ import annotations

from .kind import TaskKind, register_kind


def encode_tagged(tokenizer, tokens: list[str], tags: list[str] | None, label2id: dict[str, int],
                  max_length: int, spaced: bool = True) -> dict:
    """Tokenise pre-split ``tokens``; ``labels`` holds the tag id at each word's first sub-token
    and -100 elsewhere (special tokens, continuation pieces, padding); ``first`` (n_words_kept,)
    gives each kept word's first-sub-token position and ``word_index`` (n_words_kept,) that
    word's index in ``tokens`` (a word past ``max_length``, or one that yields no sub-token, is
    not kept). Tags outside ``label2id`` raise KeyError.

    ``spaced=False``: the words are written without spaces between them (Chinese or Japanese
    characters, one per token): each word is read as running text, without the word-boundary
    marker that a SentencePiece tokenizer puts before every pre-split word
    (:func:`unspaced_pieces`). Split into words, a Chinese sentence would otherwise read as
    ``▁在 ▁ 过 ▁ 去``, twice as many pieces as characters and half of them markers that the
    base model rarely saw between Chinese characters."""
    if not spaced:
        return _encode_pieces(tokenizer, unspaced_pieces(tokenizer, tokens), tags, label2id, max_length)
    enc = tokenizer(tokens, is_split_into_words=True, truncation=True, max_length=max_length)
    labels, first, word_index, prev = [], [], [], None
    for pos, w in enumerate(enc.word_ids()):
        if w is not None and w != prev:
            first.append(pos)
            word_index.append(w)
            labels.append(label2id[tags[w]] if tags is not None else 0)
        else:
            labels.append(-100)
        prev = w
    return {"input_ids": enc["input_ids"], "labels": labels, "first": first, "word_index": word_index}


def unspaced_pieces(tokenizer, words: list[str]) -> list[list[int]]:
    """Sub-token ids of each of ``words`` read as part of a text without spaces: the word's own
    vocabulary entry where it has one (``"在"``, not ``"▁在"``), else its pieces tokenised alone
    without a leading piece that is only the word-boundary marker (``"▁"``). Returns one list
    per word (empty for a word that yields no piece)."""
    unk = tokenizer.unk_token_id
    out = [[i] if i is not None and i != unk else None for i in tokenizer.convert_tokens_to_ids(list(words))]
    missing = [k for k, ids in enumerate(out) if ids is None]  # tokenised alone, only these
    alone = tokenizer([words[k] for k in missing], add_special_tokens=False)["input_ids"] if missing else []
    for k, ids in zip(missing, alone):
        if ids and not tokenizer.convert_ids_to_tokens(ids[0]).strip("▁"):
            ids = ids[1:]
        out[k] = list(ids)
    return out


def _encode_pieces(tokenizer, pieces: list[list[int]], tags: list[str] | None, label2id: dict[str, int],
                   max_length: int) -> dict:
    """:func:`encode_tagged`'s output from each word's sub-token ids, special tokens added, words
    that do not fit ``max_length`` left out."""
    template = tokenizer.build_inputs_with_special_tokens([-1])
    lead, budget = template.index(-1), max(0, max_length - (len(template) - 1))
    content, labels, first, word_index = [], [], [], []
    for w, ids in enumerate(pieces):
        if not ids:
            continue
        if len(content) + len(ids) > budget:
            break
        first.append(lead + len(content))
        word_index.append(w)
        labels += [label2id[tags[w]] if tags is not None else 0] + [-100] * (len(ids) - 1)
        content += ids
    input_ids = tokenizer.build_inputs_with_special_tokens(content)
    labels = [-100] * lead + labels + [-100] * (len(input_ids) - lead - len(content))
    return {"input_ids": input_ids, "labels": labels, "first": first, "word_index": word_index}


def word_windows(piece_counts: list[int], budget: int, overlap: float = 0.25) -> list[tuple[int, int]]:
    """Word-aligned windows over a long text: spans ``[start, end)`` of words whose sub-token
    counts sum to at most ``budget`` (a longer single word is a window of its own), covering
    every word, each next window starting so that about ``overlap`` of the previous window's
    words are read again as context. One window ``[(0, n)]`` when the whole text fits; ``[]``
    for no words. Raises ValueError for budget < 1 or overlap outside [0, 1)."""
    if budget < 1 or not 0 <= overlap < 1:
        raise ValueError(f"budget must be >= 1 and overlap in [0, 1); got {budget}, {overlap}")
    n, spans, start = len(piece_counts), [], 0
    while start < n:
        end, used = start, 0
        while end < n and (end == start or used + piece_counts[end] <= budget):
            used += piece_counts[end]
            end += 1
        spans.append((start, end))
        if end == n:
            break
        start = max(start + 1, end - int(overlap * (end - start)))
    return spans


def window_owner(spans: list[tuple[int, int]], n_words: int) -> list[int]:
    """For each word, the index of the window of :func:`word_windows` where it has the most
    context on both sides (the first such window on ties)."""
    owner = []
    for w in range(n_words):
        best = max((min(w - s, e - 1 - w), -k) for k, (s, e) in enumerate(spans) if s <= w < e)
        owner.append(-best[1])
    return owner


def collate_tagged(items: list[dict], pad_id: int) -> dict:
    """Pad a list of :func:`encode_tagged` outputs into (B, L) tensors."""
    import torch
    from torch.nn.utils.rnn import pad_sequence

    ids = pad_sequence([torch.tensor(x["input_ids"]) for x in items], batch_first=True, padding_value=pad_id)
    att = torch.zeros_like(ids)
    for j, x in enumerate(items):
        att[j, : len(x["input_ids"])] = 1
    labels = pad_sequence([torch.tensor(x["labels"]) for x in items], batch_first=True, padding_value=-100)
    return {"input_ids": ids, "attention_mask": att, "labels": labels}


class Tagging(TaskKind):
    """One label per word (TaggedSentence): UPOS, IOB2 NER. Inputs are word lists (a string is
    split on whitespace); the label of a word is read at its first sub-token (adapters'
    ``TaggingHead``)."""

    name = "tagging"
    token_level = True
    input_help = "a sentence (words split on whitespace)"
    usage_logits = "per token; words: first piece"

    def inputs(self, example):
        return list(example.tokens)

    def gold(self, example) -> list[str]:
        return list(example.tags)

    def texts(self, example) -> list[str]:
        return [(" " if example.spaced else "").join(example.tokens)]

    def check_input(self, x, task: str):
        if isinstance(x, str):
            return x.split()
        words = list(x)
        if not all(isinstance(w, str) for w in words):
            raise TypeError(f"{task} takes texts or lists of words, got {x!r}")
        return words

    def encode(self, tokenizer, x, label2id, max_length, labelled=True) -> dict:
        """``x``: a TaggedSentence (its ``spaced`` is honoured; its tags are read if
        ``labelled``) or, unlabelled, a list of words of a spaced text."""
        if hasattr(x, "tokens"):
            words, tags, spaced = x.tokens, x.tags if labelled else None, x.spaced
        else:
            words, tags, spaced = x, None, True
        return encode_tagged(tokenizer, words, tags, label2id, max_length, spaced=spaced)

    def collate(self, items, pad_id) -> dict:
        return collate_tagged(items, pad_id)

    def add_head(self, model, name, labels, pooling="first") -> None:
        model.add_tagging_head(name, num_labels=len(labels), id2label=dict(enumerate(labels)))

    def parse_line(self, line: str, task: str):
        return line.split()

    def format_line(self, line: str, labels) -> str:
        return " ".join(f"{w}/{l}" for w, l in zip(line.split(), labels))

    def usage_call(self) -> str:
        return "    outs = model(**tokenizer([\"...\"], return_tensors=\"pt\"))"


TAGGING = register_kind(Tagging())
