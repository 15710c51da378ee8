"""Start-up time of the command line: ``unibridge --help`` against importing torch, same run.

``--help`` must answer without loading torch, transformers or any model (the parser is built
from the configuration dataclasses alone). Each command is run as a fresh process ``--repeats``
times (the median is reported); the baseline is ``python -c "import torch"``, which every command
that does real work pays.

    python benchmarks/cli.py [--quick]

Writes benchmarks/results/cli.json (--quick: cli_quick.json); the last line printed is
``RESULT cli help_s=... torch_import_s=... ratio=... torch_loaded=...`` (ratio = help / torch import).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from results_io import write_result

ROOT = Path(__file__).resolve().parents[1]


def wall(cmd: list[str], repeats: int) -> float:
    """Median wall time (s) of ``repeats`` fresh runs of ``cmd`` (output discarded)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    ap.add_argument("--repeats", type=int, help="runs per command (default 7, 3 with --quick)")
    a = ap.parse_args()
    n = a.repeats or (3 if a.quick else 7)
    py = sys.executable
    help_s = wall([py, "-m", "unibridge.cli", "--help"], n)
    torch_s = wall([py, "-c", "import torch"], n)
    loaded = subprocess.run([py, "-c", "import sys; from unibridge.cli import build_parser; build_parser(); "
                             "print(sorted(m for m in ('torch', 'transformers', 'adapters') if m in sys.modules))"],
                            check=True, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    res = {"help_s": round(help_s, 3), "torch_import_s": round(torch_s, 3), "ratio": round(help_s / torch_s, 3),
           "loaded_by_parser": loaded, "repeats": n}
    write_result("cli", res, a.quick)
    print(f"RESULT cli help_s={res['help_s']} torch_import_s={res['torch_import_s']} ratio={res['ratio']} "
          f"torch_loaded={'torch' in loaded}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
