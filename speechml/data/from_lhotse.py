"""lhotse manifests -> a Kaldi data dir: a ``RecordingSet`` and a ``SupervisionSet`` (jsonl.gz).

What icefall and NeMo-lhotse users hold their corpora in. A supervision becomes an utterance:
its ``text``, ``speaker``, ``language`` and ``gender`` become ``text``, ``utt2spk``,
``utt2lang`` (mapped to ISO 639-3 by :func:`~speechml.lang.languages.language_code_for`:
``en``, ``English`` and ``en-US`` are all ``eng``) and ``spk2gender``; its ``custom`` field
``label`` becomes ``utt2label``, any other ``custom`` field ``X`` that holds a text or a number
the carried table ``utt2X``; its ``duration`` becomes ``utt2dur``. When every supervision
covers its whole recording, alone, the data dir has no ``segments`` and the utterance id keys
``wav.scp``; otherwise ``wav.scp`` is keyed by recording and ``segments`` places every
utterance. :mod:`speechml.data.to_lhotse` goes the other way.

The manifests are read line by line as the JSON objects they are, field by field: lhotse itself
is not needed, nothing in them is run, and every error names the manifest and line. The
conversion follows the converters' rule (:mod:`speechml.data.conversion`): a broken manifest
stops it before anything is written; a supervision that cannot be used (its recording missing,
its audio a URL or a command, on one channel of several, an unknown language...) is listed with
its reason in ``skipped.txt``; rewritten ids go to ``renamed.txt``. A ``command`` source is
skipped, or with ``allow_pipes`` written as a ``wav.scp`` pipe, which runs only where pipes are
allowed again.

Example:
    >>> from speechml.data.to_lhotse import datadir_to_lhotse
    >>> _ = datadir_to_lhotse(DataDir.read("data/train"), "manifests")
    >>> lhotse_to_datadir("manifests/recordings.jsonl.gz", "manifests/supervisions.jsonl.gz",
    ...                   "data/train_back").utterances
    8
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from speechml.data.conversion import (
    ConversionOutput,
    ConversionReport,
    SkippedRow,
    kaldi_id,
    speaker_prefixed,
    write_outputs,
)
from speechml.data.datadir import DataDir, Segment, carried_table_kind
from speechml.data.validate import SEGMENT_END_TOLERANCE
from speechml.errors import DataError
from speechml.lang.languages import check_language_code, language_code_for
from speechml.lang.normalize import collapse_whitespace
from speechml.progress import progress_bar

logger = logging.getLogger(__name__)

#: The ``custom`` field of a supervision that holds its class label (``utt2label``).
LABEL_FIELD = "label"
#: Seconds: a supervision this close to both ends of its recording covers all of it.
WHOLE_RECORDING_TOLERANCE = 0.001
#: lhotse transforms that change nothing a data dir holds (speechml resamples on loading).
_HARMLESS_TRANSFORMS = ("Resample",)
#: What may follow ``utt2`` in the name of a carried table made from a custom field.
_TABLE_SUFFIX = re.compile(r"[\w.+-]+")


# ---------------------------------------------------------------- reading a manifest


@dataclass(frozen=True)
class ManifestLine:
    """One JSON object of a manifest, and where it is (every error about it names both)."""

    fields: dict[str, object]
    path: Path
    line: int  # 1-based

    def error(self, message: str) -> DataError:
        """A DataError naming the manifest and line."""
        return DataError(message, self.path, self.line)

    def text(self, name: str, required: bool = False) -> str | None:
        """A string field; None when absent, null or blank (an error if ``required``)."""
        value = self.fields.get(name)
        if value is not None and not isinstance(value, str):
            raise self.error(f"field {name!r} is not a string: {value!r:.60}")
        if required and not (value and value.strip()):
            raise self.error(f"field {name!r} is missing or empty")
        return value if value and value.strip() else None

    def number(self, name: str) -> float:
        """A finite number field."""
        value = self.fields.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(f"field {name!r} is not a number: {value!r:.60}")
        if not math.isfinite(value):
            raise self.error(f"field {name!r} must be finite, got {value}")
        return float(value)

    def channels(self, name: str, default: list[int]) -> list[int]:
        """A channel field, one integer or a list of them, as a list; ``default`` if absent."""
        value = self.fields.get(name)
        values = default if value is None else value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise self.error(f"field {name!r} is not a channel or a list of channels: {value!r}")
        return values


def read_manifest(path: str | Path) -> Iterator[ManifestLine]:
    """The JSON objects of a ``.jsonl`` or ``.jsonl.gz`` manifest, with their line numbers.

    Raises:
        DataError: on a missing file, another format, a line that is not UTF-8 or not a JSON
            object, or a corrupt gzip stream, naming the manifest (and line).

    Example:
        >>> from speechml.data.to_lhotse import datadir_to_lhotse
        >>> _ = datadir_to_lhotse(DataDir.read("data/train"), "manifests")
        >>> next(read_manifest("manifests/supervisions.jsonl.gz")).fields["id"]
        'spk1-utt000'
    """
    path = Path(path)
    if not path.name.endswith((".jsonl", ".jsonl.gz")):
        raise DataError("expected a .jsonl or .jsonl.gz manifest (lhotse's to_file)", path)
    if not path.is_file():
        raise DataError("manifest not found", path)
    opener = gzip.open if path.name.endswith(".gz") else open
    line = 0
    try:
        with opener(path, "rb") as handle:
            for line, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield _parse_line(raw, path, line)
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read the manifest after line {line}: {err}", path) from None


def _parse_line(raw: bytes, path: Path, line: int) -> ManifestLine:
    try:
        fields = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise DataError(f"not valid UTF-8 ({err.reason} at byte {err.start})", path, line) from None
    except json.JSONDecodeError as err:
        raise DataError(f"not JSON: {err.msg} (column {err.colno})", path, line) from None
    if not isinstance(fields, dict):
        raise DataError(f"expected a JSON object, got {type(fields).__name__}", path, line)
    return ManifestLine(fields, path, line)


def _check_kind(item: ManifestLine, needed: str, other: str, kind: str) -> None:
    """Raise unless ``item`` has the field ``needed`` of its kind; ``other`` is a field of the
    other kind of manifest, which a user who swapped the two gives."""
    if needed not in item.fields:
        swapped = " (swapped? give RECORDINGS, then SUPERVISIONS)" if other in item.fields else ""
        raise item.error(f"not a lhotse {kind}: no field {needed!r}{swapped}")


# ---------------------------------------------------------------- recordings


@dataclass(frozen=True)
class _Recording:
    """A recording of the manifest: its wav.scp entry, or why it cannot have one."""

    id: str
    path: Path  # the manifest
    line: int
    duration: float
    channels: list[int]
    entry: str | None
    problem: str  # why ``entry`` is None


def _read_recordings(path: Path, root: Path, allow_pipes: bool) -> dict[str, _Recording]:
    """The recordings of a RecordingSet manifest by id, each with its wav.scp entry or why not."""
    by_id: dict[str, _Recording] = {}
    by_kaldi_id: dict[str, _Recording] = {}
    for item in progress_bar(read_manifest(path), desc=f"from-lhotse {path.name}", unit="rec"):
        _check_kind(item, "sources", "recording_id", "Recording")
        recording_id = item.text("id", required=True)
        if recording_id in by_id:
            first = by_id[recording_id].line
            raise item.error(f"duplicated recording id {recording_id!r} (first on line {first})")
        twin = by_kaldi_id.get(kaldi_id(recording_id))
        if twin is not None:
            message = f"recording ids {twin.id!r} (line {twin.line}) and {recording_id!r} are "
            raise item.error(message + f"both {kaldi_id(recording_id)!r} as Kaldi ids")
        sources = _sources(item)
        duration = item.number("duration")
        entry, problem = _audio_entry(item, sources, root, allow_pipes)
        if entry is not None and duration <= 0:
            entry, problem = None, f"its duration is {duration:g} s"
        default_channels = sorted(c for source in sources for c in source["channels"])
        recording = _Recording(
            id=recording_id,
            path=path,
            line=item.line,
            duration=duration,
            channels=item.channels("channel_ids", default_channels),
            entry=entry,
            problem=problem,
        )
        by_id[recording_id] = by_kaldi_id[kaldi_id(recording_id)] = recording
    return by_id


def _sources(item: ManifestLine) -> list[dict[str, object]]:
    """The ``sources`` of a recording, each checked to have a type, a source and channels."""
    sources = item.fields["sources"]
    if not isinstance(sources, list) or not sources:
        raise item.error("field 'sources' is not a non-empty list")
    checked = []
    for source in sources:
        if not isinstance(source, dict) or not isinstance(source.get("type"), str):
            raise item.error(f"an audio source has no 'type': {source!r:.80}")
        if "source" not in source:
            raise item.error(f"an audio source of type {source['type']!r} has no 'source'")
        channels = ManifestLine(source, item.path, item.line).channels("channels", [0])
        checked.append({**source, "channels": channels})
    return checked


def _audio_entry(
    item: ManifestLine, sources: list[dict[str, object]], root: Path, allow_pipes: bool
) -> tuple[str | None, str]:
    """(the wav.scp entry of a recording, "") or (None, why it can have none)."""
    transforms = item.fields.get("transforms") or []
    if not isinstance(transforms, list):
        raise item.error(f"field 'transforms' is not a list: {transforms!r:.60}")
    names = [str(t.get("name") if isinstance(t, dict) else t) for t in transforms]
    changing = [name for name in names if name not in _HARMLESS_TRANSFORMS]
    if changing:
        return None, f"it has audio transforms ({', '.join(changing)}) that wav.scp cannot hold"
    if len(sources) > 1:
        return None, f"it has {len(sources)} audio sources (a file a channel?); wav.scp holds one"
    kind, value = sources[0]["type"], sources[0]["source"]
    if not isinstance(value, str) or "\n" in value:
        return None, f"its {kind} source is not one line of text"
    if kind == "file":
        path = root / value
        if not path.is_file():
            return None, f"audio file not found: {path}"
        return os.path.abspath(path), ""
    if kind == "command":
        if allow_pipes:
            return f"{value} |", ""
        return None, (
            f"its audio is the command {value!r:.80}, which is not run (pass --allow-pipes to "
            "write it as a wav.scp pipe)"
        )
    if kind == "url":
        return None, f"its audio is the URL {value!r:.80}; download it and give the file"
    if kind == "memory":
        return None, "its audio is held in the manifest (a memory source); write it to a file"
    return None, f"its audio source is of type {kind!r}, not a file"


# ---------------------------------------------------------------- supervisions


@dataclass
class _Supervision:
    """A supervision read and checked: its Kaldi ids and the values of its tables."""

    item: ManifestLine
    id: str
    utt: str
    speaker: str
    recording: _Recording | None
    start: float
    duration: float
    channels: list[int]
    text: str | None
    language: str | None  # an ISO 639-3 code
    gender: str | None
    label: str | None
    tables: dict[str, str]  # carried table (utt2X) -> value, from the custom fields
    problem: str | None = None  # why it is skipped; None if it is converted


def lhotse_to_datadir(
    recordings: str | Path,
    supervisions: str | Path,
    out_dir: str | Path,
    *,
    lang: str | None = None,
    audio_root: str | Path | None = None,
    allow_pipes: bool = False,
    speaker_prefix: bool = True,
) -> ConversionReport:
    """Convert a lhotse ``RecordingSet`` and ``SupervisionSet`` to the data dir ``out_dir``.

    A table that one supervision has a value for (``text``, ``utt2lang``, ``utt2label``)
    needs one from all: a supervision without is skipped (an empty text, a missing language
    that ``lang`` does not give). Recordings that no supervision is on are listed as skipped.

    Args:
        recordings: the RecordingSet manifest (``.jsonl.gz`` or ``.jsonl``).
        supervisions: the SupervisionSet manifest.
        out_dir: the output data dir; replaced whole, only if it is a data dir or empty.
        lang: ISO 639-3 code of the supervisions that have no ``language`` (default: none).
        audio_root: directory that relative audio paths start from (default: the current
            directory); ``wav.scp`` holds absolute paths.
        allow_pipes: write a ``command`` source as a ``wav.scp`` pipe (``<command> |``) instead
            of skipping it; nothing is run either way.
        speaker_prefix: prefix utterance ids with ``<speaker>-`` when they do not start with it.

    Returns:
        What was written: utterances, skipped supervisions and recordings, rewritten ids.

    Raises:
        DataError: on a manifest that is not one (missing, not JSON, a field of the wrong
            type), a duplicated id, two ids that become one Kaldi id, a speaker with two
            genders, or no usable supervision; nothing is written then.

    Example:
        >>> from speechml.data.to_lhotse import datadir_to_lhotse
        >>> _ = datadir_to_lhotse(DataDir.read("data/test"), "manifests")
        >>> report = lhotse_to_datadir("manifests/recordings.jsonl.gz",
        ...                            "manifests/supervisions.jsonl.gz", "data/test_back")
        >>> report.utterances, len(report.skipped)
        (4, 0)
    """
    if lang is not None:
        check_language_code(lang)
    root = Path(audio_root) if audio_root is not None else Path.cwd()
    reader = _SupervisionReader(
        recordings=_read_recordings(Path(recordings), root, allow_pipes),
        path=Path(supervisions),
        lang=lang,
        speaker_prefix=speaker_prefix,
    )
    output = reader.read(Path(out_dir))
    write_outputs([output])
    return output.report


@dataclass
class _SupervisionReader:
    """Reads a SupervisionSet against its recordings, into the data dir to be written."""

    recordings: dict[str, _Recording]
    path: Path  # of the supervisions
    lang: str | None
    speaker_prefix: bool
    not_carried: Counter[str] = field(default_factory=Counter)  # field -> supervisions

    def read(self, out_dir: Path) -> ConversionOutput:
        """Read, check and convert every supervision; the data dir is not written."""
        output = ConversionOutput(DataDir(), ConversionReport(out_dir, None), str(self.path))
        supervisions = self._read_all()
        needs = {
            "text": any(sup.text for sup in supervisions),
            "language": any(sup.language for sup in supervisions),
            "label": any(sup.label is not None for sup in supervisions),
        }
        kept = []
        for sup in supervisions:
            problem = sup.problem or _missing(sup, needs)
            if problem is None:
                kept.append(sup)
            else:
                output.report.skipped.append(SkippedRow(sup.item.line, sup.id, problem, self.path))
        self._skip_unused_recordings(supervisions, output.report)
        _fill(output.data, output.report.renamed, kept)
        output.check_not_empty()
        if self.not_carried:
            counts = ", ".join(f"{name} ({n})" for name, n in sorted(self.not_carried.items()))
            logger.warning("%s: fields not carried into %s: %s", self.path, out_dir, counts)
        return output

    def _read_all(self) -> list[_Supervision]:
        """Every supervision, checked; ids must be unique, as Kaldi ids too."""
        supervisions: list[_Supervision] = []
        by_id: dict[str, _Supervision] = {}
        by_utt: dict[str, _Supervision] = {}
        for item in progress_bar(
            read_manifest(self.path), desc=f"from-lhotse {self.path.name}", unit="sup"
        ):
            _check_kind(item, "recording_id", "sources", "SupervisionSegment")
            sup = self._supervision(item)
            if sup.id in by_id:
                first = by_id[sup.id].item.line
                raise item.error(f"duplicated supervision id {sup.id!r} (first on line {first})")
            twin = by_utt.get(sup.utt)
            if twin is not None:
                message = f"supervision ids {twin.id!r} (line {twin.item.line}) and {sup.id!r} "
                raise item.error(message + f"are both the utterance {sup.utt!r}")
            by_id[sup.id] = by_utt[sup.utt] = sup
            supervisions.append(sup)
        return supervisions

    def _supervision(self, item: ManifestLine) -> _Supervision:
        """One supervision, its fields checked, and why it cannot be used (if so)."""
        sup_id = item.text("id", required=True)
        speaker_name = item.text("speaker")
        utt = kaldi_id(sup_id)
        speaker = kaldi_id(speaker_name) if speaker_name else utt
        language_value = item.text("language")
        text = item.text("text")
        sup = _Supervision(
            item=item,
            id=sup_id,
            utt=speaker_prefixed(utt, speaker) if self.speaker_prefix else utt,
            speaker=speaker,
            recording=self.recordings.get(item.text("recording_id", required=True)),
            start=item.number("start"),
            duration=item.number("duration"),
            channels=item.channels("channel", [0]),
            text=collapse_whitespace(text) if text else None,
            language=language_code_for(language_value) if language_value else self.lang,
            gender=_scalar_text(item.text("gender")),
            label=None,
            tables={},
        )
        self._read_custom(sup)
        sup.problem = _problem(sup, language_value)
        return sup

    def _read_custom(self, sup: _Supervision) -> None:
        """Take the label and the carried tables from the ``custom`` field; count the custom
        fields and alignments that no table holds."""
        custom = sup.item.fields.get("custom") or {}
        if not isinstance(custom, dict):
            raise sup.item.error(f"field 'custom' is not an object: {custom!r:.60}")
        sup.label = _scalar_text(custom.get(LABEL_FIELD))
        for name, value in custom.items():
            table = _carried_custom(name, value)
            if table is not None:
                sup.tables[table] = _scalar_text(value)
            elif name != LABEL_FIELD:
                self.not_carried[f"custom {name!r}"] += 1
        for kind in sup.item.fields.get("alignment") or {}:
            self.not_carried[f"alignment {kind!r}"] += 1

    def _skip_unused_recordings(self, sups: list[_Supervision], report: ConversionReport) -> None:
        """List the recordings that no supervision is on as skipped."""
        used = {sup.recording.id for sup in sups if sup.recording is not None}
        reason = f"no supervision of {self.path} is on this recording"
        for recording in self.recordings.values():
            if recording.id not in used:
                row = SkippedRow(recording.line, recording.id, reason, recording.path)
                report.skipped.append(row)


def _problem(sup: _Supervision, language_value: str | None) -> str | None:
    """Why a supervision cannot become an utterance, or None."""
    recording = sup.recording
    if recording is None:
        recording_id = sup.item.fields["recording_id"]
        return f"its recording {recording_id!r} is not in the recordings manifest"
    if recording.entry is None:
        where = f"{recording.path}:{recording.line}"
        return f"its recording {recording.id!r} ({where}): {recording.problem}"
    if sup.duration <= 0 or sup.start < 0:
        return f"start {sup.start:g} s, duration {sup.duration:g} s: not a part of a recording"
    end = sup.start + sup.duration
    if end > recording.duration + SEGMENT_END_TOLERANCE:
        return f"it ends at {end:g} s, after its recording ({recording.duration:g} s)"
    if not set(sup.channels) <= set(recording.channels):
        return f"channel {sup.channels} is not one of its recording's {recording.channels}"
    if set(sup.channels) != set(recording.channels):
        return (
            f"it is on channel {sup.channels} of recording {recording.id!r} (channels "
            f"{recording.channels}); speechml mixes all the channels of a wav.scp entry"
        )
    if language_value and sup.language is None:
        return f"language {language_value!r} is no ISO 639 code, language tag or English name"
    return None


def _missing(sup: _Supervision, needs: dict[str, bool]) -> str | None:
    """Why a supervision lacks what others have (a table covers all utterances), or None."""
    if needs["text"] and not sup.text:
        return "empty text"
    if needs["language"] and sup.language is None:
        return "no language, while others have one (--lang gives it)"
    if needs["label"] and sup.label is None:
        return f"no custom {LABEL_FIELD!r}, while others have one"
    return None


def _fill(data: DataDir, renamed: dict[str, str], kept: list[_Supervision]) -> None:
    """Put the kept supervisions into ``data``: wav.scp, segments if needed, every table;
    rewritten ids into ``renamed``."""
    per_recording = Counter(sup.recording.id for sup in kept)
    segmented = any(per_recording[sup.recording.id] > 1 or not _covers(sup) for sup in kept)
    first_gender: dict[str, _Supervision] = {}
    for sup in kept:
        recording, utt = sup.recording, sup.utt
        if segmented:
            recording_key = kaldi_id(recording.id)
            if recording_key != recording.id:
                renamed[recording_key] = collapse_whitespace(recording.id)
            data.wav_scp[recording_key] = recording.entry
            data.segments[utt] = Segment(recording_key, sup.start, sup.start + sup.duration)
        else:
            data.wav_scp[utt] = recording.entry
        if utt != sup.id:
            renamed[utt] = collapse_whitespace(sup.id)
        data.utt2spk[utt] = sup.speaker
        data.utt2dur[utt] = sup.duration
        if sup.text is not None:
            data.text[utt] = sup.text
        if sup.language is not None:
            data.utt2lang[utt] = sup.language
        if sup.label is not None:
            data.utt2label[utt] = sup.label
        for table, value in sup.tables.items():
            data.other_tables.setdefault(table, {})[utt] = value
        if sup.gender is not None:
            first = first_gender.setdefault(sup.speaker, sup)
            if first.gender != sup.gender:
                message = f"speaker {sup.speaker!r} has gender {sup.gender!r} here, "
                raise sup.item.error(message + f"{first.gender!r} on line {first.item.line}")
            data.other_tables.setdefault("spk2gender", {})[sup.speaker] = sup.gender


def _covers(sup: _Supervision) -> bool:
    """True if a supervision starts and ends with its recording (within a millisecond)."""
    tolerance = WHOLE_RECORDING_TOLERANCE
    end = sup.start + sup.duration
    return sup.start <= tolerance and abs(end - sup.recording.duration) <= tolerance


def _scalar_text(value: object) -> str | None:
    """A text or a number as one line of text; None for anything else or a blank text."""
    if isinstance(value, (str, int, float)):
        return collapse_whitespace(str(value)) or None
    return None


def _carried_custom(name: str, value: object) -> str | None:
    """The carried table ``utt2<name>`` that a supervision's custom field goes into, or None:
    not a text or a number, a name no file can have, or a table with a field of its own."""
    table = f"utt2{name}"
    if _scalar_text(value) is None or not _TABLE_SUFFIX.fullmatch(name):
        return None
    return table if carried_table_kind(table) == "utterance" else None
