"""Vocabulary-size search: SentencePiece training and Algorithm 1 of Pham et al. 2024.

Algorithm 1 starts at ``v_i``, grows the vocabulary by ``delta`` and stops at the first step
whose ALP gain ``ALP_v − ALP_{v−δ}`` is no longer above ``eps`` (the loop runs
``while Δ > ε``); it returns the tokenizer built at that last size ``v``, i.e. the first size
whose gain fell to ``eps`` or below, exactly as line 18 of the algorithm returns ``t``. When
``v + δ`` exceeds ``v_m`` the size is set to ``v_m``, a tokenizer is built there and the search
ends.

A SentencePiece unigram model cannot have more pieces than its seed vocabulary allows; when a
size is refused, the largest feasible size ``M`` reported by SentencePiece becomes the
effective ``v_m`` (logged as a warning and recorded in the result as ``feasible_max``).
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

import sentencepiece as spm

from unibridge.errors import ConfigError, DataError, VocabSizeError
from unibridge.vocab.alp import alp, pack_samples

__all__ = [
    "CurvePoint",
    "VocabSearchResult",
    "algorithm1",
    "train_sentencepiece",
    "search_vocab_size",
    "plot_alp_curve",
]

logger = logging.getLogger(__name__)

StoppedBy = Literal["epsilon", "v_m", "feasible_max"]

_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")
_TOO_SMALL = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")
_MODEL_TYPES = ("unigram", "bpe", "char", "word")


def _infeasible(message: str, feasible_max: int) -> VocabSizeError:
    err = VocabSizeError(message)
    err.feasible_max = feasible_max  # type: ignore[attr-defined]
    return err


# --------------------------------------------------------------------------- training


def train_sentencepiece(
    lines: Sequence[str],
    vocab_size: int,
    out_prefix: Path | str,
    model_type: str = "unigram",
    character_coverage: float = 0.9995,
    num_threads: int | None = None,
    seed: int = 0,
) -> Path:
    """Train a SentencePiece model (Kudo & Richardson 2018) on ``lines``; return the ``.model`` path.

    The model has exactly ``vocab_size`` pieces (``hard_vocab_limit``) and the default special
    layout ``<unk>``=0, ``<s>``=1, ``</s>``=2, no ``<pad>`` piece and no user symbols: the layout
    XLM-R's own SentencePiece model has, which :func:`unibridge.vocab.wrap_tokenizer` maps onto
    fairseq ids (XLM-R style) or onto ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (BERT style).

    Args:
        lines: training sentences (blank lines are skipped).
        vocab_size: number of pieces, special pieces included.
        out_prefix: writes ``{out_prefix}.model`` and ``{out_prefix}.vocab`` (parent created).
        model_type: ``unigram`` (the paper's), ``bpe``, ``char`` or ``word``.
        character_coverage: fraction of characters covered by the alphabet; rarer ones → ``<unk>``.
        num_threads: trainer threads (default: all cores, at most 16).
        seed: SentencePiece's random generator seed (set process-wide).

    Returns:
        Path of the trained ``.model`` file.

    Raises:
        DataError: no non-blank line.
        ConfigError: invalid ``vocab_size`` / ``model_type`` / ``character_coverage``.
        VocabSizeError: the corpus cannot support ``vocab_size``; when SentencePiece reports the
            largest feasible size M ("Vocabulary size too high (N). Please set it to a value
            <= M") the error carries ``.feasible_max = M``.
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size <= 0:
        raise ConfigError(f"vocab_size must be a positive integer, got {vocab_size!r}")
    if model_type not in _MODEL_TYPES:
        raise ConfigError(f"model_type must be one of {', '.join(_MODEL_TYPES)}, got {model_type!r}")
    if not 0.0 < character_coverage <= 1.0:
        raise ConfigError(f"character_coverage must be in (0, 1], got {character_coverage!r}")
    sentences = [s for s in (line.strip() for line in lines) if s]
    if not sentences:
        raise DataError("cannot train a SentencePiece model: the corpus is empty")
    out_prefix = Path(out_prefix)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    if num_threads is None:
        num_threads = max(1, min(os.cpu_count() or 1, 16))
    max_bytes = max(len(s.encode("utf-8")) for s in sentences)
    spm.set_random_generator_seed(seed)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_prefix=str(out_prefix),
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            hard_vocab_limit=True,
            num_threads=num_threads,
            max_sentence_length=max(4192, max_bytes + 1),
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=-1,
            unk_piece="<unk>",
            bos_piece="<s>",
            eos_piece="</s>",
            minloglevel=2,
        )
    except RuntimeError as exc:
        msg = str(exc)
        m = _TOO_HIGH.search(msg)
        if m:
            feasible = int(m.group(2))
            raise _infeasible(
                f"corpus supports at most {feasible} SentencePiece pieces; vocab_size={vocab_size} is too large",
                feasible,
            ) from None
        m = _TOO_SMALL.search(msg)
        if m:
            raise VocabSizeError(
                f"vocab_size={vocab_size} is smaller than the {m.group(2)} characters the corpus needs "
                f"at character_coverage={character_coverage}; raise vocab_size or lower character_coverage"
            ) from None
        raise
    return out_prefix.with_name(out_prefix.name + ".model")


# --------------------------------------------------------------------------- Algorithm 1


@dataclass
class CurvePoint:
    """One evaluated size: ALP (nats per sample), gain over the previous point, wall seconds."""

    vocab_size: int
    alp: float
    delta: float | None  # ALP_v − ALP_prev; None for the first point (Algorithm 1's Δ = ∞)
    seconds: float


@dataclass
class Algorithm1Outcome:
    """What :func:`algorithm1` decided: the size, the curve and why it stopped."""

    vocab_size: int
    curve: list[CurvePoint]
    stopped_by: StoppedBy
    feasible_max: int | None
    effective_v_m: int


def _check_grid(v_i: int, v_m: int, delta: int) -> None:
    for name, val in (("v_i", v_i), ("v_m", v_m), ("delta", delta)):
        if isinstance(val, bool) or not isinstance(val, int) or val <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {val!r}")
    if v_i > v_m:
        raise ConfigError(f"v_i={v_i} must not exceed v_m={v_m}")


def algorithm1(
    score_at: Callable[[int], float],
    v_i: int = 7000,
    v_m: int = 60000,
    delta: int = 1000,
    eps: float = 5.0,
    on_point: Callable[[CurvePoint], None] | None = None,
) -> Algorithm1Outcome:
    """Algorithm 1 of Pham et al. 2024 (vocabulary-size search), independent of how sizes are scored.

    ``score_at(v)`` builds the tokenizer of size v and returns ALP(D, t_v). Steps::

        v ← v_i; s_prev ← score_at(v); Δ ← ∞
        while Δ > ε:
            v ← v + δ
            if v > v_m: v ← v_m; build t_v; stop                       (stopped_by "v_m")
            s_curr ← score_at(v); Δ ← s_curr − s_prev; s_prev ← s_curr  (stopped_by "epsilon")
        return v

    The returned size is the last one built: on an ε stop, the first size whose gain over its
    predecessor is ≤ ε (not its predecessor). On the v_m stop the tokenizer at v_m is built with
    ``score_at`` too (its ALP is recorded on the curve but does not affect the decision); when
    the previous size already equals v_m it is not rebuilt.

    Feasibility: if ``score_at(v)`` raises :class:`VocabSizeError` carrying ``feasible_max = M``
    (SentencePiece's limit), v_m is lowered to M, a warning is logged, v ← M is built and the
    search stops (stopped_by "feasible_max").

    Args:
        score_at: size → ALP (may raise VocabSizeError with ``feasible_max``).
        v_i, v_m, delta: initial size, maximum size, step (positive ints, v_i ≤ v_m).
        eps: stopping threshold ε on the ALP gain (nats per sample).
        on_point: called with every new :class:`CurvePoint` (progress reporting).

    Returns:
        :class:`Algorithm1Outcome` with the size, the curve in evaluation order, the stop reason,
        the feasible maximum if one was hit and the effective v_m.

    Raises:
        ConfigError: invalid grid. VocabSizeError: v_i itself exceeds the feasible maximum.
    """
    _check_grid(v_i, v_m, delta)
    curve: list[CurvePoint] = []
    feasible_max: int | None = None

    def evaluate(v: int, prev: float | None) -> CurvePoint:
        t0 = time.perf_counter()
        s = float(score_at(v))
        point = CurvePoint(v, s, None if prev is None else s - prev, time.perf_counter() - t0)
        curve.append(point)
        if on_point is not None:
            on_point(point)
        return point

    try:
        s_prev = evaluate(v_i, None).alp
    except VocabSizeError as exc:
        m = getattr(exc, "feasible_max", None)
        if m is None:
            raise
        raise _infeasible(f"corpus supports at most {m} pieces; v_i={v_i} is too large", m) from None

    v = v_i
    effective_v_m = v_m
    while True:  # Δ = ∞ > ε on entry
        nxt = v + delta
        if nxt > effective_v_m:
            target, reason = effective_v_m, "v_m"
        else:
            try:
                point = evaluate(nxt, s_prev)
            except VocabSizeError as exc:
                m = getattr(exc, "feasible_max", None)
                if m is None:
                    raise
                target, reason = m, "feasible_max"
            else:
                v, s_prev = nxt, point.alp
                if not point.delta > eps:
                    return Algorithm1Outcome(v, curve, "epsilon", feasible_max, effective_v_m)
                continue
        # final build at the cap (v_m, or the feasible maximum), then stop
        while True:
            if reason == "feasible_max":
                feasible_max = target if feasible_max is None else min(feasible_max, target)
                effective_v_m = min(effective_v_m, target)
                logger.warning(
                    "vocabulary size %d is infeasible for this corpus; capping v_m at the feasible "
                    "maximum %d (requested v_m=%d)", nxt, effective_v_m, v_m,
                )
            if effective_v_m <= v:
                return Algorithm1Outcome(v, curve, reason, feasible_max, effective_v_m)
            try:
                evaluate(effective_v_m, s_prev)
            except VocabSizeError as exc:
                m = getattr(exc, "feasible_max", None)
                if m is None or m >= effective_v_m:
                    raise
                nxt, target, reason = effective_v_m, m, "feasible_max"
                continue
            return Algorithm1Outcome(effective_v_m, curve, reason, feasible_max, effective_v_m)


# --------------------------------------------------------------------------- public search


@dataclass
class VocabSearchResult:
    """Outcome of :func:`search_vocab_size`; JSON-serialisable with ``to_dict`` / ``from_dict``.

    ``curve`` lists every trained size in order; ``stopped_by`` is ``"epsilon"`` (ALP gain ≤ ε),
    ``"v_m"`` (reached the requested maximum) or ``"feasible_max"`` (reached the largest size
    SentencePiece can build from the corpus, ``feasible_max``); ``effective_v_m`` is the maximum
    actually in force (``min(v_m, feasible_max)`` once the latter is known).
    """

    vocab_size: int
    model_path: Path
    curve: list[CurvePoint]
    feasible_max: int | None
    effective_v_m: int
    sample_words: int | None
    stopped_by: StoppedBy
    v_i: int = 7000
    v_m: int = 60000
    delta: int = 1000
    eps: float = 5.0
    model_type: str = "unigram"
    character_coverage: float = 0.9995

    def to_dict(self) -> dict:
        """Plain-JSON dict (paths as strings)."""
        d = asdict(self)
        d["model_path"] = str(self.model_path)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "VocabSearchResult":
        """Inverse of :meth:`to_dict`. Raises ConfigError on a malformed dict."""
        try:
            d = dict(d)
            d["model_path"] = Path(d["model_path"])
            d["curve"] = [CurvePoint(**p) for p in d["curve"]]
            return cls(**d)
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"malformed vocabulary search result: {exc}") from None


def search_vocab_size(
    lines: Sequence[str],
    *,
    v_i: int = 7000,
    v_m: int = 60000,
    delta: int = 1000,
    eps: float = 5.0,
    sample_words: int | None = 128,
    model_type: str = "unigram",
    character_coverage: float = 0.9995,
    workdir: Path | str,
    alp_lines: Sequence[str] | None = None,
    num_threads: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> VocabSearchResult:
    """Choose the target vocabulary size with Algorithm 1 of Pham et al. 2024 and ALP (Zheng et al. 2021).

    For every visited size v a SentencePiece model is trained on ``lines`` and saved as
    ``workdir/spm_{v}.model``; ALP is measured on ``alp_lines`` (a held-out split) or, by
    default, on ``lines`` themselves, packed into samples of ``sample_words`` words (the
    paper's 128; ``None`` = one sample per line). Sizes are tried one after another, see
    :func:`algorithm1` for the exact stopping rule and the returned size.

    Args:
        lines: monolingual target corpus D.
        v_i, v_m, delta, eps: Algorithm 1's initial size, maximum, step and threshold
            (paper defaults 7000, 60000, 1000, 5.0).
        sample_words: ALP sample size in words, or None.
        model_type, character_coverage, num_threads, seed: passed to :func:`train_sentencepiece`.
        workdir: directory for the trained models.
        alp_lines: optional held-out text for ALP.
        progress: show a tqdm bar.

    Returns:
        :class:`VocabSearchResult` (chosen size, its model path, the full ALP curve, stop reason).

    Raises:
        DataError: empty corpus. ConfigError: invalid parameters.
        VocabSizeError: the corpus supports fewer than ``v_i`` pieces (``.feasible_max`` set).
    """
    from tqdm.auto import tqdm

    _check_grid(v_i, v_m, delta)
    if not any(line.strip() for line in lines):
        raise DataError("cannot search a vocabulary size: the corpus is empty")
    samples = pack_samples(list(lines if alp_lines is None else alp_lines), sample_words)
    if not samples:
        raise DataError("cannot compute ALP: the held-out ALP corpus is empty")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    def score_at(v: int) -> float:
        path = train_sentencepiece(
            lines, v, workdir / f"spm_{v}", model_type=model_type,
            character_coverage=character_coverage, num_threads=num_threads, seed=seed,
        )
        return alp(spm.SentencePieceProcessor(model_file=str(path)), samples)

    n_steps = (v_m - v_i) // delta + 1 + (1 if (v_m - v_i) % delta else 0)
    with tqdm(total=n_steps, desc="ALP vocab search", unit="size", disable=not progress) as bar:

        def on_point(p: CurvePoint) -> None:
            bar.update(1)
            bar.set_postfix(v=p.vocab_size, alp=f"{p.alp:.1f}",
                            gain="inf" if p.delta is None else f"{p.delta:.2f}")

        outcome = algorithm1(score_at, v_i=v_i, v_m=v_m, delta=delta, eps=eps, on_point=on_point)
        bar.total = bar.n
        bar.refresh()

    return VocabSearchResult(
        vocab_size=outcome.vocab_size,
        model_path=workdir / f"spm_{outcome.vocab_size}.model",
        curve=outcome.curve,
        feasible_max=outcome.feasible_max,
        effective_v_m=outcome.effective_v_m,
        sample_words=sample_words,
        stopped_by=outcome.stopped_by,
        v_i=v_i,
        v_m=v_m,
        delta=delta,
        eps=eps,
        model_type=model_type,
        character_coverage=character_coverage,
    )


# --------------------------------------------------------------------------- plotting


def plot_alp_curve(result: VocabSearchResult, path_png: Path | str) -> Path:
    """Plot ALP vs vocabulary size and the ALP gain Δ vs size (with the ε line); mark the choice.

    Args:
        result: a :class:`VocabSearchResult`.
        path_png: output image (parent directories are created).

    Returns:
        ``Path(path_png)``.

    Raises:
        DataError: the result has an empty curve.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not result.curve:
        raise DataError("cannot plot an empty ALP curve")
    path_png = Path(path_png)
    path_png.parent.mkdir(parents=True, exist_ok=True)
    sizes = [p.vocab_size for p in result.curve]
    alps = [p.alp for p in result.curve]
    d_pts = [(p.vocab_size, p.delta) for p in result.curve if p.delta is not None]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(sizes, alps, "o-")
    chosen = [p for p in result.curve if p.vocab_size == result.vocab_size]
    if chosen:
        ax1.plot([chosen[-1].vocab_size], [chosen[-1].alp], "r*", ms=14, label=f"chosen {result.vocab_size}")
        ax1.legend()
    ax1.set_xlabel("vocabulary size")
    ax1.set_ylabel("ALP (nats / sample)")
    ax1.set_title(f"ALP (sample_words={result.sample_words})")
    if d_pts:
        ax2.plot([x for x, _ in d_pts], [y for _, y in d_pts], "o-")
    ax2.axhline(result.eps, color="gray", ls="--", label=f"ε = {result.eps:g}")
    ax2.axvline(result.vocab_size, color="r", ls=":", label=f"chosen {result.vocab_size} ({result.stopped_by})")
    ax2.set_xlabel("vocabulary size")
    ax2.set_ylabel("Δ ALP vs previous size")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path_png, dpi=100)
    plt.close(fig)
    return path_png
