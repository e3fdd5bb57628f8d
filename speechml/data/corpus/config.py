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

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from babel import Locale, UnknownLocaleError

from speechml.data.corpus.text_sources import TEXT_CLASSES
from speechml.errors import ConfigError, DataError
from speechml.lang.languages import check_language_code
from speechml.lang.script import is_script_code

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


#: The variants of dev and of test, as in every corpus built so far: dev and test stay comparable.
_DEV_VARIANTS = ["m6", "f4", "klatt4", "quincy"]
_TEST_VARIANTS = ["m7", "f5", "klatt5", "max"]

#: Every other variant of espeak-ng 1.51 (101 variants), except those measured unusable or too
#: near a held-out voice (2 sentences in each of 8 languages a variant):
#: - whisper, whisperf: whispered (frame periodicity 0.21, every other variant 0.37 or more): no
#:   voicing, so the pitch setting does nothing and no dev or test voice sounds like them;
#: - caleb, klatt6: byte-identical audio to klatt;
#: - edward: Klatt engine 5 like test's klatt5 and nearer to it (MFCC distance 12.6) than any
#:   variant trained on before came to a test variant (klatt: 14.6);
#: - "Mr serious": a space in its name, which cannot be part of a speaker id.
#: None failed, switched language or clipped more than dev's klatt4 (0.4% of samples).
_TRAIN_VARIANTS = (
    "adam Alex Alicia Andrea Andy anika anikaRobot Annie announcer antonio AnxiousAndy aunty "
    "belinda benjamin boris croak david Demonic Denis Diogo ed edward2 f1 f2 f3 fast Gene Gene2 "
    "grandma grandpa gustave Henrique Hugo iven iven2 iven3 iven4 Jacky john kaukovalta klatt "
    "klatt2 klatt3 Lee linda m1 m2 m3 m4 m5 m8 marcelo Marco Mario Michael michel miguel Mike "
    "Nguyen norbert pablo paul pedro RicishayMax RicishayMax2 RicishayMax3 rob robert robosoft "
    "robosoft2 robosoft3 robosoft4 robosoft5 robosoft6 robosoft7 robosoft8 sandro shelby steph "
    "steph2 steph3 Storm travis Tweaky UniRobot victor zac"
).split()


def _default_variants() -> SplitVariants:
    return SplitVariants(
        train=list(_TRAIN_VARIANTS), dev=list(_DEV_VARIANTS), test=list(_TEST_VARIANTS)
    )


@dataclass
class TrainSpeakers:
    """Training speakers: each training variant gives ``per_variant`` of them, each at its own
    speed and pitch, integers drawn uniformly from the ranges (the same for the same seed)."""

    per_variant: int = 3  # speakers of each training variant in each language
    speed_range: tuple[int, int] = (130, 210)  # words/min, min..max inclusive (espeak-ng -s)
    pitch_range: tuple[int, int] = (20, 80)  # 0-99, min..max inclusive (espeak-ng -p)


@dataclass
class EvalSpeakers:
    """dev and test speakers: every variant of the split at every speed and every pitch."""

    speeds: list[int] = field(default_factory=lambda: [140, 165, 190])  # words/min (-s)
    pitches: list[int] = field(default_factory=lambda: [35, 50, 65])  # 0-99 (espeak-ng -p)


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
    train_speakers: TrainSpeakers = field(default_factory=TrainSpeakers)  # drawn speed, pitch
    eval_speakers: EvalSpeakers = field(default_factory=EvalSpeakers)  # dev/test: a grid
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
    _check_speakers(config.train_speakers, config.eval_speakers, fail)
    if config.sample_rate <= 0:
        fail("sample_rate: must be positive")
    if config.noise_floor_db is not None and not -150 <= config.noise_floor_db < 0:
        fail(f"noise_floor_db: expected dBFS in -150..0 or null, got {config.noise_floor_db}")


def _check_speakers(
    train: TrainSpeakers, held_out: EvalSpeakers, fail: Callable[[str], None]
) -> None:
    """Speeds in 80..450 words/min, pitches in 0..99, ranges min <= max, enough combinations."""
    ranges = {
        "speed_range": (train.speed_range, 80, 450),
        "pitch_range": (train.pitch_range, 0, 99),
    }
    for name, ((low, high), lowest, highest) in ranges.items():
        if not lowest <= low <= high <= highest:
            fail(
                f"train_speakers.{name}: expected {lowest} <= min <= max <= {highest}, "
                f"got {[low, high]}"
            )
    combinations = math.prod(high - low + 1 for (low, high), _, _ in ranges.values())
    if not 1 <= train.per_variant <= combinations:
        fail(
            f"train_speakers.per_variant: expected 1..{combinations} (distinct speed and pitch "
            f"pairs in the ranges), got {train.per_variant}"
        )
    if not held_out.speeds or not all(80 <= s <= 450 for s in held_out.speeds):
        fail(f"eval_speakers.speeds: expected words per minute in 80..450, got {held_out.speeds}")
    if not held_out.pitches or not all(0 <= p <= 99 for p in held_out.pitches):
        fail(f"eval_speakers.pitches: expected values in 0..99, got {held_out.pitches}")
