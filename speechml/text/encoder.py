"""The small text encoder of the toolkit: its tokenizer and its XLM-RoBERTa configuration.

What the text classifier (:mod:`speechml.cls.text_model`) and the text pretraining of
:mod:`speechml.text.pretrain` build from scratch: a subword tokenizer (``tokenizers`` Unigram or
BPE over the training text, with XLM-RoBERTa's special tokens ``<s> <pad> </s> <unk> <mask>`` =
ids 0..4) and an encoder in XLM-RoBERTa's layout (:class:`TextModelConfig`: 128 hidden, 2
layers, 2 heads by default), so that a real XLM-R or Glot500 directory can stand in for it.

Example:
    >>> tok = train_text_tokenizer(["january march", "январь март"], vocab_size=60)
    >>> config = xlmr_config(TextModelConfig(hidden_size=32), len(tok), max_length=16)
    >>> config.hidden_size, config.max_position_embeddings
    (32, 18)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoTokenizer,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    XLMRobertaConfig,
)

from speechml.io import atomic_dir
from speechml.train.trainer import TrainConfig

logger = logging.getLogger(__name__)

#: XLM-RoBERTa's special tokens, in id order: bos/cls, pad, eos/sep, unk, mask.
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
#: RoBERTa numbers positions after the padding id, so 2 position embeddings go unused.
POSITION_OFFSET = 2


@dataclass
class TextModelConfig:
    """The encoder built from scratch (XLM-RoBERTa layout) and its tokenizer."""

    hidden_size: int = 128  # width of the encoder
    num_layers: int = 2  # transformer layers
    num_heads: int = 2  # attention heads (hidden_size must be a multiple)
    intermediate_size: int = 256  # width of the feed-forward blocks
    dropout: float = 0.1  # dropout of hidden states and attention weights
    tokenizer: Literal["unigram", "bpe"] = "unigram"  # subword model trained on the train text
    vocab_size: int = 4000  # most tokens (special ones included); small texts give fewer

    def __post_init__(self) -> None:
        if min(self.hidden_size, self.num_layers, self.num_heads, self.intermediate_size) < 1:
            raise ValueError("hidden_size, num_layers, num_heads, intermediate_size must be >= 1")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of num_heads")
        if not 0.0 <= self.dropout < 1.0 or self.vocab_size <= len(SPECIAL_TOKENS):
            raise ValueError(f"dropout must be in [0, 1) and vocab_size > {len(SPECIAL_TOKENS)}")


def train_text_tokenizer(
    texts: Sequence[str],
    kind: Literal["unigram", "bpe"] = "unigram",
    vocab_size: int = 4000,
    max_length: int = 128,
) -> PreTrainedTokenizerFast:
    """Train a subword tokenizer on ``texts``, wrapped for transformers.

    Words are split at spaces (a word starts with ``▁``, as in sentencepiece); encoding adds
    ``<s>`` ... ``</s>``; ids 0..4 are :data:`SPECIAL_TOKENS`; a character never seen in
    training becomes ``<unk>``.

    Args:
        texts: the training texts (already normalised).
        kind: ``unigram`` or ``bpe``.
        vocab_size: the most tokens, special ones included.
        max_length: the tokenizer's ``model_max_length``.

    Example:
        >>> tok = train_text_tokenizer(["january march", "франция"], vocab_size=50)
        >>> tok("march")["input_ids"][0], tok.pad_token_id
        (0, 1)
    """
    special = list(SPECIAL_TOKENS)
    if kind == "unigram":
        model = models.Unigram()
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size, special_tokens=special, unk_token="<unk>"
        )
    else:
        model = models.BPE(unk_token="<unk>")
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special)
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        cls_token="<s>",
        pad_token="<pad>",
        eos_token="</s>",
        sep_token="</s>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=max_length,
    )


def saved_or_new_tokenizer(
    saved: Path, train: Callable[[], PreTrainedTokenizerBase]
) -> PreTrainedTokenizerBase:
    """The tokenizer of a run from scratch: made by ``train`` once and kept in ``saved``.

    A resumed run reuses the saved one, so that its vocabulary is the one of the checkpoints.
    """
    if saved.is_dir():
        logger.info("tokenizer of an earlier run: %s", saved)
        return AutoTokenizer.from_pretrained(saved, local_files_only=True)
    tokenizer = train()
    with atomic_dir(saved) as tmp:
        tokenizer.save_pretrained(tmp)
    return tokenizer


def text_training(**overrides: Any) -> TrainConfig:
    """The default optimisation of a text-encoder run; ``max_batch_seconds`` counts tokens.

    Batches are bucketed by token count (the trainer's "durations" are token counts here).
    """
    defaults: dict[str, Any] = {
        "max_steps": 1000,
        "lr": 1e-3,
        "warmup_steps": 100,
        "max_batch_seconds": 4096.0,  # here: padded tokens a batch
        "num_buckets": 4,
    }
    return TrainConfig(**{**defaults, **overrides})


def xlmr_config(
    config: TextModelConfig, vocab_size: int, max_length: int, **extra: Any
) -> XLMRobertaConfig:
    """The XLM-RoBERTa configuration of ``config`` for a vocabulary and an input length.

    Args:
        config: the sizes.
        vocab_size: tokens of the tokenizer.
        max_length: the longest input in tokens (special tokens included).
        extra: more XLMRobertaConfig fields (e.g. ``id2label``).
    """
    return XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        intermediate_size=config.intermediate_size,
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout,
        max_position_embeddings=max_length + POSITION_OFFSET,
        type_vocab_size=1,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        **extra,
    )
