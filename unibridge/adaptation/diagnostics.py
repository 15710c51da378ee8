"""Diagnostics of a language adapter: does it keep the space the task adapters read?

Measured on held-out text, for the adapted model (its embeddings + language adapter, its
tokenizer) against the frozen base (default embeddings, no adapter, base tokenizer):

* ``spread_mean`` / ``spread_first``: between-example share of the last layer's states,
  mean-pooled per sentence / at the first token: Σ_d Var_n(x_n) / mean_n ‖x_n‖², x_n being
  sentence n's pooled (or first-token) state: the part of the states that depends on the
  input. A collapsed adapter, whose output no longer depends on the input, drives it to 0.
* ``pairwise_cosine``: mean cosine between the mean-pooled states of different sentences
  (→ 1 under collapse).
* ``layer_cosine``: per layer (0 = embeddings output .. L), mean cosine between the adapted and
  the base states of the same word (mean of its sub-tokens), so it also works across tokenizers.
* :func:`centroid_gap`: distance between the mean token states of two adapters on parallel
  text, in units of the within-set spread (the square root of the mean per-dimension variance).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .losses import masked_mean, word_pool


@torch.no_grad()
def _layers(model, tokenizer, words: list[list[str]], *, embeddings: str, adapter, max_length: int,
            batch_size: int) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """Per batch: hidden states of every layer (n_layers+1, B, L, d), attention mask, word ids,
    word counts."""
    from .model import model_setup
    from .train import word_batches

    hs, atts, wids, ns = [], [], [], []
    with model_setup(model, embeddings, adapter):
        for encs, ids, att, wid in word_batches(tokenizer, words, max_length=max_length, batch_size=batch_size):
            out = model.base_model(input_ids=ids, attention_mask=att, output_hidden_states=True)
            hs.append(torch.stack(out.hidden_states))
            atts.append(att)
            wids.append(wid)
            ns.append(torch.tensor([e.n_words for e in encs]))
    return hs, atts, wids, ns


def spread(x: torch.Tensor) -> float:
    """Between-example share of (N, d) states: Σ_d Var_n(x) / mean_n ‖x_n‖² in [0, 1]."""
    return float(x.var(0, unbiased=False).sum() / x.pow(2).sum(1).mean().clamp(min=1e-12))


def _spread(hs: list[torch.Tensor], atts: list[torch.Tensor]) -> dict:
    last = [h[-1] for h in hs]
    pooled = torch.cat([masked_mean(h, a) for h, a in zip(last, atts)])
    first = torch.cat([h[:, 0] for h in last])
    n = pooled.shape[0]
    cos = F.cosine_similarity(pooled.unsqueeze(1), pooled.unsqueeze(0), dim=-1)
    off = (cos.sum() - cos.diagonal().sum()) / max(1, n * (n - 1))
    return {"spread_mean": round(spread(pooled), 4), "spread_first": round(spread(first), 4),
            "pairwise_cosine": round(float(off), 4)}


def representation_diagnostics(model, tokenizer, texts: list[str], *, embeddings: str, adapter: str,
                               base_tokenizer, max_length: int = 64, batch_size: int = 32,
                               max_texts: int = 128) -> dict:
    """Spread, pairwise cosine and per-layer word cosine of the adapted model vs the base.

    ``texts``: held-out lines (the first ``max_texts`` non-blank ones are used). The adapted side
    reads them with ``tokenizer`` through embedding set ``embeddings`` and language adapter
    ``adapter``; the base side with ``base_tokenizer``, ``"default"`` embeddings, no adapter.
    Returns ``{"base": {spread_mean, spread_first, pairwise_cosine}, "adapted": {...},
    "layer_cosine": [L+1 floats], "texts": n}``. Raises ValueError if no line has a word.
    The model's active embeddings, adapters and mode are restored.
    """
    words = [t.split() for t in texts if t.split()][:max_texts]
    if not words:
        raise ValueError("diagnostics: no text")
    kw = dict(max_length=max_length, batch_size=batch_size)
    b_hs, b_att, b_wid, b_n = _layers(model, base_tokenizer, words, embeddings="default", adapter=None, **kw)
    a_hs, a_att, a_wid, a_n = _layers(model, tokenizer, words, embeddings=embeddings, adapter=adapter, **kw)
    n_layers = b_hs[0].shape[0]
    sums, count = torch.zeros(n_layers), 0
    for bh, ba, bw, bn, ah, aa, aw, an in zip(b_hs, b_att, b_wid, b_n, a_hs, a_att, a_wid, a_n):
        n = torch.minimum(bn, an)
        width = max(1, int(n.max()))
        keep = torch.arange(width).unsqueeze(0) < n.unsqueeze(1)  # (B, width)
        for k in range(n_layers):
            cos = F.cosine_similarity(word_pool(ah[k], aw, width), word_pool(bh[k], bw, width), dim=-1)
            sums[k] += float(cos[keep].sum())
        count += int(keep.sum())
    return {"base": _spread(b_hs, b_att), "adapted": _spread(a_hs, a_att),
            "layer_cosine": [round(float(x) / max(1, count), 4) for x in sums], "texts": len(words)}


@torch.no_grad()
def token_centroid(model, tokenizer, texts: list[str], *, embeddings: str, adapter, max_length: int = 64,
                   batch_size: int = 32) -> tuple[torch.Tensor, float]:
    """``(centroid (d,), spread)``: mean of the last layer's token states (special tokens
    included) of ``texts``, and the square root of their mean per-dimension variance."""
    words = [t.split() for t in texts if t.split()]
    hs, atts, _, _ = _layers(model, tokenizer, words, embeddings=embeddings, adapter=adapter,
                             max_length=max_length, batch_size=batch_size)
    tokens = torch.cat([h[-1][a.bool()] for h, a in zip(hs, atts)])
    return tokens.mean(0), float(tokens.var(0, unbiased=False).mean().sqrt())


def centroid_gap(a: tuple[torch.Tensor, float], b: tuple[torch.Tensor, float]) -> float:
    """‖μ_a − μ_b‖ / sqrt(d · s_a · s_b): the gap between two :func:`token_centroid` results in
    units of their within-set spread (per-dimension standard deviations s, d dimensions)."""
    (mu_a, s_a), (mu_b, s_b) = a, b
    return float((mu_a - mu_b).norm() / (mu_a.numel() * s_a * s_b) ** 0.5)


def format_diagnostics(d: dict) -> str:
    """Two lines summarising :func:`representation_diagnostics` output for a terminal."""
    a, b = d["adapted"], d["base"]
    return (f"spread (mean-pooled) {a['spread_mean']:.3f} (base {b['spread_mean']:.3f}), first token "
            f"{a['spread_first']:.3f} (base {b['spread_first']:.3f}), pairwise cosine {a['pairwise_cosine']:.3f} "
            f"(base {b['pairwise_cosine']:.3f})\nword cosine with the base by layer: "
            + " ".join(f"{c:.2f}" for c in d["layer_cosine"]))
