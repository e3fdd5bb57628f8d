"""validate_data_dir and fix_data_dir on every kind of bad input a user may bring."""

from __future__ import annotations

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
