"""The audio LLM: a speech encoder (frozen by default), a projector and a causal LM with LoRA.

``AudioLlm(encoder, projector, llm, tokenizer)``: the encoder is any module with
``output_dim`` and ``forward(inputs, lengths) -> (frames (B, T, D), frame_lengths (B,))`` (the
speech encoders of :mod:`speechml.cls.speech_model`: our Conformer on fbank, or a transformers
waveform encoder by path); the projector maps its frames to the LLM's embedding width
(:mod:`speechml.llm.projector`); the LLM is any ``AutoModelForCausalLM``, wrapped by peft's LoRA
(:func:`add_lora`) so that its own weights stay bit-identical. A batch's instructions hold the
speech placeholder where the audio goes (:mod:`speechml.llm.prompt`).

What is trained, and saved alone (:meth:`AudioLlm.save_trainable`): the projector
(``projector.safetensors``) and the LoRA adapter (peft's ``adapter_config.json`` +
``adapter_model.safetensors``); the encoder too when it is not frozen
(``encoder.safetensors``). :meth:`AudioLlm.load_trainable` puts them back onto the same base.

Example:
    >>> from transformers import AutoModelForCausalLM, AutoTokenizer
    >>> from speechml.asr.speech_encoders import ConformerOptions, ConformerSpeechEncoder
    >>> from speechml.config import load_config
    >>> from speechml.data.datadir import DataDir
    >>> from speechml.llm.data import InstructionCollator, InstructionDataset
    >>> from speechml.llm.mixture import MixtureConfig, build_mixture
    >>> from speechml.llm.projector import ProjectorConfig, make_projector
    >>> train = DataDir.read("data/train")
    >>> encoder = ConformerSpeechEncoder.create(ConformerOptions(), Path("exp/base/model"), train)
    >>> llm = AutoModelForCausalLM.from_pretrained("exp/llm_lm/model")  # the tiny LLM
    >>> tok = AutoTokenizer.from_pretrained("exp/llm_lm/model")
    >>> projector = make_projector(ProjectorConfig(hidden_size=16, num_heads=2),
    ...                            encoder.output_dim, llm.config.hidden_size)
    >>> model = AudioLlm(encoder, projector, add_lora(llm, LoraSettings()), tok)
    >>> examples = build_mixture(load_config(MixtureConfig, "conf/llm_mix.yaml"), [train])
    >>> dataset = InstructionDataset(examples, encoder, tok)
    >>> batch = InstructionCollator(encoder.collate, tok.pad_token_id)([dataset[0], dataset[1]])
    >>> out = model(**batch)
    >>> out.loss.backward()  # into the projector and the LoRA weights
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model, set_peft_model_state_dict
from peft.utils import load_peft_weights
from torch import Tensor, nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.modeling_outputs import CausalLMOutputWithPast

from speechml.errors import SpeechmlError
from speechml.io import atomic_dir, reading
from speechml.llm.projector import Projector
from speechml.llm.prompt import speech_token_id, splice_speech
from speechml.model_files import load_safetensors, load_state_into, save_safetensors

PROJECTOR_FILE = "projector.safetensors"
ENCODER_FILE = "encoder.safetensors"


@dataclass
class LoraSettings:
    """peft LoRA on the LLM (Typhoon-Audio: rank 8, alpha 32)."""

    rank: int = 8  # r
    alpha: int = 32  # lora_alpha
    dropout: float = 0.05  # lora_dropout
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"]
    )  # the LLM's linear layers that get adapters (Qwen2/Llama names)

    def __post_init__(self) -> None:
        if self.rank < 1 or self.alpha < 1 or not 0.0 <= self.dropout < 1.0:
            raise ValueError("rank and alpha must be >= 1 and dropout in [0, 1)")
        if not self.target_modules:
            raise ValueError("target_modules must name at least one module")


def add_lora(llm: PreTrainedModel, settings: LoraSettings) -> PeftModel:
    """Wrap ``llm`` with fresh LoRA adapters; its own weights are frozen and left as they are."""
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(llm, config)


class AudioLlm(nn.Module):
    """Speech encoder -> projector -> LLM input embeddings at the placeholder.

    Args:
        encoder: the speech encoder (``output_dim``; ``forward(inputs, lengths)``).
        projector: frames -> LLM embeddings.
        llm: the causal LM, usually LoRA-wrapped.
        tokenizer: its tokenizer; the speech placeholder is added if missing (and the LLM's
            embeddings resized).
        freeze_encoder: keep the encoder's weights fixed (default) and run it without gradients.
    """

    def __init__(
        self,
        encoder: nn.Module,
        projector: Projector,
        llm: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        freeze_encoder: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = projector
        self.llm = llm
        self.tokenizer = tokenizer
        self.speech_id = speech_token_id(tokenizer)
        if self.speech_id >= llm.get_input_embeddings().weight.shape[0]:
            llm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        self.freeze_encoder = freeze_encoder
        if freeze_encoder:
            encoder.requires_grad_(False)

    def encode_speech(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Projected audio ``(B, S, E)`` and its lengths ``(B,)``."""
        if self.freeze_encoder:
            self.encoder.eval()
            with torch.no_grad():
                frames, frame_lengths = self.encoder(inputs, lengths)
        else:
            frames, frame_lengths = self.encoder(inputs, lengths)
        return self.projector(frames, frame_lengths)

    def embed(
        self,
        inputs: Tensor,
        input_lengths: Tensor,
        input_ids: Tensor,
        attention_mask: Tensor,
        labels: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """The LLM's ``inputs_embeds``, attention mask and labels with the audio spliced in."""
        speech, speech_lengths = self.encode_speech(inputs, input_lengths)
        text = self.llm.get_input_embeddings()(input_ids)
        return splice_speech(
            text, input_ids, attention_mask, labels, speech, speech_lengths, self.speech_id
        )

    def forward(
        self,
        inputs: Tensor,
        input_lengths: Tensor,
        input_ids: Tensor,
        attention_mask: Tensor,
        labels: Tensor | None = None,
    ) -> CausalLMOutputWithPast:
        """The LLM's output (and loss on the answers when ``labels`` are given)."""
        embeds, mask, spliced = self.embed(inputs, input_lengths, input_ids, attention_mask, labels)
        return self.llm(inputs_embeds=embeds, attention_mask=mask, labels=spliced)

    @torch.no_grad()
    def generate(
        self,
        inputs: Tensor,
        input_lengths: Tensor,
        input_ids: Tensor,
        attention_mask: Tensor,
        max_new_tokens: int = 32,
    ) -> list[str]:
        """Greedy answers to a batch of prompts (ids up to the assistant's turn)."""
        embeds, mask, _ = self.embed(inputs, input_lengths, input_ids, attention_mask)
        # left-align for generation: move each row's padding to the front
        lengths = mask.sum(1)
        width = embeds.shape[1]
        shifted = torch.zeros_like(embeds)
        shifted_mask = torch.zeros_like(mask)
        for b, n in enumerate(lengths.tolist()):
            shifted[b, width - n :] = embeds[b, :n]
            shifted_mask[b, width - n :] = 1
        out = self.llm.generate(
            inputs_embeds=shifted,
            attention_mask=shifted_mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        return [text.strip() for text in self.tokenizer.batch_decode(out, skip_special_tokens=True)]

    def save_trainable(self, directory: str | Path) -> Path:
        """Write the projector, the LoRA adapter (and an unfrozen encoder) alone, atomically."""
        if not isinstance(self.llm, PeftModel):
            raise SpeechmlError("the LLM has no LoRA adapter to save")
        with atomic_dir(directory) as tmp:
            save_safetensors(self.projector, tmp / PROJECTOR_FILE)
            self.llm.save_pretrained(tmp)
            if not self.freeze_encoder:
                save_safetensors(self.encoder, tmp / ENCODER_FILE)
        return Path(directory)

    def load_trainable(self, directory: str | Path) -> None:
        """Load what :meth:`save_trainable` wrote onto this model's base (safetensors only).

        Raises:
            SpeechmlError: if a file is missing or does not fit the model (naming it).
        """
        directory = Path(directory)
        for name in (PROJECTOR_FILE, "adapter_model.safetensors"):
            if not (directory / name).is_file():
                raise SpeechmlError(
                    f"{directory}: not an audio-LLM adapter dir ({name} is missing)"
                )
        if not isinstance(self.llm, PeftModel):
            raise SpeechmlError("the LLM has no LoRA adapter to load into")
        projector_path, encoder_path = directory / PROJECTOR_FILE, directory / ENCODER_FILE
        load_state_into(self.projector, load_safetensors(projector_path), projector_path)
        if encoder_path.is_file():
            load_state_into(self.encoder, load_safetensors(encoder_path), encoder_path)
        with reading(directory / "adapter_model.safetensors", "LoRA adapter"):
            result = set_peft_model_state_dict(self.llm, load_peft_weights(str(directory)))
        missing = [key for key in result.unexpected_keys if "lora" in key]
        if missing:
            raise SpeechmlError(f"{directory}: adapter weights the model lacks: {missing[:3]}")
