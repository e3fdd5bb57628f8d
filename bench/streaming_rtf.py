"""Streaming decoding speed: chunk-by-chunk greedy search against whole-utterance greedy search.

Each utterance is decoded twice on the CPU, by default on one thread: whole (the causal encoder
over the full features, then batched greedy search, batch of one) and streaming (features fed
to :class:`StreamingGreedyDecoder` in chunks of ``4 * chunk_size`` frames, the encoder's
chunk). The real-time factor is compute seconds over audio seconds (below 1: faster than real
time); the latency of a chunk is the wall time of its ``accept`` call, measured from the moment
its last frame is available. Both searches must give the same tokens; the count of matches is
printed. One short utterance is decoded first, untimed.

Features are synthetic (normalised-fbank-like random values). A freshly initialised model emits
far more non-blank symbols than a trained one, which makes its search slower; ``--model DIR``
measures a trained recogniser instead, and adds the deployed runtimes (the ``deploy`` extra): the
model exported by :func:`speechml.asr.export.export_onnx` into a temporary dir and decoded chunk
by chunk with onnxruntime (fp32 and int8, the same features; CMVN runs inside the export), and
sherpa-onnx's online recogniser on synthetic audio of the same durations (its RTF includes its
own feature extraction, which the other rows leave out).

Example:
    .venv/bin/python bench/streaming_rtf.py --num-utts 24 --durations 2 4 8
    .venv/bin/python bench/streaming_rtf.py --model exp/base/model
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import benchlib
import numpy as np
import torch

from speechml.asr.recognizer import Recognizer
from speechml.asr.search import Hypothesis, StreamingGreedyDecoder, greedy_search
from speechml.asr.transducer import Transducer
from speechml.data.features import FbankConfig
from speechml.progress import progress_bar


@torch.no_grad()
def decode_whole(model: Transducer, feats: torch.Tensor) -> tuple[Hypothesis, float]:
    """Greedy search over the whole utterance ``feats`` (T, F); returns it and its seconds."""
    started = time.perf_counter()
    out = model.encoder(feats[None], torch.tensor([feats.shape[0]]))
    hypothesis = greedy_search(model, out.causal, out.lengths)[0]
    return hypothesis, time.perf_counter() - started


def decode_streaming(
    model: Transducer, feats: torch.Tensor, chunk_frames: int
) -> tuple[Hypothesis, list[float]]:
    """Streaming greedy search of ``feats`` (T, F) by chunks; returns it and each chunk's time."""
    decoder = StreamingGreedyDecoder(model)
    latencies = []
    for chunk in feats.split(chunk_frames):
        started = time.perf_counter()
        decoder.accept(chunk[None])
        latencies.append(time.perf_counter() - started)
    return decoder.finish(), latencies


def deploy_rows(model_dir: str, utterances: list[torch.Tensor], audio: float, threads: int) -> list:
    """RTF rows of the exported model: onnxruntime fp32 and int8, and sherpa-onnx online."""
    from speechml.asr import sherpa
    from speechml.asr.export import export_onnx
    from speechml.asr.onnx_stream import OnnxTransducer

    rows = []
    with tempfile.TemporaryDirectory() as export_dir:
        recognizer = Recognizer.load(model_dir)
        export_onnx(recognizer, export_dir, int8=True)
        for int8 in (False, True):
            onnx = OnnxTransducer(export_dir, int8=int8, threads=threads)
            onnx.decode(utterances[0][:64].numpy())  # warm-up
            started = time.perf_counter()
            for feats in utterances:
                onnx.decode(feats.numpy())
            seconds = time.perf_counter() - started
            name = f"onnxruntime {'int8' if int8 else 'fp32'}"
            rows.append([name, audio, seconds, seconds / audio])
        rate = recognizer.fbank.sample_rate
        online = sherpa.online_recognizer(export_dir, threads=threads)
        noise = np.random.default_rng(0)
        waves = [
            0.1 * noise.standard_normal(int(len(f) * recognizer.fbank.frame_shift * rate / 1000))
            for f in utterances
        ]
        sherpa.transcribe_streaming(online, waves[0][: rate // 2].astype(np.float32), rate)
        started = time.perf_counter()
        for wave in waves:
            sherpa.transcribe_streaming(online, wave.astype(np.float32), rate)
        seconds = time.perf_counter() - started
        rows.append(["sherpa-onnx online", audio, seconds, seconds / audio])
    return rows


def load_model(args: argparse.Namespace) -> tuple[Transducer, FbankConfig]:
    """The recogniser of ``--model``, or a fresh model of ``--config`` (``--vocab-size`` ids)."""
    if args.model:
        recognizer = Recognizer.load(args.model)
        return recognizer.model.eval(), recognizer.fbank
    config = benchlib.load_asr_config(args)
    return benchlib.build_model(config.model, args.vocab_size, args.seed).eval(), config.fbank


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    benchlib.add_common_options(parser, threads=1)
    parser.add_argument("--model", help="a recogniser directory (default: a fresh model)")
    parser.add_argument("--num-utts", type=int, default=24, help="utterances decoded")
    parser.add_argument(
        "--durations",
        type=float,
        nargs="+",
        default=[2.0, 4.0, 8.0],
        help="seconds of the utterances, cycled",
    )
    parser.add_argument("--vocab-size", type=int, default=256, help="fresh model's vocabulary")
    args = parser.parse_args(argv)
    if args.quick:
        args.num_utts, args.durations, args.vocab_size = 2, [1.0, 2.0], 16
    if args.num_utts < 1 or min(args.durations) <= 0:
        parser.error("--num-utts must be at least 1 and --durations positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Decode both ways, print RTFs, their ratio, chunk latency and hypothesis agreement."""
    args = parse_args(argv)
    threads = benchlib.set_threads(args.threads)
    model, fbank = load_model(args)
    chunk_frames = 4 * model.config.encoder.chunk_size
    durations = [args.durations[i % len(args.durations)] for i in range(args.num_utts)]
    gen = torch.Generator().manual_seed(args.seed)
    utterances = [benchlib.synthetic_features(s, fbank, gen) for s in durations]
    benchlib.print_header(
        "ASR streaming decoding: chunked greedy vs whole-utterance greedy",
        torch.device("cpu"),
        {
            "model": args.model or "fresh",
            "params": f"{model.num_parameters() / 1e6:.2f}M",
            "utts": len(durations),
            "audio": f"{sum(durations):.1f} s",
            "chunk": f"{chunk_frames} frames ({chunk_frames * fbank.frame_shift:.0f} ms)",
            "left_chunks": model.config.encoder.left_chunks,
            "threads": threads,
        },
    )
    warm_up = utterances[0][: 2 * chunk_frames]
    decode_whole(model, warm_up)
    decode_streaming(model, warm_up, chunk_frames)
    whole_seconds, latencies, matches, tokens = 0.0, [], 0, 0
    for feats in progress_bar(utterances, desc="decode", unit="utt", leave=False):
        whole, seconds = decode_whole(model, feats)
        streamed, chunk_seconds = decode_streaming(model, feats, chunk_frames)
        whole_seconds += seconds
        latencies.extend(chunk_seconds)
        matches += whole.tokens == streamed.tokens
        tokens += len(whole.tokens)
    audio = sum(durations)
    stream_seconds = sum(latencies)
    rows = [
        ["torch whole", audio, whole_seconds, whole_seconds / audio],
        ["torch streaming", audio, stream_seconds, stream_seconds / audio],
    ]
    if args.model:
        rows += deploy_rows(args.model, utterances, audio, threads)
    print(benchlib.format_table(["decoding", "audio_s", "compute_s", "RTF"], rows))
    for name, _, _, rtf in rows[2:]:
        print(f"RTF {name}: {rtf:.4f} ({rtf / rows[1][3]:.2f} x torch streaming)")
    print(f"RTF whole: {whole_seconds / audio:.4f}")
    print(f"RTF streaming: {stream_seconds / audio:.4f}")
    print(f"ratio (streaming / whole): {stream_seconds / whole_seconds:.3f}")
    milliseconds = 1000 * np.asarray(latencies)
    print(
        f"chunk latency: mean {milliseconds.mean():.1f} ms, p95 "
        f"{np.percentile(milliseconds, 95):.1f} ms over {len(latencies)} chunks"
    )
    print(f"same hypotheses: {matches}/{len(durations)}")
    print(f"tokens emitted: {tokens / audio:.1f} per audio second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
