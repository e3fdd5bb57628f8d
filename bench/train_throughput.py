"""Training throughput of the transducer: duration-bucketed batches against plain padded ones.

Both arms train the same model from the same initial weights for the same number of steps
(AdamW, forward, backward, step; one untimed warm-up step each) with the same batch caps; only
the sampler differs (``DurationBatchSampler`` with ``--num-buckets`` against ``num_buckets=1``).
Their timed steps alternate, so that a machine shared with other jobs slows both alike.
Throughput is real (unpadded) audio seconds trained per wall-clock second; the padding
fraction is ``1 - real seconds / padded seconds`` (padded: longest utterance x batch size).

The data is synthetic (normalised-fbank-like random features, durations uniform in
``--min-duration``..``--max-duration`` like the embedded corpus, random targets at
``--tokens-per-second``) or a data dir (``--data DIR``: features computed up front, a character
tokenizer trained on its text on the fly). The model is the library's default, or the
``model`` section of ``--config``.

Example:
    .venv/bin/python bench/train_throughput.py --steps 6 --threads 2
    .venv/bin/python bench/train_throughput.py --data data/train --config egs/kat/conf/asr.yaml
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from typing import Any

import benchlib
import torch
from torch.utils.data import Dataset

from speechml.asr.data import AsrDataset, collate_asr
from speechml.asr.train import make_loss_fn
from speechml.asr.transducer import Transducer
from speechml.data.batching import DurationBatchSampler
from speechml.data.datadir import DataDir
from speechml.data.features import FbankConfig
from speechml.data.ops import random_utts, subset_data_dir
from speechml.data.tokenizer import texts_from_data_dirs, train_tokenizer
from speechml.progress import progress_bar


class SyntheticUtterances(Dataset):
    """Items like :class:`AsrDataset`'s (``utt``, ``lang``, ``feats`` (T, F), ``tokens`` (U,)).

    Args:
        durations: seconds of each utterance.
        fbank: front end whose frame count and dimension the features take.
        vocab_size: token ids are drawn from ``1 .. vocab_size - 1`` (0 is blank).
        tokens_per_second: target length per second of audio (at least one token).
        seed: seed of features and targets.
    """

    def __init__(
        self,
        durations: list[float],
        fbank: FbankConfig,
        vocab_size: int,
        tokens_per_second: float,
        seed: int,
    ) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.items = []
        for i, seconds in enumerate(durations):
            feats = benchlib.synthetic_features(seconds, fbank, gen)
            length = max(1, round(seconds * tokens_per_second))
            tokens = torch.randint(1, vocab_size, (length,), generator=gen)
            item = {"utt": f"synth{i:05d}", "lang": None, "feats": feats, "tokens": tokens}
            self.items.append(item)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.items[index]


def padded_seconds(batches: list[list[int]], durations: list[float]) -> tuple[float, float]:
    """(real, padded) seconds of ``batches``; padded: each utterance at its batch's longest."""
    real = sum(durations[i] for batch in batches for i in batch)
    padded = sum(len(batch) * max(durations[i] for i in batch) for batch in batches)
    return real, padded


def take_batches(sampler: DurationBatchSampler, count: int) -> list[list[int]]:
    """The first ``count`` batches of the sampler, epoch after epoch."""
    if len(sampler) == 0:
        raise ValueError("the sampler yields no batch")
    batches: list[list[int]] = []
    epoch = 0
    while len(batches) < count:
        sampler.set_epoch(epoch)
        batches.extend(sampler)
        epoch += 1
    return batches[:count]


class Arm:
    """One way of batching: its own copy of the model and optimizer, its batches, its clock.

    Args:
        name: the arm's name in the table.
        model: the model to copy (both arms start from the same weights).
        batches: dataset indices of each step; the first is an untimed warm-up.
        dataset: items for :func:`collate_asr`.
        durations: seconds of each dataset item.
        device: where to train (bf16 autocast on a GPU, as the trainer's ``auto``).
    """

    def __init__(
        self,
        name: str,
        model: Transducer,
        batches: list[list[int]],
        dataset: Dataset,
        durations: list[float],
        device: torch.device,
    ) -> None:
        self.name = name
        self.model = copy.deepcopy(model).train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        self.loss_fn = make_loss_fn(augment=None)
        self.warm_up, self.timed = batches[0], batches[1:]
        self.dataset = dataset
        self.device = device
        self.wall_seconds = 0.0
        self.audio_seconds, self.padded_seconds = padded_seconds(self.timed, durations)

    def step(self, indices: list[int]) -> float:
        """One optimizer step on the batch ``indices``; returns its loss."""
        batch = collate_asr([self.dataset[i] for i in indices])
        batch = {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        on_gpu = self.device.type == "cuda"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=on_gpu):
            loss, _ = self.loss_fn(self.model, batch)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        return loss.item()

    def timed_step(self, index: int) -> float:
        """Step on timed batch ``index``, adding its wall time to the arm's clock."""
        benchlib.synchronize(self.device)
        started = time.perf_counter()
        loss = self.step(self.timed[index])
        benchlib.synchronize(self.device)
        self.wall_seconds += time.perf_counter() - started
        return loss

    @property
    def throughput(self) -> float:
        """Real audio seconds trained per wall-clock second."""
        return self.audio_seconds / max(1e-9, self.wall_seconds)

    @property
    def padding(self) -> float:
        """Share of the padded batches that is padding."""
        return 1.0 - self.audio_seconds / max(1e-9, self.padded_seconds)

    def row(self) -> list[object]:
        """The arm's row of the printed table."""
        return [
            self.name,
            len(self.timed),
            sum(map(len, self.timed)),
            self.audio_seconds,
            100 * self.padding,
            self.wall_seconds,
            self.throughput,
        ]


def train_interleaved(arms: list[Arm], steps: int) -> None:
    """Warm every arm up, then take their timed steps in turn, so that a machine shared with
    other jobs slows each arm alike."""
    for arm in arms:
        arm.step(arm.warm_up)
    bar = progress_bar(range(steps), desc="train", unit="step", leave=False)
    for index in bar:
        losses = {arm.name: f"{arm.timed_step(index):.3f}" for arm in arms}
        bar.set_postfix(**losses)


def data_dir_dataset(
    path: str, fbank: FbankConfig, max_utts: int | None, tokenizer_dir: str, seed: int
) -> tuple[AsrDataset, int]:
    """An :class:`AsrDataset` over (a random subset of) ``path`` with features computed up front.

    Returns the dataset and the vocabulary size of the character tokenizer trained on its text.
    """
    data = DataDir.read(path)
    if max_utts is not None and len(data) > max_utts:
        data = subset_data_dir(data, random_utts(data, max_utts, seed=seed))
    tokenizer = train_tokenizer(texts_from_data_dirs([data]), "char", None, tokenizer_dir)
    dataset = AsrDataset(data, tokenizer, fbank)
    for index in progress_bar(range(len(dataset)), desc="features", unit="utt"):
        dataset.features(index)
    return dataset, tokenizer.vocab_size


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    benchlib.add_common_options(parser)
    parser.add_argument("--device", default="auto", help="auto (GPU if any), cpu or cuda")
    parser.add_argument("--data", help="a data dir to train on instead of synthetic utterances")
    parser.add_argument("--max-utts", type=int, default=1000, help="--data: utterances used")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per arm")
    parser.add_argument("--num-utts", type=int, default=400, help="synthetic utterances")
    parser.add_argument("--min-duration", type=float, default=0.8, help="synthetic, seconds")
    parser.add_argument("--max-duration", type=float, default=4.0, help="synthetic, seconds")
    parser.add_argument("--tokens-per-second", type=float, default=12.0, help="synthetic targets")
    parser.add_argument("--vocab-size", type=int, default=256, help="synthetic vocabulary")
    parser.add_argument(
        "--max-batch-seconds", type=float, default=40.0, help="padded seconds a batch"
    )
    parser.add_argument("--max-batch-size", type=int, default=32, help="utterances a batch")
    parser.add_argument("--num-buckets", type=int, default=10, help="buckets of the bucketed arm")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.num_utts, args.max_batch_seconds = 2, 40, 12.0
        args.vocab_size, args.max_utts = 16, min(args.max_utts, 40)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run both arms and print their table and the ratio; returns 0."""
    args = parse_args(argv)
    threads = benchlib.set_threads(args.threads)
    device = benchlib.resolve_device(args.device)
    config = benchlib.load_asr_config(args)
    fbank = config.fbank
    with tempfile.TemporaryDirectory() as tokenizer_dir:
        if args.data:
            dataset, vocab_size = data_dir_dataset(
                args.data, fbank, args.max_utts, tokenizer_dir, args.seed
            )
            durations = dataset.durations
        else:
            vocab_size = args.vocab_size
            durations = benchlib.synthetic_durations(
                args.num_utts, args.min_duration, args.max_duration, args.seed
            )
            dataset = SyntheticUtterances(
                durations, fbank, vocab_size, args.tokens_per_second, args.seed
            )
    model = benchlib.build_model(config.model, vocab_size, args.seed).to(device)
    samplers = {
        "bucketed": DurationBatchSampler(
            durations, args.max_batch_seconds, args.max_batch_size, args.num_buckets, seed=args.seed
        ),
        "padded": DurationBatchSampler(
            durations, args.max_batch_seconds, args.max_batch_size, 1, seed=args.seed
        ),
    }
    benchlib.print_header(
        "ASR training throughput: duration-bucketed vs plain padded batches",
        device,
        {
            "data": args.data
            or f"synthetic {len(durations)} utts {args.min_duration}-{args.max_duration} s",
            "audio": f"{sum(durations) / 3600:.2f} h",
            "params": f"{model.num_parameters() / 1e6:.2f}M",
            "vocab": vocab_size,
            "steps": args.steps,
            "max_batch_seconds": args.max_batch_seconds,
            "max_batch_size": args.max_batch_size,
            "num_buckets": args.num_buckets,
            "threads": threads,
        },
    )
    arms = [
        Arm(name, model, take_batches(sampler, args.steps + 1), dataset, durations, device)
        for name, sampler in samplers.items()
    ]
    train_interleaved(arms, args.steps)
    print(
        benchlib.format_table(
            ["batches", "steps", "utts", "audio_s", "padding_%", "wall_s", "audio_s_per_s"],
            [arm.row() for arm in arms],
        )
    )
    bucketed, padded = arms
    print(f"throughput bucketed: {bucketed.throughput:.3f} audio s/s")
    print(f"throughput padded: {padded.throughput:.3f} audio s/s")
    print(f"ratio (bucketed / padded): {bucketed.throughput / padded.throughput:.3f}")
    for name, sampler in samplers.items():
        real, padded_total = padded_seconds(sampler.all_batches(), durations)
        print(f"padding over one epoch, {name}: {100 * (1 - real / padded_total):.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
