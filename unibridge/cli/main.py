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

Errors caused by the input (missing files, unknown languages, tasks or profiles, infeasible
vocabulary sizes) are printed as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys

from ..errors import UniBridgeError


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    line = "  ".join("-" * w for w in widths)
    return "\n".join([fmt.format(*header), line, *(fmt.format(*map(str, r)) for r in rows)])


def format_results(result) -> str:
    """Scores (per task and weight strategy) and per-stage wall time as plain-text tables."""
    rows = []
    for task, s in result.scores.items():
        metric = s["metric"]
        for name, m in s["strategies"].items():
            rows.append([task, name, metric, f"{100 * m[metric]:.2f}"])
    out = [_table(rows, ["task", "weights", "metric", "score (%)"])] if rows else []
    t = [[k, f"{v:.1f}", "cached" if k in result.cached else ""] for k, v in result.timings.items()]
    t.append(["total", f"{sum(result.timings.values()):.1f}", ""])
    out.append(_table(t, ["stage", "wall time (s)", ""]))
    return "\n\n".join(out)


def cmd_run(a) -> int:
    from ..config import Recipe
    from ..pipeline import run_recipe

    recipe = Recipe.load(a.recipe, a.profile)
    with contextlib.redirect_stdout(sys.stderr):  # training logs are progress: stdout holds the results
        result = run_recipe(recipe, a.run_dir, only=a.stage, stage_cache=a.stage_cache,
                            retrain_sources=a.retrain_sources)
    if a.json:
        print(json.dumps({"target": recipe.target, "profile": recipe.profile, "base_model": recipe.base_model,
                          "run_dir": str(result.run_dir), "scores": result.scores, "timings": result.timings,
                          "cached": result.cached}, indent=2, ensure_ascii=False))
        return 0
    print(f"UniBridge run: target={recipe.target} profile={recipe.profile} base={recipe.base_model} "
          f"run_dir={result.run_dir}")
    print(format_results(result))
    return 0


def cmd_predict(a) -> int:
    from ..inference import MultiSourcePredictor

    from ..errors import ConfigError

    p = MultiSourcePredictor(a.target, a.task, run_dir=a.run_dir, weights=a.weights)
    if p.task.kind == "tagging":
        inputs = a.texts
    else:
        inputs = [t.split(" ||| ") for t in a.texts]
        if any(len(x) != 2 for x in inputs):
            raise ConfigError(f"'{a.task}' takes pairs written as \"premise ||| hypothesis\"")
    rich = p.predict(inputs, return_probs=a.json)
    if a.json:  # one record per input: words (or the pair), labels, probabilities in p.labels' order
        print(json.dumps({"labels": p.labels, "weights": p.weights, "predictions": [
            {"input": list(r["input"]), "labels": r["labels"], "probs": r["probs"].round(6).tolist()}
            for r in rich]}, ensure_ascii=False, indent=2))
        return 0
    for text, out in zip(a.texts, rich):
        if p.task.kind == "tagging":
            print(" ".join(f"{w}/{l}" for w, l in zip(text.split(), out)))
        else:
            print(f"{out}\t{text}")
    return 0


def cmd_evaluate(a) -> int:
    from ..inference import MultiSourcePredictor
    from ..tasks import get_task

    spec = get_task(a.task)
    sents = []
    for f in a.test:
        sents.extend(spec.read(f, limit=a.limit, label_map=a.label_map))
    p = MultiSourcePredictor(a.target, a.task, run_dir=a.run_dir, weights=a.weights)
    scores = p.evaluate(sents, mode=a.mode)
    if a.json:
        print(json.dumps(scores, indent=2, ensure_ascii=False))
        return 0
    print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in scores.items()))
    return 0


def cmd_weights(a) -> int:
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
        print(_table([[t, *(f"{w.get(s, float('nan')):.3f}" for s in sources)] for t, w in table.items()],
                     ["target", *sources]))
    if a.out:
        png = plot_weight_heatmap(table, a.out, title=f"{a.strategy} weights")
        if not a.json:
            print(f"heatmap -> {png}")
    return 0


def cmd_hub(a) -> int:
    from .. import hub
    from ..errors import ConfigError

    if a.action == "list":
        entries = hub.list_artifacts(a.hub, target=a.target, task=a.task)
        if a.json:
            print(json.dumps(entries, indent=2, ensure_ascii=False, default=str))
            return 0
        rows = [[e["target"], e["name"], e["version"], e["base_model"], ",".join(e["tasks"]), e["path"]]
                for e in entries]
        print(_table(rows, ["target", "name", "version", "base", "tasks", "path"]) if rows else "no artifacts")
    elif a.action == "show":
        folder = hub.find_installed(a.target, a.hub, version=a.version) if a.target else None
        if folder is None:
            raise ConfigError(f"no installed artifact for {a.target!r}" + (f" version {a.version}" if a.version else "")
                              + "; `unibridge hub list` shows what is installed")
        m = hub.verify(folder)
        shown = {k: v for k, v in m.items() if k != "files"}
        if a.json:
            print(json.dumps({**shown, "files_verified": len(m["files"]), "folder": str(folder)}, indent=2,
                             ensure_ascii=False))
            return 0
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        print(f"{len(m['files'])} files verified in {folder}")
    elif a.action == "pack-sources":
        from ..hub.sources import SHIPPED_SOURCES, pack_sources

        m = pack_sources(a.run_dir, a.out or SHIPPED_SOURCES, half=not a.float32)
        print(f"{len(m['entries'])} source adapters in {a.out or SHIPPED_SOURCES}")
    elif a.action == "pack":
        out = hub.pack(a.run_dir, a.out, version=a.version or "1.0.0", name=a.name)
        print(f"packed {len(hub.verify(out)['files'])} files -> {out}")
    elif a.action == "verify":
        m = hub.verify(a.path)
        print(f"{a.path}: {m['name']} {m['version']} ({m['target']}, {m['base_model']}): "
              f"{len(m['files'])} files verified")
    elif a.action == "install":
        dest = hub.install(a.path, a.hub, force=a.force)
        print(f"installed -> {dest}")
    elif a.action == "push":
        print(f"pushed -> {hub.push(a.path, a.repo, remote=a.remote)}")
    elif a.action == "pull":
        dest = hub.pull(a.repo, remote=a.remote, version=a.version, hub_dir=a.hub, force=a.force)
        print(f"pulled and installed -> {dest}")
    return 0


def cmd_vocab(a) -> int:
    import shutil
    from pathlib import Path

    from ..artifacts import write_json
    from ..backbones import backbone_tokenizer
    from ..data import read_text
    from ..vocab import plot_alp_curve, search_vocab_size, wrap_tokenizer

    out = Path(a.out)
    lines = read_text(a.corpus)
    res = search_vocab_size(lines, v_i=a.v_i, v_m=a.v_m, delta=a.delta, eps=a.eps,
                            sample_words=a.sample_words or None, per_token=a.per_token,
                            model_type=a.model_type, character_coverage=a.character_coverage,
                            heldout_fraction=a.heldout, strategy=a.strategy, workers=a.workers,
                            seed=a.seed, workdir=out / "search", progress=not a.no_progress)
    shutil.copyfile(res.model_path, out / "spm.model")
    if a.base:
        wrap_tokenizer(out / "spm.model", backbone_tokenizer(a.base), out / "tokenizer")
    plot_alp_curve(res, out / "alp_curve.png")
    write_json(out / "search.json", res.to_dict())
    print(_table([[p.vocab_size, f"{p.alp:.2f}", "" if p.delta is None else f"{p.delta:.2f}", f"{p.seconds:.1f}"]
                  for p in res.curve], ["size", "ALP", "gain", "seconds"]))
    cap = f", feasible maximum {res.feasible_max}" if res.feasible_max is not None else ""
    print(f"chosen vocabulary size: {res.vocab_size} (stopped by {res.stopped_by}{cap}; {len(res.curve)} "
          f"trainings, {res.workers} at a time, {res.seconds:.1f} s, strategy {res.strategy}"
          f"{', fell back to the scan' if res.fell_back else ''})")
    print(f"wrote {out / 'spm.model'}, {out / 'alp_curve.png'}, {out / 'search.json'}"
          + (f", {out / 'tokenizer'}/" if a.base else ""))
    return 0


def cmd_init(a) -> int:
    from pathlib import Path

    from ..backbones import backbone_tokenizer, load_input_embeddings, load_tokenizer
    from ..data import read_dictionary, read_text
    from ..embeddings import StaticConfig, get_initializer, initialize_embeddings, save_init_result

    get_initializer(a.method)  # an unknown name is refused before any work, listing the registered ones
    out = Path(a.out)
    target_tok = load_tokenizer(a.tokenizer)
    corpus = read_text(a.corpus)
    dictionary = read_dictionary(a.dictionary) if a.dictionary else None
    base_tok = backbone_tokenizer(a.base)
    src = load_input_embeddings(a.base)
    res = initialize_embeddings(a.method, source_embeddings=src, source_tokenizer=base_tok,
                                target_tokenizer=target_tok, corpus=corpus,
                                config=StaticConfig(dim=a.static_dim, epochs=a.static_epochs),
                                seed=a.seed, workdir=out / "static", dictionary=dictionary,
                                augment_size=a.augment_size)
    path = save_init_result(res, out, method=a.method, source_embeddings=src, source_tokenizer=base_tok,
                            target_tokenizer=target_tok, plot=not a.no_plot,
                            title=f"{a.method} initialisation")
    total = sum(res.report.values())
    print(_table([[k, v, f"{100 * v / total:.1f}"] for k, v in res.report.items()],
                 ["rows", "count", "%"]))
    print(f"{a.method}: {total} x {res.embeddings.shape[1]} embeddings -> {path}")
    if res.tokenizer is not None:
        print(f"tokenizer ({len(res.tokenizer)} tokens) -> {out / 'tokenizer'}")
    return 0


def cmd_adapt(a) -> int:
    import shutil
    from pathlib import Path

    from safetensors.torch import load_file

    from ..adaptation.model import add_language_adapter, attach_embeddings, load_adapter_model
    from ..adaptation.train import is_main_process, save_language_adapter, train_language_adapter
    from ..artifacts import write_json
    from ..backbones import backbone_tokenizer, load_tokenizer, resolve_backbone
    from ..config import AdaptationConfig, TrainConfig
    from ..data import read_dictionary, read_text
    from ..errors import ConfigError

    if bool(a.tokenizer) != bool(a.embeddings):
        raise ConfigError("--tokenizer and --embeddings go together (a new vocabulary and its initial embeddings); "
                          "give neither to train a MAD-X adapter on the base vocabulary")
    out = Path(a.out)
    texts = read_text(a.corpus, limit=a.max_lines)
    base_tok = backbone_tokenizer(a.base)
    model = load_adapter_model(resolve_backbone(a.base))
    tok = base_tok
    if a.tokenizer:
        tok = load_tokenizer(a.tokenizer)
        attach_embeddings(model, a.name, tok, load_file(a.embeddings)["weight"])
    beta = a.beta if a.beta is not None else (1.0 if a.tokenizer else 0.0)
    train = TrainConfig(epochs=a.epochs, max_steps=a.steps, batch_size=a.batch_size, learning_rate=a.lr,
                        max_length=a.max_length)
    cfg = AdaptationConfig(beta=beta, kl_level=a.kl_level, kl_temperature=a.kl_temperature,
                           regulariser=a.regulariser, anchor_weight=a.anchor_weight, mlm_head=a.mlm_head,
                           head_fit_steps=a.head_fit_steps, align_alpha=a.align_alpha, leave_out=a.leave_out or [], eval_fraction=a.eval_fraction,
                           eval_steps=a.eval_steps, patience=a.patience, save_steps=a.save_steps, train=train)
    dictionary = read_dictionary(a.dictionary) if a.dictionary else None
    add_language_adapter(model, a.name, cfg.reduction_factor, cfg.inv_reduction_factor, cfg.leave_out, seed=a.seed)
    head_init = None
    if cfg.mlm_head == "fitted" and a.backbone_head_steps > 0:
        from ..adaptation.head import default_backbone_head

        head_init, rep = default_backbone_head(model, base_tok, resolve_backbone(a.base), steps=a.backbone_head_steps)
        print(f"backbone MLM head: held-out masked-token accuracy {rep.get('heldout_accuracy')}%")
    head, hist = train_language_adapter(model, tok, texts, a.name, cfg=cfg, train_embeddings=bool(a.tokenizer),
                                        base_tokenizer=base_tok, dictionary=dictionary, seed=a.seed,
                                        output_dir=str(out / "checkpoints"), resume=not a.no_resume,
                                        head_init=head_init)
    if not is_main_process():
        return 0
    save_language_adapter(model, head, a.name, out, hist, with_embeddings=bool(a.tokenizer))
    from ..adaptation.diagnostics import format_diagnostics, representation_diagnostics

    diag = representation_diagnostics(model, tok, texts[-128:], embeddings=a.name if a.tokenizer else "default",
                                      adapter=a.name, base_tokenizer=base_tok)
    write_json(out / "diagnostics.json", diag)
    print(format_diagnostics(diag))
    shutil.rmtree(out / "checkpoints", ignore_errors=True)  # finished: nothing left to resume
    pppl = [h["eval_pppl"] for h in hist if "eval_pppl" in h]
    if pppl:
        print(f"held-out pseudo-perplexity: {pppl[0]:.2f} before -> {pppl[-1]:.2f} after")
    losses = [h for h in hist if "mlm_loss" in h]
    if losses:
        last = losses[-1]
        print(f"last logged step {last['step']}: mlm {last['mlm_loss']:.3f}  kl {last['kl_loss']:.4f}  "
              f"anchor {last['anchor_loss']:.4f}  align {last['align_loss']:.4f}")
    print(f"language adapter '{a.name}' -> {out / 'adapter'}")
    return 0


def cmd_recipes(a) -> int:
    from ..recipes import recipe_files, recipe_status, recipe_table

    if a.markdown:
        print(recipe_table(a.folder, a.runs))
        return 0
    rows, records = [], []
    for f in recipe_files(a.folder):
        try:
            st = recipe_status(f, a.runs)
        except UniBridgeError as e:  # one broken recipe does not hide the others
            rows.append([f.stem, "", "", "", "", f"error: {e}"])
            records.append({"recipe": f.stem, "error": str(e)})
            continue
        rows.append([f.stem, ",".join(st.recipe.tasks), len(st.here), len(st.hub), len(st.missing),
                     " ".join(map(str, st.missing))])
        records.append({"recipe": f.stem, "tasks": list(st.recipe.tasks), "here": [str(x) for x in st.here],
                        "hub": [str(x) for x in st.hub], "missing": [str(x) for x in st.missing]})
    if a.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    print(_table(rows, ["recipe", "tasks", "files here", "hub datasets", "missing", "missing files"]))
    return 0


def cmd_transfer(a) -> int:
    from ..config import parse_settings
    from ..errors import ConfigError
    from ..inference.strategies import strategy_names
    from ..transfer import CONFIGS, TransferGrid, results_markdown

    change = parse_settings(a.set or [])
    if change and a.out is None:
        raise ConfigError("--set changes every run of the grid: give the grid its own --out folder "
                          "(and --cache to reuse another grid's stages)")
    grid = TransferGrid(a.recipe, a.profile, seeds=a.seed or [42], configs=a.config or list(CONFIGS),
                        strategies=a.strategy or strategy_names(), tasks=a.task, out=a.out or "runs/transfer",
                        fixed_vocab_size=a.fixed_vocab_size, sources=a.source, change=change or None,
                        cache=a.cache)
    rec = grid.run(command="unibridge " + " ".join(sys.argv[1:]) if a.command is None else a.command)
    print()
    print(results_markdown([rec]))
    print(f"results: {grid.out / grid.base.target / 'results.json'}")
    return 0


BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def cmd_transfer_report(a) -> int:
    from pathlib import Path

    from ..errors import DataError
    from ..transfer import results_markdown, results_rows

    records = []
    for f in a.results:
        try:
            records.append(json.loads(Path(f).read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read results {f}: {e}") from None
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
    text = out.read_text(encoding="utf-8") if out.is_file() else f"{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        raise DataError(f"{out} has no {BEGIN} ... {END} block to replace")
    head, rest = text.split(BEGIN, 1)
    text = head + BEGIN + "\n" + table + END + rest.split(END, 1)[1]
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    print(f"wrote the results of {len(records)} grid(s) into {out}")
    return 0


def _weights_choice(static_only: bool = False):
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


def _in_range(kind: type, rng, *, zero_means_none: bool = False, name: str | None = None):
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


def _setting(cls, name: str, *, kind: type | None = None, zero_means_none: bool = False):
    """argparse type for a numeric option that sets ``cls.name``: a number of that field's
    kind within its range (one home for the limits)."""
    from dataclasses import fields

    f = {f.name: f for f in fields(cls)}[name]
    kind = kind or (int if str(f.type).startswith("int") else float)
    return _in_range(kind, f.metadata["range"], zero_means_none=zero_means_none, name=name)


def _config_arg(parser, flag: str, cls, name: str, help: str = "", *, kind: type | None = None,
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
    parser.add_argument(flag, type=_setting(cls, name, kind=kind, zero_means_none=zero_means_none), **kw)


def _count(minimum: int = 1):
    """argparse type: an integer >= ``minimum``."""
    from ..config import Range

    return _in_range(int, Range(minimum))


def build_parser() -> argparse.ArgumentParser:
    from ..config import (STAGES, TASKS, AdaptationConfig, EmbeddingConfig, SourceAdaptationConfig, TrainConfig,
                         VocabConfig)
    from ..inference.strategies import strategy_help, strategy_names
    from ..transfer import CONFIGS

    ap = argparse.ArgumentParser(prog="unibridge", description="UniBridge: cross-lingual transfer to low-resource "
                                 "languages (vocabulary search, embedding initialisation, language adaptation, "
                                 "multi-source task adapters).")
    from .. import __version__

    ap.add_argument("--version", action="version", version=f"unibridge {__version__}")
    ap.add_argument("-v", "--verbose", action="store_true", help="show library logs and full tracebacks")
    ap.add_argument("-q", "--quiet", action="store_true", help="no stage messages on stderr (warnings and errors only)")
    sub = ap.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="run a recipe end to end (stages are cached in the run directory)")
    r.add_argument("recipe", help="recipe YAML, e.g. recipes/amh.yaml")
    r.add_argument("--profile", help="profile of the recipe: cpu, smoke, paper ...")
    r.add_argument("--run-dir", help="run directory (default runs/<target>)")
    r.add_argument("--stage", action="append", choices=STAGES, help="run only this stage (repeatable)")
    r.add_argument("--stage-cache", help="folder shared between runs: stages and source adapters built with the "
                                         "same settings are copied from it instead of rebuilt")
    r.add_argument("--json", action="store_true", help="print the scores, stage times and cached stages as JSON")
    r.add_argument("--retrain-sources", action="store_true",
                   help="train the source adapters even where shipped ones (adapters_hub/sources) match")
    r.set_defaults(fn=cmd_run)

    p = sub.add_parser("predict", help="tag sentences (pos, ner) or classify pairs (nli) with a finished run")
    p.add_argument("texts", nargs="+", help="sentences (words separated by spaces); for nli "
                                            "\"premise ||| hypothesis\"")
    p.add_argument("--target", required=True)
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--run-dir")
    p.add_argument("--weights", default="harmony", type=_weights_choice(),
                   help=f"weight strategy: {strategy_help()} (default harmony)")
    p.add_argument("--json", action="store_true",
                   help="print the labels with their probabilities (in the order of 'labels') as JSON")
    p.set_defaults(fn=cmd_predict)

    e = sub.add_parser("evaluate", help="score a finished run on a test file")
    e.add_argument("--target", required=True)
    e.add_argument("--task", required=True, choices=TASKS)
    e.add_argument("--test", required=True, action="append", help="test file (relative to UNIBRIDGE_DATA or absolute)")
    e.add_argument("--label-map", help="NER label mapping, e.g. masakhaner")
    e.add_argument("--limit", type=_count(), help="score at most this many examples")
    e.add_argument("--run-dir")
    e.add_argument("--weights", default="harmony", type=_weights_choice(),
                   help=f"weight strategy: {strategy_help()} (default harmony)")
    e.add_argument("--mode", default="parallel", choices=["parallel", "sequential", "merge"],
                   help="merge: one task adapter averaged with the weights (faster, approximate)")
    e.add_argument("--json", action="store_true", help="print the scores as JSON")
    e.set_defaults(fn=cmd_evaluate)

    h = sub.add_parser("hub", help="trained-language artifacts: list, show, pack, verify, install, push, pull")
    hs = h.add_subparsers(dest="action", required=True)
    hl = hs.add_parser("list", help="artifacts installed in the local hub")
    hl.add_argument("--target")
    hl.add_argument("--task", choices=TASKS)
    hsh = hs.add_parser("show", help="manifest of an installed artifact (checksums verified)")
    hsh.add_argument("target")
    hsh.add_argument("--version")
    hp = hs.add_parser("pack", help="pack a finished run into an artifact folder")
    hp.add_argument("run_dir")
    hp.add_argument("--out", required=True)
    hp.add_argument("--version", default="1.0.0")
    hp.add_argument("--name", help="default unibridge-<target>-<base model>")
    hps = hs.add_parser("pack-sources", help="pack a run's source language and task adapters as shipped sources "
                                             "(restored by any run with the same settings)")
    hps.add_argument("run_dir")
    hps.add_argument("--out", help="default adapters_hub/sources of this repository")
    hps.add_argument("--float32", action="store_true", help="keep float32 weights (default float16)")
    hv = hs.add_parser("verify", help="check an artifact folder against its manifest")
    hv.add_argument("path")
    hi = hs.add_parser("install", help="verify and install an artifact folder into the local hub")
    hi.add_argument("path")
    hi.add_argument("--force", action="store_true", help="replace the same name and version")
    hpu = hs.add_parser("push", help="publish a verified artifact to a Hugging Face repo (or --remote folder)")
    hpu.add_argument("path")
    hpu.add_argument("repo", help="owner/name")
    hpl = hs.add_parser("pull", help="fetch, verify and install an artifact from a Hugging Face repo (or --remote)")
    hpl.add_argument("repo", help="owner/name")
    hpl.add_argument("--version", help="default: newest (--remote) or the main branch")
    hpl.add_argument("--force", action="store_true")
    for sp in (hpu, hpl):
        sp.add_argument("--remote", help="a shared folder instead of the Hugging Face hub")
    for sp in (hl, hsh):
        sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    for sp in (hl, hsh, hi, hpl):
        sp.add_argument("--hub", help="hub folder (default $UNIBRIDGE_HUB, else hub/ in the unibridge cache folder)")
    h.set_defaults(fn=cmd_hub)

    rc = sub.add_parser("recipes", help="list the target recipes and which of their data is here, on the hub, or missing")
    rc.add_argument("folder", nargs="?", default="recipes", help="recipe folder (default recipes)")
    rc.add_argument("--runs", default="runs", help="runs folder for the last scores (default runs)")
    rc.add_argument("--markdown", action="store_true", help="print the Markdown table of recipes/README.md")
    rc.add_argument("--json", action="store_true", help="print one JSON record per recipe")
    rc.set_defaults(fn=cmd_recipes)

    tr = sub.add_parser("transfer", help="transfer-quality grid for one recipe: zero-shot, MAD-X, UniBridge, "
                                         "ablations and weight strategies over seeds (mean ± std)")
    tr.add_argument("recipe", help="recipe YAML, e.g. recipes/amh.yaml")
    tr.add_argument("--profile", default="cpu", help="recipe profile (default cpu)")
    tr.add_argument("--seed", type=int, action="append", help="seed (repeatable; default 42)")
    tr.add_argument("--config", action="append", choices=CONFIGS, help="configuration (repeatable; default all)")
    tr.add_argument("--strategy", action="append", choices=strategy_names(),
                    help="weight strategy (repeatable; default all)")
    tr.add_argument("--task", action="append", choices=TASKS, help="task of the recipe (repeatable; default all)")
    tr.add_argument("--source", action="append", help="source language of the recipe (repeatable; default all)")
    tr.add_argument("--out", help="grid folder (default runs/transfer)")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="change a recipe setting in every run, e.g. task.source_language_adapter=false "
                         "(repeatable; YAML values; needs --out)")
    tr.add_argument("--cache", help="stage cache shared with other grids (default <out>/cache), e.g. "
                                    "runs/transfer/cache")
    _config_arg(tr, "--fixed-vocab-size", VocabConfig, "fixed_size", "vocabulary of the fixed-vocab ablation",
                default=10000)
    tr.add_argument("--command", help=argparse.SUPPRESS)
    tr.set_defaults(fn=cmd_transfer)

    trr = sub.add_parser("transfer-report", help="Markdown table of transfer grids (results.json files); with "
                                                "--out, replace the results block of a document")
    trr.add_argument("results", nargs="+", help="results.json files of `unibridge transfer`")
    trr.add_argument("--out", help="document holding <!-- results:begin --> ... <!-- results:end -->")
    trr.add_argument("--plot", help="also draw the configurations as grouped bars into this PNG")
    trr.add_argument("--json", action="store_true", help="print one JSON row per target, task and configuration")
    trr.set_defaults(fn=cmd_transfer_report)

    w = sub.add_parser("weights", help="source weights of finished runs (targets x sources) as a table and heatmap")
    w.add_argument("runs", nargs="+", help="run directories (runs/<target>)")
    w.add_argument("--strategy", default="harmony", type=_weights_choice(static_only=True),
                   help=f"weight strategy, not a per-batch one: {strategy_help()} (default harmony)")
    w.add_argument("--sources", nargs="*", help="restrict to these sources")
    w.add_argument("--task", choices=TASKS,
                   help="harmony weights chosen on this task's dev data where the run has them "
                        "(default: the recipe's distance and temperature)")
    w.add_argument("--out", help="heatmap PNG")
    w.add_argument("--json", action="store_true", help="print {target: {source: weight}} as JSON")
    w.set_defaults(fn=cmd_weights)

    v = sub.add_parser("vocab", help="Algorithm 1 vocabulary-size search (ALP) and SentencePiece training")
    v.add_argument("corpus", nargs="+")
    v.add_argument("--out", required=True)
    v.add_argument("--base", default="me5-small",
                   help="base model whose special tokens the tokenizer copies ('' to skip wrapping)")
    _config_arg(v, "--v-i", VocabConfig, "v_i", "initial vocabulary size (Algorithm 1)")
    _config_arg(v, "--v-m", VocabConfig, "v_m", "largest vocabulary size tried")
    _config_arg(v, "--delta", VocabConfig, "delta", "step between vocabulary sizes")
    _config_arg(v, "--eps", VocabConfig, "eps", "stop when the ALP gain of one step falls below this")
    _config_arg(v, "--sample-words", VocabConfig, "sample_words", "words per ALP sample (0: one line per sample)",
                zero_means_none=True)
    v.add_argument("--per-token", action="store_true", help="ALP per token instead of per sample (rescale --eps)")
    _config_arg(v, "--heldout", VocabConfig, "heldout_fraction",
                "score ALP on the last FRACTION of lines, trained without them", metavar="FRACTION")
    v.add_argument("--model-type", default="unigram", choices=["unigram", "bpe"])
    _config_arg(v, "--character-coverage", VocabConfig, "character_coverage",
                "default: 0.9995 for CJK text, else 1.0")
    v.add_argument("--strategy", default="fast", choices=["fast", "bisect", "full"],
                   help="fast: Algorithm 1's exact answer, one training per core in flight; bisect: fewer "
                        "trainings when the ALP curve is concave; full: every size up to the cap")
    v.add_argument("--workers", type=_count(),
                   help="concurrent trainings (default: cores, at most 8; 1: one at a time)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--no-progress", action="store_true")
    v.set_defaults(fn=cmd_vocab)

    i = sub.add_parser("init", help="initialise target embeddings with a plug-in; writes a PCA plot by script")
    i.add_argument("corpus", nargs="+", help="target-language text (fastText static spaces)")
    i.add_argument("--tokenizer", required=True, help="target tokenizer folder (e.g. runs/vocab-amh/tokenizer)")
    i.add_argument("--out", required=True)
    i.add_argument("--method", default="unibridge",
                   help="registered initializer: unibridge (default), focus, fvt, tema, va, script, script+posn, "
                        "ident, random, or one a plug-in registers (docs/embeddings.md)")
    i.add_argument("--base", default="me5-small")
    i.add_argument("--dictionary", action="append", help="bilingual dictionary file (tema), repeatable")
    _config_arg(i, "--augment-size", EmbeddingConfig, "augment_size",
                "va: target pieces added to the base vocabulary (as in Chau et al. 2020)")
    _config_arg(i, "--static-dim", EmbeddingConfig, "static_dim", "dimension of the fastText static spaces")
    _config_arg(i, "--static-epochs", EmbeddingConfig, "static_epochs", "fastText training epochs")
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--no-plot", action="store_true")
    i.set_defaults(fn=cmd_init)

    d = sub.add_parser("adapt", help="train a language adapter (+ invertible adapter, + new embeddings) with "
                                     "MLM + beta*KL; resumable; runs under torchrun / accelerate launch")
    d.add_argument("corpus", nargs="+", help="language text, one sentence or line per line")
    d.add_argument("--out", required=True, help="output folder: adapter/, embeddings.safetensors, history.json")
    d.add_argument("--base", default="me5-small")
    d.add_argument("--tokenizer", help="new-vocabulary tokenizer folder (unibridge vocab); omit for the base's")
    d.add_argument("--embeddings", help="its initial embeddings (embeddings.safetensors from unibridge init)")
    d.add_argument("--name", default="lang", help="adapter name (default: lang)")
    _config_arg(d, "--beta", SourceAdaptationConfig, "beta",
                "KL weight (default 1.0 with --tokenizer, else 0: MLM only)", default=None)
    d.add_argument("--regulariser", default="both", choices=["both", "anchor", "paper-kl", "none"],
                   help="both (default): beta*KL (Eq. 9) + anchor on the last layer's states; anchor; paper-kl; none")
    _config_arg(d, "--anchor-weight", SourceAdaptationConfig, "anchor_weight", "weight of the anchor term")
    d.add_argument("--mlm-head", default="fitted", choices=["fitted", "joint"],
                   help="fitted (default): head fitted on the frozen base, then frozen; joint: trained with the adapter")
    _config_arg(d, "--head-fit-steps", SourceAdaptationConfig, "head_fit_steps", "steps fitting the head alone")
    _config_arg(d, "--backbone-head-steps", SourceAdaptationConfig, "backbone_head_steps",
                "steps fitting the backbone's head once, cached (0: none)")
    d.add_argument("--kl-level", default="word", choices=["word", "sentence"])
    _config_arg(d, "--kl-temperature", SourceAdaptationConfig, "kl_temperature", "softmax temperature of the KL term")
    d.add_argument("--dictionary", action="append", help="bilingual dictionary for the ALIGN-MLM term, repeatable")
    _config_arg(d, "--align-alpha", AdaptationConfig, "align_alpha", "ALIGN-MLM weight (align-mlm.md used 10)")
    _config_arg(d, "--steps", TrainConfig, "max_steps", "optimizer steps (overrides --epochs)")
    _config_arg(d, "--epochs", TrainConfig, "epochs", "passes over the text")
    _config_arg(d, "--batch-size", TrainConfig, "batch_size", "sequences per optimizer step")
    _config_arg(d, "--lr", TrainConfig, "learning_rate", "learning rate")
    _config_arg(d, "--max-length", TrainConfig, "max_length", "tokens per sequence")
    d.add_argument("--max-lines", type=_count(), help="read at most this many lines")
    _config_arg(d, "--leave-out", SourceAdaptationConfig, "leave_out", "layers without an adapter", kind=int,
                nargs="*")
    _config_arg(d, "--eval-fraction", SourceAdaptationConfig, "eval_fraction",
                "held out for pseudo-perplexity (max 64 lines)")
    _config_arg(d, "--eval-steps", SourceAdaptationConfig, "eval_steps", "evaluate every N steps (0: at the end)")
    _config_arg(d, "--patience", SourceAdaptationConfig, "patience",
                "early stopping after N evaluations without gain")
    _config_arg(d, "--save-steps", SourceAdaptationConfig, "save_steps", "checkpoint every N steps (0: none)")
    d.add_argument("--no-resume", action="store_true", help="ignore checkpoints left in OUT/checkpoints")
    d.add_argument("--seed", type=int, default=42)
    d.set_defaults(fn=cmd_adapt)
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


if __name__ == "__main__":
    sys.exit(main())
