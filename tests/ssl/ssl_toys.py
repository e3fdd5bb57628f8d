"""A toy 'language' of tone syllables and tiny wav2vec2 configs for the SSL tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from speechml.data.audio import write_audio
from speechml.data.datadir import DataDir
from speechml.ssl.pretrain import GumbelSchedule, PretrainConfig, Wav2Vec2Size
from speechml.train.trainer import TrainConfig

RATE = 16000
#: Each syllable is a tone of one of these frequencies (Hz), 120 ms long: 6 feature frames.
SYLLABLES = {"a": 300.0, "e": 500.0, "i": 800.0, "o": 1200.0, "u": 1800.0}


def syllable_audio(word: str, rng: np.random.Generator) -> np.ndarray:
    """The waveform of ``word`` (letters of :data:`SYLLABLES`), with a little noise."""
    t = np.arange(int(0.12 * RATE)) / RATE
    parts = [np.sin(2 * np.pi * SYLLABLES[c] * t) * np.hanning(len(t)) for c in word]
    audio = 0.5 * np.concatenate(parts)
    return (audio + 0.01 * rng.standard_normal(len(audio))).astype(np.float32)


def write_syllable_dir(root: Path, num_utts: int, seed: int = 0, lang: str = "eng") -> Path:
    """A data dir of random 'words' of 6-9 syllables, their letters as the transcript."""
    rng = np.random.default_rng(seed)
    data = DataDir()
    for i in range(num_utts):
        utt = f"{lang}-spk{i % 2}-{i:03d}"
        letters = "".join(rng.choice(list(SYLLABLES), size=int(rng.integers(6, 10))))
        text = f"{letters[:3]} {letters[3:]}"
        audio = root / "audio" / f"{utt}.wav"
        write_audio(audio, syllable_audio(text.replace(" ", ""), rng), RATE)
        data.wav_scp[utt] = str(audio)
        data.utt2spk[utt] = f"{lang}-spk{i % 2}"
        data.text[utt] = text
        data.utt2lang[utt] = lang
    data.write(root)
    return root


def tiny_pretrain_config(
    max_steps: int, diversity_loss_weight: float = 1.0, **train: object
) -> PretrainConfig:
    """A tiny model's pretraining config; ``train`` overrides TrainConfig fields."""
    return PretrainConfig(
        model=Wav2Vec2Size(
            hidden_size=32,
            num_layers=2,
            num_heads=2,
            intermediate_size=64,
            conv_channels=16,
            num_codevectors_per_group=32,
            codevector_dim=32,
            dropout=0.0,
        ),
        mask_time_prob=0.3,
        mask_time_length=3,
        num_negatives=10,
        diversity_loss_weight=diversity_loss_weight,
        gumbel=GumbelSchedule(start=2.0, end=0.5, decay=0.98),
        collapse_patience=5,
        train=TrainConfig(
            **{
                "max_steps": max_steps,
                "lr": 3e-3,
                "warmup_steps": 5,
                "max_batch_size": 8,
                "log_every": 1,
                "valid_every": max_steps,
                **train,
            }
        ),
    )
