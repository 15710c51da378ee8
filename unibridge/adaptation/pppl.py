"""Pseudo-perplexity of a masked language model (Salazar et al. 2020), as tema.md reports it.

PLL(s) = Σ_t log P(w_t | s without w_t): every non-special token is masked in turn and scored by
the MLM head at that position only. Over a corpus, PPPL = exp(− Σ_s PLL(s) / N) with N the
number of scored tokens. Lower is better; it compares models that share a tokenizer (a new
vocabulary changes N and the events being predicted).
"""

from __future__ import annotations

import math

import torch

from ..errors import DataError
from .model import encoder_states


@torch.no_grad()
def pseudo_log_likelihoods(model, head, tokenizer, texts: list[str], *, max_length: int = 128,
                           batch_size: int = 64) -> list[tuple[float, int]]:
    """Per text, ``(PLL in nats, number of scored tokens)``.

    Args:
        model: ``adapters`` model whose active embeddings match ``tokenizer`` (its active
            adapters are used as they are).
        head: MLM head ``(N, d) -> (N, V)`` (e.g. :class:`~unibridge.adaptation.model.MLMHead`).
        tokenizer: fast tokenizer with a mask token.
        texts: lines; each is truncated to ``max_length`` tokens.
        batch_size: masked copies per forward pass.
    Returns:
        One ``(pll, n)`` per text; texts without a non-special token give ``(0.0, 0)``.
    Raises:
        DataError: the tokenizer has no mask token.
    """
    if tokenizer.mask_token_id is None:
        raise DataError("pseudo-perplexity needs a tokenizer with a mask token")
    was_training = model.training
    model.eval()
    head_was_training = head.training
    head.eval()
    copies: list[tuple[int, int, list[int]]] = []  # (text index, position, ids)
    for k, text in enumerate(texts):
        ids = tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
        special = tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True)
        copies.extend((k, i, ids) for i in range(len(ids)) if not special[i])
    out = [[0.0, 0] for _ in texts]
    try:
        for a in range(0, len(copies), batch_size):
            chunk = copies[a:a + batch_size]
            width = max(len(c[2]) for c in chunk)
            ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            att = torch.zeros_like(ids)
            for j, (_, _, seq) in enumerate(chunk):
                ids[j, :len(seq)] = torch.tensor(seq)
                att[j, :len(seq)] = 1
            pos = torch.tensor([c[1] for c in chunk])
            rows = torch.arange(len(chunk))
            gold = ids[rows, pos].clone()
            ids[rows, pos] = tokenizer.mask_token_id
            states = encoder_states(model, ids, att, layer=getattr(head, "layer", None))[rows, pos]
            logp = torch.log_softmax(head(states).float(), dim=-1)[rows, gold]
            for (k, _, _), lp in zip(chunk, logp.tolist()):
                out[k][0] += lp
                out[k][1] += 1
    finally:
        model.train(was_training)
        head.train(head_was_training)
    return [(float(p), int(n)) for p, n in out]


def pseudo_perplexity(model, head, tokenizer, texts: list[str], *, max_length: int = 128,
                      batch_size: int = 64) -> float:
    """Corpus pseudo-perplexity exp(− Σ PLL / N) (Salazar et al. 2020, §2.3).

    Arguments as :func:`pseudo_log_likelihoods`. Returns a float ≥ 1.
    Raises:
        DataError: no text has a token to score.
    """
    plls = pseudo_log_likelihoods(model, head, tokenizer, texts, max_length=max_length,
                                  batch_size=batch_size)
    n = sum(c for _, c in plls)
    if n == 0:
        raise DataError("pseudo-perplexity: the texts have no token to score")
    return math.exp(-sum(p for p, _ in plls) / n)
