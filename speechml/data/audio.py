"""Audio I/O: soundfile for reading and writing, soxr for resampling, mono down-mixing.

torchaudio's own load/save need torchcodec; we do not. ``wav.scp`` entries that are shell
pipes (``cmd |``) run a command, so they are refused unless the caller opts in. A file that
cannot be read is named with what it holds instead (nothing, text, or corrupt audio), and
:func:`wav_truncation` finds WAV files cut short, which libsndfile reads without a word.

Example:
    >>> samples = load_audio("clip.wav", sample_rate=8000)
    >>> samples.shape
    (8000,)
    >>> samples.dtype
    dtype('float32')
"""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import numpy as np
import soundfile
import soxr

from speechml.data.datadir import DataDir
from speechml.errors import AudioError
from speechml.io import atomic_path

#: Bytes read from an unreadable file to tell text from binary.
TEXT_PROBE_BYTES = 512
#: The first line of a Git LFS pointer file (what a clone without git-lfs holds).
LFS_POINTER = "version https://git-lfs"
#: Bytes of a WAV file searched for its ``fmt `` and ``data`` chunks.
WAV_HEADER_PROBE_BYTES = 65536


def is_pipe(entry: str) -> bool:
    """True if a ``wav.scp`` entry is a shell pipe (``sox x.wav -t wav - |``)."""
    return entry.rstrip().endswith("|")


def _read_pipe(entry: str, utt: str | None) -> tuple[np.ndarray, int]:
    command = entry.rstrip()[:-1]
    result = subprocess.run(command, shell=True, capture_output=True, check=False)
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()[-300:]
        raise AudioError(f"pipe command failed ({result.returncode}): {message}", entry, utt=utt)
    try:
        samples, rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise AudioError(f"pipe output is not readable audio: {err}", entry, utt=utt) from None
    return samples, rate


def audio_duration(entry: str, utt: str | None = None, allow_pipe: bool = False) -> float:
    """Duration in seconds of an audio file (from its header, without decoding)."""
    if is_pipe(entry):
        rate = 16000
        return len(load_audio(entry, rate, allow_pipe=allow_pipe, utt=utt)) / rate
    info = audio_info(entry, utt)
    return info.frames / info.samplerate


def audio_info(path: str | Path, utt: str | None = None) -> soundfile._SoundFileInfo:
    """The header of an audio file (``samplerate``, ``frames``, ``channels``), read without
    decoding and checked to announce samples.

    Raises:
        AudioError: the file is missing, unreadable (see :func:`unreadable_audio`) or empty.

    Example:
        >>> audio_info("clip.wav").samplerate
        16000
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError("audio file not found", path, utt=utt)
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise unreadable_audio(path, err, utt) from None
    if info.frames <= 0:
        raise AudioError("audio is empty (0 samples)", path, utt=utt)
    return info


def unreadable_audio(path: Path, err: Exception, utt: str | None = None) -> AudioError:
    """The error for a file that libsndfile cannot open, saying what the file holds instead.

    A zero-byte file and a text file (an error page, a Git LFS pointer saved as ``.wav``) are
    named as such; anything else is "corrupt or unsupported format" with libsndfile's reason.
    """
    try:
        with path.open("rb") as file:
            head = file.read(TEXT_PROBE_BYTES)
    except OSError as os_err:
        return AudioError(f"cannot read the file: {os_err.strerror}", path, utt=utt)
    if not head:
        return AudioError("audio file is empty (0 bytes)", path, utt=utt)
    text = _as_text(head)
    if text is not None:
        first_line = text.strip().splitlines()[0][:60] if text.strip() else ""
        hint = " (a Git LFS pointer: run git lfs pull)" if text.startswith(LFS_POINTER) else ""
        message = f"cannot read audio: the file holds text, not audio: {first_line!r}{hint}"
        return AudioError(message, path, utt=utt)
    return AudioError(f"cannot read audio (corrupt or unsupported format): {err}", path, utt=utt)


def _as_text(head: bytes) -> str | None:
    """``head`` decoded, if it is printable UTF-8 text (a cut last character allowed)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3:
            return None
        text = head[: err.start].decode("utf-8")
    return text if all(c.isprintable() or c in "\t\r\n" for c in text) else None


def wav_truncation(path: str | Path) -> tuple[float, float] | None:
    """(seconds the header declares, seconds present) of a RIFF WAV file cut short, else None.

    libsndfile reads the samples that are present without a word; this compares the size that
    the ``data`` chunk declares with the bytes that follow it. A file that is not a RIFF WAV, or
    whose header leaves the size open (0 or 0xFFFFFFFF, as streaming writers do), gives None.

    Example:
        >>> wav_truncation("clip.wav") is None  # a whole file
        True
        >>> whole = Path("clip.wav").read_bytes()
        >>> _ = Path("cut.wav").write_bytes(whole[: len(whole) // 3])
        >>> wav_truncation("cut.wav")  # the header says 1 s, a third of it is there
        (1.0, 0.33...)
    """
    path = Path(path)
    with path.open("rb") as file:
        header = file.read(WAV_HEADER_PROBE_BYTES)
    if len(header) < 12 or header[:4] not in (b"RIFF", b"RIFX") or header[8:12] != b"WAVE":
        return None
    order = "<" if header[:4] == b"RIFF" else ">"
    byte_rate, offset = None, 12
    while offset + 8 <= len(header):
        chunk = header[offset : offset + 4]
        (size,) = struct.unpack_from(order + "I", header, offset + 4)
        if chunk == b"fmt " and offset + 20 <= len(header):
            (byte_rate,) = struct.unpack_from(order + "I", header, offset + 16)  # bytes a second
        elif chunk == b"data":
            present = path.stat().st_size - (offset + 8)
            if not byte_rate or size in (0, 0xFFFFFFFF) or size <= present:
                return None
            return size / byte_rate, max(present, 0) / byte_rate
        offset += 8 + size + size % 2  # chunks are padded to an even size
    return None


def raise_if_empty(samples: np.ndarray, where: str | Path, utt: str | None) -> None:
    """Raise an AudioError if ``samples`` holds no audio."""
    if samples.size == 0:
        raise AudioError("audio is empty (0 samples)", where, utt=utt)


def load_audio(
    entry: str | Path,
    sample_rate: int | None = 16000,
    start: float = 0.0,
    end: float | None = None,
    allow_pipe: bool = False,
    utt: str | None = None,
) -> np.ndarray:
    """Load audio as float32 mono samples in [-1, 1], resampled to ``sample_rate``.

    Args:
        entry: a file path (wav, flac, ogg...: anything libsndfile reads) or, if ``allow_pipe``,
            a ``wav.scp`` pipe entry.
        sample_rate: target rate in Hz; None keeps the file's rate.
        start: offset in seconds (for ``segments``).
        end: end in seconds, or None for the end of the file.
        allow_pipe: run pipe entries; refused otherwise, since data must not run commands.
        utt: utterance id, for error messages.

    Returns:
        1-D array ``(num_samples,)``; channels are averaged.

    Raises:
        AudioError: missing, unreadable, corrupt or empty audio, or a refused pipe; the message
            names the file and the utterance.
    """
    entry = str(entry)
    if is_pipe(entry):
        if not allow_pipe:
            raise AudioError(
                "wav.scp entry is a shell pipe; data must not run commands "
                "(pass --allow-pipes to opt in)",
                entry,
                utt=utt,
            )
        samples, rate = _read_pipe(entry, utt)
        first = int(round(start * rate))
        last = None if end is None else int(round(end * rate))
        samples = samples[first:last]
    else:
        path = Path(entry)
        if not path.is_file():
            raise AudioError("audio file not found", path, utt=utt)
        try:
            with soundfile.SoundFile(str(path)) as sound:
                rate = sound.samplerate
                first = int(round(start * rate))
                frames = -1 if end is None else max(0, int(round(end * rate)) - first)
                if first:
                    sound.seek(min(first, sound.frames))
                samples = sound.read(frames, dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError) as err:
            raise unreadable_audio(path, err, utt) from None
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    raise_if_empty(mono, entry, utt)
    if sample_rate is not None and rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)


def load_utterance(
    data: DataDir, utt: str, sample_rate: int = 16000, allow_pipe: bool = False
) -> np.ndarray:
    """Load one utterance of a data dir (following ``segments`` when present)."""
    _, start, end = data.recording_of(utt)
    return load_audio(
        data.audio_entry(utt), sample_rate, start=start, end=end, allow_pipe=allow_pipe, utt=utt
    )


def write_audio(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono float samples as 16-bit PCM (format from the suffix: .wav, .flac), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        soundfile.write(
            str(tmp), samples, sample_rate, subtype="PCM_16", format=path.suffix[1:].upper()
        )
