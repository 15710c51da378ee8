"""Datasets on the Hugging Face hub as recipe data.

Where the shared data folder lacks a dataset, a recipe names it on the hub instead of a file:

.. code-block:: yaml

    tasks:
      ner:
        test: {hf: unimelb-nlp/wikiann, config: km, split: test}
    mono:
      - {hf: graelo/wikipedia, config: 20230601.km, column: text, max_rows: 10000}

The first use fetches the split through ``datasets.load_dataset`` and writes it once, in the
format the project's readers already read, to ``$UNIBRIDGE_CACHE/hf/`` (default
``~/.cache/unibridge/hf/``); every later use reads that file. The format follows the split's
features:

* ``tokens`` + ``upos`` (Universal Dependencies) -> CoNLL-U (``.conllu``), multiword-token rows
  (UPOS ``_``) dropped;
* ``tokens`` + ``ner_tags`` (WikiANN) -> ``token<TAB>TAG`` columns (``.iob``);
* ``premise`` + ``hypothesis`` + ``label`` (XNLI, AmericasNLI) -> TSV with a header (``.tsv``),
  unlabelled rows (label -1) dropped;
* ``category`` + ``text`` (SIB-200, ``{hf: Davlan/sib200, config: amh_Ethi}``) -> TSV with the
  header ``index_id category text`` (``.tsv``);
* ``column`` (default ``text``) -> one sentence a line (``.txt``), each row split with
  :func:`~unibridge.data.sentences.split_sentences`.

``hf`` may also be a local folder holding a dataset's files (a mirror of a hub repository),
which ``load_dataset`` reads the same way without a network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import ConfigError, DataError

CACHE_ENV = "UNIBRIDGE_CACHE"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


@dataclass(frozen=True)
class HFDataRef:
    """One split of a Hugging Face dataset, named in a recipe as ``{hf: owner/name, ...}``.

    Attributes:
        hf: dataset repository id (``unimelb-nlp/wikiann``) or a local folder (absolute, or
            starting with ``./``) holding the dataset's files.
        config: the dataset's configuration (subset) name, e.g. a language code.
        split: ``train``, ``validation``, ``test`` ...
        revision: branch, tag or commit (``refs/convert/parquet`` for script-only datasets).
        data_dir: a folder inside the repository (per-config folders of a parquet export).
        column: the text column of a raw-text dataset (default ``text``).
        max_rows: read only the first rows (streamed; for large corpora such as Wikipedia).
    """

    hf: str
    config: str | None = None
    split: str = "train"
    revision: str | None = None
    data_dir: str | None = None
    column: str | None = None
    max_rows: int | None = None

    @classmethod
    def from_dict(cls, data: dict, where: str = "") -> "HFDataRef":
        """Validate a recipe mapping. Raises ConfigError on unknown keys, a malformed id or a bad ``max_rows``."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown} in the dataset reference at '{where}'; allowed: {sorted(names)}")
        ref = cls(**{k: (None if v is None else (int(v) if k == "max_rows" else str(v))) for k, v in data.items()})
        local = ref.hf.startswith(("/", "./"))
        if not local and (not _REPO_ID.match(ref.hf) or ".." in ref.hf):
            raise ConfigError(f"'{ref.hf}' at '{where}' is not a Hugging Face dataset id (owner/name) "
                              "or a local folder (absolute or ./...)")
        if ref.max_rows is not None and ref.max_rows <= 0:
            raise ConfigError(f"max_rows at '{where}' must be positive, got {ref.max_rows}")
        return ref

    def __str__(self) -> str:
        return f"hf:{self.hf}" + (f"[{self.config}]" if self.config else "") + f":{self.split}"

    def key(self) -> str:
        """16 hex chars identifying the reference (its cache file name)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def is_hf_ref(x) -> bool:
    """True for an :class:`HFDataRef` or a recipe mapping with an ``hf`` key."""
    return isinstance(x, HFDataRef) or (isinstance(x, dict) and "hf" in x)


def cache_dir() -> Path:
    """``$UNIBRIDGE_CACHE/hf`` (default ``~/.cache/unibridge/hf``)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "unibridge").expanduser() / "hf"


def _load(ref: HFDataRef):
    import datasets

    try:
        return datasets.load_dataset(ref.hf, ref.config, split=ref.split, revision=ref.revision,
                                     data_dir=ref.data_dir, streaming=ref.max_rows is not None)
    except Exception as e:  # network, authentication, unknown config or split: one clear error
        raise DataError(f"cannot load {ref} through datasets.load_dataset: {type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}") from None


def _names(features, column: str):
    """ClassLabel names of ``column`` (a label or a sequence of labels), or None."""
    f = (features or {}).get(column)
    f = getattr(f, "feature", f)
    return getattr(f, "names", None)


def _label(value, names) -> str:
    return names[value] if names is not None and isinstance(value, int) else str(value)


def _clean(s: str) -> str:
    return " ".join(str(s).split())


def _render(ref: HFDataRef, rows, features) -> tuple[str, str]:
    """(suffix, file text) of the rows in a format the readers read."""
    from .sentences import split_sentences

    cols = set(features or {}) or None
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        raise DataError(f"{ref} has no rows")
    cols = cols or set(first)

    def all_rows():
        yield first
        yield from rows

    if ref.column is None and {"tokens", "upos"} <= cols:
        names, out = _names(features, "upos"), []
        for r in all_rows():
            words = [(t, _label(u, names)) for t, u in zip(r["tokens"], r["upos"])]
            words = [(t, u) for t, u in words if u != "_"]
            out += [f"{i}\t{_clean(t) or '_'}\t_\t{u}\t_\t_\t_\t_\t_\t_" for i, (t, u) in enumerate(words, 1)] + [""]
        return ".conllu", "\n".join(out)
    if ref.column is None and {"tokens", "ner_tags"} <= cols:
        names, out = _names(features, "ner_tags"), []
        for r in all_rows():
            out += [f"{_clean(t)}\t{_label(y, names)}" for t, y in zip(r["tokens"], r["ner_tags"]) if _clean(t)] + [""]
        return ".iob", "\n".join(out)
    if ref.column is None and {"premise", "hypothesis", "label"} <= cols:
        names, out = _names(features, "label"), ["premise\thypothesis\tlabel"]
        out += [f"{_clean(r['premise'])}\t{_clean(r['hypothesis'])}\t{_label(r['label'], names)}"
                for r in all_rows() if r["label"] not in (-1, None)]
        return ".tsv", "\n".join(out)
    if ref.column is None and {"category", "text"} <= cols:  # SIB-200 topics: the shared data's TSV
        out = ["index_id\tcategory\ttext"]
        out += [f"{r.get('index_id', '')}\t{_label(r['category'], _names(features, 'category'))}\t{_clean(r['text'])}"
                for r in all_rows()]
        return ".tsv", "\n".join(out)
    column = ref.column or "text"
    if column not in cols:
        raise DataError(f"{ref}: no '{column}' column (columns: {', '.join(sorted(cols))}); name the text "
                        "column with 'column:' or use a dataset with tokens+upos, tokens+ner_tags, "
                        "premise+hypothesis+label or category+text")
    return ".txt", "\n".join(s for r in all_rows() for s in split_sentences(str(r[column] or "")))


def materialize(ref: HFDataRef) -> Path:
    """The local file holding ``ref``'s rows, fetched and written on first use.

    Returns:
        Path of a ``.conllu`` / ``.iob`` / ``.tsv`` / ``.txt`` file under :func:`cache_dir`
        (written atomically: temp file + rename).

    Raises:
        DataError: the dataset cannot be loaded (offline, unknown id/config/split), has no rows,
            or has none of the recognised column sets.
    """
    d = cache_dir()
    for suffix in (".conllu", ".iob", ".tsv", ".txt"):
        p = d / f"{ref.key()}{suffix}"
        if p.is_file():
            return p
    ds = _load(ref)
    rows = ds.take(ref.max_rows) if ref.max_rows is not None else ds
    suffix, text = _render(ref, rows, getattr(ds, "features", None))
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{ref.key()}{suffix}"
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text + "\n", encoding="utf-8")
    (d / f"{ref.key()}.json").write_text(json.dumps(asdict(ref), indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path
