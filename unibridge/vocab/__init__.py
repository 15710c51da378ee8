"""Stage 1: target vocabulary — ALP (Zheng et al. 2021), Algorithm 1 of Pham et al. 2024,
SentencePiece training and wrapping as a ``transformers`` fast tokenizer."""

from unibridge.vocab.alp import alp, pack_samples
from unibridge.vocab.plot import plot_alp_curve
from unibridge.vocab.search import (
    Algorithm1Outcome,
    CurvePoint,
    VocabSearchResult,
    algorithm1,
    bisect_algorithm1,
    parallel_algorithm1,
    full_curve,
    search_vocab_size,
    split_heldout,
)
from unibridge.vocab.trainer import TrainingCorpus, default_character_coverage, train_sentencepiece
from unibridge.vocab.tokenizer import tokenizer_style, wrap_tokenizer

__all__ = [
    "alp",
    "pack_samples",
    "Algorithm1Outcome",
    "CurvePoint",
    "VocabSearchResult",
    "algorithm1",
    "bisect_algorithm1",
    "parallel_algorithm1",
    "full_curve",
    "split_heldout",
    "TrainingCorpus",
    "default_character_coverage",
    "plot_alp_curve",
    "search_vocab_size",
    "train_sentencepiece",
    "tokenizer_style",
    "wrap_tokenizer",
]
