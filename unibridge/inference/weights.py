"""Source-language weight strategies.

* ``harmony`` — Pham et al. 2024, Eq. 10-12, from K parallel sentences (stored by the run);
* ``lang2vec`` — cosine similarity of URIEL typological feature vectors (Malaviya et al. 2017),
  normalised to sum 1; a language lang2vec lacks gets uniform weights with a warning, as the
  paper does for pbt (Table 14);
* ``entropy`` — test-time entropy minimisation over the source weights (after EMEA, Wang et
  al. 2021): per batch, a few gradient steps on the weights' logits lower the entropy of the
  combined prediction; the weights start uniform.

The computations only: the strategies that use them are registered in :mod:`.strategies`.
"""

from __future__ import annotations

import warnings

import torch

from ..adaptation.losses import masked_mean
from ..adaptation.model import encoder_states
from ..errors import ConfigError


def harmony_from_distances(distances: dict[str, float], temperature: float = 1.0,
                           standardise: bool = False) -> dict[str, float]:
    """w_s = softmax_s(d_s / T) with d_s = 1 / distance_s (Eq. 11-12). Weights sum to 1.

    ``standardise``: d_s is replaced by (d_s − mean) / std over the sources (population std;
    all equal → uniform weights), so T is in units of the spread of the inverse distances
    rather than of their absolute size: with distances of a few units the paper's formula is
    within ±0.002 of uniform whatever the distances, standardised it is not.
    ``distances``: mean L2 distance per source (> 0). Raises ValueError if empty or
    non-positive, or if T ≤ 0.
    """
    if not distances:
        raise ValueError("no source distances")
    if any(not (v > 0) for v in distances.values()):
        raise ValueError(f"distances must be positive: {distances}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    inv = torch.tensor([1.0 / distances[s] for s in distances], dtype=torch.float64)
    if standardise:
        std = inv.std(unbiased=False)
        inv = (inv - inv.mean()) / std if float(std) > 0 else torch.zeros_like(inv)
    w = torch.softmax(inv / temperature, dim=0).tolist()
    return dict(zip(distances, w))


def choose_harmony(distances: dict[str, dict[str, float]], score, *, temperatures, standardise: bool = True,
                   preferred: tuple[str, float] | None = None) -> dict:
    """The harmony setting (distance kind, temperature) whose weights score best on dev data.

    Args:
        distances: kind (e.g. ``"sentence"``, ``"centroid"``) -> source -> distance (> 0).
        score: weights ``{source: w}`` -> dev score (higher is better), e.g. UPOS accuracy of the
            combined prediction on the target's dev split; called once per distinct weighting.
        temperatures: the temperatures to try (> 0) with every kind.
        standardise: as in :func:`harmony_from_distances`.
        preferred: ``(kind, temperature)`` tried first, so it wins ties; the other candidates
            follow kind by kind, larger temperatures (flatter weights) first.
    Returns:
        ``{"distance", "temperature", "weights", "dev_score", "candidates": [{"distance",
        "temperature", "dev_score"}, ...]}`` (candidates in the order tried).
    Raises:
        ValueError: no candidate (empty ``distances`` or ``temperatures``), or a bad distance /
        temperature (:func:`harmony_from_distances`).
    Settings are chosen on dev data, never on test sets (Pham et al. 2024 fix τ; with standardised
    distances τ is in units of their spread across sources).
    """
    order = [(k, float(t)) for k in distances for t in sorted(temperatures, reverse=True)]
    if preferred is not None and preferred[0] in distances:
        pref = (preferred[0], float(preferred[1]))
        order = [pref] + [c for c in order if c != pref]
    if not order:
        raise ValueError("no harmony candidates: give at least one distance kind and one temperature")
    seen: dict[tuple, float] = {}
    best, candidates = None, []
    for kind, t in order:
        w = harmony_from_distances(distances[kind], t, standardise)
        key = tuple(round(w[s], 12) for s in w)
        if key not in seen:
            seen[key] = float(score(w))
        cand = {"distance": kind, "temperature": t, "dev_score": seen[key]}
        candidates.append(cand)
        if best is None or cand["dev_score"] > best["dev_score"]:
            best = {**cand, "weights": w}
    return {**best, "candidates": candidates}


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
                    pairs: dict[str, list[tuple[str, str]]], k: int = 10, temperature: float = 1.0,
                    standardise: bool = False, source_adapters: bool = True) -> dict:
    """Harmony weights of the sources for one target.

    ``pairs[s]``: (target sentence, source-s sentence) parallel pairs; the first ``k`` are used.
    Target side through base + E_T + target adapter, source side through base + default
    embeddings + language adapter ``s`` (``source_adapters=False``: no adapter);
    ``temperature`` and ``standardise`` as in :func:`harmony_from_distances`. Returns ``{"weights": {s: w}, "distances": {s: L2}, "k": k}``.
    """
    distances = {}
    for s, ps in pairs.items():
        ps = ps[:k]
        if not ps:
            raise ConfigError(f"no parallel sentences between the target and '{s}'")
        h_t = sentence_states(model, target_tokenizer, [p[0] for p in ps], embeddings=target_embeddings,
                              adapter=target_adapter)
        h_s = sentence_states(model, base_tokenizer, [p[1] for p in ps], embeddings="default",
                              adapter=s if source_adapters else None)
        distances[s] = float((h_t - h_s).norm(dim=-1).mean())
    return {"weights": harmony_from_distances(distances, temperature, standardise), "distances": distances, "k": k}


def stored_harmony(record: dict, task: str | None = None) -> dict[str, float]:
    """The harmony weights a run stored (``harmony/weights.json``) for ``task``: the ones chosen
    on that task's dev data where the run has them, else the recipe's setting."""
    tuned = (record.get("tasks") or {}).get(task) if task is not None else None
    return dict(tuned["weights"] if tuned else record["weights"])


def stored_weights(record: dict | None, task: str | None) -> dict:
    """The keyword arguments a run's stored harmony gives :func:`~unibridge.inference.strategies.
    resolve_weights`: ``harmony`` (:func:`stored_harmony` for ``task``) and ``untuned`` (the
    recipe's own setting); both None without a harmony record."""
    if record is None:
        return {"harmony": None, "untuned": None}
    return {"harmony": stored_harmony(record, task), "untuned": dict(record["weights"])}


LANG2VEC_FEATURES = "syntax_knn+phonology_knn+inventory_knn"


def _lang2vec():
    """The ``lang2vec.lang2vec`` module. lang2vec also installs a ``lang2vec.py`` script next to
    the ``unibridge`` command, and a console script puts its own folder first on ``sys.path``,
    where that script would shadow the package: folders holding such a file are skipped."""
    import os
    import sys

    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if not os.path.isfile(os.path.join(p or ".", "lang2vec.py"))]
    mod = sys.modules.get("lang2vec")
    if mod is not None and not hasattr(mod, "__path__"):  # the script, imported earlier
        del sys.modules["lang2vec"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lang2vec imports the deprecated pkg_resources
            import lang2vec.lang2vec as l2v
    finally:
        sys.path[:] = saved
    return l2v


def lang2vec_weights(target: str, sources: list[str], features: str = LANG2VEC_FEATURES) -> dict[str, float]:
    """w_s = cos(f_t, f_s) / Σ_s' cos(f_t, f_s') over URIEL feature vectors (lang2vec ``get_features``).

    Args:
        target, sources: language codes in any form :func:`~unibridge.data.get_language` knows
            (ISO 639-1/3, names); looked up in lang2vec by ISO 639-3.
        features: lang2vec feature sets joined by ``+`` (default: the k-NN-imputed syntax,
            phonology and inventory features, which cover every URIEL language).
    Returns:
        ``{source: weight}``, weights ≥ 0 summing to 1. Uniform, with a warning, when lang2vec
        lacks the target or a source, or when no similarity is positive.
    Source: Malaviya et al. 2017; the lang2vec baseline of Pham et al. 2024, Appendix D.2.
    """
    from ..data import get_language

    l2v = _lang2vec()
    codes = {c: get_language(c).iso3 for c in [target, *sources]}
    try:
        feats = l2v.get_features(sorted(set(codes.values())), features)
    except Exception as e:  # lang2vec raises a bare Exception for an unknown language
        warnings.warn(f"lang2vec: {str(e).split('.')[0].strip()}; using uniform weights over {sources}")
        return {s: 1.0 / len(sources) for s in sources}
    vec = {c: torch.tensor([float(x) for x in feats[codes[c]]], dtype=torch.float64) for c in codes}
    cos = {s: float(torch.nn.functional.cosine_similarity(vec[target], vec[s], dim=0).clamp(min=0.0))
           for s in sources}
    total = sum(cos.values())
    if not total > 0:
        warnings.warn(f"lang2vec: no positive similarity between {target} and {sources}; using uniform weights")
        return {s: 1.0 / len(sources) for s in sources}
    return {s: c / total for s, c in cos.items()}


def entropy_weights(source_logits: torch.Tensor, mask: torch.Tensor, init: torch.Tensor | None = None,
                    steps: int = 10, lr: float = 0.1) -> torch.Tensor:
    """Source weights minimising the mean prediction entropy of a batch (test-time, EMEA-style).

    Args:
        source_logits: ``(S, N, C)`` logits of S sources at N scored positions (words / examples).
        mask: ``(N,)`` bool, the positions that count.
        init: ``(S,)`` starting weights (default uniform); optimised as softmax(θ), θ = log init.
        steps / lr: Adam steps and learning rate on θ.
    Returns:
        ``(S,)`` float32 weights ≥ 0 summing to 1 (combined prediction: Σ_s w_s · logits_s).
    Raises:
        ValueError: shapes disagree.
    Source: Wang et al. 2021 (EMEA), entropy minimisation over adapter weights, here over the
    logits of the task adapters.
    """
    S = source_logits.shape[0]
    if mask.shape != source_logits.shape[1:2]:
        raise ValueError(f"mask {tuple(mask.shape)} does not match logits {tuple(source_logits.shape)}")
    w0 = torch.full((S,), 1.0 / S) if init is None else init.float().clamp(min=1e-6)
    theta = torch.log(w0 / w0.sum()).clone().requires_grad_(True)
    x = source_logits.detach().float()[:, mask]
    if x.shape[1] == 0 or steps == 0:
        return torch.softmax(theta.detach(), 0)
    opt = torch.optim.Adam([theta], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            p = torch.softmax((torch.softmax(theta, 0).view(S, 1, 1) * x).sum(0), -1)
            ent = -(p * torch.log(p.clamp_min(1e-12))).sum(-1).mean()
            opt.zero_grad()
            ent.backward()
            opt.step()
    return torch.softmax(theta.detach(), 0)
