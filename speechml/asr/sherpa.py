"""sherpa-onnx recognisers over an export directory, with the model's own fbank options.

``sherpa_onnx.OfflineRecognizer.from_transducer`` computes sherpa-onnx's default fbank (of
samples in [-1, 1], mel bins up to Nyquist - 400 Hz, frames padded at the edges); the models
here were trained on Kaldi's (of 16-bit sample values, bins up to Nyquist, ``snip_edges``).
These wrappers build sherpa-onnx's recognisers from its own config classes with the options
recorded in the export (``FBANK_KEY``), so that sherpa-onnx sees the features the model was
trained on.

Example:
    >>> from speechml.asr.export import export_onnx
    >>> from speechml.asr.recognizer import Recognizer
    >>> from speechml.data.audio import load_audio
    >>> _ = export_onnx(Recognizer.load("exp/base/model"), "exp/base/onnx")
    >>> recognizer = offline_recognizer("exp/base/onnx")
    >>> samples = load_audio("clip.wav", 16000)
    >>> isinstance(transcribe(recognizer, samples, 16000), str)  # untrained: any text
    True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from speechml.asr.export import (
    DECODER,
    ENCODER,
    FBANK_KEY,
    JOINER,
    STREAMING_ENCODER,
    TOKENS,
    int8_name,
)
from speechml.data.features import FbankConfig
from speechml.errors import ConfigError, ModelError
from speechml.optional import import_optional


def _files(export_dir: Path, encoder: str, int8: bool) -> tuple[str, str, str]:
    names = [int8_name(n) if int8 else n for n in (encoder, DECODER, JOINER)]
    for name in names:
        if not (export_dir / name).is_file():
            raise ModelError(
                "missing: not an export directory (speechml asr export)", export_dir / name
            )
    return tuple(str(export_dir / n) for n in names)  # type: ignore[return-value]


def feature_config(export_dir: Path) -> Any:
    """sherpa-onnx's ``FeatureExtractorConfig`` for the fbank options of the export."""
    sherpa = import_optional("sherpa_onnx", "deploy")
    onnx = import_optional("onnx", "deploy")
    model = onnx.load(str(export_dir / ENCODER), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    if FBANK_KEY not in meta:
        raise ModelError(f"no {FBANK_KEY} metadata: not exported by speechml", export_dir / ENCODER)
    fbank = FbankConfig(**json.loads(meta[FBANK_KEY]))
    if (fbank.frame_length, fbank.frame_shift) != (25.0, 10.0):
        raise ConfigError(
            f"{export_dir}: sherpa-onnx's Python API sets no frame length and shift; this "
            f"model's are {fbank.frame_length}/{fbank.frame_shift} ms, not 25/10"
        )
    return sherpa.FeatureExtractorConfig(
        sampling_rate=fbank.sample_rate,
        feature_dim=fbank.num_mel_bins,
        low_freq=20.0,
        high_freq=0.0,  # Nyquist, as Kaldi's default
        dither=fbank.dither,
        normalize_samples=False,  # scaled to 16-bit values, as compute_fbank does
        snip_edges=True,
    )


def offline_recognizer(
    export_dir: str | Path,
    int8: bool = False,
    threads: int = 1,
    method: str = "greedy_search",
    blank_penalty: float = 0.0,
) -> Any:
    """sherpa-onnx's offline transducer recogniser over ``encoder/decoder/joiner.onnx``
    (``method``: greedy_search or modified_beam_search)."""
    sherpa = import_optional("sherpa_onnx", "deploy")
    export_dir = Path(export_dir)
    encoder, decoder, joiner = _files(export_dir, ENCODER, int8)
    model = sherpa.OfflineModelConfig(
        transducer=sherpa.OfflineTransducerModelConfig(encoder, decoder, joiner),
        tokens=str(export_dir / TOKENS),
        num_threads=threads,
    )
    config = sherpa.OfflineRecognizerConfig(
        feat_config=feature_config(export_dir),
        model_config=model,
        decoding_method=method,
        blank_penalty=blank_penalty,
    )
    return sherpa.lib._sherpa_onnx.OfflineRecognizer(config)


def online_recognizer(
    export_dir: str | Path, int8: bool = False, threads: int = 1, blank_penalty: float = 0.0
) -> Any:
    """sherpa-onnx's online (streaming) transducer recogniser over ``streaming_encoder.onnx``
    (its "conformer" state layout), greedy search, no endpointing."""
    sherpa = import_optional("sherpa_onnx", "deploy")
    export_dir = Path(export_dir)
    encoder, decoder, joiner = _files(export_dir, STREAMING_ENCODER, int8)
    model = sherpa.lib._sherpa_onnx.OnlineModelConfig(
        transducer=sherpa.lib._sherpa_onnx.OnlineTransducerModelConfig(encoder, decoder, joiner),
        tokens=str(export_dir / TOKENS),
        num_threads=threads,
        model_type="conformer",
    )
    config = sherpa.lib._sherpa_onnx.OnlineRecognizerConfig(
        feat_config=feature_config(export_dir),
        model_config=model,
        enable_endpoint=False,
        decoding_method="greedy_search",
        blank_penalty=blank_penalty,
    )
    return sherpa.lib._sherpa_onnx.OnlineRecognizer(config)


def transcribe(recognizer: Any, samples: np.ndarray, sample_rate: int) -> str:
    """The text of one utterance (float samples in [-1, 1]) with an offline recogniser."""
    stream = recognizer.create_stream()
    stream.accept_waveform(sample_rate, np.ascontiguousarray(samples, dtype=np.float32))
    recognizer.decode_stream(stream)
    return stream.result.text.strip()


def transcribe_streaming(recognizer: Any, samples: np.ndarray, sample_rate: int) -> str:
    """The text of one utterance fed to an online recogniser, then finished; sherpa-onnx
    decodes whole chunks only, so frames after the last whole chunk are not decoded."""
    stream = recognizer.create_stream()
    stream.accept_waveform(sample_rate, np.ascontiguousarray(samples, dtype=np.float32))
    stream.input_finished()
    while recognizer.is_ready(stream):
        recognizer.decode_stream(stream)
    return recognizer.get_result(stream).text.strip()
