"""What the corpus says: each utterance's id, speaker, class, spoken text and transcript.

Planning needs no espeak-ng. Each (language, split) draws from its own random generator,
seeded by the config's seed, the language code and the split, so that a language's utterances
do not change when another language or split is added or resized. Classes take turns (equal
counts per class); the items and the speaker are drawn at random.

Example:
    >>> from speechml.data.corpus.config import CorpusConfig
    >>> config = CorpusConfig()
    >>> plan = plan_language(config, config.languages[7], "dev")
    >>> plan[0].utt_id.startswith(plan[0].speaker.id + "-"), plan[0].label
    (True, 'month')
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from babel import Locale

from speechml.data.corpus.config import SPLITS, CorpusConfig, LanguageSpec
from speechml.data.corpus.speakers import Speaker, split_speakers
from speechml.data.corpus.text_sources import class_items, utterance_text


@dataclass(frozen=True)
class Utterance:
    """One planned utterance."""

    utt_id: str  # <speaker id>-<index>, e.g. kat-m3-s160-p45-00012
    lang: LanguageSpec  # its language
    split: str  # train, dev or test
    speaker: Speaker  # who says it
    label: str  # its class (utt2label)
    spoken: str  # what espeak-ng reads, e.g. "Januar, März und Mai"
    transcript: str  # the normalised text, e.g. "januar märz und mai"


def plan_language(
    config: CorpusConfig,
    lang: LanguageSpec,
    split: str,
    items: dict[str, list[str]] | None = None,
    source: str | Path = "",
) -> list[Utterance]:
    """The utterances of one language and split, ``config.utts_per_lang.<split>`` of them.

    Args:
        config: the corpus config.
        lang: one of ``config.languages``.
        split: ``train``, ``dev`` or ``test``.
        items: class -> items, from :func:`class_items` (computed when None).
        source: the config file, for error messages.
    """
    if items is None:
        items = class_items(lang, config.classes, config.min_items_per_class, source)
    locale = Locale.parse(lang.locale)
    speakers = split_speakers(config, lang.code)[split]
    count = getattr(config.utts_per_lang, split)
    width = max(5, len(str(count - 1)))
    seed = [config.seed, zlib.crc32(lang.code.encode()), SPLITS.index(split)]
    rng = np.random.default_rng(seed)
    low, high = config.items_per_utt
    out = []
    for index in range(count):
        label = config.classes[index % len(config.classes)]
        pool = items[label]
        chosen = rng.choice(len(pool), size=int(rng.integers(low, high + 1)), replace=False)
        speaker = speakers[int(rng.integers(len(speakers)))]
        spoken, transcript = utterance_text([pool[i] for i in chosen], locale)
        utt_id = f"{speaker.id}-{index:0{width}d}"
        out.append(Utterance(utt_id, lang, split, speaker, label, spoken, transcript))
    return out


@dataclass(frozen=True)
class CorpusPlan:
    """Every utterance of the corpus, and how many usable items each class had."""

    utterances: list[Utterance]  # languages in config order, then train, dev, test
    item_counts: dict[str, dict[str, int]]  # language code -> class -> usable items


def plan_corpus(config: CorpusConfig, source: str | Path = "") -> CorpusPlan:
    """Plan every utterance of the corpus.

    Raises:
        ConfigError: if a language's locale is unknown or a class has too few items
            (naming the language and ``source``).
    """
    utterances = []
    item_counts = {}
    for lang in config.languages:
        items = class_items(lang, config.classes, config.min_items_per_class, source)
        item_counts[lang.code] = {name: len(values) for name, values in items.items()}
        for split in SPLITS:
            utterances.extend(plan_language(config, lang, split, items, source))
    return CorpusPlan(utterances, item_counts)
