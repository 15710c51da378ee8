"""Heatmap of source-language weights: targets × sources (harmony, lang2vec, ...)."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError

__all__ = ["plot_weight_heatmap"]


def plot_weight_heatmap(weights: dict[str, dict[str, float]], path_png: Path | str, title: str = "") -> Path:
    """One row per target, one column per source, each cell its weight (annotated).

    Args:
        weights: ``{target: {source: weight}}``; sources missing for a target are left blank.
        path_png: output image (parent directories are created); written atomically.
    Returns:
        ``path_png`` as a Path.
    Raises:
        DataError: no weights.
    """
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    if not weights or not any(weights.values()):
        raise DataError("no weights to plot")
    targets = list(weights)
    sources = list(dict.fromkeys(s for w in weights.values() for s in w))
    grid = np.full((len(targets), len(sources)), np.nan)
    for i, t in enumerate(targets):
        for j, s in enumerate(sources):
            if s in weights[t]:
                grid[i, j] = weights[t][s]
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(sources), 1.0 + 0.5 * len(targets)))
    im = ax.imshow(grid, cmap="viridis", vmin=0.0, vmax=max(1e-9, float(np.nanmax(grid))), aspect="auto")
    ax.set_xticks(range(len(sources)), sources)
    ax.set_yticks(range(len(targets)), targets)
    ax.set_xlabel("source")
    ax.set_ylabel("target")
    for i in range(len(targets)):
        for j in range(len(sources)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center",
                        color="white" if grid[i, j] < 0.6 * np.nanmax(grid) else "black", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.05)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path_png)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path
