"""Stage 1 as one service: the target vocabulary of a text, from a :class:`~unibridge.config.VocabConfig`,
written into a folder. The pipeline's vocab stage and ``unibridge vocab`` both call
:func:`build_vocabulary`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

from ..artifacts import write_json
from ..config import VocabConfig
from .plot import plot_alp_curve
from .search import VocabSearchResult, search_vocab_size
from .tokenizer import unk_share, wrap_tokenizer
from .trainer import train_sentencepiece


def build_vocabulary(lines: Sequence[str], cfg: VocabConfig, out: str | Path, base_tokenizer=None,
                     **search) -> tuple[dict, VocabSearchResult | None]:
    """The target vocabulary of ``lines`` into ``out``: ``spm.model`` (the SentencePiece model of
    the size Algorithm 1 chose with ALP, or of ``cfg.fixed_size`` without a search),
    ``search.json`` (the record below), ``alp_curve.png`` and the trained sizes in ``search/``
    (after a search), and with ``base_tokenizer`` a ``transformers`` tokenizer carrying the
    base's special tokens in ``tokenizer/`` (:func:`~unibridge.vocab.tokenizer.wrap_tokenizer`).

    ``search``: further arguments of :func:`~unibridge.vocab.search.search_vocab_size`
    (``workers``, ``seed``, ``progress``). Returns ``(record, result)``: ``record`` is
    ``{"searched", "vocab_size", ...the search result..., "tokenizer_size", "base_unk_share"}``
    (the last two with ``base_tokenizer``; the share of the text's base pieces that are
    ``<unk>``, :func:`~unibridge.vocab.tokenizer.unk_share`), ``result`` the :class:`VocabSearchResult` (None without a search).
    Raises what the search raises (DataError: empty text; VocabSizeError: too little text for
    ``cfg.v_i`` pieces).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    res = None
    if cfg.fixed_size:
        model_path = train_sentencepiece(lines, cfg.fixed_size, out / "spm", model_type=cfg.model_type,
                                         character_coverage=cfg.character_coverage)
        record = {"vocab_size": cfg.fixed_size, "searched": False}
    else:
        res = search_vocab_size(lines, v_i=cfg.v_i, v_m=cfg.v_m, delta=cfg.delta, eps=cfg.eps,
                                sample_words=cfg.sample_words, per_token=cfg.per_token,
                                heldout_fraction=cfg.heldout_fraction, model_type=cfg.model_type,
                                character_coverage=cfg.character_coverage, strategy=cfg.strategy,
                                workdir=out / "search", **search)
        model_path = Path(res.model_path)
        record = {"searched": True, **res.to_dict()}
        plot_alp_curve(res, out / "alp_curve.png")
    final = out / "spm.model"
    if Path(model_path).resolve() != final.resolve():
        shutil.copyfile(model_path, final)
    if base_tokenizer is not None:
        record["tokenizer_size"] = len(wrap_tokenizer(final, base_tokenizer, out / "tokenizer"))
        record["base_unk_share"] = unk_share(base_tokenizer, lines)
    write_json(out / "search.json", record)
    return record, res
