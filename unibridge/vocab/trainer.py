"""SentencePiece training for the target vocabulary (Kudo & Richardson 2018).

The corpus is written once to a plain-text file (:class:`TrainingCorpus`) and every training
reads it in C++ (``input=``), so a search over many sizes neither re-serialises nor
re-iterates the corpus in Python. A unigram model trained with one thread is deterministic;
with several threads SentencePiece's EM sums in a thread-dependent order and the pieces and
scores differ slightly (807 of 10,000 piece positions on the Amharic corpus), so the thread
count is part of a model's definition and the search trains each size with one thread and
runs several sizes at once instead.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import sentencepiece as spm

from unibridge.errors import ConfigError, DataError, VocabSizeError

__all__ = ["TrainingCorpus", "default_character_coverage", "train_sentencepiece"]

_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")
_TOO_SMALL = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")
_MODEL_TYPES = ("unigram", "bpe", "char", "word")
# Han (incl. extension A and compatibility), Hiragana, Katakana, Hangul syllables and jamo
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF), (0x20000, 0x2A6DF),
        (0x3040, 0x309F), (0x30A0, 0x30FF), (0xAC00, 0xD7AF), (0x1100, 0x11FF))
_CJK_RE = re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _CJK) + "]")
_SPACE = re.compile(r"\s+")


def infeasible(message: str, feasible_max: int) -> VocabSizeError:
    """A :class:`VocabSizeError` carrying ``feasible_max`` (the largest size the corpus allows)."""
    err = VocabSizeError(message)
    err.feasible_max = feasible_max  # type: ignore[attr-defined]
    return err


def default_character_coverage(lines: Sequence[str], max_chars: int = 1_000_000) -> float:
    """SentencePiece's recommended ``character_coverage`` for this text: 0.9995 for CJK, else 1.0.

    A corpus counts as CJK when more than half of the non-space characters of its first lines
    (about ``max_chars`` characters) are Han, Hiragana, Katakana or Hangul (the
    rich-character-set languages for which SentencePiece recommends 0.9995; every other
    script keeps all its characters). One regular-expression pass, not a loop per character.
    """
    text, n = [], 0
    for line in lines:
        text.append(line)
        n += len(line)
        if n >= max_chars:
            break
    joined = _SPACE.sub("", "".join(text))
    total, cjk = len(joined), len(_CJK_RE.findall(joined))
    return 0.9995 if total and cjk * 2 > total else 1.0


@dataclass(frozen=True)
class TrainingCorpus:
    """A training corpus written once to ``path`` (one stripped non-blank sentence per line).

    ``n_lines``: sentences; ``max_bytes``: longest sentence in UTF-8 bytes (SentencePiece
    drops longer ones unless ``max_sentence_length`` covers them);
    ``character_coverage``: :func:`default_character_coverage` of the text.
    """

    path: Path
    n_lines: int
    max_bytes: int
    character_coverage: float

    @classmethod
    def write(cls, lines: Sequence[str], path: Path | str) -> "TrainingCorpus":
        """Write ``lines`` (stripped, blank ones dropped) atomically to ``path``.

        Raises:
            DataError: no non-blank line.
        """
        sentences = [s for s in (line.strip() for line in lines) if s]
        if not sentences:
            raise DataError("cannot train a SentencePiece model: the corpus is empty")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".corpus-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(sentences))
            f.write("\n")
        os.replace(tmp, path)
        return cls(path, len(sentences), max(len(s.encode("utf-8")) for s in sentences),
                   default_character_coverage(sentences))


def train_sentencepiece(
    corpus: Sequence[str] | TrainingCorpus,
    vocab_size: int,
    out_prefix: Path | str,
    model_type: str = "unigram",
    character_coverage: float | None = None,
    num_threads: int = 1,
    seed: int = 0,
) -> Path:
    """Train a SentencePiece model on ``corpus``; return the ``.model`` path.

    The model has exactly ``vocab_size`` pieces (``hard_vocab_limit``) and the default special
    layout ``<unk>``=0, ``<s>``=1, ``</s>``=2, no ``<pad>`` piece and no user symbols: the layout
    XLM-R's own SentencePiece model has, which :func:`unibridge.vocab.wrap_tokenizer` maps onto
    fairseq ids (XLM-R style) or onto ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (BERT style).

    Args:
        corpus: training sentences, or a :class:`TrainingCorpus` already written to disk
            (a list is written to a temporary file next to ``out_prefix`` first).
        vocab_size: number of pieces, special pieces included.
        out_prefix: writes ``{out_prefix}.model`` and ``{out_prefix}.vocab`` (parent created).
        model_type: ``unigram`` (the paper's), ``bpe``, ``char`` or ``word``.
        character_coverage: fraction of characters covered by the alphabet (rarer ones become
            ``<unk>``); ``None`` = :func:`default_character_coverage` (0.9995 for CJK, else 1.0).
        num_threads: trainer threads; 1 (the default) gives a deterministic model.
        seed: SentencePiece's random generator seed (set process-wide).

    Returns:
        Path of the trained ``.model`` file.

    Raises:
        DataError: no non-blank line.
        ConfigError: invalid ``vocab_size`` / ``model_type`` / ``character_coverage`` / threads.
        VocabSizeError: the corpus cannot support ``vocab_size``; when SentencePiece reports the
            largest feasible size M ("Vocabulary size too high (N). Please set it to a value
            <= M") the error carries ``.feasible_max = M``; a size below the number of
            required characters says so.
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size <= 0:
        raise ConfigError(f"vocab_size must be a positive integer, got {vocab_size!r}")
    if model_type not in _MODEL_TYPES:
        raise ConfigError(f"model_type must be one of {', '.join(_MODEL_TYPES)}, got {model_type!r}")
    if character_coverage is not None and not 0.0 < character_coverage <= 1.0:
        raise ConfigError(f"character_coverage must be in (0, 1], got {character_coverage!r}")
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ConfigError(f"num_threads must be a positive integer, got {num_threads!r}")
    out_prefix = Path(out_prefix)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(corpus, TrainingCorpus):
        return _train(corpus, vocab_size, out_prefix, model_type, character_coverage, num_threads, seed)
    with tempfile.TemporaryDirectory(dir=out_prefix.parent, prefix=".spm-") as tmp:
        written = TrainingCorpus.write(corpus, Path(tmp) / "corpus.txt")
        return _train(written, vocab_size, out_prefix, model_type, character_coverage, num_threads, seed)


def _train(corpus: TrainingCorpus, vocab_size: int, out_prefix: Path, model_type: str,
           character_coverage: float | None, num_threads: int, seed: int) -> Path:
    coverage = corpus.character_coverage if character_coverage is None else character_coverage
    spm.set_random_generator_seed(seed)
    try:
        spm.SentencePieceTrainer.train(
            input=str(corpus.path),
            model_prefix=str(out_prefix),
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=coverage,
            hard_vocab_limit=True,
            num_threads=num_threads,
            max_sentence_length=max(4192, corpus.max_bytes + 1),
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=-1,
            unk_piece="<unk>",
            bos_piece="<s>",
            eos_piece="</s>",
            minloglevel=2,
        )
    except RuntimeError as exc:
        msg = str(exc)
        m = _TOO_HIGH.search(msg)
        if m:
            feasible = int(m.group(2))
            raise infeasible(
                f"corpus supports at most {feasible} SentencePiece pieces; vocab_size={vocab_size} "
                "is too large", feasible) from None
        m = _TOO_SMALL.search(msg)
        if m:
            raise VocabSizeError(
                f"vocab_size={vocab_size} is smaller than the {m.group(2)} characters the corpus "
                f"needs at character_coverage={coverage}; raise vocab_size or lower "
                "character_coverage") from None
        raise
    return out_prefix.with_name(out_prefix.name + ".model")
