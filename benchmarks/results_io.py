"""Where the benchmark scripts write their results, and how they check their optional packages.

Imported by the scripts in this folder, which run as ``python benchmarks/<name>.py`` (so this
folder is on ``sys.path``).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def result_path(name: str, quick: bool, suffix: str = ".json") -> Path:
    """The result file of benchmark ``name``: ``results/<name><suffix>``, or
    ``results/<name>_quick<suffix>`` for a ``--quick`` run. A ``--quick`` run writes its own file
    so it never overwrites the full run's recorded result."""
    return RESULTS / (f"{name}_quick{suffix}" if quick else f"{name}{suffix}")


def write_result(name: str, record: dict | list, quick: bool) -> Path:
    """Write ``record`` (a dict; transfer.py's is a list of records) as indented UTF-8 JSON to
    ``result_path(name, quick)`` atomically (a temporary file in the same folder, then a rename);
    returns the path."""
    path = result_path(name, quick)
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # same folder; write_text keeps the umask's mode
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def require(module: str, why: str) -> None:
    """Exit with status 2 and one line on stderr when the optional package ``module`` (needed
    for ``why``) cannot be imported."""
    try:
        importlib.import_module(module)
    except ImportError:
        print(f"benchmarks: {why} needs the package '{module}', which is not installed: "
              f"pip install -e \".[bench]\"", file=sys.stderr)
        sys.exit(2)
