"""Sentence splitting of running text (the text of the target corpora and of dataset text columns)."""

from __future__ import annotations

import re

_CLOSERS = "\"'”’»)\\]"  # closing quotes and brackets (escaped for a character class)
_SENT_END = re.compile(rf"(?:።|፡፡|[፧?!])[{_CLOSERS}]*\s*|\.[{_CLOSERS}]*(?:\s+|$)")


def split_sentences(text: str) -> list[str]:
    """Split running text into sentences, keeping each terminal mark.

    Boundaries: after the Ethiopic full stop ``።`` (and its two-wordspace spelling
    ``፡፡``), ``፧``, ``?`` and ``!``; after ``.`` when whitespace follows; closing quotes
    and brackets stay with the sentence they close. Line and paragraph separators (``\\n``,
    U+2028, U+2029) always end a sentence. Zero-width no-break spaces (U+FEFF) are removed.

    Returns:
        Non-empty stripped sentences, in order.
    """
    text = text.replace("\ufeff", "")
    out: list[str] = []
    for para in re.split(r"[\n\r\u2028\u2029]+", text):
        prev = 0
        for m in _SENT_END.finditer(para):
            s = para[prev : m.end()].strip()
            if s:
                out.append(s)
            prev = m.end()
        s = para[prev:].strip()
        if s:
            out.append(s)
    return out
