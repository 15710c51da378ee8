"""Static (fastText) token spaces and the operations that relate two of them.

F^T and F^S of Pham et al. (2024, §2.2) are skip-gram fastText models trained on the target
corpus tokenised into pieces by the target and by the source tokenizer. Trained separately,
their coordinates are unrelated, so :func:`procrustes` aligns F^S to F^T on the lexically
shared tokens before :func:`mutual_argmax` pairs tokens across them (the official UniBridge
code compares the unaligned spaces directly).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from unibridge.vocab.tokenizer import token_vocab, vocab_digest
from unibridge.errors import ConfigError
from unibridge.vocab.tokenizer import tokenize_pieces


@dataclass(frozen=True)
class StaticConfig:
    """fastText settings for the static token spaces.

    Paper values: ``dim`` 300, ``epochs`` 3, skip-gram, ``min_count`` 1. Character n-grams
    (``minn``..``maxn`` into ``bucket`` hashed rows) are on by default: without them fastText
    0.9.3 intermittently diverges ("Encountered NaN") on small token-level corpora, and the
    bucket is kept at 200k rows (240 MB at dim 300) instead of fastText's 2M (2.4 GB). Each
    model trains in a fresh interpreter (``_fasttext_job.py``): inside a process that has
    already done other numeric work, fastText 0.9.3 diverged in 2 of 3 test-suite runs,
    in a fresh one never. A run that still diverges is retried with half the learning rate
    (at most ``retries`` times).
    fastText's Python API always uses its fixed seed; ``threads`` > 1 makes training
    non-deterministic (``threads=1`` is reproducible), and cached spaces are reused as-is.
    """

    dim: int = 300
    epochs: int = 3
    min_count: int = 1
    threads: int = 2
    window: int = 5
    minn: int = 3
    maxn: int = 6
    bucket: int = 200_000
    lr: float = 0.05
    neg: int = 5
    retries: int = 3

    def __post_init__(self) -> None:
        for name in ("dim", "epochs", "min_count", "threads", "window", "neg"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"StaticConfig.{name} must be a positive integer, got {v!r}")
        if not (0 <= self.minn <= self.maxn):
            raise ConfigError("StaticConfig needs 0 <= minn <= maxn")
        if self.maxn > 0 and self.bucket < 1:
            raise ConfigError("StaticConfig.bucket must be positive when maxn > 0")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise ConfigError("StaticConfig.retries must be a non-negative integer")
        if not self.lr > 0:
            raise ConfigError("StaticConfig.lr must be positive")

    def to_dict(self) -> dict:
        """Plain-dict form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "StaticConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ConfigError."""
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown StaticConfig keys: {', '.join(sorted(unknown))}")
        return cls(**d)


@dataclass
class StaticSpace:
    """Token-level static vectors: ``ids`` int64 ``(n,)`` (tokenizer ids, ascending),
    ``vectors`` float32 ``(n, dim)``, ``counts`` int64 ``(n,)`` corpus frequencies."""

    ids: torch.Tensor
    vectors: torch.Tensor
    counts: torch.Tensor

    def __post_init__(self) -> None:
        self.row = {int(i): r for r, i in enumerate(self.ids.tolist())}

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, token_id: int) -> bool:
        return int(token_id) in self.row

    def lookup(self, token_ids) -> torch.Tensor:
        """float32 ``(len(token_ids), dim)`` vectors; KeyError for an id without a vector."""
        rows = torch.tensor([self.row[int(i)] for i in token_ids], dtype=torch.long)
        return self.vectors[rows] if len(rows) else self.vectors[:0]


def _cache_key(lines: list[str], tokenizer, config: StaticConfig) -> str:
    h = hashlib.sha256()
    for ln in lines:
        h.update(ln.encode("utf-8"))
        h.update(b"\n")
    h.update(b"\x00vocab\x00")
    h.update(vocab_digest(tokenizer).encode())
    h.update(repr(sorted((k, v) for k, v in config.to_dict().items()
                  if k not in ("threads", "retries")))
             .encode())
    return h.hexdigest()[:24]


def train_static_space(lines: list[str], tokenizer, config: StaticConfig | None = None,
                       workdir: Path | None = None) -> StaticSpace:
    """Train a skip-gram fastText space over ``tokenizer``'s pieces of ``lines``.

    Args:
        lines: raw text lines (non-empty list of str).
        tokenizer: ``transformers`` fast tokenizer; vectors are keyed by its token ids.
        config: :class:`StaticConfig` (default: dim 300, 3 epochs, minCount 1).
        workdir: if given, the space is cached there as ``static-<hash>.npz`` keyed by a hash
            of (corpus, vocabulary, config) and loaded instead of retrained.
    Returns:
        :class:`StaticSpace` with one vector per distinct non-special piece of the corpus.
    Source: static embeddings F^T / F^S of Pham et al. (2024, §2.2).
    """
    config = config or StaticConfig()
    cache = None
    if workdir is not None:
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        cache = workdir / f"static-{_cache_key(lines, tokenizer, config)}.npz"
        if cache.exists():
            z = np.load(cache)
            return StaticSpace(torch.from_numpy(z["ids"]), torch.from_numpy(z["vectors"]),
                               torch.from_numpy(z["counts"]))
    vocab = token_vocab(tokenizer)
    special = set(tokenizer.all_special_tokens)
    with tempfile.TemporaryDirectory(dir=workdir) as tmpdir:
        corpus = os.path.join(tmpdir, "pieces.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            for pieces in tokenize_pieces(tokenizer, lines):
                if pieces:
                    f.write(" ".join(pieces))
                    f.write("\n")
        out = os.path.join(tmpdir, "vectors.npz")
        params = dict(dim=config.dim, epoch=config.epochs, minCount=config.min_count,
                      thread=config.threads, ws=config.window, minn=config.minn,
                      maxn=config.maxn, neg=config.neg, lr=config.lr, retries=config.retries,
                      bucket=0 if config.maxn == 0 else config.bucket)
        job = subprocess.run([sys.executable, str(Path(__file__).with_name("_fasttext_job.py")),
                              corpus, out, json.dumps(params)], capture_output=True, text=True)
        if job.returncode == 3:
            raise ConfigError(
                f"fastText diverged (NaN) training a {config.dim}-dim static space "
                f"{config.retries + 1} times; lower static lr or raise static_dim")
        if job.returncode != 0:
            raise RuntimeError(f"fastText training failed: {job.stderr.strip()[-2000:]}")
        with np.load(out, allow_pickle=False) as z:
            words, freqs, inp = z["words"].tolist(), z["freqs"], z["vectors"]
    keep = [(vocab[w], r, int(freqs[r])) for r, w in enumerate(words)
            if w in vocab and w not in special]
    keep.sort()
    ids = np.array([k[0] for k in keep], dtype=np.int64)
    vecs = np.ascontiguousarray(inp[[k[1] for k in keep]], dtype=np.float32)
    vecs = vecs.reshape(len(keep), config.dim)
    counts = np.array([k[2] for k in keep], dtype=np.int64)
    if cache is not None:
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, ids=ids, vectors=vecs, counts=counts)
        os.replace(tmp, cache)
    return StaticSpace(torch.from_numpy(ids), torch.from_numpy(vecs), torch.from_numpy(counts))


def normalize_rows(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Rows scaled to unit L2 norm (zero rows stay zero); same shape and dtype."""
    return x / x.norm(dim=1, keepdim=True).clamp_min(eps)


def procrustes(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Orthogonal W minimising ||X W − Y||_F (Schönemann 1966).

    Args:
        X, Y: ``(n, k)`` paired rows (float). Computed in float64 via SVD of XᵀY = UΣVᵀ.
    Returns:
        ``W = U Vᵀ``, ``(k, k)`` orthogonal, in ``X``'s dtype.
    Raises:
        ValueError: shapes differ or are not 2-D.
    """
    if X.dim() != 2 or X.shape != Y.shape:
        raise ValueError(f"procrustes needs two (n, k) matrices, got {tuple(X.shape)} and "
                         f"{tuple(Y.shape)}")
    M = X.double().T @ Y.double()
    U, _, Vh = torch.linalg.svd(M)
    return (U @ Vh).to(X.dtype)


def mutual_argmax(T: torch.Tensor, S: torch.Tensor, chunk: int = 4096) -> list[tuple[int, int]]:
    """Mutual nearest neighbours under cosine similarity (Eq. 3 of Pham et al. 2024).

    Pairs (i, j) with ``j = argmax_l cos(T_i, S_l)`` and ``i = argmax_l cos(T_l, S_j)``. The
    cosine matrix is visited in ``chunk × chunk`` blocks with running maxima, so memory is
    O(chunk² + n + m), never O(n·m). Ties go to the lowest index.

    Args:
        T: ``(n, k)``; S: ``(m, k)`` (float; compared in float32).
        chunk: block side (≥ 1).
    Returns:
        List of ``(i, j)`` sorted by i; each i and each j appears at most once.
    Raises:
        ValueError: feature dimensions differ or chunk < 1.
    """
    if T.dim() != 2 or S.dim() != 2 or T.shape[1] != S.shape[1]:
        raise ValueError(f"mutual_argmax needs (n, k) and (m, k), got {tuple(T.shape)}, "
                         f"{tuple(S.shape)}")
    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    n, m = T.shape[0], S.shape[0]
    if n == 0 or m == 0:
        return []
    Tn, Sn = normalize_rows(T.float()), normalize_rows(S.float())
    row_val = torch.full((n,), -float("inf"))
    row_arg = torch.zeros(n, dtype=torch.long)
    col_val = torch.full((m,), -float("inf"))
    col_arg = torch.zeros(m, dtype=torch.long)
    for a in range(0, n, chunk):
        Ta = Tn[a:a + chunk]
        for b in range(0, m, chunk):
            block = Ta @ Sn[b:b + chunk].T  # (≤chunk, ≤chunk)
            j = block.argmax(dim=1)  # first maximal index on ties
            v = block.gather(1, j.unsqueeze(1)).squeeze(1)
            better = v > row_val[a:a + chunk]
            row_val[a:a + chunk] = torch.where(better, v, row_val[a:a + chunk])
            row_arg[a:a + chunk] = torch.where(better, j + b, row_arg[a:a + chunk])
            i = block.argmax(dim=0)
            v = block.gather(0, i.unsqueeze(0)).squeeze(0)
            better = v > col_val[b:b + chunk]
            col_val[b:b + chunk] = torch.where(better, v, col_val[b:b + chunk])
            col_arg[b:b + chunk] = torch.where(better, i + a, col_arg[b:b + chunk])
    idx = torch.arange(n)
    mutual = col_arg[row_arg] == idx
    return [(int(i), int(row_arg[i])) for i in idx[mutual].tolist()]
