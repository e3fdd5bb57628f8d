"""Fixtures shared by the ASR tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

#: A tiny transducer and a short run: seconds on a CPU.
_TINY_ASR: dict[str, Any] = {
    "model": {
        "encoder": {
            "d_model": 32,
            "num_heads": 2,
            "ffn_dim": 64,
            "num_layers": 2,
            "num_second_pass_layers": 1,
            "conv_kernel": 5,
            "subsampling_channels": 8,
            "chunk_size": 4,
            "left_chunks": 2,
        },
        "predictor": {"embed_dim": 16, "output_dim": 16},
        "joiner_dim": 16,
    },
    "train": {
        "max_steps": 4,
        "valid_every": 2,
        "warmup_steps": 2,
        "max_batch_size": 4,
        "log_every": 1,
        "best_metric": "dev_wer",
    },
    "valid_utts": 4,
}


@pytest.fixture(scope="session")
def tiny_asr_config() -> Callable[..., dict[str, Any]]:
    """``make(max_steps=4, valid_utts=4)``: a fresh AsrTrainConfig dict of a tiny model."""

    def make(max_steps: int = 4, valid_utts: int = 4) -> dict[str, Any]:
        config = copy.deepcopy(_TINY_ASR)
        config["train"]["max_steps"] = max_steps
        config["valid_utts"] = valid_utts
        return config

    return make
