"""The audio LLM's parts: projector lengths, placeholder splice and label mask, LoRA, saving."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from speechml.errors import DataError
from speechml.llm.model import AudioLlm, LoraSettings, add_lora
from speechml.llm.projector import ProjectorConfig, make_projector
from speechml.llm.prompt import IGNORE, SPEECH_TOKEN, encode_prompt, encode_turn, splice_speech
from speechml.llm.tiny_lm import TinyLmConfig, build_lm, train_chat_tokenizer

TEXTS = ["transcribe the speech", "hello world", "january and march", "what language is it"]


class FrameEncoder(nn.Module):
    """A stand-in speech encoder: 2x subsampling of (B, T, 8) features to (B, T/2, 12)."""

    output_dim = 12

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(16, 12)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor):
        b, t, f = feats.shape
        pairs = feats[:, : t - t % 2].reshape(b, t // 2, 2 * f)
        return self.linear(pairs), lengths // 2


@pytest.fixture(scope="module")
def tokenizer():
    return train_chat_tokenizer(TEXTS * 3, vocab_size=350)


LM_SIZES = TinyLmConfig(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1)


@pytest.fixture(scope="module")
def pretrained_llm(tokenizer):
    """The tiny LLM's weights after a few full steps on the texts: a random LM's tied
    embeddings are too small (std 0.02) for any logit to stand out, whatever LoRA learns."""
    torch.manual_seed(0)
    llm = build_lm(LM_SIZES, tokenizer)
    ids = tokenizer([f"{text}<|im_end|>" for text in TEXTS], padding=True, return_tensors="pt")
    labels = ids["input_ids"].masked_fill(ids["attention_mask"] == 0, IGNORE)
    optimizer = torch.optim.AdamW(llm.parameters(), lr=3e-2)
    for _ in range(40):
        loss = llm(**ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return llm.state_dict()


def tiny_model(tokenizer, state, kind: str = "qformer") -> AudioLlm:
    torch.manual_seed(0)
    llm = build_lm(LM_SIZES, tokenizer)
    llm.load_state_dict(state)
    projector = make_projector(
        ProjectorConfig(kind=kind, window=3, stride=3, hidden_size=16, num_heads=2), 12, 32
    )
    return AudioLlm(
        FrameEncoder(), projector, add_lora(llm, LoraSettings(rank=4, alpha=8)), tokenizer
    )


@pytest.mark.parametrize(
    ("kind", "window", "stride", "queries", "frames", "expected"),
    [("qformer", 4, 4, 1, [10, 7, 1], [3, 2, 1]), ("qformer", 6, 3, 2, [10, 9], [8, 6]),
     ("conv", 1, 5, 1, [10, 11, 4], [2, 3, 1])],
)  # fmt: skip
def test_projector_output_lengths(kind, window, stride, queries, frames, expected):
    config = ProjectorConfig(kind=kind, window=window, stride=stride, num_queries=queries,
                             hidden_size=8, num_heads=2)  # fmt: skip
    projector = make_projector(config, 5, 7).eval()
    lengths = torch.tensor(frames)
    out, out_lengths = projector(torch.randn(len(frames), max(frames), 5), lengths)
    assert out_lengths.tolist() == expected
    assert out.shape == (len(frames), max(expected), 7) and torch.isfinite(out).all()
    # a frame past an utterance's end never changes its embeddings
    noisy = torch.randn(len(frames), max(frames), 5)
    for b, n in enumerate(frames):
        noisy[b, :n] = 0.0
    clean = torch.zeros(len(frames), max(frames), 5)
    a, _ = projector(clean, lengths)
    b_, _ = projector(noisy, lengths)
    for b, n in enumerate(expected):
        if kind == "qformer":
            assert torch.allclose(a[b, :n], b_[b, :n], atol=1e-5)


def test_labels_teach_the_answer_only(tokenizer):
    turn = encode_turn(
        tokenizer, f"{SPEECH_TOKEN}\ntranscribe the speech", "hello world", "be brief"
    )
    learned = [t for t in turn.labels if t != IGNORE]
    assert tokenizer.decode(learned).startswith("hello world<|im_end|>")
    first = turn.labels.index(learned[0])
    assert all(label == IGNORE for label in turn.labels[:first])
    assert turn.input_ids[first:] == learned
    prompt = encode_prompt(tokenizer, f"{SPEECH_TOKEN}\ntranscribe the speech", "be brief")
    assert turn.input_ids[: len(prompt)] == prompt and len(prompt) == first
    with pytest.raises(DataError, match="u1.*more than one"):
        encode_turn(tokenizer, f"{SPEECH_TOKEN}{SPEECH_TOKEN}", "x", utt="u1")
    with pytest.raises(DataError, match="empty answer"):
        encode_turn(tokenizer, "hi", " ")


def test_splice_puts_audio_at_the_placeholder():
    embeds = torch.arange(2 * 5 * 1.0).view(2, 5, 1)
    ids = torch.tensor([[1, 9, 2, 3, 0], [9, 4, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]])
    labels = torch.tensor([[IGNORE, IGNORE, 2, 3, IGNORE], [IGNORE, 4, IGNORE, IGNORE, IGNORE]])
    speech = torch.full((2, 3, 1), -1.0)
    out, out_mask, out_labels = splice_speech(
        embeds, ids, mask, labels, speech, torch.tensor([3, 1]), 9
    )
    assert out[0, :, 0].tolist() == [0.0, -1.0, -1.0, -1.0, 2.0, 3.0]
    assert out[1, :2, 0].tolist() == [-1.0, 6.0]
    assert out_mask.tolist() == [[1] * 6, [1, 1, 0, 0, 0, 0]]
    assert out_labels.tolist() == [[IGNORE] * 4 + [2, 3], [IGNORE, 4] + [IGNORE] * 4]


def batch(model: AudioLlm, n: int = 4):
    turns = [encode_turn(model.tokenizer, f"{SPEECH_TOKEN} transcribe", text) for text in TEXTS[:n]]
    width = max(len(t.input_ids) for t in turns)
    pad = model.tokenizer.pad_token_id
    ids = torch.tensor([t.input_ids + [pad] * (width - len(t.input_ids)) for t in turns])
    mask = torch.tensor([[1] * len(t.input_ids) + [0] * (width - len(t.input_ids)) for t in turns])
    labels = torch.tensor([t.labels + [IGNORE] * (width - len(t.labels)) for t in turns])
    torch.manual_seed(1)
    feats = torch.randn(n, 14, 8)
    return feats, torch.tensor([14, 12, 10, 8])[:n], ids, mask, labels


def test_lora_training_leaves_the_base_llm_bit_identical_and_the_loss_falls(
    tokenizer, pretrained_llm
):
    model = tiny_model(tokenizer, pretrained_llm)
    base = {k: v.clone() for k, v in model.llm.named_parameters() if "lora" not in k}
    encoder = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=3e-2)
    feats, lengths, ids, mask, labels = batch(model)
    losses = []
    for _ in range(40):
        loss = model(feats, lengths, ids, mask, labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    after = dict(model.llm.named_parameters())
    assert all(torch.equal(value, after[key]) for key, value in base.items())
    assert all(torch.equal(v, model.encoder.state_dict()[k]) for k, v in encoder.items())
    assert any("lora" in k for k, p in model.llm.named_parameters() if p.requires_grad)


def test_saved_adapter_reloads_and_reproduces_the_outputs(tokenizer, pretrained_llm, tmp_path):
    model = tiny_model(tokenizer, pretrained_llm, "conv")
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:
                param.add_(0.05 * torch.randn_like(param))
    model.eval()
    feats, lengths, ids, mask, _ = batch(model, 2)
    expected = model(feats, lengths, ids, mask).logits
    model.save_trainable(tmp_path / "adapter")
    names = {p.name for p in (tmp_path / "adapter").iterdir()}
    assert {"projector.safetensors", "adapter_model.safetensors", "adapter_config.json"} <= names
    fresh = tiny_model(tokenizer, pretrained_llm, "conv").eval()
    assert not torch.allclose(fresh(feats, lengths, ids, mask).logits, expected)
    fresh.load_trainable(tmp_path / "adapter")
    assert torch.allclose(fresh(feats, lengths, ids, mask).logits, expected, atol=1e-5)
    size = sum(p.stat().st_size for p in (tmp_path / "adapter").iterdir())
    assert size < 0.5 * sum(p.numel() * 4 for p in fresh.llm.parameters())  # small: no base
