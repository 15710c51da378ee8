"""Transfer quality: UniBridge against MAD-X and zero-shot (and Table 5's ablations) on real data.

Runs :class:`unibridge.transfer.TransferGrid` for each recipe given (default: Amharic UPOS and NER)
with the ``cpu`` profile (me5-small) and writes one record per target. The baseline in the same
run is MAD-X: ``ratio`` = UniBridge score / MAD-X score on the first recipe's first task
(mean over seeds); ``ratio_zero_shot`` against the zero-shot baseline.

    python benchmarks/transfer.py [--quick] [--recipe recipes/amh.yaml ...] [--seed 1 --seed 2]
                                  [--config unibridge --config mad-x ...] [--out runs/transfer]

``--quick``: the ``smoke`` profile, Amharic UPOS, English and Russian sources, 1,000 lines of
target text, one seed, zero-shot + UniBridge (a check that the grid runs; its scores mean
nothing). Writes benchmarks/results/transfer.json (--quick: transfer_quick.json); the last line
printed is ``RESULT transfer ...``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from results_io import write_result

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    import logging

    from unibridge.transfer import CONFIGS, TransferGrid

    logging.getLogger("adapters").setLevel(logging.ERROR)  # its set_active_adapters warns before activating

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke profile, amh pos, one seed, zero-shot + unibridge")
    ap.add_argument("--recipe", action="append", help="recipe (repeatable; default recipes/amh.yaml)")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seed", type=int, action="append")
    ap.add_argument("--config", action="append")
    ap.add_argument("--strategy", action="append")
    ap.add_argument("--task", action="append")
    ap.add_argument("--out", default=str(ROOT / "runs" / "transfer"))
    a = ap.parse_args(argv)
    if a.quick:
        a.profile, a.task = "smoke", a.task or ["pos"]
        a.seed, a.config = a.seed or [1], a.config or ["zero-shot", "unibridge"]
        a.strategy = a.strategy or ["harmony", "uniform"]
        a.out = str(ROOT / "runs" / "transfer-quick")
    records = []
    for recipe in a.recipe or [str(ROOT / "recipes" / "amh.yaml")]:
        grid = TransferGrid(recipe, a.profile, seeds=a.seed or [42], configs=a.config or list(CONFIGS),
                            strategies=a.strategy, tasks=a.task, out=a.out,
                            sources=["en", "ru"] if a.quick else None,
                            change={"mono_max_lines": 1000} if a.quick else None)
        records.append(grid.run(command="python benchmarks/transfer.py " + " ".join(sys.argv[1:])))
    write_result("transfer", records, a.quick)
    first = records[0]
    task = next(iter(first["tasks"]))
    cfg = first["tasks"][task]["configs"]
    kv = {"target": first["target"], "task": task, "seeds": len(first["seeds"])}
    for c, e in cfg.items():
        kv[c.replace("-", "_")] = round(100 * e["mean"], 2)
    if "unibridge" in cfg:
        for base, key in (("mad-x", "ratio"), ("zero-shot", "ratio_zero_shot")):
            if base in cfg and cfg[base]["mean"] > 0:
                kv[key] = round(cfg["unibridge"]["mean"] / cfg[base]["mean"], 3)
    print("RESULT transfer " + " ".join(f"{k}={v}" for k, v in kv.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
