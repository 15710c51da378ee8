"""``focus`` initializer: FOCUS (Dobler & de Melo 2023), as compared by Downey et al. (2023).

Special tokens and tokens in V_T ∩ V_S copy the base's rows; every other target token with a
static vector is the sparsemax-weighted sum of the overlapping tokens' rows, weighted by the
cosine similarity of their static (fastText) vectors in the target-tokenised corpus (F^T);
tokens without a static vector fall back to the script-wise normal of the base (deepfocus
draws them at random). UniBridge's initializer is this plus Procrustes-aligned semantic pairs.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from unibridge.embeddings.registry import (InitResult, check_inputs, register_initializer,
                                           report_counts, seed_matrix)
from unibridge.embeddings.script import fill_script_fallback
from unibridge.embeddings.static import train_static_space
from unibridge.embeddings.unibridge_init import combine_missing
from unibridge.errors import DataError


@register_initializer("focus")
def focus_init(*, source_embeddings: torch.Tensor, source_tokenizer, target_tokenizer,
               corpus: list[str], config=None, seed: int = 0,
               workdir: Path | None = None) -> InitResult:
    """FOCUS: overlap copy + sparsemax over F^T similarities to the overlapping tokens.

    Args: as :func:`~unibridge.embeddings.registry.initialize_embeddings`.
    Returns:
        :class:`InitResult`: float32 ``(V_T, d)``; report ``special``, ``overlap``,
        ``combined`` (sparsemax rows) and ``fallback`` (script-wise normal). ``details``:
        ``anchor_ids`` / ``combined_ids`` (int64; ``combine_rows(F_T[combined_ids],
        F_T[anchor_ids], E_T[anchor_ids])`` reproduces the combined rows), ``static_target``,
        ``fallback_ids``, ``timings``.
    Raises:
        ConfigError / DataError: as :func:`initialize_embeddings`; DataError when no
        overlapping token has a static vector (nothing to combine from).
    Source: Dobler & de Melo (2023), Eq. 1–3.
    """
    E_S, lines, cfg = check_inputs(source_embeddings, source_tokenizer, target_tokenizer,
                                   corpus, config)
    t0 = time.perf_counter()
    F_T = train_static_space(lines, target_tokenizer, cfg, workdir=workdir)
    t1 = time.perf_counter()
    E_T, done, specials, overlap = seed_matrix(E_S, source_tokenizer, target_tokenizer)
    anchors = [t for t in overlap if t in F_T]
    if not anchors:
        raise DataError("FOCUS needs overlapping tokens with a static vector; the target and "
                        "base vocabularies share none in this corpus")
    combined = combine_missing(E_T, done, F_T, anchors)
    fb = fill_script_fallback(E_T, done, E_S, source_tokenizer, target_tokenizer, seed)
    timings = {"static_s": t1 - t0, "total_without_static_s": time.perf_counter() - t1}
    return InitResult(E_T, report_counts(specials, overlap, combined=len(combined), fallback=len(fb)),
                      {"anchor_ids": torch.tensor(sorted(anchors), dtype=torch.long),
                       "combined_ids": torch.tensor(combined, dtype=torch.long),
                       "static_target": F_T, "fallback_ids": fb, "timings": timings})
