"""``speechml score wer | cls | results``: options, printed lines and files written."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from speechml.cli.score import register
from speechml.data.datadir import DataDir
from speechml.data.table import write_table
from speechml.errors import DataError
from speechml.score.trn import write_trn


def run(argv: list[str]) -> None:
    """Parse and run one verb of the ``score`` group."""
    parser = argparse.ArgumentParser(prog="speechml score")
    register(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    args.func(args)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    DataDir(
        wav_scp={"u1": "/a/u1.wav", "u2": "/a/u2.wav"},
        utt2spk={"u1": "s1", "u2": "s2"},
        text={"u1": "Hello, world!", "u2": "Good night"},
        utt2lang={"u1": "eng", "u2": "eng"},
        utt2label={"u1": "greet", "u2": "bye"},
    ).write(tmp_path / "data")
    decode = tmp_path / "exp" / "base" / "decode_test"
    write_trn(decode / "hyp.trn", {"u1": "hello world", "u2": "Good night"})
    write_table(decode / "utt2label", {"u1": "greet", "u2": "greet"})
    return tmp_path / "data", decode


def test_wer_prints_the_summary_lines(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, decode = dirs
    run(["wer", "--data", str(data), "--decode-dir", str(decode)])
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"%WER 0.00 [ 0 / 4, 0 ins, 0 del, 0 sub ] {decode}",
        f"%CER 0.00 [ 0 / 19, 0 ins, 0 del, 0 sub ] {decode}",
    ]
    assert (decode / "wer").read_text(encoding="utf-8").splitlines() == out
    for name in ("wer_per_lang", "wer_per_spk", "per_utt", "ref.trn", "score.json"):
        assert (decode / name).is_file()


def test_wer_normalisation_options(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, decode = dirs
    run(["wer", "--data", str(data), "--decode-dir", str(decode), "--keep-punctuation"])
    # "Hello, world!" vs "hello world": both words differ by their punctuation.
    assert capsys.readouterr().out.startswith("%WER 50.00 [ 2 / 4, 0 ins, 0 del, 2 sub ]")
    run(["wer", "--data", str(data), "--decode-dir", str(decode), "--no-lowercase"])
    # "Hello world" vs "hello world": one word differs by case.
    assert capsys.readouterr().out.startswith("%WER 25.00 [ 1 / 4, 0 ins, 0 del, 1 sub ]")


def test_wer_unknown_hypothesis_is_a_user_error(dirs: tuple[Path, Path]) -> None:
    data, decode = dirs
    write_trn(decode / "hyp.trn", {"u1": "hello", "u9": "x"})
    with pytest.raises(DataError, match=r"hyp\.trn: 1 hypotheses .*: u9"):
        run(["wer", "--data", str(data), "--decode-dir", str(decode)])


def test_cls_and_results(dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    data, decode = dirs
    run(["cls", "--data", str(data), "--decode-dir", str(decode)])
    assert capsys.readouterr().out == f"accuracy 50.00 macro-F1 33.33 [ 2 utts ] {decode}\n"
    for name in ("report.txt", "report.json", "confusion.png"):
        assert (decode / name).is_file()
    run(["wer", "--data", str(data), "--decode-dir", str(decode)])
    egs = data.parent
    run(["results", str(egs), "--out", "RESULTS.md"])
    assert capsys.readouterr().out.splitlines()[-1] == str(egs / "RESULTS.md")
    text = (egs / "RESULTS.md").read_text(encoding="utf-8")
    assert "| base |  | test | all | 0.00 |" in text
    assert "| base |  | test | all | 50.00 | 33.33 | 2 | 0 |" in text
