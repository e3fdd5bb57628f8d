"""Kaldi data directories: the contract between every stage.

A data dir holds ``wav.scp`` (recording id -> audio path), ``text`` (utt -> transcript),
``utt2spk``, ``spk2utt`` (derived), and ours: ``utt2lang`` (ISO 639-3), ``utt2dur`` (seconds),
``utt2label`` (classification), optional ``segments`` (utt -> recording, start, end).
Without ``segments`` a recording id is the utterance id.

The other Kaldi tables a user may have are carried as text (:attr:`DataDir.other_tables`), by
what their keys are (:func:`carried_table_kind`): ``utt2*``, ``feats.scp`` and ``vad.scp`` by
utterance, ``spk2*`` and ``cmvn.scp`` by speaker, ``reco2*`` by recording. Subsets, combinations
and fixes keep them, filtered to the ids kept. Any other file of the dir is not carried; a
DataDir remembers them (:attr:`DataDir.left_behind`) and writing it elsewhere names them in a
warning. Reports of how a dir was made (:data:`REPORT_FILES`) describe that dir only and are
neither carried nor named.

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

import logging
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from speechml.data.table import read_raw_table, read_table, sort_key, write_table
from speechml.errors import DataError

logger = logging.getLogger(__name__)

#: Files of a data dir with a field of their own, in the order they are read. ``spk2utt`` is
#: derived from ``utt2spk``.
TABLE_FILES = ("wav.scp", "segments", "text", "utt2spk", "utt2lang", "utt2dur", "utt2label")
#: What ``speechml data fix`` writes into a data dir.
FIX_REPORT = "fix_report.txt"
#: What a converter writes into a data dir: the rows it skipped, the ids it rewrote.
SKIPPED_REPORT, RENAMED_REPORT = "skipped.txt", "renamed.txt"
#: Reports of how a data dir was made: not carried into derived dirs, not named as left behind.
REPORT_FILES = (FIX_REPORT, SKIPPED_REPORT, RENAMED_REPORT)

#: What the keys of a table are.
KeyKind = Literal["utterance", "speaker", "recording"]
#: Prefixes of the names of carried tables, and what their keys are.
_CARRIED_PREFIXES: dict[str, KeyKind] = {
    "utt2": "utterance",
    "spk2": "speaker",
    "reco2": "recording",
}
#: Kaldi tables carried whose names do not say what their keys are.
_CARRIED_NAMES: dict[str, KeyKind] = {
    "feats.scp": "utterance",
    "vad.scp": "utterance",
    "cmvn.scp": "speaker",
}

T = TypeVar("T")
V = TypeVar("V")


def carried_table_kind(name: str) -> KeyKind | None:
    """What the keys of the file ``name`` are, if it is a table carried in ``other_tables``.

    ``utt2*`` (``utt2uniq``, ``utt2num_frames``...), ``feats.scp``, ``vad.scp``: utterances;
    ``spk2*`` (``spk2gender``...), ``cmvn.scp``: speakers; ``reco2*``
    (``reco2file_and_channel``, ``reco2dur``): recordings. None for the tables with a field of
    their own (:data:`TABLE_FILES`), ``spk2utt`` (derived) and any other file.

    Example:
        >>> carried_table_kind("spk2gender"), carried_table_kind("utt2spk")
        ('speaker', None)
    """
    if name in TABLE_FILES or name == "spk2utt":
        return None
    if name in _CARRIED_NAMES:
        return _CARRIED_NAMES[name]
    for prefix, kind in _CARRIED_PREFIXES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            return kind
    return None


def carried_tables_in(path: Path) -> list[str]:
    """Names of the files in the directory ``path`` that are carried tables, sorted."""
    return sorted(f.name for f in path.iterdir() if f.is_file() and carried_table_kind(f.name))


def files_not_carried(path: Path) -> list[Path]:
    """The files of the directory ``path`` that a DataDir read from it does not carry: not a
    table, not a report (:data:`REPORT_FILES`), not hidden. Sorted."""
    known = {*TABLE_FILES, "spk2utt", *REPORT_FILES}
    return sorted(
        file
        for file in path.iterdir()
        if file.is_file()
        and file.name not in known
        and not file.name.startswith(".")
        and carried_table_kind(file.name) is None
    )


def keep_keys(
    tables: Mapping[str, Mapping[str, V]],
    utts: Collection[str],
    speakers: Collection[str],
    recordings: Collection[str],
) -> dict[str, dict[str, V]]:
    """Carried tables restricted to the kept ids of what their keys are (see
    :func:`carried_table_kind`); a table left empty is left out."""
    kept = {"utterance": utts, "speaker": speakers, "recording": recordings}
    out = {}
    for name, table in tables.items():
        wanted = kept[carried_table_kind(name)]
        restricted = {key: value for key, value in table.items() if key in wanted}
        if restricted:
            out[name] = restricted
    return out


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
        other_tables: file name -> key -> value, the other Kaldi tables carried as text
            (``spk2gender``, ``utt2uniq``, ``reco2file_and_channel``...: see
            :func:`carried_table_kind`).
        path: the directory it was read from, if any.
        left_behind: files of the dir(s) it comes from that it does not carry (not tables, not
            reports); :meth:`write` names them in a warning when it writes elsewhere.
    """

    wav_scp: dict[str, str] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)
    utt2spk: dict[str, str] = field(default_factory=dict)
    utt2lang: dict[str, str] = field(default_factory=dict)
    utt2dur: dict[str, float] = field(default_factory=dict)
    utt2label: dict[str, str] = field(default_factory=dict)
    segments: dict[str, Segment] = field(default_factory=dict)
    other_tables: dict[str, dict[str, str]] = field(default_factory=dict)
    path: Path | None = None
    left_behind: list[Path] = field(default_factory=list)

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

        The carried tables go into ``other_tables``; the files that are neither tables nor
        reports (:data:`REPORT_FILES`) nor hidden are listed in ``left_behind``.

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
        for name in carried_tables_in(path):
            data.other_tables[name] = read_table(path / name)
        data.left_behind = files_not_carried(path)
        return data

    def write(self, path: str | Path) -> None:
        """Write every non-empty table plus ``spk2utt`` into ``path`` (sorted, atomic per file).

        Tables of ``path`` that this DataDir does not have (typed or carried) are removed, as
        they would describe other utterances. Files of ``left_behind`` that are not in ``path``
        are named in a warning (see :func:`warn_left_behind`).
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        warn_left_behind(self.left_behind, path)
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
        optional.update({name: {} for name in carried_tables_in(path)})
        optional.update(self.other_tables)
        for name, table in optional.items():
            if table:
                write_table(path / name, table)
            else:
                (path / name).unlink(missing_ok=True)
        self.path = path


def warn_left_behind(files: Collection[Path], target: str | Path) -> None:
    """Log one warning a source dir naming those of ``files`` (a DataDir's ``left_behind``)
    that ``target``, the dir or dataset written from it, will not hold.

    Example:
        >>> import sys
        >>> shown = logging.StreamHandler(sys.stdout)  # the warning, where doctest sees it
        >>> logger.addHandler(shown)
        >>> _ = Path("data/train/README").write_text("how the audio was recorded")
        >>> warn_left_behind(DataDir.read("data/train").left_behind, "data/sub")
        data/train: not carried into data/sub (not a data-dir table): README
        >>> logger.removeHandler(shown)
    """
    by_dir: dict[Path, list[str]] = {}
    for file in files:
        if file.parent.resolve() != Path(target).resolve():
            by_dir.setdefault(file.parent, []).append(file.name)
    for directory, names in by_dir.items():
        logger.warning(
            "%s: not carried into %s (not a data-dir table): %s",
            directory,
            target,
            ", ".join(names),
        )


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
