"""validate_data_dir and fix_data_dir on every kind of bad input a user may bring."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile

from speechml.data.datadir import DataDir
from speechml.data.validate import Problem, fix_data_dir, validate_data_dir
from speechml.errors import DataError

# The utterances of make_data_dir(), in file (byte) order: speakers 1, 1, 2, 2.
U0, U1, U2, U3 = "spk1-utt000", "spk1-utt002", "spk2-utt001", "spk2-utt003"


def _found(problems, severity, file, line, utt, text):
    """The problem matching all of these, or a failure listing what was found."""
    for problem in problems:
        if (problem.severity, problem.line, problem.utt) == (severity, line, utt) and (
            problem.file.endswith(file) and text in problem.message
        ):
            return problem
    raise AssertionError(f"no {severity} {file}:{line} {utt} {text!r} in {problems}")


def _errors(problems):
    return [p for p in problems if p.severity == "error"]


def _rewrite(path, name, lines, newline="\n", bom=False):
    data = (("\ufeff" if bom else "") + "".join(line + newline for line in lines)).encode()
    (path / name).write_bytes(data)


def test_a_valid_data_dir_has_no_problem(make_data_dir):
    path = make_data_dir(utt2dur=True, utt2label=True, languages=("eng", "kat"))
    assert validate_data_dir(path, check_audio=True) == []


def test_problem_reads_file_line_utterance_message():
    problem = Problem("error", "data/train/text", 3, "u1", "empty transcript")
    assert str(problem) == "data/train/text:3: utterance u1: empty transcript"
    assert str(Problem("warning", "d/wav.scp", None, None, "x")) == "d/wav.scp: x"


def test_missing_directory_and_required_files(make_data_dir, tmp_path):
    assert [str(p) for p in validate_data_dir(tmp_path / "nope")] == [
        f"{tmp_path / 'nope'}: data directory not found"
    ]
    path = make_data_dir()
    (path / "text").unlink()
    _found(validate_data_dir(path), "error", "text", None, None, "required file is missing")
    assert validate_data_dir(path, require_text=False) == []


def test_duplicated_ids_name_both_lines(make_data_dir):
    path = make_data_dir()
    _rewrite(path, "text", [f"{U0} a", f"{U0} b", f"{U1} c", f"{U2} d", f"{U3} e"])
    problems = validate_data_dir(path)
    _found(problems, "error", "text", 2, None, f"duplicated id '{U0}' (first on line 1)")
    assert len(_errors(problems)) == 1


def test_unsorted_ids(make_data_dir):
    path = make_data_dir()
    _rewrite(path, "utt2lang", [f"{U1} eng", f"{U0} eng", f"{U2} eng", f"{U3} eng"])
    problems = validate_data_dir(path)
    _found(problems, "error", "utt2lang", 2, None, f"not sorted: '{U0}' comes after '{U1}'")
    assert len(_errors(problems)) == 1


def test_empty_transcript(make_data_dir):
    path = make_data_dir()
    _rewrite(path, "text", [f"{U0} a", U1, f"{U2} c", f"{U3} d"])
    problems = validate_data_dir(path)
    assert str(_found(problems, "error", "text", 2, U1, "empty transcript")).endswith(
        f"text:2: utterance {U1}: empty transcript"
    )


def test_transcripts_that_do_not_match_utt2spk(make_data_dir):
    path = make_data_dir()
    _rewrite(path, "text", [f"{U0} a", f"{U2} c", f"{U3} d", "spk3-utt009 stray"])
    problems = validate_data_dir(path)
    _found(problems, "error", "text", 4, "spk3-utt009", "not in utt2spk")
    _found(problems, "error", "utt2spk", 2, U1, "has no entry in text")
    assert len(_errors(problems)) == 2


def test_crlf_and_bom(make_data_dir):
    path = make_data_dir()
    lines = [f"{u} hello" for u in (U0, U1, U2, U3)]
    _rewrite(path, "text", lines, newline="\r\n", bom=True)
    problems = validate_data_dir(path)
    _found(problems, "error", "text", 1, None, "byte-order mark")
    _found(problems, "error", "text", None, None, "CRLF")
    assert len(_errors(problems)) == 2  # the content itself is read correctly


def test_text_not_in_nfc(make_data_dir):
    path = make_data_dir()
    _rewrite(path, "text", [f"{U0} a", f"{U1} cafe\u0301", f"{U2} c", f"{U3} d"])
    _found(validate_data_dir(path), "error", "text", 2, U1, "not in Unicode NFC")


def test_unknown_language_code(make_data_dir):
    path = make_data_dir()
    _rewrite(path, "utt2lang", [f"{U0} eng", f"{U1} ka", f"{U2} eng", f"{U3} qqq"])
    problems = validate_data_dir(path)
    _found(problems, "error", "utt2lang", 2, U1, "'ka' (did you mean 'kat'?)")
    _found(problems, "error", "utt2lang", 4, U3, "unknown ISO 639-3 language code 'qqq'")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "duration must be positive"),
        ("-1.5", "must be positive"),
        ("x", "not a number"),
        ("nan", "must be a finite number"),
        ("inf", "must be a finite number"),
    ],
)
def test_bad_durations(make_data_dir, value, message):
    path = make_data_dir(utt2dur=True)
    _rewrite(path, "utt2dur", [f"{U0} 0.5", f"{U1} {value}", f"{U2} 0.5", f"{U3} 0.5"])
    _found(validate_data_dir(path), "error", "utt2dur", 2, U1, message)


@pytest.mark.parametrize(
    ("name", "value", "utt", "message"),
    [
        ("wav.scp", "", None, f"recording '{U1}': no audio path"),
        ("utt2spk", "spk 1", U1, "a speaker id is one word, got 'spk 1'"),
        ("utt2label", "", U1, "no label"),
    ],
)
def test_bad_values_name_line_and_id(make_data_dir, name, value, utt, message):
    path = make_data_dir(utt2label=True)
    lines = (path / name).read_text().splitlines()
    lines[1] = f"{U1} {value}".strip()
    _rewrite(path, name, lines)
    _found(validate_data_dir(path), "error", name, 2, utt, message)


def test_wav_scp_pipes_are_refused_unless_allowed(make_data_dir):
    path = make_data_dir()
    data = DataDir.read(path)
    data.wav_scp[U1] = f"cat {data.wav_scp[U1]} |"
    data.write(path)
    problems = validate_data_dir(path, check_audio=True)
    _found(problems, "error", "wav.scp", 2, None, f"recording '{U1}' is a shell pipe")
    assert len(_errors(problems)) == 1
    assert validate_data_dir(path, check_audio=True, allow_pipes=True) == []


def test_utterance_without_audio_entry_and_unused_recording(make_data_dir):
    path = make_data_dir()
    data = DataDir.read(path)
    data.wav_scp["orphan"] = data.wav_scp.pop(U2)
    data.write(path)
    problems = validate_data_dir(path)
    _found(problems, "error", "wav.scp", None, U2, "has no entry in wav.scp")
    _found(problems, "warning", "wav.scp", 1, None, "recording 'orphan' is used by no utterance")


def test_spk2utt_must_agree_with_utt2spk(make_data_dir):
    path = make_data_dir()
    _rewrite(path, "spk2utt", [f"spk1 {U0}", f"spk2 {U1} {U3} {U2}"])
    problems = validate_data_dir(path)
    _found(problems, "error", "spk2utt", 1, None, "speaker 'spk1' lists other utterances")
    _found(problems, "error", "spk2utt", 2, None, "speaker 'spk2' lists other utterances")


def test_speakers_sorted_unlike_utterances_is_a_warning(make_data_dir):
    path = make_data_dir()
    _rewrite(path, "utt2spk", [f"{U0} b", f"{U1} a", f"{U2} b", f"{U3} a"])
    (path / "spk2utt").unlink()
    problems = validate_data_dir(path)
    _found(problems, "warning", "utt2spk", 2, U1, "speaker id a prefix of the utterance id")
    assert _errors(problems) == []


def test_segments(make_data_dir):
    path = make_data_dir(num_utts=2, num_speakers=1, seconds=1.0)
    first, second = DataDir.read(path).utts
    _rewrite(path, "wav.scp", [f"rec {path / 'audio' / first}.wav"])
    _rewrite(path, "segments", [f"{first} rec 0.0 0.5", f"{second} rec 0.5 2.0"])
    problems = validate_data_dir(path)
    assert problems == []
    problems = validate_data_dir(path, check_audio=True)
    _found(problems, "error", "segments", 2, second, "after the end of its recording (1.000 s)")
    _rewrite(path, "segments", [f"{first} other 0.0 0.5", f"{second} rec 0.7 0.5"])
    problems = validate_data_dir(path)
    _found(problems, "error", "segments", 1, first, "recording 'other' has no entry in wav.scp")
    _found(problems, "error", "segments", 2, second, "segment end 0.5 is not after its start 0.7")


@pytest.mark.parametrize(
    "value",
    ["rec 0.5 1.0 extra", "rec 0.5", "rec nan 1.0", "rec -0.5 1.0", "rec 0.5 inf", "rec 1 0.5"],
)
def test_validate_and_read_refuse_the_same_segments_alike(make_data_dir, value):
    path = make_data_dir(num_utts=2, num_speakers=1, seconds=1.0)
    first, second = DataDir.read(path).utts
    _rewrite(path, "wav.scp", [f"rec {path / 'audio' / first}.wav"])
    _rewrite(path, "segments", [f"{first} rec 0.0 0.5", f"{second} {value}"])
    with pytest.raises(DataError) as err:
        DataDir.read(path)
    assert (err.value.path, err.value.line) == (str(path / "segments"), 2)
    problems = validate_data_dir(path, check_audio=True)
    assert problems == [Problem("error", str(path / "segments"), 2, second, err.value.reason)]


def test_a_malformed_segment_still_uses_its_recording(make_data_dir):
    path = make_data_dir(num_utts=2, num_speakers=1, seconds=1.0)
    first, second = DataDir.read(path).utts
    _rewrite(path, "wav.scp", [f"{u} {path / 'audio' / u}.wav" for u in (first, second)])
    _rewrite(path, "segments", [f"{first} {first} 0.0 0.5", f"{second} {second} 0.5"])
    problems = validate_data_dir(path, check_audio=True)
    _found(problems, "error", "segments", 2, second, "expected 'recording start end'")
    assert len(problems) == 1  # no "recording used by no utterance" warning


def test_check_audio_reports_missing_corrupt_and_empty_files(make_data_dir):
    path = make_data_dir()
    data = DataDir.read(path)
    (path / "audio" / f"{U0}.wav").unlink()
    (path / "audio" / f"{U1}.wav").write_bytes(np.random.default_rng(0).bytes(2000))
    soundfile.write(data.wav_scp[U2], np.zeros(0, dtype=np.float32), 16000)
    assert validate_data_dir(path) == []  # audio is opened only on request
    problems = validate_data_dir(path, check_audio=True)
    _found(problems, "error", "wav.scp", 1, U0, f"{data.wav_scp[U0]}: audio file not found")
    _found(problems, "error", "wav.scp", 2, U1, "cannot read audio (corrupt")
    _found(problems, "error", "wav.scp", 3, U2, "audio is empty (0 samples)")
    assert len(problems) == 3


def test_check_audio_reports_other_rates_and_stereo_as_info(make_data_dir, sine_wave):
    path = make_data_dir(sample_rate=8000, num_utts=2)
    data = DataDir.read(path)
    soundfile.write(data.wav_scp[U2], sine_wave(440.0, 0.5, 48000, channels=2), 48000)
    problems = validate_data_dir(path, check_audio=True)
    _found(problems, "info", "wav.scp", 1, U0, "8000 Hz with 1 channel(s)")
    _found(problems, "info", "wav.scp", 2, U2, "48000 Hz with 2 channel(s)")
    assert _errors(problems) == []


def test_file_not_in_utf8_is_an_error_naming_the_line(make_data_dir):
    path = make_data_dir()
    (path / "text").write_bytes(f"{U0} a\n{U1} \xff\n".encode("latin-1"))
    _found(validate_data_dir(path), "error", "text", 2, None, "not valid UTF-8")


# --- fix_data_dir ---------------------------------------------------------------------------


def test_fix_repairs_format_and_reports_every_dropped_utterance(make_data_dir):
    path = make_data_dir(num_utts=5)
    lines = [f"{U1} cafe\u0301", f"{U0} a", f"{U0} again", U2, "spk9-utt099 stray", ""]
    _rewrite(path, "text", lines, newline="\r\n", bom=True)
    _rewrite(path, "utt2lang", [f"{u} eng" for u in (U0, U1, U2)] + [f"{U3} ka"])
    original = (path / "text").read_bytes()

    report = fix_data_dir(path)

    assert report.out == path and report.kept == 2
    assert report.dropped == {
        "spk1-utt004": ["no entry in text", "no entry in utt2lang"],
        U2: ["text:4: empty transcript"],
        U3: [
            "no entry in text",
            "utt2lang:4: unknown ISO 639-3 language code 'ka' (did you mean 'kat'?)",
        ],
        "spk9-utt099": [
            "no entry in utt2spk",
            "no entry in utt2lang",
            "recording 'spk9-utt099' has no entry in wav.scp",
        ],
    }
    for repair in (
        "text: removed the UTF-8 byte-order mark",
        "text: converted CRLF line endings to LF",
        "text:6: removed an empty line",
        "text: sorted in C/byte order",
        f"text:3: removed a duplicated id '{U0}' (kept line 2)",
        "text:1: normalised the transcript to Unicode NFC",
        f"wav.scp:4: removed recording '{U2}', used by no kept utterance",
        "spk2utt: regenerated from utt2spk",
    ):
        assert repair in report.repairs
    assert (path / "text").read_text(encoding="utf-8") == f"{U0} a\n{U1} café\n"
    assert (path / "spk2utt").read_text() == f"spk1 {U0} {U1}\n"
    assert (path / ".backup" / "text").read_bytes() == original
    written = (path / "fix_report.txt").read_text()
    assert written == report.to_text()
    assert f"dropped {U2}: text:4: empty transcript\n" in written
    assert "kept 2 utterances, dropped 4" in written
    assert validate_data_dir(path, check_audio=True) == []


def test_fix_into_another_directory_leaves_the_source_alone(make_data_dir, tmp_path):
    path = make_data_dir(utt2dur=True)
    _rewrite(path, "utt2dur", [f"{U0} 0.5", f"{U1} -1", f"{U2} 0.5", f"{U3} 0.5"])
    before = {f.name: f.read_bytes() for f in path.iterdir() if f.is_file()}
    report = fix_data_dir(path, tmp_path / "fixed")
    assert report.dropped == {U1: ["utt2dur:2: duration must be positive, got -1"]}
    assert {f.name: f.read_bytes() for f in path.iterdir() if f.is_file()} == before
    assert not (path / ".backup").exists()
    assert DataDir.read(tmp_path / "fixed").utts == [U0, U2, U3]
    assert (tmp_path / "fixed" / "fix_report.txt").is_file()
    assert validate_data_dir(tmp_path / "fixed") == []


def test_fix_of_a_valid_dir_changes_nothing(make_data_dir):
    path = make_data_dir(utt2dur=True, utt2label=True)
    before = {f.name: f.read_bytes() for f in path.iterdir() if f.is_file()}
    report = fix_data_dir(path)
    assert (report.kept, report.repairs, report.dropped) == (4, [], {})
    after = {f.name: f.read_bytes() for f in path.iterdir() if f.is_file()}
    assert after.pop("fix_report.txt")
    assert after == before


def test_fix_drops_utterances_without_audio_entry(make_data_dir):
    path = make_data_dir()
    data = DataDir.read(path)
    del data.wav_scp[U3]
    data.write(path)
    report = fix_data_dir(path)
    assert report.dropped == {U3: [f"recording '{U3}' has no entry in wav.scp"]}


def test_fix_needs_wav_scp_and_utt2spk(make_data_dir):
    path = make_data_dir()
    (path / "utt2spk").unlink()
    with pytest.raises(DataError, match="required file is missing; it cannot be fixed"):
        fix_data_dir(path)


def test_a_dir_whose_tables_are_all_empty_is_an_error(make_data_dir):
    path = make_data_dir()
    for name in ("wav.scp", "text", "utt2spk", "spk2utt", "utt2lang"):
        (path / name).write_text("")
    problems = validate_data_dir(path, check_audio=True)
    assert [str(p) for p in problems] == [
        f"{path / 'utt2spk'}: no utterance: the data dir is empty"
    ]


def test_a_truncated_wav_is_a_warning_naming_the_file(make_data_dir):
    path = make_data_dir(seconds=1.0)
    wav = DataDir.read(path).wav_scp[U1]
    whole = open(wav, "rb").read()
    open(wav, "wb").write(whole[: 44 + (len(whole) - 44) // 3])
    assert validate_data_dir(path) == []  # audio is opened only on request
    problems = validate_data_dir(path, check_audio=True)
    found = _found(problems, "warning", "wav.scp", 2, U1, "truncated WAV file")
    assert found.message == (
        f"{wav}: truncated WAV file: its header says 1.000 s, only 0.333 s are present"
    )
    assert len(problems) == 1


def _spoil_audio(path):
    """Missing, zero-byte, text and random-bytes audio for U0, U1, U2, U3 of make_data_dir(6)."""
    data = DataDir.read(path)
    Path(data.wav_scp[U0]).unlink()
    Path(data.wav_scp[U1]).write_bytes(b"")
    Path(data.wav_scp[U2]).write_text("version https://git-lfs.github.com/spec/v1\n")
    Path(data.wav_scp[U3]).write_bytes(np.random.default_rng(0).bytes(2000))
    return data


def test_fix_with_check_audio_drops_unusable_audio_with_its_reason(make_data_dir):
    path = make_data_dir(num_utts=6)
    data = _spoil_audio(path)
    assert fix_data_dir(path).dropped == {}  # the audio is opened only on request
    assert "audio: not opened (with --check-audio" in (path / "fix_report.txt").read_text()

    report = fix_data_dir(path, check_audio=True)

    assert report.kept == 2 and report.audio_checked
    wav = data.wav_scp
    (corrupt,) = report.dropped.pop(U3)  # libsndfile's own words end it
    assert corrupt.startswith(f"wav.scp:5: {wav[U3]}: cannot read audio (corrupt or unsupported")
    assert report.dropped == {
        U0: [f"wav.scp:1: {wav[U0]}: audio file not found"],
        U1: [f"wav.scp:2: {wav[U1]}: audio file is empty (0 bytes)"],
        U2: [
            f"wav.scp:4: {wav[U2]}: cannot read audio: the file holds text, not audio: "
            "'version https://git-lfs.github.com/spec/v1' (a Git LFS pointer: run git lfs pull)"
        ],
    }
    written = (path / "fix_report.txt").read_text()
    assert (
        f"dropped {U1}: wav.scp:2: {data.wav_scp[U1]}: audio file is empty (0 bytes)\n" in written
    )
    assert "audio: every file used was opened\n" in written
    assert validate_data_dir(path, check_audio=True) == []


def test_fix_with_check_audio_drops_segments_past_the_recording_and_keeps_a_warning(
    make_data_dir,
):
    path = make_data_dir(num_utts=2, num_speakers=1, seconds=1.0)
    first, second = DataDir.read(path).utts
    wav = path / "audio" / f"{first}.wav"
    whole = wav.read_bytes()
    wav.write_bytes(whole[: 44 + (len(whole) - 44) // 2])  # 0.5 s of 1 s left
    _rewrite(path, "wav.scp", [f"rec {wav}"])
    _rewrite(path, "segments", [f"{first} rec 0.0 0.4", f"{second} rec 0.4 0.9"])
    report = fix_data_dir(path, check_audio=True)
    assert report.dropped == {
        second: ["segments:2: segment ends at 0.9 s, after the end of its recording (0.500 s)"]
    }
    assert report.warnings == [
        f"wav.scp:1: {wav}: truncated WAV file: its header says 1.000 s, only 0.500 s are present"
    ]
    assert f"warning wav.scp:1: {wav}: truncated" in (path / "fix_report.txt").read_text()


def test_fix_that_would_keep_nothing_leaves_the_tables_and_says_why(make_data_dir):
    path = make_data_dir(num_utts=2, num_speakers=1)
    for wav in (path / "audio").iterdir():
        wav.write_text("not audio\n")
    before = {f.name: f.read_bytes() for f in path.iterdir() if f.is_file()}
    with pytest.raises(DataError, match=r"no usable utterance \(2 dropped; see .*fix_report"):
        fix_data_dir(path, check_audio=True)
    after = {f.name: f.read_bytes() for f in path.iterdir() if f.is_file()}
    assert "dropped spk1-utt000: wav.scp:1: " in after.pop("fix_report.txt").decode()
    assert after == before and not (path / ".backup").exists()


def _add_other_tables(path):
    _rewrite(path, "spk2gender", ["spk1 f", "spk2 m"])
    _rewrite(path, "utt2uniq", [f"{u} orig-{u}" for u in (U0, U1, U2, U3)])
    _rewrite(path, "reco2file_and_channel", [f"{u} {u} A" for u in (U0, U1, U2, U3)])


def test_other_tables_are_validated(make_data_dir):
    path = make_data_dir()
    _add_other_tables(path)
    assert validate_data_dir(path) == []
    _rewrite(path, "spk2gender", ["spk2 m", "spk1 f", "spk9 f", "spk3"])
    _rewrite(path, "utt2uniq", [f"{U0} a", "stray b"])
    problems = validate_data_dir(path)
    _found(problems, "error", "spk2gender", 2, None, "not sorted")
    _found(problems, "error", "spk2gender", 3, None, "speaker 'spk9' is the speaker of no")
    _found(problems, "error", "spk2gender", 4, None, "speaker 'spk3': no value")
    _found(problems, "error", "utt2uniq", 2, "stray", "not in utt2spk")


def test_fix_keeps_other_tables_for_what_is_kept(make_data_dir, tmp_path, caplog):
    path = make_data_dir()
    _add_other_tables(path)
    _rewrite(path, "text", [f"{U0} a", f"{U1} b", f"{U2} c", U3])  # U3, the last of spk2, goes
    _rewrite(path, "utt2spk", [f"{U0} spk1", f"{U1} spk1", f"{U2} spk2", f"{U3} spk2"])
    _rewrite(path, "spk2gender", ["spk1 f", "spk2 m", "spk9 f"])
    (path / "README").write_text("where the data comes from\n")
    with caplog.at_level(logging.WARNING):
        report = fix_data_dir(path, tmp_path / "fixed")
    assert list(report.dropped) == [U3]
    fixed = DataDir.read(tmp_path / "fixed")
    assert fixed.other_tables["spk2gender"] == {"spk1": "f", "spk2": "m"}
    assert set(fixed.other_tables["utt2uniq"]) == {U0, U1, U2}
    assert set(fixed.other_tables["reco2file_and_channel"]) == {U0, U1, U2}
    assert "spk2gender:3: removed speaker 'spk9': not in the kept data" in report.repairs
    assert not any("utt2uniq" in repair for repair in report.repairs)  # U3 is in dropped
    assert caplog.messages == [
        f"{path}: not carried into {tmp_path / 'fixed'} (not a data-dir table): README"
    ]
    assert validate_data_dir(tmp_path / "fixed") == []
    fix_data_dir(path)  # in place, the originals of the other tables are backed up too
    assert (path / ".backup" / "spk2gender").read_text() == "spk1 f\nspk2 m\nspk9 f\n"
    assert (path / "spk2gender").read_text() == "spk1 f\nspk2 m\n"
