"""Augmentation: SpecAugment masks, Kaldi-style speed perturbation, additive noise at an SNR.

:class:`SpecAugment` masks bands of a padded feature batch during training.
:func:`perturb_speed` changes speed as sox ``speed`` does (pitch and tempo together) and
:func:`speed_perturb_data_dir` applies it to a whole data dir, as Kaldi's
``perturb_data_dir_speed_3way.sh``. :func:`add_noise` mixes noise in at a chosen SNR.

Example:
    >>> augment = SpecAugment(SpecAugmentConfig(num_time_masks=2))
    >>> masked = augment(torch.ones(4, 100, 80), lengths=torch.tensor([100, 80, 60, 40]))
    >>> masked.shape
    torch.Size([4, 100, 80])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr
import torch
from torch import Tensor, nn

from speechml.data.audio import audio_duration, load_utterance, write_audio
from speechml.data.datadir import DataDir
from speechml.errors import DataError
from speechml.progress import progress_bar

#: rate of the audio that speed perturbation writes, Hz
PERTURBED_SAMPLE_RATE = 16000


@dataclass(frozen=True)
class SpecAugmentConfig:
    """How many bands SpecAugment masks and how wide they may be."""

    num_freq_masks: int = 2  # frequency bands masked per utterance
    max_freq_width: int = 15  # widest frequency band, in bins (a width is drawn from 0..max)
    num_time_masks: int = 2  # time spans masked per utterance
    max_time_width: int = 15  # widest time span, in frames
    max_time_fraction: float = 0.2  # a time span also covers at most this fraction of the length

    def __post_init__(self) -> None:
        counts = (self.num_freq_masks, self.max_freq_width, self.num_time_masks)
        if min(*counts, self.max_time_width) < 0 or not 0.0 <= self.max_time_fraction <= 1.0:
            raise ValueError("mask counts and widths must be >= 0 and max_time_fraction in [0, 1]")


def _band_mask(
    size: int, limits: Tensor, max_widths: Tensor, count: int, generator: torch.Generator | None
) -> Tensor:
    """``count`` random bands per row inside ``[0, limits[b])``, as a bool mask ``(B, size)``.

    A band's width is uniform in ``0..max_widths[b]`` (clipped to the limit), its start uniform
    among the positions where it fits.
    """
    batch = limits.shape[0]
    widths_cap = torch.minimum(max_widths, limits).unsqueeze(1)
    widths = (torch.rand(batch, count, generator=generator) * (widths_cap + 1)).floor()
    starts = torch.rand(batch, count, generator=generator) * (limits.unsqueeze(1) - widths + 1)
    starts = starts.floor()
    positions = torch.arange(size).view(1, 1, size)
    inside = (positions >= starts.unsqueeze(2)) & (positions < (starts + widths).unsqueeze(2))
    return inside.any(dim=1)


class SpecAugment(nn.Module):
    """SpecAugment (Park et al. 2019) without time warping, on a padded batch.

    Frequency and time bands are set to 0 (the mean, when applied after CMVN); bands stay
    inside each utterance's frames, so padding is never touched. In eval mode the input is
    returned unchanged.

    Args:
        config: mask counts and widths; default :class:`SpecAugmentConfig` (2 + 2 masks <= 15).

    Shapes:
        ``forward(features, lengths=None, generator=None)``: features ``(B, T, F)`` or ``(T, F)``,
        lengths ``(B,)`` valid frames per utterance (default: all ``T``). Returns a new tensor of
        the same shape. Pass a seeded CPU ``torch.Generator`` for reproducible masks.

    Example:
        >>> gen = torch.Generator().manual_seed(0)
        >>> SpecAugment()(torch.ones(2, 50, 80), torch.tensor([50, 30]), gen).shape
        torch.Size([2, 50, 80])
    """

    def __init__(self, config: SpecAugmentConfig | None = None) -> None:
        super().__init__()
        self.config = config or SpecAugmentConfig()

    def forward(
        self,
        features: Tensor,
        lengths: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        if not self.training:
            return features
        single = features.ndim == 2
        batch = features.unsqueeze(0) if single else features
        num, frames, bins = batch.shape
        lengths = torch.full((num,), frames) if lengths is None else lengths.detach().cpu().long()
        if lengths.shape != (num,) or bool((lengths > frames).any()):
            raise ValueError(
                f"lengths {lengths.tolist()} do not fit features of shape {(num, frames)}"
            )
        cfg = self.config
        time_caps = torch.minimum(
            torch.full((num,), cfg.max_time_width),
            (lengths.double() * cfg.max_time_fraction).long(),
        )
        time_mask = _band_mask(frames, lengths, time_caps, cfg.num_time_masks, generator)
        freq_mask = _band_mask(
            bins,
            torch.full((num,), bins),
            torch.full((num,), cfg.max_freq_width),
            cfg.num_freq_masks,
            generator,
        )
        valid = torch.arange(frames).unsqueeze(0) < lengths.unsqueeze(1)
        mask = (time_mask.unsqueeze(2) | freq_mask.unsqueeze(1)) & valid.unsqueeze(2)
        masked = batch.masked_fill(mask.to(batch.device), 0.0)
        return masked.squeeze(0) if single else masked


def perturb_speed(samples: np.ndarray, factor: float, sample_rate: int = 16000) -> np.ndarray:
    """Play ``samples`` ``factor`` times faster, pitch and tempo together (sox ``speed``).

    The audio is resampled as if it had been recorded at ``sample_rate * factor``: the result
    has ``len(samples) / factor`` samples and every frequency multiplied by ``factor``.

    Args:
        samples: float mono samples ``(num_samples,)``.
        factor: speed factor, > 0 (0.9 slower and lower, 1.1 faster and higher).
        sample_rate: rate of ``samples`` and of the result, Hz.

    Example:
        >>> perturb_speed(np.zeros(16000, dtype=np.float32), 0.8).shape
        (20000,)
    """
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    samples = np.asarray(samples, dtype=np.float32)
    if factor == 1.0:
        return samples.copy()
    return soxr.resample(samples, sample_rate * factor, sample_rate, quality="HQ").astype(
        np.float32
    )


def speed_prefix(factor: float) -> str:
    """Id prefix of a perturbed copy: ``"sp0.9-"``; factor 1.0 keeps ids (``""``)."""
    return "" if factor == 1.0 else f"sp{factor:g}-"


def speed_perturb_data_dir(
    data: DataDir,
    out_dir: str | Path,
    factors: Sequence[float] = (0.9, 1.0, 1.1),
    allow_pipes: bool = False,
) -> DataDir:
    """Kaldi-style speed perturbation of a data dir, written to ``out_dir``.

    Each utterance ``u`` of speaker ``s`` gets one copy per factor ``f``: ids ``sp{f}-u`` and
    ``sp{f}-s`` (factor 1.0 keeps ``u`` and ``s``), audio ``out_dir/wav/<id>.wav`` at 16 kHz,
    utt2dur measured on the new audio (the old duration / f), and text, utt2lang, utt2label
    copied. Every copy, factor 1.0 included, is written as a plain WAV, so the output has no
    pipes and no ``segments``. A WAV already present (from an interrupted run) is kept.

    Args:
        data: the source data dir.
        out_dir: where the new data dir and its ``wav/`` folder go.
        factors: speed factors, each > 0 and distinct.
        allow_pipes: run ``wav.scp`` pipe entries of the source.

    Returns:
        The new :class:`DataDir` (already written).

    Raises:
        DataError: on a bad factor or an utterance id that cannot be a file name;
            AudioError for unreadable source audio.
    """
    factors = [float(f) for f in factors]
    if not factors or min(factors) <= 0 or len(set(factors)) != len(factors):
        raise DataError(f"speed factors must be distinct and positive, got {factors}")
    out_dir = Path(out_dir)
    wav_dir = (out_dir / "wav").resolve()
    wav_dir.mkdir(parents=True, exist_ok=True)
    result = DataDir()
    for utt in progress_bar(data.utts, desc="speed perturbation", unit="utt"):
        if "/" in utt or utt.startswith("."):
            raise DataError("utterance id cannot be used as a file name", data.path, utt=utt)
        samples = None
        for factor in factors:
            new_utt = speed_prefix(factor) + utt
            wav = wav_dir / f"{new_utt}.wav"
            if wav.is_file():
                duration = audio_duration(str(wav), utt=new_utt)
            else:
                if samples is None:
                    samples = load_utterance(data, utt, PERTURBED_SAMPLE_RATE, allow_pipes)
                perturbed = perturb_speed(samples, factor, PERTURBED_SAMPLE_RATE)
                write_audio(wav, perturbed, PERTURBED_SAMPLE_RATE)
                duration = len(perturbed) / PERTURBED_SAMPLE_RATE
            result.wav_scp[new_utt] = str(wav)
            result.utt2spk[new_utt] = speed_prefix(factor) + data.utt2spk[utt]
            result.utt2dur[new_utt] = duration
            for table in ("text", "utt2lang", "utt2label"):
                source = getattr(data, table)
                if utt in source:
                    getattr(result, table)[new_utt] = source[utt]
    result.write(out_dir)
    return result


def add_noise(
    samples: np.ndarray, noise: np.ndarray, snr_db: float, rng: np.random.Generator
) -> np.ndarray:
    """Mix ``noise`` into ``samples`` at a signal-to-noise ratio of ``snr_db`` decibels.

    A longer noise is cut at a random offset, a shorter one repeated. The result is not
    clipped (clipping would change the SNR); scale it if it must stay in [-1, 1].

    Args:
        samples: float mono speech ``(num_samples,)``.
        noise: float mono noise ``(num_noise_samples,)``, not silent.
        snr_db: wanted ratio of speech power to noise power, in dB.
        rng: source of the random offset, e.g. ``np.random.default_rng(0)``.

    Returns:
        float32 ``(num_samples,)``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> add_noise(np.ones(100), rng.standard_normal(50), 10.0, rng).shape
        (100,)
    """
    samples = np.asarray(samples, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)
    if samples.ndim != 1 or noise.ndim != 1 or noise.size == 0:
        raise ValueError("samples and noise must be non-empty 1-D arrays")
    if noise.size < samples.size:
        noise = np.tile(noise, -(-samples.size // noise.size))
    offset = int(rng.integers(0, noise.size - samples.size + 1))
    noise = noise[offset : offset + samples.size]
    noise_power = float(np.mean(noise**2))
    if noise_power == 0.0:
        raise ValueError("noise is silent: no SNR can be reached")
    signal_power = float(np.mean(samples**2))
    scale = np.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return (samples + scale * noise).astype(np.float32)
