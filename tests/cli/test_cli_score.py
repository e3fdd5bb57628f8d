"""``speechml score wer | cls | results``: options, printed lines and files written."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from speechml.cli.score import register
from speechml.data.datadir import DataDir
from speechml.data.table import write_table
from speechml.errors import ConfigError, DataError
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
        "# per speaker (2): median WER 0.00; worst: s1 0.00, s2 0.00",
    ]
    assert (decode / "wer").read_text(encoding="utf-8").splitlines() == out
    for name in ("wer_per_lang", "wer_per_spk", "per_utt", "ref.trn", "score.json"):
        assert (decode / name).is_file()


def test_wer_of_two_text_files_prints_the_same_lines_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, hyp, langs = tmp_path / "ref", tmp_path / "hyp", tmp_path / "utt2lang"
    ref.write_text("u1 Hello, world!\nu2 İyi geceler\nu3 lost words\n", encoding="utf-8")
    hyp.write_text("u1 hello world\nu2 iyi geceler\n", encoding="utf-8")
    langs.write_text("u1 eng\nu2 tur\nu3 eng\n", encoding="utf-8")
    run(["wer", str(ref), str(hyp), "--utt2lang", str(langs)])
    assert capsys.readouterr().out.splitlines() == [
        f"%WER 33.33 [ 2 / 6, 0 ins, 2 del, 0 sub ] {hyp}",
        f"%CER 31.03 [ 9 / 29, 0 ins, 9 del, 0 sub ] {hyp}",
        "# 1 utterances had no hypothesis (scored as deletions): u3",
    ]
    run(["wer", str(ref), str(hyp), "--lang", "eng"])  # İyi lowered as in English: "i̇yi"
    assert capsys.readouterr().out.startswith("%WER 50.00 [ 3 / 6, 0 ins, 2 del, 1 sub ]")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hyp", "ref", "utt2lang"]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["wer", "r"], "give two text files REF HYP, or --data DIR and --decode-dir DIR"),
        (["wer", "--data", "d"], "give two text files REF HYP, or --data DIR and --decode-dir DIR"),
        (["wer", "r", "h", "--data", "d"], "not both"),
        (["wer", "--data", "d", "--decode-dir", "e", "--lang", "tur"], "--lang and --utt2lang"),
    ],
)
def test_wer_forms_cannot_be_mixed(argv: list[str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        run(argv)


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
