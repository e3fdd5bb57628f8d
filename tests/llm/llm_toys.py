"""Toy audio for the audio-LLM tests: high and low tones, transcribed and labelled."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from speechml.data.audio import write_audio
from speechml.data.datadir import DataDir


def write_tones(root: Path, per_class: int, seed: int) -> Path:
    """Tones ("high"/"low", by pitch) of 0.3-0.5 s: the transcript and label is the pitch."""
    rng = np.random.default_rng(seed)
    data = DataDir()
    for label, freq in (("high", 1800.0), ("low", 300.0)):
        for i in range(per_class):
            utt = f"spk1-{label}{i:02d}"
            times = np.arange(int(16000 * rng.uniform(0.3, 0.5))) / 16000
            samples = 0.5 * np.sin(2 * np.pi * freq * times) + 0.01 * rng.standard_normal(
                len(times)
            )
            write_audio(root / "audio" / f"{utt}.wav", samples.astype(np.float32), 16000)
            data.wav_scp[utt] = str(root / "audio" / f"{utt}.wav")
            data.text[utt] = f"a {label} tone"
            data.utt2spk[utt] = "spk1"
            data.utt2lang[utt] = "eng"
            data.utt2label[utt] = label
    data.write(root)
    return root
