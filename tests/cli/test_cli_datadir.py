"""The ``speechml data`` verbs of speechml.cli.datadir, run through speechml.cli.main."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import speechml.cli
from speechml.data.datadir import DataDir
from speechml.data.feature_store import DataDirFbank, write_store
from speechml.data.features import FbankConfig


@pytest.fixture
def speechml_data(monkeypatch, capsys):
    """Run ``speechml data ARGS...``; return (exit status, stdout, stderr).

    Only the data-dir verbs are registered, so that these tests do not depend on other groups.
    """
    monkeypatch.setattr(speechml.cli, "GROUPS", {"data": ("data dirs", ("speechml.cli.datadir",))})

    def run(*args: object) -> tuple[int, str, str]:
        status = speechml.cli.main(["data", *map(str, args)])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_validate_valid_and_invalid(speechml_data, make_data_dir):
    path = make_data_dir()
    status, out, _ = speechml_data("validate", path, "--check-audio")
    assert status == 0
    assert out == f"{path}: valid data dir (0 error(s), 0 warning(s))\n"
    (path / "text").write_text("spk1-utt000 a\nspk1-utt002\nspk2-utt001 b\nspk2-utt003 c\n")
    status, out, _ = speechml_data("validate", path)
    assert status == 1
    assert f"error: {path / 'text'}:2: utterance spk1-utt002: empty transcript\n" in out
    assert out.endswith("invalid data dir (1 error(s), 0 warning(s))\n")


def test_validate_options(speechml_data, make_data_dir):
    path = make_data_dir()
    (path / "text").unlink()
    assert speechml_data("validate", path)[0] == 1
    assert speechml_data("validate", path, "--no-text")[0] == 0
    data = DataDir.read(path)
    data.wav_scp = {utt: f"cat {entry} |" for utt, entry in data.wav_scp.items()}
    data.write(path)
    status, out, _ = speechml_data("validate", path, "--no-text", "--check-audio")
    assert status == 1 and out.count("is a shell pipe") == 4
    assert speechml_data("validate", path, "--no-text", "--check-audio", "--allow-pipes")[0] == 0


def test_fix_in_place_and_to_another_dir(speechml_data, make_data_dir, tmp_path):
    path = make_data_dir()
    (path / "text").write_bytes(b"\xef\xbb\xbfspk1-utt000 a\r\nspk1-utt002\r\n")
    status, out, _ = speechml_data("fix", path, "--out", tmp_path / "fixed")
    assert status == 0
    assert out.splitlines()[0] == "dropped spk1-utt002: text:2: empty transcript"
    assert f"{tmp_path / 'fixed'}: kept 1 utterances, dropped 3" in out.splitlines()[-1]
    assert (
        "dropped spk1-utt002: text:2: empty transcript"
        in (tmp_path / "fixed" / "fix_report.txt").read_text()
    )
    assert speechml_data("validate", tmp_path / "fixed")[0] == 0
    assert speechml_data("validate", path)[0] == 1
    assert speechml_data("fix", path)[0] == 0
    assert (path / ".backup" / "text").read_bytes().startswith(b"\xef\xbb\xbf")
    assert speechml_data("validate", path)[0] == 0


def test_subset_choices(speechml_data, make_data_dir, tmp_path):
    path = make_data_dir(num_utts=8, num_speakers=4, languages=("eng", "kat"))
    utts = DataDir.read(path).utts

    def subset(*options: object) -> list[str]:
        status, _, err = speechml_data("subset", path, tmp_path / "sub", *options)
        assert status == 0, err
        return DataDir.read(tmp_path / "sub").utts

    assert subset("--first", 3) == utts[:3]
    assert len(subset("--random", 5, "--seed", 1)) == 5
    assert subset("--random", 5, "--seed", 1) == subset("--random", 5, "--seed", 1)
    kat = [u for u in utts if u.startswith(("spk2", "spk4"))]
    assert subset("--lang", "kat") == kat
    assert subset("--lang", "kat", "--first", 2) == kat[:2]
    assert DataDir.read(tmp_path / "sub").languages() == ["kat"]
    assert len(subset("--per-lang", 2)) == 4
    (tmp_path / "list").write_text(f"{utts[5]}\n{utts[1]}\n")
    assert subset("--utt-list", tmp_path / "list") == [utts[1], utts[5]]
    assert speechml_data("validate", tmp_path / "sub", "--check-audio")[0] == 0


def test_subset_shares_the_stored_features(speechml_data, make_data_dir, tmp_path):
    path = make_data_dir(num_utts=4)
    write_store(DataDir.read(path), FbankConfig())
    assert speechml_data("subset", path, tmp_path / "sub", "--first", 2)[0] == 0
    sub = DataDir.read(tmp_path / "sub")
    assert DataDirFbank(sub, FbankConfig()).stored == 2


def test_subset_errors_are_one_line(speechml_data, make_data_dir, tmp_path):
    path = make_data_dir()
    status, _, err = speechml_data("subset", path, tmp_path / "sub", "--lang", "ka")
    assert status == 1
    assert err == (
        "speechml data subset: error: unknown ISO 639-3 language code 'ka' (did you mean 'kat'?)\n"
    )
    status, _, err = speechml_data("subset", path, tmp_path / "sub")
    assert status == 1 and "say which utterances" in err
    status, _, err = speechml_data("subset", path, path, "--first", 1)
    assert status == 1 and "SRC and DST are the same directory" in err
    with pytest.raises(SystemExit):  # argparse: the choices exclude each other
        speechml_data("subset", path, tmp_path / "sub", "--first", 1, "--random", 1)
    assert not (tmp_path / "sub").exists()


def test_split_into_numbered_parts(speechml_data, make_data_dir):
    path = make_data_dir(num_utts=9, num_speakers=3)
    status, out, _ = speechml_data("split", path, "--num-parts", 3)
    assert status == 0 and out == f"{path / 'split3'}: 3 parts of 3 to 3 utts\n"
    parts = [DataDir.read(path / "split3" / str(k)) for k in (1, 2, 3)]
    assert [set(p.utt2spk.values()) for p in parts] == [{"spk1"}, {"spk2"}, {"spk3"}]
    status, _, err = speechml_data("split", path, "--num-parts", 4)
    assert status == 1 and "cannot split 3 speaker(s) into 4 parts" in err


def test_split_speakers(speechml_data, make_data_dir, tmp_path):
    path = make_data_dir(num_utts=12, num_speakers=6)
    out_dir = tmp_path / "parts"
    args = ("split-speakers", path, "--part", "train:0.67", "--part", "dev:0.33")
    status, out, _ = speechml_data(*args, "--out-dir", out_dir, "--seed", 3)
    assert status == 0 and f"{out_dir / 'train'}: 8 utterances, 4 speakers" in out
    train, dev = DataDir.read(out_dir / "train"), DataDir.read(out_dir / "dev")
    assert not set(train.utt2spk.values()) & set(dev.utt2spk.values())
    assert len(train) + len(dev) == 12
    status, _, err = speechml_data(*args, "--part", "dev:0.1", "--out-dir", out_dir)
    assert status == 1 and "each --part needs a different NAME" in err
    with pytest.raises(SystemExit):
        speechml_data("split-speakers", path, "--part", "train=0.5", "--out-dir", out_dir)


def test_combine(speechml_data, make_data_dir, tmp_path):
    path = make_data_dir(num_utts=3, num_speakers=3)
    utts = DataDir.read(path).utts
    (tmp_path / "list").write_text(f"{utts[1]}\n{utts[2]}\n")
    speechml_data("subset", path, tmp_path / "x", "--first", 2)
    speechml_data("subset", path, tmp_path / "y", "--utt-list", tmp_path / "list")
    status, out, _ = speechml_data("combine", tmp_path / "all", tmp_path / "x", tmp_path / "y")
    assert status == 0 and out == f"{tmp_path / 'all'}: 3 utterances from 2 data dirs\n"
    assert (tmp_path / "all" / "text").read_text() == (path / "text").read_text()
    other = make_data_dir(name="other", num_utts=1)  # the same utterance id, other audio path
    status, _, err = speechml_data("combine", tmp_path / "all2", path, other)
    assert status == 1
    assert f"id '{utts[0]}' has different wav.scp in {path} (" in err and f"and in {other} (" in err


def test_durations(speechml_data, make_data_dir):
    path = make_data_dir(num_utts=3, seconds=1.5)
    status, out, _ = speechml_data("durations", path, "--nj", 2)
    assert status == 0 and out == f"{path / 'utt2dur'}: 3 utterances, 0.00 hours\n"
    assert set(DataDir.read(path).utt2dur.values()) == {1.5}
    (path / "audio" / "spk1-utt000.wav").unlink()
    status, _, err = speechml_data("durations", path)
    assert status == 1 and "utterance spk1-utt000: audio file not found" in err


def test_fix_check_audio_lists_what_it_drops(speechml_data, make_data_dir):
    path = make_data_dir()
    data = DataDir.read(path)
    Path(data.wav_scp["spk1-utt000"]).unlink()
    Path(data.wav_scp["spk2-utt001"]).write_text("this is not audio\n")
    status, out, _ = speechml_data("fix", path)
    assert status == 0 and "dropped 0 (audio not opened: --check-audio)" in out
    assert speechml_data("validate", path, "--check-audio")[0] == 1
    status, out, _ = speechml_data("fix", path, "--check-audio")
    assert status == 0
    assert out.splitlines() == [
        f"dropped spk1-utt000: wav.scp:1: {data.wav_scp['spk1-utt000']}: audio file not found",
        f"dropped spk2-utt001: wav.scp:3: {data.wav_scp['spk2-utt001']}: cannot read audio: the "
        "file holds text, not audio: 'this is not audio'",
        f"{path}: kept 2 utterances, dropped 2, 3 other change(s); see {path / 'fix_report.txt'}",
    ]
    assert speechml_data("validate", path, "--check-audio")[0] == 0


def test_validate_refuses_a_dir_without_utterances(speechml_data, make_data_dir):
    path = make_data_dir()
    for table in path.iterdir():
        if table.is_file():
            table.write_text("")
    status, out, _ = speechml_data("validate", path)
    assert status == 1 and f"error: {path / 'utt2spk'}: no utterance: the data dir is empty" in out


def test_subset_keeps_spk2gender_and_names_what_it_leaves(
    speechml_data, make_data_dir, tmp_path, caplog
):
    path = make_data_dir()
    (path / "spk2gender").write_text("spk1 f\nspk2 m\n")
    (path / "notes.txt").write_text("recorded in 2019\n")
    with caplog.at_level(logging.WARNING):
        assert speechml_data("subset", path, tmp_path / "sub", "--first", 2)[0] == 0
    assert (tmp_path / "sub" / "spk2gender").read_text() == "spk1 f\n"
    assert f"{path}: not carried into {tmp_path / 'sub'} (not a data-dir table): notes.txt" in (
        caplog.messages
    )
    assert speechml_data("validate", tmp_path / "sub")[0] == 0
