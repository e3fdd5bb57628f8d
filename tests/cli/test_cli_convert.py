"""``speechml data from-hf | to-hf | from-commonvoice | from-lhotse | to-lhotse``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile

import speechml.cli
from speechml.cli.convert import register
from speechml.data.audio import write_audio
from speechml.data.datadir import DataDir
from speechml.errors import ConfigError, DataError


def run(argv: list[str]) -> None:
    """Parse and run one conversion verb of the ``data`` group."""
    parser = argparse.ArgumentParser(prog="speechml data")
    register(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    args.func(args)


def make_dataset(root: Path) -> Path:
    """A DatasetDict on disk with relative audio paths and a ``transcription`` column."""
    for name in ("a.wav", "b.wav"):
        write_audio(root / "audio" / name, np.full(1600, 0.1, dtype=np.float32), 16000)
    rows = datasets.Dataset.from_dict(
        {
            "id": ["a", "b"],
            "audio": ["audio/a.wav", "audio/b.wav"],
            "transcription": ["one", "two"],
            "speaker_id": ["s1", "s2"],
        }
    )
    dataset = datasets.DatasetDict({"train": rows.select([0]), "test": rows.select([1])})
    dataset.save_to_disk(str(root / "hf"))
    return root / "hf"


def test_from_hf_with_options(tmp_path: Path) -> None:
    src = make_dataset(tmp_path)
    run(
        ["from-hf", str(src), str(tmp_path / "test"), "--split", "test"]
        + ["--text-column", "transcription", "--speaker-column", "speaker_id"]
        + ["--lang", "swh", "--audio-root", str(tmp_path)]
    )
    data = DataDir.read(tmp_path / "test")
    assert data.text == {"s2-b": "two"}
    assert data.utt2spk == {"s2-b": "s2"}
    assert data.utt2lang == {"s2-b": "swh"}
    assert data.wav_scp == {"s2-b": str(tmp_path / "audio" / "b.wav")}


def test_from_hf_errors(tmp_path: Path) -> None:
    src = make_dataset(tmp_path)
    with pytest.raises(ConfigError, match=r"hf \(split train\): no text column 'text'"):
        run(["from-hf", str(src), str(tmp_path / "out")])
    with pytest.raises(ConfigError, match="either a language column or a language code"):
        run(
            ["from-hf", str(src), str(tmp_path / "out"), "--lang", "eng"]
            + ["--language-column", "speaker_id"]
        )
    with pytest.raises(DataError, match="dataset directory not found"):
        run(["from-hf", str(tmp_path / "nothing"), str(tmp_path / "out")])


def test_to_hf_then_from_hf_without_text(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav", np.full(800, 0.1, dtype=np.float32), 16000)
    DataDir(
        wav_scp={"s-a": str(tmp_path / "a.wav")},
        utt2spk={"s-a": "s"},
        utt2label={"s-a": "greet"},
    ).write(tmp_path / "data")
    run(["to-hf", str(tmp_path / "data"), str(tmp_path / "hf")])
    assert datasets.load_from_disk(str(tmp_path / "hf")).column_names == [
        "id",
        "audio",
        "speaker",
        "label",
    ]
    run(["from-hf", str(tmp_path / "hf"), str(tmp_path / "back"), "--no-text"])
    back = DataDir.read(tmp_path / "back")
    assert back.utt2label == {"s-a": "greet"} and back.utt2spk == {"s-a": "s"}


def test_from_commonvoice(tmp_path: Path) -> None:
    release = tmp_path / "cv"
    (release / "clips").mkdir(parents=True)
    soundfile.write(str(release / "clips" / "x.wav"), np.zeros(800), 16000)
    (release / "validated.tsv").write_text("client_id\tpath\tsentence\nc1\tx.wav\tnjema\n")
    run(
        ["from-commonvoice", str(release), str(tmp_path / "data")]
        + ["--lang", "swh", "--splits", "validated"]
    )
    data = DataDir.read(tmp_path / "data" / "validated")
    assert list(data.text.values()) == ["njema"]
    assert data.languages() == ["swh"]


def test_from_commonvoice_refuses_a_lang_that_contradicts_the_locale(tmp_path: Path) -> None:
    release = tmp_path / "cv"
    (release / "clips").mkdir(parents=True)
    soundfile.write(str(release / "clips" / "x.wav"), np.zeros(800), 16000)
    (release / "train.tsv").write_text(
        "client_id\tpath\tsentence\tlocale\nc1\tx.wav\tnjema\tsw\nc2\tx.wav\t \tsw\n"
    )
    args = ["from-commonvoice", str(release), str(tmp_path / "data"), "--splits", "train"]
    with pytest.raises(ConfigError, match=r"train\.tsv:2: --lang kat \(Georgian\) contradicts"):
        run([*args, "--lang", "kat"])
    assert not (tmp_path / "data").exists()
    run([*args, "--lang", "swh"])
    assert (tmp_path / "data" / "train" / "skipped.txt").read_text().endswith(": empty sentence\n")


def test_to_lhotse_then_from_lhotse(make_data_dir, tmp_path: Path) -> None:
    src = make_data_dir(languages=("eng", "kat"), utt2dur=True)
    run(["to-lhotse", str(src), str(tmp_path / "lhotse")])
    names = ("recordings.jsonl.gz", "supervisions.jsonl.gz")
    manifests = [str(tmp_path / "lhotse" / name) for name in names]
    run(["from-lhotse", *manifests, str(tmp_path / "back")])
    back, data = DataDir.read(tmp_path / "back"), DataDir.read(src)
    for table in ("wav_scp", "text", "utt2spk", "utt2lang", "utt2dur"):
        assert getattr(back, table) == getattr(data, table), table


def test_from_lhotse_options(tmp_path: Path) -> None:
    write_audio(tmp_path / "audio" / "a.wav", np.full(800, 0.1, dtype=np.float32), 16000)
    recording = {
        "id": "r",
        "sources": [{"type": "command", "channels": [0], "source": "cat audio/a.wav"}],
        "sampling_rate": 16000,
        "num_samples": 800,
        "duration": 0.05,
    }
    supervision = {"id": "u", "recording_id": "r", "start": 0, "duration": 0.05, "speaker": "s"}
    (tmp_path / "recs.jsonl").write_text(json.dumps(recording) + "\n")
    (tmp_path / "sups.jsonl").write_text(json.dumps(supervision) + "\n")
    manifests = [str(tmp_path / "recs.jsonl"), str(tmp_path / "sups.jsonl")]
    args = ["from-lhotse", *manifests, str(tmp_path / "data"), "--lang", "swh"]
    with pytest.raises(DataError, match=r"no usable row .*which is not run"):
        run(args)
    run([*args, "--allow-pipes", "--no-speaker-prefix"])
    data = DataDir.read(tmp_path / "data")
    assert data.wav_scp == {"u": "cat audio/a.wav |"}
    assert (data.utt2spk, data.utt2lang) == ({"u": "s"}, {"u": "swh"})
    recording["sources"] = [{"type": "file", "channels": [0], "source": "audio/a.wav"}]
    (tmp_path / "recs.jsonl").write_text(json.dumps(recording) + "\n")
    run(["from-lhotse", *manifests, str(tmp_path / "data"), "--audio-root", str(tmp_path)])
    assert DataDir.read(tmp_path / "data").wav_scp == {"s-u": str(tmp_path / "audio" / "a.wav")}


def test_lhotse_errors_are_one_line(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setattr(speechml.cli, "GROUPS", {"data": ("data", ("speechml.cli.convert",))})
    (tmp_path / "recs.jsonl").write_text('{"id": "r", "sources": []}\n')
    (tmp_path / "sups.jsonl").write_text("")
    argv = ["data", "from-lhotse", str(tmp_path / "recs.jsonl"), str(tmp_path / "sups.jsonl")]
    assert speechml.cli.main([*argv, str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err  # progress bars, then the error in one line
    assert "Traceback" not in err and err.splitlines()[-1] == (
        f"speechml data from-lhotse: error: {tmp_path / 'recs.jsonl'}:1: field 'sources' is not "
        "a non-empty list"
    )
