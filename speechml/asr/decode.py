"""Decode a data dir into a decode dir (``speechml asr decode``), with a recogniser model dir or
an ONNX export dir.

The decode dir gets ``hyp.trn``, ``confidence``, ``system.txt`` (the model and the search, e.g.
``transducer base: beam 4, LM data/lm (weight 0.3), causal pass``) and ``rtf``
(:func:`speechml.score.decode_dir.write_transcripts`).

Example:
    >>> decode_to_dir("data/test", "exp/base/decode_test", model_dir="exp/base/model",
    ...               options=DecodeOptions(method="beam"))
    'RTF ... (... s for 2.0 s of audio, beam 4, causal pass) exp/base/decode_test'
    >>> sorted(path.name for path in Path("exp/base/decode_test").iterdir())
    ['confidence', 'hyp.trn', 'rtf', 'system.txt']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from speechml.asr.ngram_lm import LmDir
from speechml.asr.onnx_stream import OnnxTransducer, decode_data_dir_onnx
from speechml.asr.recognizer import DecodeResult, Recognizer, SearchMethod
from speechml.data.datadir import DataDir
from speechml.score.decode_dir import write_transcripts


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode; the fields are those of :meth:`Recognizer.decode_data_dir`."""

    method: SearchMethod = "greedy"
    second_pass: bool = False
    beam: int = 4
    batch_size: int = 16
    allow_pipes: bool = False
    blank_penalty: float = 0.0
    lm: str | None = None  # n-gram LM dir for shallow fusion (``beam``)
    lm_weight: float = 0.3
    lm_eos: bool = True
    max_symbols: int = 3
    chunk_size: int | None = None
    int8: bool = False  # an export dir's int8 models

    def describe(self, onnx: bool) -> tuple[str, str]:
        """(search, pass): ``("beam 4, blank penalty 1.5", "causal pass, chunks of 16")``."""
        pass_name = "second pass" if self.second_pass else "causal pass"
        if self.chunk_size is not None:
            chunks = "full context" if self.chunk_size == 0 else f"chunks of {self.chunk_size}"
            pass_name += f", {chunks}"
        search = f"beam {self.beam}" if self.method == "beam" else self.method
        if self.blank_penalty:
            search += f", blank penalty {self.blank_penalty:g}"
        if onnx:
            search += f", onnxruntime{' int8' if self.int8 else ''}"
        if self.lm and not onnx:
            eos = "" if self.lm_eos else ", no </s>"
            search += f", LM {self.lm} (weight {self.lm_weight:g}{eos})"
        return search, pass_name


def _decode(
    data_dir: str | Path,
    model_dir: str | Path | None,
    onnx_dir: str | Path | None,
    o: DecodeOptions,
) -> DecodeResult:
    if onnx_dir is not None:
        model = OnnxTransducer(onnx_dir, int8=o.int8)
        data = DataDir.read(data_dir)
        return decode_data_dir_onnx(model, data, o.max_symbols, o.blank_penalty, o.allow_pipes)
    lm = LmDir.load(o.lm) if o.lm else None
    return Recognizer.load(model_dir).decode_data_dir(
        DataDir.read(data_dir),
        method=o.method,
        second_pass=o.second_pass,
        beam=o.beam,
        batch_size=o.batch_size,
        allow_pipes=o.allow_pipes,
        blank_penalty=o.blank_penalty,
        lm=lm,
        lm_weight=o.lm_weight,
        lm_eos=o.lm_eos,
        max_symbols=o.max_symbols,
        chunk_size=o.chunk_size,
    )


def decode_to_dir(
    data_dir: str | Path,
    out_dir: str | Path,
    model_dir: str | Path | None = None,
    onnx_dir: str | Path | None = None,
    options: DecodeOptions | None = None,
) -> str:
    """Decode ``data_dir`` and write the decode dir ``out_dir``.

    Args:
        data_dir: the data dir to decode.
        out_dir: the decode dir (created if needed).
        model_dir: a recogniser model dir; or
        onnx_dir: an export dir, decoded streaming and greedy with onnxruntime (``options``
            then gives only ``max_symbols``, ``blank_penalty``, ``allow_pipes`` and ``int8``).
        options: the search (default: :class:`DecodeOptions`' defaults).

    Returns:
        the line written to ``rtf``: ``RTF 0.0123 (1.2 s for 97.5 s of audio, <search>,
        <pass>) <out_dir>``.

    Raises:
        ValueError: if not exactly one of ``model_dir`` and ``onnx_dir`` is given.
        SpeechmlError: a bad model, LM or data dir (see :meth:`Recognizer.decode_data_dir`).
    """
    if (model_dir is None) == (onnx_dir is None):
        raise ValueError("give exactly one of model_dir and onnx_dir")
    options = options or DecodeOptions()
    out_dir = Path(out_dir)
    result = _decode(data_dir, model_dir, onnx_dir, options)
    search, pass_name = options.describe(onnx=onnx_dir is not None)
    model_name = Path(model_dir or onnx_dir).parent.name
    rtf = (
        f"RTF {result.rtf:.4f} ({result.compute_seconds:.1f} s for {result.audio_seconds:.1f} s "
        f"of audio, {search}, {pass_name}) {out_dir}"
    )
    confidences = {utt: hyp.confidence for utt, hyp in result.hypotheses.items()}
    system = f"transducer {model_name}: {search}, {pass_name}"
    write_transcripts(out_dir, result.texts, system, confidences, rtf)
    return rtf
