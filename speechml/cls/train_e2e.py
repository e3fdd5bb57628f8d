"""Train an end-to-end speech classifier through the shared trainer.

The label set is that of the training dir's ``utt2label`` (every utterance needs a label).
Validation reports the dev accuracy (``dev_accuracy``) and the cross-entropy (``valid_loss``)
over the dev utterances whose label the model knows; a dev label outside the label set counts
as an error in ``dev_accuracy``. The final model is the best dev-accuracy checkpoint, written as a
classifier directory (:class:`~speechml.cls.speech_model.SpeechClassifier`) to
``exp_dir/model``.

Example:
    >>> from speechml.config import load_config
    >>> config = load_config(E2eConfig, "conf/e2e.yaml")
    >>> train_e2e(config, "data/train", "data/dev", "exp/e2e",
    ...           init_from="exp/base/model")
    PosixPath('exp/e2e/model')
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from speechml.asr.speech_encoders import ENCODERS
from speechml.cls.labels import utt_labels
from speechml.cls.speech_model import SpeechClassifier, SpeechClassifierConfig
from speechml.data.augment import SpecAugment, SpecAugmentConfig
from speechml.data.datadir import DataDir
from speechml.data.ops import at_most
from speechml.train.trainer import TrainConfig, Trainer

logger = logging.getLogger(__name__)

#: label id of an utterance whose label is not in the model's label set
UNKNOWN_LABEL = -1


@dataclass
class E2eConfig:
    """Everything an end-to-end classifier training run needs besides the data paths."""

    model: SpeechClassifierConfig = field(default_factory=SpeechClassifierConfig)  # the model
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(best_metric="dev_accuracy", best_mode="max")
    )  # optimisation and bookkeeping
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)  # masking
    use_spec_augment: bool = True  # conformer: mask training features (hf: its own config)
    freeze_encoder: bool = False  # train the pooling and the head only (a linear probe)
    valid_utts: int = 500  # dev utterances scored at each validation (random, fixed)


def labelled_dataset(classifier: SpeechClassifier, data: DataDir) -> Dataset:
    """``data`` with the id of each utterance's label (:data:`UNKNOWN_LABEL` if unknown)."""
    ids = {label: i for i, label in enumerate(classifier.labels)}
    names = list(utt_labels(data).values())
    labels = [ids.get(label, UNKNOWN_LABEL) for label in names]
    unknown = sorted({label for label in names if label not in ids})
    if unknown:
        logger.warning(
            "%s: %d utterances have labels the model does not know (%s); they count as errors",
            data.path,
            labels.count(UNKNOWN_LABEL),
            ", ".join(unknown[:10]),
        )
    return classifier.dataset(data, labels)


def make_loss_fn(
    augment: SpecAugment | None,
) -> Callable[[torch.nn.Module, dict[str, Any]], tuple[torch.Tensor, dict[str, float]]]:
    """The trainer's loss: optional SpecAugment of the inputs, then cross-entropy."""

    def loss_fn(model: torch.nn.Module, batch: dict[str, Any]) -> Any:
        inputs, lengths = batch["inputs"], batch["input_lengths"]
        if augment is not None:
            inputs = augment(inputs, lengths)
        logits = model(inputs, lengths)
        loss = F.cross_entropy(logits, batch["labels"])
        accuracy = (logits.argmax(dim=-1) == batch["labels"]).float().mean()
        return loss, {"train_accuracy": float(accuracy)}

    return loss_fn


def make_valid_fn(
    classifier: SpeechClassifier, dataset: Dataset, batch_size: int = 16
) -> Callable[[torch.nn.Module], dict[str, float]]:
    """Validation: accuracy over ``dataset`` and cross-entropy over its known labels."""

    def valid_fn(model: torch.nn.Module) -> dict[str, float]:
        device = next(model.parameters()).device
        correct, total, loss_sum, known = 0, 0, 0.0, 0
        for batch in classifier.loader(dataset, batch_size):
            labels = batch["labels"].to(device)
            logits = model(batch["inputs"].to(device), batch["input_lengths"].to(device))
            correct += int((logits.argmax(dim=-1) == labels).sum())
            total += len(labels)
            seen = labels != UNKNOWN_LABEL
            if bool(seen.any()):
                loss_sum += float(F.cross_entropy(logits[seen], labels[seen], reduction="sum"))
                known += int(seen.sum())
        return {"dev_accuracy": correct / max(1, total), "valid_loss": loss_sum / max(1, known)}

    return valid_fn


def train_e2e(
    config: E2eConfig,
    train_dir: str | Path,
    dev_dir: str | Path,
    exp_dir: str | Path,
    init_from: str | Path | None = None,
) -> Path:
    """Train (or resume) a speech classifier; write the best dev checkpoint's model.

    Args:
        config: the experiment config.
        train_dir: data dir with ``utt2label``; its labels are the model's label set.
        dev_dir: data dir with ``utt2label``, for validation and the best checkpoint.
        exp_dir: the experiment directory (checkpoints, logs, ``model/``).
        init_from: ``conformer``: a recogniser directory whose encoder, front end and CMVN
            the classifier starts from (None: a fresh encoder, CMVN from ``train_dir``);
            ``hf``: the transformers model directory to start from (required).

    Returns:
        the classifier directory ``exp_dir/model``.

    Raises:
        DataError: if a data dir lacks ``utt2label``, an utterance lacks a label or the
            training dir has a single label (see :func:`speechml.cls.labels.utt_labels`).
    """
    exp_dir = Path(exp_dir)
    train_data, dev_data = DataDir.read(train_dir), DataDir.read(dev_dir)
    labels = sorted(set(utt_labels(train_data, min_classes=2).values()))
    utt_labels(dev_data)
    dev_data = at_most(dev_data, config.valid_utts)
    torch.manual_seed(config.train.seed)
    kind = ENCODERS.get_component(config.model.encoder)
    options = getattr(config.model, config.model.encoder)
    source = None if init_from is None else Path(init_from)
    classifier = SpeechClassifier(config.model, kind.create(options, source, train_data), labels)
    if config.freeze_encoder:
        classifier.encoder.requires_grad_(False)
    train_set = labelled_dataset(classifier, train_data)
    dev_set = labelled_dataset(classifier, dev_data)
    use_augment = config.use_spec_augment and config.model.encoder == "conformer"
    augment = SpecAugment(config.spec_augment) if use_augment else None
    trainable = sum(p.numel() for p in classifier.parameters() if p.requires_grad)
    logger.info(
        "classifier: %.2fM parameters (%.2fM trainable), %d labels; %d training utterances",
        sum(p.numel() for p in classifier.parameters()) / 1e6,
        trainable / 1e6,
        len(labels),
        len(train_set),
    )
    trainer = Trainer(
        classifier,
        make_loss_fn(augment),
        train_set,
        train_set.durations,
        classifier.collate,
        config.train,
        exp_dir,
        valid_fn=make_valid_fn(classifier, dev_set),
    )
    trained, _ = trainer.fit_best()
    return trained.save(exp_dir / "model")
