"""Stage 2 as one service: target embeddings from an :class:`~unibridge.config.EmbeddingConfig`,
written into a folder. The pipeline's embeddings stage and ``unibridge init`` both call
:func:`build_embeddings`."""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import EmbeddingConfig
from .artifact import save_init_result
from .registry import InitResult, initialize_embeddings
from .static import StaticConfig


def build_embeddings(cfg: EmbeddingConfig, out: str | Path, *, base_embeddings: torch.Tensor, base_tokenizer,
                     target_tokenizer, corpus: list[str], seed: int, workdir: str | Path | None = None,
                     parallel: list[tuple[str, str]] | None = None, title: str = "",
                     plot: bool = True) -> tuple[InitResult, Path]:
    """Initialise the target embeddings with the registered initializer ``cfg.method``
    (:func:`~unibridge.embeddings.registry.initialize_embeddings`; static fastText spaces of
    ``cfg.static_dim`` / ``cfg.static_epochs`` / ``cfg.min_count`` cached in ``workdir``;
    ``cfg.dictionary`` files read and ``parallel`` (target, source) sentence pairs given to the
    methods that take them) and write them into ``out``
    (:func:`~unibridge.embeddings.artifact.save_init_result`: ``embeddings.safetensors``
    ((V_T, d) float32), ``report.json``, ``pca.png`` when ``plot``, ``tokenizer/`` when the
    method built its own vocabulary). ``base_embeddings``: (V_S, d) input embeddings of the
    base. Returns ``(result, path of embeddings.safetensors)``. Raises what the initializer
    raises (ConfigError: unknown method; DataError: empty corpus or dictionary)."""
    from ..data import read_dictionary

    res = initialize_embeddings(
        cfg.method, source_embeddings=base_embeddings, source_tokenizer=base_tokenizer,
        target_tokenizer=target_tokenizer, corpus=corpus,
        config=StaticConfig(dim=cfg.static_dim, epochs=cfg.static_epochs, min_count=cfg.min_count),
        seed=seed, workdir=workdir, dictionary=read_dictionary(cfg.dictionary) if cfg.dictionary else None,
        augment_size=cfg.augment_size, parallel=parallel)
    path = save_init_result(res, out, method=cfg.method, source_embeddings=base_embeddings,
                            source_tokenizer=base_tokenizer, target_tokenizer=target_tokenizer, plot=plot,
                            title=title)
    return res, path
