"""speechml.progress: plain lines where stderr is a log, a tqdm bar where it is a terminal."""

from __future__ import annotations

import logging
import re
import sys

import pytest

from speechml.progress import progress_bar


@pytest.fixture
def lines(caplog):
    """The progress lines logged so far (pytest's stderr is no terminal: lines, not bars)."""
    caplog.set_level(logging.INFO, logger="speechml.progress")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "speechml.progress"]


def counts(logged: list[str]) -> list[str]:
    """The ``N/TOTAL`` (or ``N``) of each line."""
    return [re.search(r" (\d+(?:/\d+)?)( |$)", line).group(1) for line in logged]


def test_a_loop_logs_every_n_items_and_its_end(lines):
    assert list(progress_bar(range(25), desc="decode (greedy)", unit="utt", every=10)) == list(
        range(25)
    )
    assert counts(lines()) == ["10/25", "20/25", "25/25"]
    for line in lines():
        assert re.fullmatch(r"decode \(greedy\): utt \d+/25 [0-9.e+]+ utt/s", line), line


def test_the_default_is_about_ten_lines_a_loop(lines):
    for _ in progress_bar(range(95), desc="fbank", unit="utt"):
        pass
    assert counts(lines()) == [f"{n}/95" for n in (*range(10, 91, 10), 95)]


def test_updates_by_chunks_log_when_they_pass_a_multiple(lines):
    with progress_bar(total=100, desc="fbank", unit="utt", every=30) as progress:
        for _ in range(4):
            progress.update(25)
    assert counts(lines()) == ["50/100", "75/100", "100/100"]


def test_a_resumed_count_and_its_values_are_on_the_line(lines):
    progress = progress_bar(total=40, initial=20, desc="train base", unit="step", every=10)
    for step in range(20):
        progress.set_postfix(loss=f"{1 / (step + 1):.3f}", lr="0.002")
        progress.update(1)
    progress.close()
    progress.close()
    assert counts(lines()) == ["30/40", "40/40"]
    assert lines()[-1].startswith("train base: step 40/40 loss 0.050 lr 0.002 ")
    assert lines()[-1].endswith(" step/s")


def test_a_loop_of_unknown_length_counts_without_a_total(lines):
    assert list(progress_bar((x for x in "abc"), desc="from-hf", unit="utt")) == ["a", "b", "c"]
    assert lines() == [lines()[0]]
    assert lines()[0].startswith("from-hf: utt 3 ")


def test_a_disabled_progress_logs_nothing(lines):
    assert list(progress_bar(range(5), desc="romanize", every=1, disable=True)) == [0, 1, 2, 3, 4]
    assert lines() == []


def test_a_terminal_gets_a_bar_and_no_lines(on_terminal):
    code = (
        "import logging; logging.basicConfig(level=logging.INFO)\n"
        "from speechml.progress import progress_bar\n"
        "for _ in progress_bar(range(20), desc='decode', unit='utt', every=5): pass\n"
    )
    shown = on_terminal([sys.executable, "-c", code])
    assert "decode: 100%|" in shown and "20/20 [" in shown
    assert "\r" in shown.replace("\r\n", "\n")  # the bar redrawn in place
    assert "INFO" not in shown
