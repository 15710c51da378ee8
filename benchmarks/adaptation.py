"""Language-adaptation training step: ours against a plain adapters MLM + KL step, same run.

Model: me5-small (12 layers, hidden 384) as an ``adapters`` model with a MAD-X language
adapter (SeqBnInv, reduction factors 2 and 2), new embeddings for a 20,000-piece Amharic
SentencePiece tokenizer (trainable, tied to the MLM head), β = 1, word-level KL against the
frozen base. Batch: real Amharic sentences (MasakhaNER news text), truncated to 128 tokens.

    ours  - ``LanguageModelingObjective``: MLM logits at the masked positions only, the
            teacher's word states computed once before training and read from a cache;
    plain - what a direct adapters script does: logits for every position over the whole
            vocabulary, then cross-entropy with ignore_index, and the frozen teacher (base
            model, adapters off, its own tokenizer) recomputed every step.

Both run forward, backward and an AdamW step on the same model, batch and masks; their losses
must agree (``same_loss``). Reported: tokens/s (non-padding tokens of the student batch), the
ratio, and model FLOPs utilisation (MFU): the step's model FLOPs (3 × forward FLOPs of the
encoder, adapters and the head at the positions scored) divided by the step time and by the
float32 matmul peak measured on this machine in the same run.

    python benchmarks/adaptation.py [--quick] [--steps N] [--batch-size B]

Writes benchmarks/results/adaptation.json (--quick: adaptation_quick.json); the last line printed
is ``RESULT adaptation ...``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from results_io import write_result

CORPUS = "mono/masakhane_ner_text_by_language/amharic/amharic_news.txt"
TARGET_SIZE = 20000


def matmul_peak(seconds: float = 3.0, n: int = 2048) -> float:
    """float32 FLOP/s of repeated n×n matrix products on the current device (best of the runs)."""
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        if dev == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        if dev == "cuda":
            torch.cuda.synchronize()
        best = max(best, 4 * 2 * n ** 3 / (time.perf_counter() - t0))
    return best


def target_tokenizer(work: Path, lines: list[str]):
    from unibridge.backbones import backbone_tokenizer, load_tokenizer
    from unibridge.vocab import train_sentencepiece, wrap_tokenizer

    folder = work / f"tokenizer-{TARGET_SIZE}"
    if not (folder / "tokenizer.json").exists():
        wrap_tokenizer(train_sentencepiece(lines, TARGET_SIZE, work / f"spm_{TARGET_SIZE}"),
                       backbone_tokenizer("me5-small"), folder)
    return load_tokenizer(folder)


def step_flops(model, n_tokens: int, seq_len: float, n_scored: int, vocab: int) -> float:
    """Model FLOPs of the steps: per token, forward 2·P (P = weights of the encoder layers and
    adapters) plus attention 4·layers·L·d, backward 2·P for activation gradients plus 2·P_train
    for the gradients of the trainable weights (adapters; the frozen base gets none) plus twice
    the attention; per scored position the head's forward 2·(d² + d·V) and backward twice that
    (its dense layer and the tied embeddings train). Embedding lookups count as free."""
    cfg = model.config
    d, n_layers = cfg.hidden_size, cfg.num_hidden_layers
    weights = {n: p for n, p in model.named_parameters() if "embeddings" not in n and p.dim() >= 2}
    P = sum(p.numel() for p in weights.values())
    P_train = sum(p.numel() for p in weights.values() if p.requires_grad)
    attention = 4 * n_layers * seq_len * d
    per_token = 2 * P + 2 * P + 2 * P_train + 3 * attention
    return per_token * n_tokens + 3 * 2 * (d * d + d * vocab) * n_scored


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer timed steps (< 3 min)")
    ap.add_argument("--steps", type=int, help="timed steps per variant (default 12, quick 4)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=128)
    a = ap.parse_args()
    if not os.environ.get("UNIBRIDGE_DATA"):
        os.environ["UNIBRIDGE_DATA"] = str(Path(__file__).resolve().parents[2] / "shared" / "data")
    steps = a.steps or (4 if a.quick else 12)
    import logging

    logging.getLogger("adapters").setLevel(logging.ERROR)  # the teacher pass runs with adapters off on purpose
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)

    from transformers import DataCollatorForLanguageModeling

    from unibridge.adaptation.losses import kl_regulariser, word_pool
    from unibridge.adaptation.model import (MLMHead, add_language_adapter, attach_embeddings, encoder_states,
                                            load_adapter_model)
    from unibridge.adaptation.train import (TEACHER_HEADER, LanguageModelingObjective, _Collator, encode_words, split_words,
                                            pad_teacher, teacher_states)
    from unibridge.backbones import backbone_tokenizer, cache_root, resolve_backbone
    from unibridge.data import read_text

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    lines = read_text([CORPUS])
    tok = target_tokenizer(cache_root() / "bench" / "embedding_init", lines)
    base_tok = backbone_tokenizer("me5-small")
    model = load_adapter_model(resolve_backbone("me5-small"))
    attach_embeddings(model, "amh", tok, torch.randn(len(tok), model.config.hidden_size) * 0.02)
    add_language_adapter(model, "amh")
    model.train_adapter("amh", train_embeddings=True)
    model.set_active_adapters("amh")
    model.to(dev)
    head = MLMHead(model.get_input_embeddings()).to(dev)
    masker = DataCollatorForLanguageModeling(tok, mlm_probability=0.15)
    ours = LanguageModelingObjective(model, head, beta=1.0, kl_level="word", masker=masker, seed=0)
    params = [p for p in list(model.parameters()) + list(head.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)

    # Batches: consecutive sentences, long enough to fill most of max_length.
    words = [w for w in split_words(lines) if len(w) >= 12][: a.batch_size * (steps + 2)]
    encs = [encode_words(tok, w, a.max_length) for w in words]
    t0 = time.perf_counter()
    teachers = teacher_states(model, base_tok, words, max_length=a.max_length)
    teacher_cache_s = time.perf_counter() - t0
    for i, (e, t) in enumerate(zip(encs, teachers)):
        teachers[i] = t[: TEACHER_HEADER + min(e.n_words, t.shape[0] - TEACHER_HEADER)]
    collate = _Collator(tok)
    batches = []
    for s in range(steps + 2):
        sl = slice(s * a.batch_size, (s + 1) * a.batch_size)
        b = collate([{"enc": e, "index": k} for k, e in enumerate(encs[sl])])
        b["teacher"], b["teacher_mask"] = pad_teacher(teachers[sl])
        b["input_ids"], b["labels"] = ours.mask(b["input_ids"], b["special_tokens_mask"])
        b["words"] = words[sl]
        batches.append(b)

    def to(b):
        return {k: v.to(dev) for k, v in b.items() if isinstance(v, torch.Tensor) and k != "special_tokens_mask"}

    def our_step(b):
        out = ours(**to(b))
        out["loss"].backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(out["loss"])

    def plain_step(b):
        bt = to(b)
        # teacher recomputed: base model, no adapter, its own embeddings and tokenizer
        with torch.no_grad():
            teach = teacher_states(model, base_tok, b["words"], max_length=a.max_length)
        n = bt["teacher"].shape[1] - TEACHER_HEADER
        t_pad = torch.zeros(bt["teacher"].shape[0], n, bt["teacher"].shape[2], device=dev)
        for j, t in enumerate(teach):
            k = min(t.shape[0] - TEACHER_HEADER, int(bt["teacher_mask"][j].sum()) - TEACHER_HEADER)
            t_pad[j, :k] = t[TEACHER_HEADER:TEACHER_HEADER + k].to(dev)
        states = encoder_states(model, bt["input_ids"], bt["attention_mask"])
        logits = head(states.reshape(-1, states.shape[-1]))  # every position, whole vocabulary
        mlm = F.cross_entropy(logits, bt["labels"].reshape(-1), ignore_index=-100)
        kl = kl_regulariser(word_pool(states, bt["word_ids"], n), t_pad, bt["teacher_mask"][:, TEACHER_HEADER:])
        loss = mlm + 1.0 * kl
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss)

    # Same loss on the same batch and weights (no update in between: compare before stepping).
    with torch.no_grad():
        b = batches[0]
        l_ours = float(ours(**to(b))["loss"])
    snapshot = [p.detach().clone() for p in params]
    l_plain = plain_step(b)
    with torch.no_grad():
        for p, s in zip(params, snapshot):
            p.copy_(s)
    same_loss = abs(l_ours - l_plain) <= 1e-4 * max(1.0, abs(l_plain))

    def timed(fn) -> float:
        fn(batches[1])  # warm-up
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for b in batches[2:]:
            fn(b)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    model.train()
    t_plain = timed(plain_step)
    t_ours = timed(our_step)
    n_tokens = sum(int(b["attention_mask"].sum()) for b in batches[2:])
    n_scored = sum(int((b["labels"] != -100).sum()) for b in batches[2:])
    seq = sum(b["input_ids"].shape[1] for b in batches[2:]) / steps
    tps_ours, tps_plain = n_tokens / t_ours, n_tokens / t_plain
    flops = step_flops(model, n_tokens, seq, n_scored, len(tok))
    peak = matmul_peak()
    mfu = flops / t_ours / peak

    header = f"{'step':8s} {'tokens/s':>10s} {'s/step':>8s}"
    print(f"\nbatch {a.batch_size} x <= {a.max_length} tokens, {steps} timed steps, device {dev.type}, "
          f"vocabulary {len(tok)}; teacher cache built in {teacher_cache_s:.1f} s for {len(words)} sentences")
    print(header + "\n" + "-" * len(header))
    print(f"{'plain':8s} {tps_plain:10.1f} {t_plain / steps:8.3f}")
    print(f"{'ours':8s} {tps_ours:10.1f} {t_ours / steps:8.3f}")
    print(f"loss ours {l_ours:.5f}  plain {l_plain:.5f}  (same: {same_loss})")
    print(f"model FLOPs {flops / steps / 1e9:.1f} GFLOP/step, achieved {flops / t_ours / 1e9:.1f} GFLOP/s, "
          f"matmul peak {peak / 1e9:.1f} GFLOP/s")

    out = {"model": "me5-small + SeqBnInv(2, 2) + new embeddings", "vocabulary": len(tok),
           "batch_size": a.batch_size, "max_length": a.max_length, "timed_steps": steps, "device": dev.type,
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
           "tokens_per_s": {"ours": round(tps_ours, 1), "plain": round(tps_plain, 1)},
           "s_per_step": {"ours": round(t_ours / steps, 4), "plain": round(t_plain / steps, 4)},
           "teacher_cache_s": round(teacher_cache_s, 2), "loss": {"ours": l_ours, "plain": l_plain},
           "same_loss": same_loss, "model_gflop_per_step": round(flops / steps / 1e9, 2),
           "matmul_peak_gflops": round(peak / 1e9, 1), "mfu": round(mfu, 4),
           "command": "python benchmarks/adaptation.py" + (" --quick" if a.quick else "")}
    write_result("adaptation", out, a.quick)
    print(f"RESULT adaptation ratio={tps_ours / tps_plain:.2f} mfu={mfu:.3f} same_loss={int(same_loss)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
