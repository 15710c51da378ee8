"""``unibridge`` initializer: Eq. 2–8 of Pham et al. (2024), with a Procrustes-aligned F^S.

1. special tokens copy the base's rows by role;
2. (Eq. 2) tokens in V_T ∩ V_S copy their source row;
3. static spaces F^T, F^S (fastText on the corpus tokenised by each tokenizer); F^S is
   rotated onto F^T by orthogonal Procrustes on the shared tokens seen in both spaces;
4. (Eq. 3–4) mutual cosine argmax between the remaining target and source tokens; pairs copy
   the source row;
5. (Eq. 5–8) every other target token with a static vector is the sparsemax-weighted sum of
   the rows of the aligned target tokens (overlap ∪ semantic) by F^T cosine;
6. tokens without a static vector: script-wise normal of the source (Downey et al. 2023).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from entmax import sparsemax

from unibridge.embeddings.registry import (InitResult, check_inputs, register_initializer,
                                           report_counts, seed_matrix, special_token_ids)
from unibridge.embeddings.script import fill_script_fallback
from unibridge.embeddings.static import (mutual_argmax, normalize_rows, procrustes,
                                         train_static_space)


SPARSEMAX_K = 256


def combine_rows(F_rest: torch.Tensor, F_aligned: torch.Tensor, E_aligned: torch.Tensor,
                 chunk: int = 1024, return_weights: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sparsemax-weighted combination of aligned rows (Eq. 5–8 of Pham et al. 2024).

    For each row a of ``F_rest``: c_a = cosine(F_rest[a], F_aligned) (Eq. 5),
    w_a = sparsemax(c_a) (Eq. 6), E[a] = Σ_o w_{a,o} E_aligned[o] (Eq. 7–8). Processed in
    chunks of ``chunk`` rows, so memory is O(chunk · n_aligned). Sparsemax partially sorts the
    top ``SPARSEMAX_K`` cosines of a row (entmax's ``k``; it widens the sort itself when a
    support is larger, so the result equals the full sort's): supports average ~130 of
    ~2,700 anchors on fastText cosines, and this is 3× faster than sorting every row.

    Args:
        F_rest: ``(r, k)`` static vectors of the tokens to initialise.
        F_aligned: ``(n, k)`` static vectors of the aligned target tokens (n ≥ 1).
        E_aligned: ``(n, d)`` their (already initialised) embedding rows.
        return_weights: also return the weights (their size grows with the support sizes:
            up to r·n entries when static cosines are flat; pass False on large vocabularies).
    Returns:
        ``(E_rest float32 (r, d), weights)``; ``weights`` is a coalesced sparse COO float32
        ``(r, n)`` tensor holding the non-zero sparsemax weights (each row sums to 1), or
        None when ``return_weights`` is False.
    Raises:
        ValueError: inconsistent shapes or no aligned rows.
    """
    if F_aligned.shape[0] == 0 or F_aligned.shape[0] != E_aligned.shape[0] \
            or F_rest.shape[1] != F_aligned.shape[1]:
        raise ValueError(f"combine_rows: bad shapes {tuple(F_rest.shape)}, "
                         f"{tuple(F_aligned.shape)}, {tuple(E_aligned.shape)}")
    r, n = F_rest.shape[0], F_aligned.shape[0]
    Fa = normalize_rows(F_aligned.float())
    Ea = E_aligned.float()
    out = torch.empty(r, Ea.shape[1], dtype=torch.float32)
    idx_parts, val_parts = [], []
    for a in range(0, r, chunk):
        c = normalize_rows(F_rest[a:a + chunk].float()) @ Fa.T  # (≤chunk, n)
        w = sparsemax(c, dim=-1, k=None if n <= SPARSEMAX_K else SPARSEMAX_K)
        out[a:a + chunk] = w @ Ea
        if not return_weights:
            continue
        nz = w.nonzero(as_tuple=False)
        val_parts.append(w[nz[:, 0], nz[:, 1]])
        nz[:, 0] += a
        idx_parts.append(nz)
    if not return_weights:
        return out, None
    if idx_parts:
        idx = torch.cat(idx_parts).T
        val = torch.cat(val_parts)
    else:
        idx, val = torch.zeros(2, 0, dtype=torch.long), torch.zeros(0)
    weights = torch.sparse_coo_tensor(idx, val, (r, n), check_invariants=False).coalesce()
    return out, weights


def combine_missing(E_T: torch.Tensor, done: torch.Tensor, F_T, anchor_ids: list[int]) -> list[int]:
    """Fill every row of ``E_T`` (V_T, d) not marked in ``done`` that has a static vector in
    ``F_T`` with :func:`combine_rows` over the ``anchor_ids`` rows (already initialised), in
    place; marks them done and returns their ids (ascending). Eq. 5–8 of Pham et al. 2024;
    FOCUS (Dobler & de Melo 2023) when the anchors are the overlapping tokens."""
    rest_ids = [int(t) for t in F_T.ids.tolist() if not done[t]]
    if not anchor_ids or not rest_ids:
        return []
    E_rest, _ = combine_rows(F_T.lookup(rest_ids), F_T.lookup(anchor_ids), E_T[anchor_ids],
                             return_weights=False)
    E_T[rest_ids] = E_rest
    done[rest_ids] = True
    return rest_ids


def _mean_cos(A: torch.Tensor, B: torch.Tensor) -> float:
    if A.shape[0] == 0:
        return float("nan")
    return float((normalize_rows(A) * normalize_rows(B)).sum(1).mean())


@register_initializer("unibridge")
def unibridge_init(*, source_embeddings: torch.Tensor, source_tokenizer, target_tokenizer,
                   corpus: list[str], config=None, seed: int = 0,
                   workdir: Path | None = None) -> InitResult:
    """UniBridge embedding initialisation (Eq. 2–8 of Pham et al. 2024).

    Args: as :func:`~unibridge.embeddings.registry.initialize_embeddings`.
    Returns:
        :class:`InitResult` with float32 ``(V_T, d)`` embeddings; report counts ``special``,
        ``overlap`` (Eq. 2), ``aligned`` (Eq. 3–4), ``combined`` (Eq. 5–8) and ``fallback``
        (script-wise normal). ``details``: ``n_anchors``, ``anchor_cos_before`` /
        ``anchor_cos_after`` (mean cosine of the Procrustes anchors before / after aligning
        F^S to F^T), ``procrustes_residual`` (||XW − Y||_F / ||Y||_F on unit rows),
        ``semantic_pairs`` [(target_id, source_id)], ``aligned_ids`` / ``combined_ids``
        (int64 target ids; ``combine_rows(F_T[combined_ids], F_T[aligned_ids],
        E_T[aligned_ids])`` reproduces the combined rows and their weights),
        ``static_target`` / ``static_source``
        (:class:`~unibridge.embeddings.static.StaticSpace`), ``fallback_ids``, ``timings``.
    Raises:
        ConfigError: bad config or embeddings/tokenizer mismatch. DataError: empty corpus.
    """
    E_S, lines, cfg = check_inputs(source_embeddings, source_tokenizer, target_tokenizer,
                                   corpus, config)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    E_T, done, specials, overlap = seed_matrix(E_S, source_tokenizer, target_tokenizer)
    timings["overlap_s"] = time.perf_counter() - t0

    # Static spaces.
    t1 = time.perf_counter()
    F_T = train_static_space(lines, target_tokenizer, cfg, workdir=workdir)
    F_S = train_static_space(lines, source_tokenizer, cfg, workdir=workdir)
    timings["static_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()

    # Procrustes: rotate unit-normalised F^S onto F^T on the shared tokens.
    anchors = [(t, s) for t, s in overlap.items() if t in F_T and s in F_S]
    FT_n = normalize_rows(F_T.vectors)
    FS_n = normalize_rows(F_S.vectors)
    details: dict = {"n_anchors": len(anchors)}
    if anchors:
        X = FS_n[[F_S.row[s] for _, s in anchors]]
        Y = FT_n[[F_T.row[t] for t, _ in anchors]]
        W = procrustes(X, Y)
        details["anchor_cos_before"] = _mean_cos(X, Y)
        XW = X @ W
        details["anchor_cos_after"] = _mean_cos(XW, Y)
        details["procrustes_residual"] = float((XW - Y).norm() / Y.norm().clamp_min(1e-12))
        FS_al = FS_n @ W
        del X, Y, XW
    else:
        details.update(anchor_cos_before=float("nan"), anchor_cos_after=float("nan"),
                       procrustes_residual=float("nan"))
        FS_al = FS_n
    timings["procrustes_s"] = time.perf_counter() - t2

    # Eq. 3–4: mutual argmax over the non-overlapping tokens.
    t3 = time.perf_counter()
    s_special = set(special_token_ids(source_tokenizer))
    ov_s_set = set(overlap.values())
    cand_t = [int(t) for t in F_T.ids.tolist() if not done[t]]
    cand_s = [int(s) for s in F_S.ids.tolist() if s not in ov_s_set and s not in s_special]
    pairs_local = mutual_argmax(FT_n[[F_T.row[t] for t in cand_t]],
                                FS_al[[F_S.row[s] for s in cand_s]])
    pairs = [(cand_t[i], cand_s[j]) for i, j in pairs_local]
    if pairs:
        pt = torch.tensor([p[0] for p in pairs], dtype=torch.long)
        E_T[pt] = E_S[torch.tensor([p[1] for p in pairs], dtype=torch.long)]
        done[pt] = True
    timings["mutual_argmax_s"] = time.perf_counter() - t3

    # Eq. 5–8: sparsemax combination for the rest that has a static vector.
    t4 = time.perf_counter()
    aligned_ids = sorted([t for t in overlap if t in F_T] + [p[0] for p in pairs])
    combined_ids = combine_missing(E_T, done, F_T, aligned_ids)
    timings["combine_s"] = time.perf_counter() - t4

    # Fall-back: script-wise normal of the source embeddings.
    t5 = time.perf_counter()
    fb_ids = fill_script_fallback(E_T, done, E_S, source_tokenizer, target_tokenizer, seed)
    timings["fallback_s"] = time.perf_counter() - t5
    timings["total_without_static_s"] = time.perf_counter() - t0 - timings["static_s"]

    report = report_counts(specials, overlap, len(pairs), len(combined_ids), len(fb_ids))
    details.update(semantic_pairs=pairs,
                   aligned_ids=torch.tensor(aligned_ids, dtype=torch.long),
                   combined_ids=torch.tensor(combined_ids, dtype=torch.long),
                   static_target=F_T, static_source=F_S,
                   fallback_ids=fb_ids, n_static_target=len(F_T), n_static_source=len(F_S),
                   timings=timings)
    return InitResult(E_T, report, details)
