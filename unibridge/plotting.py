"""Figures through matplotlib's object API: no pyplot state, no global backend switch.

Every plot helper builds a :class:`matplotlib.figure.Figure` with :func:`new_figure` and returns
it, or, given a path, writes it with :func:`save_figure` and returns the path; the caller's own
matplotlib setup (backend, interactive figures) is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path


def new_figure(figsize: tuple[float, float]):
    """A detached ``matplotlib.figure.Figure`` (not registered with pyplot)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` (PNG; parent folders created) atomically; returns the Path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix or '.png'}")
    fig.savefig(tmp, dpi=dpi)
    os.replace(tmp, path)
    return path


def finish(fig, path: str | Path | None, dpi: int = 110):
    """``fig`` itself when ``path`` is None, else :func:`save_figure` (the path)."""
    return fig if path is None else save_figure(fig, path, dpi)
