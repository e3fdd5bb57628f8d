"""Experiment records: the resolved config and a script that replays the exact call."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from speechml.config import save_config
from speechml.io import atomic_write_text


def record_experiment(exp_dir: str | Path, config: Any, argv: Sequence[str]) -> None:
    """Write ``exp_dir/config.yaml`` (resolved) and ``exp_dir/replay.sh`` (the exact call).

    Args:
        exp_dir: the experiment directory.
        config: the resolved config dataclass.
        argv: the ``speechml`` arguments as given (without the program name).
    """
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
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
