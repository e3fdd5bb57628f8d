"""The shared multilingual tokenizers: char and sentencepiece (unigram, bpe)."""

from __future__ import annotations

import json

import pytest

from speechml.data.datadir import DataDir
from speechml.data.tokenizer import (
    CharTokenizer,
    load_tokenizer,
    normalize_text,
    texts_from_data_dirs,
    train_tokenizer,
)
from speechml.errors import ConfigError, DataError

SENTENCES = {
    "eng": ["the cat sat on the mat", "a dog ran home", "hello world"],
    "rus": ["привет мир", "кошка сидит на окне", "собака бежит домой"],
    "hin": ["नमस्ते दुनिया", "बिल्ली चटाई पर बैठी", "कुत्ता घर भागा"],
    "kat": ["გამარჯობა მსოფლიო", "კატა ზის ხალიჩაზე", "ძაღლი სახლში გაიქცა"],
    "ara": ["مرحبا بالعالم", "القطة تجلس على الحصيرة", "الكلب ركض إلى البيت"],
}
ALL = [s for sentences in SENTENCES.values() for s in sentences]
KIND_SIZES = [("char", None), ("unigram", 100), ("bpe", 120)]


@pytest.fixture(scope="module", params=KIND_SIZES, ids=[k for k, _ in KIND_SIZES])
def trained(request, tmp_path_factory):
    kind, size = request.param
    out = tmp_path_factory.mktemp(kind)
    return train_tokenizer(ALL * 5, kind, size, out), out


@pytest.mark.parametrize("lang", sorted(SENTENCES))
def test_round_trip_in_every_script(trained, lang):
    tokenizer, _ = trained
    for sentence in SENTENCES[lang]:
        ids = tokenizer.encode(sentence)
        assert ids and tokenizer.blank_id not in ids
        assert tokenizer.unk_id not in ids
        assert tokenizer.decode(ids) == sentence
    assert not tokenizer.unknown


def test_blank_is_id_zero_and_decode_skips_it(trained):
    tokenizer, _ = trained
    assert tokenizer.blank_id == 0 and tokenizer.tokens[0] == "<blank>"
    assert tokenizer.tokens[tokenizer.unk_id] == "<unk>"
    ids = tokenizer.encode("hello world")
    assert tokenizer.decode([0, *ids[:1], 0, *ids[1:], 0]) == "hello world"


def test_save_load_round_trip(trained):
    tokenizer, out = trained
    loaded = load_tokenizer(out)
    assert type(loaded) is type(tokenizer)
    assert loaded.tokens == tokenizer.tokens and loaded.vocab_size == len(tokenizer.tokens)
    for sentence in ALL:
        assert loaded.encode(sentence) == tokenizer.encode(sentence)
    record = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    assert record["vocab_size"] == tokenizer.vocab_size


def test_unknown_characters_become_unk_and_are_counted(trained, tmp_path):
    tokenizer, out = trained
    fresh = load_tokenizer(out)
    ids = fresh.encode("hello 世界 world 世")
    assert fresh.unk_id in ids
    assert sum(fresh.unknown.values()) >= 2
    assert set("".join(fresh.unknown)) == {"世", "界"}
    assert "⁇" in fresh.decode(ids)
    assert fresh.decode(ids).startswith("hello") and fresh.decode(ids).count("world") == 1


def test_text_is_normalised_the_same_way():
    assert normalize_text("  a \t b\n") == "a b"
    assert normalize_text("e\u0301") == "\u00e9"  # NFC


def test_char_tokenizer_spaces_are_visible_symbols():
    tokenizer = CharTokenizer(["▁", "a", "b"])
    assert tokenizer.encode("a  b") == [3, 2, 4]
    assert tokenizer.decode([3, 2, 4]) == "a b"


def test_char_vocab_size_keeps_the_most_frequent(tmp_path, caplog):
    tokenizer = train_tokenizer(["aaab", "aac"], "char", 4, tmp_path)
    assert tokenizer.tokens == ["<blank>", "<unk>", "a", "b"]
    assert "dropped" in caplog.text


def test_training_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="vocabulary size"):
        train_tokenizer(ALL, "bpe", None, tmp_path)
    with pytest.raises(ConfigError, match="smaller than required_chars"):
        train_tokenizer(ALL, "unigram", 10, tmp_path)
    with pytest.raises(ConfigError, match="unknown tokenizer kind"):
        train_tokenizer(ALL, "word", 10, tmp_path)
    with pytest.raises(ConfigError, match="no training text"):
        train_tokenizer(["", "  "], "char", None, tmp_path)


def test_load_reports_missing_and_malformed_files(tmp_path):
    with pytest.raises(DataError, match="tokenizer file not found"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text(
        '{"kind": "sentencepiece", "model_type": "bpe", "model_file": "tokenizer.model"}'
    )
    with pytest.raises(DataError, match="tokenizer.model: sentencepiece model file not found"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text('{"kind": "wordpiece"}')
    with pytest.raises(ConfigError, match="unknown tokenizer kind 'wordpiece'"):
        load_tokenizer(tmp_path)


def _data(path, texts: dict[str, str], langs: dict[str, str] | None = None) -> DataDir:
    data = DataDir(
        wav_scp={u: f"/{u}.wav" for u in texts},
        text=dict(texts),
        utt2spk={u: "s" for u in texts},
        utt2lang=dict(langs or {}),
    )
    data.write(path)
    return DataDir.read(path)


def test_texts_from_data_dirs_balances_languages(tmp_path):
    big = _data(
        tmp_path / "big",
        {f"e{i}": f"word{i}" for i in range(6)},
        {f"e{i}": "eng" for i in range(6)},
    )
    small = _data(tmp_path / "small", {"k1": "ქართული"}, {"k1": "kat"})
    assert sorted(texts_from_data_dirs([big, small])) == sorted(
        [f"word{i}" for i in range(6)] + ["ქართული"]
    )
    balanced = texts_from_data_dirs([big, small], balance_languages=True)
    assert balanced.count("ქართული") == 6 and len(balanced) == 12


def test_texts_from_data_dirs_needs_text_and_languages(tmp_path):
    no_lang = _data(tmp_path / "a", {"u1": "x"})
    with pytest.raises(DataError, match="utt2lang: utterance u1: no language"):
        texts_from_data_dirs([no_lang], balance_languages=True)
    no_text = DataDir(wav_scp={"u1": "/u1.wav"}, utt2spk={"u1": "s"})
    no_text.write(tmp_path / "b")
    with pytest.raises(DataError, match="no transcripts"):
        texts_from_data_dirs([DataDir.read(tmp_path / "b")])
