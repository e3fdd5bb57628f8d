"""Whitespace collapsing and the scoring normaliser, shared by data, tokenizers and scoring."""

from __future__ import annotations

import unicodedata

from speechml.text.normalize import TextNormalizer, collapse_whitespace


def test_collapse_whitespace_joins_words_with_one_space() -> None:
    assert collapse_whitespace("  some\ntext\t\u00a0here \r\n") == "some text here"
    assert collapse_whitespace(" \n ") == ""


def test_normalizer_keeps_symbols_and_combining_marks() -> None:
    normalize = TextNormalizer()
    assert normalize("  $5 + <unk>\tयह  ") == "$5 + <unk> यह"
    assert normalize("don't-stop") == "don t stop"


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
