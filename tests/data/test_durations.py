"""compute_durations: header durations, segments, and every unreadable file reported."""

from __future__ import annotations

import pytest

from speechml.data.datadir import DataDir, Segment
from speechml.data.durations import compute_durations
from speechml.errors import ConfigError, DataError


def test_durations_from_headers_at_any_rate(make_data_dir):
    data = DataDir.read(make_data_dir(num_utts=3, seconds=0.75, sample_rate=8000))
    durations = compute_durations(data)
    assert list(durations) == data.utts
    assert durations == pytest.approx(dict.fromkeys(data.utts, 0.75))
    assert compute_durations(data, nj=2) == durations


def test_durations_from_segments_need_no_audio():
    data = DataDir(
        wav_scp={"rec": "/no/such/file.wav"},
        utt2spk={"a": "s", "b": "s"},
        segments={"a": Segment("rec", 0.0, 0.5), "b": Segment("rec", 1.0, 1.75)},
    )
    assert compute_durations(data) == {"a": 0.5, "b": 0.75}


def test_every_unreadable_file_is_listed(make_data_dir):
    path = make_data_dir(num_utts=4)
    data = DataDir.read(path)
    missing, corrupt = data.utts[0], data.utts[2]
    (path / "audio" / f"{missing}.wav").unlink()
    (path / "audio" / f"{corrupt}.wav").write_bytes(b"not audio at all")
    del data.wav_scp[data.utts[3]]
    with pytest.raises(DataError) as err:
        compute_durations(data, nj=2)
    message = str(err.value)
    assert message.startswith(f"{path / 'wav.scp'}: 3 of 4 utterances have no readable audio:")
    assert f"utterance {missing}: audio file not found" in message
    assert f"utterance {corrupt}: cannot read audio" in message
    assert f"utterance {data.utts[3]}: recording '{data.utts[3]}' has no entry" in message


def test_pipes_are_refused_unless_allowed(make_data_dir):
    data = DataDir.read(make_data_dir(num_utts=2, seconds=0.5))
    data.wav_scp = {utt: f"cat {entry} |" for utt, entry in data.wav_scp.items()}
    with pytest.raises(DataError, match="2 of 2 utterances") as err:
        compute_durations(data)
    assert str(err.value).count("shell pipe") == 2
    assert compute_durations(data, allow_pipes=True) == pytest.approx(dict.fromkeys(data.utts, 0.5))


def test_nj_must_be_positive():
    with pytest.raises(ConfigError):
        compute_durations(DataDir(), nj=0)
