"""A small transformer encoder that classifies texts, trained through the shared trainer.

From scratch, a tokenizer (``tokenizers`` Unigram or BPE over the training text, with
XLM-RoBERTa's special tokens ``<s> <pad> </s> <unk> <mask>`` = ids 0..4) and a small
``XLMRobertaForSequenceClassification`` (:class:`TextModelConfig`: 128 hidden, 2 layers, 2
heads by default) are built; or a pretrained encoder and its tokenizer are fine-tuned from a
local directory (``from_pretrained(path)``, nothing downloaded, no remote code). Texts are
normalised as for scoring (NFC, lowercase, punctuation removed) before tokenizing, so that
reference texts and ASR hypotheses look alike.

Training uses :class:`speechml.train.trainer.Trainer`: batches are bucketed by token count
(the trainer's "durations" are tokens here, so ``train.max_batch_seconds`` caps padded tokens a
batch), validation reports ``valid_loss`` and ``dev_accuracy``, and the best checkpoint by
``dev_accuracy`` becomes the model.

A model directory (:meth:`TextClassifier.save`) holds what ``save_pretrained`` writes for the
model (``config.json`` with the labels as ``id2label``, ``model.safetensors``) and the tokenizer
(``tokenizer.json``, ``tokenizer_config.json``), plus ``text_classifier.json`` (the text
normaliser and the longest input in tokens).

Example:
    >>> from speechml.config import load_config
    >>> config = load_config(TextClassifierConfig, "conf/cls_text.yaml")  # two steps
    >>> classifier = train_text_classifier(config, "data/train", "data/dev", "exp/cls_text")
    >>> TextClassifier.load("exp/cls_text/model").labels
    ['even', 'odd']
    >>> len(TextClassifier.load("exp/cls_text/model").predict(["hello number 5"]))
    1
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BatchEncoding,
    DataCollatorWithPadding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    XLMRobertaForSequenceClassification,
)

from speechml.cls.kinds import MODEL_MARKERS
from speechml.cls.predict import read_labelled_texts
from speechml.config import from_dict, read_json, to_dict
from speechml.data.datadir import DataDir
from speechml.errors import DataError, SpeechmlError
from speechml.io import atomic_dir
from speechml.lang.normalize import TextNormalizer
from speechml.model_files import from_pretrained
from speechml.text.adapt import TextEncoderConfig, prepare_text_encoder, texts_and_langs
from speechml.text.encoder import (
    TextModelConfig,
    saved_or_new_tokenizer,
    text_training,
    train_text_tokenizer,
    xlmr_config,
)
from speechml.train.trainer import TrainConfig, Trainer, ValidFn

logger = logging.getLogger(__name__)

CLASSIFIER_FILE = MODEL_MARKERS["text"]
TOKENIZER_DIR = "tokenizer"  # in the experiment dir: the tokenizer trained from scratch


@dataclass
class TextClassifierConfig:
    """Everything a text-classifier training run needs besides the data paths."""

    model: TextModelConfig = field(default_factory=TextModelConfig)  # from scratch only
    #: pretraining and vocabulary adaptation of the encoder before fine-tuning (all optional)
    encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    normalizer: TextNormalizer = field(default_factory=TextNormalizer)  # applied to every text
    max_length: int = 128  # tokens a text (special tokens included); longer texts are cut
    valid_batch_size: int = 64  # texts a batch in validation
    train: TrainConfig = field(
        default_factory=lambda: text_training(
            valid_every=100, best_metric="dev_accuracy", best_mode="max"
        )
    )  # optimisation and bookkeeping; batches are bucketed by token count

    def __post_init__(self) -> None:
        if self.max_length < 3 or self.valid_batch_size < 1:
            raise ValueError("max_length must be >= 3 and valid_batch_size >= 1")


def build_model(
    config: TextModelConfig, vocab_size: int, labels: Sequence[str], max_length: int
) -> XLMRobertaForSequenceClassification:
    """A randomly initialised classifier for ``labels`` over a vocabulary of ``vocab_size``."""
    model_config = xlmr_config(
        config,
        vocab_size,
        max_length,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    return XLMRobertaForSequenceClassification(model_config)


class TextClassifier:
    """A sequence-classification model, its tokenizer and its text normaliser.

    Args:
        model: a transformers ``*ForSequenceClassification`` model; its labels are
            ``model.config.id2label``.
        tokenizer: its tokenizer (pads, adds special tokens).
        normalizer: applied to each text before tokenizing.
        max_length: longer inputs (in tokens) are cut.

    Example:
        >>> classifier = TextClassifier.load("exp/cls_text/model")  # doctest: +SKIP
        >>> classifier.predict(["march may", "france"])  # doctest: +SKIP
        ['month', 'country']
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        normalizer: TextNormalizer | None = None,
        max_length: int = 128,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.normalizer = normalizer or TextNormalizer()
        self.max_length = max_length
        self.collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")

    @property
    def labels(self) -> list[str]:
        """The class labels, in the order of the logits."""
        id2label = self.model.config.id2label
        return [id2label[i] for i in range(len(id2label))]

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each (normalised) text, cut to ``max_length``."""
        normalized = [self.normalizer(text) for text in texts]
        encoded = self.tokenizer(normalized, truncation=True, max_length=self.max_length)
        return encoded["input_ids"]

    @torch.no_grad()
    def logits(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Scores of each class, shape ``(len(texts), len(labels))``, on the CPU."""
        device = next(self.model.parameters()).device
        out = [torch.zeros(0, len(self.labels))]
        ids = self.encode(texts) if texts else []
        for start in range(0, len(ids), batch_size):
            batch = self.collate([{"input_ids": i} for i in ids[start : start + batch_size]])
            out.append(self.model(**batch.to(device)).logits.float().cpu())
        return torch.cat(out)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Class probabilities, shape ``(len(texts), len(labels))``, rows summing to 1."""
        return self.logits(texts, batch_size).softmax(-1).numpy()

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[str]:
        """The most probable label of each text."""
        labels = self.labels
        return [labels[int(i)] for i in self.logits(texts, batch_size).argmax(-1)]

    def save(self, directory: str | Path) -> Path:
        """Write the model directory (safetensors weights), replacing it whole."""
        directory = Path(directory)
        settings = {"normalizer": to_dict(self.normalizer), "max_length": self.max_length}
        with atomic_dir(directory) as tmp:
            self.model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            text = json.dumps(settings, indent=1) + "\n"
            (tmp / CLASSIFIER_FILE).write_text(text, encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> TextClassifier:
        """Load a model directory written by :meth:`save` (in evaluation mode).

        Raises:
            SpeechmlError: if a file is missing or malformed (naming the directory or file).
        """
        directory = Path(directory)
        settings_path = directory / CLASSIFIER_FILE
        if not settings_path.is_file():
            raise SpeechmlError(
                f"{directory}: not a text classifier ({CLASSIFIER_FILE} is missing)"
            )
        settings = read_json(settings_path)
        unknown = sorted(set(settings) - {"normalizer", "max_length"})
        if unknown or not isinstance(settings.get("max_length"), int):
            raise SpeechmlError(f"{settings_path}: expected 'normalizer' and 'max_length' only")
        normalizer = from_dict(TextNormalizer, settings["normalizer"], str(settings_path))
        tokenizer, model = load_pretrained(directory)
        return cls(model.to(device).eval(), tokenizer, normalizer, settings["max_length"])


def load_pretrained(
    path: str | Path, labels: Sequence[str] | None = None
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """(tokenizer, sequence-classification model) from a local directory, safely.

    Nothing is downloaded and no code from the directory runs; ``.bin`` weights are read with
    ``torch.load(weights_only=True)`` by transformers, safetensors preferred.

    Args:
        path: a directory with ``config.json``, weights and tokenizer files.
        labels: the labels to classify into; None keeps the directory's. If they differ from
            the directory's, the classification head is resized (and re-initialised where its
            shape changes).

    Raises:
        SpeechmlError: if the directory is missing or transformers cannot load it.
    """
    path = Path(path)
    if not (path / "config.json").is_file():
        raise SpeechmlError(f"{path}: not a transformers model directory (config.json is missing)")
    extra: dict[str, Any] = {}
    if labels is not None:
        extra = {
            "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)},
            "ignore_mismatched_sizes": True,
        }
    tokenizer = from_pretrained(AutoTokenizer.from_pretrained, path)
    model = from_pretrained(AutoModelForSequenceClassification.from_pretrained, path, **extra)
    return tokenizer, model


def _labels_in_order(pretrained: Path | None, labels: set[str]) -> list[str]:
    """The training labels in the order of ``pretrained``'s head if it has the same labels."""
    if pretrained is not None:
        known = from_pretrained(AutoConfig.from_pretrained, pretrained).id2label
        ordered = [known[i] for i in sorted(known)]
        if set(ordered) == labels:
            return ordered
        logger.info(
            "%s has other labels %s: its classification head is replaced", pretrained, ordered
        )
    return sorted(labels)


def _check_dev_labels(dev_dir: str | Path, dev_labels: Sequence[str], labels: list[str]) -> None:
    unseen = sorted(set(dev_labels) - set(labels))
    if unseen:
        raise DataError(
            f"labels {unseen} do not occur in training (training has {labels})",
            Path(dev_dir) / "utt2label",
        )


def make_valid_fn(
    classifier: TextClassifier, texts: Sequence[str], labels: Sequence[str], batch_size: int
) -> ValidFn:
    """Validation of the model being trained: ``valid_loss`` and ``dev_accuracy`` on ``texts``."""
    targets = torch.tensor([classifier.labels.index(label) for label in labels])

    def valid_fn(model: torch.nn.Module) -> dict[str, float]:
        classifier.model = model
        logits = classifier.logits(texts, batch_size)
        return {
            "valid_loss": float(torch.nn.functional.cross_entropy(logits, targets)),
            "dev_accuracy": float((logits.argmax(-1) == targets).float().mean()),
        }

    return valid_fn


def classification_loss(
    model: torch.nn.Module, batch: BatchEncoding
) -> tuple[torch.Tensor, dict[str, float]]:
    """The trainer's loss: cross-entropy of the labels, with the batch accuracy as a statistic."""
    output = model(**batch)
    accuracy = (output.logits.argmax(-1) == batch["labels"]).float().mean()
    return output.loss, {"train_accuracy": float(accuracy)}


def _prepared_encoder(
    config: TextClassifierConfig,
    train_dir: str | Path,
    unlabelled: Sequence[str | Path],
    exp_dir: str | Path,
    init_from: str | Path | None,
) -> Path | None:
    """The encoder to fine-tune: ``init_from``, or what ``config.encoder`` makes of it.

    The pretraining reads the reference ``text`` and ``utt2lang`` of ``train_dir``; the
    vocabulary expansion reads the ``text`` of the ``unlabelled`` dirs.
    """
    if not config.encoder.active:
        return None if init_from is None else Path(init_from)
    texts, langs = texts_and_langs([train_dir], config.normalizer)
    new_texts = [
        config.normalizer(text) for path in unlabelled for text in DataDir.read(path).text.values()
    ]
    return prepare_text_encoder(
        config.encoder,
        texts,
        langs,
        new_texts,
        Path(exp_dir) / "encoder",
        init_from,
    )


def train_text_classifier(
    config: TextClassifierConfig,
    train_dir: str | Path,
    dev_dir: str | Path,
    exp_dir: str | Path,
    init_from: str | Path | None = None,
    text_source: str | Path | None = None,
    unlabelled: Sequence[str | Path] = (),
) -> TextClassifier:
    """Train (or resume) a text classifier; the best dev checkpoint is saved to ``exp_dir/model``.

    Args:
        config: the run's settings; ``config.model`` is used from scratch only.
        train_dir, dev_dir: data dirs with ``text`` and ``utt2label``; every dev label must
            occur in training.
        exp_dir: the experiment directory (checkpoints, logs, ``tokenizer`` from scratch,
            ``model``); a run there resumes from its last checkpoint.
        init_from: a local directory of a pretrained transformers encoder (or of an earlier
            ``exp/*/model``) and its tokenizer to fine-tune; None trains a tokenizer and a small
            XLM-RoBERTa from scratch.
        text_source: train on other texts of the training utterances, e.g. ASR hypotheses
            (see :func:`speechml.cls.predict.read_texts`); dev always uses its ``text``.
        unlabelled: data dirs whose ``text`` (of languages without labels) feeds
            ``config.encoder.expansion``.

    Raises:
        DataError: on missing texts or labels, fewer than two classes, or unseen dev labels.
    """
    torch.manual_seed(config.train.seed)
    texts, train_labels = read_labelled_texts(train_dir, text_source)
    dev_texts, dev_labels = read_labelled_texts(dev_dir, min_classes=1)
    pretrained = _prepared_encoder(config, train_dir, unlabelled, exp_dir, init_from)
    labels = _labels_in_order(pretrained, set(train_labels))
    _check_dev_labels(dev_dir, dev_labels, labels)
    if pretrained is not None:
        tokenizer, model = load_pretrained(pretrained, labels)
        max_length = min(config.max_length, tokenizer.model_max_length)
        logger.info("fine-tuning %s", pretrained)
    else:
        normalized = [config.normalizer(text) for text in texts]
        saved = Path(exp_dir) / TOKENIZER_DIR
        model_config = config.model
        tokenizer = saved_or_new_tokenizer(
            saved,
            lambda: train_text_tokenizer(
                normalized, model_config.tokenizer, model_config.vocab_size, config.max_length
            ),
        )
        model = build_model(config.model, len(tokenizer), labels, config.max_length)
        max_length = config.max_length
    classifier = TextClassifier(model, tokenizer, config.normalizer, max_length)
    label_ids = {label: i for i, label in enumerate(labels)}
    dataset = [
        {"input_ids": ids, "labels": label_ids[label]}
        for ids, label in zip(classifier.encode(texts), train_labels, strict=True)
    ]
    logger.info(
        "text classifier: %.2fM parameters, %d tokens, %d classes, %d training texts",
        model.num_parameters() / 1e6,
        len(tokenizer),
        len(labels),
        len(dataset),
    )
    trainer = Trainer(
        model,
        classification_loss,
        dataset,
        [len(item["input_ids"]) for item in dataset],
        classifier.collate,
        config.train,
        exp_dir,
        valid_fn=make_valid_fn(classifier, dev_texts, dev_labels, config.valid_batch_size),
    )
    classifier.model, _ = trainer.fit_best()
    classifier.save(Path(exp_dir) / "model")
    return classifier
