"""DataDir: strict reading, sorted atomic writing, segments, round trips, carried tables."""

from __future__ import annotations

import logging

import pytest

from speechml.data.datadir import DataDir, Segment, carried_table_kind
from speechml.errors import DataError


def _with_segments() -> DataDir:
    return DataDir(
        wav_scp={"rec2": "/audio/rec2.flac", "rec1": "/audio/rec1.wav"},
        text={"spkB-2": "გამარჯობა", "spkA-1": "hello world", "spkA-0": "hi"},
        utt2spk={"spkB-2": "spkB", "spkA-1": "spkA", "spkA-0": "spkA"},
        utt2lang={"spkB-2": "kat", "spkA-1": "eng", "spkA-0": "eng"},
        utt2dur={"spkB-2": 1.5, "spkA-1": 0.75, "spkA-0": 1.25},
        utt2label={"spkB-2": "greeting", "spkA-1": "greeting", "spkA-0": "other"},
        segments={
            "spkA-0": Segment("rec1", 0.0, 1.25),
            "spkA-1": Segment("rec1", 1.25, 2.0),
            "spkB-2": Segment("rec2", 0.5, 2.0),
        },
    )


def test_round_trip_with_segments(tmp_path):
    original = _with_segments()
    original.write(tmp_path / "d")
    again = DataDir.read(tmp_path / "d")
    for name in ("wav_scp", "text", "utt2spk", "utt2lang", "utt2dur", "utt2label", "segments"):
        assert getattr(again, name) == getattr(original, name), name
    assert again.path == tmp_path / "d"
    assert (tmp_path / "d" / "segments").read_text().splitlines() == [
        "spkA-0 rec1 0.000 1.250",
        "spkA-1 rec1 1.250 2.000",
        "spkB-2 rec2 0.500 2.000",
    ]
    assert (tmp_path / "d" / "spk2utt").read_text() == "spkA spkA-0 spkA-1\nspkB spkB-2\n"
    assert again.recording_of("spkA-1") == ("rec1", 1.25, 2.0)
    assert again.audio_entry("spkB-2") == "/audio/rec2.flac"


def test_written_tables_are_sorted_in_byte_order(tmp_path):
    data = DataDir(
        wav_scp={k: f"/{k}.wav" for k in ("b", "B", "a_1", "a-1")},
        utt2spk={k: k for k in ("b", "B", "a_1", "a-1")},
    )
    data.write(tmp_path)
    keys = [line.split()[0] for line in (tmp_path / "utt2spk").read_text().splitlines()]
    assert keys == ["B", "a-1", "a_1", "b"]  # C locale: upper case, then '-' (0x2d) < '_' (0x5f)
    assert data.utts == keys


def test_write_removes_optional_tables_that_became_empty(tmp_path):
    data = _with_segments()
    data.write(tmp_path)
    data.utt2label = {}
    data.write(tmp_path)
    assert not (tmp_path / "utt2label").exists()
    assert (tmp_path / "utt2lang").exists()


def test_read_refuses_a_missing_required_file(tmp_path):
    _with_segments().write(tmp_path)
    (tmp_path / "utt2spk").unlink()
    with pytest.raises(DataError, match="required file utt2spk is missing"):
        DataDir.read(tmp_path)
    with pytest.raises(DataError, match="data directory not found"):
        DataDir.read(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("name", "content", "line", "message"),
    [
        ("utt2spk", "spkA-0 spkA\nspkA-0 spkB\n", 2, "duplicated id 'spkA-0'"),
        ("utt2dur", "spkA-0 1.0\nspkA-1 long\n", 2, "duration is not a number: 'long'"),
        ("utt2dur", "spkA-0 nan\n", 1, "duration must be a finite number, got nan"),
        ("utt2dur", "spkA-0 1.0\nspkA-1 inf\n", 2, "duration must be a finite number, got inf"),
        ("utt2dur", "spkA-0 0\n", 1, "duration must be positive, got 0"),
        ("segments", "spkA-0 rec1 0 1\nspkA-1 rec1 2\n", 2, "expected 'recording start end'"),
        ("segments", "spkA-0 rec1 0 1 channel-A\n", 1, "expected 'recording start end'"),
        ("segments", "spkA-0 rec1 1.5 1.0\n", 1, "segment end 1.0 is not after its start 1.5"),
        ("segments", "spkA-0 rec1 -0.5 1.0\n", 1, "start must be non-negative, got -0.5"),
        ("segments", "spkA-0 rec1 nan 1.0\n", 1, "start must be a finite number, got nan"),
        ("segments", "spkA-0 rec1 0 inf\n", 1, "end must be a finite number, got inf"),
        ("wav.scp", "rec1\n", 1, "id 'rec1' has no value"),
    ],
)
def test_read_names_file_and_line_of_a_bad_entry(tmp_path, name, content, line, message):
    _with_segments().write(tmp_path)
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=message) as err:
        DataDir.read(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / name}:{line}: ")


def test_read_keeps_empty_transcripts_for_the_validator(tmp_path):
    _with_segments().write(tmp_path)
    (tmp_path / "text").write_text("spkA-0\nspkA-1 hello world\nspkB-2 x\n")
    assert DataDir.read(tmp_path).text["spkA-0"] == ""


def test_recording_lookup_errors_name_the_utterance(tmp_path):
    data = _with_segments()
    data.write(tmp_path)
    data = DataDir.read(tmp_path)
    with pytest.raises(DataError, match="utterance nope: has no entry in segments"):
        data.recording_of("nope")
    del data.wav_scp["rec2"]
    with pytest.raises(DataError, match="utterance spkB-2: recording 'rec2' has no entry"):
        data.audio_entry("spkB-2")


def test_languages_and_speakers():
    data = _with_segments()
    assert data.languages() == ["eng", "kat"]
    assert data.spk2utt() == {"spkA": ["spkA-0", "spkA-1"], "spkB": ["spkB-2"]}
    assert len(data) == 3


def test_carried_table_kinds():
    assert [
        carried_table_kind(name)
        for name in ("spk2gender", "cmvn.scp", "utt2uniq", "utt2num_frames", "feats.scp")
    ] == ["speaker", "speaker", "utterance", "utterance", "utterance"]
    assert carried_table_kind("reco2file_and_channel") == "recording"
    for name in ("utt2spk", "spk2utt", "text", "wav.scp", "utt2", "README", "fix_report.txt"):
        assert carried_table_kind(name) is None, name


def test_other_kaldi_tables_are_carried_and_other_files_named(tmp_path, caplog):
    _with_segments().write(tmp_path / "d")
    (tmp_path / "d" / "spk2gender").write_text("spkA f\nspkB m\n")
    (tmp_path / "d" / "utt2uniq").write_text("spkA-0 a0\nspkA-1 a1\nspkB-2 b2\n")
    (tmp_path / "d" / "reco2file_and_channel").write_text("rec1 rec1 A\nrec2 rec2 B\n")
    (tmp_path / "d" / "README").write_text("recorded in 2019\n")
    (tmp_path / "d" / "fix_report.txt").write_text("# a report\n")
    (tmp_path / "d" / ".hidden").write_text("x\n")
    data = DataDir.read(tmp_path / "d")
    assert data.other_tables == {
        "reco2file_and_channel": {"rec1": "rec1 A", "rec2": "rec2 B"},
        "spk2gender": {"spkA": "f", "spkB": "m"},
        "utt2uniq": {"spkA-0": "a0", "spkA-1": "a1", "spkB-2": "b2"},
    }
    assert data.left_behind == [tmp_path / "d" / "README"]
    with caplog.at_level(logging.WARNING):
        data.write(tmp_path / "d")  # in place: nothing is left behind
    assert caplog.text == ""
    with caplog.at_level(logging.WARNING):
        data.write(tmp_path / "copy")
    assert caplog.messages == [
        f"{tmp_path / 'd'}: not carried into {tmp_path / 'copy'} (not a data-dir table): README"
    ]
    assert (tmp_path / "copy" / "spk2gender").read_text() == "spkA f\nspkB m\n"
    assert DataDir.read(tmp_path / "copy").other_tables == data.other_tables


def test_write_removes_carried_tables_it_does_not_have(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "spk2gender").write_text("old f\n")
    _with_segments().write(tmp_path / "d")
    assert not (tmp_path / "d" / "spk2gender").exists()  # it described other speakers


def test_read_names_file_and_line_of_a_bad_carried_table(tmp_path):
    _with_segments().write(tmp_path)
    (tmp_path / "spk2gender").write_text("spkA f\nspkA m\n")
    with pytest.raises(DataError, match=r"spk2gender:2: duplicated id 'spkA'"):
        DataDir.read(tmp_path)
