"""The offline default LLM: a small Qwen2- or Llama-style causal LM and a chat tokenizer trained
on our own text.

No LLM can be downloaded here, so the recipes build one: a byte-level BPE tokenizer over the
corpus's text with ChatML's special tokens (``<|endoftext|>`` padding and end of text,
``<|im_start|>``, ``<|im_end|>``) and the speech placeholder, its chat template set; and a causal
LM from a ``Qwen2Config`` or ``LlamaConfig`` of :class:`TinyLmConfig`'s sizes. It must then be
pretrained briefly on the text (:mod:`speechml.llm.train`) so that it is a language model at
all before it learns to listen. A real checkpoint (``AutoModelForCausalLM`` by path) replaces
both.

Example:
    >>> tokenizer = train_chat_tokenizer(["hello world", "გამარჯობა"], vocab_size=300)
    >>> model = build_lm(TinyLmConfig(hidden_size=32, num_layers=1), tokenizer)
    >>> model.config.model_type, model.config.vocab_size == len(tokenizer)
    ('qwen2', True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from speechml.llm.mixture import SPEECH_TOKEN
from speechml.llm.prompt import CHATML_TEMPLATE

END_OF_TEXT = "<|endoftext|>"
CHAT_TOKENS = (END_OF_TEXT, "<|im_start|>", "<|im_end|>", SPEECH_TOKEN)


@dataclass
class TinyLmConfig:
    """Sizes of the causal LM built from scratch."""

    architecture: Literal["qwen2", "llama"] = "qwen2"  # the transformers layout
    hidden_size: int = 128  # width
    num_layers: int = 2  # decoder layers
    num_heads: int = 4  # attention heads
    num_kv_heads: int = 2  # key/value heads (grouped-query attention)
    intermediate_size: int = 256  # width of the MLP
    vocab_size: int = 2000  # most tokens of the BPE tokenizer (special ones included)
    max_positions: int = 512  # longest sequence (prompt + audio embeddings + answer)

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ValueError("hidden_size % num_heads and num_heads % num_kv_heads must be 0")
        if min(self.num_layers, self.intermediate_size, self.max_positions) < 1:
            raise ValueError("num_layers, intermediate_size and max_positions must be >= 1")


def train_chat_tokenizer(texts: Sequence[str], vocab_size: int = 2000) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer of ``texts`` with ChatML's tokens and template.

    Byte-level: every string has an encoding, whatever its script, and decodes back exactly.
    """
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(CHAT_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token=END_OF_TEXT,
        additional_special_tokens=list(CHAT_TOKENS[1:]),
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_lm(config: TinyLmConfig, tokenizer: PreTrainedTokenizerFast) -> PreTrainedModel:
    """A randomly initialised causal LM of ``config`` over ``tokenizer``'s vocabulary."""
    sizes = {
        "vocab_size": len(tokenizer),
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads,
        "num_key_value_heads": config.num_kv_heads,
        "intermediate_size": config.intermediate_size,
        "max_position_embeddings": config.max_positions,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.pad_token_id,
        "tie_word_embeddings": True,
    }
    if config.architecture == "qwen2":
        return Qwen2ForCausalLM(Qwen2Config(**sizes))
    return LlamaForCausalLM(LlamaConfig(**sizes))
