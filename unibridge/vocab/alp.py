"""Average log probability (ALP) of a corpus under a tokenizer (Zheng et al. 2021).

ALP(D, t) = 1/|D| · Σ_j Σ_k log p_uni(s_j^k)                    (Eq. 1 of Pham et al. 2024)

where ``s_j`` is the j-th sample of D tokenised by t and ``p_uni`` is the unigram relative
frequency of each token in t(D), estimated on the same tokenised corpus. Scores are natural
logarithms (nats) and negative; a larger (less negative) ALP means a corpus that the tokenizer
segments into fewer, more frequent pieces.
"""

from __future__ import annotations

from itertools import chain
from typing import Protocol, Sequence

import numpy as np

from unibridge.errors import ConfigError, DataError

__all__ = ["pack_samples", "alp", "Encoder"]


class Encoder(Protocol):
    """Anything with a batched ``encode(list[str]) -> list[list[int]]``.

    ``sentencepiece.SentencePieceProcessor`` satisfies it (its ``encode`` on a list runs the
    whole batch in C++).
    """

    def encode(self, input: list[str]) -> list[list[int]]:  # pragma: no cover - protocol
        ...


def pack_samples(lines: Sequence[str], sample_words: int | None = 128) -> list[str]:
    """Pack consecutive text into ALP samples of ``sample_words`` whitespace-separated words.

    The paper's monolingual data are 10K samples of 128 words each (Pham et al. 2024, §3);
    this reproduces that unit from a line-oriented corpus. Words are taken in corpus order
    across line boundaries and re-joined with single spaces; the last sample holds the
    remaining ``< sample_words`` words (kept so that no text is dropped).

    Args:
        lines: the corpus, one sentence / paragraph per item.
        sample_words: words per sample; ``None`` makes every non-blank line (stripped) one
            sample.

    Returns:
        list of samples (strings); empty when the corpus holds no words.

    Raises:
        ConfigError: ``sample_words`` is not a positive integer or ``None``.
    """
    if sample_words is None:
        return [s for s in (line.strip() for line in lines) if s]
    if isinstance(sample_words, bool) or not isinstance(sample_words, (int, np.integer)) or sample_words <= 0:
        raise ConfigError(f"sample_words must be a positive integer or None, got {sample_words!r}")
    words = [w for line in lines for w in line.split()]
    n = int(sample_words)
    return [" ".join(words[i : i + n]) for i in range(0, len(words), n)]


def alp(processor: Encoder, samples: Sequence[str], per_token: bool = False) -> float:
    """ALP(D, t) of ``samples`` under ``processor`` (Zheng et al. 2021; Eq. 1 of Pham et al. 2024).

    The whole corpus is encoded in one batched ``processor.encode(list)`` call; unigram counts
    come from ``np.bincount`` over the concatenated ids, so that
    Σ_j Σ_k log p_uni(s_j^k) = Σ_id c_id · log(c_id / N) with N the total token count.

    Args:
        processor: a ``sentencepiece.SentencePieceProcessor`` (or any object whose
            ``encode(list[str])`` returns one list of int ids per input string).
        samples: the corpus D as a list of samples (see :func:`pack_samples`).
        per_token: divide the total log probability by the number of tokens N instead of the
            number of samples |D| (a length-normalised variant; not the paper's definition).

    Returns:
        ALP in nats (a float ≤ 0); samples that encode to no token count as 0 in the mean.

    Raises:
        DataError: ``samples`` is empty or encodes to no token at all.
    """
    samples = list(samples)
    if not samples:
        raise DataError("cannot compute ALP: the corpus has no samples")
    encoded = processor.encode(samples)
    if len(encoded) != len(samples):
        raise DataError(f"encoder returned {len(encoded)} sequences for {len(samples)} samples")
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    total = int(lengths.sum())
    if total == 0:
        raise DataError("cannot compute ALP: the corpus encodes to zero tokens")
    flat = np.fromiter(chain.from_iterable(encoded), dtype=np.int64, count=total)
    if flat.min() < 0:
        raise DataError("encoder returned negative token ids")
    counts = np.bincount(flat)
    counts = counts[counts > 0].astype(np.float64)
    log_total = float(np.dot(counts, np.log(counts / total)))
    return log_total / (total if per_token else len(samples))
