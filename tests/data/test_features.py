"""Kaldi fbank features and global CMVN statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchaudio.compliance import kaldi

from speechml.config import from_dict
from speechml.data.audio import load_utterance, write_audio
from speechml.data.datadir import DataDir
from speechml.data.feature_store import compute_cmvn_stats
from speechml.data.features import CmvnStats, FbankConfig, GlobalCMVN, compute_fbank
from speechml.errors import AudioError, ConfigError, DataError

RATE = 16000


def _noise(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(int(seconds * RATE))).astype(np.float32)


@pytest.fixture
def data_dir(tmp_path) -> DataDir:
    """Three utterances of noise with different loudness and lengths."""
    data = DataDir()
    for i, seconds in enumerate((0.5, 0.8, 0.3)):
        wav = tmp_path / "wav" / f"u{i}.wav"
        write_audio(wav, _noise(seconds, i) * (i + 1), RATE)
        data.wav_scp[f"u{i}"] = str(wav)
        data.utt2spk[f"u{i}"] = "s1"
    data.write(tmp_path / "data")
    return DataDir.read(tmp_path / "data")


def test_fbank_shape_dtype_and_parity_with_torchaudio():
    samples = _noise(1.0, 0)
    feats = compute_fbank(samples)
    assert feats.shape == (98, 80)
    assert feats.dtype == torch.float32
    direct = kaldi.fbank(
        torch.from_numpy(samples).unsqueeze(0) * 32768.0, num_mel_bins=80, dither=0.0
    )
    torch.testing.assert_close(feats, direct)


def test_fbank_follows_config_and_accepts_tensors():
    config = FbankConfig(num_mel_bins=40, frame_shift=20.0)
    feats = compute_fbank(torch.from_numpy(_noise(1.0, 1)), config)
    assert feats.shape == (1 + (16000 - 400) // 320, 40)


def test_fbank_refuses_too_short_audio_naming_the_utterance():
    with pytest.raises(AudioError, match="utterance u7: audio of 100 samples is shorter"):
        compute_fbank(np.zeros(100, dtype=np.float32), utt="u7")


def test_fbank_config_rejects_bad_values():
    with pytest.raises(ConfigError):
        from_dict(FbankConfig, {"num_mel_bins": 0})


def test_cmvn_stats_equal_direct_mean_and_std(data_dir):
    stats = compute_cmvn_stats(data_dir)
    feats = torch.cat([compute_fbank(load_utterance(data_dir, u)) for u in data_dir.utts]).double()
    assert stats.count == feats.shape[0]
    torch.testing.assert_close(stats.mean, feats.mean(0))
    torch.testing.assert_close(stats.std, feats.std(0, unbiased=False))


def test_cmvn_max_utts_uses_a_subset(data_dir):
    full = compute_cmvn_stats(data_dir)
    part = compute_cmvn_stats(data_dir, max_utts=2)
    assert 0 < part.count < full.count
    with pytest.raises(DataError, match="max_utts"):
        compute_cmvn_stats(data_dir, max_utts=0)


@pytest.mark.parametrize("name", ["cmvn.safetensors", "cmvn.json"])
def test_cmvn_save_load_round_trip(data_dir, tmp_path, name):
    stats = compute_cmvn_stats(data_dir)
    stats.save(tmp_path / name)
    loaded = CmvnStats.load(tmp_path / name)
    assert loaded.count == stats.count
    torch.testing.assert_close(loaded.sum, stats.sum)
    torch.testing.assert_close(loaded.sum_sq, stats.sum_sq)


def test_cmvn_load_reports_missing_and_malformed_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        CmvnStats.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text('{"count": 3}')
    with pytest.raises(DataError, match="bad.json: malformed"):
        CmvnStats.load(tmp_path / "bad.json")


def test_global_cmvn_normalises_to_zero_mean_unit_std(data_dir):
    cmvn = GlobalCMVN(compute_cmvn_stats(data_dir))
    feats = torch.cat([compute_fbank(load_utterance(data_dir, u)) for u in data_dir.utts])
    normed = cmvn(feats)
    assert normed.mean(0).abs().max() < 1e-4
    assert (normed.std(0, unbiased=False) - 1).abs().max() < 1e-3


def test_global_cmvn_batches_and_zeroes_padding():
    stats = CmvnStats.zeros(3)
    stats.accumulate(torch.randn(50, 3) * 2 + 5)
    cmvn = GlobalCMVN(stats)
    batch = torch.randn(2, 6, 3) + 5
    out = cmvn(batch, lengths=torch.tensor([6, 4]))
    torch.testing.assert_close(out[0], cmvn(batch[0]))
    torch.testing.assert_close(out[1, :4], cmvn(batch[1, :4]))
    assert torch.all(out[1, 4:] == 0)
    with pytest.raises(ValueError, match="dimension 4"):
        cmvn(torch.zeros(2, 4))
