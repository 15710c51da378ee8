"""Losses of language adaptation: masked LM at masked positions only, and the KL regulariser.

KL regulariser (Pham et al. 2024, Eq. 9): D_KL(pi_UniBridge(h|x) || pi_PLM(h|x)). Hidden states
are turned into distributions over the hidden axis with a (temperature-scaled) log-softmax and
compared with a true KL on log-probabilities; the student (adapted model, target tokenizer)
and the teacher (frozen base, its own tokenizer) are aligned at word level (mean of each
word's sub-token states) or sentence level (mean pooling).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def word_pool(states: torch.Tensor, word_ids: torch.Tensor, n_words: int) -> torch.Tensor:
    """Mean of the sub-token states of each word.

    states (B, L, d), word_ids (B, L) int64 with -1 for special/padding positions ->
    (B, n_words, d); words with no sub-token get zeros.
    """
    B, L, d = states.shape
    idx = word_ids.clamp(min=-1) + 1  # bucket 0 collects ignored positions
    idx = torch.where(word_ids >= n_words, torch.zeros_like(idx), idx)
    sums = states.new_zeros(B, n_words + 1, d).scatter_add_(1, idx.unsqueeze(-1).expand(B, L, d), states)
    counts = states.new_zeros(B, n_words + 1).scatter_add_(1, idx, torch.ones_like(idx, dtype=states.dtype))
    return (sums / counts.clamp(min=1).unsqueeze(-1))[:, 1:]


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean pooling: states (B, L, d), mask (B, L) 0/1 -> (B, d)."""
    m = mask.unsqueeze(-1).to(states.dtype)
    return (states * m).sum(1) / m.sum(1).clamp(min=1)


def kl_regulariser(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None = None,
                   temperature: float = 1.0) -> torch.Tensor:
    """KL(P_student || P_teacher) averaged over the compared rows.

    student, teacher: (..., d) states at matching rows (words or sentences); P = softmax(h / T)
    over the last axis. mask (...) selects the rows to compare (1 = compare). Returns a scalar
    >= 0 which is exactly 0 when the two states are equal. Uses
    ``F.kl_div(log_teacher, log_student, log_target=True)`` = sum p_s (log p_s - log p_t).
    """
    if student.shape != teacher.shape:
        raise ValueError(f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)} differ in shape")
    log_s = F.log_softmax(student / temperature, dim=-1)
    log_t = F.log_softmax(teacher.detach() / temperature, dim=-1)
    per_row = F.kl_div(log_t, log_s, log_target=True, reduction="none").sum(-1)
    if mask is None:
        return per_row.mean()
    m = mask.to(per_row.dtype)
    return (per_row * m).sum() / m.sum().clamp(min=1)


def mlm_loss(head, states: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the MLM head at masked positions only.

    states (B, L, d), labels (B, L) with -100 at unmasked positions. Logits are computed for the
    N masked positions only ((N, V) instead of (B*L, V)). Returns 0 if nothing is masked.
    """
    sel = labels != -100
    if not bool(sel.any()):
        return states.sum() * 0.0
    return F.cross_entropy(head(states[sel]), labels[sel])


def align_loss(new_embeddings: torch.Tensor, target_pieces: torch.Tensor, target_owner: torch.Tensor,
               source_vectors: torch.Tensor) -> torch.Tensor:
    """ALIGN-MLM's alignment term: − mean cosine between dictionary translations (align-mlm.md, §3).

    Word embeddings are the mean of their pieces' rows. Args:
        new_embeddings: ``(V_T, d)`` trainable target embeddings.
        target_pieces: ``(P,)`` int64 piece ids of all target words, concatenated.
        target_owner: ``(P,)`` int64 index of the dictionary pair each piece belongs to (0..B-1,
            every pair present).
        source_vectors: ``(B, d)`` base embeddings of the source words (held fixed).
    Returns:
        Scalar in [−1, 1]: −(1/B) Σ_i cos(E_T[word_i], E_S[translation_i]); gradients reach only
        ``new_embeddings``.
    """
    B, d = source_vectors.shape
    sums = new_embeddings.new_zeros(B, d).index_add_(0, target_owner, new_embeddings[target_pieces])
    counts = torch.bincount(target_owner, minlength=B).clamp(min=1).to(sums.dtype)
    words = sums / counts.unsqueeze(1)
    return -F.cosine_similarity(words, source_vectors.detach(), dim=-1).mean()


def anchor_loss(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None = None,
                kind: str = "cosine") -> torch.Tensor:
    """Representation anchor: how far the adapted states moved from the frozen base's.

    student, teacher: (..., d) states at matching rows (first token, last special token and
    words); mask (...) selects the rows (1 = compare). ``kind="cosine"``: mean of 1 − cos(s, t)
    (in [0, 2]); ``"mse"``: mean of ||s − t||² / d. Exactly 0 for identical states; gradients
    reach the student only. Raises ValueError for another kind or different shapes.
    """
    if student.shape != teacher.shape:
        raise ValueError(f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)} differ in shape")
    t = teacher.detach()
    distances = {"cosine": lambda: 1.0 - F.cosine_similarity(student, t, dim=-1, eps=1e-8),
                 "mse": lambda: (student - t).pow(2).mean(-1)}
    if kind not in distances:
        raise ValueError(f"anchor kind must be 'cosine' or 'mse', got {kind!r}")
    per_row = distances[kind]()
    if mask is None:
        return per_row.mean()
    m = mask.to(per_row.dtype)
    return (per_row * m).sum() / m.sum().clamp(min=1)
