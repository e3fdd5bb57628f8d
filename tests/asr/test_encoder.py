"""Streaming Conformer encoder: causality, chunk masks, streaming == full, padding invariance."""

from __future__ import annotations

import pytest
import torch

from speechml.asr.encoder import (
    ConformerEncoder,
    EncoderConfig,
    chunk_attention_mask,
    chunk_causal_depthwise,
)

CONFIG = EncoderConfig(
    input_dim=20,
    d_model=32,
    num_heads=2,
    ffn_dim=64,
    num_layers=2,
    num_second_pass_layers=1,
    conv_kernel=5,
    subsampling_channels=8,
    chunk_size=4,
    left_chunks=2,
)


@pytest.fixture()
def encoder() -> ConformerEncoder:
    torch.manual_seed(0)
    return ConformerEncoder(CONFIG).eval()


def test_chunk_mask_sees_own_chunk_and_limited_history():
    mask = chunk_attention_mask(8, chunk_size=2, left_chunks=1)
    assert mask[0].tolist() == [True, True, False, False, False, False, False, False]
    assert mask[5].tolist() == [False, False, True, True, True, True, False, False]


def test_shapes_and_lengths(encoder):
    out = encoder(torch.randn(3, 50, 20), torch.tensor([50, 33, 4]))
    assert out.causal.shape == (3, 13, 32)
    assert out.second_pass is not None and out.second_pass.shape == (3, 13, 32)
    assert out.lengths.tolist() == [13, 9, 1]
    assert torch.isfinite(out.causal).all() and torch.isfinite(out.second_pass).all()


def test_future_frames_never_change_past_chunks_of_the_causal_pass(encoder):
    feats = torch.randn(1, 64, 20)
    changed = feats.clone()
    changed[:, 40:] = torch.randn(1, 24, 20)  # frames 40.. feed output frames >= 10 (chunk 2..)
    lengths = torch.tensor([64])
    a, b = encoder(feats, lengths), encoder(changed, lengths)
    # output frame t sees input frames <= 4t; chunks are 4 output frames: chunks 0-1 are frames 0-7
    assert torch.equal(a.causal[:, :8], b.causal[:, :8])
    assert not torch.allclose(a.causal[:, 8:], b.causal[:, 8:])
    assert not torch.allclose(
        a.second_pass[:, :8], b.second_pass[:, :8]
    )  # the second pass sees all


def test_chunk_causal_convolution_sees_its_chunk_and_the_past_only():
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(3, 3, 5, groups=3)
    y = torch.randn(2, 3, 11)
    out = chunk_causal_depthwise(conv, y, chunk_size=4)
    for t in range(11):
        end = min(11, (t // 4 + 1) * 4)  # the first frame after t's chunk
        window = torch.stack([y[:, :, j] if 0 <= j < end else 0 * y[:, :, 0] for j in
                              range(t - 2, t + 3)], dim=2)  # fmt: skip
        torch.testing.assert_close(out[:, :, t], conv(window)[:, :, 0])
    centred = torch.nn.functional.conv1d(y, conv.weight, conv.bias, padding=2, groups=3)
    torch.testing.assert_close(chunk_causal_depthwise(conv, y, chunk_size=11), centred)
    torch.testing.assert_close(chunk_causal_depthwise(conv, y, chunk_size=100), centred)


@pytest.mark.parametrize("chunk_size", [2, 4, 8])
@pytest.mark.parametrize("positions", ["none", "sinusoidal"])
def test_streaming_equals_full_pass_with_the_same_chunk_mask(positions, chunk_size):
    torch.manual_seed(0)
    config = EncoderConfig(**{**CONFIG.__dict__, "positional_encoding": positions})
    encoder = ConformerEncoder(config).eval()
    feats = torch.randn(1, 75, 20)
    full = encoder(feats, torch.tensor([75]), chunk_size=chunk_size).causal
    state = encoder.init_stream(chunk_size=chunk_size)
    pieces = []
    step = 4 * chunk_size
    for start in range(0, 75, step):
        out, state = encoder.forward_chunk(feats[:, start : start + step], state)
        pieces.append(out)
    streamed = torch.cat(pieces, dim=1)
    assert streamed.shape == full.shape
    torch.testing.assert_close(streamed, full, rtol=1e-5, atol=1e-5)


def test_padded_batch_equals_single_utterances(encoder):
    lengths = [61, 40, 17]
    feats = [torch.randn(n, 20) for n in lengths]
    batch = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    out = encoder(batch, torch.tensor(lengths))
    for i, single in enumerate(feats):
        alone = encoder(single[None], torch.tensor([lengths[i]]))
        n = int(alone.lengths[0])
        torch.testing.assert_close(out.causal[i, :n], alone.causal[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(
            out.second_pass[i, :n], alone.second_pass[0], rtol=1e-5, atol=1e-5
        )


def test_full_context_sees_the_future_and_ignores_padding(encoder):
    feats = torch.randn(1, 64, 20)
    changed = feats.clone()
    changed[:, 60:] = torch.randn(1, 4, 20)
    lengths = torch.tensor([64])
    full, other = encoder(feats, lengths, chunk_size=0), encoder(changed, lengths, chunk_size=0)
    assert not torch.allclose(full.causal[:, :4], other.causal[:, :4])
    one_chunk = encoder(feats, lengths, chunk_size=16, left_chunks=-1)
    torch.testing.assert_close(full.causal, one_chunk.causal)
    padded = torch.cat([feats, torch.randn(1, 20, 20)], dim=1)
    longer = encoder(padded, lengths, chunk_size=0)
    torch.testing.assert_close(longer.causal[:, :16], full.causal, rtol=1e-5, atol=1e-5)


def test_dynamic_chunk_training_draws_a_chunk_size_a_batch():
    config = EncoderConfig(**{**CONFIG.__dict__, "train_chunk_sizes": [2, 4, 0]})
    encoder = ConformerEncoder(config)
    torch.manual_seed(3)
    drawn = [encoder.training_chunk_size() for _ in range(30)]
    assert set(drawn) == {2, 4, 0}
    torch.manual_seed(3)
    assert [encoder.training_chunk_size() for _ in range(30)] == drawn
    assert encoder.eval().training_chunk_size() is None
    feats, lengths = torch.randn(2, 40, 20), torch.tensor([40, 30])
    torch.testing.assert_close(encoder(feats, lengths).causal, encoder(feats, lengths, 4).causal)
