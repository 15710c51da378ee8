"""CoNLL-U (Universal Dependencies, https://universaldependencies.org/format.html): :func:`read_conllu`."""

from __future__ import annotations

from collections.abc import Iterable

import conllu
from conllu.exceptions import ParseException

from ...errors import DataError
from ..labels import UPOS_TAGS
from ..root import PathLike, resolve_data_paths
from .common import TaggedSentence, _blocks, _check_limit, _full, _lines, _read


_UPOS = frozenset(UPOS_TAGS)

_CONLLU_FIELDS = ("id", "form", "lemma", "upos")


def read_conllu(path: PathLike | Iterable[PathLike], limit: int | None = None) -> list[TaggedSentence]:
    """Read CoNLL-U files (Universal Dependencies) as sentences of (word form, UPOS tag).

    Multiword-token ranges (ids like ``3-4``) and empty nodes (``3.1``) are skipped, so the
    tokens are the syntactic words that carry the UPOS tags. Parsing uses the ``conllu``
    package; format: https://universaldependencies.org/format.html.

    Args:
        path: a file, a glob pattern or a list of them (read in order, concatenated).
        limit: keep the first ``limit`` sentences.

    Returns:
        ``list[TaggedSentence]`` with ``tags`` from :data:`~unibridge.data.labels.UPOS_TAGS`.

    Raises:
        DataError: missing or empty file, a token line without 10 tab-separated columns, an
            unparsable id, a tag outside the 17 UPOS tags (file and line number given), or a
            file without sentences.
    """
    _check_limit(limit)
    out: list[TaggedSentence] = []
    for p in resolve_data_paths(path):
        if _full(out, limit):
            break
        n_file = 0
        for start, block in _blocks(_lines(_read(p))):
            token_lines = [(i, ln) for i, ln in block if not ln.startswith("#")]
            if not token_lines:
                continue
            for i, ln in token_lines:
                ncols = ln.count("\t") + 1
                if ncols != 10:
                    raise DataError(
                        f"{p}:{i}: expected 10 tab-separated CoNLL-U columns, found {ncols}"
                    )
            try:
                sent = conllu.parse_token_and_metadata(
                    "\n".join(ln for _, ln in token_lines), fields=_CONLLU_FIELDS
                )
            except ParseException as e:
                raise DataError(f"{p}:{start}: malformed CoNLL-U sentence: {e}") from None
            tokens: list[str] = []
            tags: list[str] = []
            for (i, _), tok in zip(token_lines, sent):
                if not isinstance(tok["id"], int):
                    continue  # multiword-token range or empty node
                upos = tok["upos"]
                if upos not in _UPOS:
                    raise DataError(f"{p}:{i}: '{upos}' is not a UPOS tag")
                tokens.append(tok["form"])
                tags.append(upos)
            if not tokens:
                raise DataError(f"{p}:{start}: sentence has no words")
            out.append(TaggedSentence(tokens, tags))
            n_file += 1
            if _full(out, limit):
                break
        if n_file == 0 and not _full(out, limit):
            raise DataError(f"no sentences in CoNLL-U file {p}")
    return out
