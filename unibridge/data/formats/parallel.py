"""Line-aligned parallel text (FLORES-200, NTREX-128, Tatoeba, HornMT): :func:`read_parallel`;
UniBridge's alignment sentences (``code: sentence`` blocks): :func:`read_alignment_file`."""

from __future__ import annotations

import re

from ...errors import DataError
from ..root import PathLike, resolve_data_path
from .common import _blocks, _check_limit, _full, _lines, _read, _text_lines


def read_parallel(src_path: PathLike, tgt_path: PathLike, limit: int | None = None) -> list[tuple[str, str]]:
    """Read two line-aligned files (line i of one translates line i of the other).

    Used for FLORES-200 (``<code>.devtest``), NTREX-128, Tatoeba (``tatoeba.X-eng.X`` /
    ``.eng``), HornMT and the Ligurian seed data. Lines are split on ``\\n`` only, stripped;
    pairs where either side is empty are dropped (after the line counts are compared).

    Returns:
        ``list[(source_sentence, target_sentence)]``.

    Raises:
        DataError: a file is missing or empty, or the two files have different line counts.
    """
    _check_limit(limit)
    sp, tp = resolve_data_path(src_path), resolve_data_path(tgt_path)
    src, tgt = _text_lines(sp), _text_lines(tp)
    if len(src) != len(tgt):
        raise DataError(
            f"parallel files are not line-aligned: {sp} has {len(src)} lines, {tp} has {len(tgt)}"
        )
    pairs = [(s, t) for s, t in zip(src, tgt) if s and t]
    return pairs if limit is None else pairs[:limit]


_ALIGN_LINE = re.compile(r"^([A-Za-z]{2,3}(?:_[A-Za-z]{4})?):\s?(.*)$")
_ALIGN_NAME = re.compile(r"^([A-Za-z]{2,3}(?:_[A-Za-z]{4})?)-([A-Za-z]{2,3}(?:_[A-Za-z]{4})?)$")


def read_alignment_file(path: PathLike, limit: int | None = None) -> list[tuple[str, str]]:
    """Read UniBridge's K parallel sentences for harmony weights (``alignment/<lang>/<tgt>-<src>.txt``).

    Format (github.com/TokisakiKurumi2001/UniBridge, ``mbert/alignment``): blocks separated by
    blank lines, each of two lines ``<code>: <sentence>`` where the codes are FLORES-style
    (``eng_Latn``, ``amh_Ethi``, ...). The file name is ``<target code>-<source code>.txt``
    (``amh_Ethi-eng_Latn.txt``). Most files put the source line first, but some (``aym``-eng,
    the ``*-spa_Latn`` files) put the target first, so the sides are told apart by the code
    prefix, not by position. If the file name does not name the two codes, the first line of
    a block is taken as the source and the second as the target.

    Returns:
        ``list[(target_sentence, source_sentence)]`` (10 pairs in the released files).

    Raises:
        DataError: missing/empty file, a line without a ``code:`` prefix, a block that is not
            two lines, or a block whose codes do not match the file name (file and line given).
    """
    _check_limit(limit)
    p = resolve_data_path(path)
    m = _ALIGN_NAME.match(p.stem)
    tgt_code, src_code = (m.group(1), m.group(2)) if m and m.group(1) != m.group(2) else (None, None)
    pairs: list[tuple[str, str]] = []
    for start, block in _blocks(_lines(_read(p))):
        parsed = []
        for i, ln in block:
            lm = _ALIGN_LINE.match(ln.strip())
            if lm is None:
                raise DataError(f"{p}:{i}: expected '<code>: <sentence>', found {ln[:60]!r}")
            parsed.append((lm.group(1), lm.group(2).replace("\ufeff", "").strip()))
        if len(parsed) != 2:
            raise DataError(f"{p}:{start}: expected a block of 2 lines (source, target), found {len(parsed)}")
        if tgt_code is None:
            (_, src), (_, tgt) = parsed
        else:
            by_code = dict(parsed)
            if set(by_code) != {tgt_code, src_code}:
                raise DataError(
                    f"{p}:{start}: block codes {[c for c, _ in parsed]} do not match the file name "
                    f"({tgt_code}-{src_code})"
                )
            tgt, src = by_code[tgt_code], by_code[src_code]
        pairs.append((tgt, src))
        if _full(pairs, limit):
            break
    return pairs


def read_pairs(spec: str, limit: int | None = None) -> list[tuple[str, str]]:
    """The (target, source) sentence pairs of a recipe's ``parallel:`` entry: ``target|source``
    names two line-aligned files (:func:`read_parallel`) or two TSV files joined on ``index_id``
    (both ending ``.tsv``: :func:`~unibridge.data.formats.topic.read_id_aligned`); one path names
    an alignment file (:func:`read_alignment_file`). At most ``limit`` pairs.

    Raises:
        DataError: as the reader it calls (missing file, unaligned lines, no shared id ...).
    """
    if "|" in spec:
        from .topic import read_id_aligned

        tgt, src = spec.split("|", 1)
        read = read_id_aligned if tgt.endswith(".tsv") and src.endswith(".tsv") else read_parallel
        return read(tgt, src, limit=limit)
    return read_alignment_file(spec, limit=limit)
