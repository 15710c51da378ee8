"""``random`` and ``ident`` initializers: Xavier-normal rows, with or without identity copy.

``random`` is the "w/o embedding init" ablation of Pham et al. (2024); ``ident`` is REINIT-IDENT
of Downey et al. (2023): tokens shared with the base vocabulary keep their rows, the others are
random.
"""

from __future__ import annotations

from pathlib import Path

import torch

from unibridge.embeddings.registry import (InitResult, check_inputs, register_initializer,
                                           report_counts, seed_matrix, vocab_size)


def _xavier_init(*, source_embeddings: torch.Tensor, source_tokenizer, target_tokenizer,
                 corpus: list[str], config, seed: int, overlap: bool) -> InitResult:
    E_S, _, _ = check_inputs(source_embeddings, source_tokenizer, target_tokenizer, corpus,
                             config)
    v_t, d = vocab_size(target_tokenizer), E_S.shape[1]
    g = torch.Generator().manual_seed(int(seed))
    E_T = torch.empty(v_t, d, dtype=torch.float32)
    torch.nn.init.xavier_normal_(E_T, generator=g)
    seeded, done, specials, shared = seed_matrix(E_S, source_tokenizer, target_tokenizer, overlap)
    E_T[done] = seeded[done]
    report = report_counts(specials, shared, fallback=v_t - int(done.sum()))
    return InitResult(E_T, report, {"std": (2.0 / (v_t + d)) ** 0.5})


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
        random rows) = V_T; ``details["std"]`` the Xavier standard deviation.
    Raises:
        ConfigError / DataError: as :func:`~unibridge.embeddings.registry.check_inputs`.
    Source: Section 4 ablation of Pham et al. (2024); Glorot & Bengio (2010).
    """
    return _xavier_init(source_embeddings=source_embeddings, source_tokenizer=source_tokenizer,
                        target_tokenizer=target_tokenizer, corpus=corpus, config=config,
                        seed=seed, overlap=False)


@register_initializer("ident")
def ident_init(*, source_embeddings: torch.Tensor, source_tokenizer, target_tokenizer,
               corpus: list[str], config=None, seed: int = 0,
               workdir: Path | None = None) -> InitResult:
    """REINIT-IDENT (Downey et al. 2023): specials by role and tokens in V_T ∩ V_S copy the
    base's rows bit-exactly (SentencePiece "▁" / WordPiece "##" canonicalised); every other
    row is the same Xavier-normal draw as ``random`` with the same ``seed``.

    Returns:
        :class:`InitResult`: float32 ``(V_T, d)``; report ``special``/``overlap``/``fallback``.
    Raises:
        ConfigError / DataError: as :func:`~unibridge.embeddings.registry.check_inputs`.
    """
    return _xavier_init(source_embeddings=source_embeddings, source_tokenizer=source_tokenizer,
                        target_tokenizer=target_tokenizer, corpus=corpus, config=config,
                        seed=seed, overlap=True)
