"""Converters between Kaldi data dirs and other layouts: Hugging Face datasets, Common Voice.

Audio stays in files: a data dir's ``wav.scp`` holds paths, a dataset's ``audio`` column holds
paths (a plain string column; cast it with ``datasets.Audio`` to decode). Audio given as bytes
in a dataset is written to WAV files under ``<out_dir>/wav``. ``datasets`` >= 4 decodes audio
with torchcodec, which is not needed: audio columns are read with ``Audio(decode=False)``.

Ids become Kaldi ids: whitespace, path separators and parentheses are replaced by ``_``, and an
utterance id is prefixed with its speaker id (``<speaker>-<id>``) unless it already starts with
``<speaker>-`` (or is the speaker id), so that ``utt2spk`` and ``spk2utt`` sort the same way.

Example:
    >>> datadir_to_hf(DataDir.read("data/train"), "data/train_hf")  # doctest: +SKIP
    >>> hf_to_datadir("data/train_hf", "data/train_back")  # doctest: +SKIP
    >>> commonvoice_to_datadir("cv-corpus-17.0/sw", "swh", "data/cv_sw")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import soundfile
from tqdm import tqdm

from speechml.data.audio import is_pipe, write_audio
from speechml.data.datadir import DataDir
from speechml.data.languages import check_language_code
from speechml.errors import ConfigError, DataError
from speechml.io import atomic_dir, atomic_write_text
from speechml.text.normalize import collapse_whitespace

logger = logging.getLogger(__name__)

#: Name of the file, in an output data dir, that lists the dataset rows that were skipped.
SKIPPED_FILE = "skipped.txt"

#: Files that mark a directory written by ``save_to_disk`` (a Dataset or a DatasetDict).
_DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")

_NOT_IN_ID = re.compile(r"[\s/\\()]+")


def kaldi_id(raw: object) -> str:
    """A Kaldi id from any value: whitespace, ``/``, ``\\`` and parentheses become ``_``.

    Example:
        >>> kaldi_id("spk 1/clip (a)")
        'spk_1_clip_a_'
    """
    return _NOT_IN_ID.sub("_", str(raw).strip())


def _is_empty(value: object) -> bool:
    """True for a missing value: None, a blank string, or ClassLabel's "no label" (-1)."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, int) and value == -1)


def _seconds(value: object, where: str, utt: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"duration {value!r} is not a number", where, utt=utt) from None


def _speaker_prefixed(utt: str, speaker: str) -> str:
    """``utt``, prefixed ``<speaker>-`` unless it is ``speaker`` or already starts so."""
    return utt if utt == speaker or utt.startswith(f"{speaker}-") else f"{speaker}-{utt}"


@dataclass(frozen=True)
class SkippedRow:
    """A dataset row that was not converted, and why."""

    row: int  # 0-based index of the row in its split
    id: str  # the row's id as found (or generated)
    reason: str

    def __str__(self) -> str:
        return f"row {self.row} (id {self.id!r}): {self.reason}"


@dataclass
class ConversionReport:
    """What one conversion wrote: the data dir, how many utterances, which rows were skipped."""

    path: Path
    split: str | None
    utterances: int = 0
    skipped: list[SkippedRow] = field(default_factory=list)


# ---------------------------------------------------------------- data dir -> Hugging Face


def datadir_to_hf(data: DataDir, out_dir: str | Path) -> datasets.Dataset:
    """Save a data dir as a Hugging Face dataset (``save_to_disk``), one row an utterance.

    Columns: ``id``, ``audio`` (the ``wav.scp`` path, a string), ``speaker``, and those whose
    tables are present: ``text``, ``language`` (``utt2lang``), ``duration`` (``utt2dur``),
    ``label`` (``utt2label``). Rows are in Kaldi order.

    Args:
        data: the data dir; pipes in ``wav.scp`` and ``segments`` are refused (a row is a file).
        out_dir: where to save; written to a temporary directory, then renamed. An existing
            ``out_dir`` is replaced only if it is a saved dataset or empty.

    Returns:
        The dataset that was saved.

    Raises:
        DataError: on segments, a pipe, or an utterance missing from a present table.
    """
    where = data.path if data.path is not None else "data dir"
    if data.segments:
        raise DataError(
            "has segments; a dataset row is one audio file: extract the segments first", where
        )
    tables = {
        "text": (data.text, "text"),
        "language": (data.utt2lang, "utt2lang"),
        "duration": (data.utt2dur, "utt2dur"),
        "label": (data.utt2label, "utt2label"),
    }
    columns: dict[str, list[object]] = {"id": [], "audio": [], "speaker": []}
    columns.update({name: [] for name, (table, _) in tables.items() if table})
    for utt in data.utts:
        entry = data.audio_entry(utt)
        if is_pipe(entry):
            raise DataError("wav.scp entry is a shell pipe; a dataset needs a file", where, utt=utt)
        columns["id"].append(utt)
        columns["audio"].append(entry)
        columns["speaker"].append(data.utt2spk[utt])
        for name, (table, file_name) in tables.items():
            if not table:
                continue
            if utt not in table:
                raise DataError(f"has no entry in {file_name}", where, utt=utt)
            columns[name].append(table[utt])
    dataset = datasets.Dataset.from_dict(columns)
    _save_dataset_atomically(dataset, Path(out_dir))
    return dataset


def _save_dataset_atomically(dataset: datasets.Dataset, out_dir: Path) -> None:
    if out_dir.exists():
        is_dataset = any((out_dir / marker).is_file() for marker in _DATASET_MARKERS)
        if not out_dir.is_dir() or not (is_dataset or not any(out_dir.iterdir())):
            raise DataError("exists and is not a saved dataset; refusing to replace it", out_dir)
    with atomic_dir(out_dir) as tmp:
        dataset.save_to_disk(str(tmp))


# ---------------------------------------------------------------- Hugging Face -> data dir


def hf_to_datadir(
    dataset_or_path: datasets.Dataset | datasets.DatasetDict | str | Path,
    out_dir: str | Path,
    audio_column: str = "audio",
    text_column: str | None = "text",
    *,
    id_column: str | None = None,
    speaker_column: str | None = None,
    language_column: str | None = None,
    duration_column: str | None = None,
    label_column: str | None = None,
    lang: str | None = None,
    split: str | None = None,
    audio_root: str | Path | None = None,
    speaker_prefix: bool = True,
) -> list[ConversionReport]:
    """Convert a Hugging Face dataset (in memory or saved with ``save_to_disk``) to data dirs.

    A ``Dataset`` (or one ``split`` of a ``DatasetDict``) becomes the data dir ``out_dir``; a
    ``DatasetDict`` becomes one data dir a split, ``out_dir/<split>``. Rows whose audio is
    missing or unreadable, or whose text is empty, are skipped and listed (row, id, reason) in
    ``<data dir>/skipped.txt`` and in a warning.

    Args:
        dataset_or_path: the dataset, or the directory it was saved to.
        out_dir: the output data dir (or parent of the per-split dirs).
        audio_column: audio as a path string or a ``{"path", "bytes"}`` dict (datasets.Audio).
        text_column: transcripts; None for data without them (classification).
        id_column: utterance ids; default: column ``id`` if present, else
            ``<split or "utt">-<row index>``.
        speaker_column: speaker ids; default: column ``speaker`` if present, else the
            utterance id.
        language_column: ISO 639-3 codes; default: column ``language`` if present and
            ``lang`` is not given.
        duration_column: seconds (``utt2dur``); default: column ``duration`` if present.
        label_column: class labels, strings or a ``datasets.ClassLabel`` (``utt2label``);
            default: column ``label`` if present.
        lang: ISO 639-3 code of every utterance, e.g. ``"swh"``; excludes ``language_column``.
        split: convert only this split of a ``DatasetDict``.
        audio_root: directory that relative audio paths are relative to (default: the
            current directory); paths are written absolute.
        speaker_prefix: prefix utterance ids with ``<speaker>-`` when they do not start
            with it (Kaldi's sorting rule).

    Returns:
        One :class:`ConversionReport` a data dir written.

    Raises:
        ConfigError: on a column that is named but missing, or an unknown split.
        DataError: on a language code that is not ISO 639-3, duplicated ids, or a split with
            no usable row.

    Example:
        >>> hf_to_datadir("fleurs_sw", "data", text_column="transcription", lang="swh")
        ... # doctest: +SKIP
    """
    columns = {
        "audio": audio_column,
        "text": text_column,
        "id": id_column,
        "speaker": speaker_column,
        "language": language_column,
        "duration": duration_column,
        "label": label_column,
    }
    if lang is not None:
        if language_column is not None:
            raise ConfigError("give either a language column or a language code, not both")
        check_language_code(lang)
    source = "dataset"
    if isinstance(dataset_or_path, (str, Path)):
        source = str(dataset_or_path)
        dataset_or_path = _load_from_disk(Path(dataset_or_path))
    out_dir = Path(out_dir)
    root = Path(audio_root) if audio_root is not None else Path.cwd()
    if isinstance(dataset_or_path, datasets.DatasetDict):
        if split is not None:
            if split not in dataset_or_path:
                known = ", ".join(dataset_or_path)
                raise ConfigError(f"no split {split!r} in the dataset (splits: {known})")
            parts = {split: (dataset_or_path[split], out_dir)}
        else:
            parts = {name: (ds, out_dir / name) for name, ds in dataset_or_path.items()}
    else:
        if split is not None:
            raise ConfigError(f"split {split!r} given, but the dataset has no splits")
        parts = {None: (dataset_or_path, out_dir)}
    converter = _HfConverter(columns, lang, root, speaker_prefix)
    return [converter.convert(ds, path, source, name) for name, (ds, path) in parts.items()]


def _load_from_disk(path: Path) -> datasets.Dataset | datasets.DatasetDict:
    if not path.is_dir():
        raise DataError("dataset directory not found", path=path)
    try:
        return datasets.load_from_disk(str(path))
    except FileNotFoundError as err:
        raise DataError(f"not a dataset saved with save_to_disk ({err})", path=path) from None


@dataclass
class _HfConverter:
    columns: dict[str, str | None]  # table -> column name; None: the default (see hf_to_datadir)
    lang: str | None
    audio_root: Path
    speaker_prefix: bool

    def convert(
        self, dataset: datasets.Dataset, out_dir: Path, source: str, split: str | None
    ) -> ConversionReport:
        """Write the data dir ``out_dir`` from one split; ``source`` names it in errors."""
        where = f"{source} (split {split})" if split else source
        names = self._resolve_columns(dataset, where)
        audio_column = names["audio"]
        if isinstance(dataset.features[audio_column], datasets.Audio):
            dataset = dataset.cast_column(audio_column, datasets.Audio(decode=False))
        dataset = dataset.select_columns(sorted(set(names.values())))
        label_feature = dataset.features[names["label"]] if "label" in names else None
        report = ConversionReport(out_dir, split)
        data = DataDir()
        first_row: dict[str, int] = {}
        rows = tqdm(dataset, desc=f"from-hf {split or out_dir.name}", unit="utt")
        for index, row in enumerate(rows):
            values = {table: row[column] for table, column in names.items()}
            raw_id = values.get("id", f"{split or 'utt'}-{index:06d}")
            empty = [names[t] for t, v in values.items() if t != "audio" and _is_empty(v)]
            if empty:
                reason = f"empty {', '.join(empty)}"
                report.skipped.append(SkippedRow(index, str(raw_id), reason))
                continue
            utt = kaldi_id(raw_id)
            speaker = kaldi_id(values["speaker"]) if "speaker" in values else utt
            if self.speaker_prefix:
                utt = _speaker_prefixed(utt, speaker)
            if utt in first_row:
                message = f"rows {first_row[utt]} and {index} have the same id"
                raise DataError(message, where, utt=utt)
            audio, problem = self._audio(values["audio"], out_dir, utt)
            if audio is None:
                report.skipped.append(SkippedRow(index, utt, problem))
                continue
            first_row[utt] = index
            data.wav_scp[utt] = audio
            data.utt2spk[utt] = speaker
            if "text" in values:
                data.text[utt] = collapse_whitespace(str(values["text"]))
            language = values.get("language", self.lang)
            if language is not None:
                data.utt2lang[utt] = check_language_code(str(language), path=where, utt=utt)
            if "duration" in values:
                data.utt2dur[utt] = _seconds(values["duration"], where, utt)
            if label_feature is not None:
                data.utt2label[utt] = self._label(values["label"], label_feature)
        report.utterances = len(data)
        self._finish(data, report, where)
        return report

    def _resolve_columns(self, dataset: datasets.Dataset, where: str) -> dict[str, str]:
        """Table -> column name, for the columns that are used."""
        available = dataset.column_names
        names: dict[str, str] = {}
        for table, column in self.columns.items():
            if column is None:
                auto = table not in ("audio", "text") and table in available
                if auto and not (table == "language" and self.lang is not None):
                    names[table] = table
            elif column in available:
                names[table] = column
            else:
                raise ConfigError(
                    f"{where}: no {table} column {column!r}; columns: {', '.join(available)}"
                )
        return names

    def _audio(self, value: object, out_dir: Path, utt: str) -> tuple[str | None, str]:
        """(wav.scp path, "") or (None, why the audio is unusable)."""
        if isinstance(value, dict):
            if value.get("bytes"):
                return self._write_bytes(value["bytes"], out_dir / "wav" / f"{utt}.wav")
            value = value.get("path")
        if not value:
            return None, "no audio"
        path = self.audio_root / str(value)
        if not path.is_file():
            return None, f"audio file not found: {path}"
        return os.path.abspath(path), ""

    @staticmethod
    def _write_bytes(data: bytes, path: Path) -> tuple[str | None, str]:
        try:
            samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
        except (soundfile.LibsndfileError, RuntimeError) as err:
            return None, f"audio bytes are not readable audio: {err}"
        if samples.size == 0:
            return None, "audio is empty (0 samples)"
        write_audio(path, samples, rate)
        return os.path.abspath(path), ""

    @staticmethod
    def _label(value: object, feature: object) -> str:
        if isinstance(feature, datasets.ClassLabel):
            value = feature.int2str(value)
        return collapse_whitespace(str(value))

    @staticmethod
    def _finish(data: DataDir, report: ConversionReport, where: str) -> None:
        skipped_file = report.path / SKIPPED_FILE
        if not len(data):
            reasons = "; ".join(str(s) for s in report.skipped[:3])
            raise DataError(f"no usable row ({len(report.skipped)} skipped: {reasons})", where)
        data.write(report.path)
        if report.skipped:
            atomic_write_text(skipped_file, "".join(f"{s}\n" for s in report.skipped))
            logger.warning(
                "%s: skipped %d of %d rows, listed in %s",
                where,
                len(report.skipped),
                len(report.skipped) + len(data),
                skipped_file,
            )
        else:
            skipped_file.unlink(missing_ok=True)


# ---------------------------------------------------------------- Common Voice -> data dir

#: Columns of a Common Voice tsv that the conversion reads.
COMMONVOICE_COLUMNS = ("client_id", "path", "sentence")

#: Hex digits of the hash of a client_id that make a speaker id.
SPEAKER_ID_DIGITS = 12


def commonvoice_speaker(client_id: str) -> str:
    """A short, stable speaker id for a Common Voice ``client_id`` (a hash of it).

    Example:
        >>> len(commonvoice_speaker("0a1b2c..."))
        12
    """
    return hashlib.sha256(client_id.encode("utf-8")).hexdigest()[:SPEAKER_ID_DIGITS]


def commonvoice_to_datadir(
    release_dir: str | Path,
    lang: str,
    out_dir: str | Path,
    splits: Sequence[str] = ("train", "dev", "test"),
) -> list[ConversionReport]:
    """Convert a Common Voice release (``clips/*.mp3`` and ``<split>.tsv``) to data dirs.

    Each split becomes ``out_dir/<split>``: speakers are hashes of ``client_id``
    (:func:`commonvoice_speaker`), utterance ids ``<speaker>-<clip stem>``, transcripts the
    ``sentence`` column, ``utt2lang`` the code ``lang``; ``wav.scp`` holds the clips' absolute
    paths (libsndfile >= 1.1 reads mp3).

    Args:
        release_dir: the locale directory of a release, e.g. ``cv-corpus-17.0/sw``.
        lang: ISO 639-3 code of the locale, e.g. ``"swh"``.
        out_dir: parent of the per-split data dirs.
        splits: names of the tsv files to convert (``validated``, ``other``... also work).

    Raises:
        DataError: on a missing tsv, a missing column, a short row, an empty sentence, a
            missing clip or a duplicated clip, naming the tsv file and line.
    """
    check_language_code(lang)
    release_dir = Path(release_dir)
    clips = release_dir / "clips"
    reports = []
    for split in splits:
        tsv = release_dir / f"{split}.tsv"
        data = DataDir()
        for line, row in _read_commonvoice_tsv(tsv):
            clip = clips / row["path"]
            if not clip.is_file():
                raise DataError(f"clip not found: {clip}", tsv, line)
            sentence = collapse_whitespace(row["sentence"])
            if not sentence:
                raise DataError(f"empty sentence for clip {row['path']!r}", tsv, line)
            speaker = commonvoice_speaker(row["client_id"])
            utt = f"{speaker}-{kaldi_id(Path(row['path']).stem)}"
            if utt in data.wav_scp:
                raise DataError(f"clip {row['path']!r} is listed twice", tsv, line)
            data.wav_scp[utt] = str(clip.resolve())
            data.utt2spk[utt] = speaker
            data.text[utt] = sentence
            data.utt2lang[utt] = lang
        if not len(data):
            raise DataError("has no utterance", tsv)
        path = Path(out_dir) / split
        data.write(path)
        reports.append(ConversionReport(path, split, utterances=len(data)))
    return reports


def _read_commonvoice_tsv(tsv: Path) -> Iterable[tuple[int, dict[str, str]]]:
    """(line number, row) of a Common Voice tsv, checking the columns that are read."""
    try:
        handle = tsv.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise DataError("file not found", tsv) from None
    with handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            raise DataError("empty file, expected a header line", tsv, 1)
        missing = [name for name in COMMONVOICE_COLUMNS if name not in header]
        if missing:
            raise DataError(f"missing column(s) {', '.join(missing)} in the header", tsv, 1)
        index = {name: header.index(name) for name in COMMONVOICE_COLUMNS}
        for fields in tqdm(reader, desc=f"from-commonvoice {tsv.name}", unit="utt"):
            if not any(fields):
                continue
            if len(fields) < len(header):
                message = f"expected {len(header)} tab-separated fields, got {len(fields)}"
                raise DataError(message, tsv, reader.line_num)
            yield reader.line_num, {name: fields[i] for name, i in index.items()}
