from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from speechml.cls.text_model import (
    CLASSIFIER_FILE,
    TextClassifier,
    TextClassifierConfig,
    build_model,
    load_pretrained,
    train_text_classifier,
)
from speechml.config import from_dict
from speechml.errors import ConfigError, DataError, SpeechmlError
from speechml.text.encoder import SPECIAL_TOKENS, TextModelConfig, train_text_tokenizer
from speechml.train.trainer import TrainConfig


def tiny_config(max_steps: int = 30) -> TextClassifierConfig:
    """A model small and a learning rate high enough to learn the toy task in 30 steps."""
    return TextClassifierConfig(
        model=TextModelConfig(hidden_size=32, num_heads=2, intermediate_size=64, vocab_size=200),
        max_length=16,
        train=TrainConfig(
            max_steps=max_steps,
            lr=1e-2,
            warmup_steps=5,
            max_batch_size=8,
            num_buckets=1,
            log_every=5,
            valid_every=1000,
            best_metric="dev_accuracy",
            best_mode="max",
        ),
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, labelled_dir_writer, name_pairs):
    """A classifier trained from scratch on month vs country pairs, English and Russian."""
    root = tmp_path_factory.mktemp("text_model")
    train = labelled_dir_writer(root, "train", name_pairs())
    dev = labelled_dir_writer(root, "dev", name_pairs(step=4, form="{1} {0}"))
    classifier = train_text_classifier(tiny_config(), train, dev, root / "exp")
    return SimpleNamespace(root=root, train=train, dev=dev, exp=root / "exp", classifier=classifier)


def test_loss_falls_and_the_classifier_learns_new_pairs(trained, name_pairs):
    records = [json.loads(line) for line in open(trained.exp / "log" / "metrics.jsonl")]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 6 and losses[-1] < 0.5 * losses[0]
    assert [r["dev_accuracy"] for r in records if "dev_accuracy" in r] == [1.0]
    classifier = trained.classifier
    assert classifier.labels == ["country", "month"]
    held_out = name_pairs(step=7, form="{1}, {0}!")
    predicted = classifier.predict([text.upper() for text, _ in held_out])
    assert np.mean([p == label for p, (_, label) in zip(predicted, held_out, strict=True)]) > 0.75


def test_model_dir_loads_and_predicts_the_same(trained, name_pairs):
    model_dir = trained.exp / "model"
    names = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", CLASSIFIER_FILE} <= names
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in names)
    loaded = TextClassifier.load(model_dir)
    probe = [text for text, _ in name_pairs(step=2, seen=12)] + ["", "東京 march", "x" * 100]
    assert loaded.labels == trained.classifier.labels
    assert loaded.max_length == 16 and loaded.normalizer == trained.classifier.normalizer
    assert loaded.predict(probe, batch_size=5) == trained.classifier.predict(probe)
    probabilities = loaded.predict_proba(probe)
    assert probabilities.shape == (len(probe), 2)
    # atol: the trained classifier may sit on a GPU, whose matmuls round differently
    np.testing.assert_allclose(probabilities, trained.classifier.predict_proba(probe), atol=1e-5)


def test_a_finished_run_resumes_with_its_own_tokenizer(trained, tmp_path, labelled_dir, name_pairs):
    exp = shutil.copytree(trained.exp, tmp_path / "exp")
    shutil.rmtree(exp / "model")
    other_texts = labelled_dir("train", name_pairs(step=2, seen=12))  # would give other tokens
    resumed = train_text_classifier(tiny_config(), other_texts, trained.dev, exp)
    assert resumed.tokenizer.get_vocab() == trained.classifier.tokenizer.get_vocab()
    probe = [text for text, _ in name_pairs(step=3)]
    np.testing.assert_allclose(
        resumed.predict_proba(probe), trained.classifier.predict_proba(probe), atol=1e-6
    )


@pytest.mark.parametrize("kind", ["unigram", "bpe"])
def test_tokenizer_has_roberta_special_ids_and_maps_unseen_characters_to_unk(kind):
    tokenizer = train_text_tokenizer(["january march", "январь март"], kind, 100, max_length=8)
    assert [tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    ids = tokenizer("march 東")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.unk_token_id in ids
    assert tokenizer.decode(tokenizer("март january")["input_ids"], skip_special_tokens=True) == (
        "март january"
    )


def remove(name):
    return lambda model_dir: (model_dir / name).unlink()


def add_setting(model_dir):
    settings = json.loads((model_dir / CLASSIFIER_FILE).read_text(encoding="utf-8"))
    (model_dir / CLASSIFIER_FILE).write_text(json.dumps({**settings, "labels": ["a"]}))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (remove(CLASSIFIER_FILE), "not a text classifier"),
        (remove("config.json"), "config.json is missing"),
        (remove("model.safetensors"), "cannot read the model directory"),
        (add_setting, "expected 'normalizer' and 'max_length' only"),
    ],
)
def test_loading_a_damaged_model_dir_names_it(trained, tmp_path, damage, message):
    model_dir = shutil.copytree(trained.exp / "model", tmp_path / "model")
    damage(model_dir)
    with pytest.raises(SpeechmlError, match=message) as caught:
        TextClassifier.load(model_dir)
    assert str(model_dir) in str(caught.value)


@pytest.mark.parametrize(
    ("pretrained_labels", "labels"),
    [(("weekday", "month", "country"), ["country", "month"]), (("month", "country"), None)],
)
def test_fine_tunes_a_local_pretrained_model(
    trained, tmp_path, name_pairs, pretrained_labels, labels
):
    texts = [text for text, _ in name_pairs(("month", "country", "weekday"), seen=12)]
    tokenizer = train_text_tokenizer(texts, "bpe", 300, max_length=24)
    small = TextModelConfig(hidden_size=24, num_heads=3, intermediate_size=48, dropout=0.0)
    model = build_model(small, len(tokenizer), pretrained_labels, max_length=24)
    model.save_pretrained(tmp_path / "pretrained")
    tokenizer.save_pretrained(tmp_path / "pretrained")
    mask_embedding = model.roberta.embeddings.word_embeddings.weight[4].detach().cpu().clone()

    fine_tuned = train_text_classifier(
        tiny_config(max_steps=5),
        trained.train,
        trained.dev,
        tmp_path / "exp",
        tmp_path / "pretrained",
    )
    assert fine_tuned.labels == (labels or list(pretrained_labels))  # its head's order if same set
    assert fine_tuned.model.config.hidden_size == 24  # the pretrained shape, not tiny_config's
    assert fine_tuned.tokenizer.get_vocab() == tokenizer.get_vocab()
    assert fine_tuned.max_length == 16  # the config's, below the tokenizer's 24
    # <mask> never occurs in the input: its row keeps its pretrained value (but weight decay).
    embedding = fine_tuned.model.roberta.embeddings.word_embeddings.weight[4].detach().cpu()
    torch.testing.assert_close(embedding, mask_embedding, rtol=1e-3, atol=1e-6)
    reloaded = TextClassifier.load(tmp_path / "exp" / "model")
    assert reloaded.labels == fine_tuned.labels


def test_load_pretrained_refuses_a_dir_without_a_model(tmp_path):
    with pytest.raises(SpeechmlError, match="config.json is missing"):
        load_pretrained(tmp_path)


def test_a_dev_label_unseen_in_training_is_an_error(trained, labelled_dir, name_pairs):
    dev = labelled_dir("dev", name_pairs(("month", "weekday")))
    with pytest.raises(DataError, match=r"dev/utt2label: labels \['weekday'\] do not occur"):
        train_text_classifier(tiny_config(), trained.train, dev, trained.root / "never")


def test_config_is_strict():
    config = from_dict(TextClassifierConfig, {"model": {"num_layers": 1}, "max_length": 64})
    assert config.model.num_layers == 1 and config.train.best_metric == "dev_accuracy"
    with pytest.raises(ConfigError, match="not a multiple of num_heads"):
        from_dict(TextClassifierConfig, {"model": {"hidden_size": 30, "num_heads": 4}})
    with pytest.raises(ConfigError, match="'unigram'"):
        from_dict(TextClassifierConfig, {"model": {"tokenizer": "wordpiece"}})
