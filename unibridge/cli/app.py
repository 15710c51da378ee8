"""The parser of the ``unibridge`` command and its entry point.

:func:`build_parser` adds the top-level options (``--version``, ``-v``, ``-q``) and lets each
command group register its subcommands (``add_parser(sub)`` in :mod:`.run`, :mod:`.hub`,
:mod:`.recipes`, :mod:`.grid`, :mod:`.weights`, :mod:`.stages`); :func:`main` sets up the stage
messages on stderr, runs the chosen command's handler and turns an input error into one line and
exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..errors import UniBridgeError
from . import grid, hub, recipes, run, stages, weights

# in the order `unibridge --help` lists the commands
GROUPS = (run, hub, recipes, grid, weights, stages)


def build_parser() -> argparse.ArgumentParser:
    """The ``unibridge`` parser: top-level options, then the subcommands of every command group.

    Building it loads no model library (torch, transformers, adapters); each command imports
    what it needs when it runs."""
    ap = argparse.ArgumentParser(prog="unibridge", description="UniBridge: cross-lingual transfer to low-resource "
                                 "languages (vocabulary search, embedding initialisation, language adaptation, "
                                 "multi-source task adapters).")
    from .. import __version__

    ap.add_argument("--version", action="version", version=f"unibridge {__version__}")
    ap.add_argument("-v", "--verbose", action="store_true", help="show library logs and full tracebacks")
    ap.add_argument("-q", "--quiet", action="store_true", help="no stage messages on stderr (warnings and errors only)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for group in GROUPS:
        group.add_parser(sub)
    return ap


class _StageFormatter(logging.Formatter):
    """``[unibridge] message`` (``[transfer] ...`` for the grid; the level for warnings)."""

    def format(self, record):
        name = record.name.split(".")[-1] if record.name != "unibridge" else "unibridge"
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"[{name}] {level}{record.getMessage()}"


def _log_to_stderr(level: int) -> None:
    """Stage messages of the ``unibridge`` loggers go to stderr at ``level`` (results go to stdout)."""
    log = logging.getLogger("unibridge")
    for h in [h for h in log.handlers if getattr(h, "_unibridge_cli", False)]:
        log.removeHandler(h)
    h = logging.StreamHandler(sys.stderr)
    h._unibridge_cli = True
    h.setFormatter(_StageFormatter())
    log.addHandler(h)
    log.setLevel(level)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Run the ``unibridge`` command on ``argv`` (default ``sys.argv[1:]``); the exit status.

    Errors caused by the input are printed as one line and give status 2; an interrupt gives 130."""
    a = build_parser().parse_args(argv)
    _log_to_stderr(logging.WARNING if a.quiet else logging.DEBUG if a.verbose else logging.INFO)
    if not a.verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        logging.getLogger("adapters").setLevel(logging.ERROR)
        import warnings

        warnings.filterwarnings("ignore")
    try:
        return a.fn(a)
    except UniBridgeError as e:
        if a.verbose:
            raise
        print(f"unibridge: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("unibridge: interrupted; finished stages are kept and the next run resumes", file=sys.stderr)
        return 130
