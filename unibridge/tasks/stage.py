"""Task adapters (stage 4) as one service: train one source's task adapter with its head, score
it on the source's own dev split, train it again while it misses its floor, and write it into a
folder. The pipeline's sources stage and the transfer grid's zero-shot baseline both call
:func:`adapt_task`."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Callable

from ..artifacts import DEV_RECORD, write_json
from ..config import TaskConfig
from . import train
from .definitions import TaskSpec

log = logging.getLogger("unibridge")


def escalated(cfg: TaskConfig, attempt: int) -> TaskConfig:
    """The task settings of try ``attempt`` (0: ``cfg`` itself). The loss is class-weighted from
    try 1 on (:func:`adapt_task`), which alone addresses an adapter that collapsed onto the
    majority label; try 1 keeps the steps, and each later try doubles them (``train.max_steps``,
    else ``train.epochs``): ``2**(attempt - 1)`` times. Raises ValueError for a negative ``attempt``."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    t, times = cfg.train, 2 ** max(0, attempt - 1)
    more = (dataclasses.replace(t, max_steps=t.max_steps * times) if t.max_steps
            else dataclasses.replace(t, epochs=t.epochs * times))
    return dataclasses.replace(cfg, train=more)


def adapt_task(model, tokenizer, examples: list, task: TaskSpec, lang: str, out: str | Path, *, cfg: TaskConfig,
               seed: int, language_adapter: bool = True, dev: list | None = None, dev_source: str = "",
               score: Callable[..., float] | None = None, say: Callable[[str], None] = log.info) -> list[dict]:
    """Train task adapter ``{task}_{lang}`` and the task's head on ``examples`` (stacked on the
    loaded language adapter ``lang``, or on the bare base model when not ``language_adapter``;
    :func:`~unibridge.tasks.train.train_task_adapter`), replacing one of that name, and score it
    alone on the source's ``dev`` examples (``dev_source`` says where they came from) with
    ``score(name, examples, language_adapter=lang or None) -> float`` (the task's main metric;
    :func:`~unibridge.inference.predictor.score_adapter`, passed in by the caller: the tasks
    layer does not predict). Without ``dev`` or ``score`` the adapter is not scored.

    With a floor for the task (``cfg.floors``) and dev examples, a score below it trains the
    adapter again from the same seed, up to ``cfg.floor_attempts`` tries in all (:func:`escalated`:
    a class-weighted loss from the second try, twice the steps from the third), and keeps the best try.

    Writes into ``out``: ``adapter/`` (adapters' folder layout with the head, safetensors),
    ``history.json`` (the kept try's) and ``dev.json``: ``{"task", "metric", "score" (None
    without dev examples), "n_dev", "dev_source", "floor", "passed" (None without a floor or dev
    examples), "kept", "attempts": [{"max_steps", "epochs", "weighted", "score"}]}``. The adapter
    and head are then removed from ``model``. Returns the kept try's training history. Raises
    DataError when ``examples`` is empty."""
    name = train.task_adapter_name(task.name, lang)
    out = Path(out)
    floor = cfg.floor(task.name)
    dev = dev if score is not None else None
    tries = cfg.floor_attempts if floor is not None and dev else 1
    attempts: list[dict] = []
    histories: list[list[dict]] = []
    for k in range(tries):
        c = escalated(cfg, k)
        if name in model.adapters_config:
            model.delete_adapter(name)
            model.delete_head(name)
        hist = train.train_task_adapter(model, tokenizer, examples, task, lang, cfg=c, seed=seed,  # looked up
                                        output_dir=str(out / "trainer"), language_adapter=language_adapter,  # at
                                        weighted=k > 0)  # call time
        got = score(name, dev, language_adapter=lang if language_adapter else None) if dev else None
        model.save_adapter(str(out / f"try-{k}"), name, with_head=True, use_safetensors=True)
        attempts.append({"max_steps": c.train.max_steps, "epochs": c.train.epochs, "weighted": k > 0, "score": got})
        histories.append(hist)
        if floor is None or got is None or got >= floor:
            break
        say(f"task adapter '{task.name}' on '{lang}': dev {task.main_metric} {got:.3f} on {len(dev)} "
            f"examples is below its floor {floor:g}" + (f"; training again ({k + 2}/{tries}: "
            f"{escalated(cfg, k + 1).train.max_steps or escalated(cfg, k + 1).train.epochs:g} "
            f"{'steps' if cfg.train.max_steps else 'epochs'}, class-weighted loss)" if k + 1 < tries else ""))
    scored = [a["score"] for a in attempts]
    kept = max(range(len(attempts)), key=lambda i: (scored[i] is not None, scored[i] or 0.0, -i))
    shutil.rmtree(out / "adapter", ignore_errors=True)
    (out / f"try-{kept}").rename(out / "adapter")
    for k in range(len(attempts)):
        shutil.rmtree(out / f"try-{k}", ignore_errors=True)
    best = scored[kept]
    write_json(out / "history.json", histories[kept])
    write_json(out / DEV_RECORD, {"task": task.name, "metric": task.main_metric, "score": best,
                                  "n_dev": len(dev or ()), "dev_source": dev_source if dev else "",
                                  "floor": floor, "passed": None if floor is None or best is None else best >= floor,
                                  "kept": kept, "attempts": attempts})
    if best is not None:
        say(f"task adapter '{task.name}' on '{lang}': dev {task.main_metric} {best:.3f} ({len(dev)} examples"
            + (f", floor {floor:g}: {'passed' if best >= floor else 'MISSED; left out of harmony'}" if floor is not None
               else "") + ")")
    shutil.rmtree(out / "trainer", ignore_errors=True)
    model.delete_adapter(name)
    model.delete_head(name)
    return histories[kept]
