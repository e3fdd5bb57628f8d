"""Features: Kaldi log-mel filterbanks and global mean/variance normalisation (CMVN).

:func:`compute_fbank` wraps :func:`torchaudio.compliance.kaldi.fbank` (Kaldi's
``compute-fbank-feats``). :class:`CmvnStats` holds per-dimension sums of features (a data dir's:
:func:`speechml.data.feature_store.compute_cmvn_stats`) and saves them (safetensors or JSON);
:class:`GlobalCMVN` applies them to ``(T, F)`` or ``(B, T, F)`` features.

Example:
    >>> from speechml.data.audio import load_audio
    >>> samples = load_audio("clip.wav", sample_rate=16000)
    >>> stats = CmvnStats.zeros(80); stats.accumulate(compute_fbank(samples))
    >>> stats.save("exp/cmvn.safetensors")
    >>> cmvn = GlobalCMVN(CmvnStats.load("exp/cmvn.safetensors"))
    >>> normed = cmvn(compute_fbank(samples))  # (T, 80), ~0 mean, ~1 std
    >>> normed.shape, round(normed.mean().item(), 3)
    (torch.Size([98, 80]), 0.0)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor, nn
from torchaudio.compliance import kaldi

from speechml.errors import AudioError, DataError
from speechml.io import atomic_path, atomic_write_text

#: Kaldi reads 16-bit PCM as integers; scaling [-1, 1] floats to that range gives its features.
PCM16_SCALE = 32768.0


@dataclass(frozen=True)
class FbankConfig:
    """Kaldi filterbank options (the rest keep Kaldi's defaults: povey window, preemphasis 0.97)."""

    num_mel_bins: int = 80  # mel channels: the feature dimension F
    frame_length: float = 25.0  # analysis window, milliseconds
    frame_shift: float = 10.0  # hop between frames, milliseconds
    dither: float = (
        0.0  # Gaussian dither amplitude (in 16-bit units); 0 keeps features deterministic
    )
    sample_rate: int = 16000  # rate of the audio, Hz

    def __post_init__(self) -> None:
        if self.num_mel_bins < 1 or self.frame_length <= 0 or self.frame_shift <= 0:
            raise ValueError("num_mel_bins, frame_length and frame_shift must be positive")
        if self.sample_rate <= 0 or self.dither < 0:
            raise ValueError("sample_rate must be positive and dither non-negative")

    @property
    def window_samples(self) -> int:
        """Samples in one analysis window (400 at 16 kHz, 25 ms)."""
        return int(self.sample_rate * self.frame_length / 1000)


def compute_fbank(
    samples: np.ndarray | Tensor, config: FbankConfig | None = None, utt: str | None = None
) -> Tensor:
    """Log-mel filterbank features of one utterance, as Kaldi computes them.

    Args:
        samples: mono float samples in [-1, 1], shape ``(num_samples,)``, at ``config.sample_rate``.
        config: the options; default :class:`FbankConfig` (80 bins, 25/10 ms, no dither).
        utt: utterance id, for error messages.

    Returns:
        float32 tensor ``(T, F)`` with ``T = 1 + (num_samples - window) // shift`` frames
        (Kaldi's ``snip_edges``) and ``F = config.num_mel_bins``.

    Raises:
        AudioError: if the audio is not 1-D or is shorter than one analysis window.

    Example:
        >>> compute_fbank(np.zeros(16000, dtype=np.float32)).shape
        torch.Size([98, 80])
    """
    config = config or FbankConfig()
    waveform = torch.as_tensor(samples, dtype=torch.float32)
    if waveform.ndim != 1:
        raise AudioError(f"expected mono samples (1-D), got shape {tuple(waveform.shape)}", utt=utt)
    if waveform.numel() < config.window_samples:
        raise AudioError(
            f"audio of {waveform.numel()} samples is shorter than one analysis window "
            f"({config.window_samples} samples)",
            utt=utt,
        )
    return kaldi.fbank(
        waveform.unsqueeze(0) * PCM16_SCALE,
        num_mel_bins=config.num_mel_bins,
        frame_length=config.frame_length,
        frame_shift=config.frame_shift,
        dither=config.dither,
        sample_frequency=config.sample_rate,
    )


@dataclass
class CmvnStats:
    """Per-dimension sums of features: enough for a global mean and standard deviation.

    Attributes:
        count: number of frames summed.
        sum: float64 ``(F,)``, the sum of the frames.
        sum_sq: float64 ``(F,)``, the sum of the squared frames.
    """

    count: int
    sum: Tensor
    sum_sq: Tensor

    #: floor of the variance, so that a constant dimension does not divide by zero
    VARIANCE_FLOOR = 1e-10

    @classmethod
    def zeros(cls, dim: int) -> CmvnStats:
        """Empty stats of feature dimension ``dim``."""
        return cls(0, torch.zeros(dim, dtype=torch.float64), torch.zeros(dim, dtype=torch.float64))

    def accumulate(self, features: Tensor) -> None:
        """Add the frames of ``features`` ``(T, F)`` to the sums."""
        frames = features.to(torch.float64)
        self.count += frames.shape[0]
        self.sum += frames.sum(dim=0)
        self.sum_sq += (frames * frames).sum(dim=0)

    @property
    def mean(self) -> Tensor:
        """float64 ``(F,)`` mean of the frames."""
        if self.count == 0:
            raise DataError("CMVN statistics hold no frames")
        return self.sum / self.count

    @property
    def std(self) -> Tensor:
        """float64 ``(F,)`` standard deviation (population) of the frames."""
        variance = self.sum_sq / self.count - self.mean**2
        return variance.clamp_min(self.VARIANCE_FLOOR).sqrt()

    def save(self, path: str | Path) -> None:
        """Write the stats atomically: JSON if ``path`` ends in ``.json``, else safetensors."""
        path = Path(path)
        if path.suffix == ".json":
            data = {"count": self.count, "sum": self.sum.tolist(), "sum_sq": self.sum_sq.tolist()}
            atomic_write_text(path, json.dumps(data) + "\n")
            return
        tensors = {"sum": self.sum, "sum_sq": self.sum_sq}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={"count": str(self.count)})

    @classmethod
    def load(cls, path: str | Path) -> CmvnStats:
        """Read stats written by :meth:`save`.

        Raises:
            DataError: if the file is missing or malformed.
        """
        path = Path(path)
        if not path.is_file():
            raise DataError("CMVN statistics file not found", path=path)
        try:
            if path.suffix == ".json":
                data = json.loads(path.read_text(encoding="utf-8"))
                count, total, total_sq = data["count"], data["sum"], data["sum_sq"]
            else:
                with safe_open(str(path), framework="pt") as handle:
                    count = (handle.metadata() or {})["count"]
                    total, total_sq = handle.get_tensor("sum"), handle.get_tensor("sum_sq")
            stats = cls(
                int(count),
                torch.as_tensor(total, dtype=torch.float64),
                torch.as_tensor(total_sq, dtype=torch.float64),
            )
        except (KeyError, ValueError, TypeError, OSError, SafetensorError) as err:
            raise DataError(f"malformed CMVN statistics: {err}", path=path) from None
        if stats.sum.shape != stats.sum_sq.shape or stats.sum.ndim != 1 or stats.count <= 0:
            raise DataError("malformed CMVN statistics: inconsistent shapes or count", path=path)
        return stats


class GlobalCMVN(nn.Module):
    """Normalise features with global statistics: ``(x - mean) / std``.

    Args:
        stats: the statistics (their feature dimension F must match the input's).

    Shapes:
        ``forward(features, lengths=None)``: features ``(T, F)`` or ``(B, T, F)``; with
        ``lengths`` ``(B,)``, padded frames (``t >= lengths[b]``) are set to 0. Returns float32
        features of the same shape.

    Example:
        >>> stats = CmvnStats.zeros(2); stats.accumulate(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
        >>> GlobalCMVN(stats)(torch.tensor([[1.0, 2.0]]))
        tensor([[-1., -1.]])
    """

    def __init__(self, stats: CmvnStats) -> None:
        super().__init__()
        self.register_buffer("mean", stats.mean.to(torch.float32))
        self.register_buffer("inv_std", (1.0 / stats.std).to(torch.float32))

    def forward(self, features: Tensor, lengths: Tensor | None = None) -> Tensor:
        if features.shape[-1] != self.mean.shape[0]:
            raise ValueError(
                f"features have dimension {features.shape[-1]}, CMVN stats {self.mean.shape[0]}"
            )
        normed = (features - self.mean) * self.inv_std
        if lengths is not None:
            frames = torch.arange(features.shape[-2], device=features.device)
            padding = frames.unsqueeze(0) >= lengths.unsqueeze(1)
            normed = normed.masked_fill(padding.unsqueeze(-1), 0.0)
        return normed
