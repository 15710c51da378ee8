"""Where does a task-adapter training step spend its time on CPU, and what makes it cheaper?

The English UPOS task adapter of the ``cpu`` profile (SeqBn, reduction 16, tagging head, batch
16, 64 tokens, lr 3e-3, linear decay, on the first 2,400 UD English-EWT training sentences) is
trained on the bare me5-small base in one hand-written loop that times each part of a step
(collate, forward, backward, optimizer). Arms, each from the same seeded initial adapter:

* ``random``: batches drawn at random (what the Trainer does today), padded to their longest;
* ``grouped``: the same random batches' examples regrouped by length (length-grouped
  batches: chunks of 50 batches sorted by length, batch order shuffled), less padding;
* ``adapterdrop``: random batches, the task adapter's modules in layers 0-5 frozen at their
  initial (near-identity) weights, so the backward pass stops at layer 6 (AdapterDrop,
  Rücklé et al. 2021; the modules stay, so the multi-source predictor's Parallel pass still
  works, which ``leave_out`` does not: adapters 1.3 fails on a Parallel block with children
  missing from a layer that holds other active adapters).

Each arm is scored on the UD English-EWT dev split (held out; never a test set). The ratio is
the random arm's seconds per step over the fastest other arm's.

    python benchmarks/task_adapter.py [--quick] [--steps N]

Quick: 30 steps per arm, 400 dev sentences (about 2 minutes). Writes
benchmarks/results/task_adapter.json (--quick: task_adapter_quick.json); the last line printed is
``RESULT task_adapter ...``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from results_io import write_result

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "amh.yaml"
TRAIN = "ud/UD_English-EWT/en_ewt-ud-train.conllu"
DEV = "ud/UD_English-EWT/en_ewt-ud-dev.conllu"
DROP_BELOW = 6  # adapterdrop arm: task-adapter modules of layers 0..5 frozen


def batches(lengths: list[int], batch_size: int, steps: int, seed: int, grouped: bool) -> list[list[int]]:
    """``steps`` batches of example indices: random (epochs reshuffled), or the same draws
    regrouped by length in chunks of 50 batches, the batch order shuffled."""
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < steps * batch_size:
        ep = list(range(len(lengths)))
        rng.shuffle(ep)
        order += ep
    order = order[: steps * batch_size]
    if not grouped:
        return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
    out = []
    chunk = 50 * batch_size
    for c in range(0, len(order), chunk):
        part = sorted(order[c: c + chunk], key=lambda i: lengths[i])
        out += [part[i: i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(out)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="30 steps per arm, 400 dev sentences (about 2 minutes)")
    ap.add_argument("--steps", type=int, help="steps per arm (default 150, the cpu profile's; quick 30)")
    a = ap.parse_args(argv)
    steps = a.steps or (30 if a.quick else 150)

    import logging

    import torch
    import transformers
    from adapters import SeqBnConfig

    transformers.logging.set_verbosity_error()
    logging.getLogger("adapters").setLevel(logging.ERROR)
    from unibridge.config import Recipe
    from unibridge.inference.predictor import MultiSourcePredictor
    from unibridge.pipeline import Pipeline
    from unibridge.tasks import get_task

    recipe = Recipe.load(RECIPE, "cpu")
    tc = recipe.task.train
    pipe = Pipeline(recipe, Path(tempfile.mkdtemp(prefix="unibridge-task-adapter-")) / "run")
    model, tok, task = pipe.model(), pipe.base_tokenizer, get_task("pos")
    train = task.read(TRAIN, limit=tc.max_examples, label_map=None)
    dev = task.read(DEV, limit=400 if a.quick else None, label_map=None)
    items = [task.encode(tok, s, tc.max_length) for s in train]
    lengths = [len(x["input_ids"]) for x in items]
    name = "pos_en"
    rows = []
    for arm in ("random", "grouped", "adapterdrop"):
        torch.manual_seed(recipe.seed)
        model.add_adapter(name, config=SeqBnConfig(reduction_factor=recipe.task.reduction_factor))
        task.add_head(model, name)
        model.train_adapter(name)
        model.active_head = name
        if arm == "adapterdrop":
            for n, p in model.named_parameters():
                if f"adapters.{name}." in n and ".layer." in n and int(n.split(".layer.")[1].split(".")[0]) < DROP_BELOW:
                    p.requires_grad_(False)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=tc.learning_rate, weight_decay=tc.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)
        model.train()
        t = {"collate": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0}
        real = padded = 0
        losses = []
        for b in batches(lengths, tc.batch_size, steps, recipe.seed, grouped=arm == "grouped"):
            t0 = time.perf_counter()
            batch = task.collate([items[i] for i in b], tok.pad_token_id)
            t1 = time.perf_counter()
            loss = model(**batch).loss
            t2 = time.perf_counter()
            loss.backward()
            t3 = time.perf_counter()
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            t4 = time.perf_counter()
            for k, x in zip(t, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                t[k] += x
            real += int(batch["attention_mask"].sum())
            padded += batch["attention_mask"].numel()
            losses.append(float(loss.detach()))
        model.eval()
        pred = MultiSourcePredictor.from_model(model, tok, "pos", {"en": name}, language_adapter=None)
        acc = pred.evaluate(dev, batch_size=64, progress=False)["accuracy"]
        total = sum(t.values())
        row = {"arm": arm, "steps": steps, "s_per_step": round(total / steps, 4),
               "parts_s": {k: round(v, 2) for k, v in t.items()}, "padding": round(1 - real / padded, 3),
               "trainable": sum(p.numel() for p in params), "first_loss": round(losses[0], 3),
               "last_loss": round(sum(losses[-10:]) / len(losses[-10:]), 3), "dev_accuracy": acc}
        rows.append(row)
        print(f"{arm:<11} {row['s_per_step']:.3f} s/step  (forward {t['forward']:.1f} s, backward {t['backward']:.1f} s, "
              f"optimizer {t['optimizer']:.1f} s, collate {t['collate']:.1f} s)  padding {100 * row['padding']:.0f}%  "
              f"loss {row['first_loss']:.2f} -> {row['last_loss']:.2f}  en dev {100 * acc:.1f}", flush=True)
        model.delete_adapter(name)
        model.delete_head(name)
    by = {r["arm"]: r for r in rows}
    fastest = min((r for r in rows if r["arm"] != "random"), key=lambda r: r["s_per_step"])
    ratio = by["random"]["s_per_step"] / fastest["s_per_step"]
    write_result("task_adapter", {"steps": steps, "quick": a.quick, "train_sentences": len(items),
                                  "dev_sentences": len(dev), "threads": torch.get_num_threads(),
                                  "rows": rows, "fastest": fastest["arm"], "ratio": ratio}, a.quick)
    print("RESULT task_adapter " + " ".join(f"{r['arm']}_s={r['s_per_step']:.3f} {r['arm']}_dev={100 * r['dev_accuracy']:.1f}"
                                            for r in rows) + f" fastest={fastest['arm']} ratio={ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
