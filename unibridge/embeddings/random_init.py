"""``random`` initializer: Xavier-normal rows (the "w/o embedding init" ablation of Pham et al.)."""

from __future__ import annotations

from pathlib import Path

import torch

from unibridge.embeddings.registry import (InitResult, check_inputs, register_initializer,
                                           special_token_map, vocab_size)


@register_initializer("random")
def random_init(*, source_embeddings: torch.Tensor, source_tokenizer, target_tokenizer,
                corpus: list[str], config=None, seed: int = 0,
                workdir: Path | None = None) -> InitResult:
    """Xavier-normal target embeddings; special tokens copy the base's rows by role.

    Every non-special row is drawn from N(0, 2 / (V_T + d)) (``torch.nn.init.xavier_normal_``
    on the ``(V_T, d)`` matrix) with a ``torch.Generator`` seeded by ``seed``. ``corpus`` is
    validated but unused; ``config``/``workdir`` are ignored.

    Returns:
        :class:`InitResult`: float32 ``(V_T, d)``; report ``special`` + ``fallback`` (the
        random rows) = V_T.
    Raises:
        ConfigError / DataError: as :func:`~unibridge.embeddings.registry.check_inputs`.
    Source: Section 4 ablation of Pham et al. (2024); Glorot & Bengio (2010).
    """
    E_S, _, _ = check_inputs(source_embeddings, source_tokenizer, target_tokenizer, corpus,
                             config)
    v_t, d = vocab_size(target_tokenizer), E_S.shape[1]
    g = torch.Generator().manual_seed(int(seed))
    E_T = torch.empty(v_t, d, dtype=torch.float32)
    torch.nn.init.xavier_normal_(E_T, generator=g)
    specials = special_token_map(source_tokenizer, target_tokenizer)
    for t, s in specials.items():
        E_T[t] = E_S[s]
    report = {"special": len(specials), "overlap": 0, "aligned": 0, "combined": 0,
              "fallback": v_t - len(specials)}
    return InitResult(E_T, report, {"std": (2.0 / (v_t + d)) ** 0.5})
