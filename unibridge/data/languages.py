"""The languages the project knows, and the many codes datasets use for them.

Each :class:`Language` records its ISO 639-3 code, ISO 639-1 code (where one exists), English
name, ISO 15924 script, FLORES-200 code, and the code UniBridge's alignment files use
(``parallel/unibridge_alignment/<alignment_dir>/<alignment_code>-<source code>.txt``, the same
code prefixing each sentence). :func:`get_language` accepts any of these, plus the aliases other
datasets use (NTREX ``fil`` / ``pus`` / ``snd-Arab``, Tatoeba ``cmn``, AmericasNLI ``gn``, ...)
and the English name, case-insensitively.

Quirks of the alignment files: Chinese uses ``zho_Hant`` there (Traditional script), while the
Chinese UD and NER sources are Simplified (FLORES ``zho_Hans``); Aymara is ``aym_Latn`` there but
``ayr_Latn`` in FLORES-200; Guarani's directory is ``flores/gn`` with code ``grn_Latn``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class Language:
    """One language and its codes.

    Attributes:
        iso3: ISO 639-3 code, the project's canonical code (``"amh"``).
        iso1: ISO 639-1 code or ``None`` (``"am"``).
        name: English name.
        script: ISO 15924 script code of the data used here (``"Ethi"``).
        flores: FLORES-200 code or ``None`` if FLORES-200 lacks the language (``"amh_Ethi"``).
        alignment_code: code in UniBridge's alignment files, or ``None`` (``"amh_Ethi"``).
        alignment_dir: the target's folder under ``unibridge_alignment/`` (``"flores/am"``), or
            ``None`` for source languages and languages without alignment sentences.
        aliases: other codes datasets use for it.
    """

    iso3: str
    iso1: str | None
    name: str
    script: str
    flores: str | None = None
    alignment_code: str | None = None
    alignment_dir: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        """The canonical (ISO 639-3) code."""
        return self.iso3


def _L(iso3, iso1, name, script, flores=None, align=None, align_dir=None, aliases=()):
    return Language(iso3, iso1, name, script, flores, align, align_dir, tuple(aliases))


LANGUAGES: tuple[Language, ...] = (
    # source languages
    _L("eng", "en", "English", "Latn", "eng_Latn", "eng_Latn"),
    _L("zho", "zh", "Chinese", "Hans", "zho_Hans", "zho_Hant", None,
       ("cmn", "zho_Hant", "chinese (simplified)")),
    _L("rus", "ru", "Russian", "Cyrl", "rus_Cyrl", "rus_Cyrl"),
    _L("ara", "ar", "Arabic", "Arab", "arb_Arab", "arb_Arab", None, ("arb",)),
    _L("jpn", "ja", "Japanese", "Jpan", "jpn_Jpan", "jpn_Jpan"),
    _L("spa", "es", "Spanish", "Latn", "spa_Latn", "spa_Latn"),
    # targets with FLORES-200 alignment sentences
    _L("amh", "am", "Amharic", "Ethi", "amh_Ethi", "amh_Ethi", "flores/am"),
    _L("crh", None, "Crimean Tatar", "Latn", "crh_Latn", "crh_Latn", "flores/crh"),
    _L("grn", "gn", "Guarani", "Latn", "grn_Latn", "grn_Latn", "flores/gn", ("gug",)),
    _L("khm", "km", "Khmer", "Khmr", "khm_Khmr", "khm_Khmr", "flores/km"),
    _L("kan", "kn", "Kannada", "Knda", "kan_Knda", "kan_Knda", "flores/kn"),
    _L("lij", None, "Ligurian", "Latn", "lij_Latn", "lij_Latn", "flores/lij"),
    _L("pbt", "ps", "Pashto", "Arab", "pbt_Arab", "pbt_Arab", "flores/ps", ("pus", "southern pashto")),
    _L("quy", "qu", "Quechua", "Latn", "quy_Latn", "quy_Latn", "flores/quy", ("que", "ayacucho quechua")),
    _L("san", "sa", "Sanskrit", "Deva", "san_Deva", "san_Deva", "flores/sa"),
    _L("snd", "sd", "Sindhi", "Arab", "snd_Arab", "snd_Arab", "flores/sd", ("snd-Arab",)),
    _L("sin", "si", "Sinhala", "Sinh", "sin_Sinh", "sin_Sinh", "flores/si", ("sinhalese",)),
    _L("som", "so", "Somali", "Latn", "som_Latn", "som_Latn", "flores/so"),
    _L("tam", "ta", "Tamil", "Taml", "tam_Taml", "tam_Taml", "flores/ta"),
    _L("tgk", "tg", "Tajik", "Cyrl", "tgk_Cyrl", "tgk_Cyrl", "flores/tg"),
    _L("tgl", "tl", "Tagalog", "Latn", "tgl_Latn", "tgl_Latn", "flores/tl", ("fil", "filipino")),
    _L("tat", "tt", "Tatar", "Cyrl", "tat_Cyrl", "tat_Cyrl", "flores/tt"),
    # targets with OPUS alignment sentences
    _L("olo", None, "Livvi", "Latn", None, "olo_Latn", "opus/olo", ("livvi-karelian",)),
    _L("aym", "ay", "Aymara", "Latn", "ayr_Latn", "aym_Latn", "opus/aym", ("ayr",)),
    _L("ang", None, "Old English", "Latn", None, "ang_Latn", "opus/ang"),
    _L("bzd", None, "Bribri", "Latn", None, "bzd_Latn", "opus/bzd"),
    _L("cdo", None, "Min Dong", "Latn", None, "cdo_Latn", "opus/cdo"),
    _L("cni", None, "Asháninka", "Latn", None, "cni_Latn", "opus/cni", ("ashaninka",)),
    _L("eml", None, "Emilian-Romagnol", "Latn", None, "eml_Latn", "opus/eml"),
    _L("frr", None, "Northern Frisian", "Latn", None, "frr_Latn", "opus/frr"),
    _L("hch", None, "Wixarika", "Latn", None, "hch_Latn", "opus/hch", ("huichol",)),
    _L("nah", None, "Nahuatl", "Latn", None, "nah_Latn", "opus/nah"),
    _L("oto", None, "Otomí", "Latn", None, "oto_Latn", "opus/oto", ("otomi",)),
    _L("shp", None, "Shipibo-Konibo", "Latn", None, "shp_Latn", "opus/shp"),
    _L("tar", None, "Rarámuri", "Latn", None, "tar_Latn", "opus/tar", ("raramuri",)),
    # other languages with data here (FLORES-200 / WECHSEL dictionaries)
    _L("hau", "ha", "Hausa", "Latn", "hau_Latn"),
    _L("swh", "sw", "Swahili", "Latn", "swh_Latn", None, None, ("swa",)),
    _L("yor", "yo", "Yoruba", "Latn", "yor_Latn"),
)
"""Every language the project knows, sources first."""


def _build_index() -> dict[str, Language]:
    index: dict[str, Language] = {}

    def add(key: str | None, lang: Language) -> None:
        if not key:
            return
        k = key.lower()
        other = index.get(k)
        if other is not None and other is not lang:
            raise AssertionError(f"language code {key!r} is ambiguous: {other.iso3}, {lang.iso3}")
        index[k] = lang

    for lang in LANGUAGES:
        for key in (lang.iso3, lang.iso1, lang.flores, lang.alignment_code, lang.name, *lang.aliases):
            add(key, lang)
        if lang.alignment_dir:
            add(lang.alignment_dir.split("/")[1], lang)
    return index


_INDEX = _build_index()


def _registered(code: str) -> Language | None:
    """A language outside the table from the IANA registry as ``langcodes`` (with
    ``language-data``) knows it: an ISO 639-1/639-3 code or BCP 47 tag (``cop``, ``sat``,
    ``sat-Olck``) or an English name (``Coptic``). Its script is the tag's, else the language's
    most likely one; it has no FLORES-200 code or alignment sentences (only the table records
    those). None when the registry does not know it."""
    import langcodes

    text = code.strip()
    try:
        tag = langcodes.Language.get(text) if " " not in text else None
    except (ValueError, LookupError):
        tag = None
    if tag is None or not tag.is_valid() or not tag.language:
        try:
            tag = langcodes.find(text)
        except LookupError:
            return None
    try:
        iso3 = tag.to_alpha3()
    except LookupError:
        return None
    name = tag.language_name("en")
    if name.startswith("Unknown language"):
        return None
    script = tag.script or tag.maximize().script or "Zyyy"
    return _L(iso3, tag.language if len(tag.language) == 2 else None, name, script)


def get_language(code: str) -> Language:
    """Look a language up by any of its codes (case-insensitive).

    Accepts ISO 639-3 (``amh``), ISO 639-1 (``am``), FLORES-200 (``amh_Ethi``), the UniBridge
    alignment code or folder name, an alias (``fil``, ``pus``, ``cmn``, ``gn`` ...) or the
    English name (``Amharic``) of a language in the table; any other language the IANA registry
    knows (``cop``, ``sat``, ``Coptic``; :func:`_registered`, via ``langcodes``) without a
    FLORES-200 code or alignment folder.

    Returns:
        The :class:`Language`.

    Raises:
        ConfigError: ``unknown language code 'xqz'`` with the table's close matches, if any.
    """
    text = str(code).strip() if code is not None else ""
    lang = _INDEX.get(text.lower())
    if lang is None and text:
        lang = _registered(text)
    if lang is None:
        import difflib

        close = difflib.get_close_matches(text.lower(), list(_INDEX), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ConfigError(f"unknown language code '{code}': neither in the project's table nor an ISO 639 "
                          f"code or language name the IANA registry knows{hint}")
    return lang


def known_languages() -> list[str]:
    """The ISO 639-3 codes of all known languages, in table order."""
    return [lang.iso3 for lang in LANGUAGES]
