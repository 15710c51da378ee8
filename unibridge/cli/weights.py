"""``unibridge weights``: the source weights of finished runs as a table and a heatmap."""

from __future__ import annotations

import json

from .options import text_table, weights_choice


def cmd_weights(a) -> int:
    """``unibridge weights``: a targets x sources table of source weights, and a heatmap with ``--out``."""
    from pathlib import Path

    from ..artifacts import read_json
    from ..hub.lookup import find_run_dir
    from ..inference.plot import plot_weight_heatmap
    from ..inference.strategies import resolve_weights
    from ..inference.weights import stored_weights

    table: dict[str, dict[str, float]] = {}
    for d in a.runs:
        recipe = read_json(find_run_dir(Path(d).name, d) / "run.json")["recipe"]
        target, sources = recipe["target"], list(recipe["sources"])
        harmony_file = Path(d) / "harmony" / "weights.json"
        stored = read_json(harmony_file) if harmony_file.is_file() else None
        table[target] = resolve_weights(a.strategy, a.sources or sources, target=target,
                                        **stored_weights(stored, a.task))
    sources = list(dict.fromkeys(s for w in table.values() for s in w))
    if a.json:
        print(json.dumps(table, indent=2))
    else:
        print(text_table([[t, *(f"{w.get(s, float('nan')):.3f}" for s in sources)] for t, w in table.items()],
                         ["target", *sources]))
    if a.out:
        png = plot_weight_heatmap(table, a.out, title=f"{a.strategy} weights")
        if not a.json:
            print(f"heatmap -> {png}")
    return 0


def add_parser(sub) -> None:
    """Register ``weights`` on the subparsers ``sub``."""
    from ..registry import TASKS
    from ..inference.strategies import strategy_help

    w = sub.add_parser("weights", help="source weights of finished runs (targets x sources) as a table and heatmap")
    w.add_argument("runs", nargs="+", help="run directories (runs/<target>)")
    w.add_argument("--strategy", default="harmony", type=weights_choice(static_only=True),
                   help=f"weight strategy, not a per-batch one: {strategy_help()} (default harmony)")
    w.add_argument("--sources", nargs="*", help="restrict to these sources")
    w.add_argument("--task", choices=TASKS.names(),
                   help="harmony weights chosen on this task's dev data where the run has them "
                        "(default: the recipe's distance and temperature)")
    w.add_argument("--out", help="heatmap PNG")
    w.add_argument("--json", action="store_true", help="print {target: {source: weight}} as JSON")
    w.set_defaults(fn=cmd_weights)
