"""PNG figures: annotated heat maps (confusion matrices, zero-shot maps, similarity matrices)
and curves against the training step with marked points (each language's best dev WER).

Example:
    >>> save_heatmap(np.eye(2), ["a", "b"], ["a", "b"], "sim.png", "cosine")
    <Figure size 400x360 with 2 Axes>
    >>> save_curves({"kat": [(100, 60.0), (200, 55.0)]}, {"kat": 200}, "wer.png",
    ...             "dev WER", "WER %")
    <Figure size 700x400 with 1 Axes>
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


def save_curves(
    series: Mapping[str, Sequence[tuple[int, float]]],
    marks: Mapping[str, int],
    path: str | Path,
    title: str,
    ylabel: str,
) -> Figure:
    """Draw one line per series (``(step, value)`` points) on one axis, each marked at its
    step in ``marks`` (a circle and a dotted vertical line, the step in the legend); save it as
    PNG atomically. Series without points are listed in the legend only.

    Returns:
        The figure.
    """
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    for name, points in series.items():
        steps = [step for step, _ in points]
        values = [value for _, value in points]
        mark = marks.get(name)
        label = name if mark is None else f"{name} (best: step {mark})"
        (line,) = ax.plot(steps, values, marker="." if len(steps) < 30 else None, label=label)
        if mark is not None and mark in steps:
            ax.plot([mark], [values[steps.index(mark)]], "o", color=line.get_color(), ms=9)
            ax.axvline(mark, color=line.get_color(), linestyle=":", alpha=0.6)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    write_png(fig, path)
    return fig


def write_png(fig: Figure, path: str | Path) -> None:
    """Save ``fig`` as a PNG at 100 dpi, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
