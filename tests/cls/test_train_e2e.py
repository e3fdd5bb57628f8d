"""Training the end-to-end classifier: it learns a separable set, hf end to end, bad data dirs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from speechml.asr.speech_encoders import ConformerSpeechEncoder
from speechml.cls.speech_model import (
    SpeechClassifier,
    SpeechClassifierConfig,
    classify_data_dir,
)
from speechml.cls.train_e2e import E2eConfig, train_e2e
from speechml.config import load_config
from speechml.data.datadir import DataDir
from speechml.data.table import read_table
from speechml.errors import ConfigError, DataError
from speechml.train.trainer import TrainConfig

sys.path.insert(0, str(Path(__file__).parent))
from test_speech_model import (  # noqa: E402
    save_tiny_wav2vec2,
    tiny_conformer_config,
    write_tone_noise_dir,
)


def fast_train(max_steps: int, lr: float = 3e-3) -> TrainConfig:
    return TrainConfig(
        max_steps=max_steps,
        lr=lr,
        warmup_steps=3,
        schedule="constant",
        max_batch_size=8,
        max_batch_seconds=None,
        num_buckets=2,
        log_every=1,
        valid_every=max_steps,
        best_metric="dev_accuracy",
        best_mode="max",
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    return {
        "train": write_tone_noise_dir(root, "train", 6, seed=1),
        "dev": write_tone_noise_dir(root, "dev", 2, seed=2),
    }


def losses(exp_dir: Path) -> list[float]:
    lines = (exp_dir / "log" / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [record["loss"] for record in map(json.loads, lines) if "loss" in record]


def test_conformer_classifier_learns_tones_from_noise(tmp_path, data):
    config = E2eConfig(
        model=tiny_conformer_config(pooling="attention"), train=fast_train(20, lr=5e-3)
    )
    model_dir = train_e2e(config, data["train"], data["dev"], tmp_path / "exp")
    assert model_dir == tmp_path / "exp" / "model"
    found = losses(tmp_path / "exp")
    assert len(found) == 20 and sum(found[-5:]) < 0.7 * sum(found[:5])  # bf16 on a GPU is noisier
    classifier = SpeechClassifier.load(model_dir)
    assert classifier.labels == ["noise", "tone"]
    train = DataDir.read(data["train"])
    assert classifier.classify(train) == train.utt2label  # train accuracy 1.0
    predicted = classify_data_dir(model_dir, data["dev"], tmp_path / "decode_dev")
    dev = DataDir.read(data["dev"])
    assert read_table(tmp_path / "decode_dev" / "utt2label") == predicted
    assert sum(predicted[u] == dev.utt2label[u] for u in dev.utts) >= len(dev) - 1
    meta = json.loads(next((tmp_path / "exp" / "checkpoints").glob("*/meta.json")).read_text())
    assert set(meta["metrics"]) == {"dev_accuracy", "valid_loss"}


def test_hf_wav2vec2_classifier_end_to_end(tmp_path, data):
    pretrained = save_tiny_wav2vec2(tmp_path / "w2v")
    model = SpeechClassifierConfig(encoder="hf", pooling="mean", head_dropout=0.0)
    config = E2eConfig(model=model, train=fast_train(6, lr=1e-3))
    model_dir = train_e2e(config, data["train"], data["dev"], tmp_path / "exp", pretrained)
    found = losses(tmp_path / "exp")
    assert len(found) == 6 and found[-1] < found[0]
    predicted = classify_data_dir(model_dir, data["dev"], tmp_path / "decode_dev")
    assert list(predicted) == DataDir.read(data["dev"]).utts
    assert set(predicted.values()) <= {"noise", "tone"}
    with pytest.raises(ConfigError, match="pretrained"):
        train_e2e(config, data["train"], data["dev"], tmp_path / "exp2")


def test_frozen_encoder_and_unknown_dev_labels(tmp_path, data):
    """A linear probe leaves the encoder as initialised; unknown dev labels count as errors."""
    dev = DataDir.read(data["dev"])
    dev.utt2label = {utt: "speech" for utt in dev.utts}
    dev.write(tmp_path / "dev")
    config = E2eConfig(model=tiny_conformer_config(), train=fast_train(3), freeze_encoder=True)
    trained = SpeechClassifier.load(train_e2e(config, data["train"], dev.path, tmp_path / "exp"))
    meta = json.loads(next((tmp_path / "exp" / "checkpoints").glob("*/meta.json")).read_text())
    assert meta["metrics"]["dev_accuracy"] == 0.0
    torch.manual_seed(config.train.seed)  # as train_e2e does before building the model
    initial = ConformerSpeechEncoder(trained.config.conformer, None).encoder.state_dict()
    assert all(torch.equal(v, initial[k]) for k, v in trained.encoder.encoder.state_dict().items())


def test_config_loads_from_yaml_with_overrides(tmp_path):
    path = tmp_path / "e2e.yaml"
    path.write_text("model:\n  pooling: attention\n  conformer:\n    second_pass: false\n")
    config = load_config(E2eConfig, path, ["model.encoder=hf", "train.max_steps=7"])
    assert (config.model.encoder, config.model.pooling, config.train.max_steps) == (
        "hf",
        "attention",
        7,
    )
    assert config.train.best_metric == "dev_accuracy" and config.train.best_mode == "max"
    assert not config.model.conformer.second_pass
    with pytest.raises(ConfigError, match="'lstm' is not one of"):
        load_config(E2eConfig, path, ["model.encoder=lstm"])


def test_data_dirs_without_labels_are_errors_naming_the_dir(tmp_path, data):
    config = E2eConfig(model=tiny_conformer_config(), train=fast_train(1))
    train = DataDir.read(data["train"])
    train.utt2label = {}
    train.write(tmp_path / "unlabelled")
    with pytest.raises(
        DataError, match=f"{tmp_path / 'unlabelled' / 'utt2label'}: missing or empty"
    ):
        train_e2e(config, tmp_path / "unlabelled", data["dev"], tmp_path / "exp")
    train = DataDir.read(data["train"])
    first = train.utts[0]
    del train.utt2label[first]
    train.write(tmp_path / "partial")
    with pytest.raises(DataError, match=f"1 utterances have no label: {first}"):
        train_e2e(config, tmp_path / "partial", data["dev"], tmp_path / "exp")
    train = DataDir.read(data["train"])
    train.utt2label = dict.fromkeys(train.utts, "tone")
    train.write(tmp_path / "one_label")
    with pytest.raises(DataError, match=r"labels \['tone'\]: a classifier needs 2 or more"):
        train_e2e(config, tmp_path / "one_label", data["dev"], tmp_path / "exp")
    assert not (tmp_path / "exp").exists()
