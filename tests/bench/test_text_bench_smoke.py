"""Smoke run of bench/text_components.py --quick on two of its rows: it trains, adapts,
classifies and prints its table and summary lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_text_components_quick_run(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, str(BENCH / "text_components.py"), "--quick", "--out", str(tmp_path),
         "--systems", "mlm+ofa", "translico+transmi"],
        capture_output=True, text=True, timeout=600, env=env, cwd=BENCH.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"^== Text components: .+ ==$", out, re.MULTILINE)
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if "+" in line[:20]}
    assert set(rows) == {"mlm+ofa", "translico+transmi"}
    for values in rows.values():
        retrieval_src, retrieval_tgt, zero_shot, source = map(float, values)
        assert 0.0 <= min(retrieval_src, retrieval_tgt, zero_shot, source) <= 1.0
    assert re.search(r"^chance: 0\.1667$", out, re.MULTILINE)
    assert (tmp_path / "lm_translico" / "model" / "config.json").is_file()
    assert (tmp_path / "adapted_mlm+ofa" / "tokenizer.json").is_file()
