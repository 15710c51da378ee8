"""Multi-source inference: weight strategies and the predictor."""

from .predictor import MultiSourcePredictor, source_logits, task_setup
from .weights import harmony_from_distances, harmony_weights, resolve_weights

__all__ = ["MultiSourcePredictor", "harmony_from_distances", "harmony_weights", "resolve_weights",
           "source_logits", "task_setup"]
