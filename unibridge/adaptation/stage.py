"""Stage 3 (and the source adapters of stage 4) as one service: add a language adapter, train it
and write it into a folder with its diagnostics. The pipeline's target and source adapters,
the transfer grid's MAD-X adapter and ``unibridge adapt`` all call :func:`adapt_language`."""

from __future__ import annotations

from pathlib import Path

from ..artifacts import write_json
from ..config import AdaptationConfig, SourceAdaptationConfig
from . import train
from .model import MLMHead, add_language_adapter

DIAGNOSTIC_LINES = 128  # the last lines of a language's text, measured after its adapter trains


def adapt_language(model, name: str, tokenizer, texts: list[str], out: str | Path | None, *,
                   cfg: SourceAdaptationConfig | AdaptationConfig, train_embeddings: bool, base_tokenizer,
                   seed: int, checkpoints: str | Path, dictionary=None, head_init=None, resume: bool = True,
                   diagnostics: bool = True) -> dict:
    """Add language adapter ``name`` (``cfg.adapter_config()``: MAD-X's ``SeqBnInvConfig`` with
    ``cfg``'s reduction factors and ``leave_out`` unless ``cfg.adapter`` names another
    architecture; replacing one of that name), train it on ``texts`` read with ``tokenizer``
    (:func:`~unibridge.adaptation.train.train_language_adapter`: MLM + regulariser against the
    frozen base, the new embeddings too when ``train_embeddings``; the model's active embeddings
    must be ``tokenizer``'s) and write into ``out``: ``adapter/``, ``mlm_head.safetensors``,
    ``history.json``, the trained ``embeddings.safetensors`` (with ``train_embeddings``) and,
    with ``diagnostics``, ``diagnostics.json``: representation diagnostics on the last
    :data:`DIAGNOSTIC_LINES` lines against the base
    (:func:`~unibridge.adaptation.diagnostics.representation_diagnostics`).

    ``checkpoints``: the Trainer's folder (resumed from when ``resume``; the caller removes it
    once the result is kept). ``head_init``: with ``cfg.mlm_head == "fitted"``, the fitted MLM
    head to start from, or a function returning one, called once the adapter is added (after its
    seed is set, so a head fitted there starts from the same weights every time); None, or a
    joint head: the config's own head. ``out``
    None: train only, write nothing (e.g. a non-zero rank of a multi-process run).
    Returns ``{"history": [...], "diagnostics": {...} or None}``.
    """
    if name in model.adapters_config:
        model.delete_adapter(name)
    add_language_adapter(model, name, seed=seed, config=cfg.adapter_config())
    if cfg.mlm_head != "fitted":
        head_init = None  # a joint head starts fresh
    elif head_init is not None and not isinstance(head_init, MLMHead):
        head_init = head_init()
    head, hist = train.train_language_adapter(  # looked up at call time: tests replace it
        model, tokenizer, texts, name, cfg=cfg, train_embeddings=train_embeddings, base_tokenizer=base_tokenizer,
        dictionary=dictionary, seed=seed, output_dir=str(checkpoints), resume=resume, head_init=head_init)
    if out is None:
        return {"history": hist, "diagnostics": None}
    out = Path(out)
    train.save_language_adapter(model, head, name, out, hist, with_embeddings=train_embeddings)
    diag = None
    if diagnostics:
        from .diagnostics import representation_diagnostics

        diag = representation_diagnostics(model, tokenizer, texts[-DIAGNOSTIC_LINES:],
                                          embeddings=name if train_embeddings else "default", adapter=name,
                                          base_tokenizer=base_tokenizer)
        write_json(out / "diagnostics.json", diag)
    return {"history": hist, "diagnostics": diag}
