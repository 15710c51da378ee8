"""ALP-curve plot: ALP and its gain against the vocabulary size, with ε and the chosen size."""

from __future__ import annotations

from pathlib import Path

from unibridge.errors import DataError
from unibridge.vocab.search import VocabSearchResult

__all__ = ["plot_alp_curve"]


def plot_alp_curve(result: VocabSearchResult, path_png: Path | str | None = None):
    """Plot ALP vs vocabulary size and the ALP gain Δ vs size (with the ε line); mark the choice.

    Args:
        result: a :class:`VocabSearchResult`.
        path_png: output image (parent directories are created); None returns the figure.

    Returns:
        ``Path(path_png)``, or the ``matplotlib.figure.Figure`` when ``path_png`` is None.

    Raises:
        DataError: the result has an empty curve.
    """
    from unibridge.plotting import finish, new_figure

    if not result.curve:
        raise DataError("cannot plot an empty ALP curve")
    sizes = [p.vocab_size for p in result.curve]
    alps = [p.alp for p in result.curve]
    d_pts = [(p.vocab_size, p.delta) for p in result.curve if p.delta is not None]
    fig = new_figure((10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(sizes, alps, "o-")
    chosen = [p for p in result.curve if p.vocab_size == result.vocab_size]
    if chosen:
        ax1.plot([chosen[-1].vocab_size], [chosen[-1].alp], "r*", ms=14, label=f"chosen {result.vocab_size}")
        ax1.legend()
    ax1.set_xlabel("vocabulary size")
    ax1.set_ylabel("ALP (nats / sample)")
    ax1.set_title(f"ALP (sample_words={result.sample_words})")
    if d_pts:
        ax2.plot([x for x, _ in d_pts], [y for _, y in d_pts], "o-")
    ax2.axhline(result.eps, color="gray", ls="--", label=f"ε = {result.eps:g}")
    ax2.axvline(result.vocab_size, color="r", ls=":", label=f"chosen {result.vocab_size} ({result.stopped_by})")
    ax2.set_xlabel("vocabulary size")
    ax2.set_ylabel("Δ ALP vs previous size")
    ax2.legend()
    fig.tight_layout()
    return finish(fig, path_png, dpi=100)
