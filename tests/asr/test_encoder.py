"""Streaming Conformer encoder: causality, chunk masks, streaming == full, padding invariance."""

from __future__ import annotations

import pytest
import torch

from speechml.asr.encoder import ConformerEncoder, EncoderConfig, chunk_attention_mask

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


@pytest.mark.parametrize("positions", ["none", "sinusoidal"])
def test_streaming_equals_full_pass_with_the_same_chunk_mask(positions):
    torch.manual_seed(0)
    config = EncoderConfig(**{**CONFIG.__dict__, "positional_encoding": positions})
    encoder = ConformerEncoder(config).eval()
    feats = torch.randn(1, 75, 20)
    full = encoder(feats, torch.tensor([75])).causal
    state = encoder.init_stream()
    pieces = []
    step = 4 * CONFIG.chunk_size
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
