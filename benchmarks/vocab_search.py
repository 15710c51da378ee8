"""Vocabulary-size search: the naive Algorithm 1 loop against the fast search, same run.

Corpus: all Amharic text under $UNIBRIDGE_DATA/mono (MasakhaNER raw news text and the
MasakhaNEWS dev/test articles split into sentences), ALP on 128-word samples (the paper's).

(a) early-stopping search (v_i 7000, δ 1000, ε 5.0, v_m 60000):
    naive  - one size after another, each a SentencePiece training from the list of lines
             plus an ALP computed sample by sample in Python (a direct transcription of
             Algorithm 1);
    fast   - ``search_vocab_size(strategy="fast")``: one-thread trainings from a corpus file
             written once, one per core in flight, batched ALP; exact on any curve;
    bisect - ``strategy="bisect"``: the concavity-certified search (falls back to the fast
             scan when the gains it sees are not monotone).
    All train each model with one thread, so they see bit-identical models and ALPs; without
    ``--quick`` the naive loop with every core per training (SentencePiece's multi-threaded
    trainer, slightly different models) is timed as well.
(b) the full curve up to SentencePiece's feasible maximum: the naive loop continued from
    where (a) stopped (its first sizes are (a)'s trainings, timed there) against
    ``strategy="full"``.
The chosen size with sentences as ALP samples is read off the same models (the training
text is the same; only the ALP samples differ) and both curves are plotted.

    python benchmarks/vocab_search.py [--quick]

Writes benchmarks/results/vocab_search.{json,png} (--quick: vocab_search_quick.{json,png}); the
last line printed is ``RESULT vocab_search ...``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import sentencepiece as spm

from unibridge.data import read_text
from unibridge.errors import VocabSizeError
from unibridge.vocab import (algorithm1, alp, pack_samples, search_vocab_size,
                             train_sentencepiece)

from results_io import result_path, write_result

AMHARIC = ["mono/masakhane_ner_text_by_language/amharic/amharic_news.txt",
           "mono/masakhanews/amh/dev.tsv", "mono/masakhanews/amh/test.tsv"]
GRID = dict(v_i=7000, v_m=60000, delta=1000, eps=5.0)


def naive_alp(model: Path, samples: list[str]) -> float:
    """ALP line by line in Python: encode each sample, count, then sum log-probabilities."""
    sp = spm.SentencePieceProcessor(model_file=str(model))
    seqs = [sp.encode(s) for s in samples]
    counts = Counter()
    for ids in seqs:
        counts.update(ids)
    total = sum(counts.values())
    return sum(math.log(counts[i] / total) for ids in seqs for i in ids) / len(samples)


def naive_scorer(lines: list[str], samples: list[str], workdir: Path, threads: int,
                 seconds: dict[int, float]):
    """size → ALP: train from the list of lines, then the per-sample Python ALP; times each size."""

    def score_at(v: int) -> float:
        t0 = time.perf_counter()
        model = train_sentencepiece(lines, v, workdir / f"spm_{v}", num_threads=threads)
        a = naive_alp(model, samples)
        seconds[v] = time.perf_counter() - t0
        return a

    return score_at


def naive_loop(lines: list[str], samples: list[str], workdir: Path, threads: int):
    """Algorithm 1 one training after another: (outcome, wall seconds, seconds per size)."""
    seconds: dict[int, float] = {}
    t0 = time.perf_counter()
    out = algorithm1(naive_scorer(lines, samples, workdir, threads, seconds), **GRID)
    return out, time.perf_counter() - t0, seconds


def naive_full_curve(lines, samples, workdir: Path, early) -> tuple[dict[int, float], float]:
    """Every size up to the feasible maximum, one after another, continuing the early-stopping
    loop ``early`` = (outcome, seconds, seconds per size): (curve, total seconds)."""
    out, _, seconds = early
    curve = {p.vocab_size: p.alp for p in out.curve}
    score_at = naive_scorer(lines, samples, workdir, 1, seconds)
    v = max(curve) + GRID["delta"]
    t0 = time.perf_counter()
    while True:
        try:
            curve[v] = score_at(v)
        except VocabSizeError as exc:
            if exc.feasible_max not in curve:
                curve[exc.feasible_max] = score_at(exc.feasible_max)
            break
        v += GRID["delta"]
    return curve, time.perf_counter() - t0 + sum(early[2][p.vocab_size] for p in out.curve)


def _refuse(feasible: int):
    err = VocabSizeError("too large")
    err.feasible_max = feasible
    raise err


def plot(curves: dict[str, dict[int, float]], chosen: dict[str, int], eps: float, path: Path) -> None:
    from unibridge.plotting import new_figure, save_figure

    fig = new_figure((11, 4))
    axes = fig.subplots(1, 2)
    for name, curve in curves.items():
        sizes = sorted(curve)
        axes[0].plot(sizes, [curve[v] - curve[sizes[0]] for v in sizes], "o-", ms=3, label=name)
        gains = [(v, curve[v] - curve[v - GRID["delta"]]) for v in sizes if v - GRID["delta"] in curve]
        line, = axes[1].plot([v for v, _ in gains], [g for _, g in gains], "o-", ms=3, label=name)
        axes[1].axvline(chosen[name], color=line.get_color(), ls=":", lw=1)
    axes[0].set(xlabel="vocabulary size", ylabel="ALP − ALP(7000)  (nats / sample)",
                title="ALP gain over v_i")
    axes[1].axhline(eps, color="gray", ls="--", label=f"ε = {eps:g}")
    axes[1].set(xlabel="vocabulary size", ylabel="Δ ALP per +1000 pieces", yscale="log",
                title="Algorithm 1 stops where Δ ≤ ε (dotted: chosen size)")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the multi-threaded naive baseline (< 3 min)")
    args = ap.parse_args()
    lines = read_text(AMHARIC)
    samples = pack_samples(lines, 128)
    sentences = pack_samples(lines, None)
    cores = os.cpu_count() or 1
    print(f"corpus: {len(lines)} sentences, {sum(len(s.split()) for s in lines)} words, "
          f"{len(samples)} samples of 128 words; {cores} cores", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="vocab-bench-"))
    res: dict = {"corpus": AMHARIC, "sentences": len(lines), "samples_128": len(samples),
                 "cores": cores, "machine": platform.platform(), "python": sys.version.split()[0],
                 "grid": GRID}
    try:
        # (a) early-stopping search
        early = naive_loop(lines, samples, tmp / "naive", threads=1)
        naive, t_naive, sec = early
        print(f"naive loop: {naive.vocab_size} ({naive.stopped_by}) in {t_naive:.1f}s, "
              f"{len(naive.curve)} trainings", flush=True)
        runs = {}
        for strategy in ("fast", "bisect"):
            r = search_vocab_size(lines, workdir=tmp / strategy, strategy=strategy, progress=False, **GRID)
            runs[strategy] = r
            print(f"{strategy} search: {r.vocab_size} ({r.stopped_by}) in {r.seconds:.1f}s, "
                  f"{len(r.curve)} trainings, {r.workers} at a time"
                  f"{', fell back to the scan' if r.fell_back else ''}", flush=True)
        fast = runs["fast"]
        naive_alps = {p.vocab_size: p.alp for p in naive.curve}
        res["early_stopping"] = {
            "naive": {"vocab_size": naive.vocab_size, "stopped_by": naive.stopped_by,
                      "seconds": t_naive, "trainings": len(naive.curve),
                      "seconds_per_size": dict(sec)},
            **{name: {"vocab_size": r.vocab_size, "stopped_by": r.stopped_by, "seconds": r.seconds,
                      "trainings": len(r.curve), "workers": r.workers, "fell_back": r.fell_back,
                      "sizes": [p.vocab_size for p in r.curve],
                      "same_size": int((r.vocab_size, r.stopped_by) == (naive.vocab_size, naive.stopped_by)),
                      "ratio": t_naive / r.seconds}
               for name, r in runs.items()},
            "same_size": int((naive.vocab_size, naive.stopped_by) == (fast.vocab_size, fast.stopped_by)),
            "ratio": t_naive / fast.seconds,
            "alp_identical": int(all(p.alp == naive_alps[p.vocab_size] for r in runs.values()
                                     for p in r.curve if p.vocab_size in naive_alps)),
        }
        if not args.quick:
            mt, t_mt, _ = naive_loop(lines, samples, tmp / "naive_mt", threads=cores)
            print(f"naive loop, {cores} threads per training: {mt.vocab_size} in {t_mt:.1f}s", flush=True)
            res["early_stopping"]["naive_mt"] = {"vocab_size": mt.vocab_size, "seconds": t_mt,
                                                 "ratio_vs_fast": t_mt / fast.seconds}
        # (b) the full curve up to the feasible maximum
        naive_curve, t_nf = naive_full_curve(lines, samples, tmp / "naive", early)
        print(f"naive full curve: {len(naive_curve)} sizes in {t_nf:.1f}s", flush=True)
        full = search_vocab_size(lines, workdir=tmp / "full", strategy="full", progress=False, **GRID)
        print(f"full curve: {len(full.curve)} sizes up to {full.effective_v_m} in {full.seconds:.1f}s",
              flush=True)
        curve128 = {p.vocab_size: p.alp for p in full.curve}
        curve_sent = {p.vocab_size: alp(spm.SentencePieceProcessor(
            model_file=str(tmp / "full" / f"spm_{p.vocab_size}.model")), sentences)
            for p in full.curve}
        by_sentence = algorithm1(lambda v: curve_sent[v] if v in curve_sent else _refuse(full.effective_v_m),
                                 **GRID)
        res["full_curve"] = {
            "naive_seconds": t_nf, "fast_seconds": full.seconds, "ratio": t_nf / full.seconds,
            "sizes": len(full.curve), "naive_sizes": len(naive_curve), "feasible_max": full.feasible_max,
            "vocab_size": full.vocab_size, "alp_identical": int(naive_curve == curve128),
            "alp_128_words": curve128, "alp_sentences": curve_sent,
        }
        res["chosen"] = {"128-word samples": full.vocab_size, "sentence samples": by_sentence.vocab_size}
        print(f"chosen size: 128-word samples {full.vocab_size}, sentences {by_sentence.vocab_size}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    plot({"128-word samples": curve128, "sentence samples": curve_sent},
         res["chosen"], GRID["eps"], result_path("vocab_search", args.quick, ".png"))
    write_result("vocab_search", res, args.quick)
    e = res["early_stopping"]
    print(f"RESULT vocab_search ratio={e['ratio']:.2f} same_size={e['same_size']} "
          f"size={fast.vocab_size} bisect_ratio={e['bisect']['ratio']:.2f} "
          f"bisect_same_size={e['bisect']['same_size']} full_ratio={res['full_curve']['ratio']:.2f} "
          f"feasible_max={full.feasible_max} size_sentences={by_sentence.vocab_size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
