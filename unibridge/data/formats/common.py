"""What every reader shares: the example types, the ``limit`` check, UTF-8 reading and line
splitting that keeps line alignment, blank-line blocks and plain text lines."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError, DataError


@dataclass(frozen=True)
class TaggedSentence:
    """One sentence of a token-level task: ``tokens[i]`` carries ``tags[i]`` (UPOS or IOB2 NER).
    ``spaced``: False where the tokens are written without spaces between them (a Chinese corpus
    with one character per token); the tokenizer then reads them as running text
    (:func:`~unibridge.tasks.tagging.encode_tagged`)."""

    tokens: list[str]
    tags: list[str]
    spaced: bool = True


@dataclass(frozen=True)
class NLIExample:
    """One NLI pair; ``label`` is one of :data:`~unibridge.data.labels.NLI_LABELS`.

    ``language`` is the file's language column where it has one (AmericasNLI), else ``None``.
    """

    premise: str
    hypothesis: str
    label: str
    language: str | None = None


@dataclass(frozen=True)
class LabelledText:
    """One text with one label (SIB-200: a FLORES-200 sentence and its topic, one of
    :data:`~unibridge.data.labels.SIB_TOPICS`). ``id`` is the file's ``index_id`` where it has
    one: the same id is the same sentence in every language."""

    text: str
    label: str
    id: str | None = None


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


def _text_lines(p: Path) -> list[str]:
    return [ln.replace("\ufeff", "").strip() for ln in _lines(_read(p))]
