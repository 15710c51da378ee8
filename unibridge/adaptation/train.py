"""Language-adapter training (stage 3 for the target, stage 4a for the sources) through the Trainer.

Loss = MLM + β·KL (Pham et al. 2024, Eq. 9) + λ·anchor [+ α·ALIGN, align-mlm.md]. The frozen
teacher is the base model itself with no adapter and its own embeddings, reading the same text
with its own tokenizer; being frozen and deterministic, its states (first and last token,
sentence mean, each word) are computed once before training and reused every epoch. MLM
logits are computed at masked positions only, by a head fitted on the frozen base before the
adapter trains and frozen while it does (:mod:`unibridge.adaptation.head`).

Training runs through ``transformers.Trainer`` (:class:`AdaptationTrainer`), so checkpoints,
resumption, length-grouped batches, early stopping on held-out pseudo-perplexity and
multi-process data parallelism (``torchrun --nproc_per_node N`` or ``accelerate launch``,
CPU/gloo or GPU/nccl) come from it with no code change. Checkpoints hold only the trainable
parameters (adapter, invertible adapter, embeddings, MLM head), not the frozen base.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from transformers import (DataCollatorForLanguageModeling, EarlyStoppingCallback, Trainer, TrainerCallback,
                          TrainingArguments)
from transformers.trainer_utils import get_last_checkpoint

from ..config import AdaptationConfig, SourceAdaptationConfig, TrainConfig
from ..errors import ConfigError, DataError
from .losses import align_loss, anchor_loss, kl_regulariser, masked_mean, mlm_loss, word_pool
from .head import mlm_masker
from .model import MLMHead, model_setup
from .pppl import pseudo_perplexity

TRAINABLE_FILE = "trainable.safetensors"


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


TEACHER_HEADER = 3
"""Rows of a teacher tensor before its words: first token, last token, mean-pooled sentence."""


def _last_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of each row's last attended position: (B,) int64."""
    return (attention_mask.sum(1) - 1).clamp(min=0).long()


def state_units(states: torch.Tensor, attention_mask: torch.Tensor, word_ids: torch.Tensor,
                n_words: int) -> torch.Tensor:
    """The rows a teacher holds, from states (B, L, d): (B, 3 + n_words, d) = first token, last
    token (the closing special token), mean over the attended positions, then each word's mean
    sub-token state (:func:`word_pool`; zeros for absent words)."""
    rows = torch.arange(states.shape[0], device=states.device)
    first = states[:, 0:1]
    last = states[rows, _last_positions(attention_mask)].unsqueeze(1)
    sent = masked_mean(states, attention_mask).unsqueeze(1)
    return torch.cat([first, last, sent, word_pool(states, word_ids, n_words)], dim=1)


def word_batches(tokenizer, words: list[list[str]], *, max_length: int, batch_size: int):
    """Batches of pre-split ``words``: ``(encs, input_ids (B, L), attention_mask (B, L),
    word_ids (B, L) with -1 outside words)``, ``encs`` being the :func:`encode_words` results."""
    for i in range(0, len(words), batch_size):
        encs = [encode_words(tokenizer, w, max_length) for w in words[i:i + batch_size]]
        ids = _pad([e.input_ids for e in encs], tokenizer.pad_token_id)
        att = torch.zeros_like(ids)
        for j, e in enumerate(encs):
            att[j, : len(e.input_ids)] = 1
        yield encs, ids, att, _pad([e.word_ids for e in encs], -1)


def resolve_layer(layer, n_layers: int, what: str = "anchor layer") -> int:
    """A hidden-state index of a ``n_layers``-layer model in 0..n_layers (0 = embedding output,
    i = Transformer layer i; a negative ``layer`` counts from the last, -1 being ``n_layers``).
    Raises ValueError for an index that is not an integer in [-(n_layers + 1), n_layers]
    (``what`` names it in the message)."""
    if isinstance(layer, bool) or not isinstance(layer, int) or not -(n_layers + 1) <= layer <= n_layers:
        raise ValueError(f"{what} {layer!r} is not a hidden-state index of a {n_layers}-layer model "
                         f"(0..{n_layers}, or negative from the last)")
    return layer % (n_layers + 1)


def teacher_layers(anchor_layers, n_layers: int) -> list[int]:
    """The hidden-state indices a teacher holds, in block order: the last layer first (what the
    KL term and the default anchor compare), then the other ``anchor_layers``
    (:func:`resolve_layer`). Raises ValueError for an index outside the model."""
    return list(dict.fromkeys([n_layers, *(resolve_layer(x, n_layers) for x in anchor_layers)]))


@torch.no_grad()
def teacher_states(model, base_tokenizer, words: list[list[str]], *, max_length: int,
                   batch_size: int = 32, layers: list[int] | None = None,
                   embeddings: str = "default") -> list[torch.Tensor]:
    """States of the frozen base (no adapter; its own embeddings, or the embedding set
    ``embeddings`` read with ``base_tokenizer``, which is then that set's tokenizer) per example,
    computed once since the teacher is frozen and deterministic.

    Returns per example a (3 + n_words, d · len(layers)) tensor (:func:`state_units` of each
    hidden state in ``layers``, side by side along the feature axis; ``layers`` None: the last
    layer only): first token, last token, mean-pooled sentence, then the words complete within
    ``max_length``.
    """
    out: list[torch.Tensor] = []
    with model_setup(model, embeddings, None):
        for encs, ids, att, wid in word_batches(base_tokenizer, words, max_length=max_length,
                                                batch_size=batch_size):
            res = model.base_model(input_ids=ids, attention_mask=att, output_hidden_states=layers is not None)
            hidden = [res.last_hidden_state] if layers is None else [res.hidden_states[i] for i in layers]
            n = max(1, max(e.n_words for e in encs))
            units = torch.cat([state_units(h, att, wid, n) for h in hidden], dim=-1)
            out.extend(units[j, : TEACHER_HEADER + e.n_words].clone() for j, e in enumerate(encs))
    return out


class LanguageModelingObjective(nn.Module):
    """MLM (+ β·KL) (+ λ·anchor) (+ α·ALIGN) objective around an adapter model, trainable by
    ``transformers.Trainer``.

    ``forward`` returns ``{"loss", "mlm_loss", "kl_loss", "anchor_loss", "align_loss"}``; running
    sums of the parts are kept in ``self.parts`` for logging. The KL term (Eq. 9 of Pham et al.
    2024) compares the MLM head's input (after the inverse invertible adapter) with the
    teacher per word or per sentence; the anchor term (:func:`~unibridge.adaptation.losses.
    anchor_loss`) compares the last Transformer layer's output (what task adapters read, before
    the inverse invertible adapter) with the teacher at the first token, the last token and
    every word. ``align``: ``(target_pieces, target_owner, source_vectors)`` of
    :func:`~unibridge.adaptation.losses.align_loss`, used when ``alpha > 0``. ``teacher``: a
    :class:`LazyTeacher` whose states a batch's ``example_index`` fetches when the batch runs
    (a batch may instead carry ``teacher`` / ``teacher_mask`` itself, see :func:`pad_teacher`).

    Given ``special_tokens_mask`` instead of ``labels``, the batch is masked here (BERT's
    80/10/10 scheme, ``masker``) with a generator seeded by (seed, optimizer step, micro-batch,
    rank): the masks do not depend on when the data loader prefetched a batch, so a resumed run
    sees exactly the masks of an uninterrupted one (:class:`_StepTracker` sets the step).
    """

    def __init__(self, model, head: MLMHead, beta: float = 0.0, kl_level: str = "word", temperature: float = 1.0,
                 alpha: float = 0.0, align: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
                 masker: DataCollatorForLanguageModeling | None = None, seed: int = 0, anchor: float = 0.0,
                 anchor_kind: str = "cosine", teacher: "LazyTeacher | None" = None,
                 layers: list[int] | None = None, anchor_blocks: list[int] | None = None):
        super().__init__()
        self.teacher = teacher
        # hidden-state index of each teacher block, and the blocks the anchor compares
        self.layers, self.anchor_blocks = layers, anchor_blocks or [0]
        if kl_level not in ("word", "sentence"):
            raise ValueError(f"kl_level must be 'word' or 'sentence', got {kl_level!r}")
        self.model, self.head = model, head
        self.beta, self.kl_level, self.temperature = beta, kl_level, temperature
        self.anchor, self.anchor_kind = anchor, anchor_kind
        self.alpha, self.align = alpha, align
        self.masker, self.seed, self.step, self.micro = masker, seed, 0, 0
        self.parts = {k: 0.0 for k in PARTS} | {"n": 0}

    def mask(self, input_ids: torch.Tensor, special_tokens_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(masked inputs, labels)`` (B, L) for this step and micro-batch (deterministic)."""
        rank = int(os.environ.get("RANK", "0"))
        key = (((self.seed * 1_000_003 + self.step) * 1_009 + self.micro) * 131 + rank) % (2 ** 63)
        self.micro += 1
        self.masker.generator = torch.Generator().manual_seed(key)
        inputs, labels = self.masker.torch_mask_tokens(input_ids.detach().cpu().clone(),
                                                       special_tokens_mask=special_tokens_mask.cpu().bool())
        return inputs.to(input_ids.device), labels.to(input_ids.device)

    def forward(self, input_ids, attention_mask, labels=None, special_tokens_mask=None, word_ids=None, teacher=None,
                teacher_mask=None, example_index=None):
        if teacher is None and self.teacher is not None and example_index is not None:
            teacher, teacher_mask = pad_teacher(self.teacher.get(example_index.tolist()))
            teacher, teacher_mask = teacher.to(input_ids.device), teacher_mask.to(input_ids.device)
        if labels is None:
            input_ids, labels = self.mask(input_ids, special_tokens_mask)
        read = self.head.layer  # the hidden state the MLM head reads (None: the last)
        want_hidden = read is not None or (self.layers is not None and self.anchor > 0 and teacher is not None)
        out = self.model.base_model(input_ids=input_ids, attention_mask=attention_mask,
                                    output_hidden_states=want_hidden)
        last_layer, hidden = out.last_hidden_state, (out.hidden_states if want_hidden else None)
        inverse = self.model.base_model.invertible_adapters_forward
        states = inverse(last_layer, rev=True)  # the MLM head's input in the paper; the KL term's student
        loss_mlm = mlm_loss(self.head, states if read is None else inverse(hidden[read], rev=True), labels)
        zero = states.new_zeros(())
        loss_kl, loss_anchor, loss_align = zero, zero, zero
        H = TEACHER_HEADER
        d = states.shape[-1]
        if self.beta > 0 and teacher is not None:
            if self.kl_level == "word":
                student = word_pool(states, word_ids, teacher.shape[1] - H)
                loss_kl = kl_regulariser(student, teacher[:, H:, :d], teacher_mask[:, H:], self.temperature)
            else:
                student = masked_mean(states, attention_mask).unsqueeze(1)
                loss_kl = kl_regulariser(student, teacher[:, 2:3, :d], teacher_mask[:, 2:3], self.temperature)
        if self.anchor > 0 and teacher is not None:
            keep = [0, 1, *range(H, teacher.shape[1])]  # first, last, words (not the sentence mean)
            for b in self.anchor_blocks:
                layer_states = last_layer if self.layers is None else hidden[self.layers[b]]
                units = state_units(layer_states, attention_mask, word_ids, teacher.shape[1] - H)
                loss_anchor = loss_anchor + anchor_loss(units[:, keep], teacher[:, keep, b * d:(b + 1) * d],
                                                        teacher_mask[:, keep], self.anchor_kind)
            loss_anchor = loss_anchor / len(self.anchor_blocks)
        if self.alpha > 0 and self.align is not None:
            loss_align = align_loss(self.model.get_input_embeddings().weight, *self.align)
        values = {"mlm_loss": loss_mlm, "kl_loss": loss_kl, "anchor_loss": loss_anchor, "align_loss": loss_align}
        for k, v in values.items():
            self.parts[k] += float(v.detach())
        self.parts["n"] += 1
        loss = loss_mlm + self.beta * loss_kl + self.anchor * loss_anchor + self.alpha * loss_align
        return {"loss": loss, **{k: v.detach() for k, v in values.items()}}


PARTS = ("mlm_loss", "kl_loss", "anchor_loss", "align_loss")
TEACHER_EMBEDDINGS = "teacher-init"
"""The embedding set of a teacher that reads the target through the initial new embeddings
(:attr:`~unibridge.config.AdaptationConfig.teacher` ``init``), removed once training ends."""


class LazyTeacher:
    """The frozen base's states (:func:`teacher_states`) per training example, computed for a
    batch's examples when a batch first needs them and kept for later epochs: a schedule that
    sees k of n examples runs the teacher on k.

    ``get(indices)`` -> list of (3 + n_words, d) tensors, each cut to the words present on both
    sides (the student's ``encs[i].n_words`` and the teacher's).
    """

    def __init__(self, model, base_tokenizer, words: list[list[str]], encs: list[_Encoded], max_length: int,
                 layers: list[int] | None = None, embeddings: str = "default"):
        self.model, self.tok, self.words, self.encs, self.max_length = model, base_tokenizer, words, encs, max_length
        self.layers, self.embeddings = layers, embeddings
        self.cache: dict[int, torch.Tensor] = {}

    def get(self, indices: list[int]) -> list[torch.Tensor]:
        missing = list(dict.fromkeys(i for i in indices if i not in self.cache))
        if missing:
            states = teacher_states(self.model, self.tok, [self.words[i] for i in missing],
                                    max_length=self.max_length, batch_size=len(missing), layers=self.layers,
                                    embeddings=self.embeddings)
            for i, t in zip(missing, states):  # compare only words present on both sides
                self.cache[i] = t[: TEACHER_HEADER + min(self.encs[i].n_words, t.shape[0] - TEACHER_HEADER)]
        return [self.cache[i] for i in indices]


class _MLMDataset(torch.utils.data.Dataset):
    def __init__(self, encs: list[_Encoded]):
        self.encs = encs

    def __len__(self):
        return len(self.encs)

    def __getitem__(self, i):
        # "input_ids" lets the Trainer's length-grouped sampler read lengths.
        return {"input_ids": self.encs[i].input_ids, "enc": self.encs[i], "index": i}


class _Collator:
    """Pads a batch (with its examples' indices when ``teacher``: the objective fetches their
    teacher states when it runs the batch, not when the loader prefetches it); masking happens in
    :meth:`LanguageModelingObjective.mask`."""

    def __init__(self, tokenizer, teacher: bool = False):
        self.tok, self.teacher = tokenizer, teacher

    def __call__(self, items):
        encs = [it["enc"] for it in items]
        ids = _pad([e.input_ids for e in encs], self.tok.pad_token_id)
        att = torch.zeros_like(ids)
        for j, e in enumerate(encs):
            att[j, : len(e.input_ids)] = 1
        special = torch.tensor(
            [self.tok.get_special_tokens_mask(e.input_ids, already_has_special_tokens=True)
             + [1] * (ids.shape[1] - len(e.input_ids)) for e in encs], dtype=torch.bool)
        batch = {"input_ids": ids, "attention_mask": att, "special_tokens_mask": special,
                 "word_ids": _pad([e.word_ids for e in encs], -1)}
        if self.teacher:
            batch["example_index"] = torch.tensor([it["index"] for it in items])
        return batch


def pad_teacher(teach: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example teacher states ((n_i, d) each) as ``(states (B, n, d), mask (B, n))``, zero-padded."""
    n = max(1, max(t.shape[0] for t in teach))
    t_pad = torch.zeros(len(teach), n, teach[0].shape[-1])
    t_mask = torch.zeros(len(teach), n)
    for j, t in enumerate(teach):
        t_pad[j, : t.shape[0]] = t
        t_mask[j, : t.shape[0]] = 1
    return t_pad, t_mask


class _StepTracker(TrainerCallback):
    def __init__(self, objective: LanguageModelingObjective):
        self.obj = objective

    def on_step_begin(self, args, state, control, **kw):
        self.obj.step, self.obj.micro = state.global_step, 0


class _PartsLogger(TrainerCallback):
    def __init__(self, objective: LanguageModelingObjective, history: list):
        self.obj, self.history = objective, history

    def on_log(self, args, state, control, logs=None, **kw):
        p = self.obj.parts
        if logs is None:
            return
        if p["n"] and "loss" in logs:  # training logs only (not evaluation records)
            for k in PARTS:
                logs[k] = round(p[k] / p["n"], 4)
            self.obj.parts.update({k: 0.0 for k in PARTS} | {"n": 0})
        if "mlm_loss" in logs or any(k.startswith("eval_") for k in logs):  # not the run summary
            self.history.append({"step": state.global_step, **logs})


class _TextDataset(torch.utils.data.Dataset):
    def __init__(self, texts: list[str]):
        self.texts = texts

    def __len__(self):
        return len(self.texts)

    def __getitem__(self, i):
        return self.texts[i]


class AdaptationTrainer(Trainer):
    """``Trainer`` for a :class:`LanguageModelingObjective`.

    Checkpoints hold only the parameters that require grad (``trainable.safetensors``), so a
    checkpoint of me5-small's target adapter is the adapter, the embeddings and the head, not
    the 470 MB frozen base; resuming (``train(resume_from_checkpoint=...)``) loads them back
    with the optimizer, scheduler and RNG states the Trainer saves beside them. ``evaluate``
    reports the pseudo-perplexity (``eval_pppl``) of the held-out texts given as
    ``eval_dataset`` (:class:`_TextDataset`) under ``pppl_tokenizer``.
    """

    def __init__(self, *args, pppl_tokenizer=None, pppl_max_length: int = 128, embedding_lr_scale: float = 1.0,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.pppl_tokenizer, self.pppl_max_length = pppl_tokenizer, pppl_max_length
        self.embedding_lr_scale = embedding_lr_scale

    def create_optimizer(self):
        """The Trainer's optimizer, except that the input embeddings (when they train) learn at
        ``embedding_lr_scale`` × the learning rate (0: they stay at their initialisation)."""
        if self.embedding_lr_scale == 1.0 or self.optimizer is not None:
            return super().create_optimizer()
        embedding = self.model.model.get_input_embeddings().weight
        decay = set(self.get_decay_parameter_names(self.model))
        groups: dict[tuple[bool, bool], list] = {}
        for n, p in self.model.named_parameters():
            if p.requires_grad:
                groups.setdefault((p is embedding, n in decay), []).append(p)
        cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(self.args, self.model)
        lr = self.args.learning_rate
        self.optimizer = cls([{"params": ps, "weight_decay": self.args.weight_decay if dec else 0.0,
                               "lr": lr * (self.embedding_lr_scale if emb else 1.0)}
                              for (emb, dec), ps in groups.items()], **kwargs)
        return self.optimizer

    def _trainable_state(self, model=None) -> dict[str, torch.Tensor]:
        model = model or self.model
        return {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        from safetensors.torch import save_file

        output_dir = output_dir or self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        tmp = os.path.join(output_dir, f".{TRAINABLE_FILE}.tmp")
        save_file(self._trainable_state(), tmp)
        os.replace(tmp, os.path.join(output_dir, TRAINABLE_FILE))

    def _load_trainable(self, folder: str, model=None) -> None:
        from safetensors.torch import load_file

        model = model or self.model
        path = os.path.join(folder, TRAINABLE_FILE)
        if not os.path.isfile(path):
            raise ConfigError(f"checkpoint {folder} has no {TRAINABLE_FILE}; it was not written by this trainer")
        state = load_file(path)
        params = dict(model.named_parameters())
        expected = {n for n, p in params.items() if p.requires_grad}
        if set(state) != expected:
            raise ConfigError(f"checkpoint {folder} does not match the model being trained "
                              f"({len(set(state) ^ expected)} parameter names differ)")
        with torch.no_grad():
            for n, t in state.items():
                params[n].copy_(t)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        self._load_trainable(resume_from_checkpoint, model)

    def _load_best_model(self):
        self._load_trainable(self.state.best_model_checkpoint)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
        data = eval_dataset if eval_dataset is not None else self.eval_dataset
        obj = self.model
        value = pseudo_perplexity(obj.model, obj.head, self.pppl_tokenizer, list(data.texts),
                                  max_length=self.pppl_max_length)
        metrics = {f"{metric_key_prefix}_pppl": round(value, 4)}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def training_arguments(cfg: TrainConfig, output_dir: str, seed: int, n_examples: int, **extra) -> TrainingArguments:
    """TrainingArguments for CPU/GPU from a TrainConfig; ``extra`` overrides any of them
    (default: no checkpoints, since stages cache their output)."""
    steps_per_epoch = max(1, math.ceil(n_examples / cfg.batch_size))
    max_steps = cfg.max_steps if cfg.max_steps else max(1, int(round(cfg.epochs * steps_per_epoch)))
    kw = dict(output_dir=output_dir, per_device_train_batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
              max_steps=max_steps, warmup_ratio=cfg.warmup_ratio, weight_decay=cfg.weight_decay, seed=seed,
              logging_steps=max(1, min(50, max_steps // 10)), save_strategy="no", report_to=[],
              remove_unused_columns=False, dataloader_num_workers=0, use_cpu=not torch.cuda.is_available(),
              disable_tqdm=False)
    if not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        kw["ddp_backend"] = "gloo"
    kw.update(extra)
    return TrainingArguments(**kw)


def split_heldout(texts: list[str], fraction: float, max_texts: int, seed: int) -> tuple[list[str], list[str]]:
    """``(train, held_out)``: a seeded random ``fraction`` of the non-blank lines (at most
    ``max_texts``, at least 1 when fraction > 0) is held out. Raises ConfigError for a fraction
    outside [0, 1)."""
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"eval_fraction must be in [0, 1), got {fraction}")
    lines = [t for t in texts if t and t.strip()]
    if fraction == 0 or len(lines) < 2:
        return lines, []
    n = min(max(1, int(len(lines) * fraction)), max_texts, len(lines) - 1)
    order = torch.randperm(len(lines), generator=torch.Generator().manual_seed(seed)).tolist()
    held = set(order[:n])
    return [t for i, t in enumerate(lines) if i not in held], [lines[i] for i in sorted(held)]


def dictionary_alignment(model, tokenizer, base_tokenizer, pairs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """Inputs of :func:`~unibridge.adaptation.losses.align_loss` for ``(source word, target word)``
    pairs: target words as pieces of ``tokenizer``, source words as the mean of their base
    (``"default"``) embedding rows under ``base_tokenizer``. Pairs with an empty or unknown-only
    side are dropped; returns None when none is left."""
    base = model.loaded_embeddings["default"].weight.detach() if hasattr(model, "loaded_embeddings") \
        else model.get_input_embeddings().weight.detach()
    pieces, owner, vectors = [], [], []
    for src_word, tgt_word in pairs:
        t_ids = [i for i in tokenizer(tgt_word, add_special_tokens=False)["input_ids"] if i != tokenizer.unk_token_id]
        s_ids = [i for i in base_tokenizer(src_word, add_special_tokens=False)["input_ids"]
                 if i != base_tokenizer.unk_token_id]
        if not t_ids or not s_ids:
            continue
        pieces.extend(t_ids)
        owner.extend([len(vectors)] * len(t_ids))
        vectors.append(base[s_ids].mean(0))
    if not vectors:
        return None
    return torch.tensor(pieces), torch.tensor(owner), torch.stack(vectors)


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a multi-process (torchrun / accelerate) run."""
    return int(os.environ.get("RANK", "0")) == 0


def train_language_adapter(model, tokenizer, texts: list[str], adapter: str, *,
                           cfg: SourceAdaptationConfig | AdaptationConfig, train_embeddings: bool = True,
                           base_tokenizer=None, dictionary=None, seed: int = 42,
                           output_dir: str = "/tmp/unibridge-trainer", resume: bool = True,
                           head_init: MLMHead | None = None) -> tuple[MLMHead, list[dict]]:
    """Train language adapter ``adapter`` (already added to ``model``) with MLM + regulariser
    (+ α·ALIGN) against the frozen base.

    Args:
        model: ``adapters`` model; its active embeddings must be those of ``tokenizer``.
        tokenizer: tokenizer of the text the adapter learns (target or base vocabulary).
        texts: training lines; ``cfg.eval_fraction`` of them is held out for pseudo-perplexity.
        cfg: :class:`~unibridge.config.SourceAdaptationConfig` (MLM head, regulariser: β·KL
            and/or λ·anchor) or :class:`~unibridge.config.AdaptationConfig` (adds α).
        train_embeddings: train the active embeddings (new target embeddings) too.
        base_tokenizer: the teacher's tokenizer (the base model's), needed when a regulariser
            or α > 0 is on; the teacher is the base with its own embeddings and no adapter, or,
            with ``cfg.teacher == "init"`` and ``train_embeddings``, the base reading the text
            with ``tokenizer`` through a frozen copy of the new embeddings as they start.
        dictionary: ``(source word, target word)`` pairs for the ALIGN term (α > 0).
        output_dir: Trainer folder; with ``cfg.save_steps`` or early stopping it holds
            checkpoints, and with ``resume`` the last one found there is resumed.
        head_init: with ``cfg.mlm_head == "fitted"``, the head whose transform starts the
            fitted head (the backbone head, :func:`~unibridge.adaptation.head.backbone_head`).
    Returns:
        ``(MLM head, history)``: the head (``fitted``: prepared, frozen, its decoder a frozen copy
        of the embeddings when they train; ``joint``: trained with the adapter, decoder tied) and
        the logged records (``mlm_loss``, ``kl_loss``, ``anchor_loss``, ``align_loss``,
        ``eval_pppl`` with a step-0 record of the held-out pseudo-perplexity before training).
        A fitted head carries its fitting report as ``head.fit_report``.
    Raises:
        DataError: empty corpus. ConfigError / ValueError: a regulariser or α > 0 without
        base_tokenizer, α > 0 without usable dictionary pairs.
    Source: Eq. 9 of Pham et al. 2024; ALIGN-MLM (align-mlm.md); PPPL of Salazar et al. 2020.
    """
    tc = cfg.train
    beta, anchor = cfg.kl_weight, cfg.anchor
    alpha = getattr(cfg, "align_alpha", 0.0)
    train_texts, eval_texts = split_heldout(texts, cfg.eval_fraction, cfg.eval_max_texts, seed)
    words = split_words(train_texts)
    if tc.max_examples:
        words = words[: tc.max_examples]
    torch.manual_seed(seed)
    encs = [encode_words(tokenizer, w, tc.max_length) for w in words]
    teacher = None
    if (beta > 0 or anchor > 0 or alpha > 0) and base_tokenizer is None:
        raise ValueError("a regulariser (beta or anchor > 0) or align_alpha > 0 needs base_tokenizer for the teacher")
    n_layers = model.config.num_hidden_layers
    mlm_layer = resolve_layer(cfg.mlm_layer, n_layers, "mlm_layer")
    mlm_layer = None if mlm_layer == n_layers else mlm_layer  # None: the last layer, no hidden states kept
    layers, blocks = None, [0]
    if anchor > 0 and list(cfg.anchor_layers) != [-1]:
        layers = teacher_layers(cfg.anchor_layers, n_layers)
        wanted = {resolve_layer(x, n_layers) for x in cfg.anchor_layers}
        blocks = [b for b, layer in enumerate(layers) if layer in wanted]
    if beta > 0 or anchor > 0:
        if getattr(cfg, "teacher", "base") == "init" and train_embeddings:
            # the teacher reads the text as the student does, through a frozen copy of the new
            # embeddings as they start: where the base reads the target only as <unk>, its own
            # states carry nothing to hold the adapter to
            from .model import attach_embeddings

            active = model.active_embeddings
            attach_embeddings(model, TEACHER_EMBEDDINGS, tokenizer, model.get_input_embeddings().weight.detach().clone())
            model.set_active_embeddings(active)
            teacher = LazyTeacher(model, tokenizer, words, encs, tc.max_length, layers=layers,
                                  embeddings=TEACHER_EMBEDDINGS)
        else:
            teacher = LazyTeacher(model, base_tokenizer, words, encs, tc.max_length, layers=layers)
    align = None
    if alpha > 0:
        align = dictionary_alignment(model, tokenizer, base_tokenizer, dictionary or [])
        if align is None:
            raise ConfigError("align_alpha > 0 needs bilingual dictionary pairs whose words both tokenizers know "
                              "(embeddings.dictionary)")
    history: list[dict] = []
    if cfg.mlm_head == "fitted":
        from .head import prepare_head

        head, report = prepare_head(model, tokenizer, [" ".join(w) for w in words], steps=cfg.head_fit_steps,
                                    batch_size=tc.batch_size, max_length=tc.max_length,
                                    learning_rate=cfg.head_learning_rate, mlm_probability=cfg.mlm_probability,
                                    init=head_init, frozen_decoder=train_embeddings, seed=seed, layer=mlm_layer)
        head.fit_report = report
    model.train_adapter(adapter, train_embeddings=train_embeddings)
    model.set_active_adapters(adapter)
    if cfg.mlm_head == "joint":
        head = MLMHead(model.get_input_embeddings(), getattr(model.config, "layer_norm_eps", 1e-12), layer=mlm_layer)
    objective = LanguageModelingObjective(
        model, head, beta=beta, kl_level=cfg.kl_level, temperature=cfg.kl_temperature, alpha=alpha, align=align,
        masker=mlm_masker(tokenizer, cfg.mlm_probability), seed=seed,
        anchor=anchor, anchor_kind=cfg.anchor_kind, teacher=teacher, layers=layers, anchor_blocks=blocks)
    extra: dict = {"group_by_length": cfg.group_by_length}
    callbacks: list = [_StepTracker(objective), _PartsLogger(objective, history)]
    probe = training_arguments(tc, output_dir, seed, len(encs))
    if eval_texts:
        every = cfg.eval_steps or probe.max_steps
        extra.update(eval_strategy="steps", eval_steps=every)
        if cfg.patience > 0:
            extra.update(save_strategy="steps", save_steps=every, save_total_limit=2, load_best_model_at_end=True,
                         metric_for_best_model="pppl", greater_is_better=False)
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.patience))
    if cfg.save_steps > 0 and "save_steps" not in extra:
        extra.update(save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=1)
    args = training_arguments(tc, output_dir, seed, len(encs), **extra)
    trainer = AdaptationTrainer(model=objective, args=args, train_dataset=_MLMDataset(encs),
                                eval_dataset=_TextDataset(eval_texts) if eval_texts else None,
                                data_collator=_Collator(tokenizer, teacher is not None), callbacks=callbacks,
                                pppl_tokenizer=tokenizer, pppl_max_length=tc.max_length,
                                embedding_lr_scale=getattr(cfg, "embedding_lr_scale", 1.0) if train_embeddings else 1.0)
    last = get_last_checkpoint(output_dir) if resume and os.path.isdir(output_dir) else None
    if eval_texts and last is None:
        history.append({"step": 0, "eval_pppl": round(pseudo_perplexity(model, head, tokenizer, eval_texts,
                                                                          max_length=tc.max_length), 4)})
    trainer.train(resume_from_checkpoint=last)
    if eval_texts and cfg.patience > 0:  # the best weights are back; record their score
        trainer.evaluate()
    if TEACHER_EMBEDDINGS in model.loaded_embeddings:
        model.delete_embeddings(TEACHER_EMBEDDINGS)
    model.eval()
    return head, history


def save_language_adapter(model, head: MLMHead, adapter: str, out_dir, history: list[dict],
                          with_embeddings: bool = True) -> None:
    """Write a trained language adapter into ``out_dir`` (created):

    ``adapter/`` (adapters' format), ``embeddings.safetensors`` ({"weight": (V, d)} active
    embeddings, if ``with_embeddings``), ``mlm_head.safetensors`` (the head's own parameters;
    its decoder is the embedding) and ``history.json``. Files are written atomically.
    """
    from pathlib import Path

    from safetensors.torch import save_file

    from ..artifacts import write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_adapter(str(out / "adapter"), adapter, with_head=False, use_safetensors=True)
    # the head's own parameters; a frozen decoder is the initial embedding rows, not stored again
    tensors = {"mlm_head.safetensors": {k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()
                                        if k != "decoder_weight"}}
    if with_embeddings:
        tensors["embeddings.safetensors"] = {"weight": model.get_input_embeddings().weight.detach().cpu().contiguous()}
    for name, data in tensors.items():
        tmp = out / f".{name}.tmp"
        save_file(data, str(tmp))
        os.replace(tmp, out / name)
    write_json(out / "history.json", history)
    if getattr(head, "fit_report", None) is not None:
        write_json(out / "head.json", head.fit_report)
