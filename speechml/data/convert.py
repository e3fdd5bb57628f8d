"""Converters between Kaldi data dirs and other layouts: Hugging Face datasets, Common Voice.

Audio stays in files: a data dir's ``wav.scp`` holds paths, a dataset's ``audio`` column holds
paths (a plain string column; cast it with ``datasets.Audio`` to decode). Audio given as bytes
in a dataset is written to WAV files under ``<out_dir>/wav``. ``datasets`` >= 4 decodes audio
with torchcodec, which is not needed: audio columns are read with ``Audio(decode=False)``.

Every conversion follows the rule of :mod:`speechml.data.conversion`: ids rewritten as Kaldi
ids are listed in ``renamed.txt``, rows that cannot be used in ``skipped.txt``, every split is
read and checked before any data dir is written, and each data dir is written whole.

Example:
    >>> len(datadir_to_hf(DataDir.read("data/train"), "data/train_hf"))
    8
    >>> [report.utterances for report in hf_to_datadir("data/train_hf", "data/train_back")]
    [8]
    >>> commonvoice_to_datadir("cv-corpus-17.0/sw", "swh", "data/cv_sw")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import functools
import hashlib
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
import pycountry
from babel import Locale
from babel.core import get_global

from speechml.data.audio import is_pipe
from speechml.data.conversion import (
    AUDIO_DIR,
    ConversionOutput,
    ConversionReport,
    SkippedRow,
    check_replaceable_dir,
    kaldi_id,
    speaker_prefixed,
    write_outputs,
)
from speechml.data.datadir import DataDir, carried_table_kind, warn_left_behind
from speechml.errors import ConfigError, DataError
from speechml.io import atomic_dir
from speechml.lang.languages import check_language_code, language_name
from speechml.lang.normalize import collapse_whitespace
from speechml.progress import progress_bar

logger = logging.getLogger(__name__)

#: Files that mark a directory written by ``save_to_disk`` (a Dataset or a DatasetDict).
_DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


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


# ---------------------------------------------------------------- data dir -> Hugging Face


def datadir_to_hf(data: DataDir, out_dir: str | Path) -> datasets.Dataset:
    """Save a data dir as a Hugging Face dataset (``save_to_disk``), one row an utterance.

    Columns: ``id``, ``audio`` (the ``wav.scp`` path, a string), ``speaker``, and those whose
    tables are present: ``text``, ``language`` (``utt2lang``), ``duration`` (``utt2dur``),
    ``label`` (``utt2label``), then one column a carried table, named after its file
    (``spk2gender``, ``utt2uniq``...; a speaker's value on each of its rows, None where the
    table has no entry). Rows are in Kaldi order. Files of the data dir that are not tables
    are named in a logged warning.

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
    columns.update({name: [] for name in data.other_tables})
    for utt in data.utts:
        entry = data.audio_entry(utt)
        if is_pipe(entry):
            raise DataError("wav.scp entry is a shell pipe; a dataset needs a file", where, utt=utt)
        speaker = data.utt2spk[utt]
        columns["id"].append(utt)
        columns["audio"].append(entry)
        columns["speaker"].append(speaker)
        for name, (table, file_name) in tables.items():
            if not table:
                continue
            if utt not in table:
                raise DataError(f"has no entry in {file_name}", where, utt=utt)
            columns[name].append(table[utt])
        for name, table in data.other_tables.items():
            key = speaker if carried_table_kind(name) == "speaker" else utt  # a row: a recording
            columns[name].append(table.get(key))
    dataset = datasets.Dataset.from_dict(columns)
    warn_left_behind(data.left_behind, out_dir)
    _save_dataset_atomically(dataset, Path(out_dir))
    return dataset


def _save_dataset_atomically(dataset: datasets.Dataset, out_dir: Path) -> None:
    check_replaceable_dir(out_dir, _DATASET_MARKERS, "a saved dataset")
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
    ``<data dir>/skipped.txt`` and in a warning; rewritten ids go to ``renamed.txt``. Every
    split is read and checked before any is written, and the data dirs are written atomically
    (see the module's docstring).

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
        DataError: on a language code that is not ISO 639-3, duplicated ids, a split with
            no usable row, or an output path that is not a data dir (nothing is written then).

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
    outputs = [converter.read(ds, path, source, name) for name, (ds, path) in parts.items()]
    write_outputs(outputs)
    return [output.report for output in outputs]


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

    def read(
        self, dataset: datasets.Dataset, out_dir: Path, source: str, split: str | None
    ) -> ConversionOutput:
        """Read and check one split, the data dir ``out_dir`` to be; ``source`` names it."""
        where = f"{source} (split {split})" if split else source
        names = self._resolve_columns(dataset, where)
        audio_column = names["audio"]
        if isinstance(dataset.features[audio_column], datasets.Audio):
            dataset = dataset.cast_column(audio_column, datasets.Audio(decode=False))
        dataset = dataset.select_columns(sorted(set(names.values())))
        label_feature = dataset.features[names["label"]] if "label" in names else None
        output = ConversionOutput(DataDir(), ConversionReport(out_dir, split), where)
        data, report = output.data, output.report
        first_row: dict[str, int] = {}
        rows = progress_bar(dataset, desc=f"from-hf {split or out_dir.name}", unit="utt")
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
                utt = speaker_prefixed(utt, speaker)
            if utt in first_row:
                message = f"rows {first_row[utt]} and {index} have the same id"
                raise DataError(message, where, utt=utt)
            audio, problem = self._audio(values["audio"], out_dir, utt)
            if audio is None:
                report.skipped.append(SkippedRow(index, utt, problem))
                continue
            if isinstance(values["audio"], dict) and values["audio"].get("bytes"):
                read_bytes = functools.partial(_row_audio_bytes, dataset, audio_column, index)
                output.audio_bytes[utt] = (index, read_bytes)
            if "id" in values and utt != str(raw_id):
                report.renamed[utt] = collapse_whitespace(str(raw_id))
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
        output.check_not_empty()
        return output

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
        """(wav.scp path, "") or (None, why the audio is unusable); audio bytes get the path
        they will be written to (and are decoded then)."""
        if isinstance(value, dict):
            if value.get("bytes"):
                return os.path.abspath(out_dir / AUDIO_DIR / f"{utt}.wav"), ""
            value = value.get("path")
        if not value:
            return None, "no audio"
        path = self.audio_root / str(value)
        if not path.is_file():
            return None, f"audio file not found: {path}"
        return os.path.abspath(path), ""

    @staticmethod
    def _label(value: object, feature: object) -> str:
        if isinstance(feature, datasets.ClassLabel):
            value = feature.int2str(value)
        return collapse_whitespace(str(value))


def _row_audio_bytes(dataset: datasets.Dataset, column: str, index: int) -> bytes:
    """The audio bytes of one row (read again when they are written, not kept in memory)."""
    return dataset[index][column]["bytes"]


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
    paths (libsndfile >= 1.1 reads mp3). Rows whose clip is missing or whose sentence is empty
    are skipped and listed in ``<data dir>/skipped.txt``; clip stems that had to be rewritten
    as Kaldi ids are listed in ``renamed.txt``. Every tsv is read and checked before any data
    dir is written, and the data dirs are written atomically (see the module's docstring).

    Args:
        release_dir: the locale directory of a release, e.g. ``cv-corpus-17.0/sw``.
        lang: ISO 639-3 code of the locale, e.g. ``"swh"``; it must agree with the ``locale``
            column of the tsv files when they have one (:func:`check_locale`).
        out_dir: parent of the per-split data dirs.
        splits: names of the tsv files to convert (``validated``, ``other``... also work).

    Raises:
        ConfigError: if ``lang`` contradicts the ``locale`` column.
        DataError: on a missing tsv, a missing column, a short row, a duplicated clip or a
            split with no usable row, naming the tsv file and line; nothing is written then.
    """
    check_language_code(lang)
    release_dir = Path(release_dir)
    outputs = [
        _read_commonvoice_split(release_dir / f"{split}.tsv", lang, Path(out_dir) / split, split)
        for split in splits
    ]
    write_outputs(outputs)
    return [output.report for output in outputs]


def _read_commonvoice_split(tsv: Path, lang: str, out_dir: Path, split: str) -> ConversionOutput:
    """Read and check one split's tsv, the data dir ``out_dir`` to be."""
    clips = tsv.parent / "clips"
    output = ConversionOutput(DataDir(), ConversionReport(out_dir, split), str(tsv))
    data, report = output.data, output.report
    locales: set[str] = set()
    for line, row in _read_commonvoice_tsv(tsv):
        locale = row.get("locale")
        if locale and locale not in locales:
            check_locale(locale, lang, f"{tsv}:{line}")
            locales.add(locale)
        stem = Path(row["path"]).stem
        speaker = commonvoice_speaker(row["client_id"])
        utt = f"{speaker}-{kaldi_id(stem)}"
        clip = clips / row["path"]
        sentence = collapse_whitespace(row["sentence"])
        problem = None
        if not row["path"] or not clip.is_file():
            problem = f"clip not found: {clip}"
        elif not sentence:
            problem = "empty sentence"
        if problem is not None:
            report.skipped.append(SkippedRow(line, utt, problem, tsv))
            continue
        if utt in data.wav_scp:
            raise DataError(f"clip {row['path']!r} is listed twice", tsv, line)
        if kaldi_id(stem) != stem:
            report.renamed[utt] = f"{speaker}-{collapse_whitespace(stem)}"
        data.wav_scp[utt] = str(clip.resolve())
        data.utt2spk[utt] = speaker
        data.text[utt] = sentence
        data.utt2lang[utt] = lang
    output.check_not_empty()
    return output


def check_locale(locale: str, lang: str, where: str = "") -> None:
    """Check that the ISO 639-3 code ``lang`` names the language of a Common Voice locale.

    They agree when both name the same CLDR language (``sw`` and ``swh``: Swahili; ``zh-CN``
    and ``cmn``), or when ``lang`` is a variety the locale's language name is part of
    (``zh-HK`` and ``yue``, Yue Chinese; ``ps`` and ``pbt``, Southern Pashto).

    Raises:
        ConfigError: if they do not agree, naming both languages and the code of the locale.

    Example:
        >>> check_locale("sw", "swh")  # Swahili both: no error
        >>> check_locale("ka", "eng", "cv/train.tsv:2")
        Traceback (most recent call last):
        speechml.errors.ConfigError: cv/train.tsv:2: --lang eng (English) contradicts the Common
        Voice locale 'ka' (Georgian); its code is 'kat' (or one of its varieties)
    """
    base = _base_language(locale)
    if base == _base_language(lang):
        return
    names = _language_names(base)
    lang_name = language_name(lang)
    if any(re.search(rf"\b{re.escape(name)}\b", lang_name) for name in names):
        return
    known = pycountry.languages.get(alpha_2=base) if len(base) == 2 else None
    code = known.alpha_3 if known is not None else base
    shown = f" ({names[0]})" if names else ""
    prefix = f"{where}: " if where else ""
    raise ConfigError(
        f"{prefix}--lang {lang} ({lang_name}) contradicts the Common Voice locale {locale!r}"
        f"{shown}; its code is {code!r} (or one of its varieties)"
    )


def _base_language(code: str) -> str:
    """The CLDR language of a locale or language code: ``sw-KE``, ``swa``, ``swh`` -> ``sw``."""
    base = code.replace("_", "-").split("-")[0].lower()
    base = get_global("language_aliases").get(base, base).split("_")[0]
    language = pycountry.languages.get(alpha_3=base) if len(base) == 3 else None
    return getattr(language, "alpha_2", None) or base


@functools.cache
def _language_names(base: str) -> list[str]:
    """English names of a CLDR language (CLDR's, then ISO 639's without "(macrolanguage)")."""
    names = [Locale("en").languages.get(base)]
    iso = pycountry.languages.get(alpha_2=base) if len(base) == 2 else None
    iso = iso or pycountry.languages.get(alpha_3=base)
    if iso is not None:
        names.append(iso.name.replace(" (macrolanguage)", ""))
    return list(dict.fromkeys(name for name in names if name))


def _read_commonvoice_tsv(tsv: Path) -> Iterable[tuple[int, dict[str, str]]]:
    """(line number, row) of a Common Voice tsv, checking the columns that are read (and
    giving ``locale`` too where the tsv has it)."""
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
        wanted = (*COMMONVOICE_COLUMNS, "locale")
        index = {name: header.index(name) for name in wanted if name in header}
        for fields in progress_bar(reader, desc=f"from-commonvoice {tsv.name}", unit="utt"):
            if not any(fields):
                continue
            if len(fields) < len(header):
                message = f"expected {len(header)} tab-separated fields, got {len(fields)}"
                raise DataError(message, tsv, reader.line_num)
            yield reader.line_num, {name: fields[i] for name, i in index.items()}
