"""PCA picture of base and new embeddings coloured by Unicode script (Figures 1–2 of
Downey et al. 2023, embedding-structure-matters.md)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from unibridge.embeddings.registry import id_to_token, special_token_ids
from unibridge.embeddings.script import token_script
from unibridge.errors import DataError

__all__ = ["plot_embedding_pca"]


def _sample(E: torch.Tensor, tokenizer, n: int, g: torch.Generator) -> tuple[torch.Tensor, list[str]]:
    specials = set(special_token_ids(tokenizer))
    toks = {i: t for i, t in id_to_token(tokenizer).items() if i not in specials and i < len(E)}
    ids = torch.tensor(sorted(toks), dtype=torch.long)
    if len(ids) > n:
        ids = ids[torch.randperm(len(ids), generator=g)[:n]].sort().values
    return E[ids].float(), [token_script(toks[int(i)]) for i in ids]


def plot_embedding_pca(source_embeddings: torch.Tensor, source_tokenizer, target_embeddings: torch.Tensor,
                       target_tokenizer, path_png: Path | str | None = None, title: str = "",
                       max_points: int = 6000, top_scripts: int = 6, seed: int = 0):
    """Two panels: base and new embedding rows projected on the base's first two principal axes.

    The axes come from (at most ``max_points``) non-special base rows; both panels use them,
    so the new rows can be compared with the base's script clusters. Points are coloured by
    :func:`~unibridge.embeddings.script.token_script`; the ``top_scripts`` most frequent
    scripts (over both panels) get their own colour, the rest are "other".

    Args:
        source_embeddings: ``(V_S', d)`` base input embeddings; target_embeddings: ``(V_T, d)``.
        source_tokenizer / target_tokenizer: their tokenizers.
        path_png: output image (parent directories are created); None returns the figure.
    Returns:
        ``Path(path_png)``, or the ``matplotlib.figure.Figure`` when ``path_png`` is None.
    Raises:
        DataError: the dimensions differ or a vocabulary has no non-special token.
    """
    from matplotlib import colormaps

    from unibridge.plotting import finish, new_figure

    if source_embeddings.shape[1] != target_embeddings.shape[1]:
        raise DataError(f"embedding dimensions differ: {source_embeddings.shape[1]} vs "
                        f"{target_embeddings.shape[1]}")
    g = torch.Generator().manual_seed(int(seed))
    S, s_scripts = _sample(source_embeddings, source_tokenizer, max_points, g)
    T, t_scripts = _sample(target_embeddings, target_tokenizer, max_points, g)
    if not len(S) or not len(T):
        raise DataError("cannot plot embeddings: a vocabulary has no non-special token")
    mean = S.mean(0)
    _, _, V = torch.linalg.svd(S - mean, full_matrices=False)
    axes = V[:2].T  # (d, 2)
    keep = [s for s, _ in Counter(s_scripts + t_scripts).most_common(top_scripts)]
    colours = {s: colormaps["tab10"](k) for k, s in enumerate(keep)}
    fig = new_figure((11, 5))
    panels = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, X, scripts, name in ((panels[0], S, s_scripts, "base embeddings"),
                                 (panels[1], T, t_scripts, "new embeddings")):
        P = ((X - mean) @ axes).numpy()
        for s in keep + ["other"]:
            idx = [k for k, x in enumerate(scripts) if (x == s if s != "other" else x not in colours)]
            if idx:
                ax.scatter(P[idx, 0], P[idx, 1], s=3, alpha=0.5, label=f"{s.lower()} ({len(idx)})",
                           color=colours.get(s, (0.6, 0.6, 0.6, 1.0)))
        ax.set_title(name)
        ax.set_xlabel("PC 1 (base)")
        ax.legend(markerscale=4, fontsize=8)
    panels[0].set_ylabel("PC 2 (base)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return finish(fig, path_png, dpi=100)
