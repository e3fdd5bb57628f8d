"""Script detection, and the promise that every default corpus language is written in its script."""

from collections import Counter

import pytest

from speechml.config import load_config
from speechml.data.corpus.config import DEFAULT_CONFIG, CorpusConfig
from speechml.data.corpus.plan import plan_language
from speechml.data.corpus.text_sources import class_items
from speechml.lang.script import char_script, dominant_script, is_script_code, scripts_in

DEFAULT = load_config(CorpusConfig, DEFAULT_CONFIG)


@pytest.mark.parametrize(
    ("ch", "script"),
    [("a", "Latn"), ("ж", "Cyrl"), ("ς", "Grek"), ("क", "Deva"), ("ب", "Arab"), ("ა", "Geor")]
    + [("한", "Hang"), ("7", "Zyyy"), (",", "Zyyy"), ("\u0301", "Zinh"), ("\u064e", "Zinh")],
)
def test_char_script_gives_iso_15924_codes(ch, script):
    assert char_script(ch) == script


def test_scripts_in_counts_combining_marks_with_their_letter():
    assert scripts_in("नमस्ते") == Counter({"Deva": 6})  # virama and vowel signs
    assert scripts_in("كَتَبَ") == Counter({"Arab": 6})  # harakat
    assert scripts_in("e\u0301te 12") == Counter({"Latn": 4, "Zyyy": 2})
    assert scripts_in("\u0301") == Counter({"Zinh": 1})  # a mark with no letter before it
    assert scripts_in(" \t\n") == Counter()


def test_dominant_script_ignores_digits_and_punctuation():
    assert dominant_script("2024: თბილისი, Tbilisi!") == "Geor"
    assert dominant_script("Tbilisi თბ") == "Latn"
    assert dominant_script("ab αβ") == "Latn"  # a tie goes to the first script
    assert dominant_script("12, 13") == "Zyyy"
    assert dominant_script("") == "Zzzz"


def test_is_script_code():
    assert is_script_code("Geor") and is_script_code("Latn")
    assert not is_script_code("Xyzw") and not is_script_code("geor")


@pytest.mark.parametrize("lang", DEFAULT.languages, ids=lambda lang: lang.code)
def test_default_corpus_text_is_entirely_in_the_language_script(lang):
    items = class_items(lang, DEFAULT.classes, DEFAULT.min_items_per_class)
    for values in items.values():
        for item in values:
            assert set(scripts_in(item.replace("-", " "))) == {lang.script}, item
    for utt in plan_language(DEFAULT, lang, "dev", items):
        assert set(scripts_in(utt.transcript)) == {lang.script}, utt.transcript
