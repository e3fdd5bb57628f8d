"""Numeric options with a natural range: a value outside it is an argument error, not a crash."""

from __future__ import annotations

import argparse

import pytest

from speechml.cli import build_parser, in_range


def test_in_range_reads_and_checks_numbers() -> None:
    confidence = in_range(0, 1, float)
    assert confidence("0") == 0.0 and confidence("1") == 1.0 and confidence("0.5") == 0.5
    for bad, message in (("1.5", "1.5 is not in [0, 1]"), ("-0.1", "-0.1 is not in [0, 1]")):
        with pytest.raises(argparse.ArgumentTypeError, match=message.replace("[", r"\[")):
            confidence(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="nan is not in"):
        confidence("nan")
    jobs = in_range(1)
    assert jobs("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match="^0 is not >= 1$"):
        jobs("0")
    with pytest.raises(ValueError):
        jobs("2.5")  # argparse reports it as "invalid int value: '2.5'"
    factor = in_range(0, kind=float, low_open=True)
    assert factor("0.9") == 0.9
    for bad in ("0", "inf", "-1"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not > 0"):
            factor(bad)
    with pytest.raises(argparse.ArgumentTypeError, match=r"1.5 is not in \(0, 1\]"):
        in_range(0, 1, float, low_open=True)("1.5")


@pytest.mark.parametrize(
    "argv, option, message",
    [
        (["asr", "pseudo-label", "--model", "m", "--data", "d", "--out", "o",
          "--min-confidence", "1.5"], "--min-confidence", "1.5 is not in [0, 1]"),
        (["asr", "decode", "--model", "m", "--data", "d", "--out", "o", "--beam", "0"],
         "--beam", "0 is not >= 1"),
        (["asr", "decode", "--model", "m", "--data", "d", "--out", "o", "--batch-size", "-4"],
         "--batch-size", "-4 is not >= 1"),
        (["asr", "tail-split", "--data", "d", "--lang", "kat", "--out-dir", "o",
          "--labelled", "0"], "--labelled", "0 is not >= 1"),
        (["corpus", "build", "--out", "o", "--nj", "0"], "--nj", "0 is not >= 1"),
        (["data", "durations", "d", "--nj", "0"], "--nj", "0 is not >= 1"),
        (["data", "subset", "a", "b", "--random", "-1"], "--random", "-1 is not >= 1"),
        (["data", "split", "a", "--num-parts", "0"], "--num-parts", "0 is not >= 1"),
        (["data", "split-speakers", "a", "--out-dir", "o", "--part", "train:1.5"],
         "--part", "1.5 is not in (0, 1]"),
        (["data", "speed-perturb", "a", "b", "--factors", "0.9", "0"], "--factors",
         "0 is not > 0"),
        (["data", "train-tokenizer", "d", "--out", "o", "--kind", "bpe",
          "--character-coverage", "1.01"], "--character-coverage", "1.01 is not in (0, 1]"),
        (["data", "compute-fbank", "d", "--nj", "0"], "--nj", "0 is not >= 1"),
        (["data", "compute-cmvn", "d", "--out", "o", "--max-utts", "0"], "--max-utts",
         "0 is not >= 1"),
        (["llm", "mixture", "--data", "d", "--out", "o", "--nj", "0"], "--nj", "0 is not >= 1"),
        (["ssl", "decode", "--model", "m", "--data", "d", "--out", "o", "--batch-size", "0"],
         "--batch-size", "0 is not >= 1"),
    ],
)  # fmt: skip
def test_out_of_range_options_are_argument_errors(argv, option, message, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser({argv[0]}).parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(f"error: argument {option}: {message}")
