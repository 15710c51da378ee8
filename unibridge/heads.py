"""Prediction head types of this package for ``adapters`` flexible-head models.

``mean-pooled-classification`` (:data:`MEAN_POOLED_HEAD`): adapters' ``ClassificationHead``
reading the mean of the final states over the attention mask instead of the first token's state.
A model knows the types once :func:`register_heads` has run on it (:func:`load_adapter_model
<unibridge.adaptation.model.load_adapter_model>` and :func:`~unibridge.backbones.load_backbone`
do it); heads of these types then save and load as adapters' own heads do.
"""

from __future__ import annotations

import functools

MEAN_POOLED_HEAD = "mean-pooled-classification"
POOLINGS = ("first", "mean")  # what a classification head reads (``task.pooling``)


@functools.cache
def mean_pooled_classification_head():
    """The class of the ``adapters`` prediction head type :data:`MEAN_POOLED_HEAD`: adapters'
    ``ClassificationHead`` (same layers, config and loss) reading the mean of the final states
    over the attention mask, (B, L, d) -> (B, d), instead of the first token's state. me5 was
    trained on mean-pooled sentences; with the first token's state NLI task adapters hardly train
    on it (docs/results.md, "NLI with a mean-pooled head"). Heads of this type save and load as adapters' own heads do, once the model has
    it registered (:func:`register_heads`). torch and adapters load when this is first called."""
    import torch
    from adapters.heads import ClassificationHead

    class MeanPooledClassificationHead(ClassificationHead):
        def __init__(self, model, head_name, **kwargs):
            super().__init__(model, head_name, **kwargs)
            self.config["head_type"] = MEAN_POOLED_HEAD

        def forward(self, outputs, cls_output=None, attention_mask=None, return_dict=False, **kwargs):
            if cls_output is None:
                states = outputs[0]
                mask = (torch.ones(states.shape[:2], device=states.device) if attention_mask is None
                        else attention_mask).unsqueeze(-1).to(states.dtype)
                cls_output = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return super().forward(outputs, cls_output, attention_mask, return_dict, **kwargs)

    return MeanPooledClassificationHead


def register_heads(model):
    """Register this package's custom prediction head types (:data:`MEAN_POOLED_HEAD`) with an
    ``adapters`` flexible-head model, so heads of those types can be added and loaded; returns
    the model."""
    if MEAN_POOLED_HEAD not in getattr(model, "custom_heads", {}):
        model.register_custom_head(MEAN_POOLED_HEAD, mean_pooled_classification_head())
    return model
