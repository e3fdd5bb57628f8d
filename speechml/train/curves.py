"""Training curves: a PNG of every logged metric against the step, from ``metrics.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from speechml.io import atomic_path  # noqa: E402

#: Metrics that are bookkeeping rather than quality, left out of the plot.
_NOT_PLOTTED = {"lr", "grad_norm", "steps_per_s"}


def read_metrics(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Metric name -> [(step, value), ...] from a JSON-lines log."""
    series: dict[str, list[tuple[int, float]]] = {}
    if not path.is_file():
        return series
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        step = int(record.pop("step"))
        for name, value in record.items():
            if isinstance(value, (int, float)):
                series.setdefault(name, []).append((step, float(value)))
    return series


def plot_training_curves(metrics_path: Path, png_path: Path) -> bool:
    """Draw one panel per metric; returns False (and writes nothing) when nothing was logged."""
    series = {k: v for k, v in read_metrics(metrics_path).items() if k not in _NOT_PLOTTED}
    if not series:
        return False
    names = sorted(series)
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 2.2 * len(names)), sharex=True)
    axes = [axes] if len(names) == 1 else list(axes)
    for ax, name in zip(axes, names, strict=True):
        steps, values = zip(*series[name], strict=True)
        ax.plot(steps, values, marker="." if len(steps) < 30 else None)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("step")
    fig.suptitle(metrics_path.parent.parent.name)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return True
