"""``speechml data compute-fbank / compute-cmvn / speed-perturb / train-tokenizer`` on a tiny
data dir."""

from __future__ import annotations

import argparse
import logging

import pytest
import torch

from speechml.cli.features import register
from speechml.data.audio import load_utterance
from speechml.data.datadir import DataDir
from speechml.data.feature_store import DataDirFbank, FeatureStore
from speechml.data.features import CmvnStats, FbankConfig, GlobalCMVN, compute_fbank
from speechml.data.tokenizer import load_tokenizer
from speechml.errors import ConfigError, DataError

RATE = 16000


def run(*argv: str) -> None:
    """Parse ``argv`` as ``speechml data ...`` with this module's verbs and run the handler."""
    parser = argparse.ArgumentParser(prog="speechml data")
    register(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args([str(a) for a in argv])
    assert args.func(args) in (None, 0)


@pytest.fixture
def data_path(make_data_dir):
    """Three utterances of 0.5 s, speakers spk1 (eng) and spk2 (rus)."""
    return make_data_dir(num_utts=3, languages=("eng", "rus"))


def test_compute_fbank_stores_the_features_once(data_path, caplog):
    with caplog.at_level(logging.INFO):
        run("compute-fbank", data_path, "--set", "num_mel_bins=40", "--nj", "1")
    assert f"wrote {data_path}/fbank: 3 utterances, 144 frames" in caplog.text
    store = FeatureStore.read(data_path / "fbank")
    assert store.config == FbankConfig(num_mel_bins=40)
    data = DataDir.read(data_path)
    utt = data.utts[2]
    expected = compute_fbank(load_utterance(data, utt, RATE), store.config)
    assert torch.equal(store.features(utt), expected)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        run("compute-fbank", data_path, "--set", "num_mel_bins=40")
    assert f"{data_path}/fbank is up to date: 3 utterances, 144 frames" in caplog.text
    run("compute-fbank", data_path)
    assert DataDirFbank(data, FbankConfig()).stored == 3


def test_compute_cmvn_reads_the_store(data_path, tmp_path, monkeypatch):
    run("compute-cmvn", data_path, "--out", tmp_path / "computed.json")
    run("compute-fbank", data_path)
    monkeypatch.setattr("speechml.data.feature_store.load_utterance", None)  # no audio read
    run("compute-cmvn", data_path, "--out", tmp_path / "stored.json")
    assert (tmp_path / "stored.json").read_text() == (tmp_path / "computed.json").read_text()


def test_compute_cmvn(data_path, tmp_path):
    out = tmp_path / "cmvn.json"
    run("compute-cmvn", data_path, "--out", out, "--max-utts", "2", "--set", "num_mel_bins=40")
    stats = CmvnStats.load(out)
    assert stats.sum.shape == (40,)
    assert stats.count == 2 * 48  # two utterances of 0.5 s: 48 frames each


def test_compute_cmvn_rejects_unknown_option(data_path, tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'mel_bins'"):
        run("compute-cmvn", data_path, "--out", tmp_path / "c.safetensors", "--set", "mel_bins=4")


def test_speed_perturb(data_path, tmp_path):
    run("speed-perturb", data_path, tmp_path / "sp", "--factors", "0.9", "1.0")
    out = DataDir.read(tmp_path / "sp")
    utts = DataDir.read(data_path).utts
    assert set(out.utts) == set(utts) | {f"sp0.9-{u}" for u in utts}
    assert out.utt2dur[f"sp0.9-{utts[1]}"] == pytest.approx(0.5 / 0.9, abs=1e-3)
    assert all((tmp_path / "sp" / "wav" / f"{u}.wav").is_file() for u in out.utts)


def test_speed_perturb_refuses_pipes_unless_allowed(data_path, tmp_path):
    scp = data_path / "wav.scp"
    lines = scp.read_text().splitlines()
    lines[0] = lines[0].replace(" ", " cat ", 1) + " |"
    scp.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="pipe"):
        run("speed-perturb", data_path, tmp_path / "sp")
    run("speed-perturb", data_path, tmp_path / "sp", "--factors", "1.1", "--allow-pipes")
    assert len(DataDir.read(tmp_path / "sp")) == 3


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_train_tokenizer(data_path, tmp_path, kind):
    out = tmp_path / "tok"
    size = [] if kind == "char" else ["--vocab-size", "16"]
    run("train-tokenizer", "--out", out, "--kind", kind, *size, "--balance-languages", data_path)
    tokenizer = load_tokenizer(out)
    assert tokenizer.decode(tokenizer.encode("hello number 2")) == "hello number 2"
    assert tokenizer.blank_id == 0
    if kind == "bpe":
        assert tokenizer.vocab_size == 16


def test_written_stats_normalise_the_training_features(data_path, tmp_path):
    run("compute-cmvn", data_path, "--out", tmp_path / "cmvn.safetensors")
    cmvn = GlobalCMVN(CmvnStats.load(tmp_path / "cmvn.safetensors"))
    data = DataDir.read(data_path)
    features = torch.cat([compute_fbank(load_utterance(data, utt, RATE)) for utt in data.utts])
    normed = cmvn(features)
    assert normed.shape == features.shape == (3 * 48, 80)
    torch.testing.assert_close(normed.mean(dim=0), torch.zeros(80), atol=1e-3, rtol=0)
    torch.testing.assert_close(normed.std(dim=0, correction=0), torch.ones(80), atol=1e-3, rtol=0)
