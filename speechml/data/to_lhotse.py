"""A Kaldi data dir -> lhotse manifests ``recordings.jsonl.gz`` and ``supervisions.jsonl.gz``.

The way back of :mod:`speechml.data.from_lhotse`, with the same fields: one ``Recording`` a
``wav.scp`` entry, one ``SupervisionSegment`` an utterance with its ``text``, ``language``,
``speaker``, ``gender`` (``spk2gender``) and ``custom`` fields (``label`` from ``utt2label``,
``X`` from each carried table ``utt2X``). The manifests are made with lhotse's own classes and
written with its writer: lhotse is an optional extra, ``pip install 'speechml[lhotse]'``.

Example:
    >>> export = datadir_to_lhotse(DataDir.read("data/train"), "manifests/train")
    >>> sorted(path.name for path in Path("manifests/train").iterdir())
    ['recordings.jsonl.gz', 'supervisions.jsonl.gz']
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from speechml.data.audio import audio_info, is_pipe
from speechml.data.conversion import SKIPPED_FILE, check_replaceable_dir
from speechml.data.datadir import DataDir, warn_left_behind
from speechml.data.from_lhotse import LABEL_FIELD
from speechml.data.table import sort_key
from speechml.data.validate import SEGMENT_END_TOLERANCE
from speechml.errors import DataError
from speechml.io import atomic_dir, atomic_write_text
from speechml.optional import import_optional

logger = logging.getLogger(__name__)

#: The manifests that :func:`datadir_to_lhotse` writes into its output directory.
RECORDINGS_FILE, SUPERVISIONS_FILE = "recordings.jsonl.gz", "supervisions.jsonl.gz"


@dataclass(frozen=True)
class LhotseExport:
    """What :func:`datadir_to_lhotse` wrote."""

    path: Path
    recordings: int
    supervisions: int
    skipped: list[str]  # one line an utterance or recording left out, with why


def datadir_to_lhotse(data: DataDir, out_dir: str | Path) -> LhotseExport:
    """Write a data dir as lhotse manifests ``out_dir/recordings.jsonl.gz`` and
    ``out_dir/supervisions.jsonl.gz``, with lhotse's own classes and writer.

    One ``Recording`` a ``wav.scp`` entry (one file source with all its channels; rate,
    samples and duration from the header), one ``SupervisionSegment`` an utterance (on all
    the channels, which speechml mixes; ``segments`` give start and duration, a segment that
    ends less than 10 ms after its recording is cut at its end) with ``text``, ``language``,
    ``speaker``, ``gender`` (``spk2gender``) and ``custom``: ``label`` (``utt2label``) and
    ``X`` for each carried table ``utt2X``; ``utt2dur`` is not needed (the header and the
    segments give durations). Recordings whose audio is missing, unreadable or a pipe are left
    out with their utterances, listed in ``out_dir/skipped.txt``; the other tables and files,
    which lhotse has no field for, are named in a warning.

    Args:
        data: the data dir.
        out_dir: written to a temporary directory, then renamed; an existing ``out_dir`` is
            replaced only if it holds lhotse manifests or is empty.

    Raises:
        ConfigError: lhotse is not installed.
        DataError: an utterance missing from a present table, or no utterance left.

    Example:
        >>> datadir_to_lhotse(DataDir.read("data/train"), "manifests/train").supervisions
        8
    """
    lhotse = import_optional("lhotse", "lhotse")
    out_dir = Path(out_dir)
    check_replaceable_dir(out_dir, (RECORDINGS_FILE, SUPERVISIONS_FILE), "a lhotse manifest dir")
    recordings, problems = _lhotse_recordings(lhotse, data)
    supervisions, skipped = _lhotse_supervisions(lhotse, data, recordings, problems)
    used = {data.recording_of(utt)[0] for utt in data.utts}
    skipped += [
        f"recording {rec}: {problem}" for rec, problem in problems.items() if rec not in used
    ]
    if not supervisions:
        reasons = "; ".join(skipped[:3])
        where = data.path if data.path is not None else "data dir"
        raise DataError(f"no usable utterance ({len(skipped)} skipped: {reasons})", where)
    _warn_not_carried(data, out_dir)
    with atomic_dir(out_dir) as tmp:
        tmp = tmp.absolute()  # lhotse's writer reads "pipe:..." as a command to run
        lhotse.RecordingSet.from_recordings(recordings.values()).to_file(tmp / RECORDINGS_FILE)
        lhotse.SupervisionSet.from_segments(supervisions).to_file(tmp / SUPERVISIONS_FILE)
        if skipped:
            atomic_write_text(tmp / SKIPPED_FILE, "".join(f"{line}\n" for line in skipped))
    if skipped:
        logger.warning("%s: left out %d, listed in %s", out_dir, len(skipped), SKIPPED_FILE)
    return LhotseExport(out_dir, len(recordings), len(supervisions), skipped)


def _lhotse_recordings(lhotse: ModuleType, data: DataDir) -> tuple[dict, dict[str, str]]:
    """(recording id -> lhotse Recording, recording id -> why it has none), in wav.scp order."""
    recordings, problems = {}, {}
    for recording_id in sorted(data.wav_scp, key=sort_key):
        entry = data.wav_scp[recording_id]
        if is_pipe(entry):
            problems[recording_id] = f"wav.scp entry {entry!r:.80} is a pipe; lhotse gets files"
            continue
        try:
            info = audio_info(entry)
        except DataError as err:
            problems[recording_id] = str(err)
            continue
        channels = list(range(info.channels))
        source = lhotse.AudioSource(type="file", channels=channels, source=os.path.abspath(entry))
        recordings[recording_id] = lhotse.Recording(
            id=recording_id,
            sources=[source],
            sampling_rate=info.samplerate,
            num_samples=info.frames,
            duration=info.frames / info.samplerate,
        )
    return recordings, problems


def _lhotse_supervisions(
    lhotse: ModuleType, data: DataDir, recordings: dict, problems: dict[str, str]
) -> tuple[list, list[str]]:
    """(one lhotse SupervisionSegment an utterance, a line for each utterance left out)."""
    custom_tables = {
        name.removeprefix("utt2"): table
        for name, table in data.other_tables.items()
        if name.startswith("utt2")
    }
    genders = data.other_tables.get("spk2gender", {})
    supervisions, skipped = [], []
    for utt in data.utts:
        recording_id, start, end = data.recording_of(utt)
        data.audio_entry(utt)  # a DataError if wav.scp has no entry
        if recording_id in problems:
            skipped.append(f"utterance {utt}: {problems[recording_id]}")
            continue
        recording = recordings[recording_id]
        if end is not None and end > recording.duration + SEGMENT_END_TOLERANCE:
            skipped.append(
                f"utterance {utt}: its segment ends at {end:g} s, after its recording "
                f"{recording_id!r} ({recording.duration:g} s)"
            )
            continue
        end = recording.duration if end is None else min(end, recording.duration)
        custom = {name: table[utt] for name, table in custom_tables.items() if utt in table}
        label = _table_value(data, data.utt2label, "utt2label", utt)
        if label is not None:
            custom[LABEL_FIELD] = label
        speaker = data.utt2spk[utt]
        channels = recording.channel_ids
        supervisions.append(
            lhotse.SupervisionSegment(
                id=utt,
                recording_id=recording_id,
                start=start,
                duration=round(end - start, 6),
                channel=channels[0] if len(channels) == 1 else channels,
                text=_table_value(data, data.text, "text", utt),
                language=_table_value(data, data.utt2lang, "utt2lang", utt),
                speaker=speaker,
                gender=genders.get(speaker),
                custom=custom or None,
            )
        )
    return supervisions, skipped


def _table_value(data: DataDir, table: dict[str, str], name: str, utt: str) -> str | None:
    """An utterance's value in a typed table; None if the dir has no such table."""
    if not table:
        return None
    if utt not in table:
        where = data.path if data.path is not None else "data dir"
        raise DataError(f"has no entry in {name}", where, utt=utt)
    return table[utt]


def _warn_not_carried(data: DataDir, out_dir: Path) -> None:
    """Name in a warning the tables and files of ``data`` that the manifests do not hold."""
    tables = [
        name
        for name in sorted(data.other_tables)
        if not name.startswith("utt2") and name != "spk2gender"
    ]
    if tables:
        where = data.path if data.path is not None else "data dir"
        names = ", ".join(tables)
        logger.warning("%s: not carried into %s (lhotse has no field): %s", where, out_dir, names)
    warn_left_behind(data.left_behind, out_dir)
