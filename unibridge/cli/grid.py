"""``unibridge transfer`` and ``transfer-report``: the transfer-quality grid of one recipe, and
the Markdown table (and bar plot) of finished grids."""

from __future__ import annotations

import argparse
import json
import sys

from .options import config_arg


def cmd_transfer(a) -> int:
    """``unibridge transfer``: run the transfer-quality grid of one recipe and print its Markdown table."""
    from ..config import parse_settings
    from ..errors import ConfigError
    from ..transfer import CONFIGS, TransferGrid, results_markdown

    change = parse_settings(a.set or [])
    if change and a.out is None:
        raise ConfigError("--set changes every run of the grid: give the grid its own --out folder "
                          "(and --cache to reuse another grid's stages)")
    grid = TransferGrid(a.recipe, a.profile, seeds=a.seed or [42], configs=a.config or list(CONFIGS),
                        strategies=a.strategy, tasks=a.task, out=a.out or "runs/transfer",
                        fixed_vocab_size=a.fixed_vocab_size, sources=a.source, change=change or None,
                        cache=a.cache)
    rec = grid.run(command="unibridge " + " ".join(sys.argv[1:]) if a.command is None else a.command)
    print()
    print(results_markdown([rec]))
    print(f"results: {grid.out / grid.base.target / 'results.json'}")
    return 0


BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def block_markers(name: str | None) -> tuple[str, str]:
    """The markers of a document's generated results block: ``<!-- results:begin -->`` ...
    ``<!-- results:end -->``, or ``<!-- results:NAME:begin -->`` ... for a named one (a document
    may hold several, e.g. one per task)."""
    return (BEGIN, END) if not name else (f"<!-- results:{name}:begin -->", f"<!-- results:{name}:end -->")


def cmd_transfer_report(a) -> int:
    """``unibridge transfer-report``: the Markdown table of finished grids, printed or written into the
    results block of a document (``--out``)."""
    from pathlib import Path

    from ..errors import DataError
    from ..transfer import read_grids, results_markdown, results_rows

    records = read_grids(a.results)
    if a.json:
        print(json.dumps(results_rows(records), indent=2, ensure_ascii=False))
        return 0
    table = results_markdown(records)
    if a.plot:
        from ..transfer import plot_results

        print(f"plot: {plot_results(records, a.plot)}")
    if not a.out:
        print(table)
        return 0
    out = Path(a.out)
    begin, end = block_markers(a.block)
    text = out.read_text(encoding="utf-8") if out.is_file() else f"{begin}\n{end}\n"
    if begin not in text or end not in text:
        raise DataError(f"{out} has no {begin} ... {end} block to replace")
    head, rest = text.split(begin, 1)
    text = head + begin + "\n" + table + end + rest.split(end, 1)[1]
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    print(f"wrote the results of {len(records)} grid(s) into {out}")
    return 0


def add_parser(sub) -> None:
    """Register ``transfer`` and ``transfer-report`` on the subparsers ``sub``."""
    from ..config import VocabConfig
    from ..registry import TASKS
    from ..inference.strategies import strategy_names
    from ..transfer import CONFIGS, FIXED_VOCAB_SIZE

    tr = sub.add_parser("transfer", help="transfer-quality grid for one recipe: zero-shot, MAD-X, UniBridge, "
                                         "ablations and weight strategies over seeds (mean ± std)")
    tr.add_argument("recipe", help="recipe YAML, e.g. recipes/amh.yaml")
    tr.add_argument("--profile", default="cpu", help="recipe profile (default cpu)")
    tr.add_argument("--seed", type=int, action="append", help="seed (repeatable; default 42)")
    tr.add_argument("--config", action="append", choices=CONFIGS, help="configuration (repeatable; default all)")
    tr.add_argument("--strategy", action="append", choices=strategy_names(),
                    help="weight strategy, scored on the UniBridge run (repeatable; default all where the grid "
                         "runs unibridge or english-only)")
    tr.add_argument("--task", action="append", choices=TASKS.names(), help="task of the recipe (repeatable; default all)")
    tr.add_argument("--source", action="append", help="source language of the recipe (repeatable; default all)")
    tr.add_argument("--out", help="grid folder (default runs/transfer)")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="change a recipe setting in every run, e.g. task.source_language_adapter=false "
                         "(repeatable; YAML values; needs --out)")
    tr.add_argument("--cache", help="stage cache shared with other grids (default <out>/cache), e.g. "
                                    "runs/transfer/cache")
    config_arg(tr, "--fixed-vocab-size", VocabConfig, "fixed_size", "vocabulary of the fixed-vocab ablation",
               default=FIXED_VOCAB_SIZE)
    tr.add_argument("--command", help=argparse.SUPPRESS)
    tr.set_defaults(fn=cmd_transfer)

    trr = sub.add_parser("transfer-report", help="Markdown table of transfer grids (results.json files); with "
                                                "--out, replace the results block of a document")
    trr.add_argument("results", nargs="+",
                     help="results.json files of `unibridge transfer`; FILE:CONFIG,CONFIG takes only those "
                          "configurations from a file; grids of the same target, profile and base model are "
                          "merged in the order given (a later file wins on a seed both have)")
    trr.add_argument("--out", help="document holding <!-- results:begin --> ... <!-- results:end -->")
    trr.add_argument("--block", help="with --out: the named block <!-- results:NAME:begin --> ... "
                                     "<!-- results:NAME:end --> instead of the unnamed one")
    trr.add_argument("--plot", help="also draw the configurations as grouped bars into this PNG")
    trr.add_argument("--json", action="store_true", help="print a JSON list with one row per target, task and configuration")
    trr.set_defaults(fn=cmd_transfer_report)
