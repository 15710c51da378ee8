"""The ``unibridge`` command.

    unibridge run RECIPE [--profile P] [--run-dir D] [--stage S ...]
    unibridge predict --target amh --task pos [--run-dir D] [--weights W] "sentence" ...
    unibridge evaluate --target amh --task pos --test FILE [--run-dir D] [--weights W]
    unibridge vocab CORPUS ... --out DIR [--base me5-small] [--v-i 7000 ...]
    unibridge init CORPUS ... --tokenizer DIR --out DIR [--method unibridge|focus|script|...]
    unibridge recipes [FOLDER] [--markdown]
    unibridge transfer RECIPE [--profile cpu] [--seed N ...] [--config C ...] [--out runs/transfer]
    unibridge transfer-report RESULTS.json ... [--out docs/results.md]
    unibridge adapt CORPUS ... --out DIR [--tokenizer DIR --embeddings FILE] [--beta 1.0 ...]
    unibridge weights RUN_DIR ... [--strategy harmony] [--out heatmap.png]
    unibridge hub list|show|pack|pack-sources|verify|install|push|pull ...

Errors caused by the input (missing files, unknown languages, tasks or profiles, infeasible
vocabulary sizes) are printed as one line and exit with status 2.

One module per command group, each registering its subcommands with ``add_parser(sub)``:
``run`` (run, predict, evaluate), ``hub``, ``recipes``, ``grid`` (transfer, transfer-report),
``weights``, ``stages`` (vocab, init, adapt); ``options`` holds the shared option types and
``app`` builds the parser from the groups (``main`` is the entry point). The heavy libraries
(torch, transformers, adapters) are imported by the command handlers only, so
``unibridge --help`` starts without them.
"""

from .app import build_parser, main
from .run import format_results

__all__ = ["build_parser", "format_results", "main"]
