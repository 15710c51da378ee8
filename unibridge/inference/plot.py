"""Heatmap of source-language weights: targets × sources (harmony, lang2vec, ...)."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError

__all__ = ["plot_weight_heatmap"]


def plot_weight_heatmap(weights: dict[str, dict[str, float]], path_png: Path | str | None = None, title: str = "",
                        row_label: str = "target", column_label: str = "source"):
    """One row per key of ``weights``, one column per source, each cell its weight (annotated).

    Args:
        weights: ``{row: {source: weight}}`` (rows are targets, or strategies, runs ...); sources
            missing for a row are left blank.
        path_png: output image (parent directories are created), written atomically; None returns
            the figure.
        row_label / column_label: the axis titles.
    Returns:
        ``path_png`` as a Path, or the ``matplotlib.figure.Figure`` when ``path_png`` is None.
    Raises:
        DataError: no weights.
    """
    import numpy as np

    from ..plotting import finish, new_figure

    if not weights or not any(weights.values()):
        raise DataError("no weights to plot")
    targets = list(weights)
    sources = list(dict.fromkeys(s for w in weights.values() for s in w))
    grid = np.full((len(targets), len(sources)), np.nan)
    for i, t in enumerate(targets):
        for j, s in enumerate(sources):
            if s in weights[t]:
                grid[i, j] = weights[t][s]
    fig = new_figure((1.2 + 0.9 * len(sources), 1.0 + 0.5 * len(targets)))
    ax = fig.subplots()
    im = ax.imshow(grid, cmap="viridis", vmin=0.0, vmax=max(1e-9, float(np.nanmax(grid))), aspect="auto")
    ax.set_xticks(range(len(sources)), sources)
    ax.set_yticks(range(len(targets)), targets)
    ax.set_xlabel(column_label)
    ax.set_ylabel(row_label)
    for i in range(len(targets)):
        for j in range(len(sources)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center",
                        color="white" if grid[i, j] < 0.6 * np.nanmax(grid) else "black", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.05)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return finish(fig, path_png)
