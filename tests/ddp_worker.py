"""Run by ``torchrun`` in tests: train a tiny language adapter, write this rank's weight digest.

    torchrun --nproc_per_node 2 tests/ddp_worker.py BASE_DIR OUT_DIR
"""

import hashlib
import os
import sys
from pathlib import Path

import torch

from unibridge.adaptation.model import add_language_adapter, load_adapter_model
from unibridge.adaptation.train import train_language_adapter
from unibridge.backbones import load_tokenizer
from unibridge.config import AdaptationConfig, TrainConfig


def main(base: str, out: str) -> None:
    out_dir = Path(out)
    tok = load_tokenizer(base)
    model = load_adapter_model(base)
    add_language_adapter(model, "xx")
    texts = [f"sentence number {i} with some words in it {'x ' * (i % 5)}" for i in range(64)]
    cfg = AdaptationConfig(beta=1.0, save_steps=3, train=TrainConfig(max_steps=6, batch_size=4, max_length=24,
                                                                     learning_rate=1e-2))
    train_language_adapter(model, tok, texts, "xx", cfg=cfg, base_tokenizer=tok, seed=3,
                           output_dir=str(out_dir / "trainer"), resume=False)
    h = hashlib.sha256()
    for n, p in sorted(model.named_parameters()):
        if p.requires_grad:
            h.update(n.encode())
            h.update(p.detach().contiguous().numpy().tobytes())
    (out_dir / f"rank{os.environ['RANK']}.sha").write_text(h.hexdigest())
    if torch.distributed.is_initialized():
        torch.distributed.barrier()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
