"""Speakers of the corpus: an espeak-ng voice variant at one speed and one pitch.

Speakers are split by variant: the variants of dev and of test are never heard in training
(nor in each other), so dev and test measure generalisation to unseen voices. A dev or test
speaker is a variant at one speed and one pitch of a small grid (``eval_speakers``); each
training variant gives ``train_speakers.per_variant`` speakers, each at its own speed and pitch
drawn from ranges, seeded by the config's seed, the language and the variant (so that adding a
variant or a language changes no other speaker). A speaker id starts with the language code,
and an utterance id starts with its speaker id, as Kaldi's sorting rule requires.

Example:
    >>> speaker = Speaker("kat", "m3", 160, 45)
    >>> speaker.id, speaker.voice("ka")
    ('kat-m3-s160-p45', 'ka+m3')
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass

import numpy as np

from speechml.data.corpus.config import SPLITS, CorpusConfig


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker of one language."""

    lang: str  # ISO 639-3 code
    variant: str  # espeak-ng voice variant, e.g. m3, f2, klatt
    speed: int  # words per minute (espeak-ng -s)
    pitch: int  # 0-99 (espeak-ng -p)

    @property
    def id(self) -> str:
        """``<lang>-<variant>-s<speed>-p<pitch>``, e.g. ``kat-m3-s160-p45``."""
        return f"{self.lang}-{self.variant}-s{self.speed:03d}-p{self.pitch:02d}"

    def voice(self, espeak_voice: str) -> str:
        """The ``espeak-ng -v`` argument: the language's voice plus this variant."""
        return f"{espeak_voice}+{self.variant}"


def train_speakers(config: CorpusConfig, lang: str, variant: str) -> list[Speaker]:
    """The training speakers of one variant: distinct (speed, pitch) pairs drawn uniformly.

    Example:
        >>> [(s.speed, s.pitch) for s in train_speakers(CorpusConfig(), "kat", "m3")]
        [(130, 36), (138, 51), (165, 44)]
    """
    spec = config.train_speakers
    speed_low, speed_high = spec.speed_range
    pitch_low, pitch_high = spec.pitch_range
    pitches = pitch_high - pitch_low + 1
    pairs = (speed_high - speed_low + 1) * pitches
    rng = np.random.default_rng(
        [config.seed, zlib.crc32(lang.encode()), zlib.crc32(variant.encode())]
    )
    chosen = rng.choice(pairs, size=spec.per_variant, replace=False)
    return [
        Speaker(lang, variant, speed_low + int(pair) // pitches, pitch_low + int(pair) % pitches)
        for pair in chosen
    ]


def split_speakers(config: CorpusConfig, lang: str) -> dict[str, list[Speaker]]:
    """The speakers of each split for language ``lang``.

    Returns:
        split -> speakers sorted by id: for train, :func:`train_speakers` of each training
        variant; for dev and test, their variants x ``eval_speakers`` speeds x pitches. Variants
        of different splits never meet (:func:`~speechml.data.corpus.config.check_config`
        checks they are disjoint).
    """
    grid = config.eval_speakers
    out = {}
    for split in SPLITS:
        variants = getattr(config.variants, split)
        if split == "train":
            speakers = [s for v in variants for s in train_speakers(config, lang, v)]
        else:
            combos = itertools.product(variants, grid.speeds, grid.pitches)
            speakers = [Speaker(lang, *combo) for combo in combos]
        out[split] = sorted(speakers, key=lambda s: s.id)
    return out
