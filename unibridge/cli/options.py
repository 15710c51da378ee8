"""Option helpers shared by the command groups: argparse types for numbers within a
configuration field's range and for weight strategies, the option that reads its type, range and
default from a configuration dataclass, and the plain-text tables the commands print."""

from __future__ import annotations

import argparse


def text_table(rows: list[list[str]], header: list[str]) -> str:
    """Plain-text table: ``header``, a rule, then ``rows``; columns left-aligned, two spaces apart."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    line = "  ".join("-" * w for w in widths)
    return "\n".join([fmt.format(*header), line, *(fmt.format(*map(str, r)) for r in rows)])


def weights_choice(static_only: bool = False):
    """argparse type of ``--weights`` / ``--strategy``: a registered weight strategy, e.g.
    ``single:<lang>`` (``static_only``: not a per-batch one)."""
    from ..errors import ConfigError
    from ..inference.strategies import get_strategy

    def parse(value: str) -> str:
        try:
            strategy, _ = get_strategy(value)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        if static_only and not strategy.static:
            raise argparse.ArgumentTypeError(f"'{value}' weights each batch anew: there is no table of them")
        return value
    return parse


def in_range(kind: type, rng, *, zero_means_none: bool = False, name: str | None = None):
    """argparse type: a number of ``kind`` (int or float) within :class:`~unibridge.config.Range`
    ``rng`` (0 also accepted with ``zero_means_none``)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") \
                from None
        if (zero_means_none and value == 0) or value in rng:
            return value
        raise argparse.ArgumentTypeError(f"must be {rng}; got {text}")

    parse.__name__ = name or kind.__name__  # argparse names the type in its messages
    return parse


def setting(cls, name: str, *, kind: type | None = None, zero_means_none: bool = False):
    """argparse type for a numeric option that sets ``cls.name``: a number of that field's
    kind within its range (one home for the limits)."""
    from dataclasses import fields

    f = {f.name: f for f in fields(cls)}[name]
    kind = kind or (int if str(f.type).startswith("int") else float)
    return in_range(kind, f.metadata["range"], zero_means_none=zero_means_none, name=name)


def config_arg(parser, flag: str, cls, name: str, help: str = "", *, kind: type | None = None,
               zero_means_none: bool = False, **kw) -> None:
    """Add ``flag`` setting ``cls.name``: its type, range and default come from the dataclass
    field (one home for defaults; ``default=`` overrides where the command means another value),
    and the help names the default."""
    from dataclasses import MISSING, fields

    f = {f.name: f for f in fields(cls)}[name]
    if "default" not in kw:
        kw["default"] = f.default if f.default is not MISSING else f.default_factory()
    shown = kw["default"]
    if isinstance(shown, float) and shown.is_integer() and abs(shown) >= 1:
        shown = int(shown)
    if shown is not None and "default" not in help:
        help = f"{help} (default {shown})" if help else f"default {shown}"
    kw["help"] = help
    parser.add_argument(flag, type=setting(cls, name, kind=kind, zero_means_none=zero_means_none), **kw)


def count_type(minimum: int = 1):
    """argparse type: an integer >= ``minimum``."""
    from ..config import Range

    return in_range(int, Range(minimum))
