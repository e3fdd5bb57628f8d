"""ISO 639-3 checks of utt2lang codes, with hints for ISO 639-1 / 639-2/B / upper-case codes;
the ISO 639-3 code of a language as other corpora write it."""

from __future__ import annotations

import pytest

from speechml.errors import DataError
from speechml.lang.languages import check_language_code, language_code_for, language_name


@pytest.mark.parametrize("code", ["kat", "eng", "yue", "swh"])
def test_iso_639_3_codes_are_accepted(code):
    assert check_language_code(code) == code


@pytest.mark.parametrize(
    ("code", "meant"),
    [("ka", "kat"), ("en", "eng"), ("geo", "kat"), ("ger", "deu"), ("KAT", "kat"), ("Ka", "kat")],
)
def test_other_iso_codes_get_a_hint(code, meant):
    with pytest.raises(DataError, match=f"did you mean '{meant}'"):
        check_language_code(code)


@pytest.mark.parametrize("code", ["qqq", "", "k", "ka-GE", "kat ", "ქართ"])
def test_unknown_codes_are_refused_without_a_wrong_hint(code):
    with pytest.raises(DataError, match="unknown ISO 639-3 language code") as err:
        check_language_code(code)
    assert "did you mean" not in str(err.value)


def test_error_names_file_line_and_utterance():
    with pytest.raises(DataError) as err:
        check_language_code("ka", path="data/train/utt2lang", line=3, utt="u1")
    assert str(err.value) == (
        "data/train/utt2lang:3: utterance u1: unknown ISO 639-3 language code 'ka' "
        "(did you mean 'kat'?)"
    )
    assert (err.value.path, err.value.line, err.value.utt) == ("data/train/utt2lang", 3, "u1")


def test_language_name():
    assert language_name("kat") == "Georgian"
    assert language_name("yue") == "Yue Chinese"
    with pytest.raises(DataError, match="did you mean 'kat'"):
        language_name("ka")


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("kat", "kat"),
        (" eng ", "eng"),
        ("en", "eng"),  # ISO 639-1 first, not the language named "En" (enc)
        ("GEO", "kat"),
        ("en-US", "eng"),
        ("zh_Hant_TW", "zho"),
        ("English", "eng"),
        ("georgian", "kat"),
        ("Swahili", "swa"),  # ISO 639-3 says "Swahili (macrolanguage)"
        ("Cantonese", "yue"),  # CLDR's name
        ("American English", "eng"),
    ],
)
def test_language_code_for_codes_tags_and_names(value, code):
    assert language_code_for(value) == code


@pytest.mark.parametrize("value", ["", "Elvish", "xx", "ქართული", "English (US)"])
def test_language_code_for_what_names_no_language(value):
    assert language_code_for(value) is None
