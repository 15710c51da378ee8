"""Column NER files (``token TAG`` or ``idx<TAB>token<TAB>TAG``): :func:`read_iob`; stockmark
Japanese Wikipedia NER JSON (character spans): :func:`read_stockmark_json`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from ...errors import DataError
from ..labels import STOCKMARK_JA, map_ner_tag, to_iob2
from ..root import PathLike, resolve_data_path, resolve_data_paths
from .common import TaggedSentence, _check_limit, _full, _lines, _read


_TAG_RE = re.compile(r"^(O|[BIES]-\S+)$")


def _finish_ner(tags: list[str], label_map: Mapping[str, str] | None, raw: bool) -> list[str]:
    tags = to_iob2(tags)
    if raw:
        return tags
    return [map_ner_tag(t, label_map) for t in tags]


def read_iob(
    path: PathLike | Iterable[PathLike],
    limit: int | None = None,
    label_map: Mapping[str, str] | None = None,
    *,
    raw: bool = False,
) -> list[TaggedSentence]:
    """Read column NER files (one token per line, a blank line between sentences).

    Columns are separated by tabs if the line has one, else by spaces. The token is the first
    column, or the second when the first is an integer index and there are three or more
    columns (WikiANN ``idx<TAB>token<TAB>tag``); the tag is the last column. ``-DOCSTART-``
    lines separate documents and are dropped. Tags are repaired into IOB2 (IOB1 / IOBES input,
    or an ``I-X`` that starts an entity, becomes ``B-X``) and then mapped onto the shared label
    space with :func:`~unibridge.data.labels.map_ner_tag`.

    Args:
        path: a file, a glob pattern or a list of them (concatenated).
        limit: keep the first ``limit`` sentences.
        label_map: entity type -> shared type, e.g. :data:`~unibridge.data.labels.MASAKHANER`;
            ``None`` uses :data:`~unibridge.data.labels.DEFAULT_NER_MAP`.
        raw: keep the file's entity types (IOB2-repaired, not mapped).

    Returns:
        ``list[TaggedSentence]``; unless ``raw``, every tag is in
        :data:`~unibridge.data.labels.NER_LABELS`.

    Raises:
        DataError: missing or empty file, a line with fewer than two columns or a tag that is
            not ``O`` / ``B-X`` / ``I-X`` / ``E-X`` / ``S-X`` (file and line given).
    """
    _check_limit(limit)
    out: list[TaggedSentence] = []
    for p in resolve_data_paths(path):
        if _full(out, limit):
            break
        tokens: list[str] = []
        tags: list[str] = []
        n_file = 0
        lines = _lines(_read(p))
        for i, line in enumerate(lines + [""], 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("-DOCSTART-"):
                if tokens:
                    out.append(TaggedSentence(tokens, _finish_ner(tags, label_map, raw)))
                    n_file += 1
                    tokens, tags = [], []
                    if _full(out, limit):
                        break
                continue
            cols = [c.strip() for c in stripped.split("\t")] if "\t" in stripped else stripped.split()
            if len(cols) < 2:
                raise DataError(f"{p}:{i}: expected 'token TAG' columns, found {stripped!r}")
            token = cols[1] if len(cols) >= 3 and cols[0].isdigit() else cols[0]
            tag = cols[-1]
            if not token or not _TAG_RE.match(tag):
                raise DataError(f"{p}:{i}: '{tag}' is not an IOB tag (O, B-X, I-X)")
            tokens.append(token)
            tags.append(tag)
        if n_file == 0 and not _full(out, limit):
            raise DataError(f"no sentences in NER file {p}")
    return out


def read_stockmark_json(
    path: PathLike,
    limit: int | None = None,
    label_map: Mapping[str, str] | None = STOCKMARK_JA,
    *,
    raw: bool = False,
) -> list[TaggedSentence]:
    """Read the stockmark Japanese Wikipedia NER JSON as character-level IOB2 sentences.

    Format (github.com/stockmarkteam/ner-wikipedia-dataset): a JSON list of
    ``{"text": str, "entities": [{"span": [start, end], "type": str, ...}]}`` with character
    offsets (end exclusive). Every non-whitespace character becomes a token (whitespace is
    dropped), the usual unit for Japanese NER. Overlapping spans keep the first one.

    Args:
        label_map: defaults to :data:`~unibridge.data.labels.STOCKMARK_JA` (8 types -> PER/ORG/LOC/O).
        raw: keep the Japanese type names.

    Returns:
        ``list[TaggedSentence]`` of characters and IOB2 tags.

    Raises:
        DataError: missing/empty file, invalid JSON, or an entry without ``text``/valid spans.
    """
    _check_limit(limit)
    p = resolve_data_path(path)
    try:
        data = json.loads(_read(p))
    except json.JSONDecodeError as e:
        raise DataError(f"{p}:{e.lineno}: invalid JSON: {e.msg}") from None
    if not isinstance(data, list) or not data:
        raise DataError(f"{p}: expected a non-empty JSON list of sentences")
    out: list[TaggedSentence] = []
    for n, item in enumerate(data):
        if _full(out, limit):
            break
        try:
            text = item["text"]
            char_tags = ["O"] * len(text)
            for ent in item.get("entities", []):
                start, end = (int(x) for x in ent["span"])
                etype = str(ent["type"])
                if not 0 <= start < end <= len(text):
                    raise ValueError(f"span {ent['span']} outside the text")
                if any(t != "O" for t in char_tags[start:end]):
                    continue
                char_tags[start] = f"B-{etype}"
                for k in range(start + 1, end):
                    char_tags[k] = f"I-{etype}"
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{p}: entry {n}: malformed NER item ({e})") from None
        keep = [k for k, ch in enumerate(text) if not ch.isspace()]
        if not keep:
            continue
        tags = _finish_ner([char_tags[k] for k in keep], label_map, raw)
        out.append(TaggedSentence([text[k] for k in keep], tags))
    return out
