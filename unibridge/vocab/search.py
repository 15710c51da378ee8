"""Vocabulary-size search: Algorithm 1 of Pham et al. 2024, as written and fast.

Algorithm 1 visits the grid v_i, v_i+δ, v_i+2δ, … and stops at the first size whose ALP gain
Δ_v = ALP_v − ALP_{v−δ} is no longer above ε (the loop runs ``while Δ > ε``), returning that
size; when the next size would exceed v_m it builds v_m and stops. :func:`algorithm1` is that
loop, one training after another. Three searches give its answer with ``workers`` trainings
running side by side (SentencePiece releases the GIL while it trains):

* :func:`parallel_algorithm1` (strategy ``fast``, the default) — **exact, no assumption.**
  The sizes are trained in grid order, ``workers`` at a time, each new one starting as soon as
  a worker is free (no round barrier); the search ends as soon as every size up to the first
  gain ≤ ε is scored. It makes at most ``workers − 1`` trainings more than the plain loop,
  and gives its answer on any curve.
* :func:`bisect_algorithm1` (strategy ``bisect``) — **fewer trainings, one assumption.** Where
  two evaluated sizes are not adjacent it assumes the ALP curve is concave on the grid (gains
  non-increasing). A chord slope s(i, j) = (ALP_j − ALP_i)/(j − i) then bounds the gains
  between: Δ_{i+1} ≥ s(i, j) ≥ Δ_j, so s > ε proves every gain up to i+1 is above ε and
  s ≤ ε proves the stop is at j or before; the answer is certified once these bounds meet
  (the sizes k*−2, k*−1, k* are built, or k* = v_i+δ alone). Rounds fit a power law
  Δ(v) ≈ c·v^(−b) to the chord slopes, build the sizes that would certify the predicted
  crossing, and bisect when a round did not halve the bracket. If the evaluated sizes violate
  concavity, it finishes as :func:`parallel_algorithm1`, reusing every size built
  (``fell_back``). A non-concave stretch that lies entirely between two evaluated sizes cannot
  be seen. Real ALP curves are noisy — on the Amharic news text the gain at 17000 is 3.3,
  at 18000 6.3 — so this pays off only on smooth curves with a far-away stop.
* :func:`full_curve` (strategy ``full``) — every size up to the cap, then Algorithm 1 on the
  complete curve; no assumption.

SentencePiece refuses sizes above a corpus-dependent maximum M ("Vocabulary size too high
(N). Please set it to a value <= M"); every search catches it, lowers the cap to M, logs a
warning and records ``feasible_max``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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
    "parallel_algorithm1",
    "bisect_algorithm1",
    "full_curve",
    "search_vocab_size",
    "split_heldout",
]

logger = logging.getLogger(__name__)

StoppedBy = Literal["epsilon", "v_m", "feasible_max"]
Strategy = Literal["fast", "bisect", "full"]
STRATEGIES = ("fast", "bisect", "full")
# Scores one size: its ALP, or (ALP, seconds it took); raises VocabSizeError when refused.
ScoreFn = Callable[[int], "float | tuple[float, float]"]


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

    ``fell_back``: :func:`bisect_algorithm1` met a non-concave stretch and finished as
    :func:`parallel_algorithm1`.
    """

    vocab_size: int
    curve: list[CurvePoint]
    stopped_by: StoppedBy
    feasible_max: int | None
    effective_v_m: int
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


def _start_too_large(cap: int, v_i: int) -> str:
    return (f"corpus supports at most {cap} pieces; v_i={v_i} is too large "
            "(give the recipe a smaller vocab.v_i and delta, or more target text)")


def _cap_warning(size: int, cap: int, v_m: int) -> None:
    logger.warning("vocabulary size %d is infeasible for this corpus; capping v_m at the feasible "
                   "maximum %d (requested v_m=%d)", size, cap, v_m)


def _sorted_curve(points: dict[int, tuple[float, float]], delta: int) -> list[CurvePoint]:
    return [_point(points, v, delta) for v in sorted(points)]


def _point(points: dict[int, tuple[float, float]], v: int, delta: int) -> CurvePoint:
    a, sec = points[v]
    prev = points.get(v - delta)
    return CurvePoint(v, a, None if prev is None else a - prev[0], sec)


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
        :class:`Algorithm1Outcome`; its curve lists the sizes in evaluation (= ascending) order,
        each point's ``delta`` being Algorithm 1's Δ (the gain over the size built before).

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
        raise infeasible(_start_too_large(m, v_i), m) from None

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
                m = _feasible_max(exc)
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
                _cap_warning(nxt, effective_v_m, v_m)
            if effective_v_m <= v:
                return Algorithm1Outcome(v, curve, reason, feasible_max, effective_v_m)
            try:
                evaluate(effective_v_m, s_prev)
            except VocabSizeError as exc:
                m = _feasible_max(exc)
                if m is None or m >= effective_v_m:
                    raise
                nxt, target, reason = effective_v_m, m, "feasible_max"
                continue
            return Algorithm1Outcome(effective_v_m, curve, reason, feasible_max, effective_v_m)


# --------------------------------------------------------------------------- concurrent searches


class _Grid:
    """The grid v_i + kδ ≤ cap, the sizes scored so far and the trainings in flight.

    At most ``workers`` sizes are scored at once, on a thread pool; use as a context manager
    (leaving it waits for the trainings still running).
    """

    def __init__(self, score_one: ScoreFn, v_i: int, v_m: int, delta: int, workers: int,
                 on_point: Callable[[CurvePoint], None] | None):
        _check_grid(v_i, v_m, delta)
        _check_workers(workers)
        self.score_one, self.v_i, self.v_m, self.delta = score_one, v_i, v_m, delta
        self.workers, self.on_point = workers, on_point
        self.points: dict[int, tuple[float, float]] = {}  # size -> (ALP, seconds)
        self.cap, self.reason = v_m, "v_m"
        self.feasible_max: int | None = None
        self._flight: dict[Future, int] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spm")

    def __enter__(self) -> "_Grid":
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def sizes(self) -> list[int]:
        """The grid sizes ≤ cap, then the cap itself when it is off the grid."""
        grid = list(range(self.v_i, self.cap + 1, self.delta))
        return grid if grid[-1] == self.cap else grid + [self.cap]

    @property
    def grid_alps(self) -> list[float | None]:
        """ALP of each grid size ≤ cap (None where not scored)."""
        return [self.points[v][0] if v in self.points else None
                for v in range(self.v_i, self.cap + 1, self.delta)]

    def _timed(self, v: int) -> tuple[float, float]:
        t0 = time.perf_counter()
        r = self.score_one(v)
        return (float(r[0]), float(r[1])) if isinstance(r, tuple) else (float(r), time.perf_counter() - t0)

    def _submit(self, sizes: list[int]) -> None:
        busy = set(self._flight.values())
        for v in sizes:
            if len(self._flight) >= self.workers:
                return
            if v <= self.cap and v not in self.points and v not in busy:
                self._flight[self._pool.submit(self._timed, v)] = v
                busy.add(v)

    def _collect(self) -> None:
        """Wait for at least one training in flight and record what finished."""
        done, _ = wait(list(self._flight), return_when=FIRST_COMPLETED)
        for fut in sorted(done, key=self._flight.get):
            v = self._flight.pop(fut)
            try:
                self.points[v] = fut.result()
            except VocabSizeError as exc:
                m = _feasible_max(exc)
                if m is None:
                    raise
                if m < self.v_i:
                    raise infeasible(_start_too_large(m, self.v_i), m) from None
                if m < self.cap:
                    _cap_warning(v, m, self.v_m)
                    self.cap, self.reason, self.feasible_max = m, "feasible_max", m
                continue
            if self.on_point is not None:
                self.on_point(_point(self.points, v, self.delta))

    def run(self, sizes: list[int]) -> None:
        """Score ``sizes`` (those ≤ cap and not scored yet) and wait for all of them."""
        todo = [v for v in dict.fromkeys(sizes) if v not in self.points]
        while True:
            todo = [v for v in todo if v <= self.cap and v not in self.points]
            self._submit(todo)
            if not self._flight:
                return
            self._collect()

    def scan(self, eps: float, fell_back: bool = False) -> Algorithm1Outcome:
        """Algorithm 1 over the grid with ``workers`` trainings in flight, in grid order (exact)."""
        while True:
            A = self.grid_alps
            known = next((k for k, a in enumerate(A) if a is None), len(A))  # A[:known] scored
            k = _first_stop(A[:known], eps)
            if k is not None:
                return self.outcome(self.v_i + k * self.delta, "epsilon", fell_back)
            if known == len(A) and self.cap in self.points:
                return self.outcome(self.cap, self.reason, fell_back)
            self._submit(self.sizes)
            self._collect()

    def outcome(self, size: int, stopped_by: StoppedBy, fell_back: bool = False) -> Algorithm1Outcome:
        return Algorithm1Outcome(size, _sorted_curve(self.points, self.delta), stopped_by,
                                 self.feasible_max, self.cap, fell_back)


def _first_stop(A: list[float | None], eps: float) -> int | None:
    """First k ≥ 1 with A[k−1], A[k] known and A[k] − A[k−1] ≤ ε."""
    for k in range(1, len(A)):
        if A[k] is not None and A[k - 1] is not None and not A[k] - A[k - 1] > eps:
            return k
    return None


def parallel_algorithm1(
    score_one: ScoreFn,
    v_i: int = 7000,
    v_m: int = 60000,
    delta: int = 1000,
    eps: float = 5.0,
    workers: int = 2,
    on_point: Callable[[CurvePoint], None] | None = None,
) -> Algorithm1Outcome:
    """Algorithm 1 with ``workers`` trainings in flight, in grid order: its exact answer.

    Args:
        score_one: size → ALP or (ALP, seconds); raises :class:`VocabSizeError` (with
            ``feasible_max``) for a size the corpus cannot support. Called from worker threads.
        v_i, v_m, delta, eps: as in :func:`algorithm1`.
        workers: trainings at once (≥ 1; 1 is the plain loop).
        on_point: called with every new :class:`CurvePoint` (in completion order).

    Returns:
        :class:`Algorithm1Outcome` equal in ``vocab_size``, ``stopped_by``, ``feasible_max``
        and ``effective_v_m`` to :func:`algorithm1` on the same scores, on any curve; its
        curve holds every size built (at most ``workers − 1`` beyond the plain loop's).

    Raises:
        ConfigError: invalid grid or ``workers``. VocabSizeError: v_i exceeds the feasible
        maximum, or a size is refused without a maximum.
    """
    with _Grid(score_one, v_i, v_m, delta, workers, on_point) as grid:
        return grid.scan(eps)


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


def _predict(v_i: int, delta: int, n: int, A: list[float | None], eps: float,
             b_prior: float = 2.0) -> int | None:
    """Grid index where a power law Δ(v) ≈ c·v^(−b) fitted to the chord slopes drops to ε."""
    known = [k for k, a in enumerate(A) if a is not None]
    pts = []
    for i, j in zip(known, known[1:]):
        s = (A[j] - A[i]) / (j - i)
        if s > 0:
            pts.append((math.log(v_i + delta * (i + j) / 2), math.log(s)))
    if not pts or eps <= 0:
        return None
    if len({x for x, _ in pts}) == 1:
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
        return n + 1
    # Δ_k is the slope around size_k − δ/2: first k with size_k − δ/2 ≥ x*
    return max(1, math.ceil((math.exp(log_x) - v_i) / delta + 0.5))


def bisect_algorithm1(
    score_one: ScoreFn,
    v_i: int = 7000,
    v_m: int = 60000,
    delta: int = 1000,
    eps: float = 5.0,
    workers: int = 2,
    on_point: Callable[[CurvePoint], None] | None = None,
) -> Algorithm1Outcome:
    """Algorithm 1's answer from few trainings when the ALP curve is concave (module docstring).

    Args, Raises: as :func:`parallel_algorithm1`.

    Returns:
        :class:`Algorithm1Outcome` equal to :func:`algorithm1`'s whenever the curve is concave
        on the grid, or whenever the sizes it evaluates reveal that it is not (then
        ``fell_back`` is True); ``curve`` holds only the sizes built.
    """
    with _Grid(score_one, v_i, v_m, delta, workers, on_point) as grid:
        grid.run([v_i + k * delta for k in range(max(2, workers))])
        prev_width: int | None = None
        while True:
            A = grid.grid_alps
            n = len(A) - 1
            L, U, violated = _bounds(A, eps)
            if violated or L > U:
                logger.info("ALP gains are not monotone among the evaluated sizes; finishing "
                            "with the parallel scan")
                return grid.scan(eps, fell_back=True)
            if L == U:
                if U <= n:
                    return grid.outcome(v_i + U * delta, "epsilon")
                cap = grid.cap
                grid.run([cap])
                if grid.cap == cap:
                    return grid.outcome(cap, grid.reason)
                continue
            width = U - L
            if prev_width is not None and width > prev_width / 2:
                k_hat = (L + U) // 2
            else:
                pred = _predict(v_i, delta, n, A, eps)
                k_hat = (L + U) // 2 if pred is None else min(max(pred, L), U)
            prev_width = width
            need = [n - 1, n] if k_hat > n else [k_hat, k_hat - 1, k_hat - 2]
            hedge = [x for d in range(1, n + 2) for x in (k_hat + d, k_hat - 2 - d)]
            lo, hi = max(0, L - 2), min(n, U)
            batch = [k for k in need + hedge if lo <= k <= hi and A[k] is None][:workers]
            if not batch:  # cannot happen on a concave curve; stay exact regardless
                return grid.scan(eps, fell_back=True)
            grid.run([v_i + k * delta for k in batch])


def full_curve(
    score_one: ScoreFn,
    v_i: int = 7000,
    v_m: int = 60000,
    delta: int = 1000,
    eps: float = 5.0,
    workers: int = 2,
    on_point: Callable[[CurvePoint], None] | None = None,
) -> Algorithm1Outcome:
    """Score every grid size up to the cap (and the cap), ``workers`` at a time, then apply
    :func:`algorithm1` to the complete curve: its exact answer, with no assumption.

    Args and Raises: as :func:`parallel_algorithm1`. Returns: :class:`Algorithm1Outcome` whose
    curve covers the whole grid up to ``effective_v_m``.
    """
    with _Grid(score_one, v_i, v_m, delta, workers, on_point) as grid:
        grid.scan(-math.inf)  # no gain is ≤ −∞: scores every size up to the cap

    def lookup(v: int) -> float:
        if v > grid.cap:
            raise infeasible(f"corpus supports at most {grid.cap} pieces", grid.cap)
        return grid.points[v][0]

    decided = algorithm1(lookup, v_i, v_m, delta, eps)
    return grid.outcome(decided.vocab_size, decided.stopped_by)


# --------------------------------------------------------------------------- public search


@dataclass
class VocabSearchResult:
    """Outcome of :func:`search_vocab_size`; JSON-serialisable with ``to_dict`` / ``from_dict``.

    ``curve`` lists every trained size (ascending); ``stopped_by`` is ``"epsilon"`` (ALP gain
    ≤ ε), ``"v_m"`` (reached the requested maximum) or ``"feasible_max"`` (reached the largest
    size SentencePiece can build from the corpus, ``feasible_max``); ``effective_v_m`` is the
    maximum in force (``min(v_m, feasible_max)`` once the latter is known). ``seconds``: wall
    time of the whole search; ``workers``: trainings run at once.
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
        strategy: ``fast`` (:func:`parallel_algorithm1`, exact), ``bisect``
            (:func:`bisect_algorithm1`, fewer trainings on concave curves) or ``full``
            (:func:`full_curve`: every size up to the cap, then Algorithm 1).
        workers: concurrent trainings (default: CPU cores, at most 8; 1 = the plain loop).
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
        workers = max(1, min(os.cpu_count() or 1, 8))
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

    search = {"fast": parallel_algorithm1, "bisect": bisect_algorithm1, "full": full_curve}[strategy]
    t0 = time.perf_counter()
    with tqdm(desc=f"ALP vocab search ({strategy})", unit="size", disable=not progress) as bar:

        def on_point(p: CurvePoint) -> None:
            bar.update(1)
            bar.set_postfix(v=p.vocab_size, alp=f"{p.alp:.1f}",
                            gain="-" if p.delta is None else f"{p.delta:.2f}")

        outcome = search(score_one, v_i=v_i, v_m=v_m, delta=delta, eps=eps, workers=workers,
                         on_point=on_point)
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
        fell_back=outcome.fell_back,
        seconds=time.perf_counter() - t0,
    )
