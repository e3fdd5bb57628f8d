"""CTC fine-tuning of a (continued-)pretrained wav2vec2 on little labelled data.

The model is transformers' ``Wav2Vec2ForCTC`` on the encoder of a pretraining checkpoint (ours,
XLS-R or MMS) with a new output layer over a character vocabulary built from the training text
(``Wav2Vec2CTCTokenizer``: ``[PAD]`` is the CTC blank, ``|`` the word delimiter). The
convolutional feature encoder stays frozen, as in wav2vec 2.0 fine-tuning. A related language's
labelled data can be mixed in: ``related_ratio`` of the training utterances then come from it.
Validation decodes the dev set greedily and reports ``dev_wer``/``dev_cer``; the best
checkpoint by ``dev_cer`` is the final model.

The result is written with ``save_pretrained`` (model, tokenizer, feature extractor), so that a
stock ``transformers.pipeline("automatic-speech-recognition", model=<dir>)`` runs it.

Example:
    >>> from speechml.config import load_config
    >>> from speechml.ssl.pretrain import PretrainConfig, pretrain
    >>> w2v = pretrain(load_config(PretrainConfig, "conf/w2v_pretrain.yaml"), "data/train",
    ...                "data/dev", "exp/w2v_cpt")  # a tiny stand-in for XLS-R
    >>> config = load_config(CtcConfig, "conf/w2v_ctc.yaml")
    >>> train_ctc(config, "data/train", "data/dev", "exp/w2v_ctc_cpt", init=w2v)
    PosixPath('exp/w2v_ctc_cpt/model')
    >>> texts = transcribe_data_dir("exp/w2v_ctc_cpt/model", DataDir.read("data/test"))
    >>> len(texts)  # two steps: not yet words
    4
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import send_to_device
from torch import nn
from torch.utils.data import DataLoader
from transformers import (
    Wav2Vec2CTCTokenizer,
    Wav2Vec2ForCTC,
    Wav2Vec2Processor,
)

from speechml.data.datadir import DataDir
from speechml.data.ops import at_most, combine_data_dirs, random_utts, subset_data_dir
from speechml.data.waveform import WaveformCollator, WaveformDataset, attention_mask_for
from speechml.errors import DataError
from speechml.io import atomic_dir, require_model_dir
from speechml.lang.normalize import TextNormalizer
from speechml.model_files import from_pretrained
from speechml.progress import progress_bar
from speechml.score.decode_dir import write_transcripts
from speechml.score.wer import score_wer
from speechml.ssl.pretrain import (
    feature_extractor_for,
    fit_waveforms,
    wav2vec2_training,
)
from speechml.train.trainer import TrainConfig

logger = logging.getLogger(__name__)

PAD, UNK, WORD_DELIMITER = "[PAD]", "[UNK]", "|"


@dataclass
class CtcConfig:
    """Everything a CTC fine-tuning run needs besides the data paths and the start."""

    normalizer: TextNormalizer = field(default_factory=TextNormalizer)  # of every transcript
    freeze_feature_encoder: bool = True  # keep the convolutional feature encoder as it is
    mask_time_prob: float = 0.05  # wav2vec2's SpecAugment-like masking of feature frames
    mask_time_length: int = 5  # frames a masked span
    related_ratio: float = 0.3  # share of training utterances from the related language, if any
    valid_utts: int = 200  # dev utterances a validation (a fixed random subset)
    train: TrainConfig = field(default_factory=lambda: wav2vec2_training(best_metric="dev_cer"))

    def __post_init__(self) -> None:
        if not 0 <= self.related_ratio < 1:
            raise ValueError(f"related_ratio must be in [0, 1), got {self.related_ratio}")
        if not 0 <= self.mask_time_prob < 1:
            raise ValueError(f"mask_time_prob must be in [0, 1), got {self.mask_time_prob}")


def build_vocabulary(texts: list[str]) -> dict[str, int]:
    """Character vocabulary of ``texts``: ``[PAD]`` (blank) 0, ``[UNK]`` 1, ``|`` (space) 2,
    then every other character in sorted order."""
    chars = sorted({c for text in texts for c in text if not c.isspace()})
    return {token: i for i, token in enumerate([PAD, UNK, WORD_DELIMITER, *chars])}


def make_tokenizer(vocabulary: dict[str, int]) -> Wav2Vec2CTCTokenizer:
    """A ``Wav2Vec2CTCTokenizer`` over ``vocabulary`` (see :func:`build_vocabulary`)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vocab.json"
        path.write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
        return Wav2Vec2CTCTokenizer(
            str(path), unk_token=UNK, pad_token=PAD, word_delimiter_token=WORD_DELIMITER
        )


def mix_related(
    target: DataDir, related: DataDir, ratio: float, seed: int = 0
) -> tuple[DataDir, int]:
    """``target`` plus utterances of ``related`` making up ``ratio`` of the result.

    Returns:
        The combined data dir and the number of related utterances in it (all of ``related``
        when it has fewer than the ratio asks for; a warning says so).
    """
    wanted = round(ratio / (1 - ratio) * len(target))
    if wanted > len(related):
        logger.warning(
            "%s: %d utterances, fewer than the %d that related_ratio %.2f asks for: all taken",
            related.path,
            len(related),
            wanted,
            ratio,
        )
    count = min(wanted, len(related))
    if count == 0:
        return target, 0
    chosen = subset_data_dir(related, random_utts(related, count, seed=seed))
    return combine_data_dirs([target, chosen]), count


def _labels(
    tokenizer: Wav2Vec2CTCTokenizer, texts: list[str], device: torch.device
) -> torch.Tensor:
    """Token ids of ``texts`` padded with -100 (ignored by the CTC loss)."""
    ids = [tokenizer(text).input_ids for text in texts]
    labels = torch.full((len(ids), max(map(len, ids))), -100, dtype=torch.long)
    for row, seq in enumerate(ids):
        labels[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return labels.to(device)


@torch.no_grad()
def greedy_transcripts(
    model: Wav2Vec2ForCTC,
    tokenizer: Wav2Vec2CTCTokenizer,
    dataset: WaveformDataset,
    collate: WaveformCollator,
    batch_size: int = 8,
    progress: bool = False,
) -> dict[str, str]:
    """Best-path CTC transcript of every utterance of ``dataset`` (model in eval mode)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    texts: dict[str, str] = {}
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate)
    for batch in progress_bar(loader, desc="decode (ctc)", unit="batch", disable=not progress):
        batch = send_to_device(batch, device)
        logits = model(batch["inputs"], attention_mask=attention_mask_for(model, batch)).logits
        decoded = tokenizer.batch_decode(logits.argmax(dim=-1))
        texts.update(zip(batch["utts"], decoded, strict=True))
    model.train(was_training)
    return texts


def load_ctc_model(init: str | Path, vocab_size: int, config: CtcConfig) -> Wav2Vec2ForCTC:
    """``Wav2Vec2ForCTC`` on the encoder of ``init`` with a new output layer.

    Raises:
        ConfigError: ``init`` is not a transformers model directory.
    """
    model = from_pretrained(
        Wav2Vec2ForCTC.from_pretrained,
        require_model_dir(init),
        dtype=torch.float32,
        vocab_size=vocab_size,
        pad_token_id=0,
        ctc_loss_reduction="mean",
        ctc_zero_infinity=True,
        mask_time_prob=config.mask_time_prob,
        mask_time_length=config.mask_time_length,
        layerdrop=0.0,
        ignore_mismatched_sizes=True,  # a CTC checkpoint of another vocabulary: a new head
    )
    if config.freeze_feature_encoder:
        model.freeze_feature_encoder()
    return model


def train_ctc(
    config: CtcConfig,
    train_dir: str | Path,
    dev_dir: str | Path,
    exp_dir: str | Path,
    init: str | Path,
    related: str | Path | None = None,
) -> Path:
    """Fine-tune (or resume) ``init`` with CTC; write ``exp_dir/model`` (``save_pretrained``).

    Args:
        config: the run's config.
        train_dir: labelled data dir of the target language.
        dev_dir: labelled dev data dir (validation, best checkpoint).
        exp_dir: experiment dir.
        init: a wav2vec2 checkpoint dir (pretraining or CTC) whose encoder starts the model.
        related: a labelled data dir of a related language, mixed in at
            ``config.related_ratio``.

    Raises:
        DataError: an utterance of the training or dev data has an empty transcript.
    """
    torch.manual_seed(config.train.seed)
    train_data = DataDir.read(train_dir)
    if related is not None:
        train_data, count = mix_related(
            train_data, DataDir.read(related), config.related_ratio, config.train.seed
        )
        logger.info("related language: %d utterances of %s mixed in", count, related)
    dev_data = DataDir.read(dev_dir)
    dev_data = at_most(dev_data, config.valid_utts)
    texts = {}
    for data in (train_data, dev_data):
        for utt in data.utts:
            text = config.normalizer(data.text.get(utt, ""))
            if not text.strip():
                raise DataError(f"utterance {utt}: empty or missing transcript", data.path)
            texts[utt] = text
    tokenizer = make_tokenizer(build_vocabulary([texts[u] for u in train_data.utts]))
    model = load_ctc_model(init, len(tokenizer), config)
    extractor = feature_extractor_for(model, Path(init))
    collate = WaveformCollator(extractor)
    train_set = WaveformDataset(train_data, extractor.sampling_rate)
    dev_set = WaveformDataset(dev_data, extractor.sampling_rate)

    def loss_fn(net: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        labels = _labels(tokenizer, [texts[u] for u in batch["utts"]], batch["inputs"].device)
        out = net(batch["inputs"], attention_mask=attention_mask_for(net, batch), labels=labels)
        return out.loss, {}

    def valid_fn(net: nn.Module) -> dict[str, float]:
        hyps = greedy_transcripts(net, tokenizer, dev_set, collate)
        report = score_wer({u: texts[u] for u in dev_data.utts}, hyps, config.normalizer)
        return {"dev_wer": report.total.words.rate, "dev_cer": report.total.chars.rate}

    logger.info(
        "CTC fine-tuning: %.2fM parameters from %s, %d characters, %d utterances (%.2f h)",
        model.num_parameters() / 1e6,
        init,
        len(tokenizer),
        len(train_set),
        sum(train_set.durations) / 3600,
    )
    trained = fit_waveforms(model, loss_fn, train_set, collate, config.train, exp_dir, valid_fn)
    out_dir = Path(exp_dir) / "model"
    with atomic_dir(out_dir) as staging:
        trained.save_pretrained(staging)
        Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(staging)
    return out_dir


def transcribe_data_dir(
    model_dir: str | Path, data: DataDir, batch_size: int = 8
) -> dict[str, str]:
    """Greedy CTC transcripts of ``data`` by a model dir written by :func:`train_ctc`."""
    model_dir = require_model_dir(model_dir)
    processor = from_pretrained(Wav2Vec2Processor.from_pretrained, model_dir)
    model = from_pretrained(Wav2Vec2ForCTC.from_pretrained, model_dir, dtype=torch.float32)
    extractor = processor.feature_extractor
    dataset = WaveformDataset(data, extractor.sampling_rate)
    return greedy_transcripts(
        model, processor.tokenizer, dataset, WaveformCollator(extractor), batch_size, True
    )


def decode_to_dir(
    model_dir: str | Path, data_dir: str | Path, out_dir: str | Path, batch_size: int = 8
) -> dict[str, str]:
    """Write the decode dir ``out_dir`` (``hyp.trn``, ``system.txt``) of the greedy CTC
    transcripts of ``data_dir`` by ``model_dir`` (:func:`transcribe_data_dir`); return them.

    Example:
        >>> from speechml.config import load_config
        >>> from speechml.ssl.pretrain import PretrainConfig, pretrain
        >>> w2v = pretrain(load_config(PretrainConfig, "conf/w2v_pretrain.yaml"), "data/train",
        ...                "data/dev", "exp/w2v")
        >>> ctc = train_ctc(load_config(CtcConfig, "conf/w2v_ctc.yaml"), "data/train",
        ...                 "data/dev", "exp/ctc", init=w2v)
        >>> len(decode_to_dir("exp/ctc/model", "data/test", "exp/ctc/decode_test"))
        4
    """
    texts = transcribe_data_dir(model_dir, DataDir.read(data_dir), batch_size)
    write_transcripts(out_dir, texts, f"wav2vec2 CTC {Path(model_dir).parent.name}: greedy")
    return texts
