from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from speechml.cls.ngram import (
    CONFIG_FILE,
    VOCABULARY_FILE,
    WEIGHTS_FILE,
    NgramClassifier,
    NgramConfig,
    train_ngram,
)
from speechml.config import from_dict
from speechml.errors import ConfigError, DataError, SpeechmlError

SEEN = 9  # names 0..8 of each class are in training; 9..11 never are


@pytest.fixture
def train_dir(labelled_dir, name_pairs):
    return labelled_dir("train", name_pairs(seen=SEEN))


def accuracy(predicted, examples):
    return np.mean([p == label for p, (_, label) in zip(predicted, examples, strict=True)])


def test_learns_months_from_countries_in_two_scripts(train_dir, names, name_pairs):
    classifier = train_ngram(train_dir)
    assert classifier.classes == ["country", "month"]
    new_pairs = [  # new pairs, in another order, case and punctuation
        (text.upper(), label) for text, label in name_pairs(step=4, form="{1}, {0}!", seen=SEEN)
    ]
    assert accuracy(classifier.predict([t for t, _ in new_pairs]), new_pairs) == 1.0
    unseen = [
        (name, label)
        for locale in ("en", "ru")
        for label in ("month", "country")
        for name in names(locale, label)[SEEN:]
    ]
    assert accuracy(classifier.predict([t for t, _ in unseen]), unseen) > 0.6  # chance: 0.5
    probabilities = classifier.predict_proba(["march april", "france"])
    assert probabilities.shape == (2, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


@pytest.mark.parametrize("labels", [("month", "country"), ("month", "country", "weekday")])
def test_saved_and_loaded_classifier_predicts_the_same(labelled_dir, name_pairs, tmp_path, labels):
    config = NgramConfig(ngram_range=(2, 3), inverse_regularization=3.0)
    classifier = train_ngram(labelled_dir("train", name_pairs(labels)), config)
    saved = classifier.save(tmp_path / "model")
    assert sorted(p.name for p in saved.iterdir()) == sorted(
        [CONFIG_FILE, VOCABULARY_FILE, WEIGHTS_FILE]
    )
    loaded = NgramClassifier.load(saved)
    probe = [t for t, _ in name_pairs(labels, step=5, seen=12)] + ["", "friday март Бутан", "xyz"]
    assert loaded.config == config
    assert loaded.classes == sorted(labels)
    assert loaded.predict(probe) == classifier.predict(probe)
    np.testing.assert_allclose(loaded.predict_proba(probe), classifier.predict_proba(probe))


def break_missing_weights(model):
    (model / WEIGHTS_FILE).unlink()


def break_vocabulary(model):
    vocabulary = json.loads((model / VOCABULARY_FILE).read_text(encoding="utf-8"))
    vocabulary["ngrams"].pop()
    (model / VOCABULARY_FILE).write_text(json.dumps(vocabulary), encoding="utf-8")


def break_classes(model):
    vocabulary = json.loads((model / VOCABULARY_FILE).read_text(encoding="utf-8"))
    vocabulary["classes"] = ["month", "month"]
    (model / VOCABULARY_FILE).write_text(json.dumps(vocabulary), encoding="utf-8")


def break_weights_shape(model):
    weights = load_file(model / WEIGHTS_FILE)
    weights["coef"] = np.vstack([weights["coef"], weights["coef"]])
    save_file(weights, model / WEIGHTS_FILE)


def break_weights_bytes(model):
    (model / WEIGHTS_FILE).write_bytes(b"not safetensors")


def break_config(model):
    (model / CONFIG_FILE).write_text('{"analyzer": "char_wb", "ngram_size": 3}', encoding="utf-8")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (break_missing_weights, "weights.safetensors is missing"),
        (break_vocabulary, "'idf' should have shape"),
        (break_classes, "'classes' must hold 2 or more distinct strings"),
        (break_weights_shape, "'coef' should have shape"),
        (break_weights_bytes, "cannot read"),
        (break_config, "unknown key 'ngram_size'"),
    ],
)
def test_loading_a_damaged_model_dir_names_the_problem(train_dir, tmp_path, damage, message):
    model = train_ngram(train_dir).save(tmp_path / "model")
    damage(model)
    with pytest.raises(SpeechmlError, match=message) as caught:
        NgramClassifier.load(model)
    assert str(model) in str(caught.value)


def test_training_needs_two_classes_and_a_label_for_every_utterance(labelled_dir):
    one_class = labelled_dir("one", [("january", "month"), ("may", "month")])
    with pytest.raises(
        DataError, match=r"labels \['month'\]: a classifier needs 2 or more classes"
    ):
        train_ngram(one_class)
    partly = labelled_dir("partly", [("january", "month"), ("france", "country")])
    (partly / "utt2label").write_text("utt000 month\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"partly/utt2label: 1 utterances have no label: utt001"):
        train_ngram(partly)


def test_config_is_strict():
    assert from_dict(NgramConfig, {"ngram_range": [2, 5]}).ngram_range == (2, 5)
    with pytest.raises(ConfigError, match="ngram_range"):
        from_dict(NgramConfig, {"ngram_range": [3, 2]})
    with pytest.raises(ConfigError, match="'char_wb'"):
        from_dict(NgramConfig, {"analyzer": "chars"})
