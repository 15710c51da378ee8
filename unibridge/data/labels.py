"""Label sets shared by all languages, and mappings of dataset-specific NER types onto them.

Cross-lingual transfer needs one label space for every source and target language. UniBridge
uses the 17 Universal POS tags for POS tagging, the three entity types PER / ORG / LOC (IOB2
encoded) for NER, the three XNLI classes for NLI and the seven SIB-200 topics.

NER type mappings (``entity type in the file -> shared type``; a type missing from a mapping
and any result outside :data:`NER_TYPES` becomes ``O``):

=====================  ==============================  ===========
mapping (dataset)      type in the file                shared type
=====================  ==============================  ===========
``MASAKHANER``         PER, ORG, LOC                   same
``MASAKHANER``         DATE                            O
``STOCKMARK_JA``       人名 (person)                   PER
``STOCKMARK_JA``       地名 (place)                    LOC
``STOCKMARK_JA``       法人名 (company)                ORG
``STOCKMARK_JA``       政治的組織名 (political org.)   ORG
``STOCKMARK_JA``       その他の組織名 (other org.)     ORG
``STOCKMARK_JA``       施設名, 製品名, イベント名      O
``CONLL``              PER, ORG, LOC                   same
``CONLL``              MISC                            O
``DEFAULT_NER_MAP``    PER, ORG, LOC                   same
``DEFAULT_NER_MAP``    PERSON                          PER
``DEFAULT_NER_MAP``    ORGANIZATION, ORGANISATION      ORG
``DEFAULT_NER_MAP``    LOCATION                        LOC
``DEFAULT_NER_MAP``    DATE, MISC, anything else       O
=====================  ==============================  ===========

``MASAKHANER`` is for MasakhaNER 1.0 / 2.0, ``STOCKMARK_JA`` for the stockmark Japanese
Wikipedia NER data, ``CONLL`` for CoNLL-2003 style data and WikiANN, and ``DEFAULT_NER_MAP``
is used when a reader is given no mapping.

GPE (OntoNotes) is deliberately *not* mapped to LOC by default: pass a mapping that says so.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConfigError

UPOS_TAGS: tuple[str, ...] = (
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
)
"""The 17 Universal Dependencies POS tags (https://universaldependencies.org/u/pos/), in a
fixed order: a tag's index is its class id."""

NER_TYPES: tuple[str, ...] = ("PER", "ORG", "LOC")
"""The entity types of the shared NER label space."""

NER_LABELS: list[str] = ["O"] + [f"{p}-{t}" for t in NER_TYPES for p in ("B", "I")]
"""The shared IOB2 NER labels: ``["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]``;
a label's index is its class id."""

NLI_LABELS: list[str] = ["entailment", "neutral", "contradiction"]

# SIB-200 topics (Adelani et al. 2023), in the order of its data card
SIB_TOPICS: list[str] = ["science/technology", "travel", "politics", "sports", "health", "entertainment",
                         "geography"]
"""The NLI classes, in the XNLI order (a label's index is its class id)."""

MASAKHANER: dict[str, str] = {"PER": "PER", "ORG": "ORG", "LOC": "LOC", "DATE": "O"}
"""MasakhaNER: DATE is dropped (-> ``O``)."""

STOCKMARK_JA: dict[str, str] = {
    "人名": "PER",
    "地名": "LOC",
    "法人名": "ORG",
    "政治的組織名": "ORG",
    "その他の組織名": "ORG",
    "施設名": "O",
    "製品名": "O",
    "イベント名": "O",
}
"""stockmark Japanese Wikipedia NER: person / place / three organisation types; the rest ``O``."""

CONLL: dict[str, str] = {"PER": "PER", "ORG": "ORG", "LOC": "LOC", "MISC": "O"}
"""CoNLL-2003 style data (and WikiANN): MISC is dropped (-> ``O``)."""

DEFAULT_NER_MAP: dict[str, str] = {
    "PER": "PER",
    "PERSON": "PER",
    "ORG": "ORG",
    "ORGANIZATION": "ORG",
    "ORGANISATION": "ORG",
    "LOC": "LOC",
    "LOCATION": "LOC",
    "DATE": "O",
    "MISC": "O",
}
"""The mapping used when a reader is given none; unknown types become ``O``."""

NER_MAPPINGS: dict[str, dict[str, str]] = {
    "default": DEFAULT_NER_MAP,
    "masakhaner": MASAKHANER,
    "stockmark_ja": STOCKMARK_JA,
    "conll": CONLL,
    "wikiann": CONLL,
}
"""Named mappings, as recipes refer to them."""


def get_ner_mapping(name: str) -> dict[str, str]:
    """Return the named NER type mapping (a key of :data:`NER_MAPPINGS`).

    Raises:
        ConfigError: for an unknown name.
    """
    try:
        return NER_MAPPINGS[name.lower()]
    except KeyError:
        raise ConfigError(
            f"unknown NER label mapping '{name}'; known: {', '.join(sorted(NER_MAPPINGS))}"
        ) from None


def map_ner_tag(tag: str, mapping: Mapping[str, str] | None = None) -> str:
    """Map one IOB tag (``O``, ``B-TYPE`` or ``I-TYPE``; IOBES ``S-``/``E-`` read as ``B-``/``I-``)
    onto the shared label space.

    The entity type is looked up in ``mapping`` (types missing from it are kept as they are);
    a result outside :data:`NER_TYPES` becomes ``O``. The ``B-``/``I-`` prefix is kept, so a
    valid IOB2 sequence stays valid. ``mapping=None`` uses :data:`DEFAULT_NER_MAP`.

    Returns:
        A label of :data:`NER_LABELS`.
    """
    if tag == "O":
        return "O"
    prefix, sep, etype = tag.partition("-")
    prefix = {"B": "B", "S": "B", "I": "I", "E": "I"}.get(prefix, "")
    if not sep or not prefix:
        return "O"
    m = DEFAULT_NER_MAP if mapping is None else mapping
    shared = m.get(etype, etype)
    if shared not in NER_TYPES:
        return "O"
    return f"{prefix}-{shared}"


def to_iob2(tags: list[str]) -> list[str]:
    """Repair an IOB1 / IOBES / inconsistent tag sequence into valid IOB2.

    ``S-X`` becomes ``B-X`` and ``E-X`` becomes ``I-X``; an ``I-X`` that does not continue an
    entity of type X (sentence start, after ``O`` or after another type) becomes ``B-X``.

    Returns:
        A new list of the same length.
    """
    out: list[str] = []
    prev_type: str | None = None
    for tag in tags:
        if tag == "O":
            out.append("O")
            prev_type = None
            continue
        prefix, _, etype = tag.partition("-")
        if prefix in ("B", "S") or prev_type != etype:
            out.append(f"B-{etype}")
        else:
            out.append(f"I-{etype}")
        prev_type = etype
    return out


def is_valid_iob2(tags: list[str]) -> bool:
    """True if every ``I-X`` follows ``B-X`` or ``I-X`` and every tag is ``O``, ``B-*`` or ``I-*``."""
    prev_type: str | None = None
    for tag in tags:
        if tag == "O":
            prev_type = None
            continue
        prefix, sep, etype = tag.partition("-")
        if not sep or not etype or prefix not in ("B", "I"):
            return False
        if prefix == "I" and prev_type != etype:
            return False
        prev_type = etype
    return True
