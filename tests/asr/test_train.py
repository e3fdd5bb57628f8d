"""Starting points of ``train_asr``: a recogniser's encoder under a new (romanized) tokenizer."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest
import torch

from speechml.asr.adapters import AdaptedBlock, add_adapters
from speechml.asr.recognizer import Recognizer
from speechml.asr.train import (
    AsrTrainConfig,
    check_starting_point,
    encoder_initialised_recognizer,
    make_step_hook,
    make_valid_fn,
    train_asr,
)
from speechml.cli import main
from speechml.config import from_dict
from speechml.data.augment import SpecAugment
from speechml.data.datadir import DataDir
from speechml.data.feature_store import compute_cmvn_stats
from speechml.data.features import FbankConfig
from speechml.data.tokenizer import load_tokenizer, train_tokenizer
from speechml.errors import ConfigError
from speechml.lang.script import scripts_in
from speechml.score.trn import read_trn


@pytest.fixture(scope="module")
def tiny(tiny_asr_config):
    """The tiny config with a 2-step run and 8 validation utterances."""
    return tiny_asr_config(max_steps=2, valid_utts=8)


#: Native-script transcripts by language (utt2lang of the conftest data dir).
NATIVE = {"kat": ["გამარჯობა", "მადლობა თბილისი"], "rus": ["привет мир", "спасибо"]}


@pytest.fixture(scope="module")
def native(tmp_path_factory, data_dir_writer, tiny):
    """(data dir in Georgian and Russian script, recogniser dir trained 2 steps on it)."""
    root = tmp_path_factory.mktemp("native")
    path = data_dir_writer(root, num_utts=8, languages=("kat", "rus"))
    data = DataDir.read(path)
    for i, utt in enumerate(data.utts):
        texts = NATIVE[data.utt2lang[utt]]
        data.text[utt] = texts[i % len(texts)]
    data.write(path)
    train_tokenizer(data.text.values(), "char", None, root / "lang")
    compute_cmvn_stats(data, FbankConfig()).save(root / "cmvn.json")
    config = from_dict(AsrTrainConfig, tiny)
    train_asr(config, path, path, root / "exp", root / "lang", root / "cmvn.json")
    return path, root / "exp" / "model"


@pytest.fixture(scope="module")
def romanized(native):
    """(romanized data dir, its char tokenizer dir), made with the CLI as a recipe would."""
    path, _ = native
    rom = path.parent / "rom"
    assert main(["text", "romanize", str(path), str(rom)]) == 0
    lang = path.parent / "lang_rom"
    assert main(["data", "train-tokenizer", "--kind", "char", "--out", str(lang), str(rom)]) == 0
    return rom, lang


def assert_same_state(expected: dict[str, torch.Tensor], actual: dict[str, torch.Tensor]) -> None:
    assert expected.keys() == actual.keys()
    for name, value in expected.items():
        assert torch.equal(value, actual[name]), name


def assert_latin(texts: list[str]) -> None:
    """Every character is Latin or common (space, digits, punctuation)."""
    assert set(scripts_in("".join(texts))) <= {"Latn", "Zyyy"}, texts


def test_init_copies_encoder_front_end_and_cmvn_under_the_new_vocabulary(native, romanized, caplog):
    _, source_dir = native
    rom, lang = romanized
    source = Recognizer.load(source_dir)
    tokenizer = load_tokenizer(lang)
    assert tokenizer.vocab_size != source.tokenizer.vocab_size
    config = AsrTrainConfig()  # default encoder and fbank: not used, and no warning
    with caplog.at_level(logging.INFO, logger="speechml.asr.train"):
        new = encoder_initialised_recognizer(config.model, config.fbank, tokenizer, source_dir)
    assert "is not used" not in caplog.text
    set_encoder = replace(config.model, encoder=replace(config.model.encoder, num_layers=3))
    with caplog.at_level(logging.INFO, logger="speechml.asr.train"):
        encoder_initialised_recognizer(set_encoder, config.fbank, tokenizer, source_dir)
    assert "d_model 32 (not 144)" in caplog.text  # set, and not used: said so
    assert "num_layers 2 (not 3)" in caplog.text
    assert new.model.config.encoder == source.model.config.encoder
    assert_same_state(source.model.encoder.state_dict(), new.model.encoder.state_dict())
    assert new.fbank == source.fbank
    assert new.cmvn.count == source.cmvn.count
    assert torch.equal(new.cmvn.sum, source.cmvn.sum)
    assert torch.equal(new.cmvn.sum_sq, source.cmvn.sum_sq)
    assert new.tokenizer.tokens == tokenizer.tokens
    vocab = tokenizer.vocab_size
    assert new.model.config.vocab_size == vocab
    assert new.model.ctc_head.out_features == vocab
    assert new.model.joiner.out.out_features == vocab
    assert new.model.predictor.embedding.num_embeddings == vocab
    assert new.model.config.predictor == config.model.predictor
    # untrained heads emit plenty of tokens: all of them romanized characters
    hyps = new.decode_data_dir(DataDir.read(rom)).texts
    assert sum(len(text) for text in hyps.values()) > 0
    assert_latin(list(hyps.values()))


def test_same_vocabulary_keeps_the_ctc_head_of_a_ctc_stage(native, tiny):
    path, source_dir = native
    config = from_dict(AsrTrainConfig, tiny)
    tokenizer = load_tokenizer(path.parent / "lang")
    new = encoder_initialised_recognizer(config.model, config.fbank, tokenizer, source_dir)
    source = Recognizer.load(source_dir).model
    assert_same_state(source.ctc_head.state_dict(), new.model.ctc_head.state_dict())
    assert not torch.equal(source.joiner.out.weight, new.model.joiner.out.weight)


def metrics(exp_dir) -> list[dict[str, float]]:
    lines = (exp_dir / "log/metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_ctc_stage_validates_with_the_ctc_head_then_starts_a_transducer(native, tiny, tmp_path):
    path, _ = native
    lang, cmvn = path.parent / "lang", path.parent / "cmvn.json"
    ctc = from_dict(AsrTrainConfig, {**tiny, "model": {**tiny["model"], "ctc_weight": 1.0}})
    train_asr(ctc, path, path, tmp_path / "ctc", lang, cmvn)
    assert all("rnnt" not in step for step in metrics(tmp_path / "ctc"))
    assert any("dev_cer" in step for step in metrics(tmp_path / "ctc"))
    decoded = Recognizer.load(tmp_path / "ctc/model").decode_data_dir(DataDir.read(path), "ctc")
    assert decoded.texts.keys() == set(DataDir.read(path).utts)
    config = from_dict(AsrTrainConfig, tiny)
    rnnt = train_asr(
        config, path, path, tmp_path / "rnnt", lang, init_encoder_from=tmp_path / "ctc/model"
    )
    assert rnnt.model.config.ctc_weight == 0.3
    assert any("rnnt" in step for step in metrics(tmp_path / "rnnt"))


def test_adapters_of_the_source_are_not_copied(native, romanized, tmp_path, caplog, tiny):
    _, source_dir = native
    _, lang = romanized
    adapted = Recognizer.load(source_dir)
    add_adapters(adapted.model, ["kat"])
    adapted.save(tmp_path / "adapted")
    config = from_dict(AsrTrainConfig, tiny)
    with caplog.at_level(logging.WARNING, logger="speechml.asr.train"):
        new = encoder_initialised_recognizer(
            config.model, config.fbank, load_tokenizer(lang), tmp_path / "adapted"
        )
    assert "adapters (kat) are not copied" in caplog.text
    assert not any(isinstance(m, AdaptedBlock) for m in new.model.modules())
    source = Recognizer.load(source_dir).model.encoder.state_dict()
    assert_same_state(source, new.model.encoder.state_dict())


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ({"init_from": "a", "init_encoder_from": "b"}, "exclude each other"),
        ({"init_from": "a", "tokenizer_dir": "t"}, "drop --tokenizer and --cmvn"),
        ({"init_from": "a", "cmvn_path": "c"}, "drop --tokenizer and --cmvn"),
        ({"init_encoder_from": "b"}, "needs --tokenizer"),
        ({"init_encoder_from": "b", "tokenizer_dir": "t", "cmvn_path": "c"}, "--cmvn c is not"),
        ({"cmvn_path": "c"}, "--tokenizer is required"),
    ],
)
def test_conflicting_starting_points_are_config_errors(sources, message):
    with pytest.raises(ConfigError, match=message):
        check_starting_point(**sources)


def train_args(tiny, data, exp, *options) -> list[str]:
    """``speechml asr train`` on ``data`` (train and dev) with the tiny config, 2 steps."""
    config = exp.parent / "tiny.json"
    config.write_text(json.dumps(tiny))  # JSON is YAML
    return ["asr", "train", "--config", str(config), "--train", str(data), "--dev", str(data),
            "--exp", str(exp), *options]  # fmt: skip


def test_cli_refuses_bad_combinations_before_writing_anything(
    native, romanized, tmp_path, capsys, tiny
):
    path, source_dir = native
    rom, lang = romanized
    exp = tmp_path / "exp"
    init = ["--init-encoder", str(source_dir)]
    assert main(train_args(tiny, rom, exp, *init)) == 1
    assert "needs --tokenizer" in capsys.readouterr().err
    cmvn = ["--cmvn", str(source_dir / "cmvn.json")]
    assert main(train_args(tiny, rom, exp, *init, "--tokenizer", str(lang), *cmvn)) == 1
    assert not exp.exists()
    with pytest.raises(SystemExit) as exit_info:  # argparse: mutually exclusive options
        main(train_args(tiny, rom, exp, *init, "--init", str(source_dir), "--tokenizer", str(lang)))
    assert exit_info.value.code == 2
    not_a_model = ["--init-encoder", str(path), "--tokenizer", str(lang)]
    assert main(train_args(tiny, rom, exp, *not_a_model)) == 1
    assert f"{path}: not a model directory" in capsys.readouterr().err


@pytest.fixture(scope="module")
def romanized_exp(native, romanized, tiny):
    """``speechml asr train --init-encoder`` on the romanized data: (exp dir, source dir)."""
    _, source_dir = native
    rom, lang = romanized
    exp = rom.parent / "exp_rom"
    options = ["--init-encoder", str(source_dir), "--tokenizer", str(lang)]
    settings = ["train.max_steps=8", "train.valid_every=8", "train.lr=0.005"]
    overrides = [x for setting in settings for x in ("--set", setting)]
    assert main(train_args(tiny, rom, exp, *options, *overrides)) == 0
    return exp, source_dir


def test_short_training_from_the_encoder_lowers_the_loss(romanized, romanized_exp, tiny):
    rom, lang = romanized
    exp, source_dir = romanized_exp
    config = from_dict(AsrTrainConfig, tiny)
    torch.manual_seed(config.train.seed)  # as train_asr: the model training started from
    start = encoder_initialised_recognizer(
        config.model, config.fbank, load_tokenizer(lang), source_dir
    )
    trained = Recognizer.load(exp / "model")

    def dev_loss(recognizer: Recognizer) -> float:
        dev = recognizer.dataset(DataDir.read(rom), with_text=True)
        with torch.no_grad():
            return make_valid_fn(dev, recognizer)(recognizer.model.eval())["valid_loss"]

    before, after = dev_loss(start), dev_loss(trained)
    assert after < 0.8 * before, (before, after)  # 4.27 -> 3.00 here
    source = Recognizer.load(source_dir)
    assert trained.fbank == source.fbank
    assert torch.equal(trained.cmvn.sum, source.cmvn.sum)
    assert "--init-encoder" in (exp / "replay.sh").read_text()


def test_romanized_flow_decodes_latin_only(native, romanized, romanized_exp):
    path, _ = native
    rom, lang = romanized
    exp, _ = romanized_exp
    native_text = list(DataDir.read(path).text.values())
    assert {"Geor", "Cyrl"} <= set(scripts_in(" ".join(native_text)))
    assert_latin(list(DataDir.read(rom).text.values()))
    assert Recognizer.load(exp / "model").tokenizer.tokens == load_tokenizer(lang).tokens
    out = exp / "decode_test"
    args = ["asr", "decode", "--model", str(exp / "model"), "--data", str(rom), "--out", str(out)]
    assert main(args) == 0
    hyps = read_trn(out / "hyp.trn")
    assert sorted(hyps) == sorted(DataDir.read(rom).utts)
    assert_latin(list(hyps.values()))  # 8 steps: mostly blanks still


def test_spec_augment_starts_at_its_step_and_the_loss_weights_warm_up(tiny):
    config = replace(from_dict(AsrTrainConfig, tiny), spec_augment_start_step=3)
    config = replace(config, loss_warmup_steps=4)
    augment = SpecAugment(config.spec_augment)
    calls = []

    class Model(torch.nn.Module):
        def set_loss_scales(self, step, warmup):
            calls.append((step, warmup))

    hook = make_step_hook(config, augment)
    feats = torch.randn(2, 50, 80)
    for step in range(5):
        hook(Model(), step)
        masked = not torch.equal(augment(feats, torch.tensor([50, 50])), feats)
        assert augment.training == masked == (step >= 3)
    assert calls == [(step, 4) for step in range(5)]
