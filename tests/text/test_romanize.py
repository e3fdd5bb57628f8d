"""Romanization with uroman: outputs per script and language, failures, cache, data dirs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from speechml.data.datadir import DataDir
from speechml.errors import DataError
from speechml.text.romanize import (
    RomanizationError,
    Romanizer,
    romanize_data_dir,
    shared_uroman,
)

#: A Chinese phrase ("a one-point difference") on which uroman 1.3.1 raises AttributeError.
CRASHING_HAN = "一分之差"


@pytest.fixture(scope="module")
def romanizer() -> Romanizer:
    """A Romanizer whose uroman is loaded (once for the whole test process)."""
    shared_uroman()
    return Romanizer()


@pytest.fixture
def uroman_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """The ``(text, lcode)`` of every call to the shared uroman during the test."""
    calls: list[tuple[str, str | None]] = []
    instance = shared_uroman()
    original = instance.romanize_string

    def counting(text: str, lcode: str | None = None) -> str:
        calls.append((text, lcode))
        return original(text, lcode=lcode)

    monkeypatch.setattr(instance, "romanize_string", counting)
    return calls


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Москва", "rus", "moskva"),
        ("Ελλάδα", "ell", "ellada"),
        ("საქართველო", "kat", "sakhartvelo"),
        ("भारत", "hin", "bhaarat"),
        ("کتاب", "ara", "ktab"),
        ("বাংলা", "ben", "baanglaa"),
    ],
)
def test_known_words_of_each_script(romanizer, text, lang, expected):
    assert romanizer.romanize(text, lang) == expected


def test_sentences_in_other_scripts_come_out_latin(romanizer):
    sentences = ["Привет, мир", "Καλημέρα κόσμε", "გამარჯობა მსოფლიო", "नमस्ते दुनिया"]
    for romanized in romanizer.romanize_many(sentences + ["مرحبا بالعالم"]):
        assert romanized.isascii() and any(c.isalpha() for c in romanized), romanized


def test_language_code_changes_the_output(romanizer):
    assert romanizer.romanize("гора", "ukr") == "hora"
    assert romanizer.romanize("гора", "rus") == "gora"
    assert romanizer.romanize_many(["خوب", "خوب"], ["fas", "ara"]) == ["khvb", "khwb"]


def test_case_and_whitespace(romanizer):
    assert romanizer.romanize("Київ", "ukr", lowercase=False) == "Kyiv"
    assert romanizer.romanize("Київ", "ukr") == "kyiv"
    assert romanizer.romanize("  Привет \t\n  мир ") == "privet mir"


def test_unknown_language_code_is_an_error_naming_the_utterance(romanizer):
    with pytest.raises(DataError, match=r"utterance u1: .*'ka' \(did you mean 'kat'\?\)"):
        romanizer.romanize("გამარჯობა", "ka", utt="u1")
    with pytest.raises(DataError, match=r"^text: utterance b: unknown ISO 639-3 .* 'xx'"):
        romanizer.romanize_many(
            ["a", "b", "c"], ["eng", "xx", "xx"], utts=["a", "b", "c"], path="text"
        )


def test_uroman_crash_names_the_utterance(romanizer):
    with pytest.raises(RomanizationError, match="AttributeError") as caught:
        romanizer.romanize(CRASHING_HAN, "zho", utt="u7")
    assert isinstance(caught.value, DataError)
    assert caught.value.utt == "u7"
    assert str(caught.value).startswith(f"utterance u7: uroman failed on '{CRASHING_HAN}'")


def test_batch_reports_every_failure_after_romanizing_the_rest(uroman_calls):
    romanizer = Romanizer()
    texts = [CRASHING_HAN, "Привет", "三分之", CRASHING_HAN, "Київ"]
    langs = ["zho", "rus", None, "zho", "ukr"]
    with pytest.raises(RomanizationError) as caught:
        romanizer.romanize_many(texts, langs, utts=["a", "b", "c", "d", "e"], path="text")
    message = str(caught.value)
    assert message.startswith("text: uroman failed on 3 utterance(s): a, c, d (first errors: a: ")
    assert "c: '三分之': AttributeError" in message
    assert len(uroman_calls) == 4  # each distinct (text, language) once
    assert romanizer.romanize_many(["Привет", "Київ"], ["rus", "ukr"]) == ["privet", "kyiv"]
    assert len(uroman_calls) == 4  # the others were romanized (and cached) despite the failures


def test_cache_calls_uroman_once_per_text_and_language(uroman_calls):
    romanizer = Romanizer()
    assert romanizer.romanize("Москва", "rus") == "moskva"
    assert romanizer.romanize("Москва", "rus", lowercase=False) == "Moskva"
    assert (
        romanizer.romanize_many(["Москва"] * 3 + ["Москва"], ["rus"] * 3 + ["ukr"])
        == ["moskva"] * 4
    )
    assert uroman_calls == [("Москва", "rus"), ("Москва", "ukr")]


def test_batch_arguments_must_have_the_same_length(romanizer):
    with pytest.raises(ValueError, match="2 texts, 1 languages"):
        romanizer.romanize_many(["a", "b"], ["eng"])


@pytest.fixture
def write_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write a data dir of four utterances in four languages under ``tmp_path``."""

    def write(name: str = "src", **changes: dict[str, str]) -> Path:
        utts = ["u1", "u2", "u3", "u10"]
        data = DataDir(
            wav_scp={utt: f"/audio/{utt}.wav" for utt in utts},
            text={"u1": "Привет  мир", "u2": "гора", "u3": "საქართველო", "u10": "Hello World"},
            utt2spk={utt: f"s{utt[1:]}" for utt in utts},
            utt2lang={"u1": "rus", "u2": "ukr", "u3": "kat", "u10": "eng"},
            utt2dur={utt: 1.5 for utt in utts},
            utt2label={utt: "greet" for utt in utts},
        )
        for table, value in changes.items():
            setattr(data, table, value)
        data.write(tmp_path / name)
        return tmp_path / name

    return write


def test_data_dir_text_romanized_per_language_other_files_unchanged(write_dir, tmp_path):
    src = write_dir()
    before = {path.name: path.read_bytes() for path in src.iterdir()}
    out = tmp_path / "out"
    returned = romanize_data_dir(src, out)
    assert (out / "text").read_text(encoding="utf-8") == (
        "u1 privet mir\nu10 hello world\nu2 hora\nu3 sakhartvelo\n"
    )
    assert sorted(path.name for path in out.iterdir()) == sorted(before)
    for name, content in before.items():
        if name != "text":
            assert (out / name).read_bytes() == content, name
    assert {path.name: path.read_bytes() for path in src.iterdir()} == before
    assert returned.path == out and returned.text["u2"] == "hora"
    assert romanize_data_dir(DataDir.read(src), out, lowercase=False).text["u10"] == "Hello World"


def test_data_dir_without_utt2lang_romanizes_without_language(write_dir, tmp_path):
    src = write_dir(utt2lang={})
    assert romanize_data_dir(src, tmp_path / "out").text["u2"] == "gora"
    assert not (tmp_path / "out" / "utt2lang").exists()


def test_data_dir_utterance_without_language_is_an_error(write_dir, tmp_path):
    src = write_dir(utt2lang={"u1": "rus", "u2": "ukr"})
    with pytest.raises(DataError, match=r"utt2lang: 2 utterance\(s\) of text have no .*: u10, u3"):
        romanize_data_dir(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_data_dir_unknown_language_code_names_file_and_utterance(write_dir, tmp_path):
    src = write_dir(utt2lang={"u1": "rus", "u2": "uk", "u3": "kat", "u10": "eng"})
    match = r"utt2lang: utterance u2: unknown ISO 639-3 language code 'uk' \(did you mean 'ukr'"
    with pytest.raises(DataError, match=match):
        romanize_data_dir(src, tmp_path / "out")


def test_data_dir_failures_listed_and_nothing_written(write_dir, tmp_path):
    texts = {"u1": CRASHING_HAN, "u2": "гора", "u3": CRASHING_HAN, "u10": "Hello"}
    src = write_dir(text=texts, utt2lang={utt: "zho" for utt in texts})
    with pytest.raises(
        RomanizationError, match=r"src/text: uroman failed on 2 utterance\(s\): u1, u3"
    ):
        romanize_data_dir(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
