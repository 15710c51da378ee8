"""``tema`` initializer: bilingual-dictionary mapping after TEMA (Zevallos & Bel, tema.md).

TEMA moves the embedding of a target token to the position of its translation equivalent in a
richly trained model, found through a bilingual dictionary. Here the target rows live in the
base model's own embedding space, so TEMA's affine map between two models (anchored on the
token "1") is the identity: a target vocabulary entry that is a whole dictionary word gets the
base embedding of its translation — the mean of the translation's base pieces, averaged over
all its translations. Special and overlapping tokens copy the base's rows first (identity takes
precedence, as in Downey et al. 2023); the rest fall back to the script-wise normal.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Sequence

import torch

from unibridge.embeddings.registry import (SP_SPACE, InitResult, canonical_token, check_inputs,
                                           piece_convention, register_initializer,
                                           report_counts, seed_matrix, token_vocab)
from unibridge.embeddings.script import fill_script_fallback
from unibridge.errors import ConfigError


@register_initializer("tema", options=("dictionary",))
def tema_init(*, source_embeddings: torch.Tensor, source_tokenizer, target_tokenizer,
              corpus: list[str], config=None, seed: int = 0, workdir: Path | None = None,
              dictionary: Sequence[tuple[str, str]] | None = None) -> InitResult:
    """Dictionary mapping of target tokens onto their translations' base embeddings.

    Args: as :func:`~unibridge.embeddings.registry.initialize_embeddings`, plus
        dictionary: ``(source word, target word)`` pairs
            (:func:`unibridge.data.read_dictionary`); multi-word targets are skipped.
    Returns:
        :class:`InitResult`: float32 ``(V_T, d)``; report ``special``, ``overlap``,
        ``aligned`` (rows mapped through the dictionary) and ``fallback`` (script-wise
        normal). ``details``: ``mapped`` {target id: [source words]}, ``pairs_used``,
        ``fallback_ids``.
    Raises:
        ConfigError: no dictionary, plus the errors of :func:`initialize_embeddings`.
    Source: Algorithm 1 of tema.md, with the identity map between the two spaces.
    """
    if not dictionary:
        raise ConfigError("the tema initializer needs a bilingual dictionary of (source word, "
                          "target word) pairs, e.g. read_dictionary('dicts/wechsel_wiktionary/"
                          "data/amharic.txt')")
    E_S, _, _ = check_inputs(source_embeddings, source_tokenizer, target_tokenizer, corpus, config)
    E_T, done, specials, overlap = seed_matrix(E_S, source_tokenizer, target_tokenizer)
    style = piece_convention(target_tokenizer)
    free = {canonical_token(tok, style): i for tok, i in token_vocab(target_tokenizer).items()
            if not done[i]}
    pairs = [(s, t, free[SP_SPACE + t]) for s, t in dictionary
             if len(t.split()) == 1 and SP_SPACE + t in free]
    mapped: dict[int, list[str]] = defaultdict(list)
    if pairs:
        words = sorted({s for s, _, _ in pairs})
        pieces = source_tokenizer(words, add_special_tokens=False)["input_ids"]
        vec = {w: E_S[ids].mean(0) for w, ids in zip(words, pieces) if ids}
        for s, _, t in pairs:
            if s in vec and s not in mapped[t]:
                mapped[t].append(s)
        mapped = {t: ws for t, ws in mapped.items() if ws}
        for t, ws in mapped.items():
            E_T[t] = torch.stack([vec[w] for w in ws]).mean(0)
            done[t] = True
    fb = fill_script_fallback(E_T, done, E_S, source_tokenizer, target_tokenizer, seed)
    return InitResult(E_T, report_counts(specials, overlap, aligned=len(mapped), fallback=len(fb)),
                      {"mapped": dict(mapped), "pairs_used": sum(len(w) for w in mapped.values()),
                       "fallback_ids": fb})
