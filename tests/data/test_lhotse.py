"""lhotse manifests <-> data dirs: lhotse itself loads and validates what to-lhotse writes, a data
dir comes back equal (with and without segments), and bad manifests are skipped or refused with
the manifest and line named."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from speechml.data.audio import load_utterance, write_audio
from speechml.data.conversion import RENAMED_FILE, SKIPPED_FILE
from speechml.data.datadir import DataDir, Segment
from speechml.data.from_lhotse import lhotse_to_datadir
from speechml.data.to_lhotse import RECORDINGS_FILE, SUPERVISIONS_FILE, datadir_to_lhotse
from speechml.data.validate import validate_data_dir
from speechml.errors import ConfigError, DataError

lhotse = pytest.importorskip("lhotse")
from lhotse.qa import validate_recordings_and_supervisions  # noqa: E402

RATE = 16000
TABLES = ("wav_scp", "text", "utt2spk", "utt2lang", "utt2dur", "utt2label", "segments")


def assert_valid(path: Path) -> None:
    problems = validate_data_dir(path, check_audio=True)
    assert [str(p) for p in problems if p.severity == "error"] == []


def assert_same_tables(back: DataDir, data: DataDir) -> None:
    for table in (*TABLES, "other_tables"):
        assert getattr(back, table) == getattr(data, table), table


@pytest.fixture
def whole_dir(make_data_dir) -> DataDir:
    """Four utterances (two speakers, eng and kat) that are whole files, every table filled."""
    path = make_data_dir(languages=("eng", "kat"), utt2dur=True, utt2label=True)
    data = DataDir.read(path)
    data.other_tables["spk2gender"] = {"spk1": "f", "spk2": "m"}
    data.other_tables["utt2uniq"] = {"spk1-utt000": "take 1", "spk2-utt001": "7"}
    data.write(path)
    return DataDir.read(path)


@pytest.fixture
def segmented_dir(tmp_path: Path, sine_wave) -> DataDir:
    """Three segments of a mono and a stereo recording of 1 s each."""
    write_audio(tmp_path / "mono.wav", sine_wave(300.0, 1.0), RATE)
    stereo = sine_wave(500.0, 1.0, channels=2) * np.array([1.0, 0.5], dtype=np.float32)
    soundfile.write(tmp_path / "stereo.wav", stereo, RATE)
    segments = {
        "s1-a": Segment("mono", 0.0, 0.4),
        "s1-b": Segment("mono", 0.5, 1.0),
        "s2-c": Segment("stereo", 0.25, 0.75),
    }
    data = DataDir(
        wav_scp={"mono": str(tmp_path / "mono.wav"), "stereo": str(tmp_path / "stereo.wav")},
        text={"s1-a": "one", "s1-b": "two", "s2-c": "three"},
        utt2spk={"s1-a": "s1", "s1-b": "s1", "s2-c": "s2"},
        utt2lang={"s1-a": "swh", "s1-b": "swh", "s2-c": "swh"},
        utt2dur={utt: seg.end - seg.start for utt, seg in segments.items()},
        segments=segments,
    )
    data.write(tmp_path / "data")
    return DataDir.read(tmp_path / "data")


def load_lhotse(directory: Path) -> tuple:
    recordings = lhotse.load_manifest(directory / RECORDINGS_FILE)
    supervisions = lhotse.load_manifest(directory / SUPERVISIONS_FILE)
    assert isinstance(recordings, lhotse.RecordingSet)
    assert isinstance(supervisions, lhotse.SupervisionSet)
    validate_recordings_and_supervisions(recordings, supervisions)
    return recordings, supervisions


def test_lhotse_loads_and_validates_what_to_lhotse_writes(whole_dir: DataDir, tmp_path) -> None:
    export = datadir_to_lhotse(whole_dir, tmp_path / "lhotse")
    assert (export.recordings, export.supervisions, export.skipped) == (4, 4, [])
    recordings, supervisions = load_lhotse(tmp_path / "lhotse")
    recording = recordings["spk2-utt001"]
    assert (recording.sampling_rate, recording.num_samples, recording.duration) == (
        RATE,
        RATE // 2,
        0.5,
    )
    assert recording.sources[0].source == whole_dir.wav_scp["spk2-utt001"]
    sup = supervisions["spk2-utt001"]
    assert (sup.recording_id, sup.start, sup.duration, sup.channel) == ("spk2-utt001", 0, 0.5, 0)
    assert (sup.text, sup.language, sup.speaker, sup.gender) == (
        "hello number 1",
        "kat",
        "spk2",
        "m",
    )
    assert sup.custom == {"label": "odd", "uniq": "7"}
    assert supervisions["spk1-utt002"].custom == {"label": "even"}


def test_round_trip_of_a_data_dir_without_segments(whole_dir: DataDir, tmp_path) -> None:
    datadir_to_lhotse(whole_dir, tmp_path / "lhotse")
    report = lhotse_to_datadir(
        tmp_path / "lhotse" / RECORDINGS_FILE,
        tmp_path / "lhotse" / SUPERVISIONS_FILE,
        tmp_path / "back",
    )
    assert (report.utterances, report.skipped, report.renamed) == (4, [], {})
    assert_same_tables(DataDir.read(tmp_path / "back"), whole_dir)
    assert not (tmp_path / "back" / SKIPPED_FILE).exists()


def test_round_trip_of_a_data_dir_with_segments(segmented_dir: DataDir, tmp_path) -> None:
    datadir_to_lhotse(segmented_dir, tmp_path / "lhotse")
    recordings, supervisions = load_lhotse(tmp_path / "lhotse")
    assert supervisions["s2-c"].channel == [0, 1]
    cuts = lhotse.CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    cuts = cuts.trim_to_supervisions(keep_overlapping=False).to_eager()
    assert len(cuts) == 3
    for cut in cuts:  # lhotse reads the samples that speechml reads (its mix of the channels)
        ours = load_utterance(segmented_dir, cut.supervisions[0].id)
        np.testing.assert_allclose(cut.load_audio().mean(axis=0), ours, atol=1e-4)
    lhotse_to_datadir(
        tmp_path / "lhotse" / RECORDINGS_FILE,
        tmp_path / "lhotse" / SUPERVISIONS_FILE,
        tmp_path / "back",
    )
    assert_same_tables(DataDir.read(tmp_path / "back"), segmented_dir)


def make_recording(rec_id: str, source: str, seconds: float = 0.5, **kwargs) -> object:
    """A lhotse Recording of a mono 16 kHz file (or of ``type=...`` / ``channels=[...]``)."""
    channels = kwargs.pop("channels", [0])
    kind = kwargs.pop("type", "file")
    return lhotse.Recording(
        id=rec_id,
        sources=[lhotse.AudioSource(type=kind, channels=channels, source=source)],
        sampling_rate=RATE,
        num_samples=int(seconds * RATE),
        duration=seconds,
        **kwargs,
    )


def write_manifests(root: Path, recordings: list, supervisions: list) -> tuple[Path, Path]:
    """Write the manifests with lhotse's own writer."""
    lhotse.RecordingSet.from_recordings(recordings).to_file(root / "recs.jsonl.gz")
    lhotse.SupervisionSet.from_segments(supervisions).to_file(root / "sups.jsonl.gz")
    return root / "recs.jsonl.gz", root / "sups.jsonl.gz"


def sup(sup_id: str, rec_id: str, start: float = 0.0, duration: float = 0.5, **fields) -> object:
    return lhotse.SupervisionSegment(sup_id, rec_id, start, duration, **fields)


@pytest.fixture
def audio(tmp_path: Path, sine_wave) -> Path:
    """``audio/a.wav`` .. ``audio/c.wav``: mono, 0.5 s, 16 kHz; relative paths from tmp_path."""
    for name in "abc":
        write_audio(tmp_path / "audio" / f"{name}.wav", sine_wave(400.0, 0.5), RATE)
    return tmp_path / "audio"


def test_from_lhotse_maps_languages_speakers_and_ids(audio: Path, tmp_path, caplog) -> None:
    recordings = [make_recording(name, f"audio/{name}.wav") for name in "abc"]
    recordings.append(make_recording("d", "audio/a.wav"))
    supervisions = [
        sup("a", "a", text="one", language="English", speaker="Speaker 1", gender="F"),
        sup("b", "b", text="two", language="ka", speaker="Speaker 1", custom={"label": 3}),
        sup("c", "c", text="three", language="en-US", custom={"label": "x", "accent": "north"}),
        sup("d", "d", text="four", language="eng"),
    ]
    supervisions[0].custom = {"label": "greet", "emb": {"array": [1, 2]}}
    recs, sups = write_manifests(tmp_path, recordings, supervisions)
    report = lhotse_to_datadir(recs, sups, tmp_path / "data", audio_root=tmp_path)
    assert_valid(tmp_path / "data")
    data = DataDir.read(tmp_path / "data")
    assert data.utt2spk == {"Speaker_1-a": "Speaker_1", "Speaker_1-b": "Speaker_1", "c": "c"}
    assert data.utt2lang == {"Speaker_1-a": "eng", "Speaker_1-b": "kat", "c": "eng"}
    assert data.utt2label == {"Speaker_1-a": "greet", "Speaker_1-b": "3", "c": "x"}
    assert data.wav_scp["c"] == str(audio / "c.wav") and not data.segments
    assert data.other_tables == {"spk2gender": {"Speaker_1": "F"}, "utt2accent": {"c": "north"}}
    assert report.renamed == {"Speaker_1-a": "a", "Speaker_1-b": "b"}
    assert (tmp_path / "data" / RENAMED_FILE).read_text() == "Speaker_1-a a\nSpeaker_1-b b\n"
    assert f"{sups}: fields not carried into {tmp_path / 'data'}: custom 'emb' (1)" in caplog.text
    # a table covers every utterance: "d" has no label while the others have one
    assert [str(row) for row in report.skipped] == [
        f"{sups}:4 (id 'd'): no custom 'label', while others have one"
    ]


def test_from_lhotse_gives_lang_to_supervisions_without_one(audio: Path, tmp_path) -> None:
    recs, sups = write_manifests(
        tmp_path,
        [make_recording("a", str(audio / "a.wav")), make_recording("b", str(audio / "b.wav"))],
        [sup("a", "a", text="one", language="Swahili"), sup("b", "b", text="two")],
    )
    lhotse_to_datadir(recs, sups, tmp_path / "data", lang="kat")
    assert DataDir.read(tmp_path / "data").utt2lang == {"a": "swa", "b": "kat"}
    with pytest.raises(DataError, match="unknown ISO 639-3 language code 'ka'"):
        lhotse_to_datadir(recs, sups, tmp_path / "data", lang="ka")


def test_from_lhotse_skips_what_a_data_dir_cannot_hold(audio: Path, tmp_path, sine_wave) -> None:
    ran = tmp_path / "ran"
    write_audio(audio / "long.wav", sine_wave(400.0, 1.0), RATE)
    recordings = [
        make_recording("good", str(audio / "long.wav"), seconds=1.0),
        make_recording("gone", str(audio / "missing.wav")),
        make_recording("cmd", f"touch {ran}", type="command"),
        make_recording("web", "https://example.org/a.wav", type="url"),
        make_recording("stereo", str(audio / "b.wav"), channels=[0, 1]),
        make_recording("unused", str(audio / "c.wav")),
        make_recording("fast", str(audio / "c.wav"), transforms=[{"name": "Speed", "kwargs": {}}]),
    ]
    supervisions = [
        sup("good-1", "good", 0.0, 0.5, text="one", language="eng"),
        sup("good-2", "good", 0.5, 0.5, text="two", language="eng"),
        sup("elvish", "good", 0.2, 0.3, text="three", language="Elvish"),
        sup("long", "good", 0.5, 0.9, text="four", language="eng"),
        sup("gone", "gone", text="five", language="eng"),
        sup("cmd", "cmd", text="six", language="eng"),
        sup("web", "web", text="seven", language="eng"),
        sup("left", "stereo", text="eight", language="eng", channel=0),
        sup("nowhere", "nothing", text="nine", language="eng"),
        sup("quiet", "good", 0.0, 0.2, text=" ", language="eng"),
        sup("fast", "fast", text="ten", language="eng"),
    ]
    recs, sups = write_manifests(tmp_path, recordings, supervisions)
    report = lhotse_to_datadir(recs, sups, tmp_path / "data")
    assert_valid(tmp_path / "data")
    data = DataDir.read(tmp_path / "data")
    assert data.segments == {
        "good-1": Segment("good", 0.0, 0.5),
        "good-2": Segment("good", 0.5, 1.0),
    }
    assert data.wav_scp == {"good": str(audio / "long.wav")}
    assert not ran.exists()  # the command was not run
    skipped = (tmp_path / "data" / SKIPPED_FILE).read_text().splitlines()
    expected = [
        f"{sups}:3 (id 'elvish'): language 'Elvish' is no ISO 639 code, language tag or English "
        "name",
        f"{sups}:4 (id 'long'): it ends at 1.4 s, after its recording (1 s)",
        f"{sups}:5 (id 'gone'): its recording 'gone' ({recs}:2): audio file not found: "
        f"{audio / 'missing.wav'}",
        f"{sups}:6 (id 'cmd'): its recording 'cmd' ({recs}:3): its audio is the command "
        f"'touch {ran}', which is not run (pass --allow-pipes to write it as a wav.scp pipe)",
        f"{sups}:7 (id 'web'): its recording 'web' ({recs}:4): its audio is the URL "
        "'https://example.org/a.wav'; download it and give the file",
        f"{sups}:8 (id 'left'): it is on channel [0] of recording 'stereo' (channels [0, 1]); "
        "speechml mixes all the channels of a wav.scp entry",
        f"{sups}:9 (id 'nowhere'): its recording 'nothing' is not in the recordings manifest",
        f"{sups}:10 (id 'quiet'): empty text",
        f"{sups}:11 (id 'fast'): its recording 'fast' ({recs}:7): it has audio transforms (Speed) "
        "that wav.scp cannot hold",
        f"{recs}:6 (id 'unused'): no supervision of {sups} is on this recording",
    ]
    assert skipped == expected
    assert [str(row) for row in report.skipped] == expected


def test_allow_pipes_writes_a_command_as_a_pipe_without_running_it(audio, tmp_path) -> None:
    ran = tmp_path / "ran"
    recs, sups = write_manifests(
        tmp_path,
        [make_recording("cmd", f"touch {ran}", type="command")],
        [sup("cmd", "cmd", text="six")],
    )
    lhotse_to_datadir(recs, sups, tmp_path / "data", allow_pipes=True)
    assert DataDir.read(tmp_path / "data").wav_scp == {"cmd": f"touch {ran} |"}
    assert not ran.exists()


def write_jsonl(path: Path, lines: list[object]) -> Path:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())
    return path


RECORDING = {
    "id": "a",
    "sources": [{"type": "file", "channels": [0], "source": "audio/a.wav"}],
    "sampling_rate": RATE,
    "num_samples": 8000,
    "duration": 0.5,
}
SUPERVISION = {"id": "a", "recording_id": "a", "start": 0, "duration": 0.5, "text": "one"}


@pytest.mark.parametrize(
    ("recordings", "supervisions", "error"),
    [
        ([RECORDING], [SUPERVISION, "{oops"], r"sups.jsonl.gz:2: not JSON: Expecting property"),
        (
            [SUPERVISION],
            [RECORDING],
            r"recs.jsonl.gz:1: not a lhotse Recording: no field 'sources' \(swapped\? give "
            r"RECORDINGS, then SUPERVISIONS\)",
        ),
        (
            [RECORDING, RECORDING],
            [SUPERVISION],
            r"recs.jsonl.gz:2: duplicated recording id 'a' \(first on line 1\)",
        ),
        (
            [RECORDING],
            [SUPERVISION, {**SUPERVISION, "id": "a "}],
            r"sups.jsonl.gz:2: supervision ids 'a' \(line 1\) and 'a ' are both the utterance 'a'",
        ),
        (
            [RECORDING],
            [{**SUPERVISION, "start": "0"}],
            r"sups.jsonl.gz:1: field 'start' is not a number: '0'",
        ),
        (
            [RECORDING],
            [{**SUPERVISION, "channel": [True]}],
            r"sups.jsonl.gz:1: field 'channel' is not a channel",
        ),
        (
            [RECORDING],
            [{**SUPERVISION, "text": 3}],
            r"sups.jsonl.gz:1: field 'text' is not a string",
        ),
        (
            [{**RECORDING, "sources": []}],
            [SUPERVISION],
            r"recs.jsonl.gz:1: field 'sources' is not a non-empty list",
        ),
        ([RECORDING], [[1, 2]], r"sups.jsonl.gz:1: expected a JSON object, got list"),
    ],
)
def test_a_broken_manifest_is_refused_naming_the_manifest_and_line(
    audio, tmp_path, recordings, supervisions, error
) -> None:
    recs = write_jsonl(tmp_path / "recs.jsonl.gz", recordings)
    sups = write_jsonl(tmp_path / "sups.jsonl.gz", supervisions)
    with pytest.raises(DataError, match=error):
        lhotse_to_datadir(recs, sups, tmp_path / "data", audio_root=tmp_path)
    assert not (tmp_path / "data").exists()


def test_manifest_files_that_are_not_manifests(audio, tmp_path) -> None:
    recs = write_jsonl(tmp_path / "recs.jsonl", [RECORDING])  # plain jsonl is read too
    sups = write_jsonl(tmp_path / "sups.jsonl", [SUPERVISION])
    lhotse_to_datadir(recs, sups, tmp_path / "data", audio_root=tmp_path)
    with pytest.raises(DataError, match=r"recs.json: expected a .jsonl or .jsonl.gz manifest"):
        lhotse_to_datadir(tmp_path / "recs.json", sups, tmp_path / "data")
    with pytest.raises(DataError, match=r"nothing.jsonl.gz: manifest not found"):
        lhotse_to_datadir(tmp_path / "nothing.jsonl.gz", sups, tmp_path / "data")
    (tmp_path / "cut.jsonl.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"cut.jsonl.gz: cannot read the manifest after line 0"):
        lhotse_to_datadir(tmp_path / "cut.jsonl.gz", sups, tmp_path / "data")
    bad = write_jsonl(tmp_path / "bad.jsonl", [{**SUPERVISION, "gender": "m"}])
    bad.write_bytes(bad.read_bytes() + b'{"id": "\xff"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: not valid UTF-8"):
        lhotse_to_datadir(recs, bad, tmp_path / "data", audio_root=tmp_path)


def test_a_speaker_with_two_genders_and_no_usable_supervision_are_errors(audio, tmp_path):
    recordings = [make_recording(name, str(audio / f"{name}.wav")) for name in "ab"]
    recs, sups = write_manifests(
        tmp_path,
        recordings,
        [sup("a", "a", speaker="s", gender="m"), sup("b", "b", speaker="s", gender="f")],
    )
    with pytest.raises(DataError, match=r"sups.jsonl.gz:2: speaker 's' has gender 'f' here, 'm'"):
        lhotse_to_datadir(recs, sups, tmp_path / "data")
    recs, sups = write_manifests(tmp_path, recordings, [sup("a", "zzz")])
    with pytest.raises(DataError, match=r"sups.jsonl.gz: no usable row \(3 skipped: "):
        lhotse_to_datadir(recs, sups, tmp_path / "data")


def test_to_lhotse_skips_unreadable_audio_and_replaces_only_manifest_dirs(
    segmented_dir: DataDir, tmp_path
) -> None:
    Path(segmented_dir.wav_scp["stereo"]).unlink()
    export = datadir_to_lhotse(segmented_dir, tmp_path / "lhotse")
    missing = segmented_dir.wav_scp["stereo"]
    assert export.skipped == [f"utterance s2-c: {missing}: audio file not found"]
    assert (tmp_path / "lhotse" / SKIPPED_FILE).read_text() == export.skipped[0] + "\n"
    recordings, supervisions = load_lhotse(tmp_path / "lhotse")
    assert [s.id for s in supervisions] == ["s1-a", "s1-b"] and len(recordings) == 1
    datadir_to_lhotse(segmented_dir, tmp_path / "lhotse")  # a manifest dir is replaced
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="precious: exists and is not a lhotse manifest dir"):
        datadir_to_lhotse(segmented_dir, tmp_path / "precious")
    segmented_dir.wav_scp = {"mono": "sox a.wav -t wav - |", "stereo": "sox b.wav -t wav - |"}
    with pytest.raises(DataError, match=r"no usable utterance \(3 skipped: utterance s1-a: "):
        datadir_to_lhotse(segmented_dir, tmp_path / "lhotse")


def test_to_lhotse_needs_the_extra_and_from_lhotse_does_not(whole_dir, tmp_path, monkeypatch):
    datadir_to_lhotse(whole_dir, tmp_path / "lhotse")
    monkeypatch.setitem(sys.modules, "lhotse", None)  # as if it were not installed
    with pytest.raises(ConfigError, match=r"pip install 'speechml\[lhotse\]'"):
        datadir_to_lhotse(whole_dir, tmp_path / "again")
    lhotse_to_datadir(
        tmp_path / "lhotse" / RECORDINGS_FILE,
        tmp_path / "lhotse" / SUPERVISIONS_FILE,
        tmp_path / "back",
    )
    assert len(DataDir.read(tmp_path / "back")) == 4


def test_the_converters_import_without_lhotse() -> None:
    code = (
        "import sys; sys.modules['lhotse'] = None; "
        "import speechml.cli.convert, speechml.data.to_lhotse, speechml.data.from_lhotse"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
