"""The embedded corpus: config, speakers, plan, and (with espeak-ng) the build itself."""

import dataclasses
import shutil

import numpy as np
import pytest
import soundfile

from speechml.config import load_config
from speechml.data.corpus import build as build_module
from speechml.data.corpus import synth
from speechml.data.corpus.build import build_corpus
from speechml.data.corpus.config import (
    DEFAULT_CONFIG,
    SPLITS,
    CorpusConfig,
    EvalSpeakers,
    LanguageSpec,
    TrainSpeakers,
    check_config,
)
from speechml.data.corpus.plan import plan_corpus, plan_language
from speechml.data.corpus.speakers import split_speakers
from speechml.data.datadir import DataDir
from speechml.data.validate import validate_data_dir
from speechml.errors import ConfigError, SpeechmlError

espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

TINY = [
    "languages=[{code: kat, espeak: ka, locale: ka, script: Geor},"
    " {code: ell, espeak: el, locale: el, script: Grek}]",
    "utts_per_lang.train=6",
    "utts_per_lang.dev=2",
    "utts_per_lang.test=2",
]


def tiny_config(*overrides: str) -> CorpusConfig:
    return load_config(CorpusConfig, DEFAULT_CONFIG, [*TINY, *overrides])


# --- config -------------------------------------------------------------------------------------


def test_default_yaml_equals_the_dataclass_defaults():
    config = load_config(CorpusConfig, DEFAULT_CONFIG)
    assert config == CorpusConfig()
    check_config(config, DEFAULT_CONFIG)
    scripts = {lang.script for lang in config.languages}
    assert len(config.languages) >= 8 and len(scripts) >= 5


def test_unknown_key_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "corpus.yaml"
    path.write_text("utts_per_lang: {train: 5, dev: 1, tset: 1}\n")
    with pytest.raises(ConfigError, match=r"corpus\.yaml.*unknown key 'tset'"):
        load_config(CorpusConfig, path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"variants": {"train": ["m1"], "dev": ["m1"], "test": ["m7"]}}, "'m1' is in both"),
        ({"variants": {"train": ["Mr serious"], "dev": ["m2"], "test": ["m7"]}}, "speaker id"),
        ({"languages": [LanguageSpec("ka", "ka", "ka", "Geor")]}, "did you mean 'kat'"),
        ({"languages": [LanguageSpec("kat", "ka", "xx", "Geor")]}, "no locale 'xx'"),
        ({"languages": [LanguageSpec("kat", "ka", "ka", "Gorg")]}, "unknown ISO 15924"),
        ({"classes": ["month", "planet"]}, "unknown class 'planet'"),
        ({"items_per_utt": (3, 1)}, "items_per_utt"),
        ({"eval_speakers": EvalSpeakers(pitches=[120])}, "eval_speakers.pitches"),
        ({"eval_speakers": EvalSpeakers(speeds=[])}, "eval_speakers.speeds"),
        ({"train_speakers": TrainSpeakers(speed_range=(210, 130))}, r"speed_range.*\[210, 130\]"),
        ({"train_speakers": TrainSpeakers(pitch_range=(20, 100))}, "pitch_range"),
        ({"train_speakers": TrainSpeakers(per_variant=0)}, "per_variant: expected 1..4941"),
        (
            {"train_speakers": TrainSpeakers(3, speed_range=(150, 150), pitch_range=(40, 41))},
            "per_variant: expected 1..2 ",
        ),
        ({"noise_floor_db": 6.0}, "noise_floor_db"),
    ],
)
def test_check_config_refuses_bad_configs(change, message):
    values = {k: v for k, v in change.items() if k != "variants"}
    config = dataclasses.replace(CorpusConfig(), **values)
    if "variants" in change:
        config.variants = dataclasses.replace(config.variants, **change["variants"])
    with pytest.raises(ConfigError, match=message) as err:
        check_config(config, "conf/corpus.yaml")
    assert str(err.value).startswith("conf/corpus.yaml: ")


# --- speakers and plan --------------------------------------------------------------------------


def test_speaker_splits_have_disjoint_variants():
    speakers = split_speakers(CorpusConfig(), "kat")
    variants = {split: {s.variant for s in speakers[split]} for split in SPLITS}
    assert not variants["train"] & variants["dev"]
    assert not variants["train"] & variants["test"]
    assert not variants["dev"] & variants["test"]
    assert all(s.id.startswith("kat-") for split in SPLITS for s in speakers[split])
    assert len(speakers["test"]) == len(CorpusConfig().variants.test) * 9


def test_plan_ids_labels_and_speakers():
    config = tiny_config()
    plan = plan_corpus(config)
    utts = plan.utterances
    assert len(utts) == 2 * 10
    assert len({u.utt_id for u in utts}) == len(utts)
    speakers = {split: split_speakers(config, "kat")[split] for split in SPLITS}
    for utt in utts:
        assert utt.utt_id.startswith(utt.speaker.id + "-")
        if utt.lang.code == "kat":
            assert utt.speaker in speakers[utt.split]
    labels = {code: {u.label for u in utts if u.lang.code == code} for code in ("kat", "ell")}
    assert labels["kat"] == labels["ell"] == set(config.classes)
    assert set(plan.item_counts["ell"]) == set(config.classes)


def test_plan_is_deterministic_and_independent_of_other_languages():
    config = CorpusConfig()
    kat = config.languages[-1]
    first = plan_language(config, kat, "train")
    assert plan_language(config, kat, "train") == first
    fewer = dataclasses.replace(config, languages=[kat])
    assert plan_language(fewer, kat, "train") == first
    other_seed = dataclasses.replace(config, seed=1)
    assert plan_language(other_seed, kat, "train") != first
    labels = [u.label for u in first]
    assert all(labels.count(c) == len(first) // len(config.classes) for c in config.classes)


# --- building (espeak-ng) -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    build_corpus(tiny_config(), out, nj=2, command="test build")
    return out


def read_corpus(out):
    """{relative path: bytes} of every data-dir file and WAV, with ``out`` written as OUT."""
    files = sorted((out / "data").rglob("*")) + sorted((out / "wav").rglob("*.wav"))
    return {
        str(p.relative_to(out)): p.read_bytes().replace(str(out).encode(), b"OUT")
        for p in files
        if p.is_file()
    }


@pytest.mark.espeak
@espeak
def test_tiny_build_gives_valid_data_dirs_with_16k_mono_audio(tiny_corpus):
    assert (tiny_corpus / ".done").is_file()
    for code in ("kat", "ell"):
        for split, size in (("train", 6), ("dev", 2), ("test", 2)):
            path = tiny_corpus / "data" / code / split
            assert validate_data_dir(path, check_audio=True) == []
            data = DataDir.read(path)
            assert len(data) == size and data.languages() == [code]
            assert (path / "spk2utt").is_file()
            for utt in data.utts:
                wav = data.wav_scp[utt]
                assert wav == str(tiny_corpus / "wav" / code / split / f"{utt}.wav")
                info = soundfile.info(wav)
                assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
                assert info.duration == pytest.approx(data.utt2dur[utt], abs=1e-3)
                assert 0.3 < info.duration < 15
    readme = (tiny_corpus / "README.md").read_text()
    assert "test build" in readme and "espeak-ng 1." in readme and "| kat |" in readme
    assert load_config(CorpusConfig, tiny_corpus / "corpus.yaml") == tiny_config()


@pytest.mark.espeak
@espeak
def test_rerun_with_the_same_config_is_a_no_op(tiny_corpus, monkeypatch, caplog):
    before = read_corpus(tiny_corpus)
    monkeypatch.setattr(build_module, "synthesize_all", pytest.fail)
    caplog.set_level("INFO")
    build_corpus(tiny_config(), tiny_corpus, nj=2)
    assert "reusing the finished corpus" in caplog.text
    assert read_corpus(tiny_corpus) == before


@pytest.mark.espeak
@espeak
def test_another_config_is_refused_unless_forced(tiny_corpus, tmp_path):
    with pytest.raises(SpeechmlError, match="another config.*--force"):
        build_corpus(tiny_config("seed=1"), tiny_corpus)
    out = tmp_path / "c"
    shutil.copytree(tiny_corpus, out)
    build_corpus(tiny_config("seed=1", "utts_per_lang.train=3"), out, nj=2, force=True)
    assert len(DataDir.read(out / "data" / "kat" / "train")) == 3
    assert len(list((out / "wav" / "kat" / "train").iterdir())) == 3  # old WAVs are gone


@pytest.mark.espeak
@espeak
def test_same_seed_gives_identical_transcripts_and_audio(tiny_corpus, tmp_path):
    out = tmp_path / "again"
    build_corpus(tiny_config(), out, nj=1)
    assert read_corpus(out) == read_corpus(tiny_corpus)


@pytest.mark.espeak
@espeak
def test_a_killed_build_resumes_and_matches_a_clean_build(tiny_corpus, tmp_path, monkeypatch):
    out = tmp_path / "killed"
    calls = []
    original = synth.synthesize

    def dies_after_five(*args, **kwargs):
        calls.append(args[0])
        if len(calls) > 5:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(synth, "synthesize", dies_after_five)
    with pytest.raises(KeyboardInterrupt):
        build_corpus(tiny_config(), out, nj=1)
    assert not (out / ".done").exists()
    assert len(list((out / "wav").rglob("*.wav"))) == 5
    (out / "wav" / "kat" / "train" / ".x.wav.abc.tmp").write_bytes(b"half")  # killed mid-write
    calls.clear()
    monkeypatch.setattr(synth, "synthesize", lambda *a, **k: calls.append(a) or original(*a, **k))
    build_corpus(tiny_config(), out, nj=2)
    assert len(calls) == 20 - 5  # the complete WAVs were kept
    assert (out / ".done").is_file() and not list(out.rglob("*.tmp"))
    assert read_corpus(out) == read_corpus(tiny_corpus)


@pytest.mark.espeak
@espeak
def test_unknown_espeak_voice_or_variant_names_language_and_file(tmp_path):
    bad_voice = "languages=[{code: kat, espeak: qq, locale: ka, script: Geor}]"
    with pytest.raises(SpeechmlError, match="conf.yaml: language kat: espeak-ng has no voice 'qq'"):
        build_corpus(tiny_config(bad_voice), tmp_path / "a", source="conf.yaml")
    bad_variant = "variants={train: [m1, nobody], dev: [m6], test: [m7]}"
    with pytest.raises(SpeechmlError, match="variant 'nobody'"):
        build_corpus(tiny_config(bad_variant), tmp_path / "b", source="conf.yaml")
    assert not (tmp_path / "a").exists()


@pytest.mark.espeak
@espeak
def test_synthesize_returns_espeak_audio():
    samples, rate = synth.synthesize("-v hello", "en+m3", 160, 45)  # text is never an option
    assert rate == synth.ESPEAK_RATE and samples.dtype == np.float32 and samples.size > 5000


@pytest.mark.espeak
@espeak
def test_silence_carries_the_configured_noise_floor_not_digital_zero(tiny_corpus):
    wav = sorted((tiny_corpus / "wav").rglob("*.wav"))[0]
    samples, _ = soundfile.read(wav, dtype="float32")
    windows = samples[: len(samples) // 160 * 160].reshape(-1, 160).astype(np.float64)
    quietest = windows[np.argmin(np.mean(windows**2, axis=1))]  # 10 ms of a pause
    assert np.count_nonzero(quietest) > 80
    level = 20 * np.log10(np.sqrt(np.mean(quietest**2)))
    assert -96 < level < -84  # -90 dBFS, quantised to 16 bits
