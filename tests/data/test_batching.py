"""Duration-bucketed batching: caps, coverage, determinism, data-parallel sharding."""

from __future__ import annotations

import random

from speechml.data.batching import DurationBatchSampler

DURATIONS = [random.Random(3).uniform(0.5, 8.0) for _ in range(200)]


def test_every_item_once_and_caps_respected():
    sampler = DurationBatchSampler(DURATIONS, max_seconds=40.0, max_batch_size=16)
    batches = list(sampler)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(DURATIONS)))
    for batch in batches:
        assert len(batch) <= 16
        longest = max(DURATIONS[i] for i in batch)
        assert longest * len(batch) <= 40.0 or len(batch) == 1


def test_bucketing_pads_less_than_random_batches():
    def padding(sampler):
        total = sum(max(DURATIONS[i] for i in b) * len(b) for b in sampler)
        return total - sum(DURATIONS)

    bucketed = DurationBatchSampler(DURATIONS, max_batch_size=16, num_buckets=10)
    plain = DurationBatchSampler(DURATIONS, max_batch_size=16, num_buckets=1)
    assert padding(bucketed) < 0.5 * padding(plain)


def test_order_depends_only_on_seed_and_epoch():
    a = DurationBatchSampler(DURATIONS, max_seconds=40.0, seed=7)
    b = DurationBatchSampler(DURATIONS, max_seconds=40.0, seed=7)
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b)
    b.set_epoch(3)
    assert list(a) != list(b)


def test_ranks_get_disjoint_equal_shares():
    shards = [
        list(DurationBatchSampler(DURATIONS, max_seconds=40.0, rank=r, world_size=3))
        for r in range(3)
    ]
    assert len({len(s) for s in shards}) == 1
    seen = [i for shard in shards for batch in shard for i in batch]
    assert len(seen) == len(set(seen))
