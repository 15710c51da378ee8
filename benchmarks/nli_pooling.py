"""Does an NLI task adapter train on me5-small? First-token against mean-pooled classification head.

The task adapters of the ``cpu`` profile (150 steps, batch 16, lr 3e-3, 64 tokens) are trained on
English XNLI pairs with each head (``task.pooling``: ``first``, adapters' ClassificationHead, and
``mean``, :mod:`unibridge.heads`), stacked on the shipped English source language adapter and on
the bare base, and scored on held-out English XNLI pairs and on the AmericasNLI Quechua dev split
(never the test sets). The ratio is the mean-pooled head's held-out English accuracy over the
first-token head's, on the language adapter.

    python benchmarks/nli_pooling.py [--quick] [--steps N]

Training pairs: the first 2,000 of XNLI dev-en; held out: the other 490. Quick: 40 steps, on
the language adapter only (about 3 minutes). Writes benchmarks/results/nli_pooling.json (--quick:
nli_pooling_quick.json); the last line printed is ``RESULT nli_pooling ...``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from results_io import write_result

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "quy.yaml"
EN = "nli/xnli_dev_xtreme/dev-en.tsv"
QUY_DEV = "nli/americasnli/dev/quy.tsv"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="40 steps, language adapter only (about 3 minutes)")
    ap.add_argument("--steps", type=int, help="training steps per task adapter (default 150, quick 40)")
    a = ap.parse_args(argv)
    steps = a.steps or (40 if a.quick else 150)

    import dataclasses
    import logging

    import transformers

    transformers.logging.set_verbosity_error()
    logging.getLogger("adapters").setLevel(logging.ERROR)
    from unibridge.config import Recipe
    from unibridge.data import read_nli_tsv
    from unibridge.hub.sources import restore_shipped
    from unibridge.inference.predictor import MultiSourcePredictor
    from unibridge.pipeline import Pipeline
    from unibridge.tasks import get_task
    from unibridge.tasks.train import task_adapter_name, train_task_adapter

    recipe = Recipe.load(RECIPE, "cpu")
    work = Path(tempfile.mkdtemp(prefix="unibridge-nli-pooling-"))
    pipe = Pipeline(recipe, work / "run")
    model, tok, task = pipe.model(), pipe.base_tokenizer, get_task("nli")
    lang_dir = work / "run" / "sources" / "en"
    if not restore_shipped(lang_dir, pipe.source_fingerprint("en"), "source-en"):
        print("no shipped English source adapter matches the cpu profile (adapters_hub/sources)", file=sys.stderr)
        return 2
    model.load_adapter(str(lang_dir / "adapter"), load_as="en", with_head=False, use_safetensors=True)
    pairs = read_nli_tsv(EN)
    train, held = pairs[:2000], pairs[2000:]
    quy = read_nli_tsv(QUY_DEV)
    name = task_adapter_name("nli", "en")
    rows = []
    for pooling in ("first", "mean"):
        for on_lang in (True,) if a.quick else (True, False):
            cfg = dataclasses.replace(recipe.task, pooling=pooling,
                                      train=dataclasses.replace(recipe.task.train, max_steps=steps))
            t0 = time.perf_counter()
            hist = train_task_adapter(model, tok, train, task, "en", cfg=cfg, seed=recipe.seed,
                                      output_dir=str(work / "trainer"), language_adapter=on_lang)
            pred = MultiSourcePredictor.from_model(model, tok, "nli", {"en": name},
                                                   language_adapter="en" if on_lang else None)
            row = {"pooling": pooling, "on": "en adapter" if on_lang else "bare base",
                   "held_out_en": pred.evaluate(held, batch_size=64, progress=False)["accuracy"],
                   "quy_dev": pred.evaluate(quy, batch_size=64, progress=False)["accuracy"],
                   "first_loss": hist[0]["loss"], "last_loss": hist[-1]["loss"],
                   "seconds": round(time.perf_counter() - t0, 1)}
            rows.append(row)
            print(f"{pooling:>5} head on the {row['on']:<10}  loss {row['first_loss']:.3f} -> {row['last_loss']:.3f}  "
                  f"held-out en {100 * row['held_out_en']:.1f}  quy dev {100 * row['quy_dev']:.1f}  ({row['seconds']} s)",
                  flush=True)
            model.delete_adapter(name)
            model.delete_head(name)
    acc = {(r["pooling"], r["on"]): r["held_out_en"] for r in rows}
    ratio = acc[("mean", "en adapter")] / acc[("first", "en adapter")]
    write_result("nli_pooling", {"steps": steps, "quick": a.quick, "train_pairs": len(train),
                                 "held_out_pairs": len(held), "quy_dev_pairs": len(quy), "rows": rows,
                                 "ratio": ratio}, a.quick)
    print(f"RESULT nli_pooling steps={steps} first_en={100 * acc[('first', 'en adapter')]:.1f} "
          f"mean_en={100 * acc[('mean', 'en adapter')]:.1f} ratio={ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
