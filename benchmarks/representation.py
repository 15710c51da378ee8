"""Does a language adapter keep the space task adapters read? Original recipe vs ours, same run.

Model: me5-small as an ``adapters`` model with a MAD-X language adapter (SeqBnInv, reduction
factors 2 and 2) for English, trained on FLORES-200 devtest English (the `en` source's text),
batch 16 × ≤ 64 tokens, lr 1e-3 with 10% warmup, the same steps for every setting (the backbone head is the
pipeline's, fitted once and cached):

    joint      - the original recipe: a fresh MLM head trained with the adapter, MLM only
                 (how source and MAD-X adapters were trained);
    joint+kl   - the same with the paper's KL term (β = 1, Eq. 9);
    fitted     - the head fitted on the frozen base and frozen (bias from log unigram
                 frequencies, transform from the backbone head), MLM only;
    default    - fitted head + KL + the anchor term (the library's defaults).

After training each setting, :func:`~unibridge.adaptation.diagnostics.representation_diagnostics`
is measured on 128 held-out lines (the last lines of the text, never trained on): between-example
share of variance of the last layer's states (mean-pooled and first token), pairwise cosine of
different sentences, and per-layer word cosine with the base. The ratio is the default's
mean-pooled spread over the joint recipe's.

    python benchmarks/representation.py [--quick] [--steps N]

Writes benchmarks/results/representation.json (--quick: representation_quick.json); the last line
printed is ``RESULT representation ...``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from results_io import write_result

TEXT = "parallel/flores200_devtest/devtest/eng_Latn.devtest"
RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "amh.yaml"
SETTINGS = {
    "joint": {"mlm_head": "joint", "regulariser": "none"},
    "joint+kl": {"mlm_head": "joint", "regulariser": "paper-kl"},
    "fitted": {"mlm_head": "fitted", "regulariser": "none"},
    "default": {},
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="25 adapter steps per setting (about 3 minutes once the "
                                                          "backbone head is cached)")
    ap.add_argument("--steps", type=int, help="adapter training steps per setting (default 200, the cpu profile's; "
                                              "quick 25)")
    a = ap.parse_args(argv)
    steps = a.steps or (25 if a.quick else 200)

    import logging

    import transformers

    transformers.logging.set_verbosity_error()
    logging.getLogger("adapters").setLevel(logging.ERROR)
    from unibridge.adaptation.diagnostics import representation_diagnostics
    from unibridge.adaptation.model import add_language_adapter
    from unibridge.adaptation.train import train_language_adapter
    from unibridge.config import Recipe, SourceAdaptationConfig, TrainConfig
    from unibridge.data import read_text
    from unibridge.pipeline import Pipeline

    pipe = Pipeline(Recipe.load(RECIPE, "cpu"), "/tmp/unibridge-representation-run")
    model, tok = pipe.model(), pipe.base_tokenizer
    lines = read_text([TEXT])
    train, held = lines[:-128], lines[-128:]
    t0 = time.perf_counter()
    info = pipe.backbone_head_info()  # the one every run uses (shipped for me5-small)
    bhead, breport = info.head, {**info.report, "origin": info.origin, "digest": info.digest}
    print(f"backbone head: {breport} ({time.perf_counter() - t0:.0f} s)")
    out: dict = {"steps": steps, "backbone_head": breport, "settings": {}}
    for name, change in SETTINGS.items():
        cfg = SourceAdaptationConfig(**change, head_fit_steps=50 if a.quick else 200,
                                     train=TrainConfig(max_steps=steps, batch_size=16, max_length=64,
                                                       learning_rate=1e-3, warmup_ratio=0.1))
        torch.manual_seed(0)
        add_language_adapter(model, "en", 2, 2)
        t0 = time.perf_counter()
        _, hist = train_language_adapter(model, tok, train, "en", cfg=cfg, train_embeddings=False,
                                         base_tokenizer=tok, seed=42, output_dir="/tmp/unibridge-representation",
                                         resume=False, head_init=bhead)
        secs = time.perf_counter() - t0
        d = representation_diagnostics(model, tok, held, embeddings="default", adapter="en", base_tokenizer=tok)
        logs = [h for h in hist if "mlm_loss" in h]
        out["settings"][name] = {**d, "seconds": round(secs, 1), "mlm_first": logs[0]["mlm_loss"],
                                 "mlm_last": logs[-1]["mlm_loss"], "config": change}
        print(f"{name:9s} spread_mean {d['adapted']['spread_mean']:.3f} (base {d['base']['spread_mean']:.3f})  "
              f"spread_first {d['adapted']['spread_first']:.3f} (base {d['base']['spread_first']:.3f})  "
              f"pairwise cos {d['adapted']['pairwise_cosine']:.3f}  last-layer cos {d['layer_cosine'][-1]:.3f}  "
              f"MLM {logs[0]['mlm_loss']:.2f}->{logs[-1]['mlm_loss']:.2f}  {secs:.0f} s", flush=True)
        model.delete_adapter("en")
    out["command"] = "python benchmarks/representation.py" + (" --quick" if a.quick else "")
    write_result("representation", out, a.quick)
    s = out["settings"]
    base = s["default"]["base"]["spread_mean"]
    print(f"RESULT representation steps={steps} base_spread={base} joint_spread={s['joint']['adapted']['spread_mean']} "
          f"default_spread={s['default']['adapted']['spread_mean']} "
          f"ratio={s['default']['adapted']['spread_mean'] / max(1e-9, s['joint']['adapted']['spread_mean']):.2f} "
          f"last_layer_cos_joint={s['joint']['layer_cosine'][-1]} last_layer_cos_default={s['default']['layer_cosine'][-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
