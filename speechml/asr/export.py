"""Export a recogniser to ONNX in the layout sherpa-onnx loads, plus a streaming encoder.

An export directory::

    encoder.onnx            features (N, T, F), lengths (N,) -> projected causal pass, lengths
    decoder.onnx            the stateless predictor: last context_size tokens (N, C) -> (N, H)
    joiner.onnx             projected encoder frame (N, H), decoder output (N, H) -> logits
    streaming_encoder.onnx  one chunk with its cache as explicit inputs and outputs
    tokens.txt              "symbol id" a line (sherpa-onnx's symbol table)
    *.int8.onnx             dynamically quantised copies (--int8)

CMVN is folded into both encoders (sherpa-onnx feeds raw fbank), the joiner's two projections
into the encoder and the decoder (``Joiner.combine`` is the joiner), and with ``lang`` that
language's adapters into the encoders. The offline encoder runs the causal pass with the
config's chunk mask, as ``speechml asr decode --method greedy`` does.

The streaming encoder has the state layout of sherpa-onnx's online "conformer" transducer:
inputs ``x`` (N, 4 * chunk_size, F), ``attn_cache`` (layers, left_context, N, D),
``cnn_cache`` (layers, rows, N, D), ``processed_frames`` (N,) input frames already consumed;
outputs ``encoder_out`` (N, chunk_size, H) and the two new caches. ``attn_cache`` holds each
block's attention history (``left_chunks * chunk_size`` frames; frames not yet seen are
masked by ``processed_frames``); ``cnn_cache`` holds each block's convolution history in its
first ``(K - 1) // 2`` rows and, in block 0's remaining rows, the two subsampling
convolutions' input tails, flattened (sherpa-onnx keeps states opaque: it zero-fills them,
batches them on dimension 2 and passes them back). Metadata gives the sizes.

Example:
    >>> files = export_onnx(Recognizer.load("exp/base/model"), "exp/base/onnx")
    >>> sorted(path.name for path in files)
    [...'tokens.txt'...]
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from speechml.asr.adapters import adapter_languages, fold_language
from speechml.asr.encoder import ConformerEncoder
from speechml.asr.recognizer import Recognizer
from speechml.asr.transducer import StatelessPredictor, Transducer
from speechml.data.features import GlobalCMVN
from speechml.errors import ConfigError
from speechml.io import atomic_dir
from speechml.optional import import_optional

logger = logging.getLogger(__name__)

ENCODER, DECODER, JOINER = "encoder.onnx", "decoder.onnx", "joiner.onnx"
STREAMING_ENCODER, TOKENS = "streaming_encoder.onnx", "tokens.txt"
#: metadata key of the encoders holding the fbank options (FbankConfig as JSON)
FBANK_KEY = "speechml_fbank"
OPSET = 17


def int8_name(name: str) -> str:
    """``encoder.onnx`` -> ``encoder.int8.onnx``."""
    return name.removesuffix(".onnx") + ".int8.onnx"


@dataclass(frozen=True)
class StreamLayout:
    """Sizes of the streaming encoder's inputs and caches (its metadata)."""

    num_layers: int
    chunk_size: int  # output frames a chunk (input: 4 times as many)
    left_context: int  # attention history frames kept
    conv_rows: int  # convolution history frames: (K - 1) // 2
    tail_rows: int  # rows of D values holding the subsampling tails (block 0)
    d_model: int
    input_dim: int
    channels: int  # subsampling channels
    freq2: int  # frequency bins after the first subsampling convolution

    @classmethod
    def of(cls, encoder: ConformerEncoder) -> StreamLayout:
        """The layout of ``encoder``'s streaming export."""
        config = encoder.config
        if config.left_chunks < 1:
            raise ConfigError(
                f"a streaming export needs a bounded attention history (encoder.left_chunks "
                f">= 1, got {config.left_chunks})"
            )
        if config.positional_encoding != "none":
            raise ConfigError(
                "a streaming export needs positional_encoding none: sherpa-onnx batches streams "
                "at different positions"
            )
        freq2 = (config.input_dim - 1) // 2
        tails = 2 * config.input_dim + 2 * config.subsampling_channels * freq2
        return cls(
            num_layers=config.num_layers,
            chunk_size=config.chunk_size,
            left_context=config.left_chunks * config.chunk_size,
            conv_rows=(config.conv_kernel - 1) // 2,
            tail_rows=math.ceil(tails / config.d_model),
            d_model=config.d_model,
            input_dim=config.input_dim,
            channels=config.subsampling_channels,
            freq2=freq2,
        )

    @property
    def cnn_rows(self) -> int:
        """Rows of ``cnn_cache`` a block."""
        return self.conv_rows + self.tail_rows

    def sherpa_metadata(self) -> dict[str, int | str]:
        """The metadata sherpa-onnx's online conformer transducer reads."""
        frames = 4 * self.chunk_size
        return {
            "model_type": "conformer",
            "num_encoder_layers": self.num_layers,
            "T": frames,
            "decode_chunk_len": frames,
            "left_context": self.left_context,
            "encoder_dim": self.d_model,
            "pad_length": 0,
            "cnn_module_kernel": self.cnn_rows + 1,
        }


class OfflineEncoder(nn.Module):
    """Raw fbank (N, T, F) and lengths (N,) -> projected causal pass (N, T', H), lengths."""

    def __init__(self, model: Transducer, cmvn: GlobalCMVN | None) -> None:
        super().__init__()
        self.encoder, self.proj, self.cmvn = model.encoder, model.joiner.enc_proj, cmvn

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        if self.cmvn is not None:
            x = self.cmvn(x, x_lens)
        out = self.encoder(x, x_lens)
        return self.proj(out.causal), out.lengths


class StreamingEncoder(nn.Module):
    """One chunk of the causal stack with explicit caches (see the module docstring)."""

    def __init__(self, model: Transducer, cmvn: GlobalCMVN | None) -> None:
        super().__init__()
        self.encoder, self.proj, self.cmvn = model.encoder, model.joiner.enc_proj, cmvn
        self.layout = StreamLayout.of(model.encoder)

    def _tails(self, cnn_cache: Tensor) -> list[Tensor]:
        """The subsampling tails stored in block 0's extra rows of ``cnn_cache``."""
        lay = self.layout
        n = cnn_cache.shape[2]
        flat = cnn_cache[0, lay.conv_rows :].permute(1, 0, 2).reshape(n, -1)
        first = 2 * lay.input_dim
        second = 2 * lay.channels * lay.freq2
        return [
            flat[:, :first].reshape(n, 1, 2, lay.input_dim),
            flat[:, first : first + second].reshape(n, lay.channels, 2, lay.freq2),
        ]

    def _tail_rows(self, tails: list[Tensor]) -> Tensor:
        """The subsampling tails as (tail_rows, N, D) rows."""
        lay = self.layout
        n = tails[0].shape[0]
        flat = torch.cat([tail.reshape(n, -1) for tail in tails], dim=1)
        flat = nn.functional.pad(flat, (0, lay.tail_rows * lay.d_model - flat.shape[1]))
        return flat.reshape(n, lay.tail_rows, lay.d_model).permute(1, 0, 2)

    def forward(
        self, x: Tensor, attn_cache: Tensor, cnn_cache: Tensor, processed_frames: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        lay = self.layout
        if self.cmvn is not None:
            x = self.cmvn(x)
        h, tails = self.encoder.subsampling(x, self._tails(cnn_cache))
        n, t = h.shape[0], h.shape[1]
        seen = processed_frames // 4  # output frames before this chunk
        positions = torch.arange(lay.left_context, device=x.device)
        history_ok = positions[None, :] >= (lay.left_context - seen)[:, None]  # (N, L)
        mask = torch.cat(
            [
                history_ok[:, None, :].expand(n, t, lay.left_context),
                torch.ones(n, t, t, dtype=torch.bool, device=x.device),
            ],
            dim=2,
        )
        attn, conv = [], []
        for i, layer in enumerate(self.encoder.layers):
            history = attn_cache[i].permute(1, 0, 2)  # (N, L, D)
            conv_cache = cnn_cache[i, : lay.conv_rows].permute(1, 2, 0)  # (N, D, rows)
            h, context, conv_cache = layer(h, mask, None, lay.chunk_size, history, conv_cache)
            attn.append(context[:, context.shape[1] - lay.left_context :].permute(1, 0, 2))
            conv.append(conv_cache.permute(2, 0, 1))
        extra = self._tail_rows(tails)
        rows = [torch.cat([conv[0], extra])]
        rows += [torch.cat([c, torch.zeros_like(extra)]) for c in conv[1:]]
        return self.proj(h), torch.stack(attn), torch.stack(rows)


class Decoder(nn.Module):
    """The stateless predictor over the last ``context_size`` tokens (N, C) -> (N, H).

    sherpa-onnx starts a hypothesis with -1 before the blank; ids below 0 count as blank.
    """

    def __init__(self, model: Transducer) -> None:
        super().__init__()
        self.predictor, self.proj = model.predictor, model.joiner.pred_proj
        self.blank_id = model.config.blank_id

    def forward(self, y: Tensor) -> Tensor:
        y = torch.where(y < 0, torch.full_like(y, self.blank_id), y)
        out, _ = self.predictor(y[:, -1:], y[:, :-1])
        return self.proj(out[:, 0])


class JoinerOnnx(nn.Module):
    """Projected encoder frame and decoder output (N, H) -> logits (N, V)."""

    def __init__(self, model: Transducer) -> None:
        super().__init__()
        self.joiner = model.joiner

    def forward(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return self.joiner.combine(encoder_out, decoder_out)


def tokens_text(tokens: list[str]) -> str:
    """``tokens.txt``: ``symbol id`` a line; symbols must hold no ASCII whitespace."""
    for i, symbol in enumerate(tokens):
        if not symbol or any(c in symbol for c in " \t\n\r\f\v"):
            raise ConfigError(f"token {i} ({symbol!r}) is empty or holds whitespace")
    return "".join(f"{symbol} {i}\n" for i, symbol in enumerate(tokens))


def _add_metadata(path: Path, metadata: dict[str, object]) -> None:
    """Write ``metadata`` (values as strings) into the ONNX file ``path``."""
    onnx = import_optional("onnx", "deploy")
    model = onnx.load(str(path))
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(path))


def _export(module: nn.Module, args: tuple, path: Path, names: dict, axes: dict) -> None:
    """Trace ``module`` on ``args`` into ``path`` (TorchScript exporter, opset 17)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shapes read as Python values
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            dynamo=False,
            input_names=names["inputs"],
            output_names=names["outputs"],
            dynamic_axes=axes,
            opset_version=OPSET,
        )


def _quantize(path: Path) -> Path:
    """The dynamically quantised int8 copy of ``path`` (MatMul and Gemm weights)."""
    quantization = import_optional("onnxruntime.quantization", "deploy")
    out = path.with_name(int8_name(path.name))
    quantization.quantize_dynamic(
        str(path),
        str(out),
        op_types_to_quantize=["MatMul", "Gemm"],
        weight_type=quantization.QuantType.QInt8,
    )
    return out


def export_onnx(
    recognizer: Recognizer, out_dir: str | Path, lang: str | None = None, int8: bool = False
) -> list[Path]:
    """Write the export directory (see the module docstring) as a whole; returns its files.

    Args:
        recognizer: the trained recogniser (left unchanged).
        out_dir: the export directory, replaced when complete.
        lang: fold this language's adapters into the encoders; None: the base model.
        int8: also write dynamically quantised ``*.int8.onnx`` copies.

    Raises:
        ConfigError: the deploy extra is missing; the predictor is not stateless (sherpa-onnx
            runs a stateless decoder); a streaming layout the encoder cannot have; a token
            holding whitespace.
        SpeechmlError: no adapter for ``lang``.
    """
    import_optional("onnx", "deploy")
    base = recognizer.model
    if not isinstance(base.predictor, StatelessPredictor):
        raise ConfigError(
            f"sherpa-onnx runs a stateless decoder; this model's predictor is "
            f"{base.config.predictor.kind!r}"
        )
    if lang is None and adapter_languages(base):
        logger.info("exporting the base model: adapters %s left out", adapter_languages(base))
    if base.config.blank_id != 0:
        raise ConfigError(f"sherpa-onnx's blank is id 0; this model's is {base.config.blank_id}")
    model = fold_language(base, lang).cpu().eval()
    cmvn = GlobalCMVN(recognizer.cmvn) if recognizer.cmvn is not None else None
    config = model.config
    enc, frames = config.encoder, 4 * config.encoder.chunk_size
    layout = StreamLayout.of(model.encoder)
    fbank = json.dumps(asdict(recognizer.fbank))
    common = {"vocab_size": config.vocab_size, FBANK_KEY: fbank, "language": lang or ""}
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as staging, torch.no_grad():
        feats = torch.randn(1, 2 * frames + 3, enc.input_dim)
        _export(
            OfflineEncoder(model, cmvn),
            (feats, torch.tensor([feats.shape[1]])),
            staging / ENCODER,
            {"inputs": ["x", "x_lens"], "outputs": ["encoder_out", "encoder_out_lens"]},
            {"x": {0: "N", 1: "T"}, "x_lens": {0: "N"}, "encoder_out": {0: "N", 1: "T_out"}},
        )
        _add_metadata(staging / ENCODER, {"model_type": "conformer", **common})
        n = 1
        _export(
            StreamingEncoder(model, cmvn),
            (
                torch.randn(n, frames, enc.input_dim),
                torch.zeros(layout.num_layers, layout.left_context, n, layout.d_model),
                torch.zeros(layout.num_layers, layout.cnn_rows, n, layout.d_model),
                torch.zeros(n, dtype=torch.int64),
            ),
            staging / STREAMING_ENCODER,
            {
                "inputs": ["x", "attn_cache", "cnn_cache", "processed_frames"],
                "outputs": ["encoder_out", "next_attn_cache", "next_cnn_cache"],
            },
            {
                "x": {0: "N", 1: "T"},
                "attn_cache": {2: "N"},
                "cnn_cache": {2: "N"},
                "processed_frames": {0: "N"},
                "encoder_out": {0: "N", 1: "T_out"},
                "next_attn_cache": {2: "N"},
                "next_cnn_cache": {2: "N"},
            },
        )
        _add_metadata(staging / STREAMING_ENCODER, {**layout.sherpa_metadata(), **common})
        context = config.predictor.context_size
        _export(
            Decoder(model),
            (torch.zeros(1, context, dtype=torch.int64),),
            staging / DECODER,
            {"inputs": ["y"], "outputs": ["decoder_out"]},
            {"y": {0: "N"}, "decoder_out": {0: "N"}},
        )
        _add_metadata(staging / DECODER, {"vocab_size": config.vocab_size, "context_size": context})
        hidden = config.joiner_dim
        _export(
            JoinerOnnx(model),
            (torch.randn(1, hidden), torch.randn(1, hidden)),
            staging / JOINER,
            {"inputs": ["encoder_out", "decoder_out"], "outputs": ["logit"]},
            {"encoder_out": {0: "N"}, "decoder_out": {0: "N"}, "logit": {0: "N"}},
        )
        (staging / TOKENS).write_text(tokens_text(recognizer.tokenizer.tokens), encoding="utf-8")
        if int8:
            for name in (ENCODER, STREAMING_ENCODER, DECODER, JOINER):
                _quantize(staging / name)
    logger.info("exported %s to %s", "fp32 and int8" if int8 else "fp32", out_dir)
    return sorted(out_dir.iterdir())
