"""Streaming greedy decoding of an export directory with onnxruntime, chunk by chunk.

The streaming encoder (:mod:`speechml.asr.export`) takes each chunk of raw fbank with its
caches; the decoder and joiner run the same greedy search as
:class:`speechml.asr.search.StreamingGreedyDecoder` (up to ``max_symbols`` a frame, the same
blank penalty and scores), so on the same features both give the same hypotheses. Everything
comes from the export directory: fbank options and sizes from the ONNX metadata, text from
``tokens.txt``.

Example:
    >>> from speechml.asr.export import export_onnx
    >>> from speechml.asr.recognizer import Recognizer
    >>> _ = export_onnx(Recognizer.load("exp/base/model"), "exp/base/onnx")
    >>> model = OnnxTransducer("exp/base/onnx")
    >>> result = decode_data_dir_onnx(model, DataDir.read("data/test"))
    >>> len(result.texts)
    4
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from speechml.asr.data import AsrDataset
from speechml.asr.export import (
    DECODER,
    FBANK_KEY,
    JOINER,
    STREAMING_ENCODER,
    TOKENS,
    int8_name,
)
from speechml.asr.recognizer import DecodeResult
from speechml.asr.search import Hypothesis
from speechml.config import from_dict
from speechml.data.datadir import DataDir
from speechml.data.features import FbankConfig
from speechml.errors import ModelError
from speechml.optional import import_optional

SPACE = "▁"


def read_tokens(path: Path) -> list[str]:
    """The symbols of ``tokens.txt`` in id order (``symbol id`` a line)."""
    symbols: dict[int, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise ModelError(f"line {number}: expected 'symbol id', got {line!r}", path)
        symbols[int(parts[1])] = parts[0]
    if sorted(symbols) != list(range(len(symbols))):
        raise ModelError("ids are not 0..N-1", path)
    return [symbols[i] for i in range(len(symbols))]


def tokens_to_text(symbols: list[str], ids: list[int]) -> str:
    """Text of token ``ids`` as sherpa-onnx writes it: symbols joined, ``▁`` a space."""
    return "".join(symbols[i] for i in ids).replace(SPACE, " ").strip()


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class OnnxTransducer:
    """The streaming encoder, decoder and joiner of an export directory in onnxruntime.

    Args:
        export_dir: written by :func:`speechml.asr.export.export_onnx`.
        int8: run the ``*.int8.onnx`` copies.
        threads: onnxruntime intra-op threads.
    """

    def __init__(self, export_dir: str | Path, int8: bool = False, threads: int = 1) -> None:
        ort = import_optional("onnxruntime", "deploy")
        self.path = Path(export_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = threads

        def session(name: str):
            path = self.path / (int8_name(name) if int8 else name)
            if not path.is_file():
                raise ModelError("missing: not an export directory (speechml asr export)", path)
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        self.encoder, self.decoder, self.joiner = map(session, (STREAMING_ENCODER, DECODER, JOINER))
        meta = self.encoder.get_modelmeta().custom_metadata_map
        self.frames = int(meta["T"])  # input frames a chunk
        self.layers, self.left = int(meta["num_encoder_layers"]), int(meta["left_context"])
        self.dim, self.cnn_rows = int(meta["encoder_dim"]), int(meta["cnn_module_kernel"]) - 1
        self.fbank = from_dict(FbankConfig, json.loads(meta[FBANK_KEY]), str(self.path))
        decoder_meta = self.decoder.get_modelmeta().custom_metadata_map
        self.context_size = int(decoder_meta["context_size"])
        self.symbols = read_tokens(self.path / TOKENS)

    def decoder_out(self, tokens: list[int]) -> np.ndarray:
        """Decoder output (1, H) after ``tokens`` (blank-started context)."""
        context = ([0] * self.context_size + tokens)[-self.context_size :]
        return self.decoder.run(None, {"y": np.array([context], dtype=np.int64)})[0]

    def decode(
        self, feats: np.ndarray, max_symbols: int = 3, blank_penalty: float = 0.0
    ) -> Hypothesis:
        """Greedy search of one utterance's raw fbank ``(T, F)`` fed chunk by chunk."""
        attn = np.zeros((self.layers, self.left, 1, self.dim), np.float32)
        cnn = np.zeros((self.layers, self.cnn_rows, 1, self.dim), np.float32)
        tokens: list[int] = []
        pred = self.decoder_out(tokens)
        token_lp = symbol_lp = 0.0
        symbols = 0
        for start in range(0, feats.shape[0], self.frames):
            chunk = feats[None, start : start + self.frames].astype(np.float32)
            inputs = {"x": chunk, "attn_cache": attn, "cnn_cache": cnn}
            inputs["processed_frames"] = np.array([start], dtype=np.int64)
            enc, attn, cnn = self.encoder.run(None, inputs)
            for t in range(enc.shape[1]):
                frame = enc[:, t]  # (1, H)
                for _ in range(max_symbols):
                    joined = {"encoder_out": frame, "decoder_out": pred}
                    log_probs = _log_softmax(self.joiner.run(None, joined)[0][0])
                    penalised = log_probs.copy()
                    penalised[0] -= blank_penalty
                    best = int(penalised.argmax())
                    symbol_lp += float(log_probs[best])
                    symbols += 1
                    if best == 0:
                        break
                    tokens.append(best)
                    token_lp += float(log_probs[best])
                    pred = self.decoder_out(tokens)
        return Hypothesis(tokens, token_lp, math.exp(symbol_lp / max(1, symbols)))


def decode_data_dir_onnx(
    model: OnnxTransducer,
    data: DataDir,
    max_symbols: int = 3,
    blank_penalty: float = 0.0,
    allow_pipes: bool = False,
) -> DecodeResult:
    """Streaming greedy decoding of every utterance of ``data`` (features from the export's
    fbank options; texts from its ``tokens.txt``)."""
    dataset = AsrDataset(data, None, model.fbank, with_text=False, allow_pipes=allow_pipes)
    hypotheses: dict[str, Hypothesis] = {}
    started = time.perf_counter()
    for item in DataLoader(dataset, batch_size=None):
        feats = item["feats"].numpy()
        hypotheses[item["utt"]] = model.decode(feats, max_symbols, blank_penalty)
    compute = time.perf_counter() - started
    texts = {u: tokens_to_text(model.symbols, h.tokens) for u, h in hypotheses.items()}
    return DecodeResult(texts, hypotheses, float(sum(dataset.durations)), compute)
