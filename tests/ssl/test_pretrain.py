"""wav2vec2 pretraining: masks and distractors, a falling loss with a healthy codebook, the
collapse guard, save/load and resume."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from transformers import Wav2Vec2ForPreTraining

from speechml.data.datadir import DataDir
from speechml.data.waveform import WaveformCollator, WaveformDataset
from speechml.errors import ConfigError
from speechml.ssl.pretrain import (
    CodebookCollapseError,
    CollapseGuard,
    GumbelSchedule,
    codebook_size,
    load_pretraining_model,
    pretrain,
    sample_masks,
)

sys.path.insert(0, str(Path(__file__).parent))
from ssl_toys import tiny_pretrain_config  # noqa: E402


def metrics(exp):
    lines = (exp / "log" / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_masks_and_negatives_cover_real_frames_only(syllables):
    config = tiny_pretrain_config(1)
    model, extractor = load_pretraining_model(config)
    dataset = WaveformDataset(DataDir.read(syllables), 16000)
    batch = WaveformCollator(extractor)([dataset[i] for i in range(4)])
    frames, masked, negatives = sample_masks(model, batch, config)
    batch_size, num_frames = frames.shape
    assert masked.shape == frames.shape and masked.dtype == torch.bool
    assert negatives.shape == (batch_size, num_frames, config.num_negatives)
    assert not (masked & ~frames).any()  # padding is never masked
    assert (masked.sum(1) >= 2).all()  # min_masks
    flat = torch.arange(batch_size * num_frames).view(batch_size, num_frames)
    for row in range(batch_size):
        for frame in masked[row].nonzero().flatten().tolist():
            chosen = negatives[row, frame]
            assert (chosen // num_frames == row).all()  # the same utterance's
            assert masked.flatten()[chosen].all()  # masked frames
            assert (chosen != flat[row, frame]).all()  # never the frame itself


def test_gumbel_schedule_decays_to_its_floor():
    schedule = GumbelSchedule(start=2.0, end=0.5, decay=0.5)
    assert [schedule.at(s) for s in range(4)] == [2.0, 1.0, 0.5, 0.5]
    with pytest.raises(ValueError):
        GumbelSchedule(start=0.5, end=2.0)


def test_loss_falls_while_the_codebook_stays_healthy(syllables, tmp_path):
    config = tiny_pretrain_config(100, 0.3, lr=1e-2)
    model_dir = pretrain(config, syllables, syllables, tmp_path / "exp")
    records = [r for r in metrics(tmp_path / "exp") if "contrastive" in r]
    assert len(records) == 100
    first = sum(r["contrastive"] for r in records[:10]) / 10
    last = sum(r["contrastive"] for r in records[-10:]) / 10
    assert last < 0.92 * first, (first, last)  # measured: 0.86
    size = 2 * 32
    assert min(r["perplexity"] for r in records[-10:]) > 0.2 * size  # measured: 39 and more
    for key in ("diversity", "mask_ratio", "gumbel_temperature", "grad_norm"):
        assert all(key in r for r in records)
    assert records[0]["gumbel_temperature"] == 2.0 > records[-1]["gumbel_temperature"]
    assert 0.2 < records[-1]["mask_ratio"] < 0.9
    # the model dir is save_pretrained output with its feature extractor: loads as it was
    names = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= names
    reloaded = Wav2Vec2ForPreTraining.from_pretrained(model_dir)
    assert codebook_size(reloaded) == size
    continued, _ = load_pretraining_model(tiny_pretrain_config(1, 0.3), model_dir)
    assert continued.config.diversity_loss_weight == 0.3  # the new run's weight
    saved = reloaded.state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in continued.state_dict().items())


def test_collapse_is_reported_or_stops_the_run(syllables, tmp_path, caplog):
    guard = CollapseGuard(floor=10.0, patience=3, stop=False)
    for step, perplexity in enumerate([5.0, 5.0, 12.0, 5.0, 5.0, 5.0, 5.0]):
        guard.check(perplexity, step)
    assert caplog.text.count("codebook collapse at step 5") == 1  # once, after 3 in a row
    # no diversity loss and a floor no codebook reaches: the run stops with advice
    config = tiny_pretrain_config(20, 0.0, keep_last=2)
    config = dataclasses.replace(config, collapse_floor=0.99, stop_on_collapse=True)
    with pytest.raises(CodebookCollapseError, match="raise diversity_loss_weight"):
        pretrain(config, syllables, syllables, tmp_path / "exp")


def test_a_resumed_run_continues_where_it_stopped(syllables, tmp_path):
    pretrain(tiny_pretrain_config(6, valid_every=3), syllables, syllables, tmp_path / "exp")
    shutil.rmtree(tmp_path / "exp" / "model")
    first = metrics(tmp_path / "exp")
    pretrain(tiny_pretrain_config(9, valid_every=3), syllables, syllables, tmp_path / "exp")
    later = metrics(tmp_path / "exp")[len(first) :]
    steps = [r["step"] for r in later if "contrastive" in r]
    assert steps == [7, 8, 9]  # continued from step 6, not restarted
    temperatures = [r["gumbel_temperature"] for r in later if "contrastive" in r]
    assert temperatures[0] == pytest.approx(2.0 * 0.98**6)  # the schedule resumed too


def test_a_directory_that_is_no_model_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no config.json"):
        load_pretraining_model(tiny_pretrain_config(1), tmp_path)
