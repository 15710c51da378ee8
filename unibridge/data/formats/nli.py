"""NLI TSV (AmericasNLI with a header, XNLI dev in XTREME format without one): :func:`read_nli_tsv`."""

from __future__ import annotations

from collections.abc import Iterable

from ...errors import DataError
from ..labels import NLI_LABELS
from ..root import PathLike, resolve_data_paths
from .common import NLIExample, _check_limit, _full, _lines, _read


_LABEL_ALIASES = {
    "entailment": "entailment",
    "neutral": "neutral",
    "contradiction": "contradiction",
    "contradictory": "contradiction",
    "0": "entailment",
    "1": "neutral",
    "2": "contradiction",
}
_PREMISE = ("premise", "sentence1")
_HYPOTHESIS = ("hypothesis", "sentence2")
_LABEL = ("label", "gold_label")


def _col(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None


def read_nli_tsv(path: PathLike | Iterable[PathLike], limit: int | None = None) -> list[NLIExample]:
    """Read NLI pairs from tab-separated files (no quoting: quotes are part of the text).

    With a header row (recognised by ``premise`` and ``hypothesis`` columns; ``sentence1`` /
    ``sentence2`` / ``gold_label`` are accepted too) columns are found by name, and a
    ``language`` column fills :attr:`NLIExample.language` (AmericasNLI). Without one, three
    columns are ``premise hypothesis label`` (XNLI dev in XTREME format) and four are
    ``language premise hypothesis label``. Labels are normalised to
    :data:`~unibridge.data.labels.NLI_LABELS` (``contradictory`` and 0/1/2 are accepted).
    Whitespace-only premises (three rows of AmericasNLI nah test) are kept as ``""``.

    Returns:
        ``list[NLIExample]``.

    Raises:
        DataError: missing/empty file, a row with the wrong number of columns, or an unknown
            label (file and line given).
    """
    _check_limit(limit)
    out: list[NLIExample] = []
    for p in resolve_data_paths(path):
        if _full(out, limit):
            break
        lines = _lines(_read(p))
        first = [c.strip().lower() for c in lines[0].split("\t")]
        if "premise" in first or "sentence1" in first:
            header, body_start = first, 1
            ip, ih, il = _col(header, _PREMISE), _col(header, _HYPOTHESIS), _col(header, _LABEL)
            ilang = _col(header, ("language", "lang"))
            if ip is None or ih is None or il is None:
                raise DataError(f"{p}:1: NLI header needs premise, hypothesis and label columns")
            ncols = len(header)
        else:
            body_start = 0
            ncols = len(lines[0].split("\t"))
            if ncols == 3:
                ilang, ip, ih, il = None, 0, 1, 2
            elif ncols == 4:
                ilang, ip, ih, il = 0, 1, 2, 3
            else:
                raise DataError(
                    f"{p}:1: expected 3 (premise hypothesis label) or 4 (language premise "
                    f"hypothesis label) tab-separated columns, found {ncols}"
                )
        n_file = 0
        for i in range(body_start, len(lines)):
            line = lines[i]
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) != ncols:
                raise DataError(f"{p}:{i + 1}: expected {ncols} tab-separated columns, found {len(cols)}")
            label = _LABEL_ALIASES.get(cols[il].strip().lower())
            if label is None:
                raise DataError(
                    f"{p}:{i + 1}: unknown NLI label {cols[il].strip()!r} "
                    f"(expected one of {', '.join(NLI_LABELS)})"
                )
            lang = cols[ilang].strip() if ilang is not None else None
            out.append(NLIExample(cols[ip].strip(), cols[ih].strip(), label, lang or None))
            n_file += 1
            if _full(out, limit):
                break
        if n_file == 0 and not _full(out, limit):
            raise DataError(f"no examples in NLI file {p}")
    return out
