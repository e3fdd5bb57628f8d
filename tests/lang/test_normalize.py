"""Whitespace collapsing and the scoring normaliser, shared by data, tokenizers and scoring."""

from __future__ import annotations

import unicodedata

from speechml.lang.normalize import TextNormalizer, collapse_whitespace, lowercase


def test_collapse_whitespace_joins_words_with_one_space() -> None:
    assert collapse_whitespace("  some\ntext\t\u00a0here \r\n") == "some text here"
    assert collapse_whitespace(" \n ") == ""


def test_normalizer_keeps_symbols_and_combining_marks() -> None:
    normalize = TextNormalizer()
    assert normalize("  $5 + <unk>\tयह  ") == "$5 + <unk> यह"


def test_punctuation_of_every_script_becomes_a_space() -> None:
    normalize = TextNormalizer()
    assert normalize("مرحبا،عالم؟") == "مرحبا عالم"
    assert normalize("नमस्ते।दुनिया॥") == "नमस्ते दुनिया"
    assert normalize("Καλημέρα;") == "καλημέρα"  # the Greek question mark


def test_each_step_can_be_turned_off() -> None:
    nfd = unicodedata.normalize("NFD", "Café, crème")
    assert TextNormalizer()(nfd) == "café crème"
    assert TextNormalizer(lowercase=False)(nfd) == "Café crème"
    assert TextNormalizer(remove_punctuation=False)(nfd) == "café, crème"
    assert TextNormalizer(unicode_nfc=False)(nfd) == unicodedata.normalize("NFD", "café crème")


def test_word_internal_apostrophes_and_hyphens_keep_the_word_whole() -> None:
    normalize = TextNormalizer()
    text = "Don't stop: it's rock'n'roll, a well-known COVID-19 song."
    assert normalize(text) == "don't stop it's rock'n'roll a well-known covid-19 song"
    assert len(normalize(text).split()) == len(text.split())  # no word is created
    assert normalize("don’t ‐ well‐known non‑stop") == (
        "don't well-known non-stop"
    )  # one spelling of each apostrophe and hyphen, a free-standing hyphen dropped


def test_words_can_still_be_split_at_apostrophes_and_hyphens() -> None:
    split = TextNormalizer(keep_word_internal=False)
    assert split("Don't stop, well-known!") == "don t stop well known"


def test_quotes_and_dashes_around_words_go() -> None:
    normalize = TextNormalizer()
    assert normalize("'Yes,' she said - 'no'") == "yes she said no"
    assert normalize("students' books -- 'tis --well") == "students books tis well"
    assert normalize("1990–2000, don''t") == "1990 2000 don t"  # en dash, doubled quote
    assert normalize("नमस्ते-दुनिया") == "नमस्ते-दुनिया"  # a hyphen after a combining mark


def test_case_folding_follows_the_language() -> None:
    normalize = TextNormalizer()
    assert normalize("İSTANBUL'DA IŞIK", lang="tur") == "istanbul'da ışık"
    assert normalize("İLHAM ILIQ", lang="aze") == "ilham ılıq"
    nfd = "I\u0307ZMI\u0307R"  # İZMİR decomposed
    assert normalize(nfd, lang="tur") == "izmir"
    assert TextNormalizer(unicode_nfc=False)(nfd, lang="tur") == "izmir"
    assert normalize("ISTANBUL", lang="eng") == normalize("ISTANBUL") == "istanbul"
    assert lowercase("STRASSE Straße ΟΔΟΣ", "deu") == "strasse straße οδος"  # no casefold
    assert normalize("ΟΔΟΣ") == "οδος"  # Greek final sigma
    assert TextNormalizer(lowercase=False)("IŞIK", lang="tur") == "IŞIK"
