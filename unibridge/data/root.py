"""Where the data files live.

Recipes name data files relative to a *data root*: the directory in the environment variable
``UNIBRIDGE_DATA``, or else ``../shared/data`` relative to the current working directory. A
name may be a glob pattern (``*``, ``?``, ``[...]``) with optional brace alternatives, e.g.
``ud/UD_Chinese-GSDSimp/*-ud-{dev,test}.conllu``.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from pathlib import Path

from ..errors import DataError

ENV_VAR = "UNIBRIDGE_DATA"
_GLOB_CHARS = re.compile(r"[*?\[]")
_BRACES = re.compile(r"\{([^{}]*)\}")

PathLike = str | os.PathLike


def data_root() -> Path:
    """Return the data root directory (absolute).

    ``$UNIBRIDGE_DATA`` if set, else ``../shared/data`` relative to the current working
    directory if that directory exists.

    Raises:
        DataError: ``UNIBRIDGE_DATA`` names no directory, or it is unset and no default exists.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        root = Path(env).expanduser().resolve()
        if not root.is_dir():
            raise DataError(f"{ENV_VAR}={env} is not a directory")
        return root
    default = (Path.cwd() / ".." / "shared" / "data").resolve()
    if default.is_dir():
        return default
    raise DataError(
        f"no data root: set {ENV_VAR} to the data directory (default ../shared/data "
        f"relative to {Path.cwd()} does not exist)"
    )


def _root_for_message() -> str:
    try:
        return str(data_root())
    except DataError:
        return os.environ.get(ENV_VAR) or "<unset>"


def _expand_braces(pattern: str) -> list[str]:
    """``a{b,c}d`` -> ``[abd, acd]`` (also several and nested-free groups)."""
    m = _BRACES.search(pattern)
    if m is None:
        return [pattern]
    out: list[str] = []
    for alt in m.group(1).split(","):
        out.extend(_expand_braces(pattern[: m.start()] + alt + pattern[m.end() :]))
    return out


def _absolute(p: str) -> Path:
    path = Path(p).expanduser()
    return path if path.is_absolute() else data_root() / path


def resolve_data_path(p: PathLike) -> Path:
    """Resolve one data file name: absolute paths as they are, relative ones under :func:`data_root`.

    A glob pattern is accepted when it matches exactly one file.

    Returns:
        The absolute path of an existing file.

    Raises:
        DataError: ``data file not found: <path> (UNIBRIDGE_DATA=<root>)`` if it does not exist,
            or the pattern matches several files (use :func:`resolve_data_paths`).
    """
    paths = resolve_data_paths(p)
    if len(paths) > 1:
        raise DataError(f"pattern {p} matches {len(paths)} files where one is expected")
    return paths[0]


def resolve_data_paths(p: PathLike | Iterable[PathLike]) -> list[Path]:
    """Resolve a file name, a glob pattern (``*``, ``?``, ``[..]``, ``{a,b}``), a Hugging Face
    dataset reference (:class:`~unibridge.data.hf.HFDataRef`, fetched once into the cache) or a
    list of them.

    Returns:
        Existing files, in the given order; each pattern's matches sorted by name.

    Raises:
        DataError: a named file does not exist, a pattern matches nothing, the list is empty, or a
            dataset reference cannot be loaded.
    """
    from .hf import HFDataRef, materialize

    items = [p] if isinstance(p, (str, os.PathLike, HFDataRef)) else list(p)
    if not items:
        raise DataError("no data files given (empty list)")
    out: list[Path] = []
    for item in items:
        if isinstance(item, HFDataRef):
            out.append(materialize(item))
            continue
        s = os.fspath(item)
        patterns = _expand_braces(s)
        if len(patterns) == 1 and not _GLOB_CHARS.search(s):
            path = _absolute(s)
            if not path.is_file():
                raise DataError(f"data file not found: {path} ({ENV_VAR}={_root_for_message()})")
            out.append(path)
            continue
        matched: list[Path] = []
        for pat in patterns:
            full = _absolute(pat)
            if _GLOB_CHARS.search(pat):
                matched.extend(Path(m) for m in sorted(glob.glob(str(full))) if Path(m).is_file())
            elif full.is_file():
                matched.append(full)
        if not matched:
            raise DataError(
                f"data file not found: {_absolute(s)} "
                f"(no file matches; {ENV_VAR}={_root_for_message()})"
            )
        out.extend(matched)
    return out
