"""How much does an embedding initialisation alone carry? Dev accuracy before any adaptation.

For each SIB-200 target (default: the three whose scripts the base cannot read), the target
vocabulary of its recipe (stage 1 of the ``cpu`` profile, seed 42) is initialised by each
initializer, and the shipped bare-base topic task adapters of the five sources read the target's
dev sentences through those embeddings, with no language adapter and no training: the accuracy
of each source alone and of their uniform ensemble. The baseline, in the same run, is zero-shot:
the same task adapters reading the base tokenizer's pieces. The ratio is the best initializer's
ensemble accuracy over zero-shot's, averaged over the targets. Choosing an initializer this way
costs seconds per method instead of a grid run; the dev split, never the test split, is read.

    python benchmarks/init_probe.py [--quick] [--target T ...] [--method M ...]

Quick: Santali alone (about 2 minutes). Writes benchmarks/results/init_probe.json (--quick:
init_probe_quick.json); the last line printed is ``RESULT init_probe ...``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from results_io import write_result

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
TARGETS = ("sat", "tzm", "bod")
METHODS = ("unibridge", "fvt", "roman", "align")


def probe_target(target: str, methods: list[str], work: Path) -> dict:
    """Per method (and zero-shot) the dev accuracy of each source's bare-base topic task adapter and
    of their uniform ensemble, read through the method's initial embeddings; plus the
    initializers' row counts and seconds."""
    from unibridge.adaptation.model import attach_embeddings
    from unibridge.artifacts import task_adapter_dir
    from unibridge.backbones import load_input_embeddings, load_tokenizer
    from unibridge.config import Recipe
    from unibridge.embeddings import initialize_embeddings
    from unibridge.hub.sources import restore_shipped
    from unibridge.inference.predictor import MultiSourcePredictor
    from unibridge.pipeline import Pipeline
    from unibridge.tasks.train import task_adapter_name

    recipe = Recipe.load(RECIPES / f"{target}.yaml", "cpu")
    pipe = Pipeline(recipe, work / target)
    pipe.run(only=["vocab"])
    model, base_tok = pipe.model(), pipe.base_tokenizer
    heads = {}
    for lang in recipe.sources:
        path = task_adapter_dir(pipe.run_dir, "topic", lang, on_source=False)
        if not restore_shipped(path, pipe.source_fingerprint(lang, "topic", on_source=False), f"task-topic-{lang}"):
            raise SystemExit(f"benchmarks: no shipped bare-base topic task adapter for '{lang}' matches the cpu "
                             "profile (adapters_hub/sources)")
        heads[lang] = task_adapter_name("topic", lang)
        model.load_adapter(str(path / "adapter"), load_as=heads[lang], with_head=True, use_safetensors=True)
    dev = pipe.dev_examples("topic")
    tgt_tok = load_tokenizer(pipe.run_dir / "vocab" / "tokenizer")
    E_S = load_input_embeddings(str(pipe.base_dir))
    parallel = pipe.parallel_pairs()

    def score(tokenizer) -> dict:
        out = {}
        for name, h in [*((lang, {lang: heads[lang]}) for lang in heads), ("ensemble", heads)]:
            pred = MultiSourcePredictor.from_model(model, tokenizer, "topic", h, language_adapter=None, max_length=64)
            out[name] = pred.evaluate(dev, batch_size=64, progress=False)["accuracy"]
        return out

    model.set_active_embeddings("default")
    rows = {"zero-shot": {"accuracy": score(base_tok)}}
    for method in methods:
        t0 = time.perf_counter()
        res = initialize_embeddings(method, source_embeddings=E_S, source_tokenizer=base_tok, target_tokenizer=tgt_tok,
                                    corpus=pipe.mono, seed=recipe.seed, parallel=parallel,
                                    workdir=pipe.run_dir / "cache" / "static")
        seconds = round(time.perf_counter() - t0, 1)
        attach_embeddings(model, "target", tgt_tok, res.embeddings)
        rows[method] = {"accuracy": score(tgt_tok), "report": res.report, "seconds": seconds}
        model.set_active_embeddings("default")
        model.delete_embeddings("target")
    for name, row in rows.items():
        acc = row["accuracy"]
        print(f"{target:>4} {name:<10} ensemble {100 * acc['ensemble']:5.1f}  alone "
              + " ".join(f"{lang}={100 * acc[lang]:.1f}" for lang in heads)
              + (f"  ({row['seconds']} s; {row['report']})" if "report" in row else ""), flush=True)
    return {"dev_examples": len(dev), "parallel_pairs": len(parallel), "rows": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="Santali alone (about 2 minutes)")
    ap.add_argument("--target", action="append", help=f"SIB-200 target recipe (repeatable; default {', '.join(TARGETS)})")
    ap.add_argument("--method", action="append", help=f"initializer (repeatable; default {', '.join(METHODS)})")
    a = ap.parse_args(argv)
    targets = a.target or (["sat"] if a.quick else list(TARGETS))
    methods = a.method or list(METHODS)

    import logging

    import transformers

    transformers.logging.set_verbosity_error()
    logging.getLogger("adapters").setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="unibridge-init-probe-"))
    per_target = {t: probe_target(t, methods, work) for t in targets}
    ens = {m: statistics.fmean(r["rows"][m]["accuracy"]["ensemble"] for r in per_target.values())
           for m in ["zero-shot", *methods]}
    best = max(methods, key=lambda m: ens[m])
    ratio = ens[best] / ens["zero-shot"] if ens["zero-shot"] else float("inf")
    write_result("init_probe", {"quick": a.quick, "targets": per_target, "mean_ensemble": ens, "best": best,
                                "ratio": ratio}, a.quick)
    print(f"RESULT init_probe targets={','.join(targets)} zero_shot={100 * ens['zero-shot']:.1f} "
          + " ".join(f"{m}={100 * ens[m]:.1f}" for m in methods) + f" best={best} ratio={ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
