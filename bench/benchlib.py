"""What the ASR benchmark scripts share: options, the machine line, tables, the model config.

Each script prints a header line, a line describing the machine, its settings, one small table
and a few summary lines of the form ``name: value`` that a person can read and a script can
parse. Progress bars go to stderr, figures to stdout.

Example:
    >>> print(format_table(["arm", "RTF"], [["full", 0.12345]]))  # doctest: +NORMALIZE_WHITESPACE
    arm  RTF
    ---- ------
    full 0.1235
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Sequence
from dataclasses import replace

import torch

from speechml.asr.train import AsrTrainConfig
from speechml.asr.transducer import Transducer, TransducerConfig
from speechml.cli import add_overrides
from speechml.config import load_config
from speechml.data.features import FbankConfig

#: torch's thread count when the process started: what ``--threads`` falls back to.
DEFAULT_THREADS = torch.get_num_threads()

#: ``--set`` overrides of ``--quick``: a model small enough for a smoke test in seconds.
QUICK_MODEL = (
    "model.encoder.d_model=32",
    "model.encoder.num_heads=2",
    "model.encoder.ffn_dim=64",
    "model.encoder.num_layers=2",
    "model.encoder.subsampling_channels=8",
    "model.encoder.chunk_size=4",
    "model.predictor.embed_dim=16",
    "model.predictor.output_dim=16",
    "model.joiner_dim=16",
)


def add_common_options(parser: argparse.ArgumentParser, threads: int | None = None) -> None:
    """Add the options every benchmark takes: --quick, --threads, --config, --set, --seed.

    Args:
        parser: the script's parser.
        threads: default of ``--threads`` (None: torch's default for this machine).
    """
    parser.add_argument(
        "--quick", action="store_true", help="tiny model and sizes: a smoke run of a few seconds"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=threads,
        help=f"torch CPU threads (default: {threads or f'torch default, {DEFAULT_THREADS}'})",
    )
    parser.add_argument(
        "--config",
        help="ASR training config YAML (egs/<lang>/conf/asr.yaml) whose model is measured "
        "(default: the library's default model)",
    )
    add_overrides(parser)  # --set KEY=VALUE, as the `speechml asr train` verb takes it
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and synthetic data")


def load_asr_config(args: argparse.Namespace) -> AsrTrainConfig:
    """The ASR config of ``--config`` (default: defaults) with ``--quick`` and ``--set`` applied."""
    overrides = [*(QUICK_MODEL if args.quick else ()), *args.overrides]
    return load_config(AsrTrainConfig, args.config, overrides)


def build_model(config: TransducerConfig, vocab_size: int, seed: int) -> Transducer:
    """A freshly initialised transducer of ``config`` with ``vocab_size`` ids, seeded."""
    torch.manual_seed(seed)
    return Transducer(replace(config, vocab_size=vocab_size))


def set_threads(threads: int | None) -> int:
    """Set torch's CPU threads (None: the process default); returns the count in use."""
    torch.set_num_threads(threads or DEFAULT_THREADS)
    return torch.get_num_threads()


def resolve_device(name: str) -> torch.device:
    """``"auto"``: the GPU when there is one, else the CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a wall-clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def machine_line(device: torch.device) -> str:
    """One line: CPUs, torch threads, device, versions, and the load (the machine may be shared)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    where = str(device)
    if device.type == "cuda":
        where += f" ({torch.cuda.get_device_name(device)})"
    load = f", load avg {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    return (
        f"machine: {cpus} CPUs{load}, torch {torch.__version__} with {torch.get_num_threads()} "
        f"threads, device {where}, python {platform.python_version()}"
    )


def print_header(title: str, device: torch.device, settings: dict[str, object]) -> None:
    """Print the header line, the machine line and the settings line of a benchmark."""
    print(f"== {title} ==")
    print(machine_line(device))
    print("settings: " + ", ".join(f"{key}={value}" for key, value in settings.items()))


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned text table; floats with 4 significant digits."""

    def cell(value: object) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    cells = [list(header), *([cell(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [" ".join(text.ljust(w) for text, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, " ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def feature_frames(seconds: float, fbank: FbankConfig) -> int:
    """Fbank frames of ``seconds`` of audio (Kaldi's snip-edges count)."""
    samples = int(seconds * fbank.sample_rate)
    shift = int(fbank.sample_rate * fbank.frame_shift / 1000)
    return max(1, 1 + (samples - fbank.window_samples) // shift)


def synthetic_durations(count: int, low: float, high: float, seed: int) -> list[float]:
    """``count`` durations drawn uniformly from ``[low, high]`` seconds (the corpus's range)."""
    if count < 1 or not 0 < low <= high:
        raise ValueError("need count >= 1 and 0 < low <= high")
    gen = torch.Generator().manual_seed(seed)
    return (low + (high - low) * torch.rand(count, generator=gen)).tolist()


def synthetic_features(
    seconds: float, fbank: FbankConfig, generator: torch.Generator
) -> torch.Tensor:
    """Normalised-fbank-like features ``(T, F)`` of ``seconds``: zero mean, unit variance.

    ``T`` is the frame count of ``fbank`` for that much audio, ``F`` its ``num_mel_bins``.
    """
    frames = feature_frames(seconds, fbank)
    return torch.randn(frames, fbank.num_mel_bins, generator=generator)
