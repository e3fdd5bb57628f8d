"""The configuration of the embedded corpus: :class:`CorpusConfig`, loaded from YAML.

The defaults are those of ``default.yaml`` beside this module (a test keeps them equal). Adding
a language is one line in ``languages``; :func:`check_config` refuses what cannot work (unknown
locale, script, class or language code, variants shared between splits...) with a message naming
the language and the config file. Whether espeak-ng has the voices is checked at build time
(:func:`speechml.data.corpus.synth.check_voices`).

Example:
    >>> from speechml.config import load_config
    >>> config = load_config(CorpusConfig, DEFAULT_CONFIG, ["utts_per_lang.train=10"])
    >>> config.utts_per_lang.train, [lang.code for lang in config.languages][:3]
    (10, ['eng', 'deu', 'spa'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from babel import Locale, UnknownLocaleError

from speechml.data.corpus.text_sources import TEXT_CLASSES
from speechml.data.languages import check_language_code
from speechml.errors import ConfigError, DataError
from speechml.text.script import is_script_code

#: The shipped default config; ``speechml corpus build --config`` defaults to it.
DEFAULT_CONFIG = Path(__file__).with_name("default.yaml")

#: The splits of the corpus, in order.
SPLITS = ("train", "dev", "test")


@dataclass
class LanguageSpec:
    """One language of the corpus: ``{code: kat, espeak: ka, locale: ka, script: Geor}``."""

    code: str  # ISO 639-3 code: utterance/speaker id prefix and utt2lang value
    espeak: str  # espeak-ng voice (``espeak-ng -v``), e.g. ka
    locale: str  # babel/CLDR locale the texts come from, e.g. ka
    script: str  # ISO 15924 script every item and transcript must be written in, e.g. Geor


@dataclass
class SplitSizes:
    """A number for each split."""

    train: int  # utterances in train
    dev: int  # utterances in dev
    test: int  # utterances in test


@dataclass
class SplitVariants:
    """espeak-ng voice variants (``espeak-ng --voices=variant``, File column) of each split."""

    train: list[str]  # variants heard in training
    dev: list[str]  # variants of dev only
    test: list[str]  # variants of test only


def _default_languages() -> list[LanguageSpec]:
    return [
        LanguageSpec("eng", "en", "en", "Latn"),
        LanguageSpec("deu", "de", "de", "Latn"),
        LanguageSpec("spa", "es", "es", "Latn"),
        LanguageSpec("rus", "ru", "ru", "Cyrl"),
        LanguageSpec("ell", "el", "el", "Grek"),
        LanguageSpec("hin", "hi", "hi", "Deva"),
        LanguageSpec("ara", "ar", "ar", "Arab"),
        LanguageSpec("kat", "ka", "ka", "Geor"),
    ]


def _default_variants() -> SplitVariants:
    return SplitVariants(
        train=["m1", "m2", "m3", "m4", "m5", "f1", "f2", "f3", "klatt", "klatt2", "klatt3"]
        + ["Andy", "Annie", "adam", "belinda", "david", "linda", "michel", "steph"],
        dev=["m6", "f4", "klatt4", "quincy"],
        test=["m7", "f5", "klatt5", "max"],
    )


@dataclass
class CorpusConfig:
    """Everything that decides the corpus; the same config and seed give the same corpus."""

    seed: int = 0  # seed of every random choice (texts, items, speakers)
    languages: list[LanguageSpec] = field(default_factory=_default_languages)  # one line each
    classes: list[str] = field(  # semantic classes (utt2label), see text_sources.TEXT_CLASSES
        default_factory=lambda: ["month", "weekday", "country", "language", "currency", "city"]
    )
    min_items_per_class: int = 7  # a class with fewer usable items in a language is an error
    items_per_utt: tuple[int, int] = (1, 3)  # an utterance names min..max items of one class
    utts_per_lang: SplitSizes = field(  # utterances per language and split
        default_factory=lambda: SplitSizes(train=1200, dev=150, test=150)
    )
    variants: SplitVariants = field(default_factory=_default_variants)  # disjoint per split
    speeds: list[int] = field(default_factory=lambda: [140, 165, 190])  # words/min (espeak -s)
    pitches: list[int] = field(default_factory=lambda: [35, 50, 65])  # 0-99 (espeak -p)
    sample_rate: int = 16000  # Hz of the written WAVs (espeak-ng's 22050 Hz resampled by soxr)
    noise_floor_db: float | None = -90.0  # dBFS of the Gaussian noise added to every WAV, as in a
    # real recording (espeak-ng's silence is digital zero, whose log-mel energies of -15.9 would
    # dominate the feature statistics); None: no noise


def check_config(config: CorpusConfig, source: str | Path = "") -> None:
    """Refuse a config that cannot give a valid corpus; messages name ``source`` (the file).

    Raises:
        ConfigError: duplicated or unknown language codes, a locale babel lacks, an unknown
            script code, an unknown class, variants shared between splits or not usable in a
            speaker id, bad sizes, speeds or pitches.
    """
    where = f"{source}: " if source else ""

    def fail(message: str) -> None:
        raise ConfigError(where + message)

    if not config.languages:
        fail("languages: the list is empty")
    codes = [lang.code for lang in config.languages]
    for lang in config.languages:
        if codes.count(lang.code) > 1:
            fail(f"language {lang.code}: listed twice")
        try:
            check_language_code(lang.code)
        except DataError as err:
            fail(f"language {lang.code}: {err}")
        try:
            Locale.parse(lang.locale)
        except (UnknownLocaleError, ValueError):
            fail(f"language {lang.code}: babel has no locale {lang.locale!r}")
        if not is_script_code(lang.script):
            fail(f"language {lang.code}: unknown ISO 15924 script {lang.script!r} (e.g. Latn)")
    for name in config.classes:
        if name not in TEXT_CLASSES:
            fail(f"classes: unknown class {name!r} (known: {', '.join(sorted(TEXT_CLASSES))})")
    if not config.classes or len(set(config.classes)) != len(config.classes):
        fail("classes: give at least one class, each once")
    low, high = config.items_per_utt
    if not 1 <= low <= high:
        fail(f"items_per_utt: expected 1 <= min <= max, got {list(config.items_per_utt)}")
    if config.min_items_per_class < high:
        fail(f"min_items_per_class ({config.min_items_per_class}) is below items_per_utt max")
    seen: dict[str, str] = {}
    for split in SPLITS:
        if getattr(config.utts_per_lang, split) < 0:
            fail(f"utts_per_lang.{split}: must not be negative")
        variants = getattr(config.variants, split)
        if not variants:
            fail(f"variants.{split}: give at least one variant")
        for variant in variants:
            if not variant.replace("_", "").isalnum() or not variant.isascii():
                fail(f"variants.{split}: {variant!r} cannot be part of a speaker id")
            if variant in seen:
                fail(f"variants: {variant!r} is in both {seen[variant]} and {split}")
            seen[variant] = split
    if not config.speeds or not all(80 <= s <= 450 for s in config.speeds):
        fail(f"speeds: expected words per minute in 80..450, got {config.speeds}")
    if not config.pitches or not all(0 <= p <= 99 for p in config.pitches):
        fail(f"pitches: expected values in 0..99, got {config.pitches}")
    if config.sample_rate <= 0:
        fail("sample_rate: must be positive")
    if config.noise_floor_db is not None and not -150 <= config.noise_floor_db < 0:
        fail(f"noise_floor_db: expected dBFS in -150..0 or null, got {config.noise_floor_db}")
