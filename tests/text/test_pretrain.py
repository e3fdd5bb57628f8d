"""Text-encoder pretraining (MLM, LangSAMP, TransliCo) and the classifier's encoder section."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from speechml.cls.text_model import TextClassifier, TextClassifierConfig, train_text_classifier
from speechml.config import from_dict, to_dict
from speechml.data.datadir import DataDir
from speechml.errors import DataError
from speechml.text.encoder import TextModelConfig
from speechml.text.langsamp import LangSampForMaskedLM
from speechml.text.pretrain import load_masked_lm, pretrain_text_encoder
from speechml.text.retrieval import retrieval_accuracy, sentence_embeddings
from speechml.text.romanize import Romanizer
from speechml.text.translico import info_nce, middle_layer

sys.path.insert(0, str(Path(__file__).parent))
from text_toys import month_runs, phrases, tiny_pretrain  # noqa: E402


def metrics(exp: Path) -> list[dict]:
    return [json.loads(line) for line in open(exp / "log" / "metrics.jsonl")]


def test_mlm_loss_falls_and_a_run_resumes(tmp_path):
    texts, langs = month_runs(["eng", "rus"])
    config = tiny_pretrain("mlm", max_steps=40, lr=1e-2)
    config.train.valid_every, config.train.log_every = 20, 1
    config.mlm_probability, config.train.max_batch_size = 0.4, 32  # more targets a step
    pretrain_text_encoder(config, texts, langs, tmp_path / "lm", None)
    valid = [r["valid_loss"] for r in metrics(tmp_path / "lm") if "valid_loss" in r]
    assert len(valid) == 2
    first_loss = [r["loss"] for r in metrics(tmp_path / "lm") if "loss" in r][0]
    assert valid[-1] < valid[0] and valid[-1] < 0.85 * first_loss  # from ~ln(vocabulary)
    config.train.max_steps = 60
    pretrain_text_encoder(config, texts, langs, tmp_path / "lm", None)
    steps = [r["step"] for r in metrics(tmp_path / "lm") if "loss" in r]
    assert steps == sorted(steps) and steps[-1] == 60 and steps.count(40) == 1  # went on at 40
    tokenizer, model = load_masked_lm(tmp_path / "lm" / "model")
    assert model.config.vocab_size == len(tokenizer)


def test_langsamp_pretraining_saves_a_langsamp_dir(tmp_path):
    texts, langs, _ = phrases(["eng", "rus", "kat"], 40)
    pretrain_text_encoder(tiny_pretrain("langsamp", max_steps=10), texts, langs, tmp_path / "ls")
    _, model = load_masked_lm(tmp_path / "ls" / "model")
    assert isinstance(model, LangSampForMaskedLM)
    assert model.ids.languages == ["eng", "kat", "rus"]
    assert model.ids.scripts == ["Cyrl", "Geor", "Latn"]


def test_translico_separates_true_from_shuffled_pairs(tmp_path):
    texts, langs, _ = phrases(["rus", "kat"], 120, seed=1)
    config = tiny_pretrain("translico", max_steps=60, lr=5e-3)
    tokenizer, model = pretrain_text_encoder(config, texts, langs, tmp_path / "tc")
    held_out, held_langs, _ = phrases(["rus", "kat"], 30, seed=9)
    romanized = Romanizer().romanize_many(held_out, held_langs)
    layer = middle_layer(model.config.num_hidden_layers)
    native = sentence_embeddings(model, tokenizer, held_out, layer)
    latin = sentence_embeddings(model, tokenizer, romanized, layer)
    true_pairs = float(info_nce(native, latin, config.temperature))
    shuffled = float(info_nce(native, latin[torch.randperm(len(latin))], config.temperature))
    assert true_pairs < shuffled
    assert retrieval_accuracy(native, latin) > 2 / len(held_out)  # chance is 1/N
    records = [r for r in metrics(tmp_path / "tc") if "valid_contrastive" in r]
    assert records and records[-1]["valid_loss"] > records[-1]["valid_contrastive"]


def test_empty_and_too_few_texts_are_refused(tmp_path):
    with pytest.raises(DataError, match="empty texts"):
        pretrain_text_encoder(tiny_pretrain("mlm"), ["a b", " "], ["eng", "eng"], tmp_path)
    with pytest.raises(DataError, match="more than valid_texts"):
        pretrain_text_encoder(tiny_pretrain("mlm"), ["a b"] * 5, ["eng"] * 5, tmp_path)


def write_dir(root: Path, texts: list[str], langs: list[str], labels: list[str] | None) -> Path:
    data = DataDir()
    for i, (text, lang) in enumerate(zip(texts, langs, strict=True)):
        utt = f"{lang}-{i:04d}"
        data.text[utt] = text
        data.utt2lang[utt] = lang
        data.utt2spk[utt] = lang
        if labels is not None:
            data.utt2label[utt] = labels[i]
    data.write(root)
    return root


def test_classifier_config_selects_pretraining_and_expansion(tmp_path):
    texts, langs, labels = phrases(["eng", "rus", "spa"], 60)
    train = write_dir(tmp_path / "train", texts, langs, labels)
    dev_texts, dev_langs, dev_labels = phrases(["eng", "rus"], 10, seed=3)
    dev = write_dir(tmp_path / "dev", dev_texts, dev_langs, dev_labels)
    kat, kat_langs, _ = phrases(["kat"], 40)
    unlabelled = write_dir(tmp_path / "kat", kat, kat_langs, None)
    classifier_config = {
        "model": to_dict(TextModelConfig(hidden_size=32, num_heads=2, intermediate_size=64)),
        "max_length": 16,
        "encoder": {
            "pretraining": to_dict(tiny_pretrain("translico", max_steps=10)),
            "expansion": {"init": "ofa", "vocab_size": 60},
            "transmi": "max",
        },
        "train": {"max_steps": 10, "max_batch_size": 16, "valid_every": 10, "warmup_steps": 2},
    }
    config = from_dict(TextClassifierConfig, classifier_config)
    train_text_classifier(config, train, dev, tmp_path / "exp", unlabelled=[unlabelled])
    assert (tmp_path / "exp" / "encoder" / "pretrain" / "model" / "config.json").is_file()
    classifier = TextClassifier.load(tmp_path / "exp" / "model")
    pretrained, _ = load_masked_lm(tmp_path / "exp" / "encoder" / "pretrain" / "model")
    assert len(classifier.tokenizer) > len(pretrained)  # expanded by kat and romanized pieces
    assert classifier.tokenizer.unk_token_id not in classifier.encode([kat[0]])[0]
    assert len(classifier.predict(kat[:3])) == 3
    with pytest.raises(DataError, match="unlabelled text"):
        train_text_classifier(config, train, dev, tmp_path / "exp2")
