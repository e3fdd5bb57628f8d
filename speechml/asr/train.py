"""Train a transducer recogniser on a data dir through the shared trainer.

The experiment config (:class:`AsrTrainConfig`, YAML in ``egs/<lang>/conf/``) gathers the model,
the optimisation, the front end and augmentation. Validation decodes part of the dev set
greedily and reports ``dev_wer``/``dev_cer`` (and the loss), so the best checkpoint is the one
with the lowest dev WER. The result is a model directory (:class:`Recognizer`) at
``exp_dir/model``.

Example:
    >>> config = load_config(AsrTrainConfig, "conf/asr.yaml")  # doctest: +SKIP
    >>> train_asr(config, "data/train", "data/dev", "data/lang_char", "data/train/cmvn.json",
    ...           "exp/base")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from speechml.asr.adapters import BASE_WEIGHTS
from speechml.asr.data import AsrDataset, collate_asr
from speechml.asr.recognizer import Recognizer
from speechml.asr.search import greedy_search
from speechml.asr.transducer import Transducer, TransducerConfig
from speechml.data.augment import SpecAugment, SpecAugmentConfig
from speechml.data.datadir import DataDir
from speechml.data.features import CmvnStats, FbankConfig, GlobalCMVN
from speechml.data.ops import random_utts, subset_data_dir
from speechml.data.tokenizer import load_tokenizer
from speechml.score.wer import score_wer
from speechml.train.checkpoint import average_checkpoints, list_checkpoints, load_model_weights
from speechml.train.trainer import TrainConfig, Trainer

logger = logging.getLogger(__name__)


@dataclass
class AsrTrainConfig:
    """Everything a transducer training run needs besides the data paths."""

    model: TransducerConfig = field(default_factory=TransducerConfig)  # vocab_size from tokenizer
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(best_metric="dev_wer", best_mode="min")
    )  # optimisation and bookkeeping
    fbank: FbankConfig = field(default_factory=FbankConfig)  # front end
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)  # masking
    use_spec_augment: bool = True  # apply SpecAugment to training batches
    valid_utts: int = 200  # dev utterances decoded at each validation (random, fixed)
    average_last: int = 0  # >0: the final model averages the last N checkpoints; 0: best one


def make_loss_fn(augment: SpecAugment | None) -> Callable[[torch.nn.Module, Any], Any]:
    """The trainer's loss: SpecAugment (training only) then the transducer loss per token."""

    def loss_fn(model: torch.nn.Module, batch: dict[str, Any]) -> Any:
        feats = batch["feats"]
        if augment is not None:
            feats = augment(feats, batch["feat_lengths"])
        return model(feats, batch["feat_lengths"], batch["targets"], batch["target_lengths"])

    return loss_fn


def make_valid_fn(
    dataset: AsrDataset, recognizer: Recognizer, batch_size: int = 32
) -> Callable[[torch.nn.Module], dict[str, float]]:
    """Validation: loss and greedy WER/CER of the causal pass on ``dataset``."""

    def valid_fn(model: torch.nn.Module) -> dict[str, float]:
        device = next(model.parameters()).device
        refs, hyps, loss_sum, tokens = {}, {}, 0.0, 0
        for start in range(0, len(dataset), batch_size):
            batch = collate_asr(
                [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
            )
            feats, lengths = batch["feats"].to(device), batch["feat_lengths"].to(device)
            loss, _ = model(
                feats, lengths, batch["targets"].to(device), batch["target_lengths"].to(device)
            )
            n = int(batch["target_lengths"].sum())
            loss_sum, tokens = loss_sum + float(loss) * n, tokens + n
            out = model.encoder(feats, lengths)
            for utt, hyp in zip(
                batch["utts"], greedy_search(model, out.causal, out.lengths), strict=True
            ):
                hyps[utt] = recognizer.tokenizer.decode(hyp.tokens)
                refs[utt] = dataset.data.text[utt]
        report = score_wer(refs, hyps)
        return {
            "valid_loss": loss_sum / max(1, tokens),
            "dev_wer": report.total.words.rate,
            "dev_cer": report.total.chars.rate,
        }

    return valid_fn


def train_asr(
    config: AsrTrainConfig,
    train_dir: str | Path,
    dev_dir: str | Path,
    tokenizer_dir: str | Path,
    cmvn_path: str | Path | None,
    exp_dir: str | Path,
    init_from: str | Path | None = None,
    prepare_model: Callable[[Transducer], None] | None = None,
) -> Recognizer:
    """Train (or resume) a transducer and write the model directory ``exp_dir/model``.

    Args:
        config: the experiment config; ``model.vocab_size`` is taken from the tokenizer.
        train_dir, dev_dir: data dirs with ``text``.
        tokenizer_dir: a saved tokenizer (``speechml data train-tokenizer``).
        cmvn_path: CMVN statistics, or None for none.
        exp_dir: the experiment directory.
        init_from: a model directory whose weights initialise this model (fine-tuning).
        prepare_model: called on the model before training, e.g. to add adapters and freeze
            the base.
    """
    exp_dir = Path(exp_dir)
    tokenizer = load_tokenizer(tokenizer_dir)
    model_config = replace(config.model, vocab_size=tokenizer.vocab_size)
    torch.manual_seed(config.train.seed)
    model = Transducer(model_config)
    if init_from is not None:
        load_model_weights(model, Path(init_from) / BASE_WEIGHTS)
        logger.info("initialised from %s", init_from)
    if prepare_model is not None:
        prepare_model(model)
    cmvn_stats = CmvnStats.load(cmvn_path) if cmvn_path else None
    recognizer = Recognizer(model, tokenizer, config.fbank, cmvn_stats)
    cmvn = GlobalCMVN(cmvn_stats) if cmvn_stats is not None else None
    train_data = DataDir.read(train_dir)
    train_set = AsrDataset(train_data, tokenizer, config.fbank, cmvn)
    dev_data = DataDir.read(dev_dir)
    if len(dev_data) > config.valid_utts:
        dev_data = subset_data_dir(dev_data, random_utts(dev_data, config.valid_utts, seed=0))
    dev_set = AsrDataset(dev_data, tokenizer, config.fbank, cmvn)
    if tokenizer.unknown:
        logger.warning(
            "characters outside the vocabulary: %s", dict(tokenizer.unknown.most_common(10))
        )
    augment = SpecAugment(config.spec_augment) if config.use_spec_augment else None
    logger.info(
        "model: %.2fM parameters (%.2fM trainable); %d training utterances (%.2f h)",
        model.num_parameters() / 1e6,
        sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6,
        len(train_set),
        sum(train_set.durations) / 3600,
    )
    trainer = Trainer(
        model,
        make_loss_fn(augment),
        train_set,
        train_set.durations,
        collate_asr,
        config.train,
        exp_dir,
        valid_fn=make_valid_fn(dev_set, recognizer),
    )
    result = trainer.fit()
    final = trainer.unwrapped
    if config.average_last > 0:
        paths = [c.path for c in list_checkpoints(trainer.checkpoint_dir)][-config.average_last :]
        final.load_state_dict(average_checkpoints(paths))
        logger.info("final model: average of %d checkpoints", len(paths))
    elif result.best is not None:
        load_model_weights(final, result.best.path)
        logger.info(
            "final model: best checkpoint %s (%s)", result.best.path.name, result.best.metrics
        )
    recognizer.model = final.eval()
    recognizer.save(exp_dir / "model")
    return recognizer
