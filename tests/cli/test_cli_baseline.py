"""``speechml baseline asr | cls``: the files a decode dir needs for scoring."""

from __future__ import annotations

import argparse
from pathlib import Path

from speechml.cli.baseline import register
from speechml.data.datadir import DataDir
from speechml.data.table import read_table
from speechml.score.trn import read_trn


def run(argv: list[str]) -> None:
    """Parse and run one verb of the ``baseline`` group."""
    parser = argparse.ArgumentParser(prog="speechml baseline")
    register(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    args.func(args)


def make_dirs(root: Path) -> tuple[Path, Path]:
    train = DataDir(
        wav_scp={u: f"/a/{u}.wav" for u in ("a", "b", "c", "k")},
        utt2spk={u: u for u in ("a", "b", "c", "k")},
        text={"a": "good morning", "b": "good morning", "c": "hello", "k": "გამარჯობა"},
        utt2lang={"a": "eng", "b": "eng", "c": "eng", "k": "kat"},
        utt2label={"a": "greet", "b": "greet", "c": "hi", "k": "hi"},
    )
    test = DataDir(
        wav_scp={"t1": "/a/t1.wav", "t2": "/a/t2.wav"},
        utt2spk={"t1": "t1", "t2": "t2"},
        utt2lang={"t1": "kat", "t2": "eng"},
    )
    train.write(root / "train")
    test.write(root / "test")
    return root / "train", root / "test"


def test_asr_writes_hyp_trn_and_system(tmp_path: Path) -> None:
    train, test = make_dirs(tmp_path)
    out = tmp_path / "exp" / "decode_test"
    run(["asr", "--train", str(train), "--data", str(test), "--out", str(out)])
    assert read_trn(out / "hyp.trn") == {"t1": "გამარჯობა", "t2": "good morning"}
    system = (out / "system.txt").read_text()
    assert system.startswith("baseline: most frequent training transcript per language")
    assert system.count("\n") == 1


def test_cls_writes_utt2label_and_system(tmp_path: Path) -> None:
    train, test = make_dirs(tmp_path)
    out = tmp_path / "decode"
    run(["cls", "--train", str(train), "--data", str(test), "--out", str(out)])
    assert read_table(out / "utt2label") == {"t1": "greet", "t2": "greet"}
    assert "over all languages" in (out / "system.txt").read_text()
    run(["cls", "--train", str(train), "--data", str(test), "--out", str(out), "--per-language"])
    assert read_table(out / "utt2label") == {"t1": "hi", "t2": "greet"}
    assert "training label per language" in (out / "system.txt").read_text()
