"""Fixtures shared by the ASR tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from speechml.asr.train import AsrTrainConfig, train_asr
from speechml.config import from_dict
from speechml.data.datadir import DataDir
from speechml.data.feature_store import compute_cmvn_stats
from speechml.data.features import FbankConfig
from speechml.data.tokenizer import train_tokenizer


@pytest.fixture(scope="session")
def tiny_fit_config(tiny_asr_config) -> Callable[..., dict[str, Any]]:
    """``make(max_steps=4, valid_utts=4)``: the tiny run without its model, for the configs of
    verbs that take the model from a model dir (FinetuneConfig, AdapterTrainConfig)."""

    def make(max_steps: int = 4, valid_utts: int = 4) -> dict[str, Any]:
        config = tiny_asr_config(max_steps, valid_utts)
        del config["model"]
        return config

    return make


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir_writer, tiny_asr_config):
    """(data dir of 8 eng/kat utterances, root dir, recogniser): ``root/lang`` (its char
    tokenizer), ``root/cmvn.json`` and ``root/exp/model``, a tiny model trained on it 4 steps."""
    root = tmp_path_factory.mktemp("asr")
    data = data_dir_writer(root, num_utts=8, num_speakers=2, languages=("eng", "kat"))
    texts = DataDir.read(data).text.values()
    train_tokenizer(texts, "char", None, root / "lang")
    compute_cmvn_stats(DataDir.read(data), FbankConfig()).save(root / "cmvn.json")
    config = from_dict(AsrTrainConfig, tiny_asr_config())
    recognizer = train_asr(config, data, data, root / "exp", root / "lang", root / "cmvn.json")
    return data, root, recognizer
