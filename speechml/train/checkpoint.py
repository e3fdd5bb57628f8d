"""Training checkpoints: safetensors weights plus a weights-only trainer state, written atomically.

Layout of ``<exp>/checkpoints/step-000500/``: ``model.safetensors`` (the model's state dict),
``trainer_state.pt`` (optimizer, scheduler, RNG, position in the data; loaded with
``torch.load(weights_only=True)``, so it cannot run code) and ``meta.json`` (step, metrics).
A checkpoint is written into a temporary directory that is renamed when complete
(:func:`speechml.io.atomic_dir`): a killed run never leaves a half-written checkpoint that
looks valid.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from speechml.errors import ModelError, SpeechmlError
from speechml.io import atomic_dir, reading
from speechml.model_files import (
    load_safetensors,
    load_state_into,
    load_weights_only,
    save_safetensors,
)

MODEL_FILE = "model.safetensors"
STATE_FILE = "trainer_state.pt"
META_FILE = "meta.json"
#: what every trainer state holds (speechml.train.trainer.Trainer writes them)
STATE_KEYS = ("optimizer", "scheduler", "rng", "step", "epoch", "batch_in_epoch")


@dataclass(frozen=True)
class CheckpointInfo:
    """A checkpoint directory and what its ``meta.json`` records."""

    path: Path
    step: int
    metrics: dict[str, float]


def save_checkpoint(
    directory: Path,
    model: torch.nn.Module,
    trainer_state: dict[str, Any],
    step: int,
    metrics: dict[str, float] | None = None,
) -> Path:
    """Write ``directory/step-XXXXXX`` atomically and return its path."""
    final = directory / f"step-{step:06d}"
    with atomic_dir(final) as tmp:
        save_safetensors(model, tmp / MODEL_FILE)
        torch.save(trainer_state, tmp / STATE_FILE)
        meta = {"step": step, "metrics": metrics or {}}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return final


def list_checkpoints(directory: Path) -> list[CheckpointInfo]:
    """Complete checkpoints under ``directory``, oldest first (temporary dirs are ignored)."""
    found = []
    for path in sorted(directory.glob("step-*")):
        meta_path = path / META_FILE
        if not meta_path.is_file() or not (path / MODEL_FILE).is_file():
            continue
        with reading(meta_path, "checkpoint record"):
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            found.append(CheckpointInfo(path, int(meta["step"]), dict(meta.get("metrics", {}))))
    return sorted(found, key=lambda c: c.step)


def remove_partial_checkpoints(directory: Path) -> list[Path]:
    """Delete what a killed checkpoint write left in ``directory``: the hidden temporary and
    moved-aside directories of :func:`speechml.io.atomic_dir` (``.step-*.tmp``/``.old``).

    Returns:
        The directories removed (complete checkpoints are never touched).
    """
    partial = sorted(
        p for p in directory.glob(".step-*") if p.is_dir() and p.suffix in (".tmp", ".old")
    )
    for path in partial:
        shutil.rmtree(path, ignore_errors=True)
    return partial


def load_trainer_state(path: Path) -> dict[str, Any]:
    """Load ``trainer_state.pt`` without executing code (``weights_only=True``).

    Raises:
        ModelError: the file is missing, corrupt or refused (naming it).
    """
    state = load_weights_only(path / STATE_FILE)
    missing = [key for key in STATE_KEYS if key not in state] if isinstance(state, dict) else []
    if not isinstance(state, dict) or missing:
        what = f"{missing[0]!r} is missing" if missing else "expected a mapping"
        raise ModelError(f"not a trainer state ({what})", path / STATE_FILE)
    return state


def load_model_weights(model: torch.nn.Module, path: Path, strict: bool = True) -> None:
    """Load a checkpoint's (or any) ``model.safetensors`` into ``model``.

    Raises:
        ModelError: the file is missing or corrupt, or its weights do not fit ``model``.
    """
    file = path / MODEL_FILE if path.is_dir() else path
    load_state_into(model, load_safetensors(file), file, strict=strict)


def average_checkpoints(paths: list[Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the float tensors of several checkpoints (others from the last).

    Example:
        ``save_safetensors(average_checkpoints(last_five), "exp/x/model_avg.safetensors")``
    """
    if not paths:
        raise SpeechmlError("no checkpoints to average")
    total: dict[str, torch.Tensor] = {}
    for path in paths:
        state = load_safetensors(path / MODEL_FILE)
        for key, value in state.items():
            if value.is_floating_point():
                total[key] = total.get(key, torch.zeros_like(value, dtype=torch.float64)) + value
            else:
                total[key] = value
    reference = load_safetensors(paths[-1] / MODEL_FILE)
    return {
        key: (value / len(paths)).to(reference[key].dtype)
        if reference[key].is_floating_point()
        else value
        for key, value in total.items()
    }


def prune_checkpoints(directory: Path, keep_last: int, keep: set[Path]) -> None:
    """Delete all but the newest ``keep_last`` checkpoints, never those in ``keep``."""
    checkpoints = list_checkpoints(directory)
    for info in checkpoints[: max(0, len(checkpoints) - keep_last)]:
        if info.path not in keep:
            shutil.rmtree(info.path, ignore_errors=True)
