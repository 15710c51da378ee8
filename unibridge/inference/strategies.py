"""Weight strategies: how the sources' task adapters are weighted on a target (a registry).

A strategy is a name, a help line and a function ``weights(ctx) -> {source: w}`` that gives
the weights before any input is seen (:class:`WeightContext`: the sources, the target, the
run's stored harmony weights). A *per-batch* strategy also has ``per_batch(logits, mask,
weights) -> (S,)`` that re-weights each batch from the sources' own predictions (test-time
adaptation); its static weights are where it starts. A strategy that takes an argument
(``arg``, its name in help) is named ``name:<value>`` (``single:en``).

Registered here: ``harmony`` (Pham et al. 2024, Eq. 10-12, as the run stored it for the task:
chosen on dev data where it had some), ``harmony-untuned`` (the recipe's own harmony setting),
``lang2vec`` (URIEL similarity), ``uniform``, ``entropy`` (per batch, EMEA-style) and
``single:<lang>``. Every consumer reads this registry: the predictor, the evaluation stage
(which scores every static strategy from one pass), the transfer grid and the CLI's choices.

Adding one takes a few lines and no change to the package::

    from unibridge.inference.strategies import register_strategy

    @register_strategy("first", help="all weight on the first source")
    def first(ctx):
        return {s: float(i == 0) for i, s in enumerate(ctx.sources)}

This module imports nothing heavy (``unibridge --help`` lists the strategies without torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import ConfigError
from ..registry import Registry


@dataclass(frozen=True)
class WeightContext:
    """What a strategy may read: the ``sources`` (in order), the ``target`` language code, the
    ``harmony`` weights the run stored for the task (chosen on its dev data where it had some;
    None without a harmony stage), the recipe's own harmony setting ``untuned``, and ``arg``
    (``single:<arg>``; None for a strategy without one)."""

    sources: list[str]
    target: str | None = None
    harmony: dict[str, float] | None = None
    untuned: dict[str, float] | None = None
    arg: str | None = None


@dataclass(frozen=True)
class WeightStrategy:
    """A registered weight strategy; see the module docstring. ``per_batch``: ``(source logits
    (S, N, C), mask (N,) bool of the positions that count, static weights (S,)) -> (S,)`` float
    weights ≥ 0 summing to 1, or None for a static strategy. ``arg``: the name of the argument
    the strategy takes (``single:<lang>``), or None."""

    name: str
    help: str
    weights: Callable[[WeightContext], dict[str, float]]
    per_batch: Callable | None = None
    arg: str | None = None

    @property
    def static(self) -> bool:
        return self.per_batch is None


STRATEGIES: Registry = Registry("weight strategy", pattern=r"[a-z][a-z0-9_+-]*", replace=True)
"""Strategy name -> :class:`WeightStrategy`; a later registration of a name replaces it."""


def register_strategy(name: str, *, help: str, per_batch: Callable | None = None, arg: str | None = None):
    """Decorator registering ``weights(ctx) -> {source: w}`` as strategy ``name`` (a later
    registration of the same name replaces it). Raises ValueError for a name that is not a
    lowercase word (letters, digits, ``_ + -``; no ``:``, which separates a strategy's argument)."""
    STRATEGIES.check_name(name)  # at decoration time, before the function is known

    def deco(fn):
        STRATEGIES.register(name, WeightStrategy(name, help, fn, per_batch, arg))
        return fn
    return deco


def strategy_names(*, static_only: bool = False) -> list[str]:
    """Names of the registered strategies a caller can name as they are (``single`` and other
    strategies that take an argument are left out; ``static_only``: per-batch ones too)."""
    return [n for n, s in STRATEGIES.items() if s.arg is None and (s.static or not static_only)]


def strategy_help() -> str:
    """One line naming every strategy, for CLI help."""
    return ", ".join(f"{n}:<{s.arg}>" if s.arg else n for n, s in STRATEGIES.items())


def get_strategy(spec: str) -> tuple[WeightStrategy, str | None]:
    """``(strategy, arg)`` for a name (``"lang2vec"``) or ``"name:<arg>"`` (``"single:en"``).
    Raises ConfigError naming the registered strategies."""
    name, sep, arg = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    s = STRATEGIES.find(name)
    if s is None or (s.arg is not None) != bool(sep) or (sep and not arg):
        raise ConfigError(f"unknown weight strategy {spec!r}; use {strategy_help()} or a mapping")
    return s, (arg or None)


def _normalised(weights: dict[str, float], sources: list[str], what: str) -> dict[str, float]:
    missing = set(sources) - set(weights)
    if missing:
        raise ConfigError(f"{what} given for {sorted(weights)} but sources are {sources}")
    total = sum(weights[s] for s in sources)
    if not total > 0:
        raise ConfigError(f"{what} must have a positive sum")
    return {s: weights[s] / total for s in sources}


def resolve_weights(strategy: str | dict, sources: list[str], harmony: dict[str, float] | None = None,
                    target: str | None = None, untuned: dict[str, float] | None = None) -> dict[str, float]:
    """Weights per source (≥ 0, summing to 1, in the order of ``sources``) for a registered
    strategy name (:func:`get_strategy`) or an explicit mapping (normalised). A per-batch
    strategy gives its starting weights. Raises ConfigError for an unknown strategy, a
    strategy missing what it needs, or a mapping without every source."""
    if isinstance(strategy, dict):
        return _normalised(strategy, sources, "explicit weights")
    s, arg = get_strategy(strategy)
    ctx = WeightContext(list(sources), target, harmony, untuned, arg)
    return _normalised(s.weights(ctx), sources, f"the '{strategy}' weights")


# --------------------------------------------------------------------------- built-in strategies
@register_strategy("harmony", help="harmony weights as the run stored them for the task (chosen on dev data "
                                   "where it had some; Eq. 10-12 of Pham et al. 2024)")
def _harmony(ctx: WeightContext) -> dict[str, float]:
    if ctx.harmony is None:
        raise ConfigError("no harmony weights stored for this run")
    return ctx.harmony


@register_strategy("harmony-untuned", help="harmony weights with the recipe's own distance and temperature")
def _harmony_untuned(ctx: WeightContext) -> dict[str, float]:
    if ctx.untuned is None:
        raise ConfigError("no harmony weights stored for this run")
    return ctx.untuned


@register_strategy("lang2vec", help="cosine similarity of URIEL typological vectors (Malaviya et al. 2017)")
def _lang2vec(ctx: WeightContext) -> dict[str, float]:
    from .weights import lang2vec_weights

    if ctx.target is None:
        raise ConfigError("lang2vec weights need the target language")
    return lang2vec_weights(ctx.target, ctx.sources)


@register_strategy("uniform", help="the same weight for every source")
def _uniform(ctx: WeightContext) -> dict[str, float]:
    return {s: 1.0 for s in ctx.sources}


def _entropy_per_batch(logits, mask, weights):
    from .weights import entropy_weights

    return entropy_weights(logits, mask)  # starts uniform, as its static weights do


@register_strategy("entropy", per_batch=_entropy_per_batch,
                   help="per batch, the weights that minimise the prediction entropy (after EMEA, Wang et al. 2021)")
def _entropy(ctx: WeightContext) -> dict[str, float]:
    return {s: 1.0 for s in ctx.sources}


@register_strategy("single", arg="lang", help="single:<lang>, one source's task adapter alone")
def _single(ctx: WeightContext) -> dict[str, float]:
    if ctx.arg not in ctx.sources:
        raise ConfigError(f"single-source weights name '{ctx.arg}', not one of the sources {ctx.sources}")
    return {s: float(s == ctx.arg) for s in ctx.sources}
