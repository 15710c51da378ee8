"""Source-language weight strategies: harmony (Pham et al. 2024 Eq. 10-12), uniform, single-source."""

from __future__ import annotations

import torch

from ..adaptation.losses import masked_mean
from ..adaptation.model import encoder_states
from ..errors import ConfigError


def harmony_from_distances(distances: dict[str, float], temperature: float = 1.0) -> dict[str, float]:
    """w_s = softmax_s(d_s / T) with d_s = 1 / distance_s (Eq. 11-12). Weights sum to 1.

    ``distances``: mean L2 distance per source (> 0). Raises ValueError if empty or non-positive.
    """
    if not distances:
        raise ValueError("no source distances")
    if any(not (v > 0) for v in distances.values()):
        raise ValueError(f"distances must be positive: {distances}")
    inv = torch.tensor([1.0 / distances[s] for s in distances], dtype=torch.float64) / temperature
    w = torch.softmax(inv, dim=0).tolist()
    return dict(zip(distances, w))


@torch.no_grad()
def sentence_states(model, tokenizer, texts: list[str], *, embeddings: str, adapter: str,
                    max_length: int = 128, batch_size: int = 16) -> torch.Tensor:
    """Mean-pooled encoder states (output of the inverse invertible adapter) of ``texts`` read with
    ``tokenizer`` through the embedding set ``embeddings`` and language adapter ``adapter``: (N, d)."""
    model.set_active_embeddings(embeddings)
    model.set_active_adapters(adapter)
    model.eval()
    out = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(texts[i:i + batch_size], padding=True, truncation=True, max_length=max_length,
                        return_tensors="pt")
        out.append(masked_mean(encoder_states(model, enc["input_ids"], enc["attention_mask"]), enc["attention_mask"]))
    return torch.cat(out)


def harmony_weights(model, target_tokenizer, base_tokenizer, *, target_embeddings: str, target_adapter: str,
                    pairs: dict[str, list[tuple[str, str]]], k: int = 10, temperature: float = 1.0) -> dict:
    """Harmony weights of the sources for one target.

    ``pairs[s]``: (target sentence, source-s sentence) parallel pairs; the first ``k`` are used.
    Target side through base + E_T + target adapter, source side through base + default
    embeddings + language adapter ``s``. Returns ``{"weights": {s: w}, "distances": {s: L2}, "k": k}``.
    """
    distances = {}
    for s, ps in pairs.items():
        ps = ps[:k]
        if not ps:
            raise ConfigError(f"no parallel sentences between the target and '{s}'")
        h_t = sentence_states(model, target_tokenizer, [p[0] for p in ps], embeddings=target_embeddings,
                              adapter=target_adapter)
        h_s = sentence_states(model, base_tokenizer, [p[1] for p in ps], embeddings="default", adapter=s)
        distances[s] = float((h_t - h_s).norm(dim=-1).mean())
    return {"weights": harmony_from_distances(distances, temperature), "distances": distances, "k": k}


def resolve_weights(strategy: str | dict, sources: list[str], harmony: dict[str, float] | None = None) -> dict[str, float]:
    """Weights per source for a strategy: ``"harmony"`` (stored weights), ``"uniform"``,
    ``"single:<lang>"``, or an explicit mapping (normalised to sum 1). Raises ConfigError."""
    if isinstance(strategy, dict):
        missing = set(sources) - set(strategy)
        if missing:
            raise ConfigError(f"weights given for {sorted(strategy)} but sources are {sources}")
        total = sum(strategy[s] for s in sources)
        if not total > 0:
            raise ConfigError("explicit weights must have a positive sum")
        return {s: strategy[s] / total for s in sources}
    if strategy == "uniform":
        return {s: 1.0 / len(sources) for s in sources}
    if strategy == "harmony":
        if harmony is None:
            raise ConfigError("no harmony weights stored for this run")
        total = sum(harmony[s] for s in sources)
        return {s: harmony[s] / total for s in sources}
    if strategy.startswith("single:"):
        lang = strategy.split(":", 1)[1]
        if lang not in sources:
            raise ConfigError(f"single-source weights name '{lang}', not one of the sources {sources}")
        return {s: float(s == lang) for s in sources}
    raise ConfigError(f"unknown weight strategy '{strategy}'; use harmony, uniform, single:<lang> or a mapping")

