"""``speechml corpus build``: options, overrides, reuse, and one-line errors."""

import argparse
import dataclasses
import os
import shlex
import shutil
from pathlib import Path

import pytest

from speechml.cli import corpus
from speechml.config import load_config
from speechml.data.corpus.config import DEFAULT_CONFIG, CorpusConfig
from speechml.data.datadir import DataDir
from speechml.errors import ConfigError

espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

TINY = [
    "--set",
    "languages=[{code: hin, espeak: hi, locale: hi, script: Deva}]",
    "--set",
    "utts_per_lang={train: 3, dev: 1, test: 1}",
]


def parse(argv):
    parser = argparse.ArgumentParser(prog="speechml corpus")
    corpus.register(parser.add_subparsers(required=True))
    return parser.parse_args(argv)


def test_build_defaults_to_the_shipped_config_and_records_a_replayable_command(monkeypatch):
    calls = []
    monkeypatch.setattr(corpus, "build_corpus", lambda *a: calls.append(a))  # no synthesis
    args = parse(["build", "--out", "x", "--set", "seed=7"])
    assert args.func(args) == 0
    config, out, nj, force, command, source = calls[0]
    assert config == dataclasses.replace(CorpusConfig(), seed=7)  # the shipped config + --set
    assert (out, nj, force, source) == ("x", os.cpu_count(), False, DEFAULT_CONFIG)
    words = shlex.split(command)
    assert words[:3] == ["speechml", "corpus", "build"]
    again = parse(words[2:])  # the recorded command makes the same call
    assert again.func(again) == 0
    assert calls[1][:5] == calls[0][:5] and Path(calls[1][5]) == Path(source)


def test_bad_override_is_a_config_error(tmp_path):
    args = parse(["build", "--out", str(tmp_path / "c"), "--set", "utts_per_lang.trian=5"])
    with pytest.raises(ConfigError, match="unknown key 'trian'"):
        args.func(args)
    assert not (tmp_path / "c").exists()


@pytest.mark.espeak
@espeak
def test_build_writes_the_corpus_and_records_the_command(tmp_path):
    out = tmp_path / "corpus"
    args = parse(["build", "--out", str(out), "--nj", "2", *TINY])
    assert args.func(args) == 0
    assert len(DataDir.read(out / "data" / "hin" / "train")) == 3
    config = load_config(CorpusConfig, out / "corpus.yaml")
    assert [lang.code for lang in config.languages] == ["hin"]
    readme = (out / "README.md").read_text()
    assert f"--out {out} --nj 2 --set 'languages=[{{code: hin" in readme
    again = parse(["build", "--out", str(out), "--nj", "1", *TINY])  # nj does not matter
    assert again.func(again) == 0


def test_errors_are_one_line_from_the_speechml_command(tmp_path, capsys):
    from speechml.cli import main

    out = tmp_path / "c"
    assert main(["corpus", "build", "--out", str(out), "--set", "classes=[month, planet]"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("speechml corpus build: error: ") and "'planet'" in error
    assert "\n" not in error and not out.exists()
