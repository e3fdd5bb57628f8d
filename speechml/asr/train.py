"""Train transducer recognisers through the shared trainer: from scratch, fine-tuned, or adapters.

The experiment config (:class:`AsrTrainConfig`, YAML in ``egs/<lang>/conf/``) gathers the model,
the optimisation, the front end and augmentation. Validation decodes part of the dev set
greedily and reports ``dev_wer``/``dev_cer`` (and the loss), so the best checkpoint is the one
with the lowest dev WER. The result is a model directory (:class:`Recognizer`) at
``exp_dir/model``; an adapter run also writes the adapter alone to ``exp_dir/adapter``.

Every batch carries the language of each utterance; a model with language adapters routes each
utterance to its language's adapter (others run the base).

Example:
    >>> config = load_config(AsrTrainConfig, "conf/asr.yaml")  # doctest: +SKIP
    >>> train_asr(config, "data/train", "data/dev", "exp/base", "data/lang_char",
    ...           "data/train/cmvn.json")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from speechml.asr.adapters import (
    AdapterConfig,
    adapter_languages,
    adapter_percent,
    add_adapters,
    freeze_base,
    save_adapter,
    set_languages,
)
from speechml.asr.data import AsrDataset, collate_asr
from speechml.asr.recognizer import Recognizer
from speechml.asr.search import greedy_search
from speechml.asr.transducer import Transducer, TransducerConfig
from speechml.data.augment import SpecAugment, SpecAugmentConfig
from speechml.data.datadir import DataDir
from speechml.data.features import CmvnStats, FbankConfig
from speechml.data.ops import random_utts, subset_data_dir
from speechml.data.tokenizer import load_tokenizer
from speechml.errors import DataError
from speechml.score.wer import score_wer
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
    adapter: AdapterConfig = field(default_factory=AdapterConfig)  # train-adapter only


def _route(model: torch.nn.Module, batch: dict[str, Any], language: str | None) -> None:
    """Send each utterance to its language's adapter, or all to ``language`` when given."""
    if adapter_languages(model):
        set_languages(
            model, batch["langs"] if language is None else [language] * len(batch["langs"])
        )


def make_loss_fn(
    augment: SpecAugment | None, language: str | None = None
) -> Callable[[torch.nn.Module, Any], Any]:
    """The trainer's loss: SpecAugment (training only) then the transducer loss per token."""

    def loss_fn(model: torch.nn.Module, batch: dict[str, Any]) -> Any:
        _route(model, batch, language)
        feats = batch["feats"]
        if augment is not None:
            feats = augment(feats, batch["feat_lengths"])
        return model(feats, batch["feat_lengths"], batch["targets"], batch["target_lengths"])

    return loss_fn


def make_valid_fn(
    dataset: AsrDataset, recognizer: Recognizer, language: str | None = None, batch_size: int = 32
) -> Callable[[torch.nn.Module], dict[str, float]]:
    """Validation: loss and greedy WER/CER of the causal pass on ``dataset``."""

    def valid_fn(model: torch.nn.Module) -> dict[str, float]:
        device = next(model.parameters()).device
        refs, hyps, loss_sum, tokens = {}, {}, 0.0, 0
        for start in range(0, len(dataset), batch_size):
            batch = collate_asr(
                [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
            )
            _route(model, batch, language)
            feats, lengths = batch["feats"].to(device), batch["feat_lengths"].to(device)
            out = model.encoder(feats, lengths)
            targets, target_lengths = (
                batch["targets"].to(device),
                batch["target_lengths"].to(device),
            )
            loss, _ = model.loss(out, targets, target_lengths)
            n = int(batch["target_lengths"].sum())
            loss_sum, tokens = loss_sum + float(loss) * n, tokens + n
            found = greedy_search(model, out.causal, out.lengths)
            for utt, hyp in zip(batch["utts"], found, strict=True):
                hyps[utt] = recognizer.tokenizer.decode(hyp.tokens)
                refs[utt] = dataset.data.text[utt]
        report = score_wer(refs, hyps)
        return {
            "valid_loss": loss_sum / max(1, tokens),
            "dev_wer": report.total.words.rate,
            "dev_cer": report.total.chars.rate,
        }

    return valid_fn


def train_recognizer(
    recognizer: Recognizer,
    config: AsrTrainConfig,
    train_dir: str | Path,
    dev_dir: str | Path,
    exp_dir: str | Path,
    language: str | None = None,
) -> Recognizer:
    """Train (or resume) ``recognizer.model``'s trainable parameters; keep the final weights.

    The final weights are the best dev checkpoint (or the average of the last
    ``config.average_last`` checkpoints); the model directory is written to ``exp_dir/model``.
    With ``language``, every utterance is routed to that language's adapter (adapter training);
    otherwise each goes to the adapter of its ``utt2lang`` language, if the model has one.
    """
    exp_dir = Path(exp_dir)
    model = recognizer.model
    train_set = recognizer.dataset(DataDir.read(train_dir), with_text=True)
    dev_data = DataDir.read(dev_dir)
    if len(dev_data) > config.valid_utts:
        dev_data = subset_data_dir(dev_data, random_utts(dev_data, config.valid_utts, seed=0))
    dev_set = recognizer.dataset(dev_data, with_text=True)
    augment = SpecAugment(config.spec_augment) if config.use_spec_augment else None
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info(
        "model: %.2fM parameters (%.2fM trainable); %d training utterances (%.2f h)",
        model.num_parameters() / 1e6,
        trainable / 1e6,
        len(train_set),
        sum(train_set.durations) / 3600,
    )
    trainer = Trainer(
        model,
        make_loss_fn(augment, language),
        train_set,
        train_set.durations,
        collate_asr,
        config.train,
        exp_dir,
        valid_fn=make_valid_fn(dev_set, recognizer, language),
    )
    recognizer.model, _ = trainer.fit_best(config.average_last)
    if recognizer.tokenizer.unknown:
        unknown = dict(recognizer.tokenizer.unknown.most_common(10))
        logger.warning("characters outside the vocabulary (mapped to <unk>): %s", unknown)
    recognizer.save(exp_dir / "model")
    return recognizer


def train_asr(
    config: AsrTrainConfig,
    train_dir: str | Path,
    dev_dir: str | Path,
    exp_dir: str | Path,
    tokenizer_dir: str | Path | None = None,
    cmvn_path: str | Path | None = None,
    init_from: str | Path | None = None,
) -> Recognizer:
    """Train a transducer from scratch, or fine-tune every weight of a model directory.

    Args:
        config: the experiment config; from scratch, ``model.vocab_size`` is taken from the
            tokenizer. When fine-tuning, ``config.model`` and ``config.fbank`` are not used: the
            architecture, tokenizer and front end are those of ``init_from``.
        train_dir, dev_dir: data dirs with ``text``.
        exp_dir: the experiment directory.
        tokenizer_dir: a saved tokenizer (``speechml data train-tokenizer``); needed from scratch.
        cmvn_path: CMVN statistics, or None for none (from scratch).
        init_from: a model directory to fine-tune (its adapters, if any, are kept and trained).
    """
    torch.manual_seed(config.train.seed)
    if init_from is not None:
        recognizer = Recognizer.load(init_from)
        recognizer.model.requires_grad_(True)
        logger.info("fine-tuning every weight of %s", init_from)
    elif tokenizer_dir is None:
        raise ValueError("training from scratch needs a tokenizer (or a model to fine-tune)")
    else:
        tokenizer = load_tokenizer(tokenizer_dir)
        model = Transducer(replace(config.model, vocab_size=tokenizer.vocab_size))
        cmvn = CmvnStats.load(cmvn_path) if cmvn_path else None
        recognizer = Recognizer(model, tokenizer, config.fbank, cmvn)
    return train_recognizer(recognizer, config, train_dir, dev_dir, exp_dir)


def _check_one_language(data: DataDir, lang: str) -> None:
    """An adapter learns from its own language only: other languages in utt2lang are an error."""
    others = sorted({code for code in data.utt2lang.values() if code != lang})
    if others:
        count = sum(code != lang for code in data.utt2lang.values())
        raise DataError(
            f"{count} utterances are not {lang} but {', '.join(others)}; an adapter trains on "
            f"its own language (speechml data subset --lang {lang})",
            data.path / "utt2lang" if data.path else "utt2lang",
        )


def train_adapter(
    config: AsrTrainConfig,
    base_dir: str | Path,
    lang: str,
    train_dir: str | Path,
    dev_dir: str | Path,
    exp_dir: str | Path,
) -> Recognizer:
    """Train one language's adapter on a frozen base model directory.

    Only the adapter of ``lang`` is trained (``config.adapter`` sets its size and placement);
    every base weight stays bit-identical. Every utterance of ``train_dir`` and ``dev_dir`` must
    be of ``lang`` (or have no ``utt2lang``). Writes ``exp_dir/model`` (base + adapter, routed by
    ``utt2lang``) and ``exp_dir/adapter`` (the adapter alone, in peft's layout, with the
    fingerprint of its base). The model, tokenizer and front end come from ``base_dir``;
    ``config.model`` and ``config.fbank`` are not used.
    """
    for path in (train_dir, dev_dir):
        _check_one_language(DataDir.read(path), lang)
    torch.manual_seed(config.train.seed)
    recognizer = Recognizer.load(base_dir)
    if lang in adapter_languages(recognizer.model):
        raise ValueError(f"{base_dir} already has an adapter for {lang}")
    add_adapters(recognizer.model, [lang], config.adapter)
    freeze_base(recognizer.model, [lang])
    logger.info("adapter %s: %.2f%% of the model", lang, adapter_percent(recognizer.model, lang))
    recognizer = train_recognizer(recognizer, config, train_dir, dev_dir, exp_dir, language=lang)
    save_adapter(recognizer.model, lang, Path(exp_dir) / "adapter")
    return recognizer
