"""Multi-source inference: one Parallel pass against one Stack pass per source, same run.

Model: me5-small as an ``adapters`` model with a language adapter (SeqBnInv) and five task
adapters (SeqBn, reduction factor 16) with UPOS tagging heads, one per source (en, zh, ru, ar,
ja), weights drawn at random (std 0.05) so that the sources disagree. Input: Amharic news
sentences, batches of 32.

    sequential - batches in input order, five forward passes per batch with Stack(lang, task_s)
                 (what the paper's code does), logits summed with the weights;
    parallel   - the same batches, one pass with Stack(lang, Parallel(task_en, ..., task_ja));
    predictor  - what ``MultiSourcePredictor`` does: batches of similar length
                 (``length_sorted_batches``) and the Parallel pass;
    merge      - the predictor's batches through one task adapter and head averaged from the
                 five with the same weights (adapters' ``average_adapter`` / ``average_head``).

Reported: sentences/s of each; ``ratio`` = predictor / sequential, ``ratio_composition`` =
parallel / sequential on the same batches; whether the predictor gives the sequential loop's
labels on every token (``identical``) and the largest logit difference; how often the merged
adapter's labels agree with the ensemble's. With ``--run DIR`` (a finished run) the merged
and ensembled predictors are also scored on the run's POS test set.

    python benchmarks/inference.py [--quick] [--run runs/amh]

Writes benchmarks/results/inference.json (--quick: inference_quick.json); the last line printed is
``RESULT inference ...``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from pathlib import Path

import torch

from results_io import write_result

CORPUS = "mono/masakhane_ner_text_by_language/amharic/amharic_news.txt"
SOURCES = ["en", "zh", "ru", "ar", "ja"]


def build(n_labels: int = 17):
    from adapters import SeqBnConfig

    from unibridge.adaptation.model import add_language_adapter, load_adapter_model
    from unibridge.backbones import backbone_tokenizer, resolve_backbone

    torch.manual_seed(0)
    model = load_adapter_model(resolve_backbone("me5-small"))
    add_language_adapter(model, "amh")
    heads = []
    for s in SOURCES:
        name = f"pos_{s}"
        model.add_adapter(name, config=SeqBnConfig(reduction_factor=16))
        model.add_tagging_head(name, num_labels=n_labels)
        heads.append(name)
    for n, p in model.named_parameters():
        if ".adapters." in n or "heads." in n or "invertible" in n:
            torch.nn.init.normal_(p, std=0.05)
    model.eval()
    return model, backbone_tokenizer("me5-small"), heads


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer sentences (< 3 min)")
    ap.add_argument("--sentences", type=int, help="sentences per variant (default 256, quick 96)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--run", help="a finished run directory: also score merge vs ensemble on its POS test set")
    a = ap.parse_args()
    if not os.environ.get("UNIBRIDGE_DATA"):
        os.environ["UNIBRIDGE_DATA"] = str(Path(__file__).resolve().parents[2] / "shared" / "data")
    logging.getLogger("adapters").setLevel(logging.ERROR)
    torch.set_num_threads(os.cpu_count() or 1)
    n = a.sentences or (96 if a.quick else 256)

    from unibridge.data import read_text
    from unibridge.inference.predictor import source_logits

    lines = [x for x in read_text([CORPUS]) if 8 <= len(x.split()) <= 40][:n]
    model, tok, heads = build()
    weights = torch.softmax(torch.randn(len(SOURCES), generator=torch.Generator().manual_seed(1)), 0)
    w = weights.view(-1, 1, 1, 1)
    model.average_adapter("pos_merged", heads, weights=weights.tolist())
    model.average_head("pos_merged", heads, weights=weights.tolist())
    model.eval()
    from unibridge.inference.predictor import length_sorted_batches

    def encode(idx):
        return tok([lines[i] for i in idx], padding=True, truncation=True, max_length=128, return_tensors="pt")

    plain = [list(range(i, min(i + a.batch_size, len(lines)))) for i in range(0, len(lines), a.batch_size)]
    lengths = [len(x) for x in tok(lines, truncation=True, max_length=128)["input_ids"]]
    grouped = length_sorted_batches(lengths, a.batch_size)

    def run(order, mode: str) -> tuple[float, dict[int, torch.Tensor]]:
        names = ["pos_merged"] if mode == "merge" else heads
        warm = encode(order[0][:2])
        source_logits(model, warm["input_ids"], warm["attention_mask"], "amh", names,
                      mode="sequential" if mode == "sequential" else "parallel")
        out: dict[int, torch.Tensor] = {}
        t0 = time.perf_counter()
        for idx in order:
            b = encode(idx)
            if mode == "merge":
                logits = source_logits(model, b["input_ids"], b["attention_mask"], "amh", names)[0]
            else:
                logits = (source_logits(model, b["input_ids"], b["attention_mask"], "amh", names, mode=mode) * w).sum(0)
            for j, i in enumerate(idx):
                out[i] = logits[j, : int(b["attention_mask"][j].sum())]
        return time.perf_counter() - t0, out

    t_seq, seq = run(plain, "sequential")
    t_par, par = run(plain, "parallel")
    t_pred, pred = run(grouped, "parallel")
    t_mer, mer = run(grouped, "merge")
    max_diff = max(float((pred[i] - seq[i]).abs().max()) for i in seq)
    identical = all(torch.equal(pred[i].argmax(-1), seq[i].argmax(-1)) for i in seq) and \
        all(torch.equal(par[i].argmax(-1), seq[i].argmax(-1)) for i in seq)
    n_tok = sum(len(v) for v in seq.values())
    agree = sum(int((mer[i].argmax(-1) == pred[i].argmax(-1)).sum()) for i in seq) / n_tok
    sps = {k: len(lines) / t for k, t in (("sequential", t_seq), ("parallel", t_par), ("predictor", t_pred),
                                          ("merge", t_mer))}
    ratio = sps["predictor"] / sps["sequential"]
    padded = {"input order": sum(len(b) * max(lengths[i] for i in b) for b in plain),
              "by length": sum(len(b) * max(lengths[i] for i in b) for b in grouped)}

    print(f"\n{len(lines)} sentences ({n_tok} tokens) in batches of {a.batch_size}, {len(SOURCES)} sources, "
          f"me5-small, {os.cpu_count()} CPU cores; padded tokens per source: {padded}")
    header = f"{'mode':11s} {'sentences/s':>12s} {'x sequential':>13s}"
    print(header + "\n" + "-" * len(header))
    for k, v in sps.items():
        print(f"{k:11s} {v:12.1f} {v / sps['sequential']:13.2f}")
    print(f"predictor vs sequential: same labels {identical}, max |logit diff| {max_diff:.2e}; "
          f"merged adapter agrees with the ensemble on {100 * agree:.1f}% of tokens")

    scores = None
    if a.run:
        from unibridge import MultiSourcePredictor
        from unibridge.artifacts import read_json
        from unibridge.tasks import get_task

        recipe = read_json(Path(a.run) / "run.json")["recipe"]
        spec = get_task("pos")
        test = [s for f in recipe["tasks"]["pos"]["test"] for s in spec.read(f)]
        p = MultiSourcePredictor(recipe["target"], "pos", run_dir=a.run)
        scores = {m: p.evaluate(test, mode=m, progress=False)["accuracy"] for m in ("parallel", "merge")}
        print(f"{a.run} POS accuracy: ensemble {scores['parallel']:.4f}, merged {scores['merge']:.4f}")

    out = {"sentences": len(lines), "batch_size": a.batch_size, "sources": SOURCES, "model": "me5-small",
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
           "sentences_per_s": {k: round(v, 2) for k, v in sps.items()}, "ratio": round(ratio, 3),
           "ratio_composition": round(sps["parallel"] / sps["sequential"], 3), "padded_tokens": padded,
           "identical": identical, "max_logit_diff": max_diff, "merge_agreement": round(agree, 4),
           "run_scores": scores, "command": "python benchmarks/inference.py" + (" --quick" if a.quick else "")}
    write_result("inference", out, a.quick)
    print(f"RESULT inference ratio={ratio:.2f} identical={int(identical)} "
          f"ratio_composition={sps['parallel'] / sps['sequential']:.2f} "
          f"merge_ratio={sps['merge'] / sps['sequential']:.2f} merge_agreement={agree:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
