"""The rule every converter to data dirs follows: Kaldi ids, reports, all-or-none writing.

Ids become Kaldi ids (:func:`kaldi_id`): whitespace, path separators and parentheses are
replaced by ``_``, and an utterance id is prefixed with its speaker id (``<speaker>-<id>``,
:func:`speaker_prefixed`) unless it already starts with ``<speaker>-`` (or is the speaker id),
so that ``utt2spk`` and ``spk2utt`` sort the same way. The ids that were rewritten are listed in
``<data dir>/renamed.txt``, a table of ``<new id> <id in the source>`` lines.

A conversion first reads and checks all its input: a missing column, a bad language code, a
duplicated id or a malformed file stops it before anything is written. A row that cannot be
used (no audio, unreadable audio, an empty transcript) is skipped and listed with its reason in
``<data dir>/skipped.txt``. Then :func:`write_outputs` writes each output data dir into a
temporary directory, and once every one is complete renames them into place: an output dir is
replaced whole (only if it is a data dir or empty), so no stale file of an older conversion is
left in it and a failed run leaves the old outputs as they were.

Example:
    >>> data = DataDir.read("data/train")
    >>> output = ConversionOutput(data, ConversionReport(Path("data/x"), None), "src")
    >>> write_outputs([output])
    >>> len(DataDir.read("data/x"))
    8
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import soundfile

from speechml.data.audio import write_audio
from speechml.data.datadir import RENAMED_REPORT, SKIPPED_REPORT, DataDir
from speechml.data.ops import subset_data_dir
from speechml.data.table import write_table
from speechml.errors import DataError
from speechml.io import atomic_dir, atomic_write_text
from speechml.progress import progress_bar

logger = logging.getLogger(__name__)

#: Name of the file, in an output data dir, that lists the rows that were skipped.
SKIPPED_FILE = SKIPPED_REPORT
#: Name of the file, in an output data dir, that lists the ids that were rewritten.
RENAMED_FILE = RENAMED_REPORT
#: Directory, in an output data dir, of the audio that a dataset holds as bytes.
AUDIO_DIR = "wav"

_NOT_IN_ID = re.compile(r"[\s/\\()]+")


def kaldi_id(raw: object) -> str:
    """A Kaldi id from any value: whitespace, ``/``, ``\\`` and parentheses become ``_``.

    Example:
        >>> kaldi_id("spk 1/clip (a)")
        'spk_1_clip_a_'
    """
    return _NOT_IN_ID.sub("_", str(raw).strip())


def speaker_prefixed(utt: str, speaker: str) -> str:
    """``utt``, prefixed ``<speaker>-`` unless it is ``speaker`` or already starts so."""
    return utt if utt == speaker or utt.startswith(f"{speaker}-") else f"{speaker}-{utt}"


@dataclass(frozen=True)
class SkippedRow:
    """A row that was not converted, and why: ``row 3 (id 'x'): empty text`` for a dataset,
    ``cv/train.tsv:5 (id 'x'): empty sentence`` for a tsv file."""

    row: int  # 0-based index of the row in its split, or 1-based line of ``file``
    id: str  # the row's id as found (or generated)
    reason: str
    file: Path | None = None  # the file (tsv, manifest) whose line ``row`` is; None: a dataset

    def __str__(self) -> str:
        where = f"row {self.row}" if self.file is None else f"{self.file}:{self.row}"
        return f"{where} (id {self.id!r}): {self.reason}"


@dataclass
class ConversionReport:
    """What one conversion wrote: the data dir, how many utterances, which rows were skipped,
    which ids were rewritten."""

    path: Path
    split: str | None
    utterances: int = 0
    skipped: list[SkippedRow] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # new utterance id -> id in the source


@dataclass
class ConversionOutput:
    """One data dir that a conversion will write: read and checked, not yet on disk."""

    data: DataDir  # wav.scp holds the final audio paths
    report: ConversionReport
    where: str  # how messages name the source of this data dir
    #: utterance -> (its row, a reader of its audio bytes), to write to ``<dir>/wav/<utt>.wav``
    audio_bytes: dict[str, tuple[int, Callable[[], bytes]]] = field(default_factory=dict)

    def check_not_empty(self) -> None:
        """Raise a DataError if no row is left."""
        if not len(self.data):
            skipped = self.report.skipped
            reasons = "; ".join(str(s) for s in skipped[:3])
            raise DataError(f"no usable row ({len(skipped)} skipped: {reasons})", self.where)


def write_outputs(outputs: Sequence[ConversionOutput]) -> None:
    """Write every output data dir, all or none: each into a temporary directory, then, once
    all are written, each renamed onto its path (replacing what was there).

    Raises:
        DataError: before anything is written, if an output path exists and is not a data dir
            or empty, or if audio used lies inside an output dir (replacing it would delete
            the audio); while writing (nothing is renamed then), if the audio bytes of no row
            of a split decode.
    """
    for output in outputs:
        _check_replaceable(output)
    with contextlib.ExitStack() as stack:
        for output in outputs:
            _write_output(output, stack.enter_context(atomic_dir(output.report.path)))
    for output in outputs:
        output.data.path = output.report.path
        _log_output(output)


def _check_replaceable(output: ConversionOutput) -> None:
    """Raise a DataError if writing ``output`` would replace anything but a data dir, or would
    delete audio that its ``wav.scp`` uses."""
    path = output.report.path
    check_replaceable_dir(path, ("wav.scp", "utt2spk"), "a data dir")
    inside = path.resolve()
    for recording, entry in output.data.wav_scp.items():
        if recording not in output.audio_bytes and Path(entry).resolve().is_relative_to(inside):
            raise DataError(
                f"audio {entry} lies inside the output dir, which the conversion replaces "
                "whole; write to another directory",
                path,
                utt=recording,
            )


def check_replaceable_dir(path: Path, markers: Sequence[str], what: str) -> None:
    """Raise a DataError unless ``path`` is missing, an empty directory, or a directory that
    holds one of the files ``markers`` (it is ``what``, e.g. "a data dir")."""
    if path.exists():
        is_one = path.is_dir() and any((path / marker).is_file() for marker in markers)
        if not is_one and not (path.is_dir() and not any(path.iterdir())):
            raise DataError(f"exists and is not {what}; refusing to replace it", path)


def _write_output(output: ConversionOutput, tmp: Path) -> None:
    """Write one output data dir into ``tmp``: audio bytes (skipping rows whose bytes do not
    decode), the tables, ``skipped.txt`` and ``renamed.txt``."""
    report, skipped = output.report, set()
    audio = progress_bar(
        output.audio_bytes.items(),
        desc=f"writing audio {report.path.name}",
        unit="file",
        disable=not output.audio_bytes,
    )
    for utt, (row, read_bytes) in audio:
        problem = _write_audio_bytes(read_bytes(), tmp / AUDIO_DIR / f"{utt}.wav")
        if problem is not None:
            report.skipped.append(SkippedRow(row, utt, problem))
            skipped.add(utt)
    if skipped:
        output.data = subset_data_dir(output.data, set(output.data.utt2spk) - skipped)
        report.renamed = {new: old for new, old in report.renamed.items() if new not in skipped}
        report.skipped.sort(key=lambda s: s.row)
        output.check_not_empty()
    output.data.write(tmp)
    report.utterances = len(output.data)
    if report.skipped:
        atomic_write_text(tmp / SKIPPED_FILE, "".join(f"{s}\n" for s in report.skipped))
    if report.renamed:
        write_table(tmp / RENAMED_FILE, report.renamed)


def _write_audio_bytes(data: bytes, path: Path) -> str | None:
    """Decode audio bytes and write them as a WAV file; None, or why they are not audio."""
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    except (soundfile.LibsndfileError, RuntimeError) as err:
        return f"audio bytes are not readable audio: {err}"
    if samples.size == 0:
        return "audio is empty (0 samples)"
    write_audio(path, samples, rate)
    return None


def _log_output(output: ConversionOutput) -> None:
    report = output.report
    if report.skipped:
        logger.warning(
            "%s: skipped %d of %d rows, listed in %s",
            output.where,
            len(report.skipped),
            len(report.skipped) + report.utterances,
            report.path / SKIPPED_FILE,
        )
    if report.renamed:
        logger.info(
            "%s: rewrote %d ids as Kaldi ids, listed in %s",
            output.where,
            len(report.renamed),
            report.path / RENAMED_FILE,
        )
