"""Check a Kaldi data dir against the contract (Kaldi's ``validate_data_dir.sh``) and repair it
(Kaldi's ``fix_data_dir.sh``).

:func:`validate_data_dir` reads the files leniently and returns every :class:`Problem` it finds,
each naming the file, the line and the utterance. :func:`fix_data_dir` repairs what can be
repaired without guessing (byte-order mark, CRLF, Unicode NFC, order, duplicated ids, spk2utt)
and drops the utterances that cannot be used (with ``check_audio``, also those whose audio is
missing, empty, not audio or corrupt), writing one line per dropped utterance, with the reason,
into ``fix_report.txt``. The other Kaldi tables (``spk2gender``, ``utt2uniq``...) are checked
and kept, restricted to the utterances, speakers and recordings kept.

Example:
    >>> lines = Path("data/train/text").read_text().splitlines()
    >>> lines[2] = lines[2].split()[0]  # spk1-utt004 loses its transcript
    >>> _ = Path("data/train/text").write_text("\\n".join(lines) + "\\n")
    >>> for problem in validate_data_dir("data/train"):
    ...     print(problem.severity, problem)
    error data/train/text:3: utterance spk1-utt004: empty transcript
    >>> print(fix_data_dir("data/train").to_text())
    # speechml data fix data/train -> data/train
    kept 7 utterances, dropped 1
    audio: not opened (with --check-audio, ...)
    changed wav.scp:3: removed recording 'spk1-utt004', used by no kept utterance
    changed spk2utt: regenerated from utt2spk
    dropped spk1-utt004: text:3: empty transcript
    <BLANKLINE>
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import soundfile

from speechml.data.audio import audio_duration, is_pipe, wav_truncation
from speechml.data.datadir import (
    FIX_REPORT,
    TABLE_FILES,
    DataDir,
    carried_table_kind,
    carried_tables_in,
    files_not_carried,
    keep_keys,
    parse_duration,
    parse_segment,
    warn_left_behind,
)
from speechml.data.table import RawTable, TableLine, read_raw_table, sort_key, write_table
from speechml.errors import AudioError, DataError
from speechml.io import atomic_write_bytes, atomic_write_text
from speechml.lang.languages import check_language_code
from speechml.progress import progress_bar

Severity = Literal["error", "warning", "info"]

#: Tables keyed by utterance id that must list exactly the utterances of ``utt2spk``.
UTT_TABLES = ("text", "utt2lang", "utt2dur", "utt2label", "segments")
#: Files every data dir needs (``text`` too, unless the caller says it has none).
REQUIRED_FILES = ("wav.scp", "utt2spk")
#: The sample rate and channel count that audio is converted to when loaded.
TARGET_RATE, TARGET_CHANNELS = 16000, 1
#: How far (seconds) a segment may end past the end of its recording (rounding of ``%.3f``).
SEGMENT_END_TOLERANCE = 0.01

_FIXABLE = " (speechml data fix repairs this)"
#: Tables with a field of their own keyed by something other than an utterance.
_KEY_KINDS = {"wav.scp": "recording", "spk2utt": "speaker"}
_EMPTY_VALUE = {
    "wav.scp": "no audio path",
    "text": "empty transcript",
    "utt2spk": "no speaker id",
    "utt2lang": "no language code",
    "utt2dur": "no duration",
    "utt2label": "no label",
    "segments": "no segment (expected 'recording start end')",
    "spk2utt": "no utterances",
}


@dataclass(frozen=True)
class Problem:
    """One finding of :func:`validate_data_dir`.

    ``str(problem)`` reads ``data/train/text:3: utterance u1: empty transcript``.
    """

    severity: Severity  # "error": the data cannot be used as is; "warning"/"info": it can
    file: str  # the file concerned (or the directory)
    line: int | None  # 1-based line in ``file``, if known
    utt: str | None  # the utterance concerned, if any
    message: str  # what is wrong

    @classmethod
    def from_error(cls, err: DataError, severity: Severity = "error") -> Problem:
        """The problem that a :class:`DataError` describes."""
        return cls(severity, err.path or "", err.line, err.utt, err.reason)

    def __str__(self) -> str:
        return str(DataError(self.message, self.file, self.line, self.utt))


def _value_problem(name: str, value: str) -> str | None:
    """Why ``value`` is not a valid value of table ``name`` (None if it is)."""
    if not value:
        return _EMPTY_VALUE.get(name, "no value")
    if name == "utt2spk" and len(value.split()) > 1:
        return f"a speaker id is one word, got {value!r}"
    if name == "utt2lang":
        try:
            check_language_code(value)
        except DataError as err:
            return err.reason
    elif name == "utt2dur":
        return _parse_problem(parse_duration, value)
    elif name == "segments":
        return _parse_problem(parse_segment, value)
    return None


def _parse_problem(parse: Callable[[str], object], value: str) -> str | None:
    """Why ``parse`` (:func:`parse_duration` or :func:`parse_segment`) refuses ``value``."""
    try:
        parse(value)
    except DataError as err:
        return err.reason
    return None


def _key_kind(name: str) -> str | None:
    """What the keys of table ``name`` are called in messages; None for utterances."""
    kind = _KEY_KINDS.get(name) or carried_table_kind(name)
    return None if kind == "utterance" else kind


def _table_names(directory: Path) -> list[str]:
    """The tables of a data dir to read: those with a field, spk2utt, the carried ones."""
    return [*TABLE_FILES, "spk2utt", *carried_tables_in(directory)]


def _first_entries(raw: RawTable) -> dict[str, TableLine]:
    """Key -> its first line (later duplicates are reported, not used)."""
    first: dict[str, TableLine] = {}
    for entry in raw.lines:
        first.setdefault(entry.key, entry)
    return first


def _recording(utt: str, segments: dict[str, TableLine] | None) -> str | None:
    """The recording id of ``utt``: the first field of its segment, even a malformed one
    (None if it has no segment or an empty one)."""
    if segments is None:
        return utt
    entry = segments.get(utt)
    fields = entry.value.split() if entry is not None else []
    return fields[0] if fields else None


@dataclass
class _Validation:
    """The state of one validation: the tables read so far and the problems found."""

    directory: Path
    first: dict[str, dict[str, TableLine]] = field(default_factory=dict)  # name -> key -> line
    problems: list[Problem] = field(default_factory=list)

    def add(
        self,
        severity: Severity,
        message: str,
        name: str,
        line: int | None = None,
        utt: str | None = None,
    ) -> None:
        self.problems.append(Problem(severity, str(self.directory / name), line, utt, message))

    def read(self, name: str) -> RawTable:
        """Read table ``name`` (leniently) and remember it."""
        raw = read_raw_table(self.directory / name)
        self.first[name] = _first_entries(raw)
        return raw


def validate_data_dir(
    path: str | Path,
    check_audio: bool = False,
    allow_pipes: bool = False,
    require_text: bool = True,
) -> list[Problem]:
    """Check a data dir against the contract; return every problem found (empty if valid).

    Rules (those of Kaldi's ``validate_data_dir.sh``, on our files): ``wav.scp``, ``utt2spk``
    and (if ``require_text``) ``text`` exist; every table is UTF-8 without BOM or CRLF, sorted in
    C/byte order, without duplicated ids or empty lines; ``text``, ``utt2lang``, ``utt2dur``,
    ``utt2label`` and ``segments`` hold exactly the utterances of ``utt2spk``; ``spk2utt`` (if
    present) agrees with ``utt2spk``; speakers sort like their utterances (a warning: Kaldi wants
    the speaker id as a prefix of the utterance id); every utterance has a ``wav.scp`` entry
    (through ``segments`` when present); transcripts are non-empty and in Unicode NFC; language
    codes are ISO 639-3; durations and segments are positive; ``wav.scp`` pipes are refused
    unless ``allow_pipes``; ``utt2spk`` lists at least one utterance. The other Kaldi tables
    (``spk2gender``, ``utt2uniq``, ``reco2file_and_channel``...) have the same format rules,
    a value on every line, and keys that are utterances, speakers or recordings of the dir.

    Args:
        path: the data directory.
        check_audio: also open every audio file used: it must exist, be readable and hold
            samples; a rate other than 16 kHz or several channels is reported as "info" (loading
            resamples and down-mixes), a WAV file cut short (its header promises more than is
            there) as a warning. Segments must end within their recording.
        allow_pipes: accept ``wav.scp`` entries that are shell pipes (and run them if
            ``check_audio``).
        require_text: False for data without transcripts (e.g. untranscribed audio).

    Returns:
        The problems, file by file; ``severity == "error"`` for those that make the data unusable.
    """
    check = _Validation(Path(path))
    if not check.directory.is_dir():
        return [Problem("error", str(check.directory), None, None, "data directory not found")]
    required = REQUIRED_FILES + (("text",) if require_text else ())
    for name in _table_names(check.directory):
        file = check.directory / name
        if not file.is_file():
            if name in required:
                check.add("error", "required file is missing", name)
            continue
        try:
            _check_format(check, name, check.read(name))
        except DataError as err:  # not UTF-8
            check.problems.append(Problem.from_error(err))
    _check_values(check, allow_pipes)
    if "utt2spk" in check.first:
        if not check.first["utt2spk"]:
            check.add("error", "no utterance: the data dir is empty", "utt2spk")
        _check_utterance_sets(check)
        _check_speakers(check)
        if "wav.scp" in check.first:
            _check_recordings(check, check_audio, allow_pipes)
            _check_carried_keys(check)
    return check.problems


def _check_format(check: _Validation, name: str, raw: RawTable) -> None:
    """BOM, CRLF, empty lines, order and uniqueness of one table."""
    if raw.has_bom:
        check.add("error", "file starts with a UTF-8 byte-order mark" + _FIXABLE, name, 1)
    if raw.has_crlf:
        check.add("error", "file has CRLF (Windows) line endings" + _FIXABLE, name)
    for line in raw.blank_lines:
        check.add("error", "empty line" + _FIXABLE, name, line)
    first_line: dict[str, int] = {}
    unsorted_reported = False
    for previous, entry in zip([None, *raw.lines], raw.lines, strict=False):
        if entry.key in first_line:
            message = f"duplicated id {entry.key!r} (first on line {first_line[entry.key]})"
            check.add("error", message + _FIXABLE, name, entry.line)
            continue
        first_line[entry.key] = entry.line
        if previous is not None and sort_key(entry.key) < sort_key(previous.key):
            if not unsorted_reported:
                message = f"not sorted: {entry.key!r} comes after {previous.key!r} (C/byte order)"
                check.add("error", message + _FIXABLE, name, entry.line)
            unsorted_reported = True


def _check_values(check: _Validation, allow_pipes: bool) -> None:
    """The value of every line: non-empty, well-formed, NFC text, valid codes, no pipes."""
    for name, table in check.first.items():
        kind = _key_kind(name)
        for entry in table.values():
            utt = None if kind else entry.key
            problem = _value_problem(name, entry.value)
            if problem is not None:
                prefix = f"{kind} {entry.key!r}: " if kind else ""
                check.add("error", prefix + problem, name, entry.line, utt)
            elif name == "text" and not unicodedata.is_normalized("NFC", entry.value):
                message = "transcript is not in Unicode NFC" + _FIXABLE
                check.add("error", message, name, entry.line, utt)
            elif name == "wav.scp" and is_pipe(entry.value) and not allow_pipes:
                message = (
                    f"recording {entry.key!r} is a shell pipe; data must not run commands "
                    "(pass --allow-pipes to opt in)"
                )
                check.add("error", message, name, entry.line)


def _check_utterance_sets(check: _Validation) -> None:
    """Every per-utterance table lists exactly the utterances of utt2spk."""
    utt2spk = check.first["utt2spk"]
    for name in UTT_TABLES:
        table = check.first.get(name)
        if table is None:
            continue
        for utt, entry in table.items():
            if utt not in utt2spk:
                check.add("error", "not in utt2spk", name, entry.line, utt)
        for utt, entry in utt2spk.items():
            if utt not in table:
                check.add("error", f"has no entry in {name}", "utt2spk", entry.line, utt)


def _check_carried_keys(check: _Validation) -> None:
    """The keys of the carried tables are utterances, speakers or recordings of the dir."""
    utt2spk = check.first["utt2spk"]
    known = {
        "utterance": (set(utt2spk), "not in utt2spk"),
        "speaker": ({entry.value for entry in utt2spk.values()}, "is the speaker of no utterance"),
        "recording": (set(check.first["wav.scp"]), "is not in wav.scp"),
    }
    for name, table in check.first.items():
        kind = carried_table_kind(name)
        if kind is None:
            continue
        keys, missing = known[kind]
        for key, entry in table.items():
            if key not in keys:
                utt = key if kind == "utterance" else None
                prefix = "" if utt else f"{kind} {key!r} "
                check.add("error", prefix + missing + _FIXABLE, name, entry.line, utt)


def _check_speakers(check: _Validation) -> None:
    """spk2utt agrees with utt2spk; speakers sort like their utterances (Kaldi's rule)."""
    utt2spk = {utt: entry.value for utt, entry in check.first["utt2spk"].items()}
    spk2utt = check.first.get("spk2utt")
    if spk2utt is not None:
        expected = DataDir(utt2spk=utt2spk).spk2utt()
        for spk in sorted(set(expected) | set(spk2utt), key=sort_key):
            listed = set(spk2utt[spk].value.split()) if spk in spk2utt else set()
            if listed != set(expected.get(spk, [])):
                line = spk2utt[spk].line if spk in spk2utt else None
                message = f"speaker {spk!r} lists other utterances than utt2spk" + _FIXABLE
                check.add("error", message, "spk2utt", line)
    ordered = sorted(utt2spk, key=sort_key)
    for previous, utt in zip(ordered, ordered[1:], strict=False):
        if sort_key(utt2spk[utt]) < sort_key(utt2spk[previous]):
            message = (
                f"speaker {utt2spk[utt]!r} sorts before speaker {utt2spk[previous]!r} of the "
                f"previous utterance {previous!r}: Kaldi tools expect utterances sorted like "
                "their speakers (make the speaker id a prefix of the utterance id)"
            )
            line = check.first["utt2spk"][utt].line
            check.add("warning", message, "utt2spk", line, utt)
            return


def _users(utts: Iterable[str], segments: dict[str, TableLine] | None) -> dict[str, list[str]]:
    """Recording id -> the utterances of ``utts`` that use it (those with a recording)."""
    users: dict[str, list[str]] = {}
    for utt in utts:
        recording = _recording(utt, segments)
        if recording is not None:
            users.setdefault(recording, []).append(utt)
    return users


def _open_recordings(
    wav_scp: dict[str, TableLine],
    users: dict[str, list[str]],
    segments: dict[str, TableLine] | None,
    allow_pipes: bool,
) -> Iterator[tuple[TableLine, list[str], _AudioFindings]]:
    """(wav.scp line, its utterances, what opening it found) for every recording used that has
    an entry (pipes only if ``allow_pipes``), in Kaldi order, with a progress bar."""
    used = [wav_scp[r] for r in sorted(users, key=sort_key) if r in wav_scp]
    for entry in progress_bar(used, desc="checking audio", unit="file"):
        if entry.value and (allow_pipes or not is_pipe(entry.value)):
            utts = users[entry.key]
            yield entry, utts, _open_recording(entry.value, utts, segments)


def _check_recordings(check: _Validation, check_audio: bool, allow_pipes: bool) -> None:
    """Every utterance has audio in wav.scp; every recording is used; audio opens (optional)."""
    wav_scp, segments = check.first["wav.scp"], check.first.get("segments")
    users = _users(check.first["utt2spk"], segments)  # a missing segment is reported already
    for recording, utts in users.items():
        for utt in utts if recording not in wav_scp else []:
            if segments is None:
                check.add("error", "has no entry in wav.scp", "wav.scp", utt=utt)
            else:
                message = f"recording {recording!r} has no entry in wav.scp"
                check.add("error", message, "segments", segments[utt].line, utt)
    for recording, entry in wav_scp.items():
        if recording not in users:
            message = f"recording {recording!r} is used by no utterance"
            check.add("warning", message, "wav.scp", entry.line)
    if check_audio:
        for entry, _, findings in _open_recordings(wav_scp, users, segments, allow_pipes):
            _report_audio(check, entry, findings, segments)


@dataclass
class _AudioFindings:
    """What opening one recording found (see :func:`_open_recording`)."""

    error: str | None = None  # why the recording cannot be used: "<file>: <reason>"
    late_segments: dict[str, str] = field(default_factory=dict)  # utt -> why its segment is out
    warnings: list[str] = field(default_factory=list)  # usable, but something is lost
    notes: list[str] = field(default_factory=list)  # usable as it is (converted when loaded)


def _open_recording(
    value: str, utts: list[str], segments: dict[str, TableLine] | None
) -> _AudioFindings:
    """Open the audio of one wav.scp value: it must exist, be audio and hold samples; a WAV
    file cut short is a warning, another rate or channel count a note; segments must fit."""
    findings = _AudioFindings()
    try:
        duration = audio_duration(value, allow_pipe=True)
    except AudioError as err:
        findings.error = f"{err.path}: {err.reason}"
        return findings
    if not is_pipe(value):
        info = soundfile.info(value)
        if (info.samplerate, info.channels) != (TARGET_RATE, TARGET_CHANNELS):
            findings.notes.append(
                f"audio is {info.samplerate} Hz with {info.channels} channel(s); it will "
                f"be converted to {TARGET_RATE} Hz mono when loaded"
            )
        truncation = wav_truncation(value)
        if truncation is not None:
            findings.warnings.append(
                f"{value}: truncated WAV file: its header says {truncation[0]:.3f} s, only "
                f"{truncation[1]:.3f} s are present"
            )
    for utt in utts if segments is not None else []:
        try:
            end = parse_segment(segments[utt].value).end
        except DataError:
            continue  # malformed: reported already
        if end > duration + SEGMENT_END_TOLERANCE:
            findings.late_segments[utt] = (
                f"segment ends at {end} s, after the end of its recording ({duration:.3f} s)"
            )
    return findings


def _report_audio(
    check: _Validation,
    entry: TableLine,
    findings: _AudioFindings,
    segments: dict[str, TableLine] | None,
) -> None:
    """The problems of what opening one recording found."""
    utt = entry.key if segments is None else None
    where = "" if segments is None else f"recording {entry.key!r}: "
    if findings.error is not None:
        check.add("error", where + findings.error, "wav.scp", entry.line, utt)
    for severity, messages in (("warning", findings.warnings), ("info", findings.notes)):
        for message in messages:
            check.add(severity, where + message, "wav.scp", entry.line, utt)
    for late, message in findings.late_segments.items():
        check.add("error", message, "segments", segments[late].line, late)


@dataclass
class FixReport:
    """What :func:`fix_data_dir` did: the repairs, and every dropped utterance with its reasons."""

    source: Path  # the data dir that was fixed
    out: Path  # where the fixed data dir was written (``source`` when fixed in place)
    kept: int  # utterances kept
    repairs: list[str]  # changes that keep the data: BOM, CRLF, NFC, order, duplicated lines...
    dropped: dict[str, list[str]]  # utterance id -> reasons it was dropped ("file:line: why")
    warnings: list[str] = field(default_factory=list)  # kept, but something is lost ("file:line")
    audio_checked: bool = False  # every audio file used was opened (``check_audio``)

    def to_text(self) -> str:
        """The report as written to ``fix_report.txt``: one line per repair and dropped utt."""
        audio = "audio: every file used was opened" if self.audio_checked else NOT_OPENED
        lines = [
            f"# speechml data fix {self.source} -> {self.out}",
            f"kept {self.kept} utterances, dropped {len(self.dropped)}",
            audio,
            *(f"changed {repair}" for repair in self.repairs),
            *(f"warning {warning}" for warning in self.warnings),
            *(f"dropped {utt}: {'; '.join(why)}" for utt, why in self.dropped.items()),
        ]
        return "\n".join(lines) + "\n"


#: What a fix report says when the audio was not opened.
NOT_OPENED = (
    "audio: not opened (with --check-audio, utterances whose audio is missing, empty, not audio "
    "or corrupt are dropped too)"
)


def fix_data_dir(
    path: str | Path,
    out: str | Path | None = None,
    check_audio: bool = False,
    allow_pipes: bool = False,
) -> FixReport:
    """Repair a data dir like Kaldi's ``fix_data_dir.sh``, reporting everything it drops.

    Removes the byte-order mark, converts CRLF to LF, drops empty lines, normalises transcripts
    to Unicode NFC, sorts every table, keeps the first line of a duplicated id, keeps only the
    utterances that are in every table present, have a valid value in each, have audio in
    ``wav.scp`` (through ``segments``) and a non-empty transcript; drops recordings no kept
    utterance uses, and regenerates ``spk2utt``. The other Kaldi tables (``spk2gender``,
    ``utt2uniq``, ``reco2file_and_channel``...) keep the lines of the utterances, speakers and
    recordings kept. Pipes in ``wav.scp`` are kept as they are.

    Args:
        path: the data dir; it needs ``wav.scp`` and ``utt2spk``.
        out: where to write the fixed data dir; None fixes in place, after copying the original
            files into ``<path>/.backup/`` (replacing an older backup, as Kaldi does). Files of
            ``path`` that are not tables stay behind, named in a logged warning.
        check_audio: also open every audio file used, dropping the utterances whose audio is
            missing, empty, not audio or corrupt, or whose segment ends after its recording; a
            WAV file cut short is a warning of the report.
        allow_pipes: with ``check_audio``, run the ``wav.scp`` pipes to check their output.

    Returns:
        The report, also written to ``<out>/fix_report.txt``.

    Raises:
        DataError: if the directory, ``wav.scp`` or ``utt2spk`` is missing, or a table is not
            UTF-8 (naming the file and line): those cannot be fixed without guessing; or if no
            utterance is left (the tables are then left as they were; the report says why).
    """
    source = Path(path)
    target = source if out is None else Path(out)
    if not source.is_dir():
        raise DataError("data directory not found", path=source)
    for name in REQUIRED_FILES:
        if not (source / name).is_file():
            raise DataError("required file is missing; it cannot be fixed", path=source / name)
    names = [name for name in _table_names(source) if (source / name).is_file()]
    raws = {name: read_raw_table(source / name) for name in names}
    repairs: list[str] = []
    tables = {
        name: _repaired_table(raw, repairs) for name, raw in raws.items() if name != "spk2utt"
    }
    report = FixReport(source, target, 0, repairs, _unusable_utterances(tables))
    if check_audio:
        _drop_unusable_audio(tables, report, allow_pipes)
    kept = [utt for utt in tables["utt2spk"] if utt not in report.dropped]
    report.kept = len(kept)
    if not kept:
        atomic_write_text(target / FIX_REPORT, report.to_text())
        message = f"no usable utterance ({len(report.dropped)} dropped; see {target / FIX_REPORT})"
        raise DataError(message, source)
    fixed = _fixed_tables(tables, kept, report)
    spk2utt = DataDir(utt2spk=fixed["utt2spk"]).spk2utt()
    fixed["spk2utt"] = {spk: " ".join(utts) for spk, utts in spk2utt.items()}
    if "spk2utt" in raws and _spk2utt_changed(raws["spk2utt"], spk2utt):
        repairs.append("spk2utt: regenerated from utt2spk")
    if target.resolve() == source.resolve():
        for name in names:
            atomic_write_bytes(source / ".backup" / name, (source / name).read_bytes())
    else:
        warn_left_behind(files_not_carried(source), target)
        stale = _table_names(target) if target.is_dir() else []
        for name in stale:
            if name not in fixed:
                (target / name).unlink(missing_ok=True)
    for name, table in fixed.items():
        write_table(target / name, table)
    atomic_write_text(target / FIX_REPORT, report.to_text())
    return report


def _drop_unusable_audio(
    tables: dict[str, dict[str, TableLine]], report: FixReport, allow_pipes: bool
) -> None:
    """Open the audio of the utterances not dropped yet; drop those it cannot give (the
    dropped utterances stay in Kaldi order)."""
    report.audio_checked = True
    segments = tables.get("segments")
    utts = [utt for utt in tables["utt2spk"] if utt not in report.dropped]
    users = _users(utts, segments)
    for entry, users_of_entry, findings in _open_recordings(
        tables["wav.scp"], users, segments, allow_pipes
    ):
        for utt in users_of_entry if findings.error is not None else []:
            report.dropped.setdefault(utt, []).append(f"wav.scp:{entry.line}: {findings.error}")
        for utt, why in findings.late_segments.items():
            report.dropped.setdefault(utt, []).append(f"segments:{segments[utt].line}: {why}")
        report.warnings += [f"wav.scp:{entry.line}: {warning}" for warning in findings.warnings]
    report.dropped = {utt: report.dropped[utt] for utt in sorted(report.dropped, key=sort_key)}


def _fixed_tables(
    tables: dict[str, dict[str, TableLine]], kept: list[str], report: FixReport
) -> dict[str, dict[str, str]]:
    """The tables restricted to the kept utterances, their recordings and speakers."""
    keep = set(kept)
    used = {_recording(utt, tables.get("segments")) for utt in kept}
    speakers = {tables["utt2spk"][utt].value for utt in kept}
    for recording, entry in tables["wav.scp"].items():
        if recording not in used:
            report.repairs.append(
                f"wav.scp:{entry.line}: removed recording {recording!r}, used by no kept utterance"
            )
    fixed: dict[str, dict[str, str]] = {}
    carried: dict[str, dict[str, TableLine]] = {}
    for name, table in tables.items():
        if carried_table_kind(name) is not None:
            carried[name] = table
            continue
        wanted = used if name == "wav.scp" else keep
        fixed[name] = {key: entry.value for key, entry in table.items() if key in wanted}
    fixed.update(_fixed_carried_tables(carried, keep, speakers, used, report))
    return fixed


def _fixed_carried_tables(
    carried: dict[str, dict[str, TableLine]],
    utts: set[str],
    speakers: set[str],
    recordings: set[str],
    report: FixReport,
) -> dict[str, dict[str, str]]:
    """The carried tables restricted to what is kept, without lines that have no value; the
    lines that go are noted as repairs, but those of dropped utterances (reported already)."""
    with_values = {
        name: {key: entry for key, entry in table.items() if entry.value}
        for name, table in carried.items()
    }
    kept = keep_keys(with_values, utts, speakers, recordings)
    for name, table in carried.items():
        kind = carried_table_kind(name)
        for key, entry in table.items():
            if not entry.value:
                report.repairs.append(f"{name}:{entry.line}: removed {kind} {key!r}: no value")
            elif key not in kept.get(name, {}) and key not in report.dropped:
                message = f"removed {kind} {key!r}: not in the kept data"
                report.repairs.append(f"{name}:{entry.line}: {message}")
    return {name: {key: e.value for key, e in table.items()} for name, table in kept.items()}


def _repaired_table(raw: RawTable, repairs: list[str]) -> dict[str, TableLine]:
    """The lines of a table to keep (first line of each id, NFC text), noting each repair."""
    name = raw.path.name
    if raw.has_bom:
        repairs.append(f"{name}: removed the UTF-8 byte-order mark")
    if raw.has_crlf:
        repairs.append(f"{name}: converted CRLF line endings to LF")
    for line in raw.blank_lines:
        repairs.append(f"{name}:{line}: removed an empty line")
    keys = [sort_key(entry.key) for entry in raw.lines]
    if keys != sorted(keys):
        repairs.append(f"{name}: sorted in C/byte order")
    table: dict[str, TableLine] = {}
    for entry in raw.lines:
        if entry.key in table:
            first = table[entry.key].line
            repairs.append(
                f"{name}:{entry.line}: removed a duplicated id {entry.key!r} (kept line {first})"
            )
            continue
        value = unicodedata.normalize("NFC", entry.value) if name == "text" else entry.value
        if value != entry.value:
            repairs.append(f"{name}:{entry.line}: normalised the transcript to Unicode NFC")
        table[entry.key] = TableLine(entry.key, value, entry.line)
    return table


def _unusable_utterances(tables: dict[str, dict[str, TableLine]]) -> dict[str, list[str]]:
    """Utterance id -> why it cannot be kept, for every utterance that cannot."""
    reasons: dict[str, list[str]] = {}
    utt_tables = {name: tables[name] for name in ("utt2spk", *UTT_TABLES) if name in tables}
    every_utt = sorted({utt for table in utt_tables.values() for utt in table}, key=sort_key)
    wav_scp, segments = tables["wav.scp"], tables.get("segments")
    for utt in every_utt:
        why = reasons.setdefault(utt, [])
        for name, table in utt_tables.items():
            entry = table.get(utt)
            problem = None if entry is None else _value_problem(name, entry.value)
            if entry is None:
                why.append(f"no entry in {name}")
            elif problem is not None:
                why.append(f"{name}:{entry.line}: {problem}")
        recording = _recording(utt, segments)
        audio = wav_scp.get(recording) if recording is not None else None
        if recording is not None and audio is None:
            why.append(f"recording {recording!r} has no entry in wav.scp")
        elif audio is not None and (problem := _value_problem("wav.scp", audio.value)):
            why.append(f"wav.scp:{audio.line}: {problem}")
    return {utt: why for utt, why in reasons.items() if why}


def _spk2utt_changed(raw: RawTable, spk2utt: dict[str, list[str]]) -> bool:
    found = {entry.key: entry.value.split() for entry in raw.lines}
    return found != spk2utt or len(found) != len(raw.lines)
