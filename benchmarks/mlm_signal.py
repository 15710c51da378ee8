"""How much MLM signal does the backbone's last layer carry? Masked-token decodability per layer.

A language adapter's MLM loss is read from the last layer through a head fitted on the frozen
base (docs/adaptation.md). This benchmark measures, on held-out target text, how much of a masked
token's identity such a head can read from each layer of the frozen backbone
(:func:`unibridge.adaptation.head.layer_decodability`): held-out masked-token accuracy and loss of
a head fitted per layer (transform from the pipeline's backbone head, bias from the text's
unigram frequencies, decoder = the embedding rows), against the frequency prior alone (the bias).
The ratio is the last layer's accuracy over the best layer's.

    python benchmarks/mlm_signal.py [--quick] [--text GLOB] [--lines N]

Default text: the Tamil news headlines of recipes/tam.yaml (3,200 lines fitted twice masked,
256 held out); quick: 800 lines, 4 epochs. Writes benchmarks/results/mlm_signal.json (--quick:
mlm_signal_quick.json); the last line printed is ``RESULT mlm_signal ...``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from results_io import write_result

TEXT = "mono/tamil_news_headlines_vanangamudi/dataset/news/text.txt"
RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "tam.yaml"
LAYERS = [0, 2, 4, 6, 8, 10, 12]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="800 lines and 4 epochs per layer (about 2 minutes)")
    ap.add_argument("--text", default=TEXT, help=f"target text under the data root (default {TEXT})")
    ap.add_argument("--lines", type=int, help="lines to fit on (default 3200, quick 800)")
    a = ap.parse_args(argv)
    n_lines = a.lines or (800 if a.quick else 3200)

    import logging

    import transformers

    transformers.logging.set_verbosity_error()
    logging.getLogger("adapters").setLevel(logging.ERROR)
    from unibridge.adaptation.head import layer_decodability
    from unibridge.config import Recipe
    from unibridge.data import read_text
    from unibridge.pipeline import Pipeline

    pipe = Pipeline(Recipe.load(RECIPE, "cpu"), "/tmp/unibridge-mlm-signal-run")
    model, tok = pipe.model(), pipe.base_tokenizer
    head = pipe.backbone_head()
    lines = [t for t in read_text([a.text]) if t.strip()]
    random.Random(0).shuffle(lines)
    held, train = lines[:256], lines[256:256 + n_lines]
    layers = [k for k in LAYERS if k <= model.config.num_hidden_layers]
    t0 = time.perf_counter()
    out = layer_decodability(model, tok, train, held, layers=layers, init=head, epochs=4 if a.quick else 8)
    secs = time.perf_counter() - t0
    print(f"frequency prior alone: held-out accuracy {out['prior']['accuracy']:.2f}%, loss {out['prior']['loss']:.3f}")
    for k, r in out["layers"].items():
        print(f"layer {k:2d}: held-out accuracy {r['accuracy']:5.2f}%, loss {r['loss']:.3f}")
    last = out["layers"][layers[-1]]
    best = max(out["layers"], key=lambda k: out["layers"][k]["accuracy"])
    record = {**out, "layers": {str(k): v for k, v in out["layers"].items()}, "text": a.text, "lines": len(train),
              "heldout_lines": len(held), "seconds": round(secs, 1), "base_model": pipe.recipe.base_model,
              "command": "python benchmarks/mlm_signal.py" + (" --quick" if a.quick else "")}
    write_result("mlm_signal", record, a.quick)
    print(f"RESULT mlm_signal last_layer_acc={last['accuracy']} best_layer={best} "
          f"best_acc={out['layers'][best]['accuracy']} prior_acc={out['prior']['accuracy']} "
          f"ratio={last['accuracy'] / max(1e-9, out['layers'][best]['accuracy']):.2f} seconds={secs:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
