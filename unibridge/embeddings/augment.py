"""Vocabulary augmentation (``va``): keep the base vocabulary and add the top-n target pieces.

The replacement strategy (every other initializer) swaps the base vocabulary for the target
tokenizer's. Vocabulary augmentation (Chau et al. 2020; Chau & Smith 2021,
specializing-multilingual.md §2.1) instead keeps every base token at its id and appends the
n most common pieces of a target-language tokenizer that the base vocabulary lacks, so the
adapted model still reads the base's languages. ``n = 99`` is the paper's VA setting
(``augment_size``); n = |V| is E-MBERT (Wang et al. 2020).

* :func:`augment_tokenizer` builds the augmented ``transformers`` fast tokenizer:
  SentencePiece-unigram bases (XLM-R, me5-small) get each new piece with a unigram score
  log(count / total) measured on the corpus under the target tokenizer, so Viterbi
  segmentation prefers a new piece over the several base pieces it replaces;
  WordPiece bases (BERT, mBERT) get ``x`` / ``##x`` entries, used by longest-match-first.
* The ``va`` initializer copies the base matrix bit-exactly and initialises each added piece
  with the mean of the base embeddings of its segmentation by the base model (the
  sub-token mean; Chau et al. draw new rows at random — ``ident`` on the augmented tokenizer
  gives that), falling back to the script-wise normal when the base only knows it as
  unknown. The result carries the augmented tokenizer (``InitResult.tokenizer``).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from unibridge.embeddings.registry import (SP_SPACE, InitResult, base_form, canonical_token, check_inputs,
                                           piece_convention, register_initializer, report_counts,
                                           special_token_ids, subtoken_mean, token_vocab, vocab_size)
from unibridge.embeddings.script import fill_script_fallback
from unibridge.errors import ConfigError


@dataclass
class Augmentation:
    """Output of :func:`augment_tokenizer`.

    ``tokenizer``: fast tokenizer; ids ``0 .. V_S-1`` are the base's, ``V_S ..`` the added
    pieces in ``pieces`` order. ``pieces``: added entries in the base's convention
    (SentencePiece ``▁x`` / ``x``, or WordPiece ``x`` / ``##x``). ``counts``: their corpus
    frequencies under the target tokenizer.
    """

    tokenizer: object
    pieces: list[str]
    counts: list[int]


def piece_counts(tokenizer, lines: list[str]) -> Counter:
    """``Counter`` of the pieces (str, no special tokens) of ``lines`` under ``tokenizer``."""
    from unibridge.vocab.tokenizer import tokenize_pieces

    counts: Counter = Counter()
    for pieces in tokenize_pieces(tokenizer, lines):
        counts.update(pieces)
    return counts


def select_new_pieces(base_tokenizer, target_tokenizer, counts: Counter, n: int
                      ) -> list[tuple[str, int]]:
    """The ``n`` most frequent target pieces absent from the base vocabulary.

    ``counts``: :func:`piece_counts` of the corpus under the target tokenizer (specials are
    excluded here). Pieces are compared in
    SentencePiece form (:func:`~unibridge.embeddings.registry.canonical_token`); ties go to the
    lower target id. Pieces that are only "▁" or that the base already has are skipped.

    Returns:
        ``[(piece in SentencePiece form, count)]``, most frequent first, at most ``n`` long.
    Raises:
        ConfigError: ``n`` not a positive integer.
    Source: the n most common pieces of the new vocabulary, Chau & Smith (2021, §2.1).
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"augment_size must be a positive integer, got {n!r}")
    s_style, t_style = piece_convention(base_tokenizer), piece_convention(target_tokenizer)
    have = {canonical_token(t, s_style) for t in token_vocab(base_tokenizer)}
    t_vocab = token_vocab(target_tokenizer)
    t_special = set(special_token_ids(target_tokenizer))
    ranked = sorted(((c, t_vocab.get(p, len(t_vocab)), canonical_token(p, t_style))
                     for p, c in counts.items()
                     if t_vocab.get(p) not in t_special), key=lambda x: (-x[0], x[1]))
    out: list[tuple[str, int]] = []
    for c, _, piece in ranked:
        if piece not in have and piece != SP_SPACE and piece.strip(SP_SPACE):
            out.append((piece, c))
            have.add(piece)
            if len(out) == n:
                break
    return out


def augment_tokenizer(base_tokenizer, target_tokenizer, lines: list[str], n: int = 99,
                      out_dir: Path | str | None = None) -> Augmentation:
    """Base tokenizer plus the ``n`` most common new target pieces (vocabulary augmentation).

    Args:
        base_tokenizer: the base model's fast tokenizer (SentencePiece unigram or WordPiece).
        target_tokenizer: a target-language fast tokenizer (e.g. from ``unibridge vocab``).
        lines: target-language text; pieces are ranked by their frequency in it.
        n: number of pieces to add (Chau et al.'s VA: 99).
        out_dir: if given, the tokenizer is saved there (``load_tokenizer(out_dir)`` reloads it).
    Returns:
        :class:`Augmentation`; the tokenizer's vocabulary is V_S + len(pieces) (fewer than
        ``n`` pieces when the corpus has fewer new ones), base ids unchanged.
    Raises:
        ConfigError: a base tokenizer that is neither unigram nor WordPiece, or bad ``n``.
    Source: vocabulary augmentation, Chau et al. (2020); Chau & Smith (2021, §2.1).
    """
    from unibridge.backbones import load_tokenizer

    counts = piece_counts(target_tokenizer, lines)
    chosen = select_new_pieces(base_tokenizer, target_tokenizer, counts, n)
    style = piece_convention(base_tokenizer)
    backend = json.loads(base_tokenizer.backend_tokenizer.to_str())
    model = backend["model"]
    if model["type"] == "Unigram":
        total = max(1, sum(counts.values()))
        model["vocab"].extend([p, math.log(c / total)] for p, c in chosen)
    elif model["type"] == "WordPiece":
        start = max(model["vocab"].values()) + 1
        for k, (p, _) in enumerate(chosen):
            model["vocab"][base_form(p, style)] = start + k
    else:
        raise ConfigError(f"vocabulary augmentation supports SentencePiece-unigram and WordPiece "
                          f"base tokenizers, not {model['type']}")
    tmp = Path(tempfile.mkdtemp(prefix="unibridge-va-"))
    try:
        base_tokenizer.save_pretrained(str(tmp))
        for slow in ("sentencepiece.bpe.model", "spiece.model", "vocab.txt"):
            (tmp / slow).unlink(missing_ok=True)
        (tmp / "tokenizer.json").write_text(json.dumps(backend, ensure_ascii=False),
                                            encoding="utf-8")
        tok = load_tokenizer(tmp)
        if out_dir is not None:
            out_dir = Path(out_dir)
            staging = out_dir.with_name(f".{out_dir.name}.tmp")
            shutil.rmtree(staging, ignore_errors=True)
            tok.save_pretrained(str(staging))
            shutil.rmtree(out_dir, ignore_errors=True)
            staging.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Augmentation(tok, [base_form(p, style) for p, _ in chosen], [c for _, c in chosen])


@register_initializer("va", options=("augment_size",))
def va_init(*, source_embeddings: torch.Tensor, source_tokenizer, target_tokenizer,
            corpus: list[str], config=None, seed: int = 0, workdir: Path | None = None,
            augment_size: int = 99) -> InitResult:
    """Vocabulary augmentation: the base matrix plus rows for the top-``augment_size`` pieces.

    Args: as :func:`~unibridge.embeddings.registry.initialize_embeddings`, plus
        ``augment_size`` (n, default 99 as in Chau et al. 2020).
    Returns:
        :class:`InitResult` with float32 ``(V_S + k, d)`` embeddings (k ≤ n added pieces) for
        ``InitResult.tokenizer`` (the augmented tokenizer); rows ``0 .. V_S-1`` are the base's,
        bit-exact. Report: ``special`` + ``overlap`` (the base rows), ``combined`` (sub-token
        means), ``fallback`` (script-wise normal). ``details``: ``pieces``, ``counts``,
        ``fallback_ids``.
    Raises:
        ConfigError / DataError: as :func:`initialize_embeddings`; ConfigError for a base
        tokenizer that is neither unigram nor WordPiece.
    Source: Chau et al. (2020); Chau & Smith (2021, §2.1).
    """
    E_S, lines, _ = check_inputs(source_embeddings, source_tokenizer, target_tokenizer,
                                 corpus, config)
    aug = augment_tokenizer(source_tokenizer, target_tokenizer, lines, augment_size)
    v_s, v_a = vocab_size(source_tokenizer), vocab_size(aug.tokenizer)
    E = torch.empty(v_a, E_S.shape[1], dtype=torch.float32)
    E[:v_s] = E_S[:v_s]
    style = piece_convention(source_tokenizer)
    rows, known = subtoken_mean(E_S, source_tokenizer, [canonical_token(p, style) for p in aug.pieces])
    E[v_s:] = rows
    done = torch.ones(v_a, dtype=torch.bool)
    done[v_s:] = known
    fb = fill_script_fallback(E, done, E_S, source_tokenizer, aug.tokenizer, seed)
    specials = special_token_ids(source_tokenizer)
    report = report_counts(specials, range(v_s - len(specials)), combined=int(known.sum()),
                           fallback=len(fb))
    return InitResult(E, report, {"pieces": aug.pieces, "counts": aug.counts,
                                  "fallback_ids": fb.tolist()},
                      tokenizer=aug.tokenizer)
