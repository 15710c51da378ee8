"""SIB-200 topic TSV (``index_id``, ``category``, ``text`` with a header): :func:`read_topic_tsv`,
and the parallel pairs its ``index_id`` gives: :func:`read_id_aligned`."""

from __future__ import annotations

from collections.abc import Iterable

from ...errors import DataError
from ..labels import SIB_TOPICS
from ..root import PathLike, resolve_data_path, resolve_data_paths
from .common import LabelledText, _check_limit, _full, _lines, _read


def _rows(p, need: tuple[str, ...]) -> Iterable[tuple[int, dict[str, str]]]:
    """(line number, {column: value}) of a TSV with a header that has the columns ``need``."""
    lines = _lines(_read(p))
    header = [c.strip().lower() for c in lines[0].split("\t")]
    missing = [c for c in need if c not in header]
    if missing:
        raise DataError(f"{p}:1: the header needs the column(s) {', '.join(missing)} "
                        f"(it has {', '.join(header)})")
    for i in range(1, len(lines)):
        if not lines[i].strip():
            continue
        cols = lines[i].split("\t")
        if len(cols) != len(header):
            raise DataError(f"{p}:{i + 1}: expected {len(header)} tab-separated columns, found {len(cols)}")
        yield i + 1, dict(zip(header, (c.strip() for c in cols)))


def read_topic_tsv(path: PathLike | Iterable[PathLike], limit: int | None = None) -> list[LabelledText]:
    """Read SIB-200 topic files (tab-separated with a header: ``index_id``, ``category``, ``text``;
    ``index_id`` may be absent, ``label`` is accepted for ``category``). Labels must be one of
    :data:`~unibridge.data.labels.SIB_TOPICS` (case is ignored).

    Returns:
        ``list[LabelledText]`` in file order (``id`` the ``index_id``, or None).

    Raises:
        DataError: missing/empty file, no ``text`` or ``category`` column, a row with the wrong
            number of columns, an empty text or an unknown label (``file:line``).
    """
    _check_limit(limit)
    out: list[LabelledText] = []
    for p in resolve_data_paths(path):
        if _full(out, limit):
            break
        first = [c.strip().lower() for c in _lines(_read(p))[0].split("\t")]
        label_col = "category" if "category" in first or "label" not in first else "label"
        n_file = 0
        for line, row in _rows(p, ("text", label_col)):
            label = row[label_col].lower()
            if label not in SIB_TOPICS:
                raise DataError(f"{p}:{line}: unknown topic {row[label_col]!r} "
                                f"(expected one of {', '.join(SIB_TOPICS)})")
            if not row["text"]:
                raise DataError(f"{p}:{line}: empty text")
            out.append(LabelledText(row["text"], label, row.get("index_id") or None))
            n_file += 1
            if _full(out, limit):
                break
        if n_file == 0 and not _full(out, limit):
            raise DataError(f"no examples in topic file {p}")
    return out


def read_id_aligned(tgt_path: PathLike, src_path: PathLike, limit: int | None = None) -> list[tuple[str, str]]:
    """Parallel pairs from two TSV files with ``index_id`` and ``text`` columns (SIB-200: the
    same ``index_id`` is the same FLORES-200 sentence in every language), in the order of the
    target file; ids found in one file only are skipped.

    Returns:
        ``list[(target_sentence, source_sentence)]``, at most ``limit``.

    Raises:
        DataError: a file is missing or lacks the columns, an id repeats within a file, or the
            files share no id.
    """
    _check_limit(limit)
    sides = []
    for ref in (tgt_path, src_path):
        p = resolve_data_path(ref)
        by_id: dict[str, str] = {}
        for line, row in _rows(p, ("index_id", "text")):
            if row["index_id"] in by_id:
                raise DataError(f"{p}:{line}: index_id {row['index_id']!r} repeats")
            by_id[row["index_id"]] = row["text"]
        sides.append((p, by_id))
    (tp, tgt), (sp, src) = sides
    pairs = [(t, src[i]) for i, t in tgt.items() if i in src and t and src[i]]
    if not pairs:
        raise DataError(f"{tp} and {sp} share no index_id")
    return pairs if limit is None else pairs[:limit]
