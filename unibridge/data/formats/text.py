"""Raw text (one sentence a line, or MasakhaNEWS TSV articles): :func:`read_text`; bilingual
word dictionaries: :func:`read_dictionary`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from ...errors import DataError
from ..root import PathLike, resolve_data_paths
from ..sentences import split_sentences
from .common import _check_limit, _full, _lines, _read, _text_lines


def _tsv_text(p: Path, column: str | None) -> Iterator[str]:
    lines = _lines(_read(p))
    header = [c.strip().lower() for c in lines[0].split("\t")]
    if column is not None:
        if column.lower() not in header:
            raise DataError(f"{p}:1: no column {column!r} in the header ({', '.join(header)})")
        cols = [header.index(column.lower())]
    elif "text" in header:
        # MasakhaNEWS: category headline text url
        cols = [header.index(c) for c in ("headline", "text") if c in header]
    elif "premise" in header and "hypothesis" in header:
        # NLI pairs (AmericasNLI): both sentences are text of the file's language
        cols = [header.index("premise"), header.index("hypothesis")]
    else:
        raise DataError(f"{p}:1: no 'text' (or 'premise'/'hypothesis') column in the header; name the column to read")
    for i in range(1, len(lines)):
        if not lines[i].strip():
            continue
        fields = lines[i].split("\t")
        if len(fields) != len(header):
            raise DataError(f"{p}:{i + 1}: expected {len(header)} tab-separated columns, found {len(fields)}")
        for c in cols:
            yield from split_sentences(fields[c])


def read_text(
    path_or_paths: PathLike | Iterable[PathLike],
    limit: int | None = None,
    column: str | None = None,
) -> list[str]:
    """Read raw text as a list of sentences.

    Dispatches on the file suffix: ``.tsv`` files need a header row; ``column`` names the
    column to read, and by default the ``headline`` and ``text`` columns are read
    (MasakhaNEWS: ``category headline text url``), or else ``premise`` and ``hypothesis``
    (AmericasNLI), each cell split into sentences with :func:`split_sentences`. Any other file is one sentence a line: lines are stripped,
    empty ones dropped, U+FEFF removed.

    Args:
        path_or_paths: a file, a glob pattern or a list of them (concatenated in order).
        limit: keep the first ``limit`` sentences.
        column: the TSV column to read (ignored for plain text).

    Returns:
        ``list[str]`` of non-empty sentences.

    Raises:
        DataError: a file is missing, empty, or (TSV) lacks the column or has ragged rows.
    """
    _check_limit(limit)
    out: list[str] = []
    for p in resolve_data_paths(path_or_paths):
        if _full(out, limit):
            break
        if p.suffix.lower() == ".tsv":
            for s in _tsv_text(p, column):
                out.append(s)
                if _full(out, limit):
                    break
        else:
            for s in _text_lines(p):
                if s:
                    out.append(s)
                    if _full(out, limit):
                        break
    return out


_PAREN = re.compile(r"\s*[\(\[（][^\)\]）]*[\)\]）]\s*")


def read_dictionary(path_or_paths: PathLike | Iterable[PathLike]) -> list[tuple[str, str]]:
    """Read bilingual dictionaries as ``(source word, target word)`` pairs, in file order.

    Each line is tab-separated with the source (English) entry in the first column and the
    target entry in the last (WECHSEL's ``english<TAB>target``, GATITOS ``en_xx.tsv``, the
    geezorg ``English<TAB>Field<TAB>Amharic``). A header row whose first cell is ``English``
    is skipped; parenthesised notes such as ``ህልፅ (ግእዝ)`` are removed; several target
    alternatives separated by ``,`` or ``;`` give one pair each; duplicates are dropped.

    Returns:
        ``list[tuple[str, str]]`` (non-empty strings, whitespace-normalised).

    Raises:
        DataError: a file is missing, or no file holds a single usable pair.
    """
    pairs: dict[tuple[str, str], None] = {}
    for p in resolve_data_paths(path_or_paths):
        for line in _text_lines(p):
            cells = [c.strip() for c in line.split("\t")]
            if len(cells) < 2 or cells[0].lower() == "english":
                continue
            src = " ".join(_PAREN.sub(" ", cells[0]).split())
            for tgt in re.split(r"[,;،፣]", _PAREN.sub(" ", cells[-1])):
                tgt = " ".join(tgt.split())
                if src and tgt:
                    pairs[(src, tgt)] = None
    if not pairs:
        raise DataError(f"no dictionary pairs (source<TAB>target) in {path_or_paths}")
    return list(pairs)
