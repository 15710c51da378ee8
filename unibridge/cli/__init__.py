"""The ``unibridge`` command (:mod:`unibridge.cli.main`)."""

from .main import _weights_choice, build_parser, format_results, main

__all__ = ["build_parser", "format_results", "main"]
