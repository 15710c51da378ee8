"""Readers for the data formats the framework consumes, one module per format.

Every reader takes a file name (absolute, or relative to the data root, see
:mod:`unibridge.data.root`), returns plain Python structures, accepts ``limit`` (keep the first
N examples) and raises :class:`~unibridge.errors.DataError` for a missing, empty or malformed
file, naming the file and, where useful, the line. Files are read as UTF-8 (a leading byte
order mark is ignored; ``\\r\\n`` line ends are accepted).

Formats:

* CoNLL-U (Universal Dependencies, https://universaldependencies.org/format.html):
  :func:`read_conllu` (:mod:`.conllu`).
* Column NER files, one token per line and a blank line between sentences: ``token TAG``
  (MasakhaNER, the MasakhaNER 2.0 transfer corpus, CoNLL-2003, the one-character-per-line
  Chinese corpora) or ``idx<TAB>token<TAB>TAG`` (WikiANN as distributed by Babelscape):
  :func:`read_iob` (:mod:`.iob`).
* stockmark Japanese Wikipedia NER JSON (character spans): :func:`read_stockmark_json` (:mod:`.iob`).
* NLI TSV: AmericasNLI (``language premise hypothesis label`` with a header) and XNLI dev in
  XTREME format (``premise hypothesis label``, no header): :func:`read_nli_tsv` (:mod:`.nli`).
* SIB-200 topic TSV (``index_id category text``): :func:`read_topic_tsv`, and the parallel
  pairs of two such files joined on ``index_id``: :func:`read_id_aligned` (:mod:`.topic`).
* Line-aligned parallel text (FLORES-200, NTREX-128, Tatoeba, HornMT): :func:`read_parallel` (:mod:`.parallel`);
  a recipe's ``parallel:`` entry, whichever of the three forms: :func:`read_pairs`.
* UniBridge's alignment sentences (``code: sentence`` blocks): :func:`read_alignment_file` (:mod:`.parallel`).
* Raw text, one sentence a line, or MasakhaNEWS TSV articles: :func:`read_text`; bilingual
  word dictionaries: :func:`read_dictionary` (:mod:`.text`).

The example types (:class:`TaggedSentence`, :class:`NLIExample`, :class:`LabelledText`) and the helpers every reader
shares live in :mod:`.common`.
"""

from .common import LabelledText, NLIExample, TaggedSentence
from .conllu import read_conllu
from .iob import read_iob, read_stockmark_json
from .nli import read_nli_tsv
from .parallel import read_alignment_file, read_pairs, read_parallel
from .text import read_dictionary, read_text
from .topic import read_id_aligned, read_topic_tsv

__all__ = [
    "TaggedSentence",
    "NLIExample",
    "LabelledText",
    "read_conllu",
    "read_iob",
    "read_stockmark_json",
    "read_nli_tsv",
    "read_topic_tsv",
    "read_id_aligned",
    "read_pairs",
    "read_parallel",
    "read_alignment_file",
    "read_text",
    "read_dictionary",
]
