"""Annotated heat maps as PNG files: confusion matrices, zero-shot maps, similarity matrices.

Example:
    >>> save_heatmap(np.eye(2), ["a", "b"], ["a", "b"], "sim.png", "cosine")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from speechml.io import atomic_path


def save_heatmap(
    matrix: np.ndarray,
    rows: Sequence[str],
    columns: Sequence[str],
    path: str | Path,
    colorbar: str,
    title: str = "",
    axes: tuple[str, str] = ("", ""),
    cell_text: Callable[[float], str] = lambda value: f"{value:.2f}",
    limits: tuple[float | None, float | None] = (None, None),
) -> Figure:
    """Draw ``matrix`` (NaN cells blank) with a value in each cell; save it as PNG atomically.

    Args:
        matrix: ``(len(rows), len(columns))`` values.
        rows, columns: tick labels.
        path: the PNG to write.
        colorbar: the colour bar's label.
        title: the title.
        axes: (x label, y label).
        cell_text: the text of a cell's value (NaN cells get it too).
        limits: (vmin, vmax) of the colour scale (None: the data's).

    Returns:
        The figure, for callers that add to it before saving again.
    """
    side = min(max(4.0, 0.6 * max(len(rows), len(columns)) + 2.0), 30.0)
    fig = Figure(figsize=(side, side * 0.9), layout="constrained")
    ax = fig.add_subplot()
    masked = np.ma.masked_invalid(matrix.astype(float))
    image = ax.imshow(masked, cmap="Blues", vmin=limits[0], vmax=limits[1])
    fig.colorbar(image, ax=ax, shrink=0.8, label=colorbar)
    ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.set_title(title)
    low, high = image.get_clim()
    middle = (low + high) / 2
    for (i, j), value in np.ndenumerate(matrix):
        color = "white" if value > middle else "black"
        ax.text(j, i, cell_text(value), ha="center", va="center", color=color)
    write_png(fig, path)
    return fig


def write_png(fig: Figure, path: str | Path) -> None:
    """Save ``fig`` as a PNG at 100 dpi, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
