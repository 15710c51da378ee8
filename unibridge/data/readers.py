"""Readers for the data formats the framework consumes.

Every reader takes a file name (absolute, or relative to the data root, see
:mod:`unibridge.data.root`), returns plain Python structures, accepts ``limit`` (keep the first
N examples) and raises :class:`~unibridge.errors.DataError` for a missing, empty or malformed
file, naming the file and, where useful, the line. Files are read as UTF-8 (a leading byte
order mark is ignored; ``\\r\\n`` line ends are accepted).

Formats:

* CoNLL-U (Universal Dependencies, https://universaldependencies.org/format.html):
  :func:`read_conllu`.
* Column NER files, one token per line and a blank line between sentences: ``token TAG``
  (MasakhaNER, the MasakhaNER 2.0 transfer corpus, CoNLL-2003, the one-character-per-line
  Chinese corpora) or ``idx<TAB>token<TAB>TAG`` (WikiANN as distributed by Babelscape):
  :func:`read_iob`.
* stockmark Japanese Wikipedia NER JSON (character spans): :func:`read_stockmark_json`.
* NLI TSV: AmericasNLI (``language premise hypothesis label`` with a header) and XNLI dev in
  XTREME format (``premise hypothesis label``, no header): :func:`read_nli_tsv`.
* Line-aligned parallel text (FLORES-200, NTREX-128, Tatoeba, HornMT): :func:`read_parallel`.
* UniBridge's alignment sentences (``code: sentence`` blocks): :func:`read_alignment_file`.
* Raw text, one sentence a line, or MasakhaNEWS TSV articles: :func:`read_text`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import conllu
from conllu.exceptions import ParseException

from ..errors import ConfigError, DataError
from .labels import NLI_LABELS, STOCKMARK_JA, UPOS_TAGS, map_ner_tag, to_iob2
from .root import PathLike, resolve_data_path, resolve_data_paths
from .sentences import split_sentences

__all__ = [
    "TaggedSentence",
    "NLIExample",
    "read_conllu",
    "read_iob",
    "read_stockmark_json",
    "read_nli_tsv",
    "read_parallel",
    "read_alignment_file",
    "read_text",
]


@dataclass(frozen=True)
class TaggedSentence:
    """One sentence of a token-level task: ``tokens[i]`` carries ``tags[i]`` (UPOS or IOB2 NER)."""

    tokens: list[str]
    tags: list[str]


@dataclass(frozen=True)
class NLIExample:
    """One NLI pair; ``label`` is one of :data:`~unibridge.data.labels.NLI_LABELS`.

    ``language`` is the file's language column where it has one (AmericasNLI), else ``None``.
    """

    premise: str
    hypothesis: str
    label: str
    language: str | None = None


# --------------------------------------------------------------------------- internals

_UPOS = frozenset(UPOS_TAGS)
_TAG_RE = re.compile(r"^(O|[BIES]-\S+)$")


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ConfigError(f"limit must be a non-negative integer or None, got {limit!r}")


def _full(out: list, limit: int | None) -> bool:
    return limit is not None and len(out) >= limit


def _read(path: Path) -> str:
    """Whole file as text; DataError if unreadable, not UTF-8 or empty."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (bad byte at offset {e.start})") from None
    except OSError as e:
        raise DataError(f"cannot read data file {path}: {e.strerror or e}") from None
    if not text.strip():
        raise DataError(f"empty data file: {path}")
    return text


def _lines(text: str) -> list[str]:
    """Split on ``\\n`` only (not on U+2028 etc., which would break line alignment)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def _blocks(lines: list[str]) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    """Blank-line separated blocks as (first line number, [(line number, line), ...])."""
    block: list[tuple[int, str]] = []
    for i, line in enumerate(lines, 1):
        if line.strip():
            block.append((i, line))
        elif block:
            yield block[0][0], block
            block = []
    if block:
        yield block[0][0], block


# --------------------------------------------------------------------------- CoNLL-U

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


# --------------------------------------------------------------------------- column NER


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


# --------------------------------------------------------------------------- NLI

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


# --------------------------------------------------------------------------- parallel text


def _text_lines(p: Path) -> list[str]:
    return [ln.replace("\ufeff", "").strip() for ln in _lines(_read(p))]


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


# --------------------------------------------------------------------------- raw text


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
