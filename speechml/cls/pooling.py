"""Pooling over time: encoder frames ``(B, T, D)`` and valid lengths ``(B,)`` -> ``(B, D)``.

Each utterance's vector depends on its own valid frames only (``t < lengths[b]``): whatever the
padded frames hold, an utterance pooled in a padded batch gives the vector it gives alone.
Poolings are chosen by name from :data:`POOLINGS`:

- ``mean``: the mean of the valid frames.
- ``attention``: a weighted mean whose weights are a softmax over the valid frames of a learned
  score ``v . tanh(W x_t + b)`` (additive attention pooling).

Example:
    >>> pool = make_pooling("attention", 8)
    >>> pool(torch.randn(2, 5, 8), torch.tensor([5, 3])).shape
    torch.Size([2, 8])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from speechml.config import Registry

POOLINGS = Registry("pooling")


def valid_frames(lengths: Tensor, num_frames: int) -> Tensor:
    """Boolean ``(B, T)`` mask, True where frame ``t < lengths[b]``.

    Raises:
        ValueError: if a length is below 1 (an utterance without frames has no vector).
    """
    if bool((lengths < 1).any()):
        raise ValueError(f"every utterance needs at least one frame, got lengths {lengths}")
    return torch.arange(num_frames, device=lengths.device)[None, :] < lengths[:, None]


class MeanPooling(nn.Module):
    """Masked mean over time.

    Shapes:
        ``forward(frames, lengths)``: frames ``(B, T, D)``, lengths ``(B,)`` -> ``(B, D)``.
    """

    def forward(self, frames: Tensor, lengths: Tensor) -> Tensor:
        mask = valid_frames(lengths, frames.shape[1]).unsqueeze(-1)
        total = frames.masked_fill(~mask, 0.0).sum(dim=1)
        return total / lengths.to(frames.dtype).unsqueeze(-1)


class AttentionPooling(nn.Module):
    """Additive attention pooling: softmax weights over the valid frames, learned.

    Args:
        dim: frame dimension D.
        hidden: width of the scoring layer (default: D).

    Shapes:
        ``forward(frames, lengths)``: frames ``(B, T, D)``, lengths ``(B,)`` -> ``(B, D)``;
        :meth:`weights` gives the ``(B, T)`` weights (0 on padding, each row sums to 1).
    """

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        self.project = nn.Linear(dim, hidden or dim)
        self.score = nn.Linear(hidden or dim, 1, bias=False)

    def weights(self, frames: Tensor, lengths: Tensor) -> Tensor:
        """Attention weights ``(B, T)`` of ``frames`` ``(B, T, D)`` with ``lengths`` ``(B,)``."""
        mask = valid_frames(lengths, frames.shape[1])
        frames = frames.masked_fill(~mask.unsqueeze(-1), 0.0)
        scores = self.score(torch.tanh(self.project(frames))).squeeze(-1)
        return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)

    def forward(self, frames: Tensor, lengths: Tensor) -> Tensor:
        mask = valid_frames(lengths, frames.shape[1]).unsqueeze(-1)
        weights = self.weights(frames, lengths).unsqueeze(-1)
        return (weights * frames.masked_fill(~mask, 0.0)).sum(dim=1)


@POOLINGS.register("mean")
def _mean_pooling(dim: int) -> nn.Module:
    return MeanPooling()


@POOLINGS.register("attention")
def _attention_pooling(dim: int) -> nn.Module:
    return AttentionPooling(dim)


def make_pooling(name: str, dim: int) -> nn.Module:
    """The pooling registered as ``name`` for frames of dimension ``dim``.

    Raises:
        ConfigError: for an unknown name (listing the known ones).
    """
    return POOLINGS.get_component(name)(dim)
