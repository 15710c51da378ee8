"""Language-adapter training (stage 3 for the target, stage 4a for the sources) through the Trainer.

Loss = MLM + beta * KL (Pham et al. 2024, Eq. 9). The frozen teacher is the base model itself with
no adapter and its own embeddings, reading the same text with its own tokenizer; being frozen
and deterministic, its word- or sentence-level states are computed once before training and
reused every epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from transformers import DataCollatorForLanguageModeling, Trainer, TrainerCallback, TrainingArguments

from ..config import TrainConfig
from ..errors import DataError
from .losses import kl_regulariser, masked_mean, mlm_loss, word_pool
from .model import MLMHead, encoder_states


@dataclass
class _Encoded:
    input_ids: list[int]
    word_ids: list[int]
    n_words: int


def encode_words(tokenizer, words: list[str], max_length: int) -> _Encoded:
    """Tokenise pre-split ``words``; ``n_words`` counts the words complete within ``max_length``."""
    enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    wids = [-1 if w is None else w for w in enc.word_ids()]
    n = max(wids) + 1 if any(w >= 0 for w in wids) else 0
    if len(enc["input_ids"]) >= max_length and n < len(words):
        n -= 1  # the last word may be cut by truncation
    return _Encoded(enc["input_ids"], wids, max(n, 0))


def split_words(texts: list[str]) -> list[list[str]]:
    """Whitespace words of each non-empty text; raises DataError if none is left."""
    out = [t.split() for t in texts]
    out = [w for w in out if w]
    if not out:
        raise DataError("the training corpus is empty (no non-blank line)")
    return out


def _pad(seqs: list[list[int]], value: int) -> torch.Tensor:
    return pad_sequence([torch.tensor(s, dtype=torch.long) for s in seqs], batch_first=True, padding_value=value)


@torch.no_grad()
def teacher_states(model, base_tokenizer, words: list[list[str]], *, max_length: int, level: str,
                   batch_size: int = 32) -> list[torch.Tensor]:
    """States of the frozen base (default embeddings, no adapter) per example.

    Returns a list with, per example, a (n_words, d) tensor (``level="word"``) or a (1, d) tensor
    (``level="sentence"``); computed once since the teacher is frozen and deterministic.
    """
    saved_emb, saved_setup = model.active_embeddings, model.active_adapters
    model.set_active_embeddings("default")
    model.set_active_adapters(None)
    was_training = model.training
    model.eval()
    out: list[torch.Tensor] = []
    try:
        for i in range(0, len(words), batch_size):
            encs = [encode_words(base_tokenizer, w, max_length) for w in words[i:i + batch_size]]
            ids = _pad([e.input_ids for e in encs], base_tokenizer.pad_token_id)
            att = (ids != base_tokenizer.pad_token_id).long()
            for j, e in enumerate(encs):
                att[j, : len(e.input_ids)] = 1
            h = model.base_model(input_ids=ids, attention_mask=att).last_hidden_state
            if level == "sentence":
                pooled = masked_mean(h, att)
                out.extend(pooled[j: j + 1].clone() for j in range(len(encs)))
            else:
                wid = _pad([e.word_ids for e in encs], -1)
                nmax = max(e.n_words for e in encs)
                pooled = word_pool(h, wid, max(nmax, 1))
                out.extend(pooled[j, : e.n_words].clone() for j, e in enumerate(encs))
    finally:
        model.set_active_embeddings(saved_emb)
        model.set_active_adapters(saved_setup)
        model.train(was_training)
    return out


class LanguageModelingObjective(nn.Module):
    """MLM (+ beta * KL) objective around an adapter model, trainable by ``transformers.Trainer``.

    ``forward`` returns ``{"loss", "mlm_loss", "kl_loss"}``; running sums of the two parts are
    kept in ``self.parts`` for logging.
    """

    def __init__(self, model, head: MLMHead, beta: float = 0.0, kl_level: str = "word", temperature: float = 1.0):
        super().__init__()
        if kl_level not in ("word", "sentence"):
            raise ValueError(f"kl_level must be 'word' or 'sentence', got {kl_level!r}")
        self.model, self.head = model, head
        self.beta, self.kl_level, self.temperature = beta, kl_level, temperature
        self.parts = {"mlm_loss": 0.0, "kl_loss": 0.0, "n": 0}

    def forward(self, input_ids, attention_mask, labels, word_ids=None, teacher=None, teacher_mask=None):
        states = encoder_states(self.model, input_ids, attention_mask)
        loss_mlm = mlm_loss(self.head, states, labels)
        loss_kl = states.new_zeros(())
        if self.beta > 0 and teacher is not None:
            if self.kl_level == "word":
                student = word_pool(states, word_ids, teacher.shape[1])
            else:
                student = masked_mean(states, attention_mask).unsqueeze(1)
            loss_kl = kl_regulariser(student, teacher, teacher_mask, self.temperature)
        self.parts["mlm_loss"] += float(loss_mlm.detach())
        self.parts["kl_loss"] += float(loss_kl.detach())
        self.parts["n"] += 1
        return {"loss": loss_mlm + self.beta * loss_kl, "mlm_loss": loss_mlm.detach(), "kl_loss": loss_kl.detach()}


class _MLMDataset(torch.utils.data.Dataset):
    def __init__(self, encs: list[_Encoded], teachers: list[torch.Tensor] | None):
        self.encs, self.teachers = encs, teachers

    def __len__(self):
        return len(self.encs)

    def __getitem__(self, i):
        return {"enc": self.encs[i], "teacher": None if self.teachers is None else self.teachers[i]}


class _Collator:
    def __init__(self, tokenizer, mlm_probability: float):
        self.tok = tokenizer
        self.masker = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability)

    def __call__(self, items):
        encs = [it["enc"] for it in items]
        ids = _pad([e.input_ids for e in encs], self.tok.pad_token_id)
        att = torch.zeros_like(ids)
        for j, e in enumerate(encs):
            att[j, : len(e.input_ids)] = 1
        special = torch.tensor(
            [self.tok.get_special_tokens_mask(e.input_ids, already_has_special_tokens=True)
             + [1] * (ids.shape[1] - len(e.input_ids)) for e in encs], dtype=torch.bool)
        inputs, labels = self.masker.torch_mask_tokens(ids.clone(), special_tokens_mask=special)
        batch = {"input_ids": inputs, "attention_mask": att, "labels": labels,
                 "word_ids": _pad([e.word_ids for e in encs], -1)}
        if items[0]["teacher"] is not None:
            teach = [it["teacher"] for it in items]
            n = max(1, max(t.shape[0] for t in teach))
            d = teach[0].shape[-1]
            t_pad = torch.zeros(len(teach), n, d)
            t_mask = torch.zeros(len(teach), n)
            for j, t in enumerate(teach):
                t_pad[j, : t.shape[0]] = t
                t_mask[j, : t.shape[0]] = 1
            batch["teacher"], batch["teacher_mask"] = t_pad, t_mask
        return batch


class _PartsLogger(TrainerCallback):
    def __init__(self, objective: LanguageModelingObjective, history: list):
        self.obj, self.history = objective, history

    def on_log(self, args, state, control, logs=None, **kw):
        p = self.obj.parts
        if logs is not None and p["n"]:
            logs["mlm_loss"] = round(p["mlm_loss"] / p["n"], 4)
            logs["kl_loss"] = round(p["kl_loss"] / p["n"], 4)
            self.history.append({"step": state.global_step, **{k: v for k, v in logs.items()}})
            self.obj.parts.update(mlm_loss=0.0, kl_loss=0.0, n=0)


def training_arguments(cfg: TrainConfig, output_dir: str, seed: int, n_examples: int, **extra) -> TrainingArguments:
    """TrainingArguments for CPU/GPU from a TrainConfig (no checkpoints: stages cache their output)."""
    steps_per_epoch = max(1, math.ceil(n_examples / cfg.batch_size))
    max_steps = cfg.max_steps if cfg.max_steps else max(1, int(round(cfg.epochs * steps_per_epoch)))
    return TrainingArguments(
        output_dir=output_dir, per_device_train_batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
        max_steps=max_steps, warmup_ratio=cfg.warmup_ratio, weight_decay=cfg.weight_decay, seed=seed,
        logging_steps=max(1, min(50, max_steps // 10)), save_strategy="no", report_to=[],
        remove_unused_columns=False, dataloader_num_workers=0, use_cpu=not torch.cuda.is_available(),
        disable_tqdm=False, **extra)


def train_language_adapter(model, tokenizer, texts: list[str], adapter: str, *, cfg: TrainConfig,
                           mlm_probability: float = 0.15, train_embeddings: bool = True, beta: float = 0.0,
                           base_tokenizer=None, kl_level: str = "word", kl_temperature: float = 1.0,
                           seed: int = 42, output_dir: str = "/tmp/unibridge-trainer") -> tuple[MLMHead, list[dict]]:
    """Train language adapter ``adapter`` (already added to ``model``) with MLM + beta * KL.

    ``model``'s active embeddings must be those of ``tokenizer``. With ``beta > 0`` the teacher
    reads ``texts`` with ``base_tokenizer``. Trains the adapter, its invertible adapter, the MLM
    head and (if ``train_embeddings``) the active embeddings; everything else stays frozen.
    Returns (the trained MLM head, the logged loss history). Raises DataError on an empty corpus.
    """
    words = split_words(texts)
    if cfg.max_examples:
        words = words[: cfg.max_examples]
    torch.manual_seed(seed)
    encs = [encode_words(tokenizer, w, cfg.max_length) for w in words]
    teachers = None
    if beta > 0:
        if base_tokenizer is None:
            raise ValueError("beta > 0 needs base_tokenizer for the teacher")
        teachers = teacher_states(model, base_tokenizer, words, max_length=cfg.max_length, level=kl_level)
        if kl_level == "word":  # compare only words present on both sides
            for i, (e, t) in enumerate(zip(encs, teachers)):
                n = min(e.n_words, t.shape[0])
                teachers[i] = t[:n]
    model.train_adapter(adapter, train_embeddings=train_embeddings)
    model.set_active_adapters(adapter)
    head = MLMHead(model.get_input_embeddings(), getattr(model.config, "layer_norm_eps", 1e-12))
    objective = LanguageModelingObjective(model, head, beta=beta, kl_level=kl_level, temperature=kl_temperature)
    history: list[dict] = []
    args = training_arguments(cfg, output_dir, seed, len(encs))
    trainer = Trainer(model=objective, args=args, train_dataset=_MLMDataset(encs, teachers),
                      data_collator=_Collator(tokenizer, mlm_probability), callbacks=[_PartsLogger(objective, history)])
    trainer.train()
    model.eval()
    return head, history
