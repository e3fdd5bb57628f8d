"""SpecAugment, speed perturbation and additive noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speechml.data.audio import load_audio, write_audio
from speechml.data.augment import (
    SpecAugment,
    SpecAugmentConfig,
    add_noise,
    perturb_speed,
    speed_perturb_data_dir,
)
from speechml.data.datadir import DataDir
from speechml.errors import DataError

RATE = 16000


def _peak_frequency(samples: np.ndarray, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


def _masked_runs(row: torch.Tensor) -> list[int]:
    """Lengths of the runs of True in a 1-D bool tensor."""
    runs, current = [], 0
    for value in row.tolist() + [False]:
        if value:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    return runs


# SpecAugment


def test_specaugment_masks_stay_within_lengths_and_bounds():
    config = SpecAugmentConfig(
        num_freq_masks=1,
        max_freq_width=10,
        num_time_masks=1,
        max_time_width=30,
        max_time_fraction=0.2,
    )
    augment = SpecAugment(config).train()
    lengths = torch.tensor([100, 60, 25])
    feats = torch.ones(3, 100, 40)
    for seed in range(20):
        out = augment(feats, lengths, torch.Generator().manual_seed(seed))
        for b, length in enumerate(lengths.tolist()):
            assert torch.all(out[b, length:] == 1), "padding must not be touched"
            valid = out[b, :length] == 0
            time_masked = valid.all(dim=1)
            freq_masked = valid.all(dim=0)
            assert sum(_masked_runs(time_masked)) <= min(30, int(0.2 * length))
            assert sum(_masked_runs(freq_masked)) <= 10
            assert torch.equal(valid, time_masked[:, None] | freq_masked[None, :])


def test_specaugment_masks_something_in_training():
    augment = SpecAugment(SpecAugmentConfig(max_time_fraction=1.0)).train()
    feats = torch.ones(8, 200, 80)
    out = augment(feats, generator=torch.Generator().manual_seed(0))
    assert (out == 0).any()
    assert torch.all(feats == 1), "input must not be modified in place"


def test_specaugment_is_identity_in_eval_mode():
    feats = torch.randn(2, 50, 80)
    assert torch.equal(SpecAugment().eval()(feats, torch.tensor([50, 20])), feats)


def test_specaugment_is_deterministic_with_a_generator():
    augment = SpecAugment().train()
    feats = torch.randn(4, 120, 80)
    first = augment(feats, torch.tensor([120, 90, 60, 30]), torch.Generator().manual_seed(7))
    again = augment(feats, torch.tensor([120, 90, 60, 30]), torch.Generator().manual_seed(7))
    other = augment(feats, torch.tensor([120, 90, 60, 30]), torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_specaugment_accepts_a_single_utterance_and_checks_lengths():
    augment = SpecAugment().train()
    assert augment(torch.ones(50, 80)).shape == (50, 80)
    with pytest.raises(ValueError, match="lengths"):
        augment(torch.ones(2, 50, 80), torch.tensor([50, 51]))


# speed perturbation


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_perturb_speed_scales_length_and_frequency(factor, sine_wave):
    samples = sine_wave(440.0, 1.0)
    out = perturb_speed(samples, factor, RATE)
    assert out.dtype == np.float32
    assert abs(len(out) - RATE / factor) <= 2
    assert _peak_frequency(out) == pytest.approx(440.0 * factor, abs=2.0)


def test_perturb_speed_rejects_bad_factor(sine_wave):
    with pytest.raises(ValueError, match="positive"):
        perturb_speed(sine_wave(440.0, 0.1), 0.0)


@pytest.fixture
def source_dir(make_data_dir) -> DataDir:
    """Two utterances of 0.5 s at 22.05 kHz (sines of 200 and 250 Hz), with every table."""
    path = make_data_dir(num_utts=2, sample_rate=22050, utt2dur=True, utt2label=True)
    return DataDir.read(path)


def test_speed_perturb_data_dir(source_dir, tmp_path):
    a, b = source_dir.utts  # spk1-utt000 (200 Hz), spk2-utt001 (250 Hz)
    out = speed_perturb_data_dir(source_dir, tmp_path / "sp", factors=(0.9, 1.0, 1.1))
    assert set(out.utts) == {a, b, f"sp0.9-{a}", f"sp0.9-{b}", f"sp1.1-{a}", f"sp1.1-{b}"}
    assert out.utt2spk[f"sp0.9-{a}"] == "sp0.9-spk1"
    assert out.utt2spk[b] == "spk2"
    assert out.text[f"sp1.1-{b}"] == source_dir.text[b]
    assert out.utt2lang[f"sp0.9-{b}"] == "eng"
    assert out.utt2label[f"sp1.1-{a}"] == source_dir.utt2label[a]
    for factor, prefix in ((0.9, "sp0.9-"), (1.0, ""), (1.1, "sp1.1-")):
        assert out.utt2dur[prefix + a] == pytest.approx(0.5 / factor, abs=1e-3)
        samples = load_audio(out.wav_scp[prefix + a], sample_rate=None)
        assert len(samples) == pytest.approx(RATE * 0.5 / factor, abs=2)
        assert _peak_frequency(samples) == pytest.approx(200.0 * factor, abs=5.0)
    reread = DataDir.read(tmp_path / "sp")
    assert reread.utt2spk == out.utt2spk and reread.text == out.text
    speakers = {"spk1", "spk2", "sp0.9-spk1", "sp0.9-spk2", "sp1.1-spk1", "sp1.1-spk2"}
    assert set(reread.spk2utt()) == speakers


def test_speed_perturb_rerun_keeps_written_wavs(source_dir, tmp_path):
    utt = "sp0.9-" + source_dir.utts[0]
    out = speed_perturb_data_dir(source_dir, tmp_path / "sp", factors=(0.9,))
    write_audio(out.wav_scp[utt], np.zeros(RATE, dtype=np.float32), RATE)  # marker: 1 s silence
    again = speed_perturb_data_dir(source_dir, tmp_path / "sp", factors=(0.9,))
    assert again.utt2dur[utt] == pytest.approx(1.0)
    assert not np.any(load_audio(out.wav_scp[utt], sample_rate=None))


def test_speed_perturb_refuses_bad_factors_and_pipes(source_dir, tmp_path):
    with pytest.raises(DataError, match="factors"):
        speed_perturb_data_dir(source_dir, tmp_path / "sp", factors=(0.9, 0.9))
    first = source_dir.utts[0]
    source_dir.wav_scp[first] = f"cat {source_dir.wav_scp[first]} |"
    with pytest.raises(DataError, match="pipe"):
        speed_perturb_data_dir(source_dir, tmp_path / "sp2")


# additive noise


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 10.0, 20.0])
def test_add_noise_reaches_the_snr(snr_db, sine_wave):
    rng = np.random.default_rng(0)
    speech = sine_wave(300.0, 1.0)
    noise = rng.standard_normal(4000)  # shorter than the speech: repeated
    mixed = add_noise(speech, noise, snr_db, rng)
    assert mixed.shape == speech.shape and mixed.dtype == np.float32
    residual = mixed - speech
    measured = 10 * np.log10(np.mean(speech**2) / np.mean(residual**2))
    assert measured == pytest.approx(snr_db, abs=0.05)


def test_add_noise_crops_long_noise_deterministically(sine_wave):
    speech = sine_wave(300.0, 0.1)
    noise = np.random.default_rng(1).standard_normal(RATE)
    first = add_noise(speech, noise, 5.0, np.random.default_rng(3))
    again = add_noise(speech, noise, 5.0, np.random.default_rng(3))
    np.testing.assert_array_equal(first, again)
    with pytest.raises(ValueError, match="silent"):
        add_noise(speech, np.zeros(10), 5.0, np.random.default_rng(0))
