"""ASR pipeline plumbing: train on a data dir, model dir round trip, decode dir, resume."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from safetensors.torch import load_file

from speechml.asr.adapters import (
    ADAPTER_WEIGHTS,
    adapter_percent,
    add_adapters,
    base_state_dict,
    read_adapter_config,
)
from speechml.asr.recognizer import Recognizer
from speechml.asr.train import AdapterTrainConfig, train_adapter
from speechml.cli import main
from speechml.config import from_dict
from speechml.data.datadir import DataDir
from speechml.errors import ConfigError, DataError, SpeechmlError


def test_model_dir_round_trip_and_streaming(trained):
    data, root, recognizer = trained
    model_dir = root / "exp" / "model"
    for name in ("model_config.json", "model.safetensors", "fbank.json", "cmvn.json"):
        assert (model_dir / name).is_file()
    assert (root / "exp" / "training_curves.png").is_file()
    metrics = [json.loads(x) for x in (root / "exp/log/metrics.jsonl").read_text().splitlines()]
    assert any("dev_wer" in m for m in metrics)
    loaded = Recognizer.load(model_dir)
    test = DataDir.read(data)
    full = recognizer.decode_data_dir(test)
    assert loaded.decode_data_dir(test).texts == full.texts
    assert loaded.decode_data_dir(test, method="streaming").texts == full.texts


def test_decoding_at_another_chunk_size_and_full_context(trained):
    data, root, recognizer = trained
    test = DataDir.read(data)
    chunked = recognizer.decode_data_dir(test, chunk_size=2)
    assert recognizer.decode_data_dir(test, method="streaming", chunk_size=2).texts == chunked.texts
    full = recognizer.decode_data_dir(test, chunk_size=0)
    assert full.texts.keys() == chunked.texts.keys()
    with pytest.raises(SpeechmlError, match="chunk size > 0"):
        recognizer.decode_data_dir(test, method="streaming", chunk_size=0)
    assert decode(root / "exp" / "model", data, root / "decode_full", "--chunk-size", "0") == 0
    assert "full context" in (root / "decode_full" / "system.txt").read_text()


def decode(model, data, out, *options) -> int:
    """``speechml asr decode`` through the CLI; returns its exit status."""
    return main(["asr", "decode", "--model", str(model), "--data", str(data), "--out", str(out),
                 *options])  # fmt: skip


def test_cli_decode_methods_and_scoring(trained):
    data, root, _ = trained
    model = root / "exp" / "model"
    for method in ("greedy", "beam", "streaming"):
        out = root / f"decode_{method}"
        assert decode(model, data, out, "--method", method) == 0
        assert len((out / "hyp.trn").read_text().splitlines()) == 8
        assert (out / "rtf").read_text().startswith("RTF ")
    assert decode(model, data, root / "decode_2nd", "--second-pass") == 0
    score = ["score", "wer", "--data", str(data), "--decode-dir", str(root / "decode_greedy")]
    assert main(score) == 0
    assert decode(root, data, root / "bad") == 1  # not a model dir: one-line error


def test_model_dir_with_adapters_saves_and_loads(trained):
    data, root, recognizer = trained
    add_adapters(recognizer.model, ["kat"])
    recognizer.save(root / "with_adapter")
    assert (root / "with_adapter" / "adapters" / "kat" / "adapter_config.json").is_file()
    loaded = Recognizer.load(root / "with_adapter")
    test = DataDir.read(data)
    # a zero-initialised adapter decodes like the base, on every language
    assert (
        loaded.decode_data_dir(test).texts
        == Recognizer.load(root / "exp" / "model").decode_data_dir(test).texts
    )


def test_a_model_save_killed_half_way_leaves_the_previous_model_dir(trained, monkeypatch):
    data, root, recognizer = trained
    recognizer.save(root / "saved")
    before = {p.relative_to(root / "saved"): p.read_bytes() for p in (root / "saved").rglob("*.*")}
    other = copy.deepcopy(recognizer)
    with torch.no_grad():
        other.model.ctc_head.bias.add_(1.0)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies between the weights and the tokenizer

    monkeypatch.setattr(type(other.tokenizer), "save", killed)
    with pytest.raises(KeyboardInterrupt):
        other.save(root / "saved")
    after = {p.relative_to(root / "saved"): p.read_bytes() for p in (root / "saved").rglob("*.*")}
    assert after == before
    assert not [p for p in root.iterdir() if p.name.startswith(".saved")]


def test_cli_train_records_config_and_resumes(trained, tiny_asr_config):
    data, root, _ = trained
    config = root / "asr.yaml"
    config.write_text(json.dumps(tiny_asr_config()))  # JSON is YAML
    exp = root / "exp_cli"
    args = [
        "asr",
        "train",
        "--config",
        str(config),
        "--train",
        str(data),
        "--dev",
        str(data),
        "--tokenizer",
        str(root / "lang"),
        "--cmvn",
        str(root / "cmvn.json"),
        "--exp",
        str(exp),
        "--set",
        "train.max_steps=2",
    ]
    assert main(args) == 0
    assert "max_steps: 2" in (exp / "config.yaml").read_text()
    assert "--set train.max_steps=2" in (exp / "replay.sh").read_text()
    first = (exp / "log/metrics.jsonl").read_text().splitlines()
    assert main([*args[:-1], "train.max_steps=4"]) == 0
    lines = [json.loads(x) for x in (exp / "log/metrics.jsonl").read_text().splitlines()]
    assert max(m["step"] for m in lines) == 4
    assert min(m["step"] for m in lines[len(first) :]) > 2  # continued, not restarted


def test_adapter_training_keeps_the_base_bit_identical_and_merges(
    trained, tiny_fit_config, tiny_asr_config
):
    data, root, _ = trained
    with pytest.raises(ConfigError, match="model: not used by AdapterTrainConfig"):
        from_dict(AdapterTrainConfig, tiny_asr_config())  # the base's architecture is kept
    base = Recognizer.load(root / "exp" / "model")
    config = from_dict(AdapterTrainConfig, {**tiny_fit_config(), "adapter": {"bottleneck_dim": 4}})
    assert main(["data", "subset", str(data), str(root / "kat"), "--lang", "kat"]) == 0
    with pytest.raises(DataError, match="not kat"):
        train_adapter(config, root / "exp" / "model", "kat", data, data, root / "lda")
    kat = root / "kat"
    adapted = train_adapter(config, root / "exp" / "model", "kat", kat, kat, root / "lda")
    for name, value in base_state_dict(adapted.model).items():
        assert torch.equal(value.cpu(), base.model.state_dict()[name]), name
    adapter_dir = root / "lda" / "adapter"
    assert read_adapter_config(adapter_dir)["language"] == "kat"
    assert adapter_percent(adapted.model, "kat") < 5.0  # tiny model; the default is ~0.5%

    # utterances of other languages decode exactly as with the base model
    test = DataDir.read(data)
    eng = [u for u in test.utts if test.utt2lang[u] == "eng"]
    with_adapter = Recognizer.load(root / "lda" / "model").decode_data_dir(test).texts
    without = base.decode_data_dir(test).texts
    assert all(with_adapter[u] == without[u] for u in eng)

    merged = root / "merged"
    assert (
        main(
            [
                "asr",
                "merge",
                "--model",
                str(root / "exp" / "model"),
                "--adapters",
                str(adapter_dir),
                "--out",
                str(merged),
            ]
        )
        == 0
    )
    assert Recognizer.load(merged).decode_data_dir(test).texts == with_adapter


def test_a_student_adapter_starts_from_its_teacher_adapter(trained, tiny_fit_config):
    data, root, _ = trained
    base = root / "exp" / "model"
    for lang in ("kat", "eng"):
        assert main(["data", "subset", str(data), str(root / f"only_{lang}"), "--lang", lang]) == 0
    kat = root / "only_kat"
    teacher = {**tiny_fit_config(), "adapter": {"bottleneck_dim": 4}}
    train_adapter(from_dict(AdapterTrainConfig, teacher), base, "kat", kat, kat, root / "teacher")
    # lr 0: the student's adapter must come out as the one it started from, size included
    frozen = copy.deepcopy(teacher)
    frozen["train"]["lr"] = 0.0
    frozen["adapter"]["bottleneck_dim"] = 16
    start = root / "teacher" / "adapter"
    config = from_dict(AdapterTrainConfig, frozen)
    train_adapter(config, base, "kat", kat, kat, root / "student", init_adapter=start)
    found = load_file(root / "student" / "adapter" / ADAPTER_WEIGHTS)
    expected = load_file(start / ADAPTER_WEIGHTS)
    assert found.keys() == expected.keys()
    assert all(torch.equal(found[k], expected[k]) for k in expected)
    assert read_adapter_config(root / "student" / "adapter")["bottleneck_dim"] == 4
    eng = root / "only_eng"
    with pytest.raises(SpeechmlError, match="adapter is for 'kat', not 'eng'"):
        train_adapter(config, base, "eng", eng, eng, root / "wrong", init_adapter=start)


def pseudo_label(model, data, out, min_confidence, *options) -> int:
    """``speechml asr pseudo-label`` through the CLI; returns its exit status."""
    return main(["asr", "pseudo-label", "--model", str(model), "--data", str(data),
                 "--out", str(out), "--min-confidence", str(min_confidence), *options])  # fmt: skip


def test_pseudo_labels_are_filtered_and_reported(trained):
    data, root, _ = trained
    model = root / "exp" / "model"
    out = root / "pseudo"
    assert pseudo_label(model, data, out, 0) in (0, 1)
    report = out / "pseudo_label_report.txt"
    if report.is_file():  # at least one non-empty hypothesis from the tiny model
        lines = report.read_text().splitlines()
        assert len(lines) == 1 + 8
        kept = [x.split()[0] for x in lines[1:] if x.endswith(" kept")]
        assert sorted(DataDir.read(out).text) == sorted(kept)
    assert pseudo_label(model, data, root / "none", 1) == 1
    # nothing kept, but labelled data to combine with: the student gets the labelled data
    assert pseudo_label(model, data, root / "student", 1, "--combine-with", str(data)) == 0
    assert len(DataDir.read(root / "student")) == 8
    # the CTC head as the teacher: each utterance gets a decision, the report names the search
    for lang in ("eng", "kat"):
        assert main(["data", "subset", str(data), str(root / f"part_{lang}"), "--lang", lang]) == 0
    options = ("--method", "ctc", "--combine-with", str(root / "part_eng"))
    assert pseudo_label(model, root / "part_kat", root / "ctc", 0, *options) == 0
    lines = (root / "ctc" / "pseudo_label_report.txt").read_text().splitlines()
    assert "teacher: CTC head, second pass" in lines[0] and len(lines) == 1 + 4
    assert len(DataDir.read(root / "ctc")) == 4 + sum(x.endswith(" kept") for x in lines)


def test_cli_fine_tuning_starts_from_the_model_and_changes_every_weight(trained, capsys):
    data, root, _ = trained
    base = root / "exp" / "model"
    exp = root / "finetune"
    assert (
        main(
            [
                "asr",
                "train",
                "--init",
                str(base),
                "--train",
                str(data),
                "--dev",
                str(data),
                "--exp",
                str(exp),
                "--set",
                "train.max_steps=2",
            ]
        )
        == 0
    )
    before = Recognizer.load(base).model.state_dict()
    after = Recognizer.load(exp / "model").model.state_dict()
    assert before.keys() == after.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert "encoder.layers.0.qkv.weight" in changed and "joiner.out.weight" in changed
    resized = ["asr", "train", "--init", str(base), "--train", str(data), "--dev", str(data)]
    resized += ["--exp", str(root / "resized"), "--set", "model.joiner_dim=8"]
    assert main(resized) == 1
    assert "model: not used by FinetuneConfig (the architecture is the --init model's)" in (
        capsys.readouterr().err
    )
    assert (
        main(
            [
                "asr",
                "train",
                "--train",
                str(data),
                "--dev",
                str(data),
                "--exp",
                str(root / "no_tokenizer"),
            ]
        )
        == 1
    )
