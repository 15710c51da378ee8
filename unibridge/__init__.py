"""UniBridge: cross-lingual transfer to low-resource languages, MAD-X style.

Stages: vocabulary search (ALP, SentencePiece) -> embedding initialisation (plug-ins) ->
language adaptation (language adapter + invertible adapter + new embeddings, MLM + beta*KL) ->
one task adapter per source language -> multi-source inference with harmony weights.

>>> from unibridge import MultiSourcePredictor
>>> MultiSourcePredictor(target="amh", task="pos").predict(["..."])
"""

from .config import Recipe
from .errors import ConfigError, DataError, UniBridgeError, VocabSizeError
from .tasks import definitions as _task_definitions  # registers the built-in tasks (pos, ner, nli)

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataError", "MultiSourcePredictor", "Pipeline", "Recipe", "UniBridgeError",
           "VocabSizeError", "run_recipe"]


def __getattr__(name):  # heavy imports (torch, adapters) only when used
    if name == "MultiSourcePredictor":
        from .inference.predictor import MultiSourcePredictor

        return MultiSourcePredictor
    if name in ("Pipeline", "run_recipe"):
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
