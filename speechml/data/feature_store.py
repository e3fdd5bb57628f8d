"""Fbank features computed once per data dir and read by every stage (Kaldi's ``feats.scp`` idea).

A store is the directory ``DIR/fbank/`` of a data dir ``DIR``:

- ``shard-00000.npy``...: raw (not normalised) float32 features of several utterances, one
  ``(frames, F)`` array a shard, their frames one after the other (numpy format, no pickle:
  read with ``np.load(mmap_mode="r", allow_pickle=False)``, so shards stay on disk until used);
- ``index``: one line an utterance, ``utt shard offset frames fingerprint``;
- ``fbank.json``: the :class:`~speechml.data.features.FbankConfig` and each shard's frames.

The fingerprint of an utterance hashes its ``wav.scp`` entry, its ``segments`` times and the
size and modification time of its audio file (a pipe entry: its text only). A store made with
other fbank options is not used, nor is a stored utterance whose fingerprint differs from that
of its audio now; both are computed on the fly, with one warning naming the dir and why. A
corrupt store (malformed index line, truncated shard) is a :class:`DataError` naming the file
and line. :func:`write_store` writes into a temporary directory renamed into place, so a
failed or killed run leaves no store (at most a hidden ``.fbank.*.tmp`` directory).

Since a stored utterance is found by its fingerprint, :func:`derive_store` gives a dir made
from another (a subset, a tail split, up-sampled copies of the same audio) the rows of the
other's store, its shards hard-linked (copied across file systems).

Example:
    >>> write_store(DataDir.read("data/train"), FbankConfig())  # 8 utterances of 0.5 s
    StoreSummary(utts=8, frames=384, bytes=..., up_to_date=False)
    >>> fbank = DataDirFbank(DataDir.read("data/train"), FbankConfig())
    >>> fbank("spk1-utt000").shape  # (T, 80), read from data/train/fbank/
    torch.Size([48, 80])
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from speechml.config import from_dict
from speechml.data.audio import is_pipe, load_audio, load_utterance
from speechml.data.datadir import DataDir
from speechml.data.features import CmvnStats, FbankConfig, compute_fbank
from speechml.data.table import read_raw_table, write_table
from speechml.errors import AudioError, ConfigError, DataError
from speechml.io import atomic_dir, atomic_write_text
from speechml.progress import progress_bar

logger = logging.getLogger(__name__)

STORE_DIR = "fbank"
STORE_CONFIG = "fbank.json"
STORE_INDEX = "index"
FORMAT = "speechml-fbank-1"
#: Utterances a shard holds at most (about 20 MB of 1-second utterances at 80 bins).
UTTS_PER_SHARD = 500
#: (store dir, reason) pairs already warned about in this process.
_warned: set[tuple[str, str]] = set()


def shard_name(number: int) -> str:
    """File name of shard ``number``: ``shard-00003.npy``."""
    return f"shard-{number:05d}.npy"


def store_path(data: DataDir) -> Path | None:
    """``DIR/fbank`` of a data dir read from ``DIR``; None for a data dir only in memory."""
    return None if data.path is None else data.path / STORE_DIR


def audio_fingerprints(data: DataDir, utts: Iterable[str]) -> dict[str, str | None]:
    """Utterance -> 16 hex digits naming its audio as it is now: ``wav.scp`` entry, segment
    times, file size and modification time (a pipe: the entry alone). None for an utterance
    whose audio file is missing (it cannot be stored, nor read from a store)."""
    stats: dict[str, str | None] = {}
    out: dict[str, str | None] = {}
    for utt in utts:
        _, start, end = data.recording_of(utt)
        entry = data.audio_entry(utt)
        if entry not in stats:
            stats[entry] = "pipe" if is_pipe(entry) else _file_stat(entry)
        if stats[entry] is None:
            out[utt] = None
            continue
        text = f"{entry}\t{start!r}\t{end!r}\t{stats[entry]}"
        out[utt] = hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()
    return out


def _file_stat(path: str) -> str | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return f"{stat.st_size}:{stat.st_mtime_ns}"


@dataclass(frozen=True)
class StoredUtt:
    """Where an utterance's frames are: ``shard``'s rows ``offset`` to ``offset + frames``."""

    shard: str
    offset: int
    frames: int
    fingerprint: str


class FeatureStore:
    """A store directory, read and checked (see the module docstring); shards opened lazily.

    Attributes:
        directory: the store (``DIR/fbank``).
        config: the fbank options it was computed with.
        entries: utterance -> :class:`StoredUtt`.
        shard_frames: shard file name -> its number of frames.
    """

    def __init__(
        self,
        directory: Path,
        config: FbankConfig,
        entries: dict[str, StoredUtt],
        shard_frames: dict[str, int],
    ) -> None:
        self.directory = directory
        self.config = config
        self.entries = entries
        self.shard_frames = shard_frames
        self._arrays: dict[str, np.ndarray] = {}

    @classmethod
    def read(cls, directory: str | Path) -> FeatureStore:
        """Read ``fbank.json`` and ``index``, and check every shard's header against them.

        Raises:
            DataError: a missing or malformed file, naming it (and the index line).
        """
        directory = Path(directory)
        meta_path = directory / STORE_CONFIG
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
            config = from_dict(FbankConfig, meta["fbank"], str(meta_path))
            shard_frames = {str(name): int(frames) for name, frames in meta["shards"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError, ConfigError) as err:
            raise DataError(f"not a readable feature store: {err}", meta_path) from None
        entries = _read_index(directory / STORE_INDEX, shard_frames)
        store = cls(directory, config, entries, shard_frames)
        for name in shard_frames:
            store._shard(name)
        return store

    def _shard(self, name: str) -> np.ndarray:
        if name not in self._arrays:
            path = self.directory / name
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError, EOFError) as err:
                raise DataError(f"truncated or corrupt feature shard: {err}", path) from None
            expected = (self.shard_frames[name], self.config.num_mel_bins)
            if array.dtype != np.float32 or array.shape != expected:
                raise DataError(
                    f"feature shard holds {array.dtype} {array.shape}, fbank.json says float32 "
                    f"{expected}",
                    path,
                )
            self._arrays[name] = array
        return self._arrays[name]

    def __contains__(self, utt: str) -> bool:
        return utt in self.entries

    def features(self, utt: str) -> Tensor:
        """Raw fbank ``(T, F)`` float32 of a stored utterance (a copy in memory)."""
        entry = self.entries[utt]
        rows = self._shard(entry.shard)[entry.offset : entry.offset + entry.frames]
        return torch.from_numpy(np.array(rows))

    def __getstate__(self) -> dict:
        # A DataLoader worker reopens the shards rather than receiving their contents.
        return {**self.__dict__, "_arrays": {}}


def _read_index(path: Path, shard_frames: dict[str, int]) -> dict[str, StoredUtt]:
    if not path.is_file():
        raise DataError("feature store index is missing", path)
    entries: dict[str, StoredUtt] = {}
    for line in read_raw_table(path).lines:
        fields = line.value.split()
        try:
            if len(fields) != 4:
                raise ValueError("expected 'utt shard offset frames fingerprint'")
            shard, offset, frames, fingerprint = (
                fields[0],
                int(fields[1]),
                int(fields[2]),
                fields[3],
            )
            if shard not in shard_frames:
                raise ValueError(f"shard {shard} is not listed in {STORE_CONFIG}")
            if offset < 0 or frames < 1 or offset + frames > shard_frames[shard]:
                raise ValueError(f"rows {offset}+{frames} are outside {shard}")
            if line.key in entries:
                raise ValueError(f"duplicated utterance {line.key}")
        except ValueError as err:
            raise DataError(f"malformed feature index line: {err}", path, line.line) from None
        entries[line.key] = StoredUtt(shard, offset, frames, fingerprint)
    return entries


def _warn_once(directory: Path, reason: str) -> None:
    if (str(directory), reason) not in _warned:
        _warned.add((str(directory), reason))
        logger.warning("%s: %s", directory, reason)


def open_store(
    data: DataDir, config: FbankConfig, utts: Sequence[str] | None = None
) -> FeatureStore | None:
    """The store of ``data`` restricted to the ``utts`` (default all) it holds up to date.

    Returns None when there is no store, or (warning once) when it was made with other fbank
    options; stored utterances whose audio changed since are left out (warning once).

    Raises:
        DataError: the store is corrupt (naming the file and line).
    """
    directory = store_path(data)
    if directory is None or not (directory / STORE_CONFIG).is_file():
        return None
    store = FeatureStore.read(directory)
    if store.config != config:
        _warn_once(
            directory,
            f"made with other fbank options ({_config_difference(store.config, config)}): "
            "not used, features are computed on the fly",
        )
        return None
    utts = data.utts if utts is None else utts
    current = audio_fingerprints(data, utts)
    fresh = {
        utt: store.entries[utt]
        for utt in utts
        if utt in store.entries and store.entries[utt].fingerprint == current[utt]
    }
    stale = [utt for utt in utts if utt not in fresh]
    if stale:
        _warn_once(
            directory,
            f"{len(stale)} of {len(utts)} utterances are not stored or their audio changed "
            f"since (first: {stale[0]}): computed on the fly; re-run `speechml data "
            f"compute-fbank {data.path}`",
        )
    store.entries = fresh
    return store


def _config_difference(stored: FbankConfig, wanted: FbankConfig) -> str:
    fields = [f.name for f in dataclasses.fields(FbankConfig)]
    return ", ".join(
        f"{name} {getattr(stored, name)}, not {getattr(wanted, name)}"
        for name in fields
        if getattr(stored, name) != getattr(wanted, name)
    )


class DataDirFbank:
    """Raw fbank ``(T, F)`` of a data dir's utterances: from its store where that is up to
    date (:func:`open_store`), else computed from the audio as :func:`compute_fbank` does.

    Args:
        data: the data dir.
        config: fbank options.
        utts: the utterances that will be asked for (default all): only theirs are checked.
        allow_pipes: run ``wav.scp`` pipe entries when computing.

    Example:
        >>> DataDirFbank(DataDir.read("data/dev"), FbankConfig())("spk1-utt000").shape
        torch.Size([48, 80])
    """

    def __init__(
        self,
        data: DataDir,
        config: FbankConfig,
        utts: Sequence[str] | None = None,
        allow_pipes: bool = False,
    ) -> None:
        self.data = data
        self.config = config
        self.allow_pipes = allow_pipes
        self.store = open_store(data, config, utts)

    @property
    def stored(self) -> int:
        """How many of the utterances are read from the store."""
        return 0 if self.store is None else len(self.store.entries)

    def __call__(self, utt: str) -> Tensor:
        if self.store is not None and utt in self.store:
            return self.store.features(utt)
        samples = load_utterance(self.data, utt, self.config.sample_rate, self.allow_pipes)
        return compute_fbank(samples, self.config, utt=utt)


@dataclass(frozen=True)
class StoreSummary:
    """What :func:`write_store` did: utterances and frames stored, bytes of its shards, and
    whether the store already there was up to date (nothing was computed)."""

    utts: int
    frames: int
    bytes: int
    up_to_date: bool


@dataclass(frozen=True)
class _ShardJob:
    """One shard to compute: (utt, wav.scp entry, start, end) of each of its utterances."""

    path: Path
    utts: list[tuple[str, str, float, float | None]]
    config: FbankConfig
    allow_pipes: bool


def _compute_shard(job: _ShardJob, threads: int | None = None) -> list[int]:
    """Compute and save one shard; returns the frames of each utterance."""
    if threads is not None:
        torch.set_num_threads(threads)
    feats = []
    for utt, entry, start, end in job.utts:
        samples = load_audio(entry, job.config.sample_rate, start, end, job.allow_pipes, utt)
        feats.append(compute_fbank(samples, job.config, utt=utt).numpy())
    np.save(job.path, np.concatenate(feats), allow_pickle=False)
    return [len(f) for f in feats]


def write_store(
    data: DataDir, config: FbankConfig, nj: int = 1, allow_pipes: bool = False
) -> StoreSummary:
    """Compute the fbank of every utterance of ``data`` into ``DIR/fbank`` (with progress).

    A store already up to date for every utterance and ``config`` is kept as it is. Otherwise
    all is computed again, in shards of :data:`UTTS_PER_SHARD` utterances, ``nj`` processes
    at a time, into a temporary directory that replaces the store when every shard is done.

    Raises:
        ConfigError: ``nj`` below 1.
        DataError: ``data`` was not read from a directory, has no utterances, or an
            utterance's audio is missing, unreadable or too short (naming it).
    """
    if nj < 1:
        raise ConfigError(f"--nj must be positive, got {nj}")
    directory = store_path(data)
    if directory is None:
        raise DataError("a feature store needs a data dir on disk")
    utts = data.utts
    if not utts:
        raise DataError("data dir has no utterances", data.path)
    fingerprints = audio_fingerprints(data, utts)
    existing = _up_to_date(directory, config, fingerprints)
    if existing is not None:
        return _summary(existing, up_to_date=True)
    missing = [utt for utt in utts if fingerprints[utt] is None]
    if missing:
        raise AudioError("audio file not found", data.audio_entry(missing[0]), utt=missing[0])
    chunks = [utts[i : i + UTTS_PER_SHARD] for i in range(0, len(utts), UTTS_PER_SHARD)]
    with atomic_dir(directory) as tmp:
        jobs = [
            _ShardJob(
                tmp / shard_name(k),
                [(u, data.audio_entry(u), *_times(data, u)) for u in chunk],
                config,
                allow_pipes,
            )
            for k, chunk in enumerate(chunks)
        ]
        frames = _run_jobs(jobs, nj, len(utts))
        index: dict[str, str] = {}
        shard_frames: dict[str, int] = {}
        for job, counts in zip(jobs, frames, strict=True):
            offset = 0
            for (utt, *_), count in zip(job.utts, counts, strict=True):
                index[utt] = f"{job.path.name} {offset} {count} {fingerprints[utt]}"
                offset += count
            shard_frames[job.path.name] = offset
        _write_meta(tmp, config, shard_frames, index)
    return _summary(FeatureStore.read(directory), up_to_date=False)


def _up_to_date(
    directory: Path, config: FbankConfig, fingerprints: dict[str, str | None]
) -> FeatureStore | None:
    """The store in ``directory`` if it holds every utterance of ``fingerprints`` up to date
    with ``config``; None (and a reason logged) if it must be computed again."""
    if not (directory / STORE_CONFIG).is_file():
        return None
    try:
        store = FeatureStore.read(directory)
    except DataError as err:
        logger.warning("replacing a corrupt feature store: %s", err)
        return None
    if store.config != config:
        logger.info(
            "%s: other fbank options (%s)", directory, _config_difference(store.config, config)
        )
        return None
    changed = [
        utt
        for utt, fingerprint in fingerprints.items()
        if utt not in store.entries or store.entries[utt].fingerprint != fingerprint
    ]
    if changed:
        logger.info(
            "%s: %d utterances new or changed (first: %s)", directory, len(changed), changed[0]
        )
        return None
    return store


def _times(data: DataDir, utt: str) -> tuple[float, float | None]:
    _, start, end = data.recording_of(utt)
    return start, end


def _run_jobs(jobs: list[_ShardJob], nj: int, total: int) -> list[list[int]]:
    """Each job's frames, the jobs run ``nj`` at a time (in this process when ``nj`` is 1).

    One torch thread a job (more only contend on short utterances, badly on a busy machine).
    Workers are forked (spawn would import every module again and re-run an unguarded
    script's ``__main__``), before the progress bar starts its thread.
    """
    results: list[list[int] | None] = [None] * len(jobs)
    if nj == 1 or len(jobs) == 1:
        threads = torch.get_num_threads()
        try:
            with progress_bar(total=total, desc="fbank", unit="utt") as progress:
                for k, job in enumerate(jobs):
                    results[k] = _compute_shard(job, 1)
                    progress.update(len(job.utts))
        finally:
            torch.set_num_threads(threads)
        return results
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(min(nj, len(jobs)), mp_context=context) as pool:
        futures = {pool.submit(_compute_shard, job, 1): k for k, job in enumerate(jobs)}
        try:
            with progress_bar(total=total, desc="fbank", unit="utt") as progress:
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    progress.update(len(jobs[futures[future]].utts))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return results


def _write_meta(
    directory: Path, config: FbankConfig, shard_frames: dict[str, int], index: dict[str, str]
) -> None:
    meta = {"format": FORMAT, "fbank": dataclasses.asdict(config), "shards": shard_frames}
    atomic_write_text(directory / STORE_CONFIG, json.dumps(meta, indent=1) + "\n")
    write_table(directory / STORE_INDEX, index)


def _summary(store: FeatureStore, up_to_date: bool) -> StoreSummary:
    size = sum((store.directory / name).stat().st_size for name in store.shard_frames)
    frames = sum(entry.frames for entry in store.entries.values())
    return StoreSummary(len(store.entries), frames, size, up_to_date)


def derive_store(source: DataDir, target: DataDir) -> int:
    """Give ``target`` (a dir written from ``source``'s utterances: a subset, a tail split)
    the rows of ``source``'s store whose audio it has unchanged, found by fingerprint.

    The shards used are hard-linked into ``target``'s new store (copied where a link is not
    possible); an utterance of ``target`` not found is computed on the fly when read.

    Returns:
        How many of ``target``'s utterances have stored features (0: no store written).

    Raises:
        DataError: ``source``'s store is corrupt.
    """
    source_dir, target_dir = store_path(source), store_path(target)
    if source_dir is None or target_dir is None or not (source_dir / STORE_CONFIG).is_file():
        return 0
    store = FeatureStore.read(source_dir)
    by_fingerprint = {entry.fingerprint: entry for entry in store.entries.values()}
    rows = {
        utt: by_fingerprint[fingerprint]
        for utt, fingerprint in audio_fingerprints(target, target.utts).items()
        if fingerprint in by_fingerprint
    }
    if not rows:
        return 0
    shards = sorted({entry.shard for entry in rows.values()})
    with atomic_dir(target_dir) as tmp:
        for name in shards:
            try:
                os.link(source_dir / name, tmp / name)
            except OSError:
                shutil.copyfile(source_dir / name, tmp / name)
        index = {u: f"{e.shard} {e.offset} {e.frames} {e.fingerprint}" for u, e in rows.items()}
        _write_meta(tmp, store.config, {name: store.shard_frames[name] for name in shards}, index)
    logger.info(
        "%s: features of %d of %d utterances from %s",
        target_dir,
        len(rows),
        len(target),
        source_dir,
    )
    return len(rows)


def compute_cmvn_stats(
    data: DataDir,
    config: FbankConfig | None = None,
    max_utts: int | None = None,
    allow_pipe: bool = False,
) -> CmvnStats:
    """Global CMVN statistics over the fbank features of a data dir (with progress); the
    features are read from the dir's store where it is up to date (:class:`DataDirFbank`).

    Args:
        data: the data dir; its audio is loaded at ``config.sample_rate``.
        config: fbank options; default :class:`FbankConfig`.
        max_utts: use at most this many utterances, evenly spaced over the sorted list (so
            every speaker and language of a sorted data dir is sampled); None uses all.
        allow_pipe: run ``wav.scp`` pipe entries.

    Raises:
        DataError: if the data dir is empty or ``max_utts`` is below 1; AudioError for unreadable
            or too-short audio (naming the utterance).
    """
    config = config or FbankConfig()
    utts = data.utts
    if not utts:
        raise DataError("data dir has no utterances", path=data.path)
    if max_utts is not None:
        if max_utts < 1:
            raise DataError(f"max_utts must be at least 1, got {max_utts}", path=data.path)
        if max_utts < len(utts):
            picks = np.linspace(0, len(utts) - 1, max_utts).round().astype(int)
            utts = [utts[i] for i in picks]
    fbank = DataDirFbank(data, config, utts, allow_pipes=allow_pipe)
    stats = CmvnStats.zeros(config.num_mel_bins)
    for utt in progress_bar(utts, desc="cmvn stats", unit="utt"):
        stats.accumulate(fbank(utt))
    return stats
