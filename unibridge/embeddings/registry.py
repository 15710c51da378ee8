"""Registry of embedding initializers and the helpers they share.

An initializer is a function registered by name with :func:`register_initializer`; it takes the
common keyword arguments of :func:`initialize_embeddings` (source embeddings and tokenizer,
target tokenizer, corpus, config, seed, workdir) plus the method options it declared at
registration (``dictionary``, ``augment_size``, ``parallel``), and returns an :class:`InitResult`. Adding a
method is one new module that registers itself on import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import torch

from unibridge.errors import ConfigError, DataError
from unibridge.registry import Registry
from unibridge.vocab.tokenizer import token_vocab, vocab_digest

if TYPE_CHECKING:  # pragma: no cover
    from unibridge.embeddings.static import StaticConfig

REPORT_KEYS = ("special", "overlap", "aligned", "combined", "fallback")
SP_SPACE = "\u2581"


@dataclass
class InitResult:
    """Output of an initializer.

    ``embeddings``: float32 ``(V_T, d)``. ``report``: row counts per category
    (``special``, ``overlap``, ``aligned``, ``combined``, ``fallback``; they sum to V_T).
    ``details``: method-specific extras (anchor counts, alignment quality, weights ...).
    ``tokenizer``: the tokenizer the rows index when the method builds its own vocabulary
    (``va`` augments the base's); None means the target tokenizer it was given.
    """

    embeddings: torch.Tensor
    report: dict[str, int]
    details: dict = field(default_factory=dict)
    tokenizer: object | None = None


Initializer = Callable[..., InitResult]
METHOD_OPTIONS = ("dictionary", "augment_size", "parallel")
"""Keyword arguments of :func:`initialize_embeddings` that reach only the methods declaring them."""


@dataclass(frozen=True)
class RegisteredInitializer:
    """An initializer function and the method options (:data:`METHOD_OPTIONS`) it takes."""

    fn: Initializer
    options: tuple[str, ...] = ()


INITIALIZERS: Registry = Registry("embedding initializer", pattern=r"[a-z][a-z0-9_+-]*", sort_names=True)
"""Method name -> :class:`RegisteredInitializer`; names are lowercase words (``script+posn``), listed sorted."""


def register_initializer(name: str, *, options: Sequence[str] = ()) -> Callable[[Initializer], Initializer]:
    """Decorator registering an initializer under ``name`` in :data:`INITIALIZERS`; ``options``
    names the method options (of :data:`METHOD_OPTIONS`) the function takes as keywords.

    Raises:
        ValueError: if ``name`` is already registered or not a lowercase word (letters, digits,
            ``_ + -``), or an option is not one of :data:`METHOD_OPTIONS` (programming errors,
            not user input).
    """
    INITIALIZERS.check_name(name)
    unknown = [o for o in options if o not in METHOD_OPTIONS]
    if unknown:
        raise ValueError(f"unknown initializer option(s) {unknown}; known: {', '.join(METHOD_OPTIONS)}")

    def deco(fn: Initializer) -> Initializer:
        INITIALIZERS.register(name, RegisteredInitializer(fn, tuple(options)))
        return fn

    return deco


def available_initializers() -> list[str]:
    """Sorted names of the registered initializers."""
    return list(INITIALIZERS.names())


def get_initializer(name: str) -> Initializer:
    """The initializer registered as ``name``.

    Raises:
        ConfigError: unknown name (the message lists the registered ones).
    """
    return INITIALIZERS.get(name).fn


def initialize_embeddings(method: str, *, source_embeddings: torch.Tensor, source_tokenizer,
                          target_tokenizer, corpus: list[str],
                          config: "StaticConfig | None" = None, seed: int = 0,
                          workdir: Path | None = None,
                          dictionary: "Sequence[tuple[str, str]] | None" = None,
                          augment_size: int = 99,
                          parallel: "Sequence[tuple[str, str]] | None" = None) -> InitResult:
    """Initialise a target-vocabulary embedding matrix with the named method.

    Args:
        method: a name from :func:`available_initializers` (``"unibridge"``, ``"random"``,
            ``"script"`` ...).
        source_embeddings: ``(V_S', d)`` input embeddings of the base model, V_S' ≥ the source
            tokenizer's vocabulary size (extra padding rows are ignored); cast to float32.
        source_tokenizer / target_tokenizer: ``transformers`` fast tokenizers.
        corpus: target-language raw text lines.
        config: static-space settings (:class:`~unibridge.embeddings.static.StaticConfig`).
        seed: seeds every random draw; same inputs and seed give the same matrix.
        workdir: cache directory for trained static spaces (none: no caching).
        dictionary: ``(source word, target word)`` pairs for methods that take one (``tema``).
        augment_size: pieces added by vocabulary augmentation (``va``; 99 as in Chau et al.).
        parallel: ``(target sentence, source sentence)`` pairs for methods that align them
            (``align``).
        Method options (``dictionary``, ``augment_size``, ``parallel``) reach only the initializers that
        declared them at registration, so one call serves every method.
    Returns:
        :class:`InitResult` with float32 ``(V_T, d)`` embeddings, V_T = the vocabulary size of
        ``result.tokenizer`` if the method set one (``va``), else of ``target_tokenizer``.
    Raises:
        ConfigError: unknown method, bad config, source rows fewer than the source vocabulary.
        DataError: empty corpus.
    Source: Section 2.2 (Eq. 2–8) of Pham et al. (2024) for ``"unibridge"``.
    """
    entry = INITIALIZERS.get(method)
    given = {"dictionary": dictionary, "augment_size": augment_size, "parallel": parallel}
    options = {k: given[k] for k in entry.options}
    res = entry.fn(source_embeddings=source_embeddings, source_tokenizer=source_tokenizer,
             target_tokenizer=target_tokenizer, corpus=corpus, config=config, seed=seed,
             workdir=workdir, **options)
    v_t = vocab_size(res.tokenizer if res.tokenizer is not None else target_tokenizer)
    if res.embeddings.shape != (v_t, source_embeddings.shape[1]):
        raise RuntimeError(f"initializer {method!r} returned shape {tuple(res.embeddings.shape)}")
    if sum(res.report.get(k, 0) for k in REPORT_KEYS) != v_t:
        raise RuntimeError(f"initializer {method!r} report does not sum to {v_t}: {res.report}")
    return res


# ----------------------------------------------------------------------------------------
# Helpers shared by initializers
# ----------------------------------------------------------------------------------------


def vocab_size(tokenizer) -> int:
    """Rows needed to embed every id of ``tokenizer`` (max id + 1)."""
    vocab = token_vocab(tokenizer)
    return max(vocab.values()) + 1 if vocab else 0


def check_inputs(source_embeddings, source_tokenizer, target_tokenizer, corpus, config):
    """Validate the common initializer arguments and normalise them.

    Returns:
        ``(E_S float32 (V_S', d), corpus lines without blank lines, StaticConfig)``.
    Raises:
        ConfigError: not a 2-D tensor, fewer rows than the source vocabulary, bad tokenizer or
            config type. DataError: corpus not a list of str, or no non-blank line.
    """
    from unibridge.embeddings.static import StaticConfig

    if not isinstance(source_embeddings, torch.Tensor) or source_embeddings.dim() != 2:
        raise ConfigError("source_embeddings must be a 2-D tensor (V_S, d)")
    if not source_embeddings.is_floating_point():
        raise ConfigError("source_embeddings must be a floating-point tensor")
    for name, tok in (("source_tokenizer", source_tokenizer),
                      ("target_tokenizer", target_tokenizer)):
        if not hasattr(tok, "get_vocab"):
            raise ConfigError(f"{name} must be a transformers tokenizer (no get_vocab())")
    v_s = vocab_size(source_tokenizer)
    if source_embeddings.shape[0] < v_s:
        raise ConfigError(f"source embeddings have {source_embeddings.shape[0]} rows but the "
                          f"source tokenizer has {v_s} ids; they do not belong together")
    if vocab_size(target_tokenizer) == 0:
        raise ConfigError("target tokenizer has an empty vocabulary")
    if isinstance(corpus, (str, bytes)) or not all(isinstance(x, str) for x in corpus):
        raise DataError("corpus must be a list of text lines (str)")
    lines = [x.strip() for x in corpus if x and x.strip()]
    if not lines:
        raise DataError("the target corpus is empty (no non-blank lines)")
    if config is None:
        config = StaticConfig()
    elif not isinstance(config, StaticConfig):
        raise ConfigError(f"config must be a StaticConfig, got {type(config).__name__}")
    return source_embeddings.detach().to(torch.float32), lines, config


def piece_convention(tokenizer) -> str:
    """``"wordpiece"`` (BERT "##" continuations) or ``"sentencepiece"`` ("▁" word starts)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and type(backend.model).__name__ == "WordPiece":
        return "wordpiece"
    vocab = token_vocab(tokenizer)
    n_hash = sum(1 for t in vocab if t.startswith("##"))
    n_sp = sum(1 for t in vocab if t.startswith(SP_SPACE))
    return "wordpiece" if n_hash > n_sp else "sentencepiece"


def canonical_token(token: str, style: str) -> str:
    """Vocabulary entry in SentencePiece form: WordPiece ``##x`` → ``x``, ``x`` → ``▁x``."""
    if style == "wordpiece":
        return token[2:] if token.startswith("##") and len(token) > 2 else SP_SPACE + token
    return token


_ROLE_FALLBACK = {"cls_token": ("cls_token", "bos_token"), "bos_token": ("bos_token", "cls_token"),
                  "sep_token": ("sep_token", "eos_token"), "eos_token": ("eos_token", "sep_token"),
                  "pad_token": ("pad_token",), "unk_token": ("unk_token",),
                  "mask_token": ("mask_token",)}


def special_token_ids(tokenizer) -> list[int]:
    """Sorted ids of ``tokenizer.all_special_tokens`` present in its vocabulary."""
    vocab = token_vocab(tokenizer)
    return sorted({vocab[t] for t in tokenizer.all_special_tokens if t in vocab})


def special_token_map(source_tokenizer, target_tokenizer) -> dict[int, int]:
    """``{target_id: source_id}`` for every target special token, matched by role.

    cls/bos, sep/eos, pad, unk and mask map to the source token of the same role (cls↔bos and
    sep↔eos stand in for each other); other specials map to the identical source string if
    any, else to the source unk (else the first source special).
    """
    s_vocab, t_vocab = token_vocab(source_tokenizer), token_vocab(target_tokenizer)
    s_specials = special_token_ids(source_tokenizer)
    s_unk = s_vocab.get(getattr(source_tokenizer, "unk_token", None) or "", None)
    default = s_unk if s_unk is not None else (s_specials[0] if s_specials else 0)
    out: dict[int, int] = {}
    for role, prefs in _ROLE_FALLBACK.items():
        t_tok = getattr(target_tokenizer, role, None)
        if not t_tok or t_tok not in t_vocab or t_vocab[t_tok] in out:
            continue
        for pref in prefs:
            s_tok = getattr(source_tokenizer, pref, None)
            if s_tok and s_tok in s_vocab:
                out[t_vocab[t_tok]] = s_vocab[s_tok]
                break
    for t_tok in target_tokenizer.all_special_tokens:
        t_id = t_vocab.get(t_tok)
        if t_id is not None and t_id not in out:
            out[t_id] = s_vocab.get(t_tok, default)
    return out


def lexical_overlap(source_tokenizer, target_tokenizer) -> dict[int, int]:
    """``{target_id: source_id}`` for non-special tokens in V_T ∩ V_S (Eq. 2 of Pham et al.).

    Tokens are compared in SentencePiece form (see :func:`canonical_token`), so an XLM-R-style
    target vocabulary overlaps correctly with a BERT-style source one.
    """
    s_style, t_style = piece_convention(source_tokenizer), piece_convention(target_tokenizer)
    s_special = set(special_token_ids(source_tokenizer))
    t_special = set(special_token_ids(target_tokenizer))
    s_canon: dict[str, int] = {}
    for tok, i in sorted(token_vocab(source_tokenizer).items(), key=lambda kv: kv[1]):
        if i not in s_special:
            s_canon.setdefault(canonical_token(tok, s_style), i)
    out: dict[int, int] = {}
    for tok, i in token_vocab(target_tokenizer).items():
        if i in t_special:
            continue
        j = s_canon.get(canonical_token(tok, t_style))
        if j is not None:
            out[i] = j
    return dict(sorted(out.items()))


def seed_matrix(E_S: torch.Tensor, source_tokenizer, target_tokenizer, overlap: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor, dict[int, int], dict[int, int]]:
    """Start a target matrix: special tokens copy the base's rows by role and, with
    ``overlap``, tokens in V_T ∩ V_S copy their source row (REINIT-IDENT; Eq. 2 of Pham et al.).

    Returns:
        ``(E_T float32 (V_T, d) — zeros elsewhere, done bool (V_T,), specials {t: s},
        overlap {t: s})``; rows are copied bit-exactly.
    """
    v_t = vocab_size(target_tokenizer)
    E_T = torch.zeros(v_t, E_S.shape[1], dtype=torch.float32)
    done = torch.zeros(v_t, dtype=torch.bool)
    specials = special_token_map(source_tokenizer, target_tokenizer)
    shared = lexical_overlap(source_tokenizer, target_tokenizer) if overlap else {}
    for mapping in (specials, shared):
        if mapping:
            t = torch.tensor(list(mapping), dtype=torch.long)
            E_T[t] = E_S[torch.tensor(list(mapping.values()), dtype=torch.long)]
            done[t] = True
    return E_T, done, specials, shared


def report_counts(specials: dict, overlap: dict, aligned: int = 0, combined: int = 0,
                  fallback: int = 0) -> dict[str, int]:
    """The :class:`InitResult` report: rows per category (they must sum to V_T)."""
    return {"special": len(specials), "overlap": len(overlap), "aligned": int(aligned),
            "combined": int(combined), "fallback": int(fallback)}


def id_to_token(tokenizer) -> dict[int, str]:
    """``{id: token}`` of the full vocabulary."""
    return {i: t for t, i in token_vocab(tokenizer).items()}


def base_form(piece: str, style: str) -> str:
    """Target piece (SentencePiece form) as an entry of a base of ``style``: for WordPiece,
    ``▁x`` → ``x`` and a word-internal ``x`` → ``##x``; SentencePiece forms are unchanged."""
    if style == "wordpiece":
        return piece[1:] if piece.startswith(SP_SPACE) else "##" + piece
    return piece


def base_pieces(piece: str, base_tokenizer, style: str | None = None) -> list[int]:
    """Ids of the base pieces that spell ``piece`` (SentencePiece form, "▁" = word start).

    The string (in :func:`base_form`) is segmented by the base tokenizer's model alone (no
    normaliser or pre-tokeniser, so ``▁x`` stays word-initial and a WordPiece ``##x`` reads as
    continuations). A leading lone "▁" piece is dropped when others follow (the next piece
    already starts the word), as are unknown and special tokens: the list is empty when the
    base cannot read the string.
    """
    style = style or piece_convention(base_tokenizer)
    vocab = token_vocab(base_tokenizer)
    ids = [t.id for t in base_tokenizer.backend_tokenizer.model.tokenize(base_form(piece, style))]
    if style == "sentencepiece" and len(ids) > 1 and ids[0] == vocab.get(SP_SPACE):
        ids = ids[1:]
    drop = set(special_token_ids(base_tokenizer))
    unk = vocab.get(getattr(base_tokenizer, "unk_token", None) or "")
    if unk is not None:
        drop.add(unk)
    return [i for i in ids if i not in drop]


def subtoken_mean(E_S: torch.Tensor, base_tokenizer, pieces: list[str]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean base embedding of the :func:`base_pieces` of each piece (SentencePiece form).

    Returns:
        ``(rows float32 (len(pieces), d), known bool (len(pieces),))``; rows of pieces the base
        cannot read are zero and ``known`` is False there. The sub-token mean of Chau et al.
        (2020) and Fast Vocabulary Transfer (Gee et al. 2022).
    """
    style = piece_convention(base_tokenizer)
    out = torch.zeros(len(pieces), E_S.shape[1], dtype=torch.float32)
    known = torch.zeros(len(pieces), dtype=torch.bool)
    for k, piece in enumerate(pieces):
        ids = base_pieces(piece, base_tokenizer, style)
        if ids:
            out[k] = E_S[torch.tensor(ids)].float().mean(0)
            known[k] = True
    return out, known
