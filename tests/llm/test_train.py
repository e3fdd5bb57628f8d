"""The audio-LLM stages on a toy task: the tiny LLM's text pretraining, projector alignment,
instruction tuning from the alignment's adapter; the base LLM on disk is never written."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
)

from speechml.asr.encoder import EncoderConfig
from speechml.asr.speech_encoders import ConformerOptions, WhisperOptions, WhisperSpeechEncoder
from speechml.data.datadir import DataDir
from speechml.data.features import FbankConfig
from speechml.errors import ConfigError
from speechml.llm.data import InstructionCollator, InstructionDataset
from speechml.llm.evaluate import answer_examples, score_answers
from speechml.llm.mixture import MixtureConfig, build_mixture, read_examples, write_examples
from speechml.llm.model import LoraSettings
from speechml.llm.projector import ProjectorConfig
from speechml.llm.prompt import encode_prompt
from speechml.llm.tiny_lm import TinyLmConfig
from speechml.llm.train import (
    ADAPTER_DIR,
    AudioLlmConfig,
    LmPretrainConfig,
    pretrain_lm,
    train_audio_llm,
)
from speechml.train.trainer import TrainConfig

sys.path.insert(0, str(Path(__file__).parent))
from llm_toys import write_tones  # noqa: E402

TINY_ENCODER = EncoderConfig(
    input_dim=20, d_model=16, num_heads=2, ffn_dim=32, num_layers=1, conv_kernel=3,
    subsampling_channels=4, chunk_size=4, left_chunks=2, dropout=0.0,
)  # fmt: skip


def steps(max_steps: int, lr: float) -> TrainConfig:
    return TrainConfig(
        max_steps=max_steps, lr=lr, warmup_steps=2, max_batch_seconds=None, max_batch_size=8,
        num_buckets=1, log_every=1, valid_every=max_steps, schedule="constant",
    )  # fmt: skip


def tiny_lm(
    texts: list[str], exp: Path, valid_texts: int, train: TrainConfig, echo_ratio: float = 0.5
) -> Path:
    """The tiny LLM (1 layer of 32) pretrained on ``texts``; its model dir."""
    sizes = TinyLmConfig(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, vocab_size=280)
    config = LmPretrainConfig(sizes, valid_texts=valid_texts, echo_ratio=echo_ratio, train=train)
    return pretrain_lm(config, texts, exp)


@pytest.mark.parametrize("echo_ratio, repeats", [(0.5, True), (0.0, False)])
def test_tiny_llm_learns_to_repeat_a_user_turn_from_echo_turns(tmp_path, echo_ratio, repeats):
    words = ("may", "june", "paris", "rome", "red", "blue", "monday", "euro")
    phrases = [f"{a} and {b}" for a in words for b in words if a != b]
    sizes = TinyLmConfig(hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, vocab_size=280)
    config = LmPretrainConfig(sizes, valid_texts=8, echo_ratio=echo_ratio, train=steps(1000, 3e-3))
    lm = pretrain_lm(config, phrases * 4, tmp_path / "lm")
    tokenizer = AutoTokenizer.from_pretrained(lm)
    model = AutoModelForCausalLM.from_pretrained(lm).eval()
    repeated = 0
    for phrase in phrases:
        prompt = torch.tensor([encode_prompt(tokenizer, phrase)])
        out = model.generate(prompt, max_new_tokens=8, do_sample=False)
        answer = tokenizer.decode(out[0, prompt.shape[1] :], skip_special_tokens=True)
        repeated += answer.strip() == phrase
    assert (repeated > 0.8 * len(phrases)) == repeats  # a copy, not one memorised answer
    assert repeats or repeated < 0.1 * len(phrases)


def digest(directory: Path) -> str:
    return hashlib.sha256((directory / "model.safetensors").read_bytes()).hexdigest()


def test_align_then_instruct(tmp_path):
    train = DataDir.read(write_tones(tmp_path / "train", 12, 0))
    dev = DataDir.read(write_tones(tmp_path / "dev", 3, 1))
    texts = [f"a {w} tone" for w in ("high", "low")] * 60 + ["which pitch is it"] * 20
    lm = tiny_lm(texts, tmp_path / "lm", valid_texts=10, train=steps(40, 1e-2))
    before = digest(lm)
    mixture = MixtureConfig(task_weights={"asr": 1.0, "cls": 1.0}, examples=48)
    write_examples(build_mixture(mixture, [train]), tmp_path / "mix_train")
    text_tasks = {"asr": 1.0, "lid": 1.0, "cls": 1.0, "qa": 1.0}
    dev_mixture = build_mixture(MixtureConfig(text_tasks, examples=12, seed=1), [dev])
    # the other tasks first: alignment validates on the ASR examples, wherever they are
    write_examples(sorted(dev_mixture, key=lambda e: e.task == "asr"), tmp_path / "mix_dev")
    config = AudioLlmConfig(
        conformer=ConformerOptions(
            encoder=TINY_ENCODER, fbank=FbankConfig(num_mel_bins=20), cmvn_utts=8
        ),
        projector=ProjectorConfig(window=2, stride=2, hidden_size=16, num_heads=2, num_layers=1),
        lora=LoraSettings(rank=4, alpha=8),
        valid_examples=3,
        align=steps(15, 1e-2),
        instruct=steps(80, 3e-2),
    )  # fmt: skip
    aligned = train_audio_llm(
        config, tmp_path / "mix_train", tmp_path / "mix_dev", tmp_path / "align", lm, None, "align"
    )
    assert all(not p.requires_grad for p in aligned.llm.parameters())
    model = train_audio_llm(
        config, tmp_path / "mix_train", tmp_path / "mix_dev", tmp_path / "instruct", lm, None,
        "instruct", init_adapter=tmp_path / "align" / ADAPTER_DIR,
    )  # fmt: skip
    records = [json.loads(line) for line in open(tmp_path / "instruct" / "log" / "metrics.jsonl")]
    losses = [r["loss"] for r in records if "loss" in r]
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    assert (tmp_path / "instruct" / ADAPTER_DIR / "adapter_model.safetensors").is_file()
    assert digest(lm) == before  # the base LLM is read, never written
    dev_examples = read_examples(tmp_path / "mix_dev")
    answers = answer_examples(model, dev_examples, max_new_tokens=6)
    assert len(answers) == len(dev_examples) and all(isinstance(a, str) for a in answers)
    rows = score_answers(dev_examples, answers)
    assert {row.task for row in rows} <= {"asr", "lid", "cls", "qa"}


def save_tiny_whisper(directory: Path) -> Path:
    """A randomly initialised Whisper (d_model 32, 1 s window) and its feature extractor."""
    torch.manual_seed(0)
    config = WhisperConfig(
        d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=80,
        max_source_positions=50, max_target_positions=32, vocab_size=100, pad_token_id=0,
        bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
    )  # fmt: skip
    WhisperForConditionalGeneration(config).save_pretrained(directory)
    WhisperFeatureExtractor(feature_size=80, chunk_length=1).save_pretrained(directory)
    return directory


def test_whisper_encoder_and_qwen2_by_path(tmp_path):
    train = DataDir.read(write_tones(tmp_path / "train", 4, 0))
    whisper = save_tiny_whisper(tmp_path / "whisper")
    texts = ["a high tone", "a low tone"] * 10
    lm = tiny_lm(texts, tmp_path / "lm", valid_texts=4, train=steps(2, 1e-3))
    assert AutoConfig.from_pretrained(lm).model_type == "qwen2"
    mixture = MixtureConfig({"asr": 1.0, "cls": 1.0}, examples=8)
    write_examples(build_mixture(mixture, [train]), tmp_path / "mix")
    config = AudioLlmConfig(
        encoder="whisper",
        projector=ProjectorConfig(kind="conv", stride=5, hidden_size=16, num_heads=2),
        lora=LoraSettings(rank=2, alpha=4),
        valid_examples=4,
        instruct=steps(2, 1e-3),
    )
    model = train_audio_llm(
        config, tmp_path / "mix", tmp_path / "mix", tmp_path / "exp", lm, whisper, "instruct"
    )
    batch = InstructionCollator(model.encoder.collate, model.tokenizer.pad_token_id)(
        [InstructionDataset(read_examples(tmp_path / "mix"), model.encoder, model.tokenizer)[0]]
    )
    assert batch["inputs"].shape == (1, 80, 100)  # the 1 s window of the feature extractor
    device = next(model.parameters()).device  # the trainer's: a GPU where there is one
    batch = {name: tensor.to(device) for name, tensor in batch.items()}
    frames, lengths = model.encoder(batch["inputs"], batch["input_lengths"])
    assert frames.shape == (1, 50, 32) and 0 < int(lengths[0]) <= 25  # 20 ms frames, < 0.5 s
    assert torch.isfinite(model(**batch).loss)


def test_whisper_dir_without_its_feature_extractor_is_refused(tmp_path):
    whisper = save_tiny_whisper(tmp_path / "whisper")
    (whisper / "preprocessor_config.json").unlink()
    with pytest.raises(ConfigError, match="no preprocessor_config.json"):
        WhisperSpeechEncoder.create(WhisperOptions(), whisper, DataDir())
    (whisper / "config.json").unlink()
    with pytest.raises(ConfigError, match="no config.json"):
        WhisperSpeechEncoder.create(WhisperOptions(), whisper, DataDir())
