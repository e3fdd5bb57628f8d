"""Experiment records: the resolved config and a script that replays the exact call.

An experiment dir that holds checkpoints of a run with another config (a recipe stage re-run
after its config changed) would otherwise be resumed by the trainer as if it were this run:
:func:`record_experiment` moves that run's outputs into ``superseded-<time>/`` first, so the new
run starts afresh and nothing is lost. A config that differs only in ``train.max_steps`` is the
same run with a new budget: it resumes.
"""

from __future__ import annotations

import copy
import logging
import os
import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from speechml.config import read_yaml, save_config, to_dict
from speechml.io import atomic_write_text

logger = logging.getLogger(__name__)

#: What a training run leaves in its experiment dir that a resumed run would pick up.
RUN_OUTPUTS = ("checkpoints", "model", "tensorboard", "log/metrics.jsonl", "training_curves.png")


def _without_budget(config: dict[str, Any]) -> dict[str, Any]:
    """The config without ``train.max_steps`` (a longer run of the same config resumes)."""
    config = copy.deepcopy(config)
    if isinstance(config.get("train"), dict):
        config["train"].pop("max_steps", None)
    return config


def supersede_other_run(exp_dir: Path, config: Any) -> Path | None:
    """Move the outputs of a run with another config out of ``exp_dir``'s way.

    Returns:
        The ``superseded-<time>`` dir they went to, or None when there was nothing to move.
    """
    old_config = exp_dir / "config.yaml"
    if not old_config.is_file() or not (exp_dir / "checkpoints").exists():
        return None
    new = yaml_round_trip(to_dict(config))
    if _without_budget(read_yaml(old_config)) == _without_budget(new):
        return None
    target = exp_dir / f"superseded-{time.strftime('%Y%m%d-%H%M%S')}"
    for name in (*RUN_OUTPUTS, "config.yaml"):
        if (exp_dir / name).exists():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (exp_dir / name).rename(target / name)
    logger.warning(
        "%s held a run with another config: its checkpoints, model and logs moved to %s; "
        "this run starts afresh",
        exp_dir,
        target,
    )
    return target


def yaml_round_trip(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as it reads back from the YAML that :func:`save_config` writes."""
    return yaml.safe_load(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def record_experiment(exp_dir: str | Path, config: Any, argv: Sequence[str]) -> None:
    """Write ``exp_dir/config.yaml`` (resolved) and ``exp_dir/replay.sh`` (the exact call),
    after moving aside the outputs of a run with another config (:func:`supersede_other_run`).

    Args:
        exp_dir: the experiment directory.
        config: the resolved config dataclass.
        argv: the ``speechml`` arguments as given (without the program name).
    """
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    supersede_other_run(exp_dir, config)
    save_config(config, exp_dir / "config.yaml")
    script = (
        "#!/usr/bin/env bash\n"
        "# Replays the call that made this experiment; config.yaml beside it is the config as\n"
        "# resolved (file + --set overrides).\n"
        "set -euo pipefail\n"
        f"cd {shlex.quote(os.getcwd())}\n"
        f"{shlex.join(['speechml', *argv])}\n"
    )
    atomic_write_text(exp_dir / "replay.sh", script)
    (exp_dir / "replay.sh").chmod(0o755)
