"""Content fingerprints of data files: a stage is reused only while the data it read is unchanged.

A file's digest is the sha256 of its bytes, memoised per (path, size, mtime_ns) in the process,
so a pipeline hashes each input once and a file rewritten in place (same path, other text) gets
a new digest. Hugging Face references are digested through their materialised cache file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from .root import PathLike, resolve_data_paths

_CHUNK = 1 << 20
_MEMO: dict[tuple[str, int, int], str] = {}


def file_digest(path: PathLike) -> str:
    """sha256 hex digest (64 chars) of the bytes of ``path``.

    Memoised per (absolute path, size, mtime_ns): a file changed on disk is hashed again.
    Raises:
        OSError: the file cannot be read.
    """
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    hit = _MEMO.get(key)
    if hit is None:
        hit = _MEMO[key] = sha256_file(p)
    return hit


def sha256_file(path: PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks, never memoised (checksum checks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def data_digest(refs: Iterable) -> str:
    """sha256 hex digest (32 chars) of the contents of every file ``refs`` resolve to, in order.

    ``refs``: file names, glob patterns or :class:`~unibridge.data.hf.HFDataRef` (as
    :func:`~unibridge.data.root.resolve_data_paths` takes them); None and empty entries are
    skipped, so an empty ``refs`` has a fixed digest. Only contents count: the same bytes under
    another name give the same digest (names are part of the recipe's own fingerprint).
    Raises:
        DataError: a reference resolves to no file (as ``resolve_data_paths``).
    """
    h = hashlib.sha256()
    for ref in refs:
        if ref is None or (isinstance(ref, (str, os.PathLike)) and not os.fspath(ref)):
            continue
        for path in resolve_data_paths(ref):
            h.update(file_digest(path).encode())
            h.update(b"\n")
    return h.hexdigest()[:32]
