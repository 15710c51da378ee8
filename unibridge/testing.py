"""Tiny backbones for tests and examples: a randomly initialised BERT with a real tokenizer, written
to a folder that :func:`~unibridge.backbones.load_backbone` then loads offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .backbones import ME5_SMALL, backbone_tokenizer
from .errors import ConfigError

TINY_HEAD_TEXT = (
    "On Monday, scientists from Stanford University announced a new diagnostic tool.",
    "The river rises in the mountains and flows east to the sea.",
    "В понедельник учёные объявили о создании нового инструмента.",
    "يعيش معظم السكان في المدن الكبيرة على الساحل.",
    "科学家们周一宣布发明了一种新的诊断工具。",
    "月曜日に研究者たちは新しい診断ツールを発表した。",
    "ሰኞ እለት በስታንፎርድ ዩኒቨርሲቲ ተመራማሪዎች አዲስ መሣሪያ አስተዋወቁ።",
    "திங்கள்கிழமை விஞ்ஞானிகள் ஒரு புதிய கருவியை அறிவித்தனர்.",
    "सोमवासरे वैज्ञानिकाः नूतनं यन्त्रम् उद्घोषितवन्तः।",
    "Lunedì i scienziati han presentou un neuvo strumento.",
)
"""The few lines a tiny backbone's MLM head is fitted on (:func:`make_tiny_backbone`)."""


def make_tiny_backbone(
    out_dir: Path,
    tokenizer_source: Any = ME5_SMALL,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    intermediate: int = 64,
    seed: int = 0,
    head_text: tuple[str, ...] | None = TINY_HEAD_TEXT,
    head_steps: int = 2,
) -> Path:
    """Write a tiny randomly initialised ``BertModel`` plus a real tokenizer to ``out_dir``.

    Meant for tests and smoke runs: ``load_backbone(str(out_dir))`` then works offline.
    The model has vocabulary ``len(tokenizer)``, ``hidden`` size, ``layers`` layers,
    ``heads`` heads, ``intermediate`` FFN size, 512 positions and the tokenizer's pad id;
    the same ``seed`` gives the same weights. For ``"me5-small"`` the tokenizer is taken
    from the built folder when it exists, else straight from the installed package (the
    full model is not built). Source tokenizers are cached per process, so repeated calls
    take well under a second. With ``head_text`` the backbone's MLM head is fitted on those lines
    for ``head_steps`` steps and saved with it (``<out_dir>/unibridge-mlm-head``, found by
    :func:`~unibridge.adaptation.backbone_head.backbone_head`), about a second; None saves none
    (a run then fits one on the data root's text, once per machine).

    Args:
        out_dir: folder to write (created; existing model files are overwritten).
        tokenizer_source: a backbone name (see :func:`resolve_backbone`) or a
            ``transformers`` tokenizer object.
        hidden, layers, heads, intermediate: model sizes; ``hidden % heads == 0``.
        seed: torch seed for the initialisation (and of the head's fit).
        head_text, head_steps: the lines and steps the saved MLM head is fitted on.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        ConfigError: invalid sizes, an unresolvable tokenizer source, or a ``head_text`` in which
            the tokenizer finds no piece but special ones.
    """
    import torch
    from transformers import BertConfig, BertModel, PreTrainedTokenizerBase

    for label, value in (("hidden", hidden), ("layers", layers), ("heads", heads),
                         ("intermediate", intermediate)):
        if int(value) < 1:
            raise ConfigError(f"tiny backbone: {label} must be >= 1, got {value}")
    if hidden % heads:
        raise ConfigError(f"tiny backbone: hidden ({hidden}) must be divisible by heads ({heads})")
    if isinstance(tokenizer_source, PreTrainedTokenizerBase):
        tokenizer = tokenizer_source
    else:
        tokenizer = backbone_tokenizer(str(tokenizer_source))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=512,
        type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        architectures=["BertModel"],
    )
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = BertModel(config)
    finally:
        torch.random.set_rng_state(generator_state)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    if head_text:
        from .adaptation.backbone_head import HEAD_FOLDER, embedding_digest, fit_backbone_head, save_head
        from .adaptation.model import load_adapter_model

        adapter_model = load_adapter_model(out_dir)
        try:
            head, report = fit_backbone_head(adapter_model, tokenizer, list(head_text), steps=head_steps,
                                             batch_size=4, max_length=24, seed=seed)
        except ValueError as e:  # e.g. a toy vocabulary that reads the lines as unknown pieces only
            raise ConfigError(f"tiny backbone: cannot fit its MLM head on head_text ({e}); give lines its "
                              "tokenizer reads, or head_text=None") from None
        save_head(out_dir / HEAD_FOLDER, head, report, backbone=out_dir.name,
                  embeddings=embedding_digest(adapter_model))
    return out_dir
