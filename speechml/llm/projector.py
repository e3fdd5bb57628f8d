"""Projectors from speech-encoder frames to LLM input embeddings, chosen by name.

- ``qformer``: the window-level Q-Former of SALMONN / Typhoon-Audio. The encoder output is cut
  into windows of ``window`` frames every ``stride`` frames; ``num_queries`` learned queries
  attend to each window through ``num_layers`` transformer decoder layers (self-attention among
  the queries, cross-attention to the window's frames, which carry a learned position within
  the window); each window gives ``num_queries`` embeddings. Typhoon-Audio: 1 query per 0.333 s
  window, 2 layers (with Whisper's 20 ms frames: ``window = stride = 17``).
- ``conv``: a strided convolution over ``stride`` frames, GELU, then a linear layer.

Either way, an utterance of ``n`` encoder frames becomes ``ceil(n / stride) * num_queries``
embeddings (``num_queries`` is 1 for ``conv``): :meth:`Projector.output_lengths`.

Example:
    >>> projector = make_projector(ProjectorConfig(kind="qformer", window=4, stride=4), 16, 32)
    >>> out, lengths = projector(torch.randn(2, 10, 16), torch.tensor([10, 7]))
    >>> out.shape, lengths.tolist()
    (torch.Size([2, 3, 32]), [3, 2])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import torch
from torch import Tensor, nn

from speechml.config import Registry

#: Projector kinds: name -> :class:`Projector` subclass, built by :func:`make_projector`.
PROJECTORS = Registry("projector")


@dataclass
class ProjectorConfig:
    """The projector between the speech encoder and the LLM."""

    kind: Annotated[str, PROJECTORS] = "qformer"  # PROJECTORS name: qformer (window-level
    # Q-Former) or conv (strided convolution)
    window: int = 8  # qformer: encoder frames a window
    stride: int = 8  # frames between window starts (qformer) or the convolution's stride
    num_queries: int = 1  # qformer: learned queries (output embeddings) a window
    num_layers: int = 2  # qformer: transformer decoder layers
    num_heads: int = 4  # qformer: attention heads
    hidden_size: int = 256  # width inside the projector
    dropout: float = 0.1  # dropout inside the projector

    def __post_init__(self) -> None:
        if min(self.window, self.stride, self.num_queries, self.num_layers, self.num_heads) < 1:
            raise ValueError("window, stride, num_queries, num_layers, num_heads must be >= 1")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of num_heads")
        if self.kind == "conv" and self.num_queries != 1:
            raise ValueError("the conv projector gives one embedding a stride: num_queries = 1")


class Projector(nn.Module):
    """Encoder frames ``(B, T, D)`` -> LLM embeddings ``(B, ceil(T / stride) * Q, E)``.

    The common part of every kind: a final LayerNorm and linear layer to the LLM's width, built
    after the kind's own layers (:meth:`build`), so that a seed gives the same weights.

    Args:
        config: the projector settings.
        input_dim: the encoder's output width ``D``.
        output_dim: the LLM's embedding width ``E``.
    """

    def __init__(self, config: ProjectorConfig, input_dim: int, output_dim: int) -> None:
        super().__init__()
        self.config = config
        self.build(input_dim)
        self.norm = nn.LayerNorm(config.hidden_size)
        self.output = nn.Linear(config.hidden_size, output_dim)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Embeddings of each utterance of ``lengths`` encoder frames."""
        windows = torch.div(
            lengths + self.config.stride - 1, self.config.stride, rounding_mode="floor"
        )
        return windows * self.config.num_queries

    def build(self, input_dim: int) -> None:
        """Make the layers of this kind, from ``input_dim``-wide frames to ``hidden_size``."""
        raise NotImplementedError


def make_projector(config: ProjectorConfig, input_dim: int, output_dim: int) -> Projector:
    """The projector of kind ``config.kind`` (a :data:`PROJECTORS` name)."""
    return PROJECTORS.get_component(config.kind)(config, input_dim, output_dim)


@PROJECTORS.register("conv")
class ConvProjector(Projector):
    """A strided convolution over ``stride`` frames, GELU, LayerNorm, linear."""

    def build(self, input_dim: int) -> None:
        config = self.config
        self.conv = nn.Conv1d(input_dim, config.hidden_size, config.stride, stride=config.stride)

    def forward(self, frames: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Project ``(B, T, D)`` frames with ``(B,)`` valid lengths; returns embeddings, lengths."""
        stride = self.config.stride
        steps = frames.shape[1]
        windows = max(1, math.ceil(steps / stride))
        padded = nn.functional.pad(frames, (0, 0, 0, windows * stride - steps))
        hidden = nn.functional.gelu(self.conv(padded.transpose(1, 2))).transpose(1, 2)
        return self.output(self.norm(hidden)), self.output_lengths(lengths)


@PROJECTORS.register("qformer")
class QFormerProjector(Projector):
    """The window-level Q-Former: learned queries attend to each window of frames."""

    def build(self, input_dim: int) -> None:
        config = self.config
        hidden = config.hidden_size
        self.input = nn.Linear(input_dim, hidden)
        self.position = nn.Parameter(torch.randn(config.window, hidden) * 0.02)
        self.queries = nn.Parameter(torch.randn(config.num_queries, hidden) * 0.02)
        layer = nn.TransformerDecoderLayer(
            hidden, config.num_heads, 4 * hidden, config.dropout, batch_first=True,
            norm_first=True,
        )  # fmt: skip
        self.layers = nn.TransformerDecoder(layer, config.num_layers)

    def forward(self, frames: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Project ``(B, T, D)`` frames with ``(B,)`` valid lengths; returns embeddings, lengths."""
        batch, steps, _ = frames.shape
        stride = self.config.stride
        windows = max(1, math.ceil(steps / stride))
        window = self.config.window
        span = (windows - 1) * stride + window
        padded = nn.functional.pad(self.input(frames), (0, 0, 0, span - steps))
        # (B, windows, hidden, window) -> (B * windows, window, hidden)
        chunks = (
            padded.unfold(1, window, stride)
            .permute(0, 1, 3, 2)
            .reshape(batch * windows, window, -1)
        )
        starts = torch.arange(windows, device=frames.device) * stride
        positions = starts[:, None] + torch.arange(window, device=frames.device)
        padding = positions[None] >= lengths[:, None, None]  # (B, windows, window)
        padding = padding.reshape(batch * windows, window)
        padding[:, 0] &= ~padding.all(1)  # a window past the end attends to one zero frame
        queries = self.queries.expand(batch * windows, -1, -1)
        hidden = self.layers(queries, chunks + self.position, memory_key_padding_mask=padding)
        hidden = hidden.reshape(batch, windows * self.config.num_queries, -1)
        return self.output(self.norm(hidden)), self.output_lengths(lengths)
