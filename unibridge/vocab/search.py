"""Vocabulary-size search: Algorithm 1 of Pham et al. 2024, as written and fast.

Algorithm 1 visits the grid v_i, v_i+δ, v_i+2δ, … and stops at the first size whose ALP gain
Δ_v = ALP_v − ALP_{v−δ} is no longer above ε (the loop runs ``while Δ > ε``), returning that
size; when the next size would exceed v_m it builds v_m and stops. :func:`algorithm1` is that
loop, one training after another (``strategy="scan"``).

:func:`fast_algorithm1` reaches the same size with fewer rounds of trainings run side by side:

* **Exact facts.** Two adjacent evaluated sizes give Δ exactly. Every stop it reports is
  backed by evaluated sizes: the chosen size k* and its predecessor are built, and the gain
  at k* is ≤ ε.
* **Assumption.** Where two evaluated sizes are not adjacent, the search assumes the ALP
  curve is concave on the grid (gains non-increasing, the diminishing returns every measured
  curve shows). Then a chord slope s(i, j) = (ALP_j − ALP_i)/(j − i) bounds the gains
  between: Δ_{i+1} ≥ s(i, j) ≥ Δ_j, so s > ε proves every gain up to i+1 is above ε and
  s ≤ ε proves the stop is at j or before. The answer is certified once these bounds meet,
  which needs the three sizes k*−2, k*−1, k* (or k* = v_i+δ alone).
* **Search.** Round 1 builds the first sizes of the grid; later rounds fit a power law
  Δ(v) ≈ c·v^(−b) to the chord slopes, predict where Δ crosses ε and build the sizes that
  would certify that prediction (plus neighbours when workers are free). A round whose
  bracket did not halve is followed by a bisection round, so a bad fit costs O(log n) rounds.
* **Fall-back.** If the evaluated sizes up to the bracket violate concavity (a chord steeper
  than the one before it), the assumption is dropped and the search finishes as the plain
  scan, from the first size, reusing every size already built; the result says so
  (``fell_back``). A non-concave stretch that falls entirely between two evaluated sizes
  cannot be seen; ``benchmarks/vocab_search.py`` checks the answer against the plain loop
  on real text.

``strategy="full"`` builds every size up to the cap (in parallel) and applies Algorithm 1 to
the complete curve; no assumption. SentencePiece refuses sizes above a corpus-dependent
maximum M ("Vocabulary size too high (N). Please set it to a value <= M"); every strategy
catches it, lowers the cap to M, logs a warning and records ``feasible_max``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

import sentencepiece as spm

from unibridge.errors import ConfigError, DataError, VocabSizeError
from unibridge.vocab.alp import alp, pack_samples
from unibridge.vocab.trainer import TrainingCorpus, infeasible, train_sentencepiece

__all__ = [
    "CurvePoint",
    "Algorithm1Outcome",
    "VocabSearchResult",
    "algorithm1",
    "fast_algorithm1",
    "full_curve",
    "search_vocab_size",
]

logger = logging.getLogger(__name__)

StoppedBy = Literal["epsilon", "v_m", "feasible_max"]
Strategy = Literal["fast", "scan", "full"]
STRATEGIES = ("fast", "scan", "full")
# Result of scoring one size: its ALP (optionally with the seconds it took), or the
# VocabSizeError that refused it.
Score = float | tuple[float, float] | VocabSizeError


@dataclass
class CurvePoint:
    """One evaluated size: ALP (nats per sample), gain over size − δ, wall seconds to build."""

    vocab_size: int
    alp: float
    delta: float | None  # ALP_v − ALP_{v−δ}; None when v − δ was not built (or v = v_i)
    seconds: float


@dataclass
class Algorithm1Outcome:
    """What a search decided: the size, the curve (ascending sizes) and why it stopped.

    ``rounds``: batches of trainings (one per size for the plain scan); ``fell_back``: the
    fast search met a non-concave stretch and finished as the plain scan.
    """

    vocab_size: int
    curve: list[CurvePoint]
    stopped_by: StoppedBy
    feasible_max: int | None
    effective_v_m: int
    rounds: int = 0
    fell_back: bool = False


def _check_grid(v_i: int, v_m: int, delta: int) -> None:
    for name, val in (("v_i", v_i), ("v_m", v_m), ("delta", delta)):
        if isinstance(val, bool) or not isinstance(val, int) or val <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {val!r}")
    if v_i > v_m:
        raise ConfigError(f"v_i={v_i} must not exceed v_m={v_m}")


def _check_workers(workers: int) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")


def _feasible_max(exc: VocabSizeError) -> int | None:
    return getattr(exc, "feasible_max", None)


def _cap_warning(size: int, cap: int, v_m: int) -> None:
    logger.warning("vocabulary size %d is infeasible for this corpus; capping v_m at the feasible "
                   "maximum %d (requested v_m=%d)", size, cap, v_m)


def _sorted_curve(points: dict[int, tuple[float, float]], delta: int) -> list[CurvePoint]:
    out = []
    for v in sorted(points):
        a, sec = points[v]
        prev = points.get(v - delta)
        out.append(CurvePoint(v, a, None if prev is None else a - prev[0], sec))
    return out


# --------------------------------------------------------------------------- the plain loop


def algorithm1(
    score_at: Callable[[int], float],
    v_i: int = 7000,
    v_m: int = 60000,
    delta: int = 1000,
    eps: float = 5.0,
    on_point: Callable[[CurvePoint], None] | None = None,
) -> Algorithm1Outcome:
    """Algorithm 1 of Pham et al. 2024 as written: one size after another.

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
        :class:`Algorithm1Outcome`; its curve lists the sizes in evaluation (= ascending) order.

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
        m = _feasible_max(exc)
        if m is None:
            raise
        raise infeasible(f"corpus supports at most {m} pieces; v_i={v_i} is too large", m) from None

    v = v_i
    effective_v_m = v_m
    rounds = 1
    while True:  # Δ = ∞ > ε on entry
        nxt = v + delta
        if nxt > effective_v_m:
            target, reason = effective_v_m, "v_m"
        else:
            rounds += 1
            try:
                point = evaluate(nxt, s_prev)
            except VocabSizeError as exc:
                m = _feasible_max(exc)
                if m is None:
                    raise
                target, reason = m, "feasible_max"
            else:
                v, s_prev = nxt, point.alp
                if not point.delta > eps:
                    return Algorithm1Outcome(v, curve, "epsilon", feasible_max, effective_v_m, rounds)
                continue
        # final build at the cap (v_m, or the feasible maximum), then stop
        while True:
            if reason == "feasible_max":
                feasible_max = target if feasible_max is None else min(feasible_max, target)
                effective_v_m = min(effective_v_m, target)
                _cap_warning(nxt, effective_v_m, v_m)
            if effective_v_m <= v:
                return Algorithm1Outcome(v, curve, reason, feasible_max, effective_v_m, rounds)
            rounds += 1
            try:
                evaluate(effective_v_m, s_prev)
            except VocabSizeError as exc:
                m = _feasible_max(exc)
                if m is None or m >= effective_v_m:
                    raise
                nxt, target, reason = effective_v_m, m, "feasible_max"
                continue
            return Algorithm1Outcome(effective_v_m, curve, reason, feasible_max, effective_v_m, rounds)


# --------------------------------------------------------------------------- batched searches


class _Grid:
    """Sizes scored so far through a batched scorer, and the cap they imply."""

    def __init__(self, score_many: Callable[[list[int]], list[Score]], v_i: int, v_m: int,
                 delta: int, on_point: Callable[[CurvePoint], None] | None):
        self.score_many, self.v_i, self.v_m, self.delta = score_many, v_i, v_m, delta
        self.on_point = on_point
        self.points: dict[int, tuple[float, float]] = {}  # size -> (ALP, seconds)
        self.cap, self.reason = v_m, "v_m"
        self.feasible_max: int | None = None
        self.rounds = 0

    @classmethod
    def start(cls, score_many: Callable[[list[int]], list[Score]], v_i: int, v_m: int, delta: int,
              workers: int, on_point: Callable[[CurvePoint], None] | None) -> "_Grid":
        """A fresh grid after checking the grid and ``workers`` (ConfigError if invalid)."""
        _check_grid(v_i, v_m, delta)
        _check_workers(workers)
        return cls(score_many, v_i, v_m, delta, on_point)

    @property
    def sizes(self) -> list[int]:
        """The grid v_i + kδ ≤ cap."""
        return list(range(self.v_i, self.cap + 1, self.delta))

    def alps(self) -> list[float | None]:
        return [self.points[v][0] if v in self.points else None for v in self.sizes]

    def run(self, sizes: list[int]) -> None:
        """Score the not-yet-scored sizes ≤ cap among ``sizes`` as one round."""
        todo = [v for v in dict.fromkeys(sizes) if v <= self.cap and v not in self.points]
        if not todo:
            return
        self.rounds += 1
        t0 = time.perf_counter()
        results = self.score_many(todo)
        seconds = time.perf_counter() - t0
        for v, r in zip(todo, results):
            if isinstance(r, VocabSizeError):
                m = _feasible_max(r)
                if m is None:
                    raise r
                if m < self.v_i:
                    raise infeasible(f"corpus supports at most {m} pieces; v_i={self.v_i} is too large", m)
                if m < self.cap:
                    _cap_warning(v, m, self.v_m)
                    self.cap, self.reason = m, "feasible_max"
                    self.feasible_max = m
            elif isinstance(r, tuple):
                self.points[v] = (float(r[0]), float(r[1]))
            else:
                self.points[v] = (float(r), seconds / len(todo))
        if self.on_point is not None:
            for p in _sorted_curve(self.points, self.delta):
                if p.vocab_size in todo:
                    self.on_point(p)

    def outcome(self, size: int, stopped_by: StoppedBy, fell_back: bool = False) -> Algorithm1Outcome:
        return Algorithm1Outcome(size, _sorted_curve(self.points, self.delta), stopped_by,
                                 self.feasible_max, self.cap, self.rounds, fell_back)

    def finish_at_cap(self) -> Algorithm1Outcome | None:
        """No ε stop on the grid: build the cap and stop there (None if the cap moved)."""
        cap = self.cap
        self.run([cap])
        if self.cap != cap:
            return None
        return self.outcome(cap, self.reason)


def _first_stop(A: list[float | None], eps: float) -> int | None:
    """First k ≥ 1 with A[k−1], A[k] known and A[k] − A[k−1] ≤ ε."""
    for k in range(1, len(A)):
        if A[k] is not None and A[k - 1] is not None and not A[k] - A[k - 1] > eps:
            return k
    return None


def _scan(grid: _Grid, eps: float, workers: int, fell_back: bool) -> Algorithm1Outcome:
    """Plain Algorithm 1 on the grid, ``workers`` consecutive sizes per round (exact)."""
    while True:
        A = grid.alps()
        k = _first_stop(A, eps)
        if k is not None and all(a is not None for a in A[:k]):
            return grid.outcome(grid.sizes[k], "epsilon", fell_back)
        if all(a is not None for a in A):
            out = grid.finish_at_cap()
            if out is not None:
                out.fell_back = fell_back
                return out
            continue
        missing = [v for v, a in zip(grid.sizes, A) if a is None]
        grid.run(missing[:workers])


def _bounds(A: list[float | None], eps: float) -> tuple[int, int, bool]:
    """Bracket [L, U] of the stop index k* (U = n+1: no ε stop on the grid) under concavity,
    and whether the evaluated sizes up to U violate concavity."""
    n = len(A) - 1
    known = [k for k, a in enumerate(A) if a is not None]
    L, U = 1, n + 1
    chords = []
    for i, j in zip(known, known[1:]):
        s = (A[j] - A[i]) / (j - i)
        chords.append((i, j, s))
        if s > eps:
            L = max(L, i + 2)  # Δ_{i+1} ≥ s > ε, and every earlier gain too
        else:
            U = min(U, j)  # Δ_j ≤ s ≤ ε
    violated = any(s2 > s1 for (_, j1, s1), (_, _, s2) in zip(chords, chords[1:]) if j1 < U)
    return L, U, violated


def _predict(sizes: list[int], A: list[float | None], eps: float, b_prior: float = 2.0) -> int | None:
    """Grid index where a power law Δ(v) ≈ c·v^(−b) fitted to the chord slopes drops to ε."""
    known = [k for k, a in enumerate(A) if a is not None]
    pts = []
    delta = sizes[1] - sizes[0] if len(sizes) > 1 else 1
    for i, j in zip(known, known[1:]):
        s = (A[j] - A[i]) / (j - i)
        if s > 0:
            pts.append((math.log((sizes[i] + sizes[j]) / 2), math.log(s)))
    if not pts or eps <= 0:
        return None
    xs = {x for x, _ in pts}
    if len(xs) == 1:
        b = b_prior
        log_c = pts[-1][1] + b * pts[-1][0]
    else:
        mx = sum(x for x, _ in pts) / len(pts)
        my = sum(y for _, y in pts) / len(pts)
        sxx = sum((x - mx) ** 2 for x, _ in pts)
        b = -sum((x - mx) * (y - my) for x, y in pts) / sxx
        if not b > 0:
            return None
        log_c = my + b * mx
    log_x = (log_c - math.log(eps)) / b  # Δ(x*) = ε
    if log_x > 50:
        return len(sizes)
    x_star = math.exp(log_x)
    # Δ_k is the slope around size_k − δ/2: first k with size_k − δ/2 ≥ x*
    return max(1, math.ceil((x_star - sizes[0]) / delta + 0.5))


def fast_algorithm1(
    score_many: Callable[[list[int]], list[Score]],
    v_i: int = 7000,
    v_m: int = 60000,
    delta: int = 1000,
    eps: float = 5.0,
    workers: int = 2,
    on_point: Callable[[CurvePoint], None] | None = None,
) -> Algorithm1Outcome:
    """Algorithm 1's answer in few rounds of ``workers`` concurrent trainings (module docstring).

    Args:
        score_many: list of sizes → list of their ALPs, or of the :class:`VocabSizeError`
            refusing a size (with ``feasible_max``); called with at most ``workers`` sizes.
        v_i, v_m, delta, eps: as in :func:`algorithm1`.
        workers: sizes scored per round (≥ 1).
        on_point: called with every new :class:`CurvePoint`.

    Returns:
        :class:`Algorithm1Outcome` equal in ``vocab_size`` and ``stopped_by`` to
        :func:`algorithm1` on the same scores whenever the ALP curve is concave on the grid;
        ``curve`` holds only the sizes built; ``rounds`` counts batches.

    Raises:
        ConfigError: invalid grid or ``workers``. VocabSizeError: v_i exceeds the feasible
        maximum, or a size is refused without a maximum.
    """
    grid = _Grid.start(score_many, v_i, v_m, delta, workers, on_point)
    grid.run(grid.sizes[: max(2, workers)])
    prev_width: int | None = None
    while True:
        sizes, A = grid.sizes, grid.alps()
        n = len(sizes) - 1
        L, U, violated = _bounds(A, eps)
        if violated or L > U:
            logger.info("ALP gains are not monotone among the evaluated sizes; finishing with "
                        "the plain scan")
            return _scan(grid, eps, workers, fell_back=True)
        if L == U:
            if U <= n:
                return grid.outcome(sizes[U], "epsilon")
            out = grid.finish_at_cap()
            if out is not None:
                return out
            continue
        width = U - L
        if prev_width is not None and width > prev_width / 2:
            k_hat = (L + U) // 2
        else:
            pred = _predict(sizes, A, eps)
            k_hat = (L + U) // 2 if pred is None else min(max(pred, L), U)
        prev_width = width
        need = [n - 1, n] if k_hat > n else [k_hat, k_hat - 1, k_hat - 2]
        hedge = [x for d in range(1, n + 2) for x in (k_hat + d, k_hat - 2 - d)]
        lo, hi = max(0, L - 2), min(n, U)
        batch = [k for k in need + hedge if lo <= k <= hi and A[k] is None][:workers]
        if not batch:  # cannot happen on a concave curve; stay exact regardless
            return _scan(grid, eps, workers, fell_back=True)
        grid.run([sizes[k] for k in batch])


def full_curve(
    score_many: Callable[[list[int]], list[Score]],
    v_i: int = 7000,
    v_m: int = 60000,
    delta: int = 1000,
    eps: float = 5.0,
    workers: int = 2,
    on_point: Callable[[CurvePoint], None] | None = None,
) -> Algorithm1Outcome:
    """Score every grid size up to the cap (and the cap), ``workers`` per round, then apply
    :func:`algorithm1` to the complete curve: its exact answer, with no assumption.

    Args and Raises: as :func:`fast_algorithm1`. Returns: :class:`Algorithm1Outcome` whose
    curve covers the whole grid up to ``effective_v_m``.
    """
    grid = _Grid.start(score_many, v_i, v_m, delta, workers, on_point)
    while True:
        todo = [v for v in grid.sizes + [grid.cap] if v not in grid.points]
        if not todo:
            break
        grid.run(todo[:workers])

    def lookup(v: int) -> float:
        if v > grid.cap:
            raise infeasible(f"corpus supports at most {grid.cap} pieces", grid.cap)
        return grid.points[v][0]

    decided = algorithm1(lookup, v_i, v_m if grid.feasible_max is None else max(v_m, grid.cap),
                         delta, eps)
    return grid.outcome(decided.vocab_size, decided.stopped_by)


# --------------------------------------------------------------------------- public search


@dataclass
class VocabSearchResult:
    """Outcome of :func:`search_vocab_size`; JSON-serialisable with ``to_dict`` / ``from_dict``.

    ``curve`` lists every trained size (ascending); ``stopped_by`` is ``"epsilon"`` (ALP gain
    ≤ ε), ``"v_m"`` (reached the requested maximum) or ``"feasible_max"`` (reached the largest
    size SentencePiece can build from the corpus, ``feasible_max``); ``effective_v_m`` is the
    maximum in force (``min(v_m, feasible_max)`` once the latter is known). ``seconds``: wall
    time of the whole search; ``rounds``: batches of concurrent trainings.
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
    character_coverage: float = 1.0
    per_token: bool = False
    heldout_fraction: float = 0.0
    strategy: str = "fast"
    workers: int = 1
    rounds: int = 0
    fell_back: bool = False
    seconds: float = 0.0

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


def _raise_refusal(score: Score) -> float:
    if isinstance(score, VocabSizeError):
        raise score
    return score[0] if isinstance(score, tuple) else score


def split_heldout(lines: Sequence[str], fraction: float) -> tuple[list[str], list[str]]:
    """(train, held-out): the last ``ceil(fraction · N)`` non-blank lines are held out.

    Raises:
        ConfigError: ``fraction`` not in [0, 1). DataError: a non-empty split would be empty.
    """
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"heldout_fraction must be in [0, 1), got {fraction!r}")
    kept = [s for s in (line.strip() for line in lines) if s]
    if fraction == 0.0:
        return kept, kept
    n_held = math.ceil(fraction * len(kept))
    if n_held >= len(kept) or n_held == 0:
        raise DataError(f"cannot hold out {fraction:.0%} of {len(kept)} lines and still train")
    return kept[:-n_held], kept[-n_held:]


def search_vocab_size(
    lines: Sequence[str],
    *,
    workdir: Path | str,
    v_i: int = 7000,
    v_m: int = 60000,
    delta: int = 1000,
    eps: float = 5.0,
    sample_words: int | None = 128,
    per_token: bool = False,
    model_type: str = "unigram",
    character_coverage: float | None = None,
    heldout_fraction: float = 0.0,
    alp_lines: Sequence[str] | None = None,
    strategy: Strategy = "fast",
    workers: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> VocabSearchResult:
    """Choose the target vocabulary size with Algorithm 1 of Pham et al. 2024 and ALP (Zheng et al. 2021).

    Every visited size v is a SentencePiece model trained with one thread on ``lines`` (written
    once to ``workdir/corpus.txt``) and saved as ``workdir/spm_{v}.model``; its ALP is measured
    in one batched ``encode`` call on the ALP text packed into samples of ``sample_words``
    words (the paper's 128, so that ε = 5.0 keeps the paper's meaning; ``None`` = one sample
    per line). Scores are cached beside each model (``spm_{v}.alp.json``, keyed by corpus and
    settings), so an interrupted search resumes where it stopped.

    Args:
        lines: monolingual target corpus D.
        workdir: directory for the corpus file, the models and their scores.
        v_i, v_m, delta, eps: Algorithm 1's initial size, maximum, step and threshold
            (paper defaults 7000, 60000, 1000, 5.0).
        sample_words: ALP sample size in words, or None.
        per_token: ALP per token instead of per sample (choose ``eps`` accordingly).
        model_type: ``unigram`` (the paper's) or ``bpe`` (also ``char``, ``word``).
        character_coverage: None = 0.9995 for CJK text, 1.0 otherwise.
        heldout_fraction: hold out the last fraction of lines for ALP (0 = score on the
            training text, as the paper does).
        alp_lines: explicit ALP text (overrides ``heldout_fraction``).
        strategy: ``fast`` (:func:`fast_algorithm1`), ``scan`` (:func:`algorithm1`, one
            size at a time) or ``full`` (every size up to the cap, then Algorithm 1).
        workers: concurrent trainings (default: CPU cores, at most 8; ``scan`` uses 1).
        seed: SentencePiece's random seed.
        progress: show a tqdm bar.

    Returns:
        :class:`VocabSearchResult` (chosen size, its model, the ALP curve, the stop reason).

    Raises:
        DataError: empty corpus or ALP text. ConfigError: invalid parameters.
        VocabSizeError: the corpus supports fewer than ``v_i`` pieces (``.feasible_max`` set),
        or ``v_i`` is below the number of characters the corpus needs.
    """
    from tqdm.auto import tqdm

    _check_grid(v_i, v_m, delta)
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if workers is None:
        workers = 1 if strategy == "scan" else max(1, min(os.cpu_count() or 1, 8))
    _check_workers(workers)
    if not any(line.strip() for line in lines):
        raise DataError("cannot search a vocabulary size: the corpus is empty")
    train_lines, held = split_heldout(lines, heldout_fraction)
    samples = pack_samples(list(held if alp_lines is None else alp_lines), sample_words)
    if not samples:
        raise DataError("cannot compute ALP: the ALP text is empty")
    workdir = Path(workdir)
    corpus = TrainingCorpus.write(train_lines, workdir / "corpus.txt")
    coverage = corpus.character_coverage if character_coverage is None else character_coverage
    h = hashlib.sha256(corpus.path.read_bytes())
    h.update("\0".join(samples).encode("utf-8"))
    h.update(json.dumps([per_token, model_type, coverage, seed]).encode())
    key = h.hexdigest()[:16]

    def score_one(v: int) -> tuple[float, float]:
        t0 = time.perf_counter()
        cached = workdir / f"spm_{v}.alp.json"
        model = workdir / f"spm_{v}.model"
        if cached.is_file() and model.is_file():
            rec = json.loads(cached.read_text())
            if rec.get("key") == key:
                return float(rec["alp"]), float(rec["seconds"])
        path = train_sentencepiece(corpus, v, workdir / f"spm_{v}", model_type=model_type,
                                   character_coverage=coverage, num_threads=1, seed=seed)
        score = alp(spm.SentencePieceProcessor(model_file=str(path)), samples, per_token=per_token)
        seconds = time.perf_counter() - t0
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "alp": score, "seconds": seconds}))
        os.replace(tmp, cached)
        return score, seconds

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spm")

    def score_many(sizes: list[int]) -> list[Score]:
        futures = {pool.submit(score_one, v): v for v in sizes}
        done: dict[int, Score] = {}
        for fut in as_completed(futures):
            try:
                done[futures[fut]] = fut.result()
            except VocabSizeError as exc:
                done[futures[fut]] = exc
        return [done[v] for v in sizes]

    t0 = time.perf_counter()
    with pool, tqdm(desc=f"ALP vocab search ({strategy})", unit="size", disable=not progress) as bar:

        def on_point(p: CurvePoint) -> None:
            bar.update(1)
            bar.set_postfix(v=p.vocab_size, alp=f"{p.alp:.1f}",
                            gain="-" if p.delta is None else f"{p.delta:.2f}")

        grid_args = dict(v_i=v_i, v_m=v_m, delta=delta, eps=eps, on_point=on_point)
        if strategy == "scan":
            outcome = algorithm1(lambda v: _raise_refusal(score_many([v])[0]), **grid_args)
        elif strategy == "full":
            outcome = full_curve(score_many, workers=workers, **grid_args)
        else:
            outcome = fast_algorithm1(score_many, workers=workers, **grid_args)
    return VocabSearchResult(
        vocab_size=outcome.vocab_size,
        model_path=workdir / f"spm_{outcome.vocab_size}.model",
        curve=outcome.curve,
        feasible_max=outcome.feasible_max,
        effective_v_m=outcome.effective_v_m,
        sample_words=sample_words,
        stopped_by=outcome.stopped_by,
        v_i=v_i, v_m=v_m, delta=delta, eps=eps,
        model_type=model_type,
        character_coverage=coverage,
        per_token=per_token,
        heldout_fraction=heldout_fraction if alp_lines is None else 0.0,
        strategy=strategy,
        workers=workers,
        rounds=outcome.rounds,
        fell_back=outcome.fell_back,
        seconds=time.perf_counter() - t0,
    )
