"""Smoke run of ``bench/decode_search.py --quick``: it finishes, prints every arm, and the
figures that do not depend on timing hold (batched == one by one, LM weight 0 == plain)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_decode_search_quick_run():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, str(BENCH / "decode_search.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=BENCH.parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert out.startswith("== ASR search: greedy, beam, beam + n-gram LM ==")
    for arm in ("greedy", "beam", "beam one by one", "beam + LM"):
        assert re.search(rf"^{re.escape(arm)} total: [0-9.]+ s$", out, re.MULTILINE), arm
    assert "same hypotheses batched and one by one: 6/6" in out
    assert "same hypotheses with LM weight 0: 6/6" in out
