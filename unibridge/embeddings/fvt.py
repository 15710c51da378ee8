"""``fvt`` initializer: Fast Vocabulary Transfer (Gee et al. 2022).

Special tokens and tokens in V_T ∩ V_S copy the base's rows; every other target token is the
mean of the base rows of the pieces the *base* tokenizer's model splits its string into
(:func:`~unibridge.embeddings.registry.subtoken_mean`), so a new piece starts where the base
already reads that character sequence; tokens the base can only read as unknown fall back to
the script-wise normal (Downey et al. 2023). No static space is trained.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from unibridge.embeddings.registry import (InitResult, canonical_token, check_inputs, id_to_token,
                                           piece_convention, register_initializer, report_counts,
                                           seed_matrix, subtoken_mean)
from unibridge.embeddings.script import fill_script_fallback


def fill_piece_means(E_T: torch.Tensor, done: torch.Tensor, E_S: torch.Tensor, source_tokenizer,
                     target_tokenizer) -> torch.Tensor:
    """FVT's step: every target row not yet ``done`` whose token the base can spell becomes the
    mean of the base rows of its pieces (:func:`~unibridge.embeddings.registry.subtoken_mean`);
    ``E_T`` (V_T, d) and ``done`` (V_T,) are updated in place. Returns the ids filled (int64)."""
    style = piece_convention(target_tokenizer)
    tokens = id_to_token(target_tokenizer)
    rest = [i for i in sorted(tokens) if not done[i]]
    rows, known = subtoken_mean(E_S, source_tokenizer, [canonical_token(tokens[i], style) for i in rest])
    ids = torch.tensor(rest, dtype=torch.long)[known]
    E_T[ids] = rows[known]
    done[ids] = True
    return ids


@register_initializer("fvt")
def fvt_init(*, source_embeddings: torch.Tensor, source_tokenizer, target_tokenizer,
             corpus: list[str], config=None, seed: int = 0,
             workdir: Path | None = None) -> InitResult:
    """FVT: overlap copy, then the mean of the base rows of each new token's base pieces.

    Args: as :func:`~unibridge.embeddings.registry.initialize_embeddings` (``corpus`` is only
        checked; ``config`` and ``workdir`` are unused).
    Returns:
        :class:`InitResult`: float32 ``(V_T, d)``; report ``special``, ``overlap``, ``combined``
        (piece means) and ``fallback`` (script-wise normal). ``details``: ``combined_ids``
        (int64), ``fallback_ids``, ``timings``.
    Raises:
        ConfigError / DataError: as :func:`initialize_embeddings`.
    Source: Gee et al. (2022), "Fast Vocabulary Transfer for Language Model Compression".
    """
    E_S, _, _ = check_inputs(source_embeddings, source_tokenizer, target_tokenizer, corpus, config)
    t0 = time.perf_counter()
    E_T, done, specials, overlap = seed_matrix(E_S, source_tokenizer, target_tokenizer)
    ids = fill_piece_means(E_T, done, E_S, source_tokenizer, target_tokenizer)
    fb = fill_script_fallback(E_T, done, E_S, source_tokenizer, target_tokenizer, seed)
    return InitResult(E_T, report_counts(specials, overlap, combined=len(ids), fallback=len(fb)),
                      {"combined_ids": ids, "fallback_ids": fb,
                       "timings": {"total_s": time.perf_counter() - t0}})
