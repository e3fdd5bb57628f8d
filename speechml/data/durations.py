"""Utterance durations (``utt2dur``) from audio headers or ``segments``, without decoding.

Example:
    >>> data = DataDir.read("data/train")
    >>> data.utt2dur = compute_durations(data, nj=2)
    >>> data.utt2dur["spk1-utt000"]
    0.5
    >>> data.write("data/train")
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from speechml.data.audio import audio_duration
from speechml.data.datadir import DataDir
from speechml.errors import ConfigError, DataError
from speechml.progress import progress_bar


def compute_durations(data: DataDir, allow_pipes: bool = False, nj: int = 1) -> dict[str, float]:
    """Duration in seconds of every utterance.

    With ``segments`` a duration is ``end - start``; otherwise it is read from the audio header
    (a pipe entry, if allowed, is run and decoded).

    Args:
        data: the data dir.
        allow_pipes: run ``wav.scp`` entries that are shell pipes (refused otherwise).
        nj: number of parallel readers (threads).

    Returns:
        Utterance id -> seconds, for every utterance of ``data`` (Kaldi order).

    Raises:
        ConfigError: if ``nj < 1``.
        DataError: if any utterance's audio is missing, unreadable, empty or a refused pipe; the
            message lists every such utterance, not only the first.
    """
    if nj < 1:
        raise ConfigError(f"--nj must be positive, got {nj}")

    def duration(utt: str) -> float | DataError:
        try:
            _, start, end = data.recording_of(utt)
            if end is not None:
                return end - start
            return audio_duration(data.audio_entry(utt), utt=utt, allow_pipe=allow_pipes)
        except DataError as err:
            return err

    utts = data.utts
    with ThreadPoolExecutor(nj) as pool:
        results = list(
            progress_bar(pool.map(duration, utts), total=len(utts), desc="durations", unit="utt")
        )
    errors = [str(result) for result in results if isinstance(result, DataError)]
    if errors:
        where = None if data.path is None else data.path / "wav.scp"
        message = f"{len(errors)} of {len(utts)} utterances have no readable audio:\n  "
        raise DataError(message + "\n  ".join(errors), path=where)
    return {
        utt: seconds
        for utt, seconds in zip(utts, results, strict=True)
        if isinstance(seconds, float)
    }


def utterance_durations(data: DataDir, allow_pipes: bool = False) -> dict[str, float]:
    """Seconds of each utterance: ``utt2dur`` when it covers every utterance, else
    :func:`compute_durations` from the audio (or ``segments``)."""
    if data.utt2dur and all(utt in data.utt2dur for utt in data.utts):
        return dict(data.utt2dur)
    return compute_durations(data, allow_pipes=allow_pipes)
