"""Smoke run of ``bench/decode_search.py --quick``: it finishes, prints every arm, and the
figures that do not depend on timing hold (batched == one by one, LM weight 0 == plain)."""

from __future__ import annotations

import re
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_decode_search_quick_run(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCH))  # as when the script runs
    import decode_search

    threads = torch.get_num_threads()
    try:
        assert decode_search.main(["--quick"]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert out.startswith("== ASR search: greedy, beam, beam + n-gram LM ==")
    for arm in ("greedy", "beam", "beam one by one", "beam + LM"):
        assert re.search(rf"^{re.escape(arm)} total: [0-9.]+ s$", out, re.MULTILINE), arm
    assert "same hypotheses batched and one by one: 6/6" in out
    assert "same hypotheses with LM weight 0: 6/6" in out
