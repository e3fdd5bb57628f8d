"""Trivial baselines: most frequent transcript / majority label, overall and per language."""

from __future__ import annotations

import logging

import pytest

from speechml.baseline import (
    fit_majority,
    label_baseline,
    most_frequent,
    transcript_baseline,
)
from speechml.data.datadir import DataDir
from speechml.errors import DataError


def data(
    text: dict[str, str] | None = None,
    lang: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    utts: list[str] | None = None,
) -> DataDir:
    keys = utts or list(text or labels or {})
    return DataDir(
        utt2spk={u: u for u in keys},
        text=text or {},
        utt2lang=lang or {},
        utt2label=labels or {},
    )


def test_most_frequent_breaks_ties_by_byte_order() -> None:
    assert most_frequent(["b", "a", "b"]) == "b"
    assert most_frequent(["b", "a", "c", "b", "a"]) == "a"
    assert most_frequent(["z", "Z"]) == "Z"  # byte order, whatever the input order
    assert most_frequent(["Z", "z"]) == "Z"
    with pytest.raises(ValueError):
        most_frequent([])


def test_transcript_baseline_is_per_language() -> None:
    train = data(
        text={"e1": "yes", "e2": "yes", "e3": "no", "k1": "დიახ", "k2": "არა", "k3": "არა"},
        lang={"e1": "eng", "e2": "eng", "e3": "eng", "k1": "kat", "k2": "kat", "k3": "kat"},
    )
    test = data(utts=["t1", "t2"], lang={"t1": "kat", "t2": "eng"})
    baseline = transcript_baseline(train)
    assert baseline.predict(test) == {"t1": "არა", "t2": "yes"}
    assert baseline.overall == "yes"  # 2 "yes" and 2 "არა": the first in byte order
    assert "per language" in baseline.describe("training transcript")
    assert "not a model" in baseline.describe("training transcript")


def test_unseen_language_gets_the_global_choice_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    train = data(text={"a": "x", "b": "x", "c": "y"}, lang={"a": "eng", "b": "eng", "c": "kat"})
    test = data(utts=["t1", "t2"], lang={"t1": "fra", "t2": "kat"})
    with caplog.at_level(logging.WARNING):
        assert transcript_baseline(train).predict(test) == {"t1": "x", "t2": "y"}
    assert "language fra" in caplog.text


def test_without_languages_the_choice_is_global() -> None:
    train = data(text={"a": "b c", "b": "a", "c": "b c"})
    baseline = transcript_baseline(train)
    assert baseline.per_language == {}
    assert baseline.predict(data(utts=["t1", "t2"])) == {"t1": "b c", "t2": "b c"}
    assert "over all languages" in baseline.describe("training transcript")


def test_label_baseline_global_or_per_language() -> None:
    train = data(
        labels={"a": "greet", "b": "greet", "c": "bye", "d": "bye", "e": "bye"},
        lang={"a": "kat", "b": "kat", "c": "eng", "d": "eng", "e": "eng"},
    )
    test = data(utts=["t1", "t2"], lang={"t1": "kat", "t2": "eng"})
    assert label_baseline(train).predict(test) == {"t1": "bye", "t2": "bye"}
    per_language = label_baseline(train, per_language=True)
    assert per_language.predict(test) == {"t1": "greet", "t2": "bye"}


def test_fit_is_deterministic_whatever_the_order() -> None:
    values = {f"u{i}": label for i, label in enumerate(["b", "a", "c", "a", "b", "c"])}
    reversed_values = dict(reversed(list(values.items())))
    assert fit_majority(values).overall == fit_majority(reversed_values).overall == "a"


def test_missing_tables_are_errors() -> None:
    with pytest.raises(DataError, match="no transcripts"):
        transcript_baseline(data(labels={"a": "x"}))
    with pytest.raises(DataError, match="no labels"):
        label_baseline(data(text={"a": "x"}))
    with pytest.raises(DataError, match="no utt2lang"):
        label_baseline(data(labels={"a": "x"}), per_language=True)
