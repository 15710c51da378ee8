"""Unicode-script detection and the script-wise normal re-initialisation.

Downey et al. (2023, "Embedding structure matters", REINIT-SCRIPT): every new token is drawn
from a normal distribution whose per-dimension mean and standard deviation are those of the
base model's embeddings of tokens written in the same script. UniBridge uses this as the
fall-back for target tokens that have no static vector; the ``"script"`` initializer applies
it (after identity copy of the overlapping tokens, REINIT-SCRIPT+IDENT) to every row.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import torch

COMMON = "COMMON"

# Unicode-name prefixes that do not name a script; the script is the next word.
_SKIP_WORDS = {"FULLWIDTH", "HALFWIDTH", "SMALL", "CAPITAL", "MATHEMATICAL", "CIRCLED",
               "PARENTHESIZED", "SQUARED", "NEGATIVE", "OLD", "NEW"}
# First words that are not scripts: counted as COMMON.
_NON_SCRIPT = {"MODIFIER", "COMBINING", "SUPERSCRIPT", "SUBSCRIPT", "VULGAR", "ROMAN",
               "DIGIT", "LETTERLIKE", ""}
# Several Unicode scripts share one embedding sub-distribution in practice.
_ALIASES = {"HIRAGANA": "JAPANESE_KANA", "KATAKANA": "JAPANESE_KANA", "KATAKANA-HIRAGANA":
            "JAPANESE_KANA", "IDEOGRAPHIC": "CJK", "KANGXI": "CJK", "BOPOMOFO": "CJK"}

_MARKERS = ("\u2581", "##", "\u0120")


@lru_cache(maxsize=65536)
def char_script(ch: str) -> str | None:
    """Script of one character, from the first word(s) of its Unicode name.

    Returns e.g. ``"LATIN"``, ``"ETHIOPIC"``, ``"CJK"``, ``"HANGUL"``; ``"COMMON"`` for digits,
    punctuation, symbols, separators, controls and unnamed characters; ``None`` for combining
    marks whose name names no script (they inherit the script of their base letter).
    """
    cat = unicodedata.category(ch)
    if cat[0] in "NPSZC":
        return COMMON
    words = unicodedata.name(ch, "").split()
    while words and words[0] in _SKIP_WORDS:
        words = words[1:]
    first = words[0] if words else ""
    if first in _NON_SCRIPT:
        return None if cat[0] == "M" else COMMON
    return _ALIASES.get(first, first)


def strip_markers(token: str) -> str:
    """Remove word-boundary markers: SentencePiece "▁", WordPiece "##", byte-level "Ġ"."""
    for m in _MARKERS:
        if token.startswith(m):
            token = token[len(m):]
            break
    return token.replace("\u2581", "")


def token_script(token: str) -> str:
    """Script of a vocabulary token (str) as an upper-case name.

    Markers ("▁", "##") are ignored; the script is the majority script among the token's
    letters, else among its combining marks, else ``"COMMON"`` (e.g. "▁", "123", "።").
    Ties break towards the script seen first. Never raises.
    """
    letters: Counter[str] = Counter()
    marks: Counter[str] = Counter()
    for ch in strip_markers(token):
        s = char_script(ch)
        if s is None:
            # A combining mark of a named script (e.g. DEVANAGARI VOWEL SIGN) still counts.
            continue
        if s == COMMON:
            continue
        (marks if unicodedata.category(ch)[0] == "M" else letters)[s] += 1
    for votes in (letters, marks):
        if votes:
            return max(votes.items(), key=lambda kv: kv[1])[0]  # first maximal in insertion order
    return COMMON


def token_position(token: str, style: str = "sentencepiece") -> str:
    """``"initial"`` for a word-initial piece, ``"medial"`` otherwise (REINIT-POSN).

    SentencePiece style: a piece starting with "▁" is word-initial; WordPiece style: a piece
    starting with "##" is word-medial, every other piece word-initial.
    """
    if style == "wordpiece":
        return "medial" if token.startswith("##") else "initial"
    return "initial" if token.startswith("\u2581") else "medial"


@dataclass
class ScriptStats:
    """Per-script diagonal normal fitted to source embeddings.

    ``mean``/``std``: float32 ``(n_scripts, d)``; ``counts``: tokens per script; ``scripts``:
    names in row order. ``global_mean``/``global_std``: ``(d,)`` over all counted tokens.
    """

    scripts: list[str]
    mean: torch.Tensor
    std: torch.Tensor
    counts: list[int]
    global_mean: torch.Tensor
    global_std: torch.Tensor

    def has(self, script: str, min_count: int = 2) -> bool:
        """Whether ``script`` has at least ``min_count`` tokens."""
        k = self._index.get(script)
        return k is not None and self.counts[k] >= min_count

    def params(self, script: str, min_count: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) for ``script``; the all-vocabulary normal when it has < min_count tokens."""
        if self.has(script, min_count):
            k = self._index[script]
            return self.mean[k], self.std[k]
        return self.global_mean, self.global_std

    def __post_init__(self) -> None:
        self._index = {s: k for k, s in enumerate(self.scripts)}


def script_statistics(embeddings: torch.Tensor, tokens: dict[int, str],
                      chunk: int = 32768, key: Callable[[str], str] = token_script) -> ScriptStats:
    """Fit one diagonal normal per Unicode script to the rows of ``embeddings``.

    Args:
        embeddings: ``(V_S, d)`` source embedding matrix (any float dtype).
        tokens: ``{row_id: token}`` of the rows to use (specials should be left out).
        chunk: rows per accumulation step (float64 sums; memory O(chunk·d)).
        key: token → group name (default :func:`token_script`; REINIT-POSN groups by
            script and position).
    Returns:
        :class:`ScriptStats` (population std per dimension).
    Raises:
        ValueError: if ``tokens`` is empty or refers to rows outside ``embeddings``.
    Source: REINIT-SCRIPT of Downey et al. (2023).
    """
    if not tokens:
        raise ValueError("script_statistics needs at least one token")
    ids = torch.tensor(sorted(tokens), dtype=torch.long)
    if int(ids.max()) >= embeddings.shape[0] or int(ids.min()) < 0:
        raise ValueError("token ids outside the embedding matrix")
    names: list[str] = []
    index: dict[str, int] = {}
    sid = torch.empty(len(ids), dtype=torch.long)
    for n, i in enumerate(ids.tolist()):
        s = key(tokens[i])
        if s not in index:
            index[s] = len(names)
            names.append(s)
        sid[n] = index[s]
    k, d = len(names), embeddings.shape[1]
    s1 = torch.zeros(k, d, dtype=torch.float64)
    s2 = torch.zeros(k, d, dtype=torch.float64)
    for a in range(0, len(ids), chunk):
        rows = embeddings[ids[a:a + chunk]].double()
        s1.index_add_(0, sid[a:a + chunk], rows)
        s2.index_add_(0, sid[a:a + chunk], rows * rows)
    cnt = torch.bincount(sid, minlength=k).double().unsqueeze(1)
    mean = s1 / cnt
    var = (s2 / cnt - mean * mean).clamp_min(0)
    n_all = cnt.sum()
    g_mean = s1.sum(0) / n_all
    g_var = (s2.sum(0) / n_all - g_mean * g_mean).clamp_min(0)
    return ScriptStats(names, mean.float(), var.sqrt().float(), cnt.squeeze(1).long().tolist(),
                       g_mean.float(), g_var.sqrt().float())


def sample_script_normal(target_tokens: list[str], stats: ScriptStats,
                         generator: torch.Generator, min_count: int = 2,
                         groups: list[str] | None = None,
                         fallback: ScriptStats | None = None) -> torch.Tensor:
    """Draw one row per token from its script's normal (Downey et al. 2023).

    Args:
        target_tokens: tokens to initialise, in the order of the returned rows.
        stats: from :func:`script_statistics`.
        generator: seeded ``torch.Generator`` (one ``randn`` call: deterministic).
        min_count: scripts with fewer source tokens use the all-vocabulary normal.
        groups: the group of each token in ``stats`` (default: its script); a group with
            fewer than ``min_count`` tokens uses ``fallback``'s script normal when given.
        fallback: script-level statistics behind finer groups (REINIT-SCRIPT+POSN).
    Returns:
        float32 ``(len(target_tokens), d)``.
    """
    d = stats.global_mean.shape[0]
    z = torch.randn(len(target_tokens), d, generator=generator, dtype=torch.float32)
    if not target_tokens:
        return z
    mean = torch.empty(len(target_tokens), d)
    std = torch.empty(len(target_tokens), d)
    for r, tok in enumerate(target_tokens):
        group = token_script(tok) if groups is None else groups[r]
        if fallback is not None and not stats.has(group, min_count):
            m, s = fallback.params(token_script(tok), min_count)
        else:
            m, s = stats.params(group, min_count)
        mean[r] = m
        std[r] = s
    return mean + std * z


def source_script_stats(source_embeddings: torch.Tensor, source_tokenizer):
    """Script-wise normals of the source embeddings over its non-special tokens."""
    from unibridge.embeddings.registry import id_to_token, special_token_ids

    specials = set(special_token_ids(source_tokenizer))
    toks = {i: t for i, t in id_to_token(source_tokenizer).items() if i not in specials}
    return script_statistics(source_embeddings, toks)


def fill_script_fallback(E_T: torch.Tensor, done: torch.Tensor, E_S: torch.Tensor, source_tokenizer,
                         target_tokenizer, seed: int, position: bool = False) -> torch.Tensor:
    """Fill the rows of ``E_T`` (V_T, d) not marked in ``done`` (V_T,) bool from the script-wise
    normal of the source embeddings ``E_S``, in place; returns the filled row ids (n,) int64.
    With ``position``, the normal of the token's (script, word-initial / medial) group, or
    its script's when the group has < 2 source tokens. Deterministic under ``seed``.
    Downey et al. (2023), REINIT-SCRIPT and REINIT-SCRIPT+POSN."""
    from unibridge.embeddings.registry import id_to_token, piece_convention, special_token_ids, vocab_size

    fb = torch.nonzero(~done).squeeze(1)
    if not len(fb):
        return fb
    E_src = E_S[:vocab_size(source_tokenizer)]
    stats = source_script_stats(E_src, source_tokenizer)
    t_tok = id_to_token(target_tokenizer)
    tokens = [t_tok.get(int(i), "") for i in fb]
    g = torch.Generator().manual_seed(int(seed))
    if not position:
        E_T[fb] = sample_script_normal(tokens, stats, g)
        return fb
    s_style, t_style = piece_convention(source_tokenizer), piece_convention(target_tokenizer)
    specials = set(special_token_ids(source_tokenizer))
    src = {i: t for i, t in id_to_token(source_tokenizer).items() if i not in specials}
    posn = script_statistics(E_src, src, key=lambda t: _group(t, s_style))
    E_T[fb] = sample_script_normal(tokens, posn, g, groups=[_group(t, t_style) for t in tokens],
                                   fallback=stats)
    return fb


def _group(token: str, style: str) -> str:
    return f"{token_script(token)}/{token_position(token, style)}"


def _register() -> None:
    from pathlib import Path

    from unibridge.embeddings.registry import (InitResult, check_inputs, register_initializer,
                                               report_counts, seed_matrix)

    def make(position: bool):
        def init(*, source_embeddings: torch.Tensor, source_tokenizer, target_tokenizer,
                 corpus: list[str], config=None, seed: int = 0,
                 workdir: Path | None = None) -> InitResult:
            E_S, _, _ = check_inputs(source_embeddings, source_tokenizer, target_tokenizer,
                                     corpus, config)
            E_T, done, specials, overlap = seed_matrix(E_S, source_tokenizer, target_tokenizer)
            fb = fill_script_fallback(E_T, done, E_S, source_tokenizer, target_tokenizer, seed,
                                      position=position)
            return InitResult(E_T, report_counts(specials, overlap, fallback=len(fb)), {})

        return init

    script_init = make(position=False)
    script_init.__doc__ = """REINIT-SCRIPT+IDENT of Downey et al. (2023).

        Specials copy the base's rows by role, tokens in V_T ∩ V_S copy their source row,
        every other row is drawn from the script-wise normal of the source embeddings
        (all-vocabulary normal for scripts with < 2 source tokens). ``corpus`` is validated
        but unused. Returns float32 ``(V_T, d)``; report ``special``/``overlap``/``fallback``.
        Raises ConfigError / DataError like :func:`initialize_embeddings`.
        """
    posn_init = make(position=True)
    posn_init.__doc__ = """REINIT-SCRIPT+POSN+IDENT of Downey et al. (2023).

        As ``script``, but the normal is fitted per (script, word-initial / word-medial)
        group of the source tokens ("▁x" vs "x"; WordPiece "x" vs "##x"), falling back to
        the script's normal for groups with < 2 source tokens.
        """
    register_initializer("script")(script_init)
    register_initializer("script+posn")(posn_init)


_register()
