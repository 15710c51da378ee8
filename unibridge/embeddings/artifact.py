"""Writing an initialisation's outputs to a folder (used by ``unibridge init`` and the pipeline).

::

    <out>/embeddings.safetensors   {"weight": (V_T, d) float32}
    <out>/tokenizer/               only when the method built its own vocabulary (``va``)
    <out>/report.json              method, row counts per category, method details (JSON-ready)
    <out>/pca.png                  base and new rows on the base's principal axes, by script
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from unibridge.embeddings.registry import InitResult

TOKENIZER_DIR = "tokenizer"


def save_init_result(res: InitResult, out_dir: Path | str, *, method: str,
                     source_embeddings: torch.Tensor, source_tokenizer, target_tokenizer,
                     plot: bool = True, title: str = "") -> Path:
    """Write ``res`` into ``out_dir`` (created); every file is written atomically.

    Args:
        res: an :class:`InitResult` from :func:`initialize_embeddings`.
        method: the initializer's name (recorded in report.json).
        source_embeddings / source_tokenizer: the base's, for the PCA plot.
        target_tokenizer: the tokenizer given to the initializer (``res.tokenizer`` replaces it
            when set, and is saved under ``tokenizer/``).
        plot: write ``pca.png``.
    Returns:
        Path of ``embeddings.safetensors``.
    """
    from safetensors.torch import save_file

    from unibridge.artifacts import jsonable, write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = target_tokenizer
    if res.tokenizer is not None:
        tok = res.tokenizer
        tok.save_pretrained(str(out / TOKENIZER_DIR))
    path = out / "embeddings.safetensors"
    tmp = out / f".{path.name}.tmp"
    save_file({"weight": res.embeddings.contiguous()}, str(tmp))
    os.replace(tmp, path)
    write_json(out / "report.json", {"method": method, "counts": res.report,
                                     "vocab_size": int(res.embeddings.shape[0]),
                                     "details": jsonable(res.details)})
    if plot:
        from unibridge.embeddings.plot import plot_embedding_pca

        plot_embedding_pca(source_embeddings, source_tokenizer, res.embeddings, tok,
                           out / "pca.png", title=title)
    return path
