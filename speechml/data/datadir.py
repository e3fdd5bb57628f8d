"""Kaldi data directories: the contract between every stage.

A data dir holds ``wav.scp`` (recording id -> audio path), ``text`` (utt -> transcript),
``utt2spk``, ``spk2utt`` (derived), and ours: ``utt2lang`` (ISO 639-3), ``utt2dur`` (seconds),
``utt2label`` (classification), optional ``segments`` (utt -> recording, start, end).
Without ``segments`` a recording id is the utterance id.

:meth:`DataDir.read` is strict (a duplicated id or a malformed value is an error naming the
file and line); checks across files are :func:`speechml.data.validate.validate_data_dir`'s job.
A ``segments`` line and a ``utt2dur`` value have one parser each, :func:`parse_segment` and
:func:`parse_duration`, which the validator uses too.

Example:
    >>> d = DataDir(wav_scp={"u1": "/a/u1.wav"}, text={"u1": "hello"}, utt2spk={"u1": "s1"})
    >>> d.utts
    ['u1']
    >>> d.spk2utt()
    {'s1': ['u1']}
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from speechml.data.table import read_raw_table, read_table, sort_key, write_table
from speechml.errors import DataError

#: Files of a data dir, in the order they are read. ``spk2utt`` is derived from ``utt2spk``.
TABLE_FILES = ("wav.scp", "segments", "text", "utt2spk", "utt2lang", "utt2dur", "utt2label")

T = TypeVar("T")


@dataclass(frozen=True)
class Segment:
    """A part of a recording: ``segments`` line ``utt recording start end`` (seconds)."""

    recording: str
    start: float
    end: float


@dataclass
class DataDir:
    """The tables of one Kaldi data directory, as dicts keyed by id.

    Attributes:
        wav_scp: recording id -> audio file path (or ``"cmd |"`` pipe, refused unless allowed).
        text: utterance id -> transcript.
        utt2spk: utterance id -> speaker id; its keys are the utterance list.
        utt2lang: utterance id -> ISO 639-3 language code.
        utt2dur: utterance id -> duration in seconds.
        utt2label: utterance id -> class label.
        segments: utterance id -> :class:`Segment`; empty when utterances are whole recordings.
        path: the directory it was read from, if any.
    """

    wav_scp: dict[str, str] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)
    utt2spk: dict[str, str] = field(default_factory=dict)
    utt2lang: dict[str, str] = field(default_factory=dict)
    utt2dur: dict[str, float] = field(default_factory=dict)
    utt2label: dict[str, str] = field(default_factory=dict)
    segments: dict[str, Segment] = field(default_factory=dict)
    path: Path | None = None

    @property
    def utts(self) -> list[str]:
        """Utterance ids in Kaldi order (those of ``utt2spk``)."""
        return sorted(self.utt2spk, key=sort_key)

    def __len__(self) -> int:
        return len(self.utt2spk)

    def spk2utt(self) -> dict[str, list[str]]:
        """Speaker id -> its utterance ids, both sorted."""
        out: dict[str, list[str]] = {}
        for utt in self.utts:
            out.setdefault(self.utt2spk[utt], []).append(utt)
        return {spk: out[spk] for spk in sorted(out, key=sort_key)}

    def recording_of(self, utt: str) -> tuple[str, float, float | None]:
        """(recording id, start, end) of an utterance; end is None for a whole recording."""
        if self.segments:
            seg = self.segments.get(utt)
            if seg is None:
                raise DataError("has no entry in segments", self._file("segments"), utt=utt)
            return seg.recording, seg.start, seg.end
        return utt, 0.0, None

    def audio_entry(self, utt: str) -> str:
        """The ``wav.scp`` entry (path or pipe) that holds an utterance's audio."""
        recording, _, _ = self.recording_of(utt)
        entry = self.wav_scp.get(recording)
        if entry is None:
            raise DataError(f"recording {recording!r} has no entry", self._file("wav.scp"), utt=utt)
        return entry

    def languages(self) -> list[str]:
        """Sorted language codes present in ``utt2lang``."""
        return sorted(set(self.utt2lang.values()))

    def _file(self, name: str) -> Path | str:
        return self.path / name if self.path is not None else name

    @classmethod
    def read(cls, path: str | Path) -> DataDir:
        """Read a data dir; files other than ``wav.scp`` and ``utt2spk`` are optional.

        Raises:
            DataError: if the directory, ``wav.scp`` or ``utt2spk`` is missing, or a table has a
                duplicated id or a malformed value (naming file and line).
        """
        path = Path(path)
        if not path.is_dir():
            raise DataError("data directory not found", path=path)
        for required in ("wav.scp", "utt2spk"):
            if not (path / required).is_file():
                raise DataError(f"required file {required} is missing", path=path)
        data = cls(path=path)
        data.wav_scp = read_table(path / "wav.scp")
        data.utt2spk = read_table(path / "utt2spk")
        if (path / "text").is_file():
            data.text = read_table(path / "text", allow_empty_values=True)
        for name in ("utt2lang", "utt2label"):
            if (path / name).is_file():
                setattr(data, name, read_table(path / name))
        if (path / "utt2dur").is_file():
            data.utt2dur = _read_parsed(path / "utt2dur", parse_duration)
        if (path / "segments").is_file():
            data.segments = _read_parsed(path / "segments", parse_segment)
        return data

    def write(self, path: str | Path) -> None:
        """Write every non-empty table plus ``spk2utt`` into ``path`` (sorted, atomic per file)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_table(path / "wav.scp", self.wav_scp)
        write_table(path / "utt2spk", self.utt2spk)
        write_table(path / "spk2utt", {s: " ".join(u) for s, u in self.spk2utt().items()})
        optional = {
            "text": self.text,
            "utt2lang": self.utt2lang,
            "utt2label": self.utt2label,
            "utt2dur": self.utt2dur,
            "segments": {
                u: f"{s.recording} {s.start:.3f} {s.end:.3f}" for u, s in self.segments.items()
            },
        }
        for name, table in optional.items():
            if table:
                write_table(path / name, table)
            else:
                (path / name).unlink(missing_ok=True)
        self.path = path


def parse_duration(text: str, path: str | Path | None = None, line: int | None = None) -> float:
    """Seconds of a ``utt2dur`` value: a finite number above 0.

    Args:
        text: the value, e.g. ``"1.25"``.
        path, line: the file and 1-based line it comes from, named in the error.

    Raises:
        DataError: saying what is wrong, e.g. ``duration must be positive, got 0``.

    Example:
        >>> parse_duration("1.25")
        1.25
    """
    seconds = _finite_number(text, "duration", path, line)
    if seconds <= 0:
        raise DataError(f"duration must be positive, got {text}", path, line)
    return seconds


def parse_segment(value: str, path: str | Path | None = None, line: int | None = None) -> Segment:
    """A ``segments`` value ``recording start end``: three fields, 0 <= start < end, finite.

    Args:
        value: the line without its utterance id, e.g. ``"rec1 0.5 2.0"``.
        path, line: the file and 1-based line it comes from, named in the error.

    Raises:
        DataError: saying what is wrong, e.g. ``segment end 0.5 is not after its start 0.7``.

    Example:
        >>> parse_segment("rec1 0.5 2")
        Segment(recording='rec1', start=0.5, end=2.0)
    """
    fields = value.split()
    if len(fields) != 3:
        raise DataError(f"expected 'recording start end', got {value!r}", path, line)
    recording, start_text, end_text = fields
    start = _finite_number(start_text, "start", path, line)
    if start < 0:
        raise DataError(f"start must be non-negative, got {start_text}", path, line)
    end = _finite_number(end_text, "end", path, line)
    if end <= start:
        message = f"segment end {end_text} is not after its start {start_text}"
        raise DataError(message, path, line)
    return Segment(recording, start, end)


def _finite_number(text: str, what: str, path: str | Path | None, line: int | None) -> float:
    try:
        number = float(text)
    except ValueError:
        raise DataError(f"{what} is not a number: {text!r}", path, line) from None
    if not math.isfinite(number):
        raise DataError(f"{what} must be a finite number, got {text}", path, line)
    return number


def _read_parsed(path: Path, parse: Callable[[str, Path, int], T]) -> dict[str, T]:
    """A table whose values ``parse(value, path, line)`` turns into objects; ids unique."""
    out: dict[str, T] = {}
    first_line: dict[str, int] = {}
    for entry in read_raw_table(path).lines:
        if entry.key in out:
            message = f"duplicated id {entry.key!r} (first on line {first_line[entry.key]})"
            raise DataError(message, path, entry.line)
        out[entry.key] = parse(entry.value, path, entry.line)
        first_line[entry.key] = entry.line
    return out
