"""The data of the settings: per-language and pooled dirs, no test language leaks into training."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict

import pytest

from speechml.cls.settings import Setting, plan_settings, write_settings
from speechml.data.datadir import DataDir
from speechml.data.feature_store import DataDirFbank, write_store
from speechml.data.features import FbankConfig
from speechml.errors import ConfigError, DataError

LANGS = ("eng", "rus", "kat")


def make_part(part: str, langs: Sequence[str] = LANGS, per_lang: int = 3) -> DataDir:
    """``per_lang`` utterances of each language, two speakers a language (audio never read)."""
    data = DataDir()
    for lang in langs:
        for i in range(per_lang):
            utt = f"{lang}{i % 2}-{part}{i}"
            data.wav_scp[utt] = f"/unused/{utt}.wav"
            data.utt2spk[utt] = f"{lang}{i % 2}"
            data.text[utt] = f"{lang} text {i}"
            data.utt2lang[utt] = lang
            data.utt2label[utt] = "odd" if i % 2 else "even"
    return data


@pytest.fixture
def parts(tmp_path) -> list[DataDir]:
    """train, dev, test of eng, rus, kat, read from disk (so errors name the dir)."""
    for name in ("train", "dev", "test"):
        make_part(name).write(tmp_path / name)
    return [DataDir.read(tmp_path / name) for name in ("train", "dev", "test")]


def test_plan_lists_the_settings_of_each_language_then_the_pooled_ones(parts):
    settings = plan_settings(*parts, ["eng", "rus", "kat"], ["kat"])
    assert settings == [
        Setting("mono", "train_eng", "dev_eng", ("eng",), ("eng",)),
        Setting("zero_shot", "train_eng", "dev_eng", ("eng",), ("rus", "kat")),
        Setting("mono", "train_rus", "dev_rus", ("rus",), ("rus",)),
        Setting("zero_shot", "train_rus", "dev_rus", ("rus",), ("eng", "kat")),
        Setting("mono", "train_kat", "dev_kat", ("kat",), ("kat",)),
        Setting("zero_shot", "train_kat", "dev_kat", ("kat",), ("eng", "rus")),
        Setting("multi", "train_all", "dev_all", LANGS, LANGS),
        Setting("held_out", "train_heldout", "dev_heldout", ("eng", "rus"), ("kat",)),
    ]
    # Default: every language of the train dir, sorted; no held-out language, no held-out setting.
    default = plan_settings(*parts)
    assert [s.name for s in default][-1] == "multi"
    assert default[-1].train_langs == ("eng", "kat", "rus")


def languages_in(path) -> set[str]:
    return set(DataDir.read(path).utt2lang.values())


def test_written_dirs_hold_their_languages_and_tests_never_leak(parts, tmp_path):
    out = tmp_path / "settings"
    settings = write_settings(*parts, list(LANGS), ["kat"], out)
    for setting in settings:
        for directory in (setting.train, setting.dev):
            assert languages_in(out / directory) == set(setting.train_langs)
        if setting.name in ("zero_shot", "held_out"):
            assert languages_in(out / setting.train).isdisjoint(setting.test_langs)
            assert languages_in(out / setting.dev).isdisjoint(setting.test_langs)
        for lang in setting.test_langs:
            assert languages_in(out / f"test_{lang}") == {lang}
    # Every utterance of a language is kept, with its tables.
    train_kat = DataDir.read(out / "train_kat")
    assert train_kat.utts == ["kat0-train0", "kat0-train2", "kat1-train1"]
    assert train_kat.utt2label == {u: parts[0].utt2label[u] for u in train_kat.utts}
    assert len(DataDir.read(out / "train_all")) == len(parts[0])
    assert DataDir.read(out / "test_eng").text == {
        u: t for u, t in parts[2].text.items() if u.startswith("eng")
    }

    record = json.loads((out / "settings.json").read_text())
    assert record["languages"] == list(LANGS) and record["held_out"] == ["kat"]
    assert record["settings"] == json.loads(json.dumps([asdict(s) for s in settings]))
    assert record["settings"][-1]["test_langs"] == ["kat"]
    assert (out / "trainings.txt").read_text() == (
        "train_eng dev_eng eng rus kat\n"
        "train_rus dev_rus eng rus kat\n"
        "train_kat dev_kat eng rus kat\n"
        "train_all dev_all eng rus kat\n"
        "train_heldout dev_heldout kat\n"
    )


@pytest.mark.parametrize(
    ("langs", "held_out", "error", "message"),
    [
        (
            ["eng", "ka"],
            [],
            DataError,
            "unknown ISO 639-3 language code 'ka' (did you mean 'kat'?)",
        ),
        (["eng", "rus"], ["kat"], ConfigError, "held-out language(s) kat not among the languages"),
        (["eng", "kat"], ["kat", "eng"], ConfigError, "every language is held out"),
        (["eng"], [], ConfigError, "need at least two"),
        (["eng", "eng"], [], ConfigError, "eng listed more than once"),
        (["eng", "all"], [], ConfigError, "would be the multi setting's train_all"),
    ],
)
def test_bad_languages_are_clear_errors(parts, tmp_path, langs, held_out, error, message):
    with pytest.raises(error, match=re.escape(message)):
        write_settings(*parts, langs, held_out, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_language_absent_from_a_data_dir_names_the_dir(tmp_path):
    make_part("dev", langs=("eng", "rus")).write(tmp_path / "dev")
    train, test = make_part("train"), make_part("test")
    with pytest.raises(DataError) as caught:
        plan_settings(train, DataDir.read(tmp_path / "dev"), test, list(LANGS), ["kat"])
    assert str(caught.value) == (
        f"{tmp_path / 'dev'}: no utterance in Georgian (kat); languages present: eng, rus"
    )
    no_languages = make_part("test")
    no_languages.utt2lang = {}
    with pytest.raises(DataError, match="the data dir has no utt2lang"):
        plan_settings(train, train, no_languages)


def test_written_dirs_share_the_stored_features(make_data_dir, tmp_path):
    paths = [make_data_dir(name, num_utts=6, num_speakers=3, languages=LANGS) for name in
             ("train", "dev", "test")]  # fmt: skip
    parts = [DataDir.read(path) for path in paths]
    write_store(parts[0], FbankConfig())
    write_settings(*parts, list(LANGS), ["kat"], tmp_path / "settings")
    train_kat = DataDir.read(tmp_path / "settings" / "train_kat")
    assert DataDirFbank(train_kat, FbankConfig()).stored == len(train_kat) == 2
    assert not (tmp_path / "settings" / "test_kat" / "fbank").exists()  # test has no store
