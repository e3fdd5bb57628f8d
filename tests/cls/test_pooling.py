"""Pooling over time: shapes, masked means and weights, padding never changes a vector."""

from __future__ import annotations

import pytest
import torch

from speechml.cls.pooling import AttentionPooling, make_pooling
from speechml.errors import ConfigError

POOLINGS = ("mean", "attention")


@pytest.mark.parametrize("name", POOLINGS)
def test_pooling_maps_frames_to_one_vector_per_utterance(name):
    pool = make_pooling(name, 6)
    assert pool(torch.randn(3, 7, 6), torch.tensor([7, 4, 1])).shape == (3, 6)


@pytest.mark.parametrize("name", POOLINGS)
def test_padding_does_not_change_the_pooled_vector(name):
    torch.manual_seed(0)
    pool = make_pooling(name, 4)
    short, long = torch.randn(1, 3, 4), torch.randn(1, 8, 4)
    garbage = torch.full((1, 5, 4), 1e4)
    garbage[0, 0, 0] = float("nan")
    batch = torch.cat([torch.cat([short, garbage], dim=1), long])
    pooled = pool(batch, torch.tensor([3, 8]))
    assert torch.allclose(pooled[0], pool(short, torch.tensor([3]))[0], atol=1e-6)
    assert torch.allclose(pooled[1], pool(long, torch.tensor([8]))[0], atol=1e-6)


def test_mean_pooling_is_the_mean_of_the_valid_frames():
    frames = torch.randn(2, 5, 3)
    pooled = make_pooling("mean", 3)(frames, torch.tensor([5, 2]))
    assert torch.allclose(pooled[0], frames[0].mean(dim=0))
    assert torch.allclose(pooled[1], frames[1, :2].mean(dim=0))


def test_attention_weights_are_a_distribution_over_the_valid_frames():
    torch.manual_seed(0)
    pool = AttentionPooling(3)
    frames, lengths = torch.randn(2, 5, 3), torch.tensor([5, 2])
    weights = pool.weights(frames, lengths)
    assert torch.allclose(weights.sum(dim=1), torch.ones(2))
    assert torch.all(weights[1, 2:] == 0) and torch.all(weights[:, :2] > 0)
    expected = (weights.unsqueeze(-1) * frames.masked_fill(weights.unsqueeze(-1) == 0, 0)).sum(1)
    assert torch.allclose(pool(frames, lengths), expected)


def test_empty_utterances_and_unknown_names_are_errors():
    with pytest.raises(ValueError, match="at least one frame"):
        make_pooling("mean", 2)(torch.randn(2, 3, 2), torch.tensor([3, 0]))
    with pytest.raises(ConfigError, match="unknown pooling 'max'"):
        make_pooling("max", 2)
