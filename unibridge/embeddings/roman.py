"""``roman`` initializer: FVT over the romanisation of each new piece (uroman).

FVT (Gee et al. 2022) starts a new piece at the mean of the base pieces that spell it, which
fails for a script the base cannot read: the base sees only ``<unk>``. Romanised, a piece in Ol
Chiki, Tifinagh or Tibetan becomes a Latin string the base can spell, so names, numbers and
loanwords land near their base counterparts. Special tokens and pieces in V_T ∩ V_S copy the
base's rows; a piece the base spells as it is takes FVT's mean (``combined``); a piece it
cannot read is romanised with ``uroman`` (Hermjakob et al. 2018, the universal romaniser) and
takes the mean of the base pieces of its romanisation (``aligned``); the rest fall back to the
script-wise normal (``fallback``).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import torch

from unibridge.embeddings.fvt import fill_piece_means
from unibridge.embeddings.registry import (SP_SPACE, InitResult, canonical_token, check_inputs,
                                           id_to_token, piece_convention, register_initializer,
                                           report_counts, seed_matrix, subtoken_mean)
from unibridge.embeddings.script import fill_script_fallback


@functools.lru_cache(maxsize=1)
def _romanizer():
    import uroman

    return uroman.Uroman()


def romanize_piece(piece: str) -> str:
    """The Latin-script form of one vocabulary piece (SentencePiece form: a leading "▁" marks a
    word start and is kept); "" when nothing romanises. ``uroman``'s ``romanize_string``; Tibetan's
    syllable mark (tsheg, romanised as "·") is dropped."""
    start = piece.startswith(SP_SPACE)
    body = piece[1:] if start else piece
    roman = _romanizer().romanize_string(body).replace("\u00b7", "").strip()
    return (SP_SPACE + roman if start else roman) if roman and roman != body else ""


@register_initializer("roman")
def roman_init(*, source_embeddings: torch.Tensor, source_tokenizer, target_tokenizer,
               corpus: list[str], config=None, seed: int = 0, workdir: Path | None = None) -> InitResult:
    """FVT, with pieces the base cannot read romanised first.

    Args: as :func:`~unibridge.embeddings.registry.initialize_embeddings` (``corpus`` is only
        checked; ``config`` and ``workdir`` are unused).
    Returns:
        :class:`InitResult`: float32 ``(V_T, d)``; report ``special``, ``overlap``, ``combined``
        (FVT on the piece itself), ``aligned`` (FVT on its romanisation) and ``fallback``
        (script-wise normal). ``details``: ``romanized`` {target id: romanised piece},
        ``combined_ids``, ``fallback_ids``, ``timings``.
    Raises:
        ConfigError / DataError: as :func:`initialize_embeddings`.
    Source: FVT (Gee et al. 2022) over uroman's romanisation (Hermjakob et al. 2018).
    """
    E_S, _, _ = check_inputs(source_embeddings, source_tokenizer, target_tokenizer, corpus, config)
    t0 = time.perf_counter()
    E_T, done, specials, overlap = seed_matrix(E_S, source_tokenizer, target_tokenizer)
    combined = fill_piece_means(E_T, done, E_S, source_tokenizer, target_tokenizer)
    style = piece_convention(target_tokenizer)
    tokens = id_to_token(target_tokenizer)
    unread = [(i, romanize_piece(canonical_token(tokens[i], style))) for i in sorted(tokens) if not done[i]]
    unread = [(i, r) for i, r in unread if r.strip(SP_SPACE)]
    romanized: dict[int, str] = {}
    if unread:
        rows, ok = subtoken_mean(E_S, source_tokenizer, [r for _, r in unread])
        for (i, r), row, k in zip(unread, rows, ok.tolist()):
            if k:
                E_T[i], done[i], romanized[i] = row, True, r
    fb = fill_script_fallback(E_T, done, E_S, source_tokenizer, target_tokenizer, seed)
    return InitResult(E_T, report_counts(specials, overlap, aligned=len(romanized), combined=len(combined),
                                         fallback=len(fb)),
                      {"romanized": romanized, "combined_ids": combined, "fallback_ids": fb,
                       "timings": {"total_s": time.perf_counter() - t0}})
