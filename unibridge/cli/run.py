"""``unibridge run``, ``predict`` and ``evaluate``: a recipe end to end, and a finished run used."""

from __future__ import annotations

import contextlib
import json
import sys

from .options import count_type, text_table, weights_choice


def format_results(result) -> str:
    """Scores (per task and weight strategy) and per-stage wall time as plain-text tables."""
    rows = []
    for task, s in result.scores.items():
        metric = s["metric"]
        for name, m in s["strategies"].items():
            rows.append([task, name, metric, f"{100 * m[metric]:.2f}"])
    out = [text_table(rows, ["task", "weights", "metric", "score (%)"])] if rows else []
    t = [[k, f"{v:.1f}", "cached" if k in result.cached else ""] for k, v in result.timings.items()]
    t.append(["total", f"{sum(result.timings.values()):.1f}", ""])
    out.append(text_table(t, ["stage", "wall time (s)", ""]))
    return "\n\n".join(out)


def cmd_run(a) -> int:
    """``unibridge run``: a recipe's stages (cached ones skipped), then its scores and stage times."""
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
    """``unibridge predict``: one output line per input, as its task's kind writes it: ``word/label``
    per word (tagging), ``label<TAB>input`` (a pair or a text)."""
    from ..inference import MultiSourcePredictor

    p = MultiSourcePredictor(a.target, a.task, run_dir=a.run_dir, weights=a.weights)
    inputs = [p.task.kind.parse_line(t, a.task) for t in a.texts]
    rich = p.predict(inputs, return_probs=a.json)
    if a.json:  # one record per input: words (or the pair), labels, probabilities in p.labels' order
        print(json.dumps({"labels": p.labels, "weights": p.weights, "predictions": [
            {"input": r["input"] if isinstance(r["input"], str) else list(r["input"]), "labels": r["labels"],
             "probs": r["probs"].round(6).tolist()}
            for r in rich]}, ensure_ascii=False, indent=2))
        return 0
    for text, out in zip(a.texts, rich):
        print(p.task.kind.format_line(text, out))
    return 0


def cmd_evaluate(a) -> int:
    """``unibridge evaluate``: the scores of a finished run on test files, as ``key=value`` on one line."""
    from ..config import check_label_map
    from ..inference import MultiSourcePredictor
    from ..tasks import get_task

    check_label_map(a.task, a.label_map, "--label-map")
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


def add_parser(sub) -> None:
    """Register ``run``, ``predict`` and ``evaluate`` on the subparsers ``sub``."""
    from ..config import STAGES
    from ..registry import TASKS
    from ..inference.strategies import strategy_help

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

    p = sub.add_parser("predict", help="tag sentences (pos, ner), classify pairs (nli) or texts (topic) with a "
                                       "finished run")
    p.add_argument("texts", nargs="+", help="inputs: for pos and ner sentences (words separated by spaces), for "
                                            "nli \"premise ||| hypothesis\", for topic texts")
    p.add_argument("--target", required=True)
    p.add_argument("--task", required=True, choices=TASKS.names())
    p.add_argument("--run-dir")
    p.add_argument("--weights", default="harmony", type=weights_choice(),
                   help=f"weight strategy: {strategy_help()} (default harmony)")
    p.add_argument("--json", action="store_true",
                   help="print the labels with their probabilities (in the order of 'labels') as JSON")
    p.set_defaults(fn=cmd_predict)

    e = sub.add_parser("evaluate", help="score a finished run on a test file")
    e.add_argument("--target", required=True)
    e.add_argument("--task", required=True, choices=TASKS.names())
    e.add_argument("--test", required=True, action="append", help="test file (relative to UNIBRIDGE_DATA or absolute)")
    e.add_argument("--label-map", help="NER label mapping, e.g. masakhaner")
    e.add_argument("--limit", type=count_type(), help="score at most this many examples")
    e.add_argument("--run-dir")
    e.add_argument("--weights", default="harmony", type=weights_choice(),
                   help=f"weight strategy: {strategy_help()} (default harmony)")
    e.add_argument("--mode", default="parallel", choices=["parallel", "sequential", "merge"],
                   help="merge: one task adapter averaged with the weights (faster, approximate)")
    e.add_argument("--json", action="store_true", help="print the scores as JSON")
    e.set_defaults(fn=cmd_evaluate)
