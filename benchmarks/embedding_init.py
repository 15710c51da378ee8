"""Embedding initialisation: time, peak memory and coverage of every plug-in against deepfocus.

Inputs (the same for every method): the me5-small input embeddings (XLM-R's 250,002 × 384
vocabulary) as source, a 20,000-piece SentencePiece unigram tokenizer trained on all the
Amharic text under $UNIBRIDGE_DATA/mono as target, and that text as corpus.

1. Static spaces, timed apart: our fastText spaces F^T and F^S (skip-gram, dim 300, 3 epochs,
   minCount 1: the paper's settings) and deepfocus's own (CBOW, dim 100, 3 epochs, minCount
   10: its defaults), each trained once and cached in the work folder.
2. Every method in a fresh Python process, so each peak is its own: the process loads the
   inputs, then the method runs with its static spaces already trained. Reported: wall time
   of the call, peak resident memory of the process (ru_maxrss, inputs included) and the row
   counts; "fallback" is the share of new tokens (neither special nor overlapping) left to a
   random or statistical draw. deepfocus runs ``FOCUS(..., fasttext_model_path=...)``
   (PyPI ``deepfocus``, the ``[bench]`` extra); its counts are read off its own overlap and
   rare-token rules after the timed call. Without that package the script stops before any work
   with one line and exit status 2 (``--no-deepfocus`` skips the baseline; a ``--quick`` run then
   needs no deepfocus once its fastText model is cached).

    python benchmarks/embedding_init.py [--quick] [--methods focus unibridge ...]

``--quick`` runs focus, unibridge, va and random (plus deepfocus) and reuses static spaces
cached by an earlier run. Writes benchmarks/results/embedding_init.{json,png} (--quick:
embedding_init_quick.{json,png}); the last line printed is ``RESULT embedding_init ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from results_io import require, result_path, write_result

AMHARIC = ["mono/masakhane_ner_text_by_language/amharic/amharic_news.txt",
           "mono/masakhanews/amh/dev.tsv", "mono/masakhanews/amh/test.tsv"]
DICTIONARIES = ["dicts/geezorg_amharic/science and technology dictionary (english - amharic).txt",
                "dicts/wechsel_wiktionary/data/amharic.txt"]
TARGET_SIZE = 20000
ALL_METHODS = ["random", "ident", "script", "script+posn", "tema", "va", "focus", "unibridge"]
QUICK_METHODS = ["random", "va", "focus", "unibridge"]
DEEPFOCUS = dict(epochs=3, dim=100, min_count=10)  # deepfocus.FOCUS defaults


def peak_mb() -> float:
    """Peak resident set size of this process so far, MB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- inputs


def prepare(work: Path) -> dict:
    """Corpus file, 20k target tokenizer; cached in ``work``. Returns timings and sizes."""
    from unibridge.backbones import backbone_tokenizer, build_me5_small
    from unibridge.data import read_text
    from unibridge.vocab import train_sentencepiece, wrap_tokenizer

    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "amh.txt"
    if not corpus.exists():
        lines = read_text(AMHARIC)
        tmp = corpus.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, corpus)
    tok_dir = work / f"tokenizer-{TARGET_SIZE}"
    if not (tok_dir / "tokenizer.json").exists():
        lines = corpus.read_text(encoding="utf-8").splitlines()
        model = train_sentencepiece(lines, TARGET_SIZE, work / f"spm_{TARGET_SIZE}")
        wrap_tokenizer(model, backbone_tokenizer("me5-small"), tok_dir)
    build_me5_small()
    return {"corpus": str(corpus), "tokenizer": str(tok_dir)}


def load_inputs(work: Path):
    from unibridge.backbones import backbone_tokenizer, load_input_embeddings, load_tokenizer

    lines = (work / "amh.txt").read_text(encoding="utf-8").splitlines()
    return (load_input_embeddings("me5-small"), backbone_tokenizer("me5-small"),
            load_tokenizer(work / f"tokenizer-{TARGET_SIZE}"), lines)


# ----------------------------------------------------------------------------- static spaces


def train_static(work: Path, fresh: bool) -> dict:
    """Our F^T and F^S (cached under work/static) and deepfocus's fastText model, timed."""
    from unibridge.embeddings import StaticConfig, train_static_space

    times_file = work / "static_times.json"
    times = json.loads(times_file.read_text()) if times_file.exists() and not fresh else {}
    if fresh:
        for p in (work / "static").glob("static-*.npz"):
            p.unlink()
        (work / "deepfocus_fasttext.bin").unlink(missing_ok=True)
    E_S, src, tgt, lines = load_inputs(work)
    del E_S
    for key, tok in (("ours_target_s", tgt), ("ours_source_s", src)):
        t0 = time.perf_counter()
        space = train_static_space(lines, tok, StaticConfig(), workdir=work / "static")
        dt = time.perf_counter() - t0
        if key not in times or dt > 1.0:  # a cache hit keeps the recorded training time
            times[key] = round(dt, 2)
        times[key[:-2] + "_vectors"] = len(space)
    if not (work / "deepfocus_fasttext.bin").exists():
        out = child("deepfocus-fasttext", work)
        times["deepfocus_s"], times["deepfocus_vectors"] = out["time_s"], out["vectors"]
    times_file.write_text(json.dumps(times, indent=2))
    return times


def deepfocus_fasttext(work: Path) -> dict:
    """Train deepfocus's token-level fastText model on the corpus (its own code path)."""
    from deepfocus.fasttext_embs import train_fasttext

    from unibridge.backbones import load_tokenizer

    tgt = load_tokenizer(work / f"tokenizer-{TARGET_SIZE}")
    t0 = time.perf_counter()
    model = train_fasttext(str(work / "amh.txt"), tgt, processes=os.cpu_count(),
                           cache_tokenized_text=False, **DEEPFOCUS)
    dt = time.perf_counter() - t0
    model.save_model(str(work / "deepfocus_fasttext.bin"))
    return {"time_s": round(dt, 2), "vectors": len(model.get_words())}


# ----------------------------------------------------------------------------- one method


def run_ours(method: str, work: Path) -> dict:
    import torch

    from unibridge.data import read_dictionary
    from unibridge.embeddings import StaticConfig, initialize_embeddings

    torch.set_num_threads(os.cpu_count() or 1)
    E_S, src, tgt, lines = load_inputs(work)
    dictionary = read_dictionary(DICTIONARIES) if method == "tema" else None
    inputs_mb = peak_mb()
    t0 = time.perf_counter()
    res = initialize_embeddings(method, source_embeddings=E_S, source_tokenizer=src,
                                target_tokenizer=tgt, corpus=lines, config=StaticConfig(),
                                workdir=work / "static", dictionary=dictionary)
    dt = time.perf_counter() - t0
    return {"time_s": round(dt, 2), "peak_mb": round(peak_mb()), "inputs_mb": round(inputs_mb),
            "rows": int(res.embeddings.shape[0]), "counts": res.report}


def run_deepfocus(work: Path) -> dict:
    import torch
    from deepfocus import FOCUS
    from deepfocus.focus import get_overlapping_tokens, is_very_rare_token

    torch.set_num_threads(os.cpu_count() or 1)
    E_S, src, tgt, _ = load_inputs(work)
    inputs_mb = peak_mb()
    t0 = time.perf_counter()
    E = FOCUS(target_tokenizer=tgt, source_tokenizer=src, source_embeddings=E_S,
              fasttext_model_path=str(work / "deepfocus_fasttext.bin"),
              processes=os.cpu_count(), verbosity="silent")
    dt = time.perf_counter() - t0
    peak = peak_mb()
    import fasttext

    ft = fasttext.load_model(str(work / "deepfocus_fasttext.bin"))
    overlap, new = get_overlapping_tokens(tgt, src, match_symbols=False, exact_match_all=True,
                                          fuzzy_match_all=False)
    rare = sum(1 for t in new if is_very_rare_token(t, ft))
    specials = len(set(tgt.all_special_tokens) & set(overlap))
    counts = {"special": specials, "overlap": len(overlap) - specials, "aligned": 0,
              "combined": len(new) - rare, "fallback": rare}
    return {"time_s": round(dt, 2), "peak_mb": round(peak), "inputs_mb": round(inputs_mb),
            "rows": int(E.shape[0]), "counts": counts}


def child(what: str, work: Path) -> dict:
    """Run ``what`` in a fresh interpreter; returns the JSON it prints last."""
    env = dict(os.environ, XDG_CACHE_HOME=str(work / "xdg"), TRANSFORMERS_VERBOSITY="error",
               TQDM_DISABLE="1", PYTHONWARNINGS="ignore")
    p = subprocess.run([sys.executable, __file__, "--child", what, "--workdir", str(work)],
                       capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report


def fallback_share(counts: dict) -> float:
    new = counts["aligned"] + counts["combined"] + counts["fallback"]
    return counts["fallback"] / new if new else 0.0


def plot(rows: dict, path: Path) -> None:
    from unibridge.plotting import new_figure, save_figure

    names = list(rows)
    colors = ["#c0504d" if n == "deepfocus" else "#4f81bd" for n in names]
    fig = new_figure((11, 3.8))
    axes = fig.subplots(1, 2)
    for ax, key, label in ((axes[0], "time_s", "seconds (static spaces excluded)"),
                           (axes[1], "peak_mb", "peak resident memory, MB")):
        ax.barh(names, [rows[n][key] for n in names], color=colors)
        ax.set_xlabel(label)
        ax.invert_yaxis()
    # 2 GiB: deepfocus (red) needs more than that; every method of ours stays below
    axes[1].axvline(2048, color="grey", ls="--", lw=1, label="2 GiB")
    axes[1].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Embedding initialisation, me5-small (250k x 384) -> {TARGET_SIZE // 1000}k Amharic pieces")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="four methods, cached static spaces (< 3 min)")
    ap.add_argument("--methods", nargs="+", help=f"subset of {ALL_METHODS}")
    ap.add_argument("--workdir", help="cache folder (default: <unibridge cache>/bench/embedding_init)")
    ap.add_argument("--no-deepfocus", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    from unibridge.backbones import cache_root

    work = Path(a.workdir) if a.workdir else cache_root() / "bench" / "embedding_init"
    if a.child:
        fn = {"deepfocus": run_deepfocus, "deepfocus-fasttext": deepfocus_fasttext}.get(a.child)
        print(json.dumps(fn(work) if fn else run_ours(a.child, work)))
        return 0

    if not os.environ.get("UNIBRIDGE_DATA"):
        os.environ["UNIBRIDGE_DATA"] = str(Path(__file__).resolve().parents[2] / "shared" / "data")
    # deepfocus runs as the baseline, and train_static trains its fastText model unless a --quick
    # run finds it cached: check the package before any work starts.
    if not a.no_deepfocus or not a.quick or not (work / "deepfocus_fasttext.bin").exists():
        require("deepfocus", "benchmarks/embedding_init.py's baseline (FOCUS)")
    methods = a.methods or (QUICK_METHODS if a.quick else ALL_METHODS)
    have_deepfocus = not a.no_deepfocus

    t_start = time.perf_counter()
    inputs = prepare(work)
    static = train_static(work, fresh=not a.quick)
    if not have_deepfocus:
        static.pop("deepfocus_s", None)
    rows: dict[str, dict] = {}
    if have_deepfocus:
        rows["deepfocus"] = child("deepfocus", work)
    for m in methods:
        rows[m] = child(m, work)
        print(f"  {m:12s} {rows[m]['time_s']:7.2f} s  {rows[m]['peak_mb']:6d} MB  {rows[m]['counts']}",
              flush=True)

    base = rows.get("deepfocus", {}).get("time_s")
    header = f"{'method':12s} {'time s':>7s} {'x deepfocus':>11s} {'peak MB':>8s} {'overlap':>8s} " \
             f"{'aligned':>8s} {'combined':>9s} {'fallback':>9s} {'fb %':>6s}"
    print("\n" + header + "\n" + "-" * len(header))
    for name, r in rows.items():
        c = r["counts"]
        r["fallback_share"] = round(fallback_share(c), 4)
        r["speedup_vs_deepfocus"] = round(base / r["time_s"], 2) if base and r["time_s"] else None
        sp = f"{r['speedup_vs_deepfocus']:.2f}" if r["speedup_vs_deepfocus"] else "-"
        print(f"{name:12s} {r['time_s']:7.2f} {sp:>11s} {r['peak_mb']:8d} {c['overlap']:8d} "
              f"{c['aligned']:8d} {c['combined']:9d} {c['fallback']:9d} {100 * r['fallback_share']:6.1f}")
    print(f"static spaces (excluded above): {static}")

    out = {"inputs": {**inputs, "source": "me5-small (250002 x 384)", "target_size": TARGET_SIZE,
                      "corpus_files": AMHARIC},
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                       "python": platform.python_version()},
           "quick": a.quick, "static_spaces": static, "methods": rows,
           "total_s": round(time.perf_counter() - t_start, 1),
           "command": "python benchmarks/embedding_init.py" + (" --quick" if a.quick else "")}
    write_result("embedding_init", out, a.quick)
    plot(rows, result_path("embedding_init", a.quick, ".png"))

    kv = []
    for m in ("focus", "unibridge"):
        if m in rows:
            r = rows[m]
            if r["speedup_vs_deepfocus"]:
                kv.append(f"ratio_{m}={r['speedup_vs_deepfocus']}")
            kv += [f"mem_mb_{m}={r['peak_mb']}", f"fallback_{m}={r['fallback_share']}"]
    if "deepfocus" in rows:
        kv += [f"mem_mb_deepfocus={rows['deepfocus']['peak_mb']}",
               f"fallback_deepfocus={rows['deepfocus']['fallback_share']}"]
    print("RESULT embedding_init " + " ".join(kv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
