"""Does a language adapter keep the space task adapters read? Original recipe vs ours, same run.

Model: me5-small as an ``adapters`` model with a MAD-X language adapter (SeqBnInv, reduction
factors 2 and 2) for English, trained on FLORES-200 devtest English (the `en` source's text),
batch 16 × ≤ 64 tokens, lr 1e-3, the same steps for every setting:

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

Writes benchmarks/results/representation.json; the last line printed is ``RESULT representation ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
TEXT = "parallel/flores200_devtest/devtest/eng_Latn.devtest"
SETTINGS = {
    "joint": {"mlm_head": "joint", "regulariser": "none"},
    "joint+kl": {"mlm_head": "joint", "regulariser": "paper-kl"},
    "fitted": {"mlm_head": "fitted", "regulariser": "none"},
    "default": {},
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="25 adapter steps, 50 head steps (about 3 minutes)")
    ap.add_argument("--steps", type=int, help="adapter training steps per setting (default 100; quick 25)")
    ap.add_argument("--head-steps", type=int, help="backbone head fitting steps (default 300; quick 50)")
    a = ap.parse_args(argv)
    steps = a.steps or (25 if a.quick else 100)
    head_steps = a.head_steps or (50 if a.quick else 300)

    import logging

    import transformers

    transformers.logging.set_verbosity_error()
    logging.getLogger("adapters").setLevel(logging.ERROR)
    from unibridge.adaptation.diagnostics import representation_diagnostics
    from unibridge.adaptation.head import backbone_head
    from unibridge.adaptation.model import add_language_adapter, load_adapter_model
    from unibridge.adaptation.train import train_language_adapter
    from unibridge.backbones import load_tokenizer, resolve_backbone
    from unibridge.config import SourceAdaptationConfig, TrainConfig
    from unibridge.data import read_text

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    base_dir = resolve_backbone("me5-small")
    tok = load_tokenizer(base_dir)
    model = load_adapter_model(base_dir)
    lines = read_text([TEXT])
    train, held = lines[:-128], lines[-128:]
    flores = sorted((Path(os.environ.get("UNIBRIDGE_DATA", "../shared/data")) /
                     "parallel/flores200_devtest/devtest").glob("*.devtest"))
    multi = [ln for f in flores for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()
             and "eng_Latn" not in f.name]
    t0 = time.perf_counter()
    bhead, breport = backbone_head(model, tok, multi, name="me5-small", steps=head_steps)
    head_s = time.perf_counter() - t0
    print(f"backbone head: {breport} ({head_s:.0f} s)")
    out: dict = {"steps": steps, "backbone_head": breport, "settings": {}}
    for name, change in SETTINGS.items():
        cfg = SourceAdaptationConfig(**change, head_fit_steps=50 if a.quick else 100,
                                     train=TrainConfig(max_steps=steps, batch_size=16, max_length=64,
                                                       learning_rate=1e-3))
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
    RESULTS.mkdir(parents=True, exist_ok=True)
    out["command"] = "python benchmarks/representation.py" + (" --quick" if a.quick else "")
    tmp = RESULTS / ".representation.json.tmp"
    tmp.write_text(json.dumps(out, indent=2))
    os.replace(tmp, RESULTS / "representation.json")
    s = out["settings"]
    base = s["default"]["base"]["spread_mean"]
    print(f"RESULT representation steps={steps} base_spread={base} joint_spread={s['joint']['adapted']['spread_mean']} "
          f"default_spread={s['default']['adapted']['spread_mean']} "
          f"ratio={s['default']['adapted']['spread_mean'] / max(1e-9, s['joint']['adapted']['spread_mean']):.2f} "
          f"last_layer_cos_joint={s['joint']['layer_cosine'][-1]} last_layer_cos_default={s['default']['layer_cosine'][-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
