"""Data access: a data root, readers for the project's file formats, shared label sets and
language codes.

>>> from unibridge.data import read_conllu, get_language
>>> sents = read_conllu("ud/UD_Amharic-ATT/am_att-ud-test.conllu")   # relative to UNIBRIDGE_DATA
"""

from .labels import (
    CONLL,
    DEFAULT_NER_MAP,
    MASAKHANER,
    NER_LABELS,
    NER_MAPPINGS,
    NER_TYPES,
    NLI_LABELS,
    SIB_TOPICS,
    STOCKMARK_JA,
    UPOS_TAGS,
    get_ner_mapping,
    is_valid_iob2,
    map_ner_tag,
    to_iob2,
)
from .digest import data_digest, file_digest
from .hf import HFDataRef
from .languages import LANGUAGES, Language, get_language, known_languages
from .formats import (
    LabelledText,
    NLIExample,
    TaggedSentence,
    read_alignment_file,
    read_dictionary,
    read_conllu,
    read_iob,
    read_id_aligned,
    read_nli_tsv,
    read_pairs,
    read_parallel,
    read_stockmark_json,
    read_text,
    read_topic_tsv,
)
from .root import data_root, resolve_data_path, resolve_data_paths
from .sentences import split_sentences

__all__ = [
    "data_digest",
    "file_digest",
    "CONLL",
    "DEFAULT_NER_MAP",
    "HFDataRef",
    "LANGUAGES",
    "Language",
    "MASAKHANER",
    "NER_LABELS",
    "NER_MAPPINGS",
    "NER_TYPES",
    "LabelledText",
    "NLIExample",
    "NLI_LABELS",
    "SIB_TOPICS",
    "STOCKMARK_JA",
    "TaggedSentence",
    "UPOS_TAGS",
    "data_root",
    "get_language",
    "get_ner_mapping",
    "is_valid_iob2",
    "known_languages",
    "map_ner_tag",
    "read_alignment_file",
    "read_dictionary",
    "read_conllu",
    "read_id_aligned",
    "read_iob",
    "read_nli_tsv",
    "read_pairs",
    "read_parallel",
    "read_stockmark_json",
    "read_text",
    "read_topic_tsv",
    "resolve_data_path",
    "resolve_data_paths",
    "split_sentences",
    "to_iob2",
]
