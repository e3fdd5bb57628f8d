"""First-epoch feature access with and without the data dir's feature store.

Two arms read the normalisable fbank of every utterance once through ``AsrDataset.features``,
as a training job's first epoch does: "computed" without a store (audio decoded, resampled and
turned into fbank), "stored" after ``write_store`` (rows read from the shards). The store is
written into a copy of the data dir's tables in a temporary directory (the audio is not
copied), with ``--nj`` processes; its time and size are printed apart. The two arms' features
must be identical (``same features``).

By default the data is synthetic: ``--num-utts`` utterances of noise lasting 0.8-4 s (the
embedded corpus's range) at 16 kHz; ``--data DIR`` measures a data dir (its first
``--max-utts`` utterances).

Example:
    .venv/bin/python bench/feature_access.py --num-utts 500
    .venv/bin/python bench/feature_access.py --data egs/kat/data/train --max-utts 2000 --nj 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import benchlib
import numpy as np
import torch

from speechml.asr.data import AsrDataset
from speechml.data.audio import write_audio
from speechml.data.datadir import DataDir
from speechml.data.feature_store import write_store
from speechml.data.features import FbankConfig
from speechml.data.ops import first_utts, subset_data_dir


def synthetic_data_dir(root: Path, count: int, seed: int) -> DataDir:
    """``count`` utterances of noise, 0.8-4 s each, written under ``root``."""
    rng = np.random.default_rng(seed)
    data = DataDir()
    for i, seconds in enumerate(benchlib.synthetic_durations(count, 0.8, 4.0, seed)):
        utt = f"spk1-utt{i:05d}"
        audio = root / "audio" / f"{utt}.wav"
        noise = 0.1 * rng.standard_normal(int(seconds * 16000))
        write_audio(audio, noise.astype(np.float32), 16000)
        data.wav_scp[utt], data.utt2spk[utt], data.utt2dur[utt] = str(audio), "spk1", seconds
    data.write(root / "data")
    return DataDir.read(root / "data")


def first_epoch(data: DataDir, fbank: FbankConfig) -> tuple[float, list[torch.Tensor]]:
    """Seconds to read every utterance's features once through a fresh AsrDataset."""
    started = time.perf_counter()
    dataset = AsrDataset(data, None, fbank, with_text=False)
    feats = [dataset.features(i) for i in range(len(dataset))]
    return time.perf_counter() - started, feats


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    benchlib.add_common_options(parser, threads=1)
    parser.add_argument("--data", help="a data dir (default: synthetic noise)")
    parser.add_argument("--num-utts", type=int, default=300, help="synthetic utterances")
    parser.add_argument("--max-utts", type=int, default=2000, help="at most N of --data's")
    parser.add_argument("--nj", type=int, default=1, help="processes of write_store")
    args = parser.parse_args(argv)
    if args.quick:
        args.num_utts, args.max_utts = 20, 20
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = benchlib.set_threads(args.threads)
    fbank = benchlib.load_asr_config(args).fbank
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.data:
            source = DataDir.read(args.data)
            part = subset_data_dir(source, first_utts(source, min(args.max_utts, len(source))))
            part.left_behind = []
            part.write(root / "data")
            data = DataDir.read(root / "data")
        else:
            data = synthetic_data_dir(root, args.num_utts, args.seed)
        settings = {"data": args.data or "synthetic", "utts": len(data), "nj": args.nj}
        settings["threads"] = threads
        benchlib.print_header("Feature store", torch.device("cpu"), settings)
        computed, expected = first_epoch(data, fbank)
        started = time.perf_counter()
        summary = write_store(data, fbank, nj=args.nj)
        writing = time.perf_counter() - started
        stored, feats = first_epoch(DataDir.read(root / "data"), fbank)
    same = sum(torch.equal(a, b) for a, b in zip(expected, feats, strict=True))
    rows = [
        ["computed", computed, len(data) / computed],
        ["stored", stored, len(data) / stored],
    ]
    print(benchlib.format_table(["first epoch", "seconds", "utt/s"], rows))
    print(f"frames: {summary.frames}")
    print(f"store MB: {summary.bytes / 1e6:.1f}")
    print(f"write_store seconds: {writing:.2f}")
    print(f"first epoch computed seconds: {computed:.3f}")
    print(f"first epoch stored seconds: {stored:.3f}")
    print(f"speed-up: {computed / stored:.1f}")
    print(f"same features: {same}/{len(feats)}")
    return 0 if same == len(feats) else 1


if __name__ == "__main__":
    sys.exit(main())
