"""The MLM head every language adapter trains against: fitted on the frozen base, then frozen.

A freshly initialised head trained together with a language adapter lets the quickest way down
the MLM loss be the token-frequency prior, which an adapter reaches by making the final states
input-independent: the representation collapses (measured in docs/adaptation.md). The head
here is prepared before the adapter trains:

1. its output bias starts at the log unigram frequencies of the training text
   (:func:`unigram_log_prior`), so the frequency prior costs the adapter nothing;
2. its transform (dense, LayerNorm) starts from the *backbone head*, one per backbone, shipped
   or fitted once on a fixed multilingual text
   (:func:`~unibridge.adaptation.backbone_head.backbone_head`), where the backbone has no MLM
   head of its own (me5-small);
3. the whole head (bias and transform; the decoder is a frozen copy of the embedding rows) is
   fitted alone on the language's text with the adapters off and the encoder under
   ``no_grad`` (:func:`fit_mlm_head`), then frozen while the adapter trains.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import DataCollatorForLanguageModeling

from .model import MLMHead, encoder_states, model_setup

HEAD_FILE = "mlm_head.safetensors"


def unigram_log_prior(tokenizer, texts: list[str], vocab_size: int | None = None, *, smoothing: float = 0.1,
                      max_length: int = 512) -> torch.Tensor:
    """Log unigram frequencies of ``texts`` under ``tokenizer``: (V,) float32.

    ``log((c_i + smoothing) / (N + smoothing * V))`` with c_i the count of piece i (special tokens
    excluded) and N the total, so pieces absent from the text get a finite low value. V is
    ``vocab_size`` or ``len(tokenizer)``. Raises ValueError if the texts hold no piece.
    """
    V = vocab_size or len(tokenizer)
    counts = _piece_counts(tokenizer, texts, V, max_length=max_length, special=False)
    total = float(counts.sum())
    if total == 0:
        raise ValueError("unigram prior: the texts hold no token")
    return torch.log((counts + smoothing) / (total + smoothing * V)).to(torch.float32)


class _SizedTokenizer:
    """``tokenizer`` with its ``len()`` computed once. A fast tokenizer recounts its vocabulary and
    added tokens on every ``len()`` (0.1 s at XLM-R's 250k pieces), and the MLM collator asks for it
    on every batch to draw random replacement tokens."""

    def __init__(self, tokenizer):
        self._tokenizer, self._len = tokenizer, len(tokenizer)

    def __len__(self) -> int:
        return self._len

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)


def mlm_masker(tokenizer, mlm_probability: float) -> DataCollatorForLanguageModeling:
    """transformers' BERT-style masker (``torch_mask_tokens``: of the chosen ``mlm_probability``
    share, 80% [MASK], 10% a random piece, 10% kept) over ``tokenizer``, with the tokenizer's
    length read once instead of once per batch; draws and results are those of the plain collator."""
    return DataCollatorForLanguageModeling(_SizedTokenizer(tokenizer), mlm_probability=mlm_probability)


def _masked_batches(tokenizer, texts: list[str], *, batch_size: int, max_length: int, mlm_probability: float,
                    seed: int):
    """Endless (input_ids, attention_mask, labels) batches of ``texts`` masked BERT-style, seeded."""
    g = torch.Generator().manual_seed(seed)
    masker = mlm_masker(tokenizer, mlm_probability)
    masker.generator = g
    lines = [t for t in texts if t.strip()]
    while True:
        order = torch.randperm(len(lines), generator=g).tolist()
        for a in range(0, max(1, len(order) - batch_size + 1), batch_size):
            enc = tokenizer([lines[i] for i in order[a:a + batch_size]], truncation=True, max_length=max_length,
                            padding=True, return_tensors="pt", return_special_tokens_mask=True)
            special = enc["special_tokens_mask"].bool() | (enc["attention_mask"] == 0)
            ids, labels = masker.torch_mask_tokens(enc["input_ids"].clone(), special_tokens_mask=special)
            yield ids, enc["attention_mask"], labels


def _piece_counts(tokenizer, texts: list[str], vocab_size: int, *, max_length: int = 512,
                  special: bool = True) -> torch.Tensor:
    """How often each piece id occurs in ``texts`` (no added special tokens): (V,) float64;
    special tokens occurring in the text (e.g. ``<unk>``) count only when ``special``."""
    skip = torch.tensor(sorted(set() if special else set(tokenizer.all_special_ids)), dtype=torch.long)
    chunks = []
    for i in range(0, len(texts), 1024):
        ids = tokenizer(texts[i:i + 1024], truncation=True, max_length=max_length,
                        add_special_tokens=False)["input_ids"]
        chunks.append(torch.tensor([t for row in ids for t in row], dtype=torch.long))
    flat = torch.cat(chunks) if chunks else torch.zeros(0, dtype=torch.long)
    flat = flat[(flat < vocab_size) & (flat >= 0) & ~torch.isin(flat, skip)]
    return torch.bincount(flat, minlength=vocab_size).to(torch.float64)


def _text_support(tokenizer, texts: list[str], vocab_size: int) -> torch.Tensor:
    """Sorted ids (int64) of the pieces occurring in ``texts`` with the tokenizer's special tokens
    added (e.g. ``<s>``, ``</s>``)."""
    seen = _piece_counts(tokenizer, texts, vocab_size) > 0
    seen[[i for i in tokenizer.build_inputs_with_special_tokens([]) if i < vocab_size]] = True
    return seen.nonzero().squeeze(1)


@torch.no_grad()
def _base_states(model, ids: torch.Tensor, att: torch.Tensor, layer: int | None = None) -> torch.Tensor:
    """The frozen model's hidden state ``layer`` (None: the last): (B, L, d)."""
    return encoder_states(model, ids, att, layer=layer)


def fit_mlm_head(model, head: MLMHead, tokenizer, texts: list[str], *, steps: int, batch_size: int = 16,
                 max_length: int = 64, learning_rate: float = 1e-3, mlm_probability: float = 0.15,
                 heldout: list[str] | None = None, seed: int = 0) -> dict:
    """Fit ``head`` (dense, LayerNorm, bias) alone on the frozen model with its adapters off.

    The encoder (the model's *active embeddings*, no adapter) runs under ``no_grad``; only the
    head's parameters that require grad train, with AdamW, linear warmup over the first 10% of
    ``steps`` and linear decay. The softmax runs over the pieces that occur in ``texts`` only
    (the labels are always among them; on a 250k vocabulary this is 5-30x faster); the bias of
    the other pieces keeps its initial value. The decoder should be frozen (``head.untie()``) or tied to frozen
    embeddings. The model's adapter setup and training mode are restored afterwards.

    Returns ``{"steps", "loss_first", "loss_last", "heldout_accuracy", "heldout_loss"}``: mean
    training loss of the first and last 10% of steps, and masked-token accuracy (%) / loss on
    ``heldout`` (None without held-out texts). Raises ValueError if ``texts`` has no line.
    """
    if not any(t.strip() for t in texts):
        raise ValueError("fit_mlm_head: no text")
    emb_grad = head.embedding.weight.requires_grad
    head.embedding.weight.requires_grad_(False)  # a tied decoder is not fitted
    params = [p for p in head.parameters() if p.requires_grad]
    losses: list[float] = []
    V = head.bias.shape[0]
    support = _text_support(tokenizer, texts, V)
    remap = torch.full((V,), -1, dtype=torch.long)
    remap[support] = torch.arange(len(support))
    try:
        with model_setup(model, None, None):
            if steps > 0 and params:
                opt = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
                warm = max(1, steps // 10)
                sched = torch.optim.lr_scheduler.LambdaLR(
                    opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
                head.train()
                batches = _masked_batches(tokenizer, texts, batch_size=batch_size, max_length=max_length,
                                          mlm_probability=mlm_probability, seed=seed)
                from tqdm.auto import tqdm

                bar = tqdm(range(steps), desc="MLM head", unit="step", leave=False, disable=steps < 50)
                for _ in bar:
                    ids, att, labels = next(batches)
                    sel = labels != -100
                    if not bool(sel.any()):
                        continue
                    states = _base_states(model, ids, att, head.layer)[sel]
                    loss = F.cross_entropy(head(states, rows=support), remap[labels[sel]])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    losses.append(float(loss.detach()))
                    bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
            head.eval()
            acc = loss_h = None
            if heldout:
                acc, loss_h = masked_token_accuracy(model, head, tokenizer, heldout, max_length=max_length,
                                                    mlm_probability=mlm_probability, seed=seed + 1)
    finally:
        head.embedding.weight.requires_grad_(emb_grad)
    k = max(1, len(losses) // 10)
    return {"steps": steps, "loss_first": round(sum(losses[:k]) / k, 4) if losses else None,
            "loss_last": round(sum(losses[-k:]) / k, 4) if losses else None,
            "heldout_accuracy": acc, "heldout_loss": loss_h}


@torch.no_grad()
def masked_token_accuracy(model, head: MLMHead, tokenizer, texts: list[str], *, max_length: int = 64,
                          mlm_probability: float = 0.15, seed: int = 0, batch_size: int = 32
                          ) -> tuple[float, float]:
    """``(accuracy %, mean loss)`` of ``head`` on BERT-masked ``texts`` (one seeded pass) read
    through the model as it is set up (active embeddings and adapters)."""
    batches = _masked_batches(tokenizer, texts, batch_size=min(batch_size, len(texts)), max_length=max_length,
                              mlm_probability=mlm_probability, seed=seed)
    n_batches = max(1, len(texts) // min(batch_size, len(texts)))
    right = total = 0
    loss_sum = 0.0
    for _ in range(n_batches):
        ids, att, labels = next(batches)
        sel = labels != -100
        if not bool(sel.any()):
            continue
        logits = head(_base_states(model, ids, att, head.layer)[sel])
        right += int((logits.argmax(-1) == labels[sel]).sum())
        loss_sum += float(F.cross_entropy(logits, labels[sel], reduction="sum"))
        total += int(sel.sum())
    return (round(100.0 * right / max(1, total), 2), round(loss_sum / max(1, total), 4))


def _start_head(model, bias: torch.Tensor, init: MLMHead | None = None, frozen_decoder: bool = True,
                layer: int | None = None) -> MLMHead:
    """An unfitted head on the model's active embeddings reading hidden state ``layer`` (None:
    the last): decoder frozen (or tied), output bias ``bias`` (V,), transform copied from
    ``init`` when given."""
    head = MLMHead(model.get_input_embeddings(), getattr(model.config, "layer_norm_eps", 1e-12), layer=layer)
    if frozen_decoder:
        head.untie()
    if init is not None:
        head.dense.load_state_dict(init.dense.state_dict())
        head.norm.load_state_dict(init.norm.state_dict())
    with torch.no_grad():
        head.bias.copy_(bias)
    return head


def prepare_head(model, tokenizer, texts: list[str], *, steps: int, batch_size: int, max_length: int,
                 learning_rate: float = 1e-3, mlm_probability: float = 0.15, init: MLMHead | None = None,
                 frozen_decoder: bool = True, heldout: list[str] | None = None, seed: int = 0,
                 layer: int | None = None) -> tuple[MLMHead, dict]:
    """A frozen, fitted MLM head for a language adapter on ``texts`` (see the module docstring).

    The decoder is a frozen copy of the model's *active* embedding rows (V, d) when
    ``frozen_decoder`` (use it when the embeddings train), else tied to them; the bias starts
    at :func:`unigram_log_prior` of ``texts``; the transform is copied from ``init`` (a backbone
    head, same hidden size) when given. Then :func:`fit_mlm_head` for ``steps`` steps and
    :meth:`MLMHead.freeze`. ``layer``: the hidden state the head reads (None: the last; an
    index in 0..n_layers, e.g. a middle layer, where me5-small's states carry more of the
    masked token's identity, :func:`layer_decodability`). Returns ``(head, report)``.
    """
    emb = model.get_input_embeddings()
    head = _start_head(model, unigram_log_prior(tokenizer, texts, emb.num_embeddings), init, frozen_decoder,
                       layer)
    report = fit_mlm_head(model, head, tokenizer, texts, steps=steps, batch_size=batch_size, max_length=max_length,
                          learning_rate=learning_rate, mlm_probability=mlm_probability, heldout=heldout, seed=seed)
    return head.freeze(), report


def layer_decodability(model, tokenizer, texts: list[str], heldout: list[str], *, layers: list[int],
                       init: MLMHead | None = None, epochs: int = 8, learning_rate: float = 1e-3,
                       batch_size: int = 512, passes: int = 2, max_length: int = 64,
                       mlm_probability: float = 0.15, seed: int = 0) -> dict:
    """How much of the masked tokens' identity a head can read from each layer of the frozen model.

    ``texts`` are masked BERT-style ``passes`` times (``heldout`` once) and read by the model as it
    is set up, adapters off (its active embeddings); the hidden states at the masked positions of
    every layer in ``layers`` (0 = embedding output .. L) are kept. Per layer, a head of this
    module's form (bias from :func:`unigram_log_prior` of ``texts``, transform from ``init`` when
    given, frozen decoder = the active embedding rows) is fitted on those states for ``epochs``
    passes (AdamW, minibatches of ``batch_size`` positions, softmax over the pieces of ``texts``
    and ``heldout``) and scored on the held-out positions after every epoch; the best epoch counts.
    The MLM objective of a language adapter reads the last layer: where it holds little of the
    token identity, the objective carries little signal (docs/adaptation.md).

    Returns ``{"prior": {"accuracy", "loss"}, "layers": {layer: {"accuracy", "loss"}},
    "positions": n_train, "heldout_positions": n_heldout}``: accuracy in % and mean cross-entropy
    in nats on the held-out positions; ``prior`` is the bias alone (the frequency prior).
    Raises ValueError if a text list is empty or a layer is out of range.
    """
    from .model import model_setup

    texts, heldout = [t for t in texts if t.strip()], [t for t in heldout if t.strip()]
    if not texts or not heldout:
        raise ValueError("layer_decodability: needs training and held-out text")
    n = model.config.num_hidden_layers
    if any(not 0 <= k <= n for k in layers):
        raise ValueError(f"layer_decodability: layers must be in 0..{n}, got {layers}")
    emb = model.get_input_embeddings()
    V = emb.num_embeddings
    support = _text_support(tokenizer, texts + heldout, V)
    remap = torch.full((V,), -1, dtype=torch.long)
    remap[support] = torch.arange(len(support))

    @torch.no_grad()
    def collect(lines: list[str], n_passes: int, first_seed: int):
        states: dict[int, list[torch.Tensor]] = {k: [] for k in layers}
        labels: list[torch.Tensor] = []
        bs = min(32, len(lines))
        with model_setup(model, None, None):
            for p in range(n_passes):
                batches = _masked_batches(tokenizer, lines, batch_size=bs, max_length=max_length,
                                          mlm_probability=mlm_probability, seed=first_seed + p)
                for _ in range(max(1, len(lines) // bs)):
                    ids, att, lab = next(batches)
                    sel = lab != -100
                    hidden = model.base_model(input_ids=ids, attention_mask=att, output_hidden_states=True).hidden_states
                    for k in layers:
                        states[k].append(hidden[k][sel])
                    labels.append(remap[lab[sel]])
        return {k: torch.cat(v) for k, v in states.items()}, torch.cat(labels)

    X, Y = collect(texts, passes, seed)
    Xh, Yh = collect(heldout, 1, seed + 1000)
    prior = unigram_log_prior(tokenizer, texts, V)

    def score(logits: torch.Tensor) -> dict:
        return {"accuracy": round(100.0 * float((logits.argmax(-1) == Yh).float().mean()), 2),
                "loss": round(float(F.cross_entropy(logits, Yh)), 4)}

    out = {"prior": score(prior[support].expand(len(Yh), -1)), "layers": {},
           "positions": len(Y), "heldout_positions": len(Yh)}
    g = torch.Generator().manual_seed(seed)
    for k in layers:
        head = _start_head(model, prior, init)
        opt = torch.optim.AdamW([p for p in head.parameters() if p.requires_grad], lr=learning_rate)
        best = None
        for _ in range(epochs):
            order = torch.randperm(len(Y), generator=g)
            for a in range(0, len(order), batch_size):
                i = order[a:a + batch_size]
                loss = F.cross_entropy(head(X[k][i], rows=support), Y[i])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            with torch.no_grad():
                cur = score(head(Xh[k], rows=support))
            if best is None or cur["loss"] < best["loss"]:
                best = cur
        out["layers"][k] = best
    return out
