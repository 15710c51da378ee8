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
    _add_output_options(ap, argparse.SUPPRESS)
    ap.set_defaults(verbose=False, quiet=False, plugin=None)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for group in GROUPS:
        group.add_parser(sub)
    for cmd in _subparsers(ap):  # -v / -q also after the command: `unibridge run r.yaml --json -q`
        _add_output_options(cmd, argparse.SUPPRESS)
    return ap


def _plugin_modules(argv: list[str]) -> list[str]:
    """The ``--plugin MODULE`` / ``--plugin=MODULE`` values of ``argv``, read before parsing (a
    plug-in may add choices to the parser, e.g. a task)."""
    out = []
    for i, arg in enumerate(argv):
        if arg == "--plugin" and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith("--plugin="):
            out.append(arg.split("=", 1)[1])
    return out


def _add_output_options(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument("--plugin", action="append", metavar="MODULE", default=default,
                        help="import a module that registers initializers, tasks or weight strategies "
                             "(repeatable; packages declaring a 'unibridge.plugins' entry point load by themselves)")
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="show library logs and full tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="no stage messages, progress bars or library warnings on stderr (UniBridge's own "
                             "warnings and errors only)")


def _subparsers(parser: argparse.ArgumentParser):
    """Every (sub)command parser below ``parser``, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield child
                yield from _subparsers(child)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that stages remove their temporary folders."""


def _on_sigterm(signum, frame):
    raise Terminated()


def install_signal_handlers() -> None:
    """Turn SIGTERM into :class:`Terminated` (a KeyboardInterrupt, as SIGINT gives), so ``finally``
    blocks run and a stage being written leaves no temporary folder behind."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def _quiet_libraries() -> None:
    """No progress bars (tqdm reads ``TQDM_DISABLE`` when first imported; transformers' and
    datasets' own switches where already imported) and no library warnings."""
    os.environ["TQDM_DISABLE"] = "1"
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    if "tqdm" in sys.modules:
        from functools import partialmethod

        import tqdm

        tqdm.tqdm.__init__ = partialmethod(tqdm.tqdm.__init__, disable=True)
    for name in ("adapters", "transformers", "datasets", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)


class _StageFormatter(logging.Formatter):
    """``[unibridge] message`` (``[transfer] ...`` for the grid; the level for warnings)."""

    def format(self, record):
        name = record.name.split(".")[-1] if record.name != "unibridge" else "unibridge"
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"[{name}] {level}{record.getMessage()}"


class _StderrHandler(logging.StreamHandler):
    """A stream handler on whatever ``sys.stderr`` is when a record is emitted (in a test or a
    notebook the stream of an earlier command may be closed by then)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _log_to_stderr(level: int) -> None:
    """Stage messages of the ``unibridge`` loggers go to stderr at ``level`` (results go to stdout)."""
    log = logging.getLogger("unibridge")
    for h in [h for h in log.handlers if getattr(h, "_unibridge_cli", False)]:
        log.removeHandler(h)
    h = _StderrHandler()
    h._unibridge_cli = True
    h.setFormatter(_StageFormatter())
    log.addHandler(h)
    log.setLevel(level)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Run the ``unibridge`` command on ``argv`` (default ``sys.argv[1:]``); the exit status.

    Errors caused by the input are printed as one line and give status 2; an interrupt gives 130
    (SIGINT) or 143 (SIGTERM), after the stage being written removed its temporary folder; a
    closed pipe on stdout ends the command quietly with status 0."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        from ..plugins import load_plugins

        load_plugins(_plugin_modules(argv))
    except UniBridgeError as e:
        print(f"unibridge: error: {e}", file=sys.stderr)
        return 2
    a = build_parser().parse_args(argv)
    _log_to_stderr(logging.WARNING if a.quiet else logging.DEBUG if a.verbose else logging.INFO)
    install_signal_handlers()
    if a.quiet:
        _quiet_libraries()
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
    except BrokenPipeError:  # `unibridge recipes | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout at exit
        return 0
    except KeyboardInterrupt as e:
        print("unibridge: " + ("terminated" if isinstance(e, Terminated) else "interrupted")
              + "; finished stages are kept and the next run resumes", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
