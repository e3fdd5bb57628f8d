"""Shared pytest fixtures: tiny sine-wave audio and valid Kaldi data dirs.

``sine_wave(frequency=440.0, seconds=0.5, sample_rate=16000, channels=1)`` returns float32
samples, shape ``(num_samples,)`` (mono) or ``(num_samples, channels)``.

``make_data_dir(name="data", num_utts=4, ...)`` (the fixture; :func:`write_data_dir` outside
a test's tmp_path) writes a valid data dir under ``tmp_path`` and
returns its path. Utterance ``i`` is ``spk{i % num_speakers + 1}-utt{i:03d}`` (speaker id as a
prefix, as Kaldi wants), its audio a sine of ``200 + 50 * i`` Hz in ``<dir>/audio/<utt>.wav``
(absolute path in ``wav.scp``), its transcript ``"hello number {i}"``, its language
``languages[speaker index % len(languages)]`` (so speakers never mix languages) and its label
``"even"`` or ``"odd"``. Example::

    def test_something(make_data_dir):
        path = make_data_dir(num_utts=6, languages=("eng", "kat"), utt2dur=True)
        data = DataDir.read(path)

``tiny_asr_config(max_steps=4, valid_utts=4)`` returns a fresh ``AsrTrainConfig`` dict of a tiny
transducer and a short run (the ASR tests and the doctest world build their models from it).

``on_terminal(args, cwd)`` runs a command with its stdout and stderr on a pseudo-terminal
of 24 x 100 characters (as if a person ran it in a terminal) and returns what the terminal showed.
"""

from __future__ import annotations

import copy
import fcntl
import functools
import os
import select
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from speechml.data.audio import write_audio
from speechml.data.datadir import DataDir


def _sine_wave(
    frequency: float = 440.0,
    seconds: float = 0.5,
    sample_rate: int = 16000,
    channels: int = 1,
) -> np.ndarray:
    times = np.arange(int(round(seconds * sample_rate))) / sample_rate
    mono = (0.5 * np.sin(2 * np.pi * frequency * times)).astype(np.float32)
    return mono if channels == 1 else np.repeat(mono[:, None], channels, axis=1)


@pytest.fixture
def sine_wave() -> Callable[..., np.ndarray]:
    """The function ``sine_wave(frequency, seconds, sample_rate, channels)`` (see module doc)."""
    return _sine_wave


def write_data_dir(
    root: Path,
    name: str = "data",
    num_utts: int = 4,
    num_speakers: int = 2,
    languages: Sequence[str] = ("eng",),
    seconds: float = 0.5,
    sample_rate: int = 16000,
    audio_format: str = "wav",
    text: bool = True,
    utt2lang: bool = True,
    utt2dur: bool = False,
    utt2label: bool = False,
) -> Path:
    """Write the data dir ``root/name`` described in the module docstring; returns its path."""
    path = root / name
    data = DataDir()
    for i in range(num_utts):
        speaker = i % num_speakers
        utt = f"spk{speaker + 1}-utt{i:03d}"
        audio = path / "audio" / f"{utt}.{audio_format}"
        write_audio(audio, _sine_wave(200 + 50 * i, seconds, sample_rate), sample_rate)
        data.wav_scp[utt] = str(audio)
        data.utt2spk[utt] = f"spk{speaker + 1}"
        if text:
            data.text[utt] = f"hello number {i}"
        if utt2lang:
            data.utt2lang[utt] = languages[speaker % len(languages)]
        if utt2dur:
            data.utt2dur[utt] = seconds
        if utt2label:
            data.utt2label[utt] = "odd" if i % 2 else "even"
    data.write(path)
    return path


@pytest.fixture
def make_data_dir(tmp_path: Path) -> Callable[..., Path]:
    """A factory of valid data dirs under ``tmp_path`` (see :func:`write_data_dir`)."""
    return functools.partial(write_data_dir, tmp_path)


@pytest.fixture(scope="session")
def data_dir_writer() -> Callable[..., Path]:
    """:func:`write_data_dir` itself, for module- or session-scoped fixtures."""
    return write_data_dir


#: A tiny transducer and a short run: seconds on a CPU.
_TINY_ASR: dict[str, Any] = {
    "model": {
        "encoder": {
            "d_model": 32,
            "num_heads": 2,
            "ffn_dim": 64,
            "num_layers": 2,
            "num_second_pass_layers": 1,
            "conv_kernel": 5,
            "subsampling_channels": 8,
            "chunk_size": 4,
            "left_chunks": 2,
        },
        "predictor": {"embed_dim": 16, "output_dim": 16},
        "joiner_dim": 16,
    },
    "train": {
        "max_steps": 4,
        "valid_every": 2,
        "warmup_steps": 2,
        "max_batch_size": 4,
        "log_every": 1,
        "best_metric": "dev_wer",
    },
    "valid_utts": 4,
}


@pytest.fixture(scope="session")
def tiny_asr_config() -> Callable[..., dict[str, Any]]:
    """``make(max_steps=4, valid_utts=4)``: a fresh AsrTrainConfig dict of a tiny model."""

    def make(max_steps: int = 4, valid_utts: int = 4) -> dict[str, Any]:
        config = copy.deepcopy(_TINY_ASR)
        config["train"]["max_steps"] = max_steps
        config["valid_utts"] = valid_utts
        return config

    return make


def _run_on_terminal(args: Sequence[str], cwd: Path | None = None, timeout: float = 120) -> str:
    """What ``args`` writes to a pseudo-terminal that is its stdout and stderr (``\\r\\n``
    line ends, as a terminal gets them)."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # rows, columns
    process = subprocess.Popen(
        list(args), cwd=cwd, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower
    )
    os.close(follower)
    shown, deadline = bytearray(), time.monotonic() + timeout
    try:
        while select.select([leader], [], [], max(0.0, deadline - time.monotonic()))[0]:
            chunk = os.read(leader, 65536)
            if not chunk:
                break
            shown += chunk
    except OSError:  # EIO: every writer of the terminal has closed it
        pass
    finally:
        os.close(leader)
        if time.monotonic() > deadline:
            process.kill()  # still running at the deadline
    process.wait(timeout=timeout)
    assert process.returncode == 0, shown.decode(errors="replace")[-3000:]
    return shown.decode(errors="replace")


@pytest.fixture(scope="session")
def on_terminal() -> Callable[..., str]:
    """Run a command on a pseudo-terminal; what it showed there (see :func:`_run_on_terminal`)."""
    return _run_on_terminal
