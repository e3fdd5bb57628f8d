"""CTC fine-tuning of a pretrained wav2vec2: vocabulary, related-language mixing, a loss that
falls, the stock transformers pipeline on the result, decoding and resume."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import transformers

from speechml.cli import main
from speechml.data.datadir import DataDir
from speechml.errors import DataError
from speechml.ssl.finetune import CtcConfig, build_vocabulary, mix_related, train_ctc
from speechml.ssl.pretrain import pretrain
from speechml.train.trainer import TrainConfig

sys.path.insert(0, str(Path(__file__).parent))
from ssl_toys import (  # noqa: E402
    syllable_audio,
    tiny_pretrain_config,
    write_syllable_dir,
)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, syllables):
    """A tiny wav2vec2 pretrained for a few steps on the toy language."""
    root = tmp_path_factory.mktemp("pretrained")
    return pretrain(tiny_pretrain_config(4), syllables, syllables, root / "exp")


def fast_ctc(max_steps: int, **train: object) -> CtcConfig:
    options = {"max_steps": max_steps, "lr": 3e-3, "warmup_steps": 5, "max_batch_size": 8}
    options.update(log_every=1, valid_every=max_steps, best_metric="dev_cer")
    return CtcConfig(mask_time_prob=0.0, train=TrainConfig(**{**options, **train}))


def losses(exp):
    lines = (exp / "log" / "metrics.jsonl").read_text().splitlines()
    return [r["loss"] for r in map(json.loads, lines) if "loss" in r]


def test_vocabulary_has_blank_unknown_and_word_delimiter():
    assert build_vocabulary(["ba ab", "c"]) == {
        "[PAD]": 0,
        "[UNK]": 1,
        "|": 2,
        "a": 3,
        "b": 4,
        "c": 5,
    }


def test_related_language_makes_up_the_asked_share(tmp_path, syllables, caplog):
    target = DataDir.read(syllables)
    related = DataDir.read(write_syllable_dir(tmp_path / "rus", 12, seed=1, lang="rus"))
    mixed, count = mix_related(target, related, 0.2)
    assert count == 4 and len(mixed) == 20  # 4 of 20 = 0.2
    assert sum(lang == "rus" for lang in mixed.utt2lang.values()) == 4
    mixed, count = mix_related(target, related, 0.6)  # 24 wanted, 12 there
    assert count == 12 and "fewer than the 24" in caplog.text


def test_loss_falls_and_the_stock_pipeline_runs_the_result(tmp_path, syllables, pretrained):
    model_dir = train_ctc(fast_ctc(30), syllables, syllables, tmp_path / "exp", pretrained)
    found = losses(tmp_path / "exp")
    assert len(found) == 30 and sum(found[-5:]) < 0.7 * sum(found[:5])
    names = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "vocab.json"} <= names
    asr = transformers.pipeline("automatic-speech-recognition", model=str(model_dir))
    audio = syllable_audio("aeiou", np.random.default_rng(0))
    text = asr({"raw": audio, "sampling_rate": 16000})["text"]
    assert isinstance(text, str) and set(text) <= set("aeiou |")  # its own vocabulary
    # the CLI decodes into a decode dir that speechml score wer reads
    out = tmp_path / "decode"
    args = ["ssl", "decode", "--model", str(model_dir), "--data", str(syllables)]
    assert main([*args, "--out", str(out)]) == 0
    assert main(["score", "wer", "--data", str(syllables), "--decode-dir", str(out)]) == 0
    assert (out / "wer").read_text().startswith("%WER ")


def test_a_resumed_fine_tuning_continues_where_it_stopped(tmp_path, syllables, pretrained):
    train_ctc(fast_ctc(4, valid_every=2), syllables, syllables, tmp_path / "exp", pretrained)
    first = len(losses(tmp_path / "exp"))
    shutil.rmtree(tmp_path / "exp" / "model")
    train_ctc(fast_ctc(6, valid_every=2), syllables, syllables, tmp_path / "exp", pretrained)
    lines = (tmp_path / "exp" / "log" / "metrics.jsonl").read_text().splitlines()
    steps = [r["step"] for r in map(json.loads, lines) if "loss" in r]
    assert first == 4 and steps[first:] == [5, 6]


def test_an_empty_transcript_names_the_utterance(tmp_path, syllables, pretrained):
    broken = DataDir.read(syllables)
    utt = broken.utts[0]
    broken.text[utt] = "  "
    broken.write(tmp_path / "broken")
    with pytest.raises(DataError, match=utt):
        train_ctc(fast_ctc(2), tmp_path / "broken", syllables, tmp_path / "exp", pretrained)
