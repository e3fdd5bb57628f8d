"""Operations on data dirs: subsets, splits by speaker, combination (Kaldi's ``utils/`` verbs).

Every function takes and returns :class:`~speechml.data.datadir.DataDir` objects in memory;
``DataDir.read`` and ``DataDir.write`` do the disk. Random choices are deterministic for a seed.
The other Kaldi tables of a data dir (``spk2gender``, ``utt2uniq``...: ``DataDir.other_tables``)
are kept like Kaldi's ``utils/`` keep them, restricted to the utterances, speakers and
recordings kept; the files that are not carried travel in ``left_behind``, for the warning of
``DataDir.write``.

Example:
    >>> data = DataDir.read("data/train")  # 8 utterances of 2 speakers
    >>> parts = split_by_speaker(data, {"train": 0.5, "dev": 0.5}, seed=0)
    >>> sorted(len(part.utt2spk) for part in parts.values())
    [4, 4]
    >>> small = subset_data_dir(data, random_utts(data, 3, seed=1))
    >>> len(small.wav_scp)
    3
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from speechml.data.datadir import DataDir, keep_keys
from speechml.data.table import read_raw_table, sort_key
from speechml.errors import ConfigError, DataError
from speechml.lang.languages import check_language_code, language_name

logger = logging.getLogger(__name__)

#: DataDir fields keyed by utterance id (``wav_scp`` is keyed by recording id).
UTT_FIELDS = ("text", "utt2spk", "utt2lang", "utt2dur", "utt2label", "segments")


def _name(data: DataDir, index: int | None = None) -> str:
    """How messages name a data dir: its path, or its position among several."""
    if data.path is not None:
        return str(data.path)
    return "data dir" if index is None else f"data dir #{index + 1}"


def subset_data_dir(data: DataDir, utts: Iterable[str]) -> DataDir:
    """The data dir restricted to ``utts``, with the recordings they use.

    Args:
        data: the source data dir.
        utts: utterance ids to keep (any order; repeats are ignored).

    Returns:
        A new DataDir (``path`` None) holding every table of ``data`` restricted to ``utts``,
        their speakers and recordings, and the ``left_behind`` files of ``data``.

    Raises:
        DataError: if an id is not an utterance of ``data`` (naming it).
    """
    wanted = set(utts)
    unknown = sorted(wanted.difference(data.utt2spk), key=sort_key)
    if unknown:
        shown = ", ".join(unknown[:10]) + (", ..." if len(unknown) > 10 else "")
        raise DataError(f"{len(unknown)} utterance(s) are not in the data dir: {shown}", data.path)
    tables = {
        name: {utt: value for utt, value in getattr(data, name).items() if utt in wanted}
        for name in UTT_FIELDS
    }
    recordings = {data.recording_of(utt)[0] for utt in wanted}
    wav_scp = {rec: entry for rec, entry in data.wav_scp.items() if rec in recordings}
    speakers = {data.utt2spk[utt] for utt in wanted}
    others = keep_keys(data.other_tables, wanted, speakers, recordings)
    return DataDir(wav_scp=wav_scp, other_tables=others, left_behind=data.left_behind, **tables)


def _check_positive(count: int) -> None:
    if count < 1:
        raise ConfigError(f"the number of utterances must be positive, got {count}")


def _check_count(data: DataDir, count: int) -> None:
    _check_positive(count)
    if count > len(data):
        raise DataError(f"asked for {count} utterances; the data dir has {len(data)}", data.path)


def first_utts(data: DataDir, count: int) -> list[str]:
    """The first ``count`` utterances in Kaldi (byte) order, like ``subset_data_dir.sh --first``.

    Raises:
        ConfigError: if ``count < 1``. DataError: if ``data`` has fewer utterances.
    """
    _check_count(data, count)
    return data.utts[:count]


def random_utts(data: DataDir, count: int, seed: int = 0) -> list[str]:
    """``count`` utterances drawn without replacement, the same for the same seed (sorted).

    Raises:
        ConfigError: if ``count < 1``. DataError: if ``data`` has fewer utterances.
    """
    _check_count(data, count)
    return sorted(random.Random(seed).sample(data.utts, count), key=sort_key)


def at_most(data: DataDir, count: int, seed: int = 0) -> DataDir:
    """``data`` itself when it has at most ``count`` utterances, else ``count`` of them drawn
    at random (the same for the same seed): e.g. a fixed validation subset of a dev set."""
    if len(data) <= count:
        return data
    return subset_data_dir(data, random_utts(data, count, seed))


def _utts_by_language(data: DataDir) -> dict[str, list[str]]:
    if not data.utt2lang:
        raise DataError("the data dir has no utt2lang", data.path)
    by_language: dict[str, list[str]] = {}
    for utt in data.utts:
        by_language.setdefault(data.utt2lang[utt], []).append(utt)
    return by_language


def utts_per_language(data: DataDir, count: int, seed: int = 0) -> list[str]:
    """Up to ``count`` random utterances of every language in ``utt2lang`` (sorted).

    A language with fewer utterances gives all of them, with a logged warning.

    Raises:
        ConfigError: if ``count < 1``. DataError: if ``data`` has no ``utt2lang``.
    """
    _check_positive(count)
    rng = random.Random(seed)
    chosen: list[str] = []
    for language, utts in sorted(_utts_by_language(data).items()):
        if len(utts) < count:
            logger.warning(
                "language %s has %d utterances (< %d): all kept", language, len(utts), count
            )
        chosen += rng.sample(utts, min(count, len(utts)))
    return sorted(chosen, key=sort_key)


def utts_of_language(data: DataDir, code: str) -> list[str]:
    """The utterances whose ``utt2lang`` is ``code`` (an ISO 639-3 code).

    Raises:
        DataError: if ``code`` is not ISO 639-3, ``data`` has no ``utt2lang``, or no utterance
            is in that language (naming the languages present).
    """
    check_language_code(code)
    by_language = _utts_by_language(data)
    if code not in by_language:
        present = ", ".join(sorted(by_language))
        message = f"no utterance in {language_name(code)} ({code}); languages present: {present}"
        raise DataError(message, data.path)
    return by_language[code]


def utts_from_list(data: DataDir, path: str | Path) -> list[str]:
    """The utterance ids listed in a file (first field of each line), checked against ``data``.

    Raises:
        DataError: naming the file and line of an id that ``data`` does not have.
    """
    utts = []
    for entry in read_raw_table(path).lines:
        if entry.key not in data.utt2spk:
            where = f" {data.path}" if data.path is not None else ""
            raise DataError(f"not an utterance of the data dir{where}", path, entry.line, entry.key)
        utts.append(entry.key)
    return utts


def _check_parts(data: DataDir, num_parts: int) -> list[str]:
    """The speakers of ``data`` (sorted), checked to be at least ``num_parts``."""
    speakers = list(data.spk2utt())
    if num_parts > len(speakers):
        raise DataError(
            f"cannot split {len(speakers)} speaker(s) into {num_parts} parts without sharing a "
            "speaker",
            data.path,
        )
    return speakers


def split_by_speaker(
    data: DataDir, fractions: Mapping[str, float], seed: int = 0
) -> dict[str, DataDir]:
    """Split into named parts of about the given fractions of utterances; no speaker is shared.

    Speakers are shuffled with ``seed``; each part first gets one speaker, then each next
    speaker goes to the part furthest below its share of utterances. The same data, fractions
    and seed give the same split.

    Args:
        data: the data dir to split.
        fractions: part name -> fraction of the utterances, e.g. ``{"train": 0.8, "dev": 0.2}``;
            each positive, summing to 1.
        seed: the shuffling seed.

    Returns:
        Part name -> its data dir, in the order of ``fractions``.

    Raises:
        ConfigError: if a fraction is not positive or they do not sum to 1.
        DataError: if there are fewer speakers than parts.
    """
    if not fractions or any(not fraction > 0 for fraction in fractions.values()):
        raise ConfigError(f"every part needs a positive fraction, got {dict(fractions)}")
    if not math.isclose(sum(fractions.values()), 1.0, abs_tol=1e-6):
        raise ConfigError(f"the fractions must sum to 1, got {sum(fractions.values()):g}")
    speakers = _check_parts(data, len(fractions))
    spk2utt = data.spk2utt()
    random.Random(seed).shuffle(speakers)
    names = list(fractions)
    assigned: dict[str, list[str]] = {name: [] for name in names}
    for name, speaker in zip(names, speakers, strict=False):
        assigned[name] += spk2utt[speaker]
    for speaker in speakers[len(names) :]:
        neediest = max(names, key=lambda n: fractions[n] * len(data) - len(assigned[n]))
        assigned[neediest] += spk2utt[speaker]
    return {name: subset_data_dir(data, utts) for name, utts in assigned.items()}


def split_into_parts(data: DataDir, num_parts: int) -> list[DataDir]:
    """Split into ``num_parts`` parts of consecutive speakers with about equal utterance
    counts, for parallel jobs (Kaldi's ``split_data.sh``: no speaker is shared).

    Raises:
        ConfigError: if ``num_parts < 1``. DataError: if there are fewer speakers than parts.
    """
    if num_parts < 1:
        raise ConfigError(f"the number of parts must be positive, got {num_parts}")
    speakers = _check_parts(data, num_parts)
    spk2utt = data.spk2utt()
    done = [0]  # utterances in speakers[:i]
    for speaker in speakers:
        done.append(done[-1] + len(spk2utt[speaker]))
    bounds = [0]
    for part in range(1, num_parts):
        target = len(data) * part / num_parts
        end, last = bounds[-1] + 1, len(speakers) - (num_parts - part)
        while end < last and abs(done[end + 1] - target) < abs(done[end] - target):
            end += 1
        bounds.append(end)
    bounds.append(len(speakers))
    return [
        subset_data_dir(data, [u for s in speakers[start:end] for u in spk2utt[s]])
        for start, end in zip(bounds, bounds[1:], strict=False)
    ]


def combine_data_dirs(dirs: Sequence[DataDir]) -> DataDir:
    """Combine data dirs into one (Kaldi's ``combine_data.sh``).

    An id present in several dirs must have the same content in each (a speaker's
    ``spk2gender`` too). A table that only some dirs have (e.g. ``utt2dur``) is left out, with a
    logged warning naming the dirs without it.

    Raises:
        ConfigError: if ``dirs`` is empty.
        DataError: on an id with different content in two dirs (naming both dirs and the id),
            or when some dirs have ``segments`` and others do not.
    """
    if not dirs:
        raise ConfigError("nothing to combine: no data dir given")
    names = [_name(data, index) for index, data in enumerate(dirs)]
    with_segments = [bool(data.segments) for data in dirs]
    if any(with_segments) and not all(with_segments):
        without = ", ".join(n for n, has in zip(names, with_segments, strict=True) if not has)
        raise DataError(f"cannot combine data dirs with and without segments (none in {without})")
    left_behind = list(dict.fromkeys(file for data in dirs for file in data.left_behind))
    combined = DataDir(left_behind=left_behind)
    for field in ("wav_scp", *UTT_FIELDS):
        file = "wav.scp" if field == "wav_scp" else field
        merged = _merge(file, [getattr(data, field) for data in dirs], names)
        if merged is not None:
            setattr(combined, field, merged)
    for file in sorted({file for data in dirs for file in data.other_tables}):
        merged = _merge(file, [data.other_tables.get(file, {}) for data in dirs], names)
        if merged is not None:
            combined.other_tables[file] = merged
    return combined


def _merge(file: str, tables: Sequence[Mapping[str, object]], names: Sequence[str]) -> dict | None:
    """One table from several; an id with different values in two of them is an error.

    None (and a warning naming the dirs without it) if some of them lack the table.
    """
    missing = [name for name, table in zip(names, tables, strict=True) if not table]
    if missing:
        if len(missing) < len(tables):
            logger.warning("%s left out: not in %s", file, ", ".join(missing))
        return None
    merged: dict[str, object] = {}
    origin: dict[str, str] = {}
    for table, name in zip(tables, names, strict=True):
        for key, value in table.items():
            if key in merged and merged[key] != value:
                raise DataError(
                    f"id {key!r} has different {file} in {origin[key]} ({merged[key]!r}) and in "
                    f"{name} ({value!r})"
                )
            merged[key] = value
            origin.setdefault(key, name)
    return merged
