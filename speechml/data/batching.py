"""Duration-bucketed batching: utterances of similar length share a batch, so little is padding.

:class:`DurationBatchSampler` yields lists of dataset indices. A batch holds at most
``max_batch_size`` utterances and at most ``max_seconds`` of *padded* audio (longest utterance
times batch size). The order is a pure function of ``(seed, epoch)``, so a resumed run sees the
same batches; under data parallelism each rank takes every ``world_size``-th batch and all ranks
get the same number of batches.

Example:
    >>> sampler = DurationBatchSampler([1.0, 3.0, 1.1, 2.9], max_seconds=6.0, num_buckets=2)
    >>> sorted(sorted(b) for b in sampler)
    [[0, 2], [1, 3]]
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch


class DurationBatchSampler:
    """Batch sampler over utterance durations.

    Args:
        durations: duration in seconds of each item, indexed like the dataset.
        max_seconds: cap on padded seconds a batch (longest x count); None: no cap.
        max_batch_size: cap on utterances a batch.
        num_buckets: duration quantile buckets; 1 gives plain random (padded) batches.
        shuffle: shuffle within buckets and the batch order (by ``seed`` and epoch).
        seed: base seed of the order.
        rank: this process's rank under data parallelism.
        world_size: number of processes.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_seconds: float | None = None,
        max_batch_size: int = 32,
        num_buckets: int = 10,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.durations = [float(d) for d in durations]
        self.max_seconds = max_seconds
        self.max_batch_size = max_batch_size
        self.num_buckets = max(1, num_buckets)
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration yields."""
        self.epoch = epoch

    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)

    def _buckets(self, gen: torch.Generator) -> list[list[int]]:
        count = len(self.durations)
        order = (
            torch.randperm(count, generator=gen).tolist() if self.shuffle else list(range(count))
        )
        if self.num_buckets == 1:
            return [order]
        ranked = sorted(order, key=lambda i: self.durations[i])
        size = math.ceil(count / self.num_buckets)
        buckets = [ranked[i : i + size] for i in range(0, count, size)]
        if self.shuffle:
            buckets = [
                [b[j] for j in torch.randperm(len(b), generator=gen).tolist()] for b in buckets
            ]
        return buckets

    def _fill(self, items: list[int]) -> list[list[int]]:
        batches: list[list[int]] = []
        current: list[int] = []
        longest = 0.0
        for index in items:
            duration = self.durations[index]
            new_longest = max(longest, duration)
            too_long = (
                self.max_seconds is not None and new_longest * (len(current) + 1) > self.max_seconds
            )
            if current and (len(current) >= self.max_batch_size or too_long):
                batches.append(current)
                current, new_longest = [], duration
            current.append(index)
            longest = new_longest
        if current:
            batches.append(current)
        return batches

    def all_batches(self) -> list[list[int]]:
        """Every batch of the current epoch across all ranks, in order."""
        gen = self._generator()
        batches = [batch for bucket in self._buckets(gen) for batch in self._fill(bucket)]
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.all_batches()
        per_rank = len(batches) // self.world_size
        yield from batches[self.rank : per_rank * self.world_size : self.world_size]

    def __len__(self) -> int:
        return len(self.all_batches()) // self.world_size
