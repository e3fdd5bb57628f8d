"""Raw-waveform utterances for transformers speech models (wav2vec2 family): a dataset and a
collator that normalises and pads the audio as the model's feature extractor says.

Example:
    >>> dataset = WaveformDataset(DataDir.read("data/train"), 16000)  # 0.5 s utterances
    >>> batch = WaveformCollator(None)([dataset[0], dataset[1]])  # zero-padded as they are
    >>> batch["inputs"].shape, batch["input_lengths"]
    (torch.Size([2, 8000]), tensor([8000, 8000]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from speechml.data.audio import load_utterance
from speechml.data.datadir import DataDir
from speechml.data.durations import utterance_durations


class WaveformDataset(Dataset):
    """Utterances of a data dir as ``{"utt", "lang", "audio" (N,)}`` float32 at ``sample_rate``.

    Args:
        data: the data dir.
        sample_rate: rate the audio is resampled to, Hz.
        allow_pipes: allow ``wav.scp`` pipes.
    """

    def __init__(self, data: DataDir, sample_rate: int, allow_pipes: bool = False) -> None:
        self.data = data
        self.sample_rate = sample_rate
        self.allow_pipes = allow_pipes
        self.utts = data.utts
        durations = utterance_durations(data, allow_pipes=allow_pipes)
        self.durations = [float(durations[utt]) for utt in self.utts]

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, index: int) -> dict[str, Any]:
        utt = self.utts[index]
        samples = load_utterance(self.data, utt, self.sample_rate, allow_pipe=self.allow_pipes)
        return {"utt": utt, "lang": self.data.utt2lang.get(utt), "audio": torch.from_numpy(samples)}


@dataclass
class WaveformCollator:
    """Pad waveform items: ``utts``, ``langs``, ``inputs`` (B, N), ``input_lengths`` (B,).

    With a feature extractor, it normalises the audio (over each utterance's own samples) and
    pads it as the pretrained model expects; without one, the audio is zero-padded as it is.
    """

    feature_extractor: Any  # a transformers feature extractor, or None

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        waves = [item["audio"] for item in items]
        if self.feature_extractor is None:
            inputs = pad_sequence(waves, batch_first=True)
        else:
            inputs = self.feature_extractor(
                [wave.numpy() for wave in waves],
                sampling_rate=self.feature_extractor.sampling_rate,
                padding=True,
                return_attention_mask=True,
                return_tensors="pt",
            )["input_values"]
        return {
            "utts": [item["utt"] for item in items],
            "langs": [item["lang"] for item in items],
            "inputs": inputs,
            "input_lengths": torch.tensor([len(wave) for wave in waves]),
        }


def attention_mask_for(model: Any, batch: dict[str, Any]) -> torch.Tensor | None:
    """The sample-level attention mask of a collated batch for a wav2vec2-family ``model``
    (DDP-wrapped or not) whose feature encoder uses layer norm (XLS-R, MMS); None for those
    trained on zero padding without a mask (wav2vec2-base)."""
    config = getattr(model, "module", model).config
    if config.feat_extract_norm != "layer":
        return None
    inputs, lengths = batch["inputs"], batch["input_lengths"]
    return (torch.arange(inputs.shape[1], device=inputs.device) < lengths[:, None]).long()
