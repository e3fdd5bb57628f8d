"""Speakers of the corpus: an espeak-ng voice variant at one speed and one pitch.

Speakers are split by variant: the variants of dev and of test are never heard in training
(nor in each other), so dev and test measure generalisation to unseen voices. A speaker id
starts with the language code, and an utterance id starts with its speaker id, as Kaldi's
sorting rule requires.

Example:
    >>> speaker = Speaker("kat", "m3", 160, 45)
    >>> speaker.id, speaker.voice("ka")
    ('kat-m3-s160-p45', 'ka+m3')
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

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


def split_speakers(config: CorpusConfig, lang: str) -> dict[str, list[Speaker]]:
    """The speakers of each split for language ``lang``: its variants x speeds x pitches.

    Returns:
        split -> speakers sorted by id; variants of different splits never meet
        (:func:`~speechml.data.corpus.config.check_config` checks they are disjoint).
    """
    out = {}
    for split in SPLITS:
        variants = getattr(config.variants, split)
        combos = itertools.product(variants, config.speeds, config.pitches)
        out[split] = sorted((Speaker(lang, *combo) for combo in combos), key=lambda s: s.id)
    return out
