"""Streaming Conformer encoder: causal subsampling, chunked attention, chunk-causal convolution.

The causal stack sees, at each frame, its own chunk plus ``left_chunks`` chunks of history and
nothing of the future beyond the chunk: attention is masked by chunk, and the depthwise
convolution sees the frames of the current chunk on both sides but nothing after it (frames
past the chunk's end are zeros, as at the end of an utterance). So the same weights run
streaming: :meth:`forward` processes a whole (padded) batch with the chunk mask,
:meth:`forward_chunk` processes one chunk with cached state, and both give the same outputs.

Dynamic chunk training (``train_chunk_sizes``) draws the chunk size of each training batch from
a list that may include full context (0), so that one model serves streaming at several chunk
sizes and whole-utterance decoding (``forward(..., chunk_size=0)``). An optional second,
non-causal stack on top (the cascaded encoder) sees the whole utterance.

Shapes: features ``(B, T, F)``, lengths ``(B,)``; outputs ``(B, T', D)`` with
``T' = ceil(T / 4)``.

Example:
    >>> enc = ConformerEncoder(EncoderConfig(d_model=32, num_heads=2, ffn_dim=64, num_layers=2))
    >>> out = enc(torch.randn(2, 100, 80), torch.tensor([100, 60]))
    >>> out.causal.shape, out.lengths.tolist()
    (torch.Size([2, 25, 32]), [25, 15])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class EncoderConfig:
    """Sizes and streaming behaviour of the Conformer encoder."""

    input_dim: int = 80  # feature bins (Kaldi fbank)
    d_model: int = 144  # model width
    num_heads: int = 4  # attention heads
    ffn_dim: int = 576  # feed-forward hidden width
    num_layers: int = 6  # causal (streaming) Conformer blocks
    num_second_pass_layers: int = 0  # non-causal blocks on top (cascaded encoder); 0: none
    conv_kernel: int = 15  # depthwise convolution kernel (frames)
    subsampling_channels: int = 64  # channels of the 4x convolutional subsampling
    dropout: float = 0.1  # dropout probability
    chunk_size: int = 16  # frames per chunk after subsampling (40 ms each): the streaming chunk
    left_chunks: int = 4  # chunks of history each frame may attend to; -1: all
    train_chunk_sizes: list[int] = field(default_factory=list)  # dynamic chunk training: each
    # training batch draws its chunk size from this list (0: full context); empty: chunk_size
    positional_encoding: Literal["none", "sinusoidal"] = "none"  # none: the convolutions give
    # position (as torchaudio's Conformer); sinusoidal: x * sqrt(d_model) + absolute encodings


@dataclass
class EncoderOutput:
    """Encoder outputs: the causal pass, the optional second pass, and output lengths."""

    causal: Tensor  # (B, T', D)
    lengths: Tensor  # (B,)
    second_pass: Tensor | None = None  # (B, T', D) or None


@dataclass
class StreamState:
    """Everything the causal stack must remember between chunks (one utterance or a batch)."""

    subsampling: list[Tensor] = field(default_factory=list)  # input tails of the two convs
    attention: list[Tensor | None] = field(default_factory=list)  # per layer: (B, L, D) history
    convolution: list[Tensor | None] = field(default_factory=list)  # per layer: (B, D, K-1)
    frames_done: int = 0  # output frames produced so far (positions, chunk alignment)
    chunk_size: int = 16  # frames a chunk (every chunk fed but the last has exactly this many)
    left_chunks: int = 4  # chunks of attention history kept; -1: all


def chunk_attention_mask(length: int, chunk_size: int, left_chunks: int, device=None) -> Tensor:
    """Boolean ``(T, T)`` mask, True where query frame i may attend to key frame j.

    Frame i sees every frame of its own chunk and of the ``left_chunks`` chunks before it.
    """
    chunk = torch.arange(length, device=device) // chunk_size
    allowed = chunk[None, :] <= chunk[:, None]
    if left_chunks >= 0:
        allowed = allowed & (chunk[None, :] >= chunk[:, None] - left_chunks)
    return allowed


def sinusoidal_positions(start: int, length: int, dim: int, device=None) -> Tensor:
    """Sinusoidal encodings ``(length, dim)`` of the absolute positions ``start..start+length``."""
    position = torch.arange(start, start + length, device=device, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, dim, 2, device=device) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate[: dim // 2])
    return table


class CausalSubsampling(nn.Module):
    """4x subsampling by two stride-2 convolutions that look only at the past in time.

    Each convolution sees frames ``2j-2 .. 2j`` of its input for output ``j``; the two frames
    before the first are zeros in a whole-utterance pass and the tail of the previous chunk when
    streaming (chunks of a multiple of 4 input frames), so both give the same output.
    """

    def __init__(self, input_dim: int, channels: int, d_model: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, stride=2)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=2)
        freq = ((input_dim - 1) // 2 - 1) // 2
        self.proj = nn.Linear(channels * freq, d_model)

    @staticmethod
    def _conv(conv: nn.Conv2d, x: Tensor, tail: Tensor | None) -> tuple[Tensor, Tensor]:
        """x: (B, C, T, F); returns the output and the last 2 input frames for the next chunk."""
        if tail is None:
            tail = x.new_zeros(x.shape[0], x.shape[1], 2, x.shape[3])
        padded = torch.cat([tail, x], dim=2)
        return F.relu(conv(padded)), padded[:, :, -2:]

    def forward(
        self, feats: Tensor, cache: list[Tensor] | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        """feats (B, T, F) -> (B, ceil(T/4), D) and the new cache."""
        cache = cache or [None, None]
        # always padded (by 0 to 3 frames) and by a non-negative remainder: exports to ONNX
        feats = F.pad(feats, (0, 0, 0, (4 - feats.shape[1] % 4) % 4))
        x, tail1 = self._conv(self.conv1, feats.unsqueeze(1), cache[0])
        x, tail2 = self._conv(self.conv2, x, cache[1])
        b, c, t, f = x.shape
        return self.proj(x.transpose(1, 2).reshape(b, t, c * f)), [tail1, tail2]


class FeedForward(nn.Module):
    """LayerNorm -> Linear -> SiLU -> dropout -> Linear -> dropout."""

    def __init__(self, d_model: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(d_model),
            nn.Linear(d_model, hidden),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, d_model),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvNorm(nn.BatchNorm1d):
    """BatchNorm of the convolution module over the channels of ``(B, D, T)``.

    BatchNorm, as in the Conformer paper, rather than LayerNorm: with LayerNorm here the encoder
    learned several times slower (on 16 utterances, CTC loss 1.7 instead of 0.04 after 100
    steps). At inference it is a per-frame affine map, so streaming is unaffected. A frozen
    norm (``weight.requires_grad`` False, e.g. the base under adapters) normalises with its
    running statistics and never updates them, so a frozen base stays bit-identical.
    """

    def forward(self, x: Tensor) -> Tensor:
        if self.weight.requires_grad:
            return super().forward(x)
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )


def chunk_causal_depthwise(conv: nn.Conv1d, y: Tensor, chunk_size: int) -> Tensor:
    """A centred depthwise convolution that sees no frame beyond the end of its chunk.

    Output frame ``t`` of chunk ``c`` (frames ``c * chunk_size ..``) sees input frames
    ``t - (K - 1) // 2 .. t + K // 2``, where those past the chunk's last frame count as zeros
    (and those before the utterance too). ``chunk_size >= T`` is the ordinary centred
    convolution of the whole sequence. (Windows are gathered by index rather than with
    ``Tensor.unfold``, and only non-negative sizes are divided, so that it exports to ONNX.)

    Args:
        conv: the depthwise convolution (kernel K, no padding).
        y: (B, D, T).
        chunk_size: frames a chunk (> 0).

    Returns:
        (B, D, T).
    """
    b, d, t = y.shape
    kernel = conv.kernel_size[0]
    left, right = (kernel - 1) // 2, kernel // 2
    chunk = chunk_size
    count = (t + chunk - 1) // chunk
    padded = F.pad(y, (left, count * chunk - t))  # (B, D, left + count * chunk)
    starts = torch.arange(count, device=y.device)[:, None] * chunk
    index = (starts + torch.arange(left + chunk, device=y.device)).reshape(-1)
    windows = padded[:, :, index].reshape(b, d, count, left + chunk)
    windows = F.pad(windows, (0, right)).permute(0, 2, 1, 3).reshape(b * count, d, -1)
    out = conv(windows).reshape(b, count, d, chunk).permute(0, 2, 1, 3).reshape(b, d, -1)
    return out[:, :, :t]


class ConvModule(nn.Module):
    """Conformer convolution: pointwise + GLU, chunk-causal depthwise, BatchNorm, SiLU."""

    def __init__(self, d_model: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.kernel = kernel
        self.norm_in = nn.LayerNorm(d_model)
        self.pointwise_in = nn.Conv1d(d_model, 2 * d_model, 1)
        self.depthwise = nn.Conv1d(d_model, d_model, kernel, groups=d_model)
        self.norm_mid = ConvNorm(d_model)
        self.pointwise_out = nn.Conv1d(d_model, d_model, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, pad_mask: Tensor | None, chunk_size: int, cache: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """x (B, T, D), pad_mask (B, T) True at padding; returns the output and the new cache.

        Without ``cache``, x is a whole sequence cut into chunks of ``chunk_size`` frames (see
        :func:`chunk_causal_depthwise`). With ``cache`` (B, D, (K - 1) // 2), the input frames
        before x (zeros at the start of a stream), x is one chunk of a stream. Padded frames are
        zeroed before the depthwise convolution so that padding never leaks into real frames (a
        padded batch decodes like its utterances one by one).
        """
        y = F.glu(self.pointwise_in(self.norm_in(x).transpose(1, 2)), dim=1)  # (B, D, T)
        if pad_mask is not None:
            y = y.masked_fill(pad_mask[:, None, :], 0.0)
        left = (self.kernel - 1) // 2
        if cache is None:
            y, new_cache = chunk_causal_depthwise(self.depthwise, y, chunk_size), y[:, :, :0]
        else:
            context = torch.cat([cache, y], dim=2)
            new_cache = context[:, :, context.shape[2] - left :]
            y = self.depthwise(F.pad(context, (0, self.kernel // 2)))
        y = F.silu(self.norm_mid(y))
        return self.dropout(self.pointwise_out(y).transpose(1, 2)), new_cache


class ConformerBlock(nn.Module):
    """Macaron Conformer block: half FF, self-attention, convolution, half FF, LayerNorm."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        d = config.d_model
        self.num_heads = config.num_heads
        self.ff1 = FeedForward(d, config.ffn_dim, config.dropout)
        self.attn_norm = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.attn_out = nn.Linear(d, d)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.conv = ConvModule(d, config.conv_kernel, config.dropout)
        self.ff2 = FeedForward(d, config.ffn_dim, config.dropout)
        self.norm_out = nn.LayerNorm(d)
        self.dropout_p = config.dropout

    def _attention(self, x: Tensor, history: Tensor | None, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Self-attention of x (B, T, D) over [history; x]; mask (B or 1, T, L+T) True = allowed."""
        normed = self.attn_norm(x)
        context = normed if history is None else torch.cat([history, normed], dim=1)
        b, t, d = normed.shape
        h = self.num_heads
        q = self.qkv(normed)[..., :d]
        k, v = self.qkv(context)[..., d:].chunk(2, dim=-1)
        q = q.view(b, t, h, d // h).transpose(1, 2)
        k = k.view(b, -1, h, d // h).transpose(1, 2)
        v = v.view(b, -1, h, d // h).transpose(1, 2)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask[:, None], dropout_p=self.dropout_p if self.training else 0.0
        )
        out = out.transpose(1, 2).reshape(b, t, d)
        return self.attn_dropout(self.attn_out(out)), context

    def forward(
        self,
        x: Tensor,
        mask: Tensor,
        pad_mask: Tensor | None,
        chunk_size: int,
        history: Tensor | None = None,
        conv_cache: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One block; returns output, attention context (for the next chunk) and conv cache."""
        x = x + 0.5 * self.ff1(x)
        attn, context = self._attention(x, history, mask)
        x = x + attn
        conv, conv_cache = self.conv(x, pad_mask, chunk_size, conv_cache)
        x = x + conv
        x = x + 0.5 * self.ff2(x)
        return self.norm_out(x), context, conv_cache


class ConformerEncoder(nn.Module):
    """Causal (streaming) Conformer stack with an optional non-causal second pass."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        if config.d_model % config.num_heads:
            raise ValueError("d_model must be divisible by num_heads")
        self.config = config
        self.subsampling = CausalSubsampling(
            config.input_dim, config.subsampling_channels, config.d_model
        )
        self.input_dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(ConformerBlock(config) for _ in range(config.num_layers))
        self.second_pass = nn.ModuleList(
            ConformerBlock(config) for _ in range(config.num_second_pass_layers)
        )

    @staticmethod
    def output_lengths(lengths: Tensor) -> Tensor:
        """Frames after 4x subsampling: ceil(T / 4)."""
        return (lengths + 3) // 4

    def training_chunk_size(self) -> int | None:
        """The chunk size of this training batch, drawn from ``train_chunk_sizes`` with the
        global torch generator (so a resumed run draws as an uninterrupted one); None outside
        training or without dynamic chunks."""
        sizes = self.config.train_chunk_sizes
        if not self.training or not sizes:
            return None
        return sizes[int(torch.randint(len(sizes), ()))]

    def forward(
        self,
        feats: Tensor,
        lengths: Tensor,
        chunk_size: int | None = None,
        left_chunks: int | None = None,
    ) -> EncoderOutput:
        """Whole-utterance pass with the chunk mask (training, offline decoding, teacher).

        Args:
            feats: (B, T, F); lengths: (B,).
            chunk_size: frames a chunk of the causal stack; 0: full context (the whole
                utterance is one chunk); None: the one drawn for this training batch
                (:meth:`training_chunk_size`), else ``config.chunk_size``.
            left_chunks: chunks of attention history; -1: all; None: ``config.left_chunks``
                (all with full context).
        """
        if chunk_size is None:
            chunk_size = self.training_chunk_size()
        if chunk_size is None:
            chunk_size = self.config.chunk_size
        x, _ = self.subsampling(feats)
        out_lengths = self.output_lengths(lengths)
        t = x.shape[1]
        if chunk_size <= 0:
            chunk_size, left_chunks = max(1, t), -1
        if left_chunks is None:
            left_chunks = self.config.left_chunks
        x = self.input_dropout(self._add_positions(x, 0))
        pad_mask = torch.arange(t, device=x.device)[None, :] >= out_lengths[:, None]  # (B, T)
        keys_ok = ~pad_mask[:, None, :]
        chunk_mask = chunk_attention_mask(t, chunk_size, left_chunks, x.device)
        causal_mask = chunk_mask[None] & keys_ok
        # A padding frame whose whole window is padding attends to everything instead of to
        # nothing (which would give NaN); real frames never see padding.
        causal_mask = causal_mask | ~causal_mask.any(-1, keepdim=True)
        for layer in self.layers:
            x, _, _ = layer(x, causal_mask, pad_mask, chunk_size)
        causal = x
        second = None
        if len(self.second_pass):
            full_mask = keys_ok.expand(-1, t, -1)
            for layer in self.second_pass:
                x, _, _ = layer(x, full_mask, pad_mask, max(1, t))
            second = x
        return EncoderOutput(causal=causal, lengths=out_lengths, second_pass=second)

    def _add_positions(self, x: Tensor, start: int) -> Tensor:
        """Add the configured positional encoding to frames ``start..`` of ``x`` (B, T, D)."""
        if self.config.positional_encoding == "none":
            return x
        d = x.shape[2]
        return x * math.sqrt(d) + sinusoidal_positions(start, x.shape[1], d, x.device)

    def init_stream(
        self, chunk_size: int | None = None, left_chunks: int | None = None
    ) -> StreamState:
        """An empty state for :meth:`forward_chunk`; chunk size and history default to the
        config's (a model trained with dynamic chunks streams at any of its chunk sizes)."""
        n = len(self.layers)
        chunk = self.config.chunk_size if chunk_size is None else chunk_size
        left = self.config.left_chunks if left_chunks is None else left_chunks
        if chunk <= 0:
            raise ValueError(f"a stream needs a chunk size > 0, got {chunk}")
        return StreamState([], [None] * n, [None] * n, 0, chunk, left)

    def forward_chunk(self, feats: Tensor, state: StreamState) -> tuple[Tensor, StreamState]:
        """Process the next chunk of features ``(B, 4 * state.chunk_size, F)`` (the last may be
        shorter).

        Returns the causal outputs of that chunk ``(B, state.chunk_size, D)`` and the updated
        state. Every utterance of the batch must be at the same position (streaming is per
        stream).
        """
        x, sub_cache = self.subsampling(feats, state.subsampling or None)
        b, t, d = x.shape
        x = self._add_positions(x, state.frames_done)
        limit = None if state.left_chunks < 0 else state.left_chunks * state.chunk_size
        histories, conv_caches = [], []
        for i, layer in enumerate(self.layers):
            history = state.attention[i]
            past = 0 if history is None else history.shape[1]
            mask = torch.ones(1, t, past + t, dtype=torch.bool, device=x.device)
            mask[:, :, past:] = chunk_attention_mask(t, state.chunk_size, 0, x.device)
            conv_cache = state.convolution[i]
            if conv_cache is None:
                conv_cache = x.new_zeros(b, d, (self.config.conv_kernel - 1) // 2)
            x, context, conv_cache = layer(x, mask, None, state.chunk_size, history, conv_cache)
            histories.append(context if limit is None else context[:, -limit:])
            conv_caches.append(conv_cache)
        state = StreamState(
            sub_cache,
            histories,
            conv_caches,
            state.frames_done + t,
            state.chunk_size,
            state.left_chunks,
        )
        return x, state
