"""Training the audio LLM through the shared trainer, in the stages of SALMONN/Typhoon-Audio.

1. :func:`pretrain_lm` (offline default only): the tiny LLM of :mod:`speechml.llm.tiny_lm` and
   its chat tokenizer learn our text as a plain causal LM, so that it is a language model at
   all, and a share of it as chat turns in which the assistant repeats the user's text, so
   that it knows the chat template and can copy what it is given, as the instruction-tuned
   LLMs of SALMONN and Typhoon-Audio do (the alignment stage leans on that: the projector
   learns to give the LLM something to repeat). A real LLM directory skips this.
2. :func:`train_audio_llm` with ``stage="align"``: projector alignment on ASR examples only; the
   LLM (and its fresh LoRA) and the encoder stay frozen; only the projector learns.
3. ``stage="instruct"``: instruction tuning on the mixture; the projector and LoRA learn, from
   the alignment's adapter dir (``init_adapter``).

The experiment dir of stages 2 and 3 holds ``adapter/`` (:meth:`AudioLlm.save_trainable`: the
projector and the LoRA adapter, small) from the best dev checkpoint, besides the trainer's
checkpoints and logs; the base LLM and the encoder are read from where they are.

Example:
    >>> from speechml.config import load_config
    >>> from speechml.llm.mixture import MixtureConfig, build_mixture, write_examples
    >>> texts = list(DataDir.read("data/train").text.values())
    >>> pretrain_lm(load_config(LmPretrainConfig, "conf/llm_lm.yaml"), texts, "exp/llm_lm")
    PosixPath('exp/llm_lm/model')
    >>> mix = load_config(MixtureConfig, "conf/llm_mix.yaml")
    >>> for split in ("train", "dev"):
    ...     _ = write_examples(build_mixture(mix, [DataDir.read(f"data/{split}")]),
    ...                        f"data/llm_{split}")
    >>> config = load_config(AudioLlmConfig, "conf/llm.yaml")
    >>> model = train_audio_llm(config, "data/llm_train", "data/llm_dev", "exp/llm_align",
    ...                         llm_dir="exp/llm_lm/model", encoder_from="exp/base/model",
    ...                         stage="align")
    >>> sorted(path.name for path in Path("exp/llm_align/adapter").iterdir())
    [...'projector.safetensors'...]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from speechml.asr.speech_encoders import ENCODERS, ConformerOptions, HfOptions, WhisperOptions
from speechml.data.datadir import DataDir
from speechml.errors import DataError
from speechml.io import atomic_dir, require_model_dir
from speechml.llm.data import InstructionCollator, InstructionDataset, pad_rows
from speechml.llm.mixture import read_examples
from speechml.llm.model import AudioLlm, LoraSettings, add_lora
from speechml.llm.projector import ProjectorConfig, make_projector
from speechml.llm.prompt import IGNORE
from speechml.llm.tiny_lm import TinyLmConfig, build_lm, train_chat_tokenizer
from speechml.model_files import from_pretrained
from speechml.text.encoder import saved_or_new_tokenizer
from speechml.train.trainer import TrainConfig, Trainer, batched_valid_fn

logger = logging.getLogger(__name__)

TOKENIZER_DIR = "tokenizer"
ADAPTER_DIR = "adapter"


@dataclass
class LmPretrainConfig:
    """The tiny LLM's text pretraining."""

    model: TinyLmConfig = field(default_factory=TinyLmConfig)
    max_length: int = 64  # tokens a text
    valid_texts: int = 200  # texts held out for valid_loss
    echo_ratio: float = 0.5  # training texts also given as a chat turn the assistant repeats
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            max_steps=1000, lr=3e-3, warmup_steps=100, max_batch_seconds=4096.0,
            max_batch_size=64, num_buckets=4, valid_every=250,
        )
    )  # fmt: skip


@dataclass
class AudioLlmConfig:
    """An audio-LLM training stage."""

    encoder: Annotated[str, ENCODERS] = "conformer"  # speech encoder kind (ENCODERS name)
    conformer: ConformerOptions = field(default_factory=ConformerOptions)  # conformer only
    hf: HfOptions = field(default_factory=HfOptions)  # hf only
    whisper: WhisperOptions = field(default_factory=WhisperOptions)  # whisper only
    freeze_encoder: bool = True  # keep the speech encoder fixed
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    system: str = ""  # system prompt of every example ("" for none)
    valid_examples: int = 100  # dev examples of valid_loss
    #: the projector alignment's optimisation
    align: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            max_steps=500, lr=1e-3, warmup_steps=50, max_batch_seconds=60.0,
            max_batch_size=16, valid_every=250,
        )
    )  # fmt: skip
    #: the instruction tuning's optimisation
    instruct: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            max_steps=1500, lr=1e-3, warmup_steps=100, max_batch_seconds=60.0,
            max_batch_size=16, valid_every=250,
        )
    )  # fmt: skip


def causal_lm_loss(model: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict]:
    """The trainer's loss: the model's causal-LM loss on its labels."""
    return model(**batch).loss, {}


def pretrain_lm(config: LmPretrainConfig, texts: Sequence[str], exp_dir: str | Path) -> Path:
    """Train (or resume) the tiny LLM on ``texts``; returns ``exp_dir/model`` (with tokenizer).

    Raises:
        DataError: if there are no more texts than ``valid_texts``.
    """
    texts = [text for text in texts if text.strip()]
    if len(texts) <= config.valid_texts:
        raise DataError(f"{len(texts)} texts: more than valid_texts={config.valid_texts} needed")
    exp_dir = Path(exp_dir)
    tokenizer = saved_or_new_tokenizer(
        exp_dir / TOKENIZER_DIR, lambda: train_chat_tokenizer(texts, config.model.vocab_size)
    )
    torch.manual_seed(config.train.seed)
    model = build_lm(config.model, tokenizer)
    order = torch.randperm(len(texts)).tolist()
    train_texts = [texts[i] for i in order[: -config.valid_texts]]
    valid_texts = [texts[i] for i in order[-config.valid_texts :]]
    echoes = train_texts[: int(config.echo_ratio * len(train_texts))]
    eos = tokenizer.eos_token
    documents = [text + eos for text in train_texts] + [_echo_turn(tokenizer, t) for t in echoes]
    train_items = _token_items(tokenizer, documents, config.max_length)
    valid_items = _token_items(tokenizer, [text + eos for text in valid_texts], config.max_length)
    collate = _text_collate(tokenizer.pad_token_id)

    logger.info(
        "tiny LLM: %.2fM parameters, %d tokens", model.num_parameters() / 1e6, len(tokenizer)
    )
    trainer = Trainer(
        model, causal_lm_loss, train_items, [len(i["input_ids"]) for i in train_items], collate,
        config.train, exp_dir, valid_fn=batched_valid_fn(causal_lm_loss, valid_items, collate, 64),
    )  # fmt: skip
    model, _ = trainer.fit_best()
    with atomic_dir(exp_dir / "model") as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return exp_dir / "model"


def _token_items(
    tokenizer: PreTrainedTokenizerBase, rows: list[str], max_length: int
) -> list[dict[str, list[int]]]:
    """The trainer's items: each row's token ids, cut to ``max_length``."""
    ids = tokenizer(rows, truncation=True, max_length=max_length)["input_ids"]
    return [{"input_ids": row} for row in ids]


def _echo_turn(tokenizer: PreTrainedTokenizerBase, text: str) -> str:
    """A chat exchange (the tokenizer's template) in which the assistant repeats ``text``."""
    messages = [{"role": "user", "content": text}, {"role": "assistant", "content": text}]
    return tokenizer.apply_chat_template(messages, tokenize=False)


def _text_collate(pad_id: int):  # noqa: ANN202 - a collate function
    def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        ids, mask = pad_rows([item["input_ids"] for item in items], pad_id)
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": ids.masked_fill(mask == 0, IGNORE),
        }

    return collate


def build_audio_llm(
    config: AudioLlmConfig,
    llm_dir: str | Path,
    encoder_from: str | Path | None,
    train_data: DataDir,
) -> AudioLlm:
    """The encoder (fresh or from a recogniser/transformers dir), projector and LoRA'd LLM."""
    llm_dir = require_model_dir(llm_dir)
    tokenizer: PreTrainedTokenizerBase = from_pretrained(AutoTokenizer.from_pretrained, llm_dir)
    llm = from_pretrained(AutoModelForCausalLM.from_pretrained, llm_dir, dtype=torch.float32)
    kind = ENCODERS.get_component(config.encoder)
    start = None if encoder_from is None else Path(encoder_from)
    encoder = kind.create(getattr(config, config.encoder), start, train_data)
    projector = make_projector(config.projector, encoder.output_dim, llm.config.hidden_size)
    return AudioLlm(
        encoder, projector, add_lora(llm, config.lora), tokenizer, config.freeze_encoder
    )


def train_audio_llm(
    config: AudioLlmConfig,
    train_dir: str | Path,
    dev_dir: str | Path,
    exp_dir: str | Path,
    llm_dir: str | Path,
    encoder_from: str | Path | None,
    stage: Literal["align", "instruct"],
    init_adapter: str | Path | None = None,
) -> AudioLlm:
    """Train one stage; the best dev checkpoint's projector and LoRA go to ``exp_dir/adapter``.

    Args:
        config: encoder, projector, LoRA and each stage's optimisation.
        train_dir, dev_dir: dirs with ``instructions.jsonl`` (:mod:`speechml.llm.mixture`).
        exp_dir: the experiment dir (a run there resumes).
        llm_dir: the base LLM and its tokenizer.
        encoder_from: a recogniser dir (conformer) or transformers dir (hf); None: fresh.
        stage: ``align`` (ASR examples, projector only) or ``instruct`` (all, projector + LoRA).
        init_adapter: an earlier stage's ``adapter`` dir to start from.
    """
    train_examples = read_examples(train_dir)
    dev_examples = read_examples(dev_dir)
    if stage == "align":
        train_examples = [e for e in train_examples if e.task == "asr"]
        dev_examples = [e for e in dev_examples if e.task == "asr"]
    dev_examples = dev_examples[: config.valid_examples]
    if not train_examples or not dev_examples:
        raise DataError(f"no {'ASR ' if stage == 'align' else ''}examples to train or validate on")
    train = config.align if stage == "align" else config.instruct
    torch.manual_seed(train.seed)
    model = build_audio_llm(config, llm_dir, encoder_from, DataDir.read(train_examples[0].data_dir))
    if init_adapter is not None:
        model.load_trainable(init_adapter)
    if stage == "align":
        model.llm.requires_grad_(False)  # the LoRA too: only the projector aligns
    tokenizer = model.tokenizer
    train_set = InstructionDataset(train_examples, model.encoder, tokenizer, config.system)
    dev_set = InstructionDataset(dev_examples, model.encoder, tokenizer, config.system)
    collate = InstructionCollator(model.encoder.collate, tokenizer.pad_token_id)

    dev_items = [dev_set[i] for i in range(len(dev_set))]

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info(
        "audio LLM (%s): %d trainable parameters, %d examples", stage, trainable, len(train_set)
    )
    trainer = Trainer(
        model, causal_lm_loss, train_set, train_set.durations, collate, train, exp_dir,
        valid_fn=batched_valid_fn(causal_lm_loss, dev_items, collate, 16),
    )  # fmt: skip
    model, _ = trainer.fit_best()
    model.save_trainable(Path(exp_dir) / ADAPTER_DIR)
    return model
