"""``unibridge vocab``, ``init`` and ``adapt``: one stage of the method at a time, outside a recipe
(vocabulary search, embedding initialisation, language adaptation)."""

from __future__ import annotations

from .options import config_arg, count_type, text_table


def cmd_vocab(a) -> int:
    """``unibridge vocab``: Algorithm 1 vocabulary-size search, the chosen SentencePiece model, its ALP
    curve and (with ``--base``) a tokenizer carrying the base's special tokens."""
    from pathlib import Path

    from ..backbones import backbone_tokenizer
    from ..config import VocabConfig
    from ..data import read_text
    from ..vocab.stage import build_vocabulary

    out = Path(a.out)
    cfg = VocabConfig(v_i=a.v_i, v_m=a.v_m, delta=a.delta, eps=a.eps, sample_words=a.sample_words or None,
                      per_token=a.per_token, model_type=a.model_type, character_coverage=a.character_coverage,
                      heldout_fraction=a.heldout, strategy=a.strategy)
    _, res = build_vocabulary(read_text(a.corpus), cfg, out, backbone_tokenizer(a.base) if a.base else None,
                              workers=a.workers, seed=a.seed, progress=not a.no_progress)
    print(text_table([[p.vocab_size, f"{p.alp:.2f}", "" if p.delta is None else f"{p.delta:.2f}", f"{p.seconds:.1f}"]
                      for p in res.curve], ["size", "ALP", "gain", "seconds"]))
    cap = f", feasible maximum {res.feasible_max}" if res.feasible_max is not None else ""
    print(f"chosen vocabulary size: {res.vocab_size} (stopped by {res.stopped_by}{cap}; {len(res.curve)} "
          f"trainings, {res.workers} at a time, {res.seconds:.1f} s, strategy {res.strategy}"
          f"{', fell back to the scan' if res.fell_back else ''})")
    print(f"wrote {out / 'spm.model'}, {out / 'alp_curve.png'}, {out / 'search.json'}"
          + (f", {out / 'tokenizer'}/" if a.base else ""))
    return 0


def cmd_init(a) -> int:
    """``unibridge init``: target embeddings from a registered initializer, and how their rows were filled."""
    from pathlib import Path

    from ..backbones import backbone_tokenizer, load_input_embeddings, load_tokenizer
    from ..config import EmbeddingConfig
    from ..data import read_pairs, read_text
    from ..embeddings import get_initializer
    from ..embeddings.stage import build_embeddings

    get_initializer(a.method)  # an unknown name is refused before any work, listing the registered ones
    out = Path(a.out)
    cfg = EmbeddingConfig(method=a.method, static_dim=a.static_dim, static_epochs=a.static_epochs,
                          dictionary=list(a.dictionary) if a.dictionary else None, augment_size=a.augment_size)
    parallel = [p for spec in a.parallel or () for p in read_pairs(spec)] or None
    res, path = build_embeddings(cfg, out, base_embeddings=load_input_embeddings(a.base),
                                 base_tokenizer=backbone_tokenizer(a.base), target_tokenizer=load_tokenizer(a.tokenizer),
                                 corpus=read_text(a.corpus), seed=a.seed, workdir=out / "static", parallel=parallel,
                                 title=f"{a.method} initialisation", plot=not a.no_plot)
    total = sum(res.report.values())
    print(text_table([[k, v, f"{100 * v / total:.1f}"] for k, v in res.report.items()],
                     ["rows", "count", "%"]))
    print(f"{a.method}: {total} x {res.embeddings.shape[1]} embeddings -> {path}")
    if res.tokenizer is not None:
        print(f"tokenizer ({len(res.tokenizer)} tokens) -> {out / 'tokenizer'}")
    return 0


def cmd_adapt(a) -> int:
    """``unibridge adapt``: train a language adapter (and new embeddings with ``--tokenizer``), then
    print its representation diagnostics."""
    import shutil
    from pathlib import Path

    from safetensors.torch import load_file

    from ..adaptation.diagnostics import format_diagnostics
    from ..adaptation.model import attach_embeddings, load_adapter_model
    from ..adaptation.stage import adapt_language
    from ..adaptation.train import is_main_process
    from ..backbones import backbone_tokenizer, load_tokenizer, resolve_backbone
    from ..config import AdaptationConfig, TrainConfig
    from ..data import read_dictionary, read_text
    from ..errors import ConfigError

    if bool(a.tokenizer) != bool(a.embeddings):
        raise ConfigError("--tokenizer and --embeddings go together (a new vocabulary and its initial embeddings); "
                          "give neither to train a MAD-X adapter on the base vocabulary")
    out = Path(a.out)
    texts = read_text(a.corpus, limit=a.max_lines)
    base_tok = backbone_tokenizer(a.base)
    model = load_adapter_model(resolve_backbone(a.base))
    tok = base_tok
    if a.tokenizer:
        tok = load_tokenizer(a.tokenizer)
        attach_embeddings(model, a.name, tok, load_file(a.embeddings)["weight"])
    beta = a.beta if a.beta is not None else (1.0 if a.tokenizer else 0.0)
    train = TrainConfig(epochs=a.epochs, max_steps=a.steps, batch_size=a.batch_size, learning_rate=a.lr,
                        max_length=a.max_length)
    cfg = AdaptationConfig(beta=beta, kl_level=a.kl_level, kl_temperature=a.kl_temperature,
                           regulariser=a.regulariser, anchor_weight=a.anchor_weight, mlm_head=a.mlm_head,
                           head_fit_steps=a.head_fit_steps, align_alpha=a.align_alpha, leave_out=a.leave_out or [], eval_fraction=a.eval_fraction,
                           eval_steps=a.eval_steps, patience=a.patience, save_steps=a.save_steps, train=train)
    dictionary = read_dictionary(a.dictionary) if a.dictionary else None

    def fitted_head():  # loaded once the adapter is added (its seed fixes the head's first weights)
        from ..adaptation.backbone_head import backbone_head

        info = backbone_head(model, base_tok, a.base, resolve_backbone(a.base), say=print)
        print(f"backbone MLM head ({info.origin}, {info.digest}): held-out masked-token accuracy "
              f"{info.report.get('heldout_accuracy')}%")
        return info.head
    head_init = None if a.no_backbone_head else fitted_head
    res = adapt_language(model, a.name, tok, texts, out if is_main_process() else None, cfg=cfg,
                         train_embeddings=bool(a.tokenizer), base_tokenizer=base_tok, seed=a.seed,
                         checkpoints=out / "checkpoints", dictionary=dictionary, head_init=head_init,
                         resume=not a.no_resume)
    if not is_main_process():
        return 0
    print(format_diagnostics(res["diagnostics"]))
    shutil.rmtree(out / "checkpoints", ignore_errors=True)  # finished: nothing left to resume
    hist = res["history"]
    pppl = [h["eval_pppl"] for h in hist if "eval_pppl" in h]
    if pppl:
        print(f"held-out pseudo-perplexity: {pppl[0]:.2f} before -> {pppl[-1]:.2f} after")
    losses = [h for h in hist if "mlm_loss" in h]
    if losses:
        last = losses[-1]
        print(f"last logged step {last['step']}: mlm {last['mlm_loss']:.3f}  kl {last['kl_loss']:.4f}  "
              f"anchor {last['anchor_loss']:.4f}  align {last['align_loss']:.4f}")
    print(f"language adapter '{a.name}' -> {out / 'adapter'}")
    return 0


def add_parser(sub) -> None:
    """Register ``vocab``, ``init`` and ``adapt`` on the subparsers ``sub``."""
    from ..config import AdaptationConfig, EmbeddingConfig, SourceAdaptationConfig, TrainConfig, VocabConfig

    v = sub.add_parser("vocab", help="Algorithm 1 vocabulary-size search (ALP) and SentencePiece training")
    v.add_argument("corpus", nargs="+")
    v.add_argument("--out", required=True)
    v.add_argument("--base", default="me5-small",
                   help="base model whose special tokens the tokenizer copies ('' to skip wrapping)")
    config_arg(v, "--v-i", VocabConfig, "v_i", "initial vocabulary size (Algorithm 1)")
    config_arg(v, "--v-m", VocabConfig, "v_m", "largest vocabulary size tried")
    config_arg(v, "--delta", VocabConfig, "delta", "step between vocabulary sizes")
    config_arg(v, "--eps", VocabConfig, "eps", "stop when the ALP gain of one step falls below this")
    config_arg(v, "--sample-words", VocabConfig, "sample_words", "words per ALP sample (0: one line per sample)",
               zero_means_none=True)
    v.add_argument("--per-token", action="store_true", help="ALP per token instead of per sample (rescale --eps)")
    config_arg(v, "--heldout", VocabConfig, "heldout_fraction",
               "score ALP on the last FRACTION of lines, trained without them", metavar="FRACTION")
    v.add_argument("--model-type", default="unigram", choices=["unigram", "bpe"])
    config_arg(v, "--character-coverage", VocabConfig, "character_coverage",
               "default: 0.9995 for CJK text, else 1.0")
    v.add_argument("--strategy", default="fast", choices=["fast", "bisect", "full"],
                   help="fast: Algorithm 1's exact answer, one training per core in flight; bisect: fewer "
                        "trainings when the ALP curve is concave; full: every size up to the cap")
    v.add_argument("--workers", type=count_type(),
                   help="concurrent trainings (default: cores, at most 8; 1: one at a time)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--no-progress", action="store_true")
    v.set_defaults(fn=cmd_vocab)

    i = sub.add_parser("init", help="initialise target embeddings with a plug-in; writes a PCA plot by script")
    i.add_argument("corpus", nargs="+", help="target-language text (fastText static spaces)")
    i.add_argument("--tokenizer", required=True, help="target tokenizer folder (e.g. runs/vocab-amh/tokenizer)")
    i.add_argument("--out", required=True)
    i.add_argument("--method", default="unibridge",
                   help="registered initializer: unibridge (default), focus, fvt, align, roman, tema, va, script, "
                        "script+posn, ident, random, or one a plug-in registers (docs/embeddings.md)")
    i.add_argument("--base", default="me5-small")
    i.add_argument("--dictionary", action="append", help="bilingual dictionary file (tema), repeatable")
    i.add_argument("--parallel", action="append", metavar="TARGET|SOURCE",
                   help="parallel sentences (align), repeatable: two line-aligned files or SIB-200 TSV files "
                        "joined as TARGET|SOURCE, or one UniBridge alignment file")
    config_arg(i, "--augment-size", EmbeddingConfig, "augment_size",
               "va: target pieces added to the base vocabulary (as in Chau et al. 2020)")
    config_arg(i, "--static-dim", EmbeddingConfig, "static_dim", "dimension of the fastText static spaces")
    config_arg(i, "--static-epochs", EmbeddingConfig, "static_epochs", "fastText training epochs")
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--no-plot", action="store_true")
    i.set_defaults(fn=cmd_init)

    d = sub.add_parser("adapt", help="train a language adapter (+ invertible adapter, + new embeddings) with "
                                     "MLM + beta*KL; resumable; runs under torchrun / accelerate launch")
    d.add_argument("corpus", nargs="+", help="language text, one sentence or line per line")
    d.add_argument("--out", required=True, help="output folder: adapter/, embeddings.safetensors, history.json")
    d.add_argument("--base", default="me5-small")
    d.add_argument("--tokenizer", help="new-vocabulary tokenizer folder (unibridge vocab); omit for the base's")
    d.add_argument("--embeddings", help="its initial embeddings (embeddings.safetensors from unibridge init)")
    d.add_argument("--name", default="lang", help="adapter name (default: lang)")
    config_arg(d, "--beta", SourceAdaptationConfig, "beta",
               "KL weight (default 1.0 with --tokenizer, else 0: MLM only)", default=None)
    d.add_argument("--regulariser", default="both", choices=["both", "anchor", "paper-kl", "none"],
                   help="both (default): beta*KL (Eq. 9) + anchor on the last layer's states; anchor; paper-kl; none")
    config_arg(d, "--anchor-weight", SourceAdaptationConfig, "anchor_weight", "weight of the anchor term")
    d.add_argument("--mlm-head", default="fitted", choices=["fitted", "joint"],
                   help="fitted (default): head fitted on the frozen base, then frozen; joint: trained with the adapter")
    config_arg(d, "--head-fit-steps", SourceAdaptationConfig, "head_fit_steps", "steps fitting the head alone")
    d.add_argument("--no-backbone-head", action="store_true",
                   help="start the fitted head's transform fresh instead of from the backbone's MLM head")
    d.add_argument("--kl-level", default="word", choices=["word", "sentence"])
    config_arg(d, "--kl-temperature", SourceAdaptationConfig, "kl_temperature", "softmax temperature of the KL term")
    d.add_argument("--dictionary", action="append", help="bilingual dictionary for the ALIGN-MLM term, repeatable")
    config_arg(d, "--align-alpha", AdaptationConfig, "align_alpha", "ALIGN-MLM weight (align-mlm.md used 10)")
    config_arg(d, "--steps", TrainConfig, "max_steps", "optimizer steps (overrides --epochs)")
    config_arg(d, "--epochs", TrainConfig, "epochs", "passes over the text")
    config_arg(d, "--batch-size", TrainConfig, "batch_size", "sequences per optimizer step")
    config_arg(d, "--lr", TrainConfig, "learning_rate", "learning rate")
    config_arg(d, "--max-length", TrainConfig, "max_length", "tokens per sequence")
    d.add_argument("--max-lines", type=count_type(), help="read at most this many lines")
    config_arg(d, "--leave-out", SourceAdaptationConfig, "leave_out", "layers without an adapter", kind=int,
               nargs="*")
    config_arg(d, "--eval-fraction", SourceAdaptationConfig, "eval_fraction",
               "held out for pseudo-perplexity (max 64 lines)")
    config_arg(d, "--eval-steps", SourceAdaptationConfig, "eval_steps", "evaluate every N steps (0: at the end)")
    config_arg(d, "--patience", SourceAdaptationConfig, "patience",
               "early stopping after N evaluations without gain")
    config_arg(d, "--save-steps", SourceAdaptationConfig, "save_steps", "checkpoint every N steps (0: none)")
    d.add_argument("--no-resume", action="store_true", help="ignore checkpoints left in OUT/checkpoints")
    d.add_argument("--seed", type=int, default=42)
    d.set_defaults(fn=cmd_adapt)
