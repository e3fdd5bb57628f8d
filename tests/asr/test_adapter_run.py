"""One adapter run for several languages: routing, per-language best steps, the merge."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from speechml.asr import train as asr_train
from speechml.asr.adapters import (
    ADAPTER_WEIGHTS,
    AdapterConfig,
    add_adapters,
    base_state_dict,
    languages,
    load_adapter,
    read_adapter_config,
)
from speechml.asr.recognizer import Recognizer
from speechml.asr.train import AdapterTrainConfig, make_loss_fn, train_adapters
from speechml.cli import main
from speechml.config import from_dict
from speechml.data.datadir import DataDir
from speechml.errors import ConfigError, DataError

sys.path.insert(0, str(Path(__file__).parent))
from test_transducer import tiny_batch, tiny_model  # noqa: E402

LANGS = ["eng", "kat"]


def adapter_grads(model, batch) -> dict[str, torch.Tensor]:
    """Language -> the gradient of its adapters' parameters (flattened) for one loss."""
    model.zero_grad()
    loss, _ = make_loss_fn(None)(model, batch)
    loss.backward()
    grads = {}
    for lang in LANGS:
        found = [
            p.grad.flatten() if p.grad is not None else torch.zeros(p.numel())
            for name, p in model.named_parameters()
            if f".adapters.{lang}." in name
        ]
        grads[lang] = torch.cat(found)
    return grads


def test_a_mixed_batch_trains_each_adapter_on_its_own_utterances_only():
    model = tiny_model(second_pass=1)
    add_adapters(model, LANGS, AdapterConfig(bottleneck_dim=4, dropout=0.0, init_scale=0.5))
    model.eval()  # no dropout, BatchNorm statistics fixed: rows are independent
    feats, lengths, targets, target_lengths = tiny_batch()
    batch = {
        "feats": feats,
        "feat_lengths": lengths,
        "targets": targets,
        "target_lengths": target_lengths,
        "langs": ["kat", "eng", "kat"],
    }
    mixed = adapter_grads(model, batch)
    assert mixed["kat"].abs().sum() > 0 and mixed["eng"].abs().sum() > 0
    # other features for the Georgian rows: the English adapter's gradient does not move
    changed = feats.clone()
    changed[[0, 2]] = torch.randn_like(changed[[0, 2]])
    moved = adapter_grads(model, {**batch, "feats": changed})
    torch.testing.assert_close(moved["eng"], mixed["eng"], rtol=1e-5, atol=1e-7)
    assert not torch.allclose(moved["kat"], mixed["kat"])
    # no Georgian row: no gradient for its adapter
    none = adapter_grads(model, {**batch, "langs": ["eng", "eng", None]})
    assert none["kat"].abs().sum() == 0


def run_config(tiny_fit_config, max_steps: int = 4) -> AdapterTrainConfig:
    """The tiny config validating (and checkpointing) every step, keeping one checkpoint."""
    config = tiny_fit_config(max_steps=max_steps)
    config["train"].update(valid_every=1, keep_last=1, lr=0.05)
    config["adapter"] = {"bottleneck_dim": 4, "init_scale": 0.1}
    return from_dict(AdapterTrainConfig, config)


#: dev WER of each language at steps 1..4 of the scripted validation: asynchronous peaks
SCRIPTED = {"eng": [90.0, 80.0, 85.0, 88.0], "kat": [95.0, 94.0, 93.0, 60.0]}


def scripted_valid_fn(dataset, recognizer, language=None, batch_size=32, per_language=()):
    """A validation whose per-language WERs follow :data:`SCRIPTED`, one value a call."""
    calls = []

    def valid_fn(model):
        calls.append(1)
        step = len(calls) - 1
        return {
            "valid_loss": 1.0,
            "dev_wer": 50.0,
            **{f"dev_wer_{lang}": SCRIPTED[lang][step] for lang in per_language},
            **{f"dev_cer_{lang}": SCRIPTED[lang][step] / 2 for lang in per_language},
        }

    return valid_fn


def test_each_language_keeps_its_adapter_from_its_own_best_step(
    trained, tiny_fit_config, monkeypatch
):
    data, root, _ = trained
    monkeypatch.setattr(asr_train, "make_valid_fn", scripted_valid_fn)
    exp = root / "scripted"
    train_adapters(run_config(tiny_fit_config), root / "exp" / "model", LANGS, data, data, exp)
    record = json.loads((exp / "best_steps.json").read_text())
    assert {lang: entry["step"] for lang, entry in record.items()} == {"eng": 2, "kat": 4}
    assert record["kat"]["dev_wer"] == 60.0 and record["kat"]["dev_cer"] == 30.0
    for lang, entry in record.items():
        config = read_adapter_config(exp / entry["adapter"])
        assert config["language"] == lang and config["best_step"] == entry["step"]
        saved = load_file(exp / entry["adapter"] / ADAPTER_WEIGHTS)
        steps = {step: load_file(exp / "checkpoints" / f"step-{step:06d}" / "model.safetensors")
                 for step in (entry["step"], 4)}  # fmt: skip
        for key, value in saved.items():  # encoder.layers.0.down.weight
            block, module, tensor = key.rsplit(".", 2)
            name = f"{block}.adapters.{lang}.{module}.{tensor}"
            assert torch.equal(value, steps[entry["step"]][name]), key
            if module == "up" and entry["step"] != 4:  # trained on after its best step
                assert not torch.equal(value, steps[4][name]), key
    assert (exp / "dev_wer_per_language.png").stat().st_size > 1000


@pytest.fixture(scope="module")
def multi_run(trained, tiny_asr_config):
    """A real two-language run through the CLI (eng and kat adapters together), 4 steps."""
    data, root, _ = trained
    exp = root / "multi"
    config = root / "multi.yaml"
    config.write_text(yaml.safe_dump({"train": tiny_asr_config()["train"], "valid_utts": 4}))
    args = ["asr", "train-adapter", "--config", str(config), "--model", str(root / "exp/model"),
            "--lang", "eng,kat", "--train", str(data), "--dev", str(data), "--exp", str(exp),
            "--set", "train.valid_every=1", "--set", "train.keep_last=1", "--set", "train.lr=0.05",
            "--set", "adapter.bottleneck_dim=4", "--set", "adapter.init_scale=0.1"]  # fmt: skip
    assert main(args) == 0
    return data, root, exp


def test_a_multi_language_run_scores_each_language_and_keeps_the_base(multi_run):
    data, root, exp = multi_run
    lines = [json.loads(x) for x in (exp / "log" / "metrics.jsonl").read_text().splitlines()]
    validations = [x for x in lines if "dev_wer" in x]
    assert len(validations) == 4
    assert all({"dev_wer_eng", "dev_cer_eng", "dev_wer_kat", "dev_cer_kat"} <= set(x)
               for x in validations)  # fmt: skip
    record = json.loads((exp / "best_steps.json").read_text())
    for lang, entry in record.items():
        curve = [(x["step"], x[f"dev_wer_{lang}"]) for x in validations]
        best = min(value for _, value in curve)
        assert entry["step"] == max(step for step, value in curve if value == best)
    base = Recognizer.load(root / "exp" / "model").model.state_dict()
    model = Recognizer.load(exp / "model").model
    state = base_state_dict(model)
    assert state.keys() == base.keys()
    assert all(torch.equal(state[k], base[k]) for k in base)


def test_merged_model_gives_each_language_base_plus_its_own_adapter(multi_run):
    data, root, exp = multi_run
    merged = root / "multi_merged"
    base_dir = root / "exp" / "model"
    assert main(["asr", "merge", "--model", str(base_dir), "--adapters", str(exp / "adapters"),
                 "--out", str(merged)]) == 0  # fmt: skip
    model = Recognizer.load(merged).model.eval()
    feats = torch.randn(2, 60, 80, generator=torch.Generator().manual_seed(3))
    lengths = torch.tensor([60, 44])
    test = DataDir.read(data)
    merged_texts = Recognizer.load(merged).decode_data_dir(test).texts
    for lang in LANGS:
        single = Recognizer.load(base_dir)
        load_adapter(single.model, exp / "adapters" / lang)
        single.model.eval()
        with languages(model, [lang, lang]), languages(single.model, [lang, lang]):
            expected = single.model.encoder(feats, lengths)
            found = model.encoder(feats, lengths)
        assert torch.equal(found.causal, expected.causal)
        texts = single.decode_data_dir(test).texts
        assert all(merged_texts[u] == texts[u] for u in test.utts if test.utt2lang[u] == lang)


def test_a_multi_language_run_refuses_what_it_cannot_route(trained, tiny_fit_config, tmp_path):
    data, root, _ = trained
    config, base = run_config(tiny_fit_config), root / "exp" / "model"
    with pytest.raises(DataError, match="not eng,yor but kat"):
        train_adapters(config, base, ["eng", "yor"], data, data, tmp_path / "a")
    with pytest.raises(ConfigError, match="each language once"):
        train_adapters(config, base, ["eng", "eng"], data, data, tmp_path / "b")
    subset = tmp_path / "eng_only"
    assert main(["data", "subset", str(data), str(subset), "--lang", "eng"]) == 0
    with pytest.raises(DataError, match="no utterance of kat"):
        train_adapters(config, base, LANGS, subset, data, tmp_path / "c")
