"""Task adapters (stage 4) as one service: train one source's task adapter with its head and
write it into a folder. The pipeline's sources stage and the transfer grid's zero-shot
baseline both call :func:`adapt_task`."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..artifacts import write_json
from ..config import TaskConfig
from . import train
from .definitions import TaskSpec


def adapt_task(model, tokenizer, examples: list, task: TaskSpec, lang: str, out: str | Path, *, cfg: TaskConfig,
               seed: int, language_adapter: bool = True) -> list[dict]:
    """Train task adapter ``{task}_{lang}`` and the task's head on ``examples`` (stacked on the
    loaded language adapter ``lang``, or on the bare base model when not ``language_adapter``;
    :func:`~unibridge.tasks.train.train_task_adapter`), replacing one of that name, and write
    into ``out``: ``adapter/`` (adapters' folder layout with the head, safetensors) and
    ``history.json``. The adapter and head are then removed from ``model`` (later users load
    the kind they need by path). Returns the training history. Raises DataError when
    ``examples`` is empty."""
    name = train.task_adapter_name(task.name, lang)
    if name in model.adapters_config:
        model.delete_adapter(name)
        model.delete_head(name)
    out = Path(out)
    hist = train.train_task_adapter(model, tokenizer, examples, task, lang, cfg=cfg, seed=seed,  # looked up
                                    output_dir=str(out / "trainer"), language_adapter=language_adapter)  # at call time
    model.save_adapter(str(out / "adapter"), name, with_head=True, use_safetensors=True)
    write_json(out / "history.json", hist)
    shutil.rmtree(out / "trainer", ignore_errors=True)
    model.delete_adapter(name)
    model.delete_head(name)
    return hist
