"""Multi-source inference: one forward pass through ``Stack(lang_t, Parallel(*task_adapters))``.

y_hat = sum_s w_s * logits_s (Pham et al. 2024 Eq. 13), word-level labels from each word's first
sub-token. ``mode="merge"`` instead averages the task adapters' and heads' parameters with the
same weights (adapters' ``average_adapter`` / ``average_head``) and runs one adapter: faster,
and an approximation — the average of nonlinear adapters is not the average of their outputs.
"""

from __future__ import annotations

from pathlib import Path

import torch
from adapters.composition import Parallel, Stack
from tqdm.auto import tqdm

from ..artifacts import (check_run_target, read_json, sources_above_floor, target_tokenizer_dir,
                         used_task_adapter_dir)
from ..hub.lookup import find_run_dir
from ..errors import ConfigError
from ..data import TaggedSentence
from ..tasks.definitions import get_task
from ..tasks.train import task_adapter_name
from .strategies import get_strategy, resolve_weights
from .weights import stored_weights


def task_setup(lang: str | None, heads: list[str]):
    """The adapter composition of a multi-source pass: Stack(lang, Parallel(*heads)) (or Stack(lang, head));
    without a language adapter (``lang=None``) Parallel(*heads) or the head alone."""
    inner = Parallel(*heads) if len(heads) > 1 else heads[0]
    return Stack(lang, inner) if lang is not None else inner


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a torch.device; None picks CUDA when available, then Apple MPS, then CPU.

    Raises ConfigError for a device name torch does not know or a device this machine lacks."""
    if device is not None:
        from ..errors import ConfigError

        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as e:
            raise ConfigError(f"unknown device {device!r} ({str(e).splitlines()[0]})") from None
        mps = getattr(torch.backends, "mps", None)
        available = {"cpu": True, "meta": True, "cuda": torch.cuda.is_available()
                     and (dev.index is None or dev.index < torch.cuda.device_count()),
                     "mps": mps is not None and mps.is_available()}.get(dev.type, True)
        if not available:
            raise ConfigError(f"device '{device}' is not available on this machine"
                              + (" (torch sees no CUDA device)" if dev.type == "cuda" and not torch.cuda.is_available()
                                 else "") + "; use device='cpu' or leave it out")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@torch.no_grad()
def source_logits(model, input_ids, attention_mask, lang: str | None, heads: list[str],
                  mode: str = "parallel") -> torch.Tensor:
    """Per-source logits (S, B, L, C) for task adapters ``heads`` stacked on language adapter ``lang``
    (``None``: no language adapter).

    ``mode="parallel"``: one forward pass with Parallel composition (the batch is replicated
    inside the model after the embeddings). ``mode="sequential"``: S separate Stack passes (what
    MAD-X-style code does); both give the same logits.
    """
    if mode == "parallel":
        model.set_active_adapters(task_setup(lang, heads))
        model.active_head = heads if len(heads) > 1 else heads[0]
        out = model(input_ids=input_ids, attention_mask=attention_mask)
        outs = list(out) if len(heads) > 1 else [out]
        return torch.stack([o.logits for o in outs])
    if mode == "sequential":
        res = []
        for h in heads:
            model.set_active_adapters(task_setup(lang, [h]))
            model.active_head = h
            res.append(model(input_ids=input_ids, attention_mask=attention_mask).logits)
        return torch.stack(res)
    raise ValueError(f"mode must be 'parallel' or 'sequential', got {mode!r}")


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of ``batch_size`` by ascending length (ties in input order),
    so each batch pads to a similar length; the caller restores the input order.
    Raises ValueError for batch_size < 1."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[a:a + batch_size] for a in range(0, len(order), batch_size)]


def score_adapter(model, tokenizer, task: str, name: str, examples: list, *, language_adapter: str | None,
                  batch_size: int = 64) -> float:
    """The main metric of ``task`` (in [0, 1]) of task adapter + head ``name``, loaded in
    ``model`` and stacked on ``language_adapter`` (None: on the bare base), alone on
    ``examples`` (how a source's task adapter is scored on its own dev split,
    :func:`~unibridge.tasks.stage.adapt_task`)."""
    pred = MultiSourcePredictor.from_model(model, tokenizer, task, {"source": name}, language_adapter=language_adapter)
    return float(pred.evaluate(examples, batch_size=batch_size, progress=False)[pred.task.main_metric])


class MultiSourcePredictor:
    """Multi-source predictor (word tagger or pair classifier) for a target language from a finished run.

    ``MultiSourcePredictor(target="amh", task="pos").predict(["..."])`` loads the base model, the
    target embeddings and language adapter, and the task adapter + head of every source, then
    runs one Parallel pass per batch. ``weights``: a registered weight strategy
    (:mod:`~unibridge.inference.strategies`: ``"harmony"``, the default, as the run stored it for
    the task; ``"harmony-untuned"``, ``"lang2vec"``, ``"uniform"``, ``"entropy"``, optimised per
    batch; ``"single:<lang>"``) or a mapping; ``sources`` restricts the source set. The trained parts are looked up in ``run_dir``, else
    ``runs/<target>``, else the local hub, else the Hugging Face repository ``repo``
    (``owner/name``; pulled, verified, installed) — see :func:`~unibridge.hub.lookup.find_run_dir`.
    ``device``: where the model runs (None: CUDA, else MPS, else CPU, :func:`pick_device`);
    ``dtype``: e.g. ``torch.float16`` on a GPU (None keeps float32); ``batch_size``: the default
    of :meth:`predict`. Outputs (labels, probabilities, logits) are always on the CPU in
    float32; ``labels`` is the label order of their last dimension.
    Raises ConfigError if the run, task or a source is missing.
    """

    def __init__(self, target: str, task: str, *, run_dir: str | Path | None = None,
                 weights: str | dict = "harmony", sources: list[str] | None = None, max_length: int = 256,
                 repo: str | None = None, device: str | torch.device | None = None,
                 dtype: torch.dtype | None = None, batch_size: int = 32):
        from ..adaptation.model import ensure_adapter, load_adapter_model, load_run_target
        from ..backbones import load_tokenizer, resolve_backbone

        self.run_dir = find_run_dir(target, run_dir, repo=repo)
        self.target, self.task = target, get_task(task)
        check_run_target(self.run_dir, target, what="the predictor")
        run = read_json(self.run_dir / "run.json")
        trained = run.get("sources", {}).get(task)
        if not trained:
            raise ConfigError(f"the run in {self.run_dir} has no '{task}' task adapters")
        # by default, sources whose task adapter missed its floor on its own dev split are left out
        self.sources = list(sources) if sources else sources_above_floor(
            {s: used_task_adapter_dir(self.run_dir, task, s) for s in trained})
        unknown = [s for s in self.sources if s not in trained]
        if unknown:
            raise ConfigError(f"no '{task}' task adapter for source(s) {unknown}; trained: {trained}")
        harmony_file = self.run_dir / "harmony" / "weights.json"
        stored = read_json(harmony_file) if harmony_file.is_file() else None
        self._set_weights(weights, **stored_weights(stored, task))
        self.last_weights: dict[str, float] | None = None
        self.max_length = max_length
        self.tokenizer = load_tokenizer(target_tokenizer_dir(self.run_dir))
        self.model = load_adapter_model(resolve_backbone(run["base_model"]))
        load_run_target(self.model, self.run_dir, target, self.tokenizer)
        self.heads = [task_adapter_name(task, s) for s in self.sources]
        for s, name in zip(self.sources, self.heads):
            ensure_adapter(self.model, name, used_task_adapter_dir(self.run_dir, task, s) / "adapter", with_head=True)
        self.device, self.batch_size, self._dtype = pick_device(device), batch_size, dtype
        self._place()
        self.model.eval()
        self._merged: str | None = None

    def _set_weights(self, weights: str | dict, **stored) -> None:
        """Resolve the strategy's (starting) weights; keep its per-batch step, if it has one."""
        self.strategy = weights if isinstance(weights, str) else "explicit"
        self._per_batch = get_strategy(weights)[0].per_batch if isinstance(weights, str) else None
        self.weights = resolve_weights(weights, self.sources, target=self.target, **stored)
        self._w = torch.tensor([self.weights[s] for s in self.sources])

    @classmethod
    def from_model(cls, model, tokenizer, task: str, heads: dict[str, str], *, language_adapter: str | None,
                   weights: str | dict[str, float] | None = None, max_length: int = 256) -> "MultiSourcePredictor":
        """A predictor over a model already holding its adapters (baselines of the transfer grid).

        ``heads``: source -> name of its task adapter + head in ``model``; ``language_adapter``:
        the adapter the task adapters stack on (``None``: none, the zero-shot baseline);
        ``weights``: source -> weight, or a strategy that needs no stored harmony (default
        uniform). ``model`` embeds with ``tokenizer``.
        """
        self = cls.__new__(cls)
        self.run_dir, self.target, self.task = None, language_adapter, get_task(task)
        self.sources, self.heads = list(heads), list(heads.values())
        self._set_weights(weights or "uniform")
        self.last_weights, self.max_length = None, max_length
        self.tokenizer, self.model = tokenizer, model
        self.device, self.batch_size, self._dtype = next(model.parameters()).device, 32, None
        self.model.eval()
        self._merged = None
        return self

    def _place(self) -> None:
        if self._dtype is not None:
            self.model.to(self.device, dtype=self._dtype)
        else:
            self.model.to(self.device)

    @property
    def static(self) -> bool:
        """True when the weights are fixed (:attr:`weights`); False for a per-batch strategy,
        whose weights of the last batch are :attr:`last_weights`."""
        return self._per_batch is None

    @property
    def labels(self) -> list[str]:
        """The task's labels in the order of the probabilities' and logits' last dimension."""
        return list(self.task.labels)

    def merged_adapter(self) -> str:
        """Name of the task adapter + head averaged from the sources' with the current weights
        (built on first use; ``average_adapter`` / ``average_head``, linear combination)."""
        if self._merged is None:
            name = f"{self.task.name}_merged"
            w = [self.weights[s] for s in self.sources]
            self.model.average_adapter(name, self.heads, weights=w, overwrite_ok=True)
            self.model.average_head(name, self.heads, weights=w, overwrite_ok=True)
            self._place()  # the new adapter and head join the model's device and dtype
            self.model.eval()
            self._merged = name
        return self._merged

    def _combine(self, batch, mode: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Combined logits ((B, L, C) tagging, (B, C) classification) and the per-source ones
        (S, ...) (None when merged)."""
        ids, att = batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device)
        if mode == "merge":
            return source_logits(self.model, ids, att, self.target, [self.merged_adapter()])[0].float().cpu(), None
        per_src = source_logits(self.model, ids, att, self.target, self.heads, mode=mode).float().cpu()
        S, w = per_src.shape[0], self._w
        if self._per_batch is not None:  # the strategy re-weights every batch from the sources' logits
            if self.task.kind.token_level:
                _, B, L, C = per_src.shape
                scored = torch.zeros(B, L, dtype=torch.bool)
                for j, first in enumerate(batch["first"]):
                    scored[j, first] = True
                w = self._per_batch(per_src.reshape(S, B * L, C), scored.reshape(-1), w)
            else:
                w = self._per_batch(per_src, torch.ones(per_src.shape[1], dtype=torch.bool), w)
            self.last_weights = dict(zip(self.sources, w.tolist()))
        return (per_src * w.view(S, *[1] * (per_src.dim() - 1))).sum(0), per_src

    def _batches(self, inputs: list, batch_size: int, progress: bool):
        items = [self.task.encode(self.tokenizer, x, self.max_length, labelled=False) for x in inputs]
        order = length_sorted_batches([len(it["input_ids"]) for it in items], batch_size)
        for idx in tqdm(order, desc=f"predict {self.task.name}", disable=not progress, unit="batch"):
            chunk = [items[i] for i in idx]
            batch = self.task.collate(chunk, self.tokenizer.pad_token_id)
            batch["first"] = [item.get("first") for item in chunk]
            yield idx, chunk, batch

    def _inputs(self, texts) -> list:
        if isinstance(texts, str):
            raise TypeError("predict() takes a list of texts, not a single string")
        return [self.task.kind.check_input(t, self.task.name) for t in texts]

    def predict(self, texts: list, *, batch_size: int | None = None, return_probs: bool = False,
                return_source_logits: bool = False, mode: str = "parallel", progress: bool = False,
                spaced: bool = True):
        """Labels for each input, in input order.

        Tagging tasks (pos, ner) take texts (a string split on whitespace, or a list of words)
        and return ``list[list[str]]``, exactly one label per word: a text longer than
        ``max_length`` sub-tokens is read in overlapping word-aligned windows, each word labelled
        from the window where it has the most context; a word that yields no sub-token gets
        "O" (ner) or "X" (pos) and a zero probability row. Pair classification tasks (nli) take
        ``(premise, hypothesis)`` pairs (or NLIExample), text classification tasks (topic) take
        texts (or LabelledText); both return ``list[str]``, one label per input. With
        ``return_probs`` or ``return_source_logits``: dicts ``{"input", "labels", "probs"
        ((n_words, C) or (C,)), "source_logits" {lang: same shape}}``, numpy float32 arrays
        whose last dimension follows :attr:`labels`.
        ``mode``: ``"parallel"`` (one pass), ``"sequential"`` (one Stack pass per source; same
        result), ``"merge"`` (one averaged adapter; no per-source logits). Inputs are batched by
        length (:func:`length_sorted_batches`) to cut padding.
        ``spaced=False`` (tagging tasks): the words are written without spaces between them (a list
        of Chinese or Japanese characters) and are read as running text
        (:func:`~unibridge.tasks.tagging.encode_tagged`).
        """
        if mode == "merge" and return_source_logits:
            raise ConfigError("merge mode runs one averaged adapter: there are no per-source logits")
        inputs = self._inputs(texts)
        labels, tagging = self.task.labels, self.task.kind.token_level
        if tagging:  # long texts are read in overlapping word-aligned windows
            spans = [self._windows(words) for words in inputs]
            pieces = [words[s:e] for words, sp in zip(inputs, spans) for s, e in sp]
            if not spaced:
                pieces = [TaggedSentence(list(p), [], spaced=False) for p in pieces]
        else:
            pieces = inputs
        outs = self._forward(pieces, batch_size or self.batch_size, progress, mode,
                             keep_sources=return_source_logits)
        results: list = []
        k = 0
        for i, x in enumerate(inputs):
            if tagging:
                logit, per_src, seen = self._stitch(spans[i], outs[k:k + len(spans[i])], len(x))
                k += len(spans[i])
                pred = [labels[c] if ok else self.task.fill_label for c, ok in zip(logit.argmax(-1).tolist(), seen)]
            else:
                _, logit, per_src = outs[i]
                pred = labels[int(logit.argmax(-1))]
            if not (return_probs or return_source_logits):
                results.append(pred)
                continue
            res = {"input": x, "labels": pred}
            if return_probs:
                probs = torch.softmax(logit, -1)
                probs = probs * torch.tensor(seen, dtype=probs.dtype).unsqueeze(-1) if tagging else probs
                res["probs"] = probs.numpy()
            if return_source_logits:
                res["source_logits"] = {s: per_src[j].numpy() for j, s in enumerate(self.sources)}
            results.append(res)
        return results

    def _windows(self, words: list[str]) -> list[tuple[int, int]]:
        """Word-aligned windows of ``words`` that fit ``max_length`` sub-tokens (special tokens
        included); see :func:`~unibridge.tasks.tagging.word_windows`."""
        from ..tasks.tagging import word_windows

        if not words:
            return []
        budget = max(1, self.max_length - self.tokenizer.num_special_tokens_to_add())
        if sum(len(w) + 1 for w in words) <= budget:  # a word has at most len(word) + 1 pieces: it fits
            return [(0, len(words))]
        counts = [len(ids) for ids in self.tokenizer(list(words), add_special_tokens=False)["input_ids"]]
        return word_windows(counts, budget)

    def _forward(self, inputs: list, batch_size: int, progress: bool, mode: str, keep_sources: bool) -> list:
        """Per input ``(word_index or None, combined logits ((n_kept, C) or (C,)), per-source logits
        ((S, n_kept, C) or (S, C)) or None)``, in input order."""
        tagging = self.task.kind.token_level
        out: list = [None] * len(inputs)
        for idx, chunk, batch in self._batches(inputs, batch_size, progress):
            combined, per_src = self._combine(batch, mode)
            for j, (i, item) in enumerate(zip(idx, chunk)):
                at = torch.tensor(item["first"], dtype=torch.long) if tagging else None
                src = None
                if keep_sources:
                    src = per_src[:, j, at] if tagging else per_src[:, j]
                out[i] = (item.get("word_index"), combined[j, at] if tagging else combined[j], src)
        return out

    def _stitch(self, spans: list[tuple[int, int]], parts: list, n_words: int):
        """One text's word logits (n_words, C), per-source logits (S, n_words, C) or None, and
        which words got a prediction, from its windows' outputs: each word from the window where
        it has the most context (:func:`~unibridge.tasks.tagging.window_owner`), else any window
        that kept it."""
        from ..tasks.tagging import window_owner

        C, S = len(self.task.labels), len(self.sources)
        logit = torch.zeros(n_words, C)
        keep = bool(parts) and parts[0][2] is not None
        per_src = torch.zeros(S, n_words, C) if keep else None
        seen = [False] * n_words
        owner = window_owner(spans, n_words)
        for preferred in (True, False):
            for k, ((start, _), (word_index, lg, src)) in enumerate(zip(spans, parts)):
                for r, w in enumerate(word_index):
                    g = start + w
                    if seen[g] or (preferred and owner[g] != k):
                        continue
                    logit[g], seen[g] = lg[r], True
                    if keep:
                        per_src[:, g] = src[:, r]
        return logit, per_src, seen

    def evaluate(self, examples, *, batch_size: int | None = None, progress: bool = True, mode: str = "parallel") -> dict:
        """Score the task's examples (TaggedSentence / NLIExample) with its metric: accuracy for
        pos and nli, seqeval entity F1 for ner."""
        spaced = [getattr(x, "spaced", True) for x in examples]
        pred: list = [None] * len(examples)
        for way in sorted(set(spaced), reverse=True):  # spaced examples first, then unspaced ones
            at = [i for i, sp in enumerate(spaced) if sp == way]
            out = self.predict([self.task.inputs(examples[i]) for i in at], batch_size=batch_size,
                               progress=progress, mode=mode, spaced=way)
            for i, p in zip(at, out):
                pred[i] = p
        if not self.task.kind.token_level:
            pred = [[p] for p in pred]
        return self.task.metric([self.task.gold(x) for x in examples], pred)
