"""Texts of the embedded corpus: babel classes, script filtering, transcripts, determinism."""

import unicodedata

import pytest
from babel import Locale

from speechml.config import load_config
from speechml.data.corpus.config import DEFAULT_CONFIG, CorpusConfig, LanguageSpec
from speechml.data.corpus.text_sources import (
    TEXT_CLASSES,
    class_items,
    is_usable,
    usable_items,
    utterance_text,
)
from speechml.errors import ConfigError

DEFAULT = load_config(CorpusConfig, DEFAULT_CONFIG)


@pytest.fixture(scope="module")
def default_items():
    return {
        lang.code: class_items(lang, DEFAULT.classes, DEFAULT.min_items_per_class)
        for lang in DEFAULT.languages
    }


def test_every_default_language_has_every_class_with_enough_items(default_items):
    for code, items in default_items.items():
        assert list(items) == DEFAULT.classes, code  # the same label set everywhere
        assert len(items["month"]) == 12 and len(items["weekday"]) == 7, code
        for name in ("country", "language", "currency", "city"):
            assert len(items[name]) >= 150, (code, name)


def test_items_are_native_names(default_items):
    assert "Januar" in default_items["deu"]["month"]
    assert "январь" in default_items["rus"]["month"]  # nominative, not the genitive "января"
    assert "Ιανουάριος" in default_items["ell"]["month"]
    assert "საქართველო" in default_items["kat"]["country"]
    assert "जर्मनी" in default_items["hin"]["country"]


def test_amharic_a_tail_language_outside_the_default_has_every_class_in_ethiopic():
    items = class_items(LanguageSpec("amh", "am", "am", "Ethi"), DEFAULT.classes, 7)
    assert len(items["month"]) == 12 and len(items["weekday"]) == 7
    assert all(len(items[name]) >= 150 for name in ("country", "language", "currency", "city"))
    spoken, transcript = utterance_text(["ረቡዕ", "ዓርብ", "ማክሰኞ"], Locale.parse("am"))
    assert spoken == "ረቡዕ፣ ዓርብ እና ማክሰኞ" and transcript == "ረቡዕ ዓርብ እና ማክሰኞ"  # no Ethiopic comma


def test_items_are_deterministic_sorted_and_distinct(default_items):
    lang = DEFAULT.languages[-1]
    again = class_items(lang, DEFAULT.classes, DEFAULT.min_items_per_class)
    assert again == default_items[lang.code]
    for values in again.values():
        assert values == sorted(set(values))


@pytest.mark.parametrize(
    ("item", "script", "usable"),
    [
        ("Guinea-Bissau", "Latn", True),
        ("Côte d’Ivoire", "Latn", False),  # apostrophe: espeak and transcript would disagree
        ("Bosnia & Herzegovina", "Latn", False),
        ("Congo (DRC)", "Latn", False),
        ("US Dollar", "Latn", False),  # acronym, spelled out by espeak-ng
        ("St. Lucia", "Latn", False),
        ("Old English (ca.450-1100)", "Latn", False),
        ("Moskau", "Cyrl", False),  # foreign script
        ("Москва 2", "Cyrl", False),  # digit
        ("دولار ٢", "Arab", False),  # a digit of the language's own script
        ("الدولار الأمريكي", "Arab", True),
        ("नमस्ते", "Deva", True),
        ("अमेरिकी डॉलर", "Deva", True),
        ("ადის-აბება", "Geor", True),
    ],
)
def test_is_usable(item, script, usable):
    assert is_usable(item, script) is usable


def test_usable_items_are_nfc_and_deduplicated():
    decomposed = unicodedata.normalize("NFD", "México")
    assert usable_items([decomposed, "México", " Perú "], "Latn") == ["México", "Perú"]


def test_utterance_text_uses_the_locale_list_pattern_and_normalises():
    spoken, transcript = utterance_text(["Januar", "März", "Mai"], Locale.parse("de"))
    assert spoken == "Januar, März und Mai"
    assert transcript == "januar märz und mai"
    spoken, transcript = utterance_text(["იანვარი", "მარტი"], Locale.parse("ka"))
    assert transcript == "იანვარი და მარტი"  # Georgian has no case


def test_transcript_keeps_greek_final_sigma_and_combining_marks():
    _, transcript = utterance_text(["ΗΝΩΜΕΝΟ ΒΑΣΙΛΕΙΟΣ", "ΚΥΠΡΟΣ"], Locale.parse("el"))
    assert transcript == "ηνωμενο βασιλειος και κυπρος"
    _, transcript = utterance_text(["كَتَبَ", "قَرَأَ"], Locale.parse("ar"))
    assert transcript == "كَتَبَ وقَرَأَ" and "،" not in transcript
    _, transcript = utterance_text(["हिंदी", "उर्दू", "तमिल"], Locale.parse("hi"))
    assert transcript == "हिंदी उर्दू और तमिल"  # the comma goes, the marks stay
    assert unicodedata.is_normalized("NFC", transcript)


def test_a_class_with_too_few_items_names_language_class_and_file():
    korean = LanguageSpec("kor", "ko", "ko", "Hang")  # CLDR months are "1월"...: digits
    with pytest.raises(ConfigError, match=r"conf/c\.yaml: language kor .*class 'month' has 0"):
        class_items(korean, ["month"], 7, "conf/c.yaml")


def test_an_unknown_locale_is_an_error_naming_the_language():
    with pytest.raises(ConfigError, match="language xxx: babel has no locale 'zz'"):
        class_items(LanguageSpec("xxx", "en", "zz", "Latn"), ["month"], 7)


def test_registered_classes():
    assert set(DEFAULT.classes) <= set(TEXT_CLASSES)
