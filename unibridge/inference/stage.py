"""Stages 5 and 6 as services: harmony weights (:func:`build_harmony`) and the scores of a finished
run (:func:`evaluate_run`), called by the pipeline like the services of stages 1–4
(:func:`~unibridge.vocab.stage.build_vocabulary`, :func:`~unibridge.embeddings.stage.build_embeddings`,
:func:`~unibridge.adaptation.stage.adapt_language`, :func:`~unibridge.tasks.stage.adapt_task`).
Each takes its inputs explicitly (a model, tokenizers, the recipe, data) and writes into the
folder it is given; none reads a pipeline's state.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np

from ..artifacts import read_json, sources_above_floor, task_adapter_dir, write_json

log = logging.getLogger("unibridge")
Pairs = dict[str, list[tuple[str, str]]]


def combine_labels(out: dict, weights: dict[str, float], spec, n_labels: int) -> list[str]:
    """Labels of one :meth:`MultiSourcePredictor.predict` output (with ``source_logits``) when its
    per-source logits are combined with ``weights`` (Eq. 13); padded with ``spec.fill_label`` to
    ``n_labels`` (words past the length limit)."""
    logits = sum(weights[s] * l for s, l in out["source_logits"].items())
    pred = [spec.labels[k] for k in np.atleast_1d(logits.argmax(-1)).tolist()]
    return pred + [spec.fill_label] * (n_labels - len(pred))


def centroid_gaps(model, recipe, target_tokenizer, base_tokenizer, pairs: Pairs, on_source: bool = True,
                  say: Callable[[str], None] = log.info) -> dict:
    """Centroid gap (:func:`~unibridge.adaptation.diagnostics.centroid_gap`) between the target
    side of each source's K parallel sentences (``pairs[source]``: (target, source) sentences)
    under the target adapter and the source side under the source's adapter (``on_source``; else
    with no adapter, where task adapters train on the bare base), and the same gap on the bare
    base (no adapters, base tokenizer on both sides): how far apart the spaces the task adapters
    meet are. Returns ``{source: {"adapted": gap, "base": gap}}``."""
    from ..adaptation.diagnostics import centroid_gap, token_centroid

    r, gaps = recipe, {}
    for s in r.sources:
        tgt, src = [p[0] for p in pairs[s]], [p[1] for p in pairs[s]]
        adapted = centroid_gap(token_centroid(model, target_tokenizer, tgt, embeddings=r.target, adapter=r.target),
                               token_centroid(model, base_tokenizer, src, embeddings="default",
                                              adapter=s if on_source else None))
        base = centroid_gap(token_centroid(model, base_tokenizer, tgt, embeddings="default", adapter=None),
                            token_centroid(model, base_tokenizer, src, embeddings="default", adapter=None))
        gaps[s] = {"adapted": adapted, "base": base}
    say("centroid gap target/source (base): " + ", ".join(
        f"{s}={g['adapted']:.2f} ({g['base']:.2f})" for s, g in gaps.items()))
    return gaps


def harmony_of_kind(model, recipe, target_tokenizer, base_tokenizer, pairs: Pairs, on_source: bool,
                    say: Callable[[str], None] = log.info) -> tuple[dict, dict, dict]:
    """Harmony at the recipe's setting for one kind of task adapters: the source side under each
    source's language adapter (``on_source``) or on the bare base. Returns the weights record (with
    ``source_language_adapter``), the centroid gaps and both distance kinds."""
    from .weights import harmony_from_distances, harmony_weights

    r, cfg = recipe, recipe.harmony
    res = harmony_weights(model, target_tokenizer, base_tokenizer, target_embeddings=r.target,
                          target_adapter=r.target, pairs={s: pairs[s] for s in r.sources},
                          k=cfg.k, temperature=cfg.temperature, standardise=cfg.standardise,
                          source_adapters=on_source)
    gaps = centroid_gaps(model, recipe, target_tokenizer, base_tokenizer, pairs, on_source, say)
    distances = {"sentence": res["distances"], "centroid": {s: g["adapted"] for s, g in gaps.items()}}
    res.update(distance=cfg.distance, temperature=cfg.temperature, centroid_gap=distances["centroid"],
               weights=harmony_from_distances(distances[cfg.distance], cfg.temperature, cfg.standardise),
               source_language_adapter=on_source)
    return res, gaps, distances


def tune_harmony(model, recipe, run_dir: str | Path, task: str, dev: list, target_tokenizer,
                 distances: dict[str, dict[str, float]], on_source: bool) -> dict:
    """The harmony setting for ``task`` chosen on its target ``dev`` examples: per-source logits
    of the dev examples are computed once (the run's task adapters of kind ``on_source`` in
    ``run_dir`` stacked on the target adapter, as the predictor runs them), then every (distance
    kind, temperature) of the recipe is scored (:func:`~unibridge.inference.weights.choose_harmony`).
    Adds ``n_dev`` and ``dev_score_per_source`` (each source's task adapter alone on the same dev
    examples; recorded, not chosen from)."""
    from ..adaptation.model import ensure_adapter
    from ..tasks import get_task
    from ..tasks.train import task_adapter_name
    from .predictor import MultiSourcePredictor
    from .weights import choose_harmony

    r, cfg, spec = recipe, recipe.harmony, get_task(task)
    folders = {s: task_adapter_dir(run_dir, task, s, on_source) for s, src in r.sources.items() if src.task_files(task)}
    heads = {}
    for s in sources_above_floor(folders):  # a source whose adapter missed its floor gets no weight
        heads[s] = task_adapter_name(task, s) + ("" if on_source else "_base")
        ensure_adapter(model, heads[s], folders[s] / "adapter", with_head=True)
    model.set_active_embeddings(r.target)
    pred = MultiSourcePredictor.from_model(model, target_tokenizer, task, heads, language_adapter=r.target)
    out = pred.predict([spec.inputs(x) for x in dev], batch_size=r.evaluation.batch_size,
                       return_source_logits=True, progress=False)
    gold = [spec.gold(x) for x in dev]

    def score(weights: dict[str, float]) -> float:
        w = {s: weights.get(s, 0.0) for s in heads}
        return spec.metric(gold, [combine_labels(o, w, spec, len(g)) for o, g in zip(out, gold)])[spec.main_metric]

    chosen = choose_harmony({k: {s: d[s] for s in heads} for k, d in distances.items() if k in cfg.tune_distances},
                            score, temperatures=cfg.tune_temperatures, standardise=cfg.standardise,
                            preferred=(cfg.distance, cfg.temperature))
    per_source = {s: score({s: 1.0}) for s in heads}  # what each source's task adapter scores alone
    return {**chosen, "n_dev": len(dev), "dev_score_per_source": per_source}


def build_harmony(model, recipe, run_dir: str | Path, out_dir: str | Path, *, target_tokenizer, base_tokenizer,
                  pairs: Pairs, dev: dict[str, list], say: Callable[[str], None] = log.info) -> dict:
    """Stage 5: harmony weights (Eq. 10-12 of Pham et al. 2024) from both distance kinds, the
    recipe's setting as the default, and per task with ``dev`` examples the setting chosen on them
    (:func:`tune_harmony`). Under ``task.source_language_adapter: choose`` the distances and the
    dev choice are made for both kinds of task adapters, and each task with dev data keeps the
    kind whose chosen setting scores higher there (``source_language_adapter`` in each record;
    the top level holds the fall-back kind, the bare-base one).

    ``model`` holds the target's embeddings and adapter and every source language adapter a kind
    stacks on; ``run_dir`` the run's task adapters; ``pairs``: per source, its K (target, source)
    sentences. Writes ``weights.json``, ``diagnostics.json`` (centroid gaps) and ``weights.png``
    into ``out_dir`` and returns the weights record."""
    from .plot import plot_weight_heatmap

    r, cfg, out_dir = recipe, recipe.harmony, Path(out_dir)
    kinds = r.task.adapter_kinds
    per_kind = {k: harmony_of_kind(model, r, target_tokenizer, base_tokenizer, pairs, k, say) for k in kinds}
    res, gaps, _ = per_kind[kinds[-1]]
    res["tasks"] = {}
    for t, spec in r.tasks.items():
        if not (spec.dev and dev.get(t) and cfg.tune_distances and cfg.tune_temperatures):
            continue
        tuned = {k: tune_harmony(model, r, run_dir, t, dev[t], target_tokenizer, per_kind[k][2], k) for k in kinds}
        best = max(reversed(kinds), key=lambda k: tuned[k]["dev_score"])  # ties: the fall-back
        res["tasks"][t] = {**tuned[best], "source_language_adapter": best}
        if len(kinds) > 1:
            res["tasks"][t]["dev_score_per_kind"] = {("source" if k else "base"): tuned[k]["dev_score"] for k in kinds}
            # every setting's dev score for both kinds: what a default for targets without dev data is chosen on
            res["tasks"][t]["candidates_per_kind"] = {("source" if k else "base"): tuned[k]["candidates"] for k in kinds}
    write_json(out_dir / "weights.json", res)
    write_json(out_dir / "diagnostics.json", {"centroid_gap": gaps})
    plot_weight_heatmap({r.target: res["weights"], **{f"{r.target} {t} (dev)": c["weights"]
                                                      for t, c in res["tasks"].items()}},
                        out_dir / "weights.png", title="harmony weights", row_label="target (setting)")
    say("harmony weights: " + ", ".join(f"{s}={w:.3f}" for s, w in res["weights"].items()))
    for t, c in res["tasks"].items():
        kind = "" if len(kinds) == 1 else \
            ", task adapters " + ("on the source adapters" if c["source_language_adapter"] else "on the base")
        say(f"harmony weights for {t}, chosen on {c['n_dev']} dev examples ({c['distance']} distance, "
            f"T={c['temperature']:g}, dev {c['dev_score']:.3f}{kind}): "
            + ", ".join(f"{s}={w:.3f}" for s, w in c["weights"].items())
            + "; each source alone on dev: "
            + ", ".join(f"{s}={v:.3f}" for s, v in c["dev_score_per_source"].items()))
    return res


def evaluate_run(recipe, run_dir: str | Path, out_dir: str | Path, tests: dict[str, list]) -> dict:
    """Stage 6: score a run whose harmony stage is done on each task's ``tests`` examples, with the
    predictor a user gets (:class:`MultiSourcePredictor` on ``run_dir``) in one pass per task:
    the recipe's own weight strategy as the predictor combines it (a per-batch one re-weights
    each batch), every static strategy and every single source from that pass's per-source
    logits. Writes ``results.json`` into ``out_dir`` and returns ``{task: {"metric", "n_test",
    "weights", "harmony" (the setting used), "strategies": {name: metric dict}}}``."""
    from ..tasks import get_task
    from .predictor import MultiSourcePredictor
    from .strategies import resolve_weights, strategy_names
    from .weights import stored_weights

    r, scores = recipe, {}
    stored = read_json(Path(run_dir) / "harmony" / "weights.json")
    for task in r.tasks:
        spec = get_task(task)
        gold = tests[task]
        pred = MultiSourcePredictor(r.target, task, run_dir=run_dir, weights=r.harmony.strategy)
        out = pred.predict([spec.inputs(x) for x in gold], batch_size=r.evaluation.batch_size,
                           return_source_logits=True, progress=True)
        gold_tags = [spec.gold(x) for x in gold]
        names = [*strategy_names(static_only=True), *(f"single:{s}" for s in pred.sources)]
        task_scores = {}
        for name in dict.fromkeys([r.harmony.strategy, *names]):
            if name == r.harmony.strategy and pred.static:
                labels = [combine_labels(o, pred.weights, spec, len(g)) for o, g in zip(out, gold_tags)]
            elif name == r.harmony.strategy:
                labels = [o["labels"] if spec.kind.token_level else [o["labels"]] for o in out]
            else:
                w = resolve_weights(name, pred.sources, target=r.target, **stored_weights(stored, task))
                labels = [combine_labels(o, w, spec, len(g)) for o, g in zip(out, gold_tags)]
            task_scores[name] = spec.metric(gold_tags, labels)
        setting = stored["tasks"].get(task, stored)  # chosen on dev data, else the recipe's
        scores[task] = {"metric": spec.main_metric, "n_test": len(gold), "weights": pred.weights,
                        "harmony": {k: setting[k] for k in ("distance", "temperature", "dev_score", "n_dev")
                                    if k in setting},
                        "strategies": task_scores}
    write_json(Path(out_dir) / "results.json", scores)
    return scores
