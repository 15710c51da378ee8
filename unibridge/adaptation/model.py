"""Assembling the adapted model: base encoder + (new) embeddings + SeqBnInv language adapter + MLM head.

The base is loaded as an ``adapters`` flexible-head model (``AutoAdapterModel``) so that the same
object later carries task adapters and their heads. The MLM head is our own small module
(dense -> GELU -> LayerNorm -> decoder tied to the *active* input embeddings) because the
offline backbone ships none and the head must follow the target vocabulary; it computes
logits only at the positions it is given.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError


class MLMHead(nn.Module):
    """Masked-LM head: dense -> GELU -> LayerNorm -> decoder, plus an output bias.

    ``forward(hidden (N, d)) -> logits (N, V)``. The decoder is either *tied* (the default): the
    decoder weight *is* the embedding weight, referenced, not registered, so training the head
    trains the embeddings when they require grad and the head's ``state_dict`` holds only dense,
    norm and bias; or *frozen* (``untie()``): a fixed copy of the embedding rows, stored as a
    buffer (``decoder_weight``, (V, d)), so gradients of the MLM loss reach the input embeddings
    only through the encoder and rows never seen as input do not drift through the decoder.

    ``layer``: the hidden state the head reads (:func:`encoder_states`; None: the last layer).
    """

    def __init__(self, embedding: nn.Embedding, layer_norm_eps: float = 1e-12, layer: int | None = None):
        super().__init__()
        self.layer = layer
        d = embedding.embedding_dim
        self.dense = nn.Linear(d, d)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(d, eps=layer_norm_eps)
        self._tied = (embedding,)
        self.bias = nn.Parameter(torch.zeros(embedding.num_embeddings))

    @property
    def embedding(self) -> nn.Embedding:
        """The tied input embedding."""
        return self._tied[0]

    @property
    def tied(self) -> bool:
        """True while the decoder is the embedding weight itself."""
        return not hasattr(self, "decoder_weight")

    @property
    def decoder(self) -> torch.Tensor:
        """The decoder matrix (V, d): the embedding weight (tied) or the frozen copy."""
        return self.embedding.weight if self.tied else self.decoder_weight

    def untie(self) -> "MLMHead":
        """Replace the tied decoder by a frozen copy of the current embedding rows; returns self."""
        if self.tied:
            self.register_buffer("decoder_weight", self.embedding.weight.detach().clone())
        return self

    def freeze(self) -> "MLMHead":
        """Stop training the head's own parameters (dense, norm, bias); returns self."""
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    def transform(self, hidden: torch.Tensor) -> torch.Tensor:
        """dense -> GELU -> LayerNorm: (N, d) -> (N, d)."""
        return self.norm(self.act(self.dense(hidden)))

    def forward(self, hidden: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N, V), or (N, len(rows)) over the vocabulary rows ``rows`` only."""
        h = self.transform(hidden)
        if rows is None:
            return h @ self.decoder.T + self.bias
        return h @ self.decoder[rows].T + self.bias[rows]


def load_adapter_model(base_dir: str | Path):
    """Load ``base_dir`` (a resolved backbone folder) as an ``adapters`` AutoAdapterModel in float32,
    eval mode, with this package's head types registered (:func:`register_heads`)."""
    from adapters import AutoAdapterModel

    from ..heads import register_heads

    model = AutoAdapterModel.from_pretrained(str(base_dir))
    model.eval()
    return register_heads(model)


def attach_embeddings(model, name: str, tokenizer, weights: torch.Tensor) -> None:
    """Register ``weights`` ((V_T, d) float32) as the model's embedding set ``name`` and activate it.

    Raises ConfigError if the shape does not match ``len(tokenizer)`` x hidden size.
    """
    d = model.config.hidden_size
    if weights.ndim != 2 or weights.shape != (len(tokenizer), d):
        raise ConfigError(
            f"embeddings '{name}' have shape {tuple(weights.shape)}, expected ({len(tokenizer)}, {d})"
        )
    if name in model.loaded_embeddings:
        model.set_active_embeddings("default")
        model.delete_embeddings(name)
    model.add_embeddings(name, tokenizer)
    with torch.no_grad():
        model.get_input_embeddings().weight.copy_(weights.to(torch.float32))


def ensure_adapter(model, name: str, path: str | Path, *, with_head: bool = False) -> None:
    """Load the adapter saved in ``path`` (adapters' folder layout, safetensors) into ``model`` as
    ``name``, with its prediction head when ``with_head``, unless an adapter of that name is loaded."""
    if name not in model.adapters_config:
        model.load_adapter(str(path), load_as=name, with_head=with_head, use_safetensors=True)


def load_run_target(model, run_dir: str | Path, target: str, tokenizer, *, trained: bool = True) -> None:
    """Give ``model`` a run's target side: its embedding set ``target`` (the trained E_T of
    ``<run>/adaptation``, or the initial one of ``<run>/embeddings`` when not ``trained``),
    activated, and with ``trained`` its language + invertible adapter as adapter ``target``.
    ``tokenizer`` is the run's target tokenizer (:func:`~unibridge.artifacts.target_tokenizer_dir`).
    The one reader of a run's target stages: the pipeline and the predictor use it. A hub
    artifact may store the trained embeddings as their changes to the base model's
    (:func:`~unibridge.artifacts.read_target_embeddings`), which are put onto ``model``'s own.
    Raises ConfigError if the embeddings do not match the tokenizer (:func:`attach_embeddings`),
    DataError if they are missing or were stored against other base embeddings."""
    from ..artifacts import read_target_embeddings

    run_dir = Path(run_dir)
    base = lambda: model.loaded_embeddings["default"].weight.detach()  # noqa: E731
    weights = read_target_embeddings(run_dir / ("adaptation" if trained else "embeddings"), base)
    attach_embeddings(model, target, tokenizer, weights)
    if trained:
        ensure_adapter(model, target, run_dir / "adaptation" / "adapter")


def add_language_adapter(model, name: str, reduction_factor: float = 2, inv_reduction_factor: float = 2,
                         leave_out: list[int] | None = None, *, seed: int | None = None, config=None) -> None:
    """Add a MAD-X language adapter (``SeqBnInvConfig``: bottleneck adapter + NICE invertible
    adapter), none in the layers listed in ``leave_out`` (Pfeiffer et al. 2020; Table 8 of Pham
    et al. 2024: reduction factors 2 and 2), or the ``adapters`` config ``config`` when given
    (:meth:`~unibridge.config.SourceAdaptationConfig.adapter_config`; the factors and
    ``leave_out`` are then its own). ``seed``: its initial weights depend on this seed alone,
    not on what the process drew before (None: on torch's global state as it is)."""
    if config is None:
        from ..config import SourceAdaptationConfig

        config = SourceAdaptationConfig(reduction_factor=reduction_factor, inv_reduction_factor=inv_reduction_factor,
                                        leave_out=list(leave_out or [])).adapter_config()
    if seed is not None:
        torch.manual_seed(seed)
    model.add_adapter(name, config=config)


def encoder_states(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   with_last_layer: bool = False, layer: int | None = None):
    """Last hidden states passed back through the inverse invertible adapter: (B, L, d).

    This is the input of the MLM head, pi_UniBridge(h|x) of Pham et al. 2024 §2.3; with no
    active invertible adapter it is the last Transformer layer's output. ``layer`` (a
    hidden-state index in 0..n_layers, None: the last) reads an earlier layer's output instead
    (an MLM head on a middle layer, :attr:`SourceAdaptationConfig.mlm_layer`). With
    ``with_last_layer`` returns ``(states, last_layer)``, ``last_layer`` (B, L, d) being the last
    Transformer layer's output before the inverse invertible adapter: what task adapters read.
    """
    middle = layer is not None and layer != model.config.num_hidden_layers
    out = model.base_model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=middle)
    read = out.hidden_states[layer] if middle else out.last_hidden_state
    states = model.base_model.invertible_adapters_forward(read, rev=True)
    return (states, out.last_hidden_state) if with_last_layer else states


@contextmanager
def model_setup(model, embeddings: str | None, adapters):
    """Within the block the model is in eval mode with embedding set ``embeddings`` (None: as
    it is) and ``adapters`` active (None: none); both and the training mode are restored."""
    saved_emb, saved_ad, was_training = model.active_embeddings, model.active_adapters, model.training
    # a pass without adapters is meant here: keep adapters' "none are activated" warning quiet
    adapters_log = logging.getLogger("adapters.model_mixin")
    saved_level = adapters_log.level
    if adapters is None:
        adapters_log.setLevel(logging.ERROR)
    if embeddings is not None:
        model.set_active_embeddings(embeddings)
    model.set_active_adapters(adapters)
    model.eval()
    try:
        yield model
    finally:
        model.set_active_embeddings(saved_emb)
        model.set_active_adapters(saved_ad)
        model.train(was_training)
        adapters_log.setLevel(saved_level)
