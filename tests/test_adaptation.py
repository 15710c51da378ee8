"""Language adaptation: KL regulariser, word pooling, MLM at masked positions, what trains."""

import math

import pytest
import torch
import torch.nn.functional as F

from unibridge.adaptation.losses import kl_regulariser, masked_mean, mlm_loss, word_pool
from unibridge.adaptation.model import MLMHead, add_language_adapter, encoder_states, load_adapter_model
from unibridge.adaptation.train import encode_words, teacher_states, train_language_adapter
from unibridge.config import AdaptationConfig, SourceAdaptationConfig, TrainConfig
from unibridge.errors import DataError


def test_kl_zero_for_identical_and_positive_otherwise():
    h = torch.randn(3, 5, 8)
    assert kl_regulariser(h, h.clone()).item() == pytest.approx(0.0, abs=1e-7)
    assert kl_regulariser(h, h + 0.5 * torch.randn_like(h)).item() > 1e-3
    # a constant shift along the hidden axis leaves the softmax unchanged -> KL 0
    assert kl_regulariser(h, h + 3.0).item() == pytest.approx(0.0, abs=1e-6)


def test_kl_exact_value_and_direction():
    s = torch.tensor([[0.0, math.log(3.0)]])  # p_s = (1/4, 3/4)
    t = torch.tensor([[0.0, 0.0]])  # p_t = (1/2, 1/2)
    expected = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)  # KL(p_s || p_t)
    assert kl_regulariser(s, t).item() == pytest.approx(expected, rel=1e-6)
    # mask: rows with mask 0 do not count
    s2, t2 = torch.cat([s, torch.randn(1, 2)]), torch.cat([t, torch.randn(1, 2)])
    assert kl_regulariser(s2, t2, torch.tensor([1.0, 0.0])).item() == pytest.approx(expected, rel=1e-6)


def test_kl_gradient_flows_to_student_only():
    s = torch.randn(2, 4, requires_grad=True)
    t = torch.randn(2, 4, requires_grad=True)
    kl_regulariser(s, t).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None


def test_word_pool_exact():
    states = torch.arange(12, dtype=torch.float32).view(1, 6, 2)
    word_ids = torch.tensor([[-1, 0, 0, 1, 2, -1]])
    pooled = word_pool(states, word_ids, 3)
    assert torch.equal(pooled[0, 0], (states[0, 1] + states[0, 2]) / 2)
    assert torch.equal(pooled[0, 1], states[0, 3])
    assert torch.equal(pooled[0, 2], states[0, 4])
    assert torch.equal(masked_mean(states, torch.tensor([[0, 1, 1, 0, 0, 0]]))[0], pooled[0, 0])


def test_mlm_loss_uses_only_masked_positions():
    emb = torch.nn.Embedding(20, 8)
    head = MLMHead(emb)
    states = torch.randn(2, 5, 8)
    labels = torch.full((2, 5), -100)
    labels[0, 1], labels[1, 3] = 4, 7
    got = mlm_loss(head, states, labels)
    full = F.cross_entropy(head(states).view(-1, 20), labels.view(-1), ignore_index=-100)
    assert got.item() == pytest.approx(full.item(), rel=1e-6)
    assert mlm_loss(head, states, torch.full((2, 5), -100)).item() == 0.0
    assert head.embedding.weight is emb.weight  # decoder tied to the embeddings


def test_encode_words_counts_complete_words(tiny_base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    e = encode_words(tok, ["hello", "world", "again"], max_length=64)
    assert e.n_words == 3 and e.word_ids[0] == -1 and e.word_ids[-1] == -1
    short = encode_words(tok, ["internationalisation"] * 10, max_length=8)
    assert len(short.input_ids) == 8 and short.n_words < 10


@pytest.mark.slow
def test_training_updates_only_adapter_embeddings_and_head(tiny_base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    model = load_adapter_model(tiny_base)
    add_language_adapter(model, "xx")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    texts = ["ሰላም ለዓለም እንደምን ነህ", "the cat sat on the mat", "a b c d e f g"] * 4
    cfg = AdaptationConfig(beta=1.0, train=TrainConfig(max_steps=3, batch_size=4, learning_rate=1e-2, max_length=16))
    head, hist = train_language_adapter(model, tok, texts, "xx", cfg=cfg, base_tokenizer=tok,
                                        output_dir="/tmp/unibridge-test-trainer", resume=False)
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}
    assert any("adapters.xx" in n for n in changed)
    assert any("invertible_adapters.xx" in n for n in changed)
    assert any("word_embeddings" in n for n in changed)  # embeddings train
    frozen = [n for n in changed if "adapters" not in n and "word_embeddings" not in n]
    assert frozen == [], f"frozen base parameters changed: {frozen[:3]}"
    assert hist and all(h["kl_loss"] >= 0 for h in hist)


@pytest.mark.slow
def test_embedding_lr_scale_zero_keeps_the_initial_embeddings_and_small_scales_move_them_less(tiny_base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    texts = ["the cat sat on the mat", "a b c d e f g", "one two three four"] * 4
    moved = {}
    for scale in (0.0, 0.1, 1.0):
        model = load_adapter_model(tiny_base)
        add_language_adapter(model, "xx")
        emb0 = model.get_input_embeddings().weight.detach().clone()
        adapter0 = {n: p.detach().clone() for n, p in model.named_parameters() if "adapters.xx" in n}
        cfg = AdaptationConfig(regulariser="none", mlm_head="joint", embedding_lr_scale=scale,
                               train=TrainConfig(max_steps=3, batch_size=4, learning_rate=1e-2, max_length=16))
        train_language_adapter(model, tok, texts, "xx", cfg=cfg, output_dir="/tmp/unibridge-test-trainer", resume=False)
        moved[scale] = float((model.get_input_embeddings().weight.detach() - emb0).abs().max())
        params = dict(model.named_parameters())
        assert any(not torch.equal(adapter0[n], params[n].detach()) for n in adapter0)  # the adapter trains
    assert moved[0.0] == 0.0
    assert 0.0 < moved[0.1] < moved[1.0]


def test_teacher_states_ignore_adapters_and_restore_setup(tiny_base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    model = load_adapter_model(tiny_base)
    words = [["hello", "world"], ["one", "two", "three"]]
    plain = teacher_states(model, tok, words, max_length=16)
    add_language_adapter(model, "xx")
    for n, p in model.named_parameters():
        if "adapters.xx" in n:
            torch.nn.init.normal_(p, std=0.5)
    model.set_active_adapters("xx")
    again = teacher_states(model, tok, words, max_length=16)
    assert [t.shape for t in plain] == [(3 + 2, 32), (3 + 3, 32)]  # first, last, sentence, words
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain, again))
    assert str(model.active_adapters) == str(model.active_adapters) and model.active_adapters is not None
    enc = tok(["hello world"], return_tensors="pt")
    assert not torch.allclose(encoder_states(model, enc["input_ids"], enc["attention_mask"]).mean(1),
                              again[0].mean(0, keepdim=True), atol=1e-4)


def test_empty_corpus_is_a_data_error(tiny_base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    model = load_adapter_model(tiny_base)
    add_language_adapter(model, "xx")
    with pytest.raises(DataError, match="empty"):
        train_language_adapter(model, tok, ["", "   "], "xx", cfg=SourceAdaptationConfig(train=TrainConfig(max_steps=1)))


# ---------------------------------------------------------------- checkpoints, resume, DDP, PPPL, ALIGN


def _trainable(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _adapt(tiny_base, out, *, max_steps, resume, stop_at=None, **cfg_kw):
    from transformers import AutoTokenizer, TrainerCallback

    import unibridge.adaptation.train as tr

    class Stop(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if stop_at is not None and state.global_step == stop_at:
                control.should_save, control.should_training_stop = True, True

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    model = load_adapter_model(tiny_base)
    torch.manual_seed(0)  # same adapter initialisation in every call
    add_language_adapter(model, "xx")
    texts = [f"the {w} sat on mat number {i} " * (1 + i % 3) for i, w in enumerate(["cat", "dog", "ox"] * 12)]
    cfg = AdaptationConfig(beta=1.0, save_steps=2, **cfg_kw,
                           train=TrainConfig(max_steps=max_steps, batch_size=4, learning_rate=1e-2, max_length=32))
    real = tr.AdaptationTrainer.__init__

    def init(self, *a, **kw):
        kw["callbacks"] = [*kw.get("callbacks", []), Stop()]
        real(self, *a, **kw)

    tr.AdaptationTrainer.__init__ = init
    try:
        head, hist = train_language_adapter(model, tok, texts, "xx", cfg=cfg, base_tokenizer=tok, seed=7,
                                            output_dir=str(out), resume=resume)
    finally:
        tr.AdaptationTrainer.__init__ = real
    return model, head, hist


def test_mlm_masker_draws_what_the_plain_collator_draws_and_reads_the_length_once(tiny_base, monkeypatch):
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling

    from unibridge.adaptation.head import mlm_masker

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    ids = tok(["the cat sat on the mat near the door"] * 16, return_tensors="pt")["input_ids"]
    plain, ours = DataCollatorForLanguageModeling(tok, mlm_probability=0.5), mlm_masker(tok, 0.5)
    calls = []
    real_len = type(tok).__len__
    monkeypatch.setattr(type(tok), "__len__", lambda self: calls.append(1) or real_len(self))
    outs = []
    for m in (plain, ours):
        m.generator = torch.Generator().manual_seed(3)
        outs.append([m.torch_mask_tokens(ids.clone()) for _ in range(3)])
        calls.append("|")
    for (a_in, a_lab), (b_in, b_lab) in zip(*outs):
        assert torch.equal(a_in, b_in) and torch.equal(a_lab, b_lab)
    replaced = (outs[1][0][0] != ids) & (outs[1][0][0] != tok.mask_token_id)
    assert replaced.any()  # random replacement pieces are drawn, over the whole vocabulary
    assert "".join("x" if c == 1 else c for c in calls) == "xxx||"  # plain: once per batch; ours: never again


@pytest.mark.slow
def test_interrupted_training_resumes_to_the_same_weights(tiny_base, tmp_path):
    full, head_full, _ = _adapt(tiny_base, tmp_path / "a", max_steps=6, resume=False)
    _adapt(tiny_base, tmp_path / "b", max_steps=6, resume=False, stop_at=3)  # "interrupted"
    assert sorted(p.name for p in (tmp_path / "b").glob("checkpoint-*")) == ["checkpoint-3"]
    ckpt = tmp_path / "b" / "checkpoint-3"
    assert (ckpt / "trainable.safetensors").stat().st_size < 40_000_000  # trainable parameters only
    resumed, head_res, _ = _adapt(tiny_base, tmp_path / "b", max_steps=6, resume=True)
    a, b = _trainable(full), _trainable(resumed)
    assert a.keys() == b.keys() and any("word_embeddings" in n for n in a)
    for n in a:
        assert torch.equal(a[n], b[n]), n
    for n, p in head_full.state_dict().items():
        assert torch.equal(p, head_res.state_dict()[n]), n


@pytest.mark.slow
def test_torchrun_two_processes_hold_identical_weights(tiny_base, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(root))
    torchrun = Path(sys.executable).with_name("torchrun")
    p = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", "29517",
                        str(root / "tests" / "ddp_worker.py"), str(tiny_base), str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    digests = [(tmp_path / f"rank{r}.sha").read_text() for r in (0, 1)]
    assert digests[0] == digests[1]
    # one checkpoint per save step, written once (by rank 0), with the last one kept
    assert [c.name for c in (tmp_path / "trainer").glob("checkpoint-*")] == ["checkpoint-6"]


def test_pseudo_perplexity_exact_on_a_constructed_head(tiny_base):
    from transformers import AutoTokenizer

    from unibridge.adaptation.pppl import pseudo_log_likelihoods, pseudo_perplexity

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    model = load_adapter_model(tiny_base)

    class Uniform(torch.nn.Module):  # logits all equal: every token has probability 1/V
        def forward(self, h):
            return torch.zeros(h.shape[0], len(tok))

    texts = ["hello world", "a b c d"]
    plls = pseudo_log_likelihoods(model, Uniform(), tok, texts)
    n = [len(tok(t)["input_ids"]) - 2 for t in texts]
    assert [c for _, c in plls] == n
    assert all(p == pytest.approx(-c * math.log(len(tok)), rel=1e-5) for p, c in plls)
    assert pseudo_perplexity(model, Uniform(), tok, texts) == pytest.approx(len(tok), rel=1e-4)


@pytest.mark.slow
def test_early_stopping_on_heldout_pppl_logs_before_and_after(tiny_base, tmp_path):
    _, _, hist = _adapt(tiny_base, tmp_path / "es", max_steps=8, resume=False, eval_fraction=0.2, eval_steps=2,
                        patience=1)
    evals = [h for h in hist if "eval_pppl" in h]
    assert evals[0]["step"] == 0 and len(evals) >= 3
    assert all(h["eval_pppl"] >= 1.0 for h in evals)
    best = min(h["eval_pppl"] for h in evals[1:-1])
    assert evals[-1]["eval_pppl"] == pytest.approx(best)  # the best weights were restored


def test_align_loss_exact_and_gradient_only_to_new_embeddings():
    from unibridge.adaptation.losses import align_loss

    E = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], requires_grad=True)
    src = torch.tensor([[1.0, 0.0], [0.0, 2.0]], requires_grad=True)
    # pair 0: word = pieces {0, 1} -> mean (0.5, 0.5), cos with (1, 0) = 1/sqrt(2); pair 1: piece 1 -> cos 1
    loss = align_loss(E, torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), src)
    assert loss.item() == pytest.approx(-(1 / math.sqrt(2) + 1.0) / 2, rel=1e-6)
    loss.backward()
    assert E.grad is not None and E.grad[2].abs().sum() == 0 and src.grad is None


def test_leave_out_layers_have_no_adapter(tiny_base):
    model = load_adapter_model(tiny_base)
    add_language_adapter(model, "xx", leave_out=[0])
    names = [n for n, _ in model.named_parameters() if ".adapters.xx." in n]
    assert names and not any(".layer.0." in n for n in names) and any(".layer.1." in n for n in names)


def test_a_recipe_chooses_the_language_adapter_architecture_through_adapters(tiny_base, tmp_path):
    from adapters import SeqBnConfig, SeqBnInvConfig

    from unibridge.adaptation.stage import adapt_language
    from unibridge.backbones import load_tokenizer
    from unibridge.config import Recipe
    from unibridge.errors import ConfigError

    default = SourceAdaptationConfig()
    assert default.adapter_config() == SeqBnInvConfig(reduction_factor=2, inv_adapter="nice",
                                                      inv_adapter_reduction_factor=2, leave_out=[])
    plain = SourceAdaptationConfig(adapter="seq_bn", leave_out=[0])
    assert plain.adapter_config() == SeqBnConfig(leave_out=[0])
    with pytest.raises(ConfigError, match="'adapter': adapters cannot read 'no_such_adapter'"):
        SourceAdaptationConfig(adapter="no_such_adapter")
    raw = {"target": "amh", "base_model": "me5-small", "mono": ["a.txt"], "tasks": {"pos": {"test": "t.conllu"}},
           "sources": {"en": {"pos": "x.conllu", "parallel": "p.txt"}}}
    # the default leaves every cache key as it was; another architecture is another adapter
    assert Recipe.from_dict({**raw, "adaptation": {"adapter": None}}).fingerprint("adaptation") == \
        Recipe.from_dict(raw).fingerprint("adaptation")
    assert Recipe.from_dict({**raw, "adaptation": {"adapter": "seq_bn[reduction_factor=4]"}}
                            ).fingerprint("adaptation") != Recipe.from_dict(raw).fingerprint("adaptation")
    assert SourceAdaptationConfig(adapter={"architecture": "lora", "r": 4}).adapter_config().r == 4
    # a bottleneck adapter without an invertible adapter trains and saves through the same service
    model, tok = load_adapter_model(tiny_base), load_tokenizer(tiny_base)
    cfg = SourceAdaptationConfig(adapter="seq_bn", mlm_head="joint", regulariser="none",
                                 train=TrainConfig(max_steps=2, batch_size=4, max_length=16))
    res = adapt_language(model, "xx", tok, ["a b c d e f"] * 16, tmp_path / "out", cfg=cfg, train_embeddings=False,
                         base_tokenizer=tok, seed=0, checkpoints=tmp_path / "ck")
    assert model.adapters_config.get("xx").inv_adapter is None and isinstance(res["history"], list)
    assert (tmp_path / "out" / "adapter" / "adapter_config.json").is_file()
    assert not any("invertible_adapters" in n for n, _ in model.named_parameters() if ".xx." in n)


def test_cli_adapt_new_vocabulary_writes_adapter_embeddings_and_pppl(tiny_base, tmp_path, capsys):
    import json

    from safetensors.torch import load_file, save_file

    from unibridge.backbones import load_tokenizer
    from unibridge.cli import main
    from unibridge.vocab import train_sentencepiece, wrap_tokenizer

    from tests.conftest import DATA

    lines = [x for x in (DATA / "mono/masakhane_ner_text_by_language/amharic/amharic_news.txt")
             .read_text(encoding="utf-8").splitlines() if x.strip()][:300]
    corpus = tmp_path / "amh.txt"
    corpus.write_text("\n".join(lines), encoding="utf-8")
    tok = wrap_tokenizer(train_sentencepiece(lines, 500, tmp_path / "spm"), load_tokenizer(tiny_base),
                         tmp_path / "tok")
    E0 = torch.randn(len(tok), 32) * 0.02
    save_file({"weight": E0}, str(tmp_path / "E.safetensors"))
    out = tmp_path / "adapt"
    args = ["adapt", str(corpus), "--out", str(out), "--base", str(tiny_base), "--tokenizer", str(tmp_path / "tok"),
            "--embeddings", str(tmp_path / "E.safetensors"), "--steps", "4", "--batch-size", "8",
            "--max-length", "32", "--eval-fraction", "0.05", "--lr", "1e-2", "--head-fit-steps", "4",
            "--no-backbone-head"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "held-out pseudo-perplexity:" in printed and "before ->" in printed
    assert "spread (mean-pooled)" in printed and "word cosine with the base by layer" in printed
    diag = json.loads((out / "diagnostics.json").read_text())
    assert len(diag["layer_cosine"]) == 3 and 0 <= diag["adapted"]["spread_mean"] <= 1  # embeddings + 2 layers
    assert json.loads((out / "head.json").read_text())["steps"] == 4
    E = load_file(str(out / "embeddings.safetensors"))["weight"]
    assert E.shape == E0.shape and not torch.equal(E, E0)
    assert (out / "adapter" / "adapter_config.json").is_file() and not (out / "checkpoints").exists()
    hist = json.loads((out / "history.json").read_text())
    assert hist[0]["step"] == 0 and "eval_pppl" in hist[0] and "eval_pppl" in hist[-1]
    assert main(["adapt", str(corpus), "--out", str(out), "--base", str(tiny_base), "--tokenizer",
                 str(tmp_path / "tok")]) == 2  # a tokenizer without its embeddings: one-line error


# ---------------------------------------------------------------- fitted head, anchor, diagnostics


def test_anchor_loss_zero_for_identical_exact_otherwise_and_masked():
    from unibridge.adaptation.losses import anchor_loss

    h = torch.randn(2, 4, 8)
    assert anchor_loss(h, h.clone()).item() == pytest.approx(0.0, abs=1e-6)
    assert anchor_loss(h, h.clone(), kind="mse").item() == 0.0
    s, t = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])  # orthogonal: 1 - cos = 1
    assert anchor_loss(s, t).item() == pytest.approx(1.0)
    assert anchor_loss(s, t, kind="mse").item() == pytest.approx((1 + 4) / 2)
    assert anchor_loss(torch.cat([s, t]), torch.cat([t, t]), torch.tensor([1.0, 0.0])).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="cosine"):
        anchor_loss(s, t, kind="l1")


def test_anchor_gradient_reaches_the_language_adapter(tiny_base):
    from transformers import AutoTokenizer

    from unibridge.adaptation.losses import anchor_loss
    from unibridge.adaptation.train import TEACHER_HEADER, _pad, state_units

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    model = load_adapter_model(tiny_base)
    add_language_adapter(model, "xx")
    words = [["the", "cat", "sat"], ["a", "dog"]]
    teach = teacher_states(model, tok, words, max_length=16)
    model.train_adapter("xx")
    for n, p in model.named_parameters():  # move the adapter off its identity initialisation
        if "adapters.xx" in n:
            torch.nn.init.normal_(p, std=0.2)
    encs = [encode_words(tok, w, 16) for w in words]
    ids = _pad([e.input_ids for e in encs], tok.pad_token_id)
    att = (ids != tok.pad_token_id).long()
    _, last = encoder_states(model, ids, att, with_last_layer=True)
    n = max(e.n_words for e in encs)
    t_pad = torch.zeros(2, TEACHER_HEADER + n, 32)
    t_mask = torch.zeros(2, TEACHER_HEADER + n)
    for j, t in enumerate(teach):
        t_pad[j, : t.shape[0]], t_mask[j, : t.shape[0]] = t, 1
    units = state_units(last, att, _pad([e.word_ids for e in encs], -1), n)
    loss = anchor_loss(units, t_pad, t_mask)
    assert loss.item() > 1e-3
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if "adapters.xx" in n}
    assert any(g is not None and g.abs().sum() > 0 for g in grads.values())
    assert all(p.grad is None for n, p in model.named_parameters() if "adapters" not in n)


def test_adapter_weights_depend_on_the_seed_alone_not_on_earlier_draws(tiny_base, tmp_path):
    from transformers import AutoTokenizer

    from unibridge.config import TaskConfig
    from unibridge.data import TaggedSentence
    from unibridge.tasks import get_task, train_task_adapter

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    sents = [TaggedSentence(["the", "cat", "sat"], ["DET", "NOUN", "VERB"])] * 8
    cfg = TaskConfig(train=TrainConfig(max_steps=1, batch_size=4, learning_rate=1e-3, max_length=16))
    runs = []
    for draws in (0, 1000):  # a process that drew more random numbers before must get the same adapters
        torch.rand(draws)
        model = load_adapter_model(tiny_base)
        add_language_adapter(model, "xx", seed=3)
        lang = {n: p.detach().clone() for n, p in model.named_parameters() if ".xx." in n or n.endswith(".xx")}
        torch.rand(draws + 7)
        train_task_adapter(model, tok, sents, get_task("pos"), "xx", cfg=cfg, seed=3,
                           output_dir=str(tmp_path / f"trainer{draws}"))
        task = {n: p.detach().clone() for n, p in model.named_parameters() if "pos_xx" in n}
        runs.append((lang, task))
    for first, second in zip(*runs):
        assert first and first.keys() == second.keys()
        assert all(torch.equal(first[k], second[k]) for k in first)


def test_teacher_layers_put_the_last_layer_first_and_check_indices():
    from unibridge.adaptation.train import teacher_layers

    assert teacher_layers([-1], 12) == [12]
    assert teacher_layers([0, 6, -1], 12) == [12, 0, 6]
    assert teacher_layers([-13, 12, 3], 12) == [12, 0, 3]
    for bad in (13, -14, 1.5, True):
        with pytest.raises(ValueError, match="not a hidden-state index of a 12-layer model"):
            teacher_layers([bad], 12)


def test_anchor_on_several_layers_is_the_mean_of_each_layers_anchor(tiny_base):
    from transformers import AutoTokenizer

    from unibridge.adaptation.losses import anchor_loss
    from unibridge.adaptation.train import (TEACHER_HEADER, LanguageModelingObjective, _pad, pad_teacher,
                                            state_units, teacher_layers)

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    model = load_adapter_model(tiny_base)
    n_layers = model.config.num_hidden_layers
    words = [["the", "cat", "sat"], ["a", "dog"]]
    layers = teacher_layers([0, 1, -1], n_layers)
    single = teacher_states(model, tok, words, max_length=16)
    multi = teacher_states(model, tok, words, max_length=16, layers=layers)
    d = single[0].shape[1]
    for s, m in zip(single, multi):  # block 0 is the last layer, as the KL term and default anchor read it
        assert m.shape == (s.shape[0], d * len(layers)) and torch.equal(m[:, :d], s)
    add_language_adapter(model, "xx")
    model.train_adapter("xx")
    for n, p in model.named_parameters():
        if "adapters.xx" in n:
            torch.nn.init.normal_(p, std=0.2)
    model.eval()  # no dropout: the objective and the reference below see the same states
    encs = [encode_words(tok, w, 16) for w in words]
    ids = _pad([e.input_ids for e in encs], tok.pad_token_id)
    att = (ids != tok.pad_token_id).long()
    wid = _pad([e.word_ids for e in encs], -1)
    teacher, mask = pad_teacher(multi)
    head = MLMHead(model.get_input_embeddings())
    no_mlm = torch.full_like(ids, -100)

    def anchor(blocks):
        obj = LanguageModelingObjective(model, head, anchor=1.0, layers=layers, anchor_blocks=blocks)
        return obj(ids, att, labels=no_mlm, word_ids=wid, teacher=teacher, teacher_mask=mask)

    hidden = model.base_model(input_ids=ids, attention_mask=att, output_hidden_states=True).hidden_states
    keep = [0, 1, *range(TEACHER_HEADER, teacher.shape[1])]
    per_block = []
    for b, layer in enumerate(layers):
        units = state_units(hidden[layer], att, wid, teacher.shape[1] - TEACHER_HEADER)
        per_block.append(anchor_loss(units[:, keep], teacher[:, keep, b * d:(b + 1) * d], mask[:, keep]).item())
    assert min(per_block) > 1e-4
    assert anchor([0])["anchor_loss"].item() == pytest.approx(per_block[0], rel=1e-5)
    assert anchor([1, 2])["anchor_loss"].item() == pytest.approx((per_block[1] + per_block[2]) / 2, rel=1e-5)
    out = anchor([1])  # the embedding output alone: only what sits below layer 1 can learn from it
    out["loss"].backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert grads and all("invertible_adapters" in n for n in grads)


def test_unigram_log_prior_exact(tiny_base):
    from transformers import AutoTokenizer

    from unibridge.adaptation.head import unigram_log_prior

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    texts = ["the cat", "the the"]
    prior = unigram_log_prior(tok, texts, smoothing=0.5)
    the, cat = tok("the", add_special_tokens=False)["input_ids"][0], tok("cat", add_special_tokens=False)["input_ids"][0]
    V, N = len(tok), 4
    assert prior.shape == (V,) and prior.dtype == torch.float32
    assert prior[the].item() == pytest.approx(math.log((3 + 0.5) / (N + 0.5 * V)), rel=1e-5)
    assert prior[cat].item() == pytest.approx(math.log((1 + 0.5) / (N + 0.5 * V)), rel=1e-5)
    assert prior[tok.bos_token_id].item() == pytest.approx(math.log(0.5 / (N + 0.5 * V)), rel=1e-5)
    with pytest.raises(ValueError, match="no token"):
        unigram_log_prior(tok, ["", ""])


@pytest.mark.slow
def test_fitted_head_lowers_its_loss_and_stays_frozen_while_the_adapter_trains(tiny_base, monkeypatch):
    from transformers import AutoTokenizer

    import unibridge.adaptation.head as head_mod

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    model = load_adapter_model(tiny_base)
    add_language_adapter(model, "xx")
    snapshot = {}
    real = head_mod.prepare_head

    def spy(*a, **kw):
        head, report = real(*a, **kw)
        snapshot.update({k: v.detach().clone() for k, v in head.state_dict().items()})
        snapshot["_embedding"] = head.embedding.weight.detach().clone()
        return head, report

    monkeypatch.setattr(head_mod, "prepare_head", spy)
    texts = [f"the {w} sat on the mat {i}" for i, w in enumerate(["cat", "dog", "ox", "hen"] * 10)]
    cfg = AdaptationConfig(head_fit_steps=40, head_learning_rate=3e-3,
                           train=TrainConfig(max_steps=4, batch_size=4, learning_rate=1e-2, max_length=16))
    head, _ = train_language_adapter(model, tok, texts, "xx", cfg=cfg, train_embeddings=True, base_tokenizer=tok,
                                     output_dir="/tmp/unibridge-test-head", resume=False)
    rep = head.fit_report
    assert rep["steps"] == 40 and rep["loss_first"] is not None
    assert not head.tied and not any(p.requires_grad for p in head.parameters())
    for k, v in head.state_dict().items():  # the head did not move while the adapter trained
        assert torch.equal(v, snapshot[k]), k
    assert torch.equal(head.decoder, snapshot["_embedding"])  # decoder = embeddings before training
    assert not torch.equal(model.get_input_embeddings().weight, snapshot["_embedding"])  # embeddings trained


def test_a_head_on_a_middle_layer_trains_only_the_adapters_up_to_it(tiny_base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    model = load_adapter_model(tiny_base)
    assert model.config.num_hidden_layers >= 2
    add_language_adapter(model, "xx")
    before = {n: p.detach().clone() for n, p in model.named_parameters() if ".xx." in n}
    texts = [f"the {w} sat on the mat {i}" for i, w in enumerate(["cat", "dog", "ox", "hen"] * 10)]
    cfg = SourceAdaptationConfig(regulariser="none", mlm_layer=1, head_fit_steps=2,
                                 train=TrainConfig(max_steps=3, batch_size=4, learning_rate=1e-2, max_length=16))
    head, _ = train_language_adapter(model, tok, texts, "xx", cfg=cfg, train_embeddings=False,
                                     output_dir="/tmp/unibridge-test-mlm-layer", resume=False)
    assert head.layer == 1
    moved = {n for n, p in model.named_parameters() if n in before and not torch.equal(p, before[n])}
    assert any(".layer.0." in n for n in moved) and any("invertible" in n for n in moved)
    # hidden state 1 is layer 0's output: the MLM loss does not reach the adapters above it
    assert not any(".layer.1." in n for n in moved)
    ids = tok(["the cat sat"], return_tensors="pt")
    with torch.no_grad():
        read = encoder_states(model, ids["input_ids"], ids["attention_mask"], layer=1)
        hidden = model.base_model(**ids, output_hidden_states=True).hidden_states[1]
    assert torch.allclose(read, model.base_model.invertible_adapters_forward(hidden, rev=True))
    # with the regularisers on, the KL term and the anchor still compare the last layer
    both = SourceAdaptationConfig(mlm_layer=1, head_fit_steps=1, anchor_weight=1.0,
                                  train=TrainConfig(max_steps=1, batch_size=4, learning_rate=1e-2, max_length=16))
    _, hist = train_language_adapter(model, tok, texts, "xx", cfg=both, train_embeddings=False, base_tokenizer=tok,
                                     output_dir="/tmp/unibridge-test-mlm-layer", resume=False)
    assert hist[-1]["anchor_loss"] > 0 and hist[-1]["kl_loss"] > 0
    with pytest.raises(ValueError, match="mlm_layer 9 is not a hidden-state index"):
        train_language_adapter(model, tok, texts, "xx", cfg=SourceAdaptationConfig(mlm_layer=9, regulariser="none"),
                               output_dir="/tmp/unibridge-test-mlm-layer", resume=False)


@pytest.mark.slow
def test_fit_mlm_head_learns_on_the_frozen_base_and_leaves_the_model_as_it_was(tiny_base):
    from transformers import AutoTokenizer

    from unibridge.adaptation.head import fit_mlm_head

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    model = load_adapter_model(tiny_base)
    add_language_adapter(model, "xx")
    model.set_active_adapters("xx")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    texts = [f"the {w} sat on the mat" for w in ["cat", "dog", "ox", "hen"] * 20]
    head = MLMHead(model.get_input_embeddings()).untie()  # zero bias: starts at the uniform distribution
    rep = fit_mlm_head(model, head, tok, texts, steps=60, batch_size=16, learning_rate=1e-2, heldout=texts[:16])
    assert rep["loss_last"] < rep["loss_first"] - 0.5
    assert 0.0 <= rep["heldout_accuracy"] <= 100.0 and rep["heldout_loss"] > 0
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())  # the model did not train
    assert model.active_adapters is not None and "xx" in str(model.active_adapters)  # setup restored


def test_layer_decodability_scores_the_frequency_prior_exactly_and_leaves_the_model_as_it_was(tiny_base):
    from transformers import AutoTokenizer

    from unibridge.adaptation.head import _text_support, layer_decodability, unigram_log_prior

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    model = load_adapter_model(tiny_base)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    texts = ["the the the the the the"] * 40  # every masked label is "▁the", the prior's argmax
    out = layer_decodability(model, tok, texts, texts[:8], layers=[0, 2], epochs=2, passes=1)
    support = _text_support(tok, texts, len(tok))
    the = tok("the", add_special_tokens=False)["input_ids"][0]
    prior = unigram_log_prior(tok, texts, len(tok))[support]
    expected = -float(torch.log_softmax(prior, 0)[(support == the).nonzero().item()])
    assert out["prior"] == {"accuracy": 100.0, "loss": pytest.approx(expected, abs=1e-4)}
    assert set(out["layers"]) == {0, 2} and out["heldout_positions"] > 0 and out["positions"] > 0
    assert all(0.0 <= r["accuracy"] <= 100.0 and r["loss"] >= 0 for r in out["layers"].values())
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    with pytest.raises(ValueError, match="layers must be in 0..2"):
        layer_decodability(model, tok, texts, texts[:8], layers=[3])


def _spread_after_training(tiny_base, **change) -> tuple[float, float]:
    import random

    from transformers import AutoTokenizer

    from unibridge.adaptation.diagnostics import representation_diagnostics

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    vocab = "the cat dog ox sat ran on under a mat tree house big small red blue".split()
    rnd = random.Random(0)
    texts = [" ".join(rnd.choice(vocab) for _ in range(rnd.randint(5, 12))) for _ in range(200)]
    model = load_adapter_model(tiny_base)
    torch.manual_seed(0)
    add_language_adapter(model, "xx")
    cfg = SourceAdaptationConfig(**change, head_fit_steps=30,
                                 train=TrainConfig(max_steps=30, batch_size=8, learning_rate=1e-2, max_length=32))
    train_language_adapter(model, tok, texts[:-40], "xx", cfg=cfg, train_embeddings=False, base_tokenizer=tok, seed=1,
                           output_dir="/tmp/unibridge-test-spread", resume=False)
    d = representation_diagnostics(model, tok, texts[-40:], embeddings="default", adapter="xx", base_tokenizer=tok)
    return d["adapted"]["spread_mean"], d["base"]["spread_mean"]


@pytest.mark.slow
def test_default_language_adapter_keeps_the_spread_the_original_recipe_collapses(tiny_base):
    new, base = _spread_after_training(tiny_base)
    old, _ = _spread_after_training(tiny_base, mlm_head="joint", regulariser="none")
    assert new > 0.5 * base  # the between-example share of the states survives 30 steps
    assert old < 0.5 * base  # a fresh head trained with the adapter collapses it


def test_centroid_gap_and_spread_exact():
    from unibridge.adaptation.diagnostics import centroid_gap, spread

    a = (torch.tensor([0.0, 0.0, 0.0, 0.0]), 0.5)
    b = (torch.tensor([3.0, 0.0, 4.0, 0.0]), 2.0)
    assert centroid_gap(a, b) == pytest.approx(5.0 / math.sqrt(4 * 0.5 * 2.0))
    assert spread(torch.ones(5, 3)) == 0.0  # input-independent states
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    assert spread(x) == pytest.approx(1.0)  # all of the states vary with the input


def test_regulariser_and_head_settings_are_checked():
    from unibridge.errors import ConfigError

    with pytest.raises(ConfigError, match="regulariser must be one of"):
        AdaptationConfig(regulariser="l2")
    with pytest.raises(ConfigError, match="mlm_head"):
        SourceAdaptationConfig(mlm_head="pretrained")
    cfg = AdaptationConfig(regulariser="anchor", beta=2.0, anchor_weight=3.0)
    assert (cfg.kl_weight, cfg.anchor) == (0.0, 3.0)
    assert (AdaptationConfig(regulariser="paper-kl").kl_weight, AdaptationConfig(regulariser="paper-kl").anchor) == (1.0, 0.0)


def test_the_auto_regulariser_resolves_on_the_share_the_base_reads_as_unknown():
    from unibridge.config import UNREADABLE_SHARE
    from unibridge.errors import ConfigError

    auto = AdaptationConfig(regulariser="auto", anchor_weight=20.0)
    assert auto.resolved(UNREADABLE_SHARE).regulariser == "none"  # the threshold counts as unreadable
    assert auto.resolved(0.93).anchor == 0.0 and auto.resolved(0.93).kl_weight == 0.0  # Santali
    seen = auto.resolved(0.004)
    assert (seen.regulariser, seen.kl_weight, seen.anchor) == ("both", 1.0, 20.0)
    assert seen.resolved(0.93) is seen  # a concrete regulariser stays as it is
    with pytest.raises(ValueError, match=r"resolved\(base_unk_share\)"):
        auto.kl_weight  # training with an unresolved `auto` is refused
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        auto.resolved(1.5)
    with pytest.raises(ConfigError, match="'auto' is for the target's adapter"):
        SourceAdaptationConfig(regulariser="auto")


def test_auto_embeddings_resolve_to_va_where_the_base_reads_the_script_and_align_where_it_does_not():
    from unibridge.config import UNREADABLE_SHARE, EmbeddingConfig

    auto = EmbeddingConfig(method="auto", augment_size=50)
    assert auto.resolved(UNREADABLE_SHARE).method == "align"  # the threshold counts as unreadable
    assert auto.resolved(0.93).method == "align"  # Santali in Ol Chiki
    seen = auto.resolved(0.004)  # Amharic
    assert (seen.method, seen.augment_size) == ("va", 50)  # the other settings kept
    assert seen.resolved(0.93) is seen  # a concrete method stays as it is
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        auto.resolved(-0.1)


def test_the_lazy_teacher_runs_only_on_the_examples_a_schedule_uses(tiny_base, monkeypatch):
    from transformers import AutoTokenizer

    import unibridge.adaptation.train as train_mod
    from unibridge.adaptation.train import TEACHER_HEADER, LazyTeacher, split_words

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    model = load_adapter_model(tiny_base)
    texts = [f"line {k} has some words and a number {k * 7}" for k in range(40)]
    words = split_words(texts)
    encs = [encode_words(tok, w, 8) for w in words]  # the student sees fewer words than the teacher
    eager = teacher_states(model, tok, words, max_length=16)
    lazy = LazyTeacher(model, tok, words, encs, 16)
    got = lazy.get([5, 3, 5, 39])
    assert sorted(lazy.cache) == [3, 5, 39]
    for i, t in zip([5, 3, 5, 39], got):  # the eager states, cut to the words both sides hold
        want = eager[i][: TEACHER_HEADER + min(encs[i].n_words, eager[i].shape[0] - TEACHER_HEADER)]
        assert t.shape == want.shape and torch.allclose(t, want, atol=1e-5)
    assert got[0] is got[2] and lazy.get([3])[0] is got[1]  # computed once, then kept

    seen = []
    real_get = LazyTeacher.get
    monkeypatch.setattr(LazyTeacher, "get", lambda self, idx: (seen.append(list(idx)), real_get(self, idx))[1])
    add_language_adapter(model, "xx")
    cfg = AdaptationConfig(regulariser="anchor", mlm_head="joint",
                           train=TrainConfig(max_steps=2, batch_size=4, learning_rate=1e-3, max_length=16))
    calls = []
    real_states = train_mod.teacher_states
    monkeypatch.setattr(train_mod, "teacher_states",
                        lambda *a, **k: (calls.append(len(a[2])), real_states(*a, **k))[1])
    train_language_adapter(model, tok, texts, "xx", cfg=cfg, base_tokenizer=tok,
                           output_dir="/tmp/unibridge-test-lazy", resume=False)
    assert len(seen) == 2 and all(len(b) == 4 for b in seen)  # two steps of four examples
    assert sum(calls) == len({i for b in seen for i in b}) <= 8  # the teacher ran on those alone, not on 40


def test_an_init_teacher_reads_the_target_through_a_frozen_copy_of_its_starting_embeddings(tiny_base, monkeypatch):
    from transformers import AutoTokenizer

    import unibridge.adaptation.train as train_mod
    from unibridge.adaptation.model import attach_embeddings
    from unibridge.adaptation.train import TEACHER_EMBEDDINGS
    from unibridge.errors import ConfigError

    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    model = load_adapter_model(tiny_base)
    start = torch.randn(len(tok), model.config.hidden_size, generator=torch.Generator().manual_seed(3))
    attach_embeddings(model, "tgt", tok, start)
    texts = [f"line {k} has some words and a number {k * 7}" for k in range(24)]
    seen = []
    real_states = train_mod.teacher_states

    def spy(m, tokenizer, words, **k):
        emb = k.get("embeddings", "default")
        seen.append((emb, m.loaded_embeddings[emb].weight.detach().clone() if emb != "default" else None,
                     m.active_embeddings))
        return real_states(m, tokenizer, words, **k)

    monkeypatch.setattr(train_mod, "teacher_states", spy)
    for teacher in ("init", "base"):
        add_language_adapter(model, "xx")
        cfg = AdaptationConfig(regulariser="anchor", mlm_head="joint", teacher=teacher,
                               train=TrainConfig(max_steps=2, batch_size=4, learning_rate=1e-2, max_length=16))
        train_language_adapter(model, tok, texts, "xx", cfg=cfg, base_tokenizer=tok, train_embeddings=True,
                               output_dir=f"/tmp/unibridge-test-teacher-{teacher}", resume=False)
        model.delete_adapter("xx")
        assert TEACHER_EMBEDDINGS not in model.loaded_embeddings and model.active_embeddings == "tgt"
    init_calls, base_calls = seen[:2], seen[2:]
    assert len(init_calls) == 2 and len(base_calls) == 2  # a teacher pass per step
    for emb, weight, active in init_calls:  # the copy as the embeddings started, not as they train
        assert emb == TEACHER_EMBEDDINGS and torch.equal(weight, start) and active == "tgt"
    assert all(emb == "default" for emb, _, _ in base_calls)
    assert not torch.equal(model.loaded_embeddings["tgt"].weight.detach(), start)  # the student's own trained
    with pytest.raises(ConfigError, match="adaptation.teacher must be one of base, init"):
        AdaptationConfig(teacher="frozen")
