"""Fbank features stored once per data dir: round trip, staleness, corruption, atomic writes,
sharing with derived dirs, and the readers (AsrDataset, compute_cmvn_stats)."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import torch

import speechml.data.feature_store as feature_store
from speechml.asr.data import AsrDataset
from speechml.asr.tail import tail_split
from speechml.data.audio import load_utterance, write_audio
from speechml.data.datadir import DataDir
from speechml.data.feature_store import (
    STORE_CONFIG,
    STORE_DIR,
    STORE_INDEX,
    DataDirFbank,
    FeatureStore,
    compute_cmvn_stats,
    derive_store,
    shard_name,
    write_store,
)
from speechml.data.features import FbankConfig, GlobalCMVN, compute_fbank
from speechml.data.ops import subset_data_dir
from speechml.errors import AudioError, DataError

CONFIG = FbankConfig()


@pytest.fixture(autouse=True)
def small_shards(monkeypatch):
    """Two utterances a shard, so that a tiny data dir has several; warnings every time."""
    monkeypatch.setattr(feature_store, "UTTS_PER_SHARD", 2)
    monkeypatch.setattr(feature_store, "_warned", set())


@pytest.fixture
def data(make_data_dir) -> DataDir:
    """Five utterances of 0.5 s, two speakers, two languages."""
    return DataDir.read(make_data_dir("train", num_utts=5, languages=("eng", "kat")))


def computed(data: DataDir, utt: str, config: FbankConfig = CONFIG) -> torch.Tensor:
    return compute_fbank(load_utterance(data, utt, config.sample_rate), config, utt=utt)


def audio_must_not_be_read(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("audio was read")

    monkeypatch.setattr(feature_store, "load_utterance", refuse)


def test_round_trip_equals_compute_fbank_exactly(data, monkeypatch):
    summary = write_store(data, CONFIG)
    store_dir = data.path / STORE_DIR
    assert sorted(p.name for p in store_dir.iterdir()) == sorted(
        [STORE_CONFIG, STORE_INDEX, shard_name(0), shard_name(1), shard_name(2)]
    )
    assert (summary.utts, summary.frames, summary.up_to_date) == (5, 5 * 48, False)
    expected = {utt: computed(data, utt) for utt in data.utts}
    audio_must_not_be_read(monkeypatch)
    fbank = DataDirFbank(DataDir.read(data.path), CONFIG)
    assert fbank.stored == 5
    for utt in data.utts:
        assert torch.equal(fbank(utt), expected[utt])


def test_shards_are_plain_float32_arrays_read_without_pickle(data):
    write_store(data, CONFIG)
    shard = np.load(data.path / STORE_DIR / shard_name(0), allow_pickle=False)
    assert shard.dtype == np.float32 and shard.shape == (2 * 48, 80)


def test_a_shard_of_python_objects_is_refused(data):
    write_store(data, CONFIG)
    path = data.path / STORE_DIR / shard_name(1)
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=f"{path}: truncated or corrupt feature shard"):
        FeatureStore.read(data.path / STORE_DIR)


def test_dataset_features_are_the_same_with_and_without_the_store(data, monkeypatch):
    cmvn = GlobalCMVN(compute_cmvn_stats(data, CONFIG))
    before = AsrDataset(data, None, CONFIG, cmvn, with_text=False)
    without = [before.features(i) for i in range(len(before))]
    write_store(data, CONFIG)
    audio_must_not_be_read(monkeypatch)
    after = AsrDataset(DataDir.read(data.path), None, CONFIG, cmvn, with_text=False)
    assert all(torch.equal(without[i], after.features(i)) for i in range(5))
    assert after._fbank.stored == 5


def test_cmvn_stats_read_the_store(data, monkeypatch):
    without = compute_cmvn_stats(data, CONFIG, max_utts=3)
    write_store(data, CONFIG)
    audio_must_not_be_read(monkeypatch)
    with_store = compute_cmvn_stats(DataDir.read(data.path), CONFIG, max_utts=3)
    assert with_store.count == without.count == 3 * 48
    assert torch.equal(with_store.sum, without.sum)
    assert torch.equal(with_store.sum_sq, without.sum_sq)


def test_a_store_up_to_date_is_kept(data):
    write_store(data, CONFIG)
    shard = data.path / STORE_DIR / shard_name(0)
    inode = shard.stat().st_ino
    assert write_store(DataDir.read(data.path), CONFIG).up_to_date
    assert shard.stat().st_ino == inode


def test_other_fbank_options_ignore_the_store_then_recompute_it(data, caplog):
    write_store(data, CONFIG)
    other = FbankConfig(num_mel_bins=40)
    with caplog.at_level(logging.WARNING):
        fbank = DataDirFbank(data, other)
    assert fbank.store is None
    assert f"{data.path / STORE_DIR}: made with other fbank options (num_mel_bins 80, not 40)" in (
        caplog.text
    )
    assert torch.equal(fbank(data.utts[0]), computed(data, data.utts[0], other))
    assert not write_store(data, other).up_to_date
    assert FeatureStore.read(data.path / STORE_DIR).config == other


def test_touched_or_replaced_audio_is_computed_again(data, sine_wave, caplog):
    write_store(data, CONFIG)
    touched, replaced = data.utts[1], data.utts[3]
    os.utime(data.audio_entry(touched), ns=(1, 1))
    write_audio(data.audio_entry(replaced), sine_wave(1234.0, 0.7), 16000)
    with caplog.at_level(logging.WARNING):
        fbank = DataDirFbank(data, CONFIG)
    assert set(fbank.store.entries) == set(data.utts) - {touched, replaced}
    assert caplog.text.count("2 of 5 utterances are not stored or their audio changed") == 1
    assert fbank(replaced).shape == (68, 80)
    assert torch.equal(fbank(replaced), computed(data, replaced))
    summary = write_store(data, CONFIG)
    assert not summary.up_to_date and summary.frames == 4 * 48 + 68
    assert DataDirFbank(data, CONFIG).stored == 5


def test_the_warning_is_given_once_a_dir(data, caplog):
    write_store(data, CONFIG)
    os.utime(data.audio_entry(data.utts[0]), ns=(1, 1))
    with caplog.at_level(logging.WARNING):
        DataDirFbank(data, CONFIG)
        DataDirFbank(data, CONFIG)
    assert caplog.text.count("not stored or their audio changed") == 1


def test_a_truncated_shard_is_a_one_line_error_naming_it(data):
    write_store(data, CONFIG)
    shard = data.path / STORE_DIR / shard_name(1)
    with shard.open("r+b") as file:
        file.truncate(shard.stat().st_size - 100)
    with pytest.raises(DataError) as err:
        DataDirFbank(data, CONFIG)
    assert str(err.value).startswith(f"{shard}: truncated or corrupt feature shard")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("u9 shard-00000.npy 0 48", "expected 'utt shard offset frames fingerprint'"),
        ("u9 shard-00000.npy 90 48 abc", r"rows 90\+48 are outside shard-00000.npy"),
        ("u9 shard-00009.npy 0 48 abc", "shard shard-00009.npy is not listed in fbank.json"),
        ("u9 shard-00000.npy x 48 abc", "invalid literal"),
    ],
)
def test_a_bad_index_line_is_an_error_naming_file_and_line(data, line, message):
    write_store(data, CONFIG)
    index = data.path / STORE_DIR / STORE_INDEX
    lines = index.read_text().splitlines()
    index.write_text("\n".join([lines[0], line, *lines[1:]]) + "\n")
    with pytest.raises(DataError, match=f"^{index}:2: malformed feature index line: {message}"):
        DataDirFbank(data, CONFIG)


def test_a_failed_computation_leaves_the_old_store_and_no_other(data, sine_wave):
    write_store(data, CONFIG)
    before = sorted(os.listdir(data.path))
    index = (data.path / STORE_DIR / STORE_INDEX).read_text()
    write_audio(data.audio_entry(data.utts[4]), sine_wave(300.0, 0.01), 16000)  # too short
    with pytest.raises(AudioError, match="shorter than one analysis window"):
        write_store(data, CONFIG)
    assert sorted(os.listdir(data.path)) == before
    assert (data.path / STORE_DIR / STORE_INDEX).read_text() == index


def test_an_interrupted_first_computation_leaves_no_store(data, monkeypatch):
    calls = []

    def interrupted(job, threads=None):
        calls.append(job)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return compute_shard(job)

    compute_shard = feature_store._compute_shard
    monkeypatch.setattr(feature_store, "_compute_shard", interrupted)
    before = sorted(os.listdir(data.path))
    with pytest.raises(KeyboardInterrupt):
        write_store(data, CONFIG)
    assert sorted(os.listdir(data.path)) == before
    assert DataDirFbank(data, CONFIG).store is None


def test_parallel_jobs_store_what_one_job_stores(data, make_data_dir):
    write_store(data, CONFIG, nj=2)
    serial = DataDir.read(make_data_dir("train", num_utts=5, languages=("eng", "kat")))
    parallel = FeatureStore.read(data.path / STORE_DIR)
    for utt in data.utts:
        assert torch.equal(parallel.features(utt), computed(serial, utt))


def test_a_subset_shares_the_rows_of_its_source_hard_linked(data, tmp_path, monkeypatch):
    write_store(data, CONFIG)
    part = subset_data_dir(data, data.utts[2:4])
    part.write(tmp_path / "part")
    assert derive_store(data, part) == 2
    linked = tmp_path / "part" / STORE_DIR / shard_name(1)
    assert linked.stat().st_ino == (data.path / STORE_DIR / shard_name(1)).stat().st_ino
    assert not (tmp_path / "part" / STORE_DIR / shard_name(0)).exists()
    expected = {utt: computed(data, utt) for utt in part.utts}
    audio_must_not_be_read(monkeypatch)
    fbank = DataDirFbank(DataDir.read(tmp_path / "part"), CONFIG)
    assert fbank.stored == 2
    assert all(torch.equal(fbank(utt), expected[utt]) for utt in part.utts)


def test_the_source_computed_again_leaves_a_derived_store_valid(data, tmp_path, sine_wave):
    write_store(data, CONFIG)
    part = subset_data_dir(data, data.utts[:2])
    part.write(tmp_path / "part")
    derive_store(data, part)
    expected = computed(data, data.utts[0])
    write_store(data, FbankConfig(num_mel_bins=40))  # new shards replace the source's
    assert torch.equal(DataDirFbank(part, CONFIG)(data.utts[0]), expected)


def test_a_derived_dir_whose_audio_differs_gets_no_rows(data, tmp_path):
    write_store(data, CONFIG)
    part = subset_data_dir(data, data.utts[:2])
    for utt in part.utts:
        copy = tmp_path / f"{utt}.wav"
        copy.write_bytes(open(part.wav_scp[utt], "rb").read())
        part.wav_scp[utt] = str(copy)
    part.write(tmp_path / "part")
    assert derive_store(data, part) == 0
    assert not (tmp_path / "part" / STORE_DIR).exists()


def test_tail_split_parts_and_upsampled_copies_share_the_store(make_data_dir, tmp_path):
    train = DataDir.read(make_data_dir("train", num_utts=8, languages=("eng", "kat")))
    write_store(train, CONFIG)
    parts = tail_split(train, {"kat": 2}, upsample=2)
    for name, part in parts.items():
        part.write(tmp_path / name)
        assert derive_store(train, part) == len(part)
    base = DataDir.read(tmp_path / "train_base")
    copy = next(utt for utt in base.utts if utt.startswith("up2-"))
    assert torch.equal(DataDirFbank(base, CONFIG)(copy), computed(train, copy[len("up2-") :]))
