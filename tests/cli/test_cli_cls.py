"""``speechml cls``: train each kind of classifier, predict with it, score the decode dir."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import speechml.cli
from speechml.cls.train_e2e import E2eConfig
from speechml.config import save_config
from speechml.data.datadir import DataDir
from speechml.data.table import read_table
from speechml.score.trn import write_trn
from speechml.train.trainer import TrainConfig

sys.path.insert(0, str(Path(__file__).parents[1] / "cls"))
from test_speech_model import tiny_conformer_config  # noqa: E402

#: two optimizer steps, one validation: enough to exercise a training verb
TWO_STEPS = ["train.max_steps=2", "train.warmup_steps=1", "train.valid_every=2"]


@pytest.fixture
def speechml_cls(capsys):
    """Run ``speechml ARGS...`` (group included); return (exit status, stdout, stderr)."""

    def run(*args: object) -> tuple[int, str, str]:
        status = speechml.cli.main(list(map(str, args)))
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture
def labelled(make_data_dir) -> DataDir:
    """6 utterances "hello number {i}" labelled even or odd by i, with audio."""
    return DataDir.read(make_data_dir("data", num_utts=6, utt2label=True))


def test_ngram_train_predict_score_and_the_cascade(speechml_cls, labelled, tmp_path):
    exp, decode = tmp_path / "exp", tmp_path / "exp" / "decode"
    status, out, _ = speechml_cls(
        "cls", "train-ngram", "--train", labelled.path, "--exp", exp, "--set", "ngram_range=[1,3]"
    )
    assert status == 0 and out == f"{exp / 'model'}: n-gram classifier of 2 classes\n"
    assert yaml.safe_load((exp / "config.yaml").read_text())["ngram_range"] == [1, 3]
    assert "cls train-ngram" in (exp / "replay.sh").read_text()

    status, out, _ = speechml_cls(
        "cls", "predict", "--model", exp / "model", "--data", labelled.path, "--out", decode
    )
    assert status == 0 and out.endswith(f"6 utterances -> {decode / 'utt2label'}\n")
    assert read_table(decode / "utt2label") == labelled.utt2label
    assert (decode / "system.txt").read_text().startswith("n-gram classifier")
    status, out, _ = speechml_cls("score", "cls", "--data", labelled.path, "--decode-dir", decode)
    assert out.startswith("accuracy 100.00 macro-F1 100.00 [ 6 utts ]")

    # The cascade: the texts are ASR hypotheses, here each number heard as the next one.
    hyps = {utt: f"hello number {(int(utt[-3:]) + 1) % 6}" for utt in labelled.utts}
    write_trn(tmp_path / "asr" / "hyp.trn", hyps)
    status, _, _ = speechml_cls(
        "cls", "predict", "--model", exp / "model", "--data", labelled.path,
        "--out", decode, "--text-source", tmp_path / "asr",
    )  # fmt: skip
    flipped = {"even": "odd", "odd": "even"}
    assert read_table(decode / "utt2label") == {
        utt: flipped[label] for utt, label in labelled.utt2label.items()
    }

    # several decode dirs of one data dir in one call: the cascade's and the reference text's
    reference = tmp_path / "exp" / "decode_ref"
    speechml_cls(
        "cls", "predict", "--model", exp / "model", "--data", labelled.path, "--out", reference
    )
    status, out, _ = speechml_cls(
        "score", "cls", "--data", labelled.path, "--decode-dir", decode, reference
    )
    assert status == 0
    assert [line.split()[1] for line in out.splitlines()] == ["0.00", "100.00"]
    assert (reference / "report.json").is_file() and (decode / "report.json").is_file()


def test_text_classifier_from_scratch(speechml_cls, labelled, tmp_path):
    exp = tmp_path / "exp"
    tiny = ["model.hidden_size=16", "model.intermediate_size=16", "model.vocab_size=40"]
    args = ["--train", labelled.path, "--dev", labelled.path, "--exp", exp]
    status, out, _ = speechml_cls(
        "cls", "train-text", *args, *(f"--set={o}" for o in tiny + TWO_STEPS)
    )
    assert status == 0 and out == f"{exp / 'model'}: text classifier of 2 classes\n"
    status, out, _ = speechml_cls(
        "cls", "predict", "--model", exp / "model", "--data", labelled.path, "--out", exp / "d"
    )
    assert status == 0 and out.startswith("text classifier: 6 utterances")
    assert read_table(exp / "d" / "utt2label").keys() == labelled.utt2label.keys()


def test_speech_classifier_end_to_end(speechml_cls, labelled, tmp_path):
    config = E2eConfig(model=tiny_conformer_config(), train=TrainConfig(max_batch_size=3))
    save_config(config, tmp_path / "e2e.yaml")
    exp = tmp_path / "exp"
    args = ["--train", labelled.path, "--dev", labelled.path, "--exp", exp]
    status, out, _ = speechml_cls(
        "cls", "train-e2e", "--config", tmp_path / "e2e.yaml", *args,
        *(f"--set={o}" for o in TWO_STEPS),
    )  # fmt: skip
    assert status == 0 and out == f"{exp / 'model'}: speech classifier\n"
    predict = ["cls", "predict", "--model", exp / "model", "--data", labelled.path]
    status, out, _ = speechml_cls(*predict, "--out", exp / "d")
    assert status == 0 and out.startswith("speech classifier: 6 utterances")
    assert set(read_table(exp / "d" / "utt2label").values()) <= {"even", "odd"}
    status, _, err = speechml_cls(*predict, "--out", exp / "d2", "--text-source", exp / "d")
    assert status == 1 and "--text-source is for text classifiers" in err


def test_bad_input_is_one_line_naming_the_file(speechml_cls, make_data_dir, tmp_path):
    unlabelled = make_data_dir("unlabelled")
    status, _, err = speechml_cls("cls", "train-ngram", "--train", unlabelled, "--exp", tmp_path)
    assert status == 1
    assert err == (
        f"speechml cls train-ngram: error: {unlabelled / 'utt2label'}: missing or empty: "
        "a classifier needs labelled utterances\n"
    )
    assert not (tmp_path / "model").exists()
    status, _, err = speechml_cls(
        "cls", "predict", "--model", unlabelled, "--data", unlabelled, "--out", tmp_path / "d"
    )
    assert status == 1 and f"{unlabelled}: not a classifier model dir" in err


def test_other_groups_do_not_import_the_classifiers():
    code = (
        "import sys; from speechml.cli import build_parser; build_parser({'score'}); "
        "print(sorted(m for m in sys.modules if m.startswith('speechml.cls')))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout == "[]\n"


def test_settings_then_report(speechml_cls, make_data_dir, tmp_path):
    args = {"num_utts": 8, "num_speakers": 4, "languages": ("eng", "rus", "kat"), "utt2label": True}
    parts = [make_data_dir(name, **args) for name in ("train", "dev", "test")]
    out = tmp_path / "settings"
    options = ["--train", parts[0], "--dev", parts[1], "--test", parts[2], "--out-dir", out]
    status, stdout, _ = speechml_cls("cls", "settings", *options, "--held-out", "kat")
    assert status == 0
    assert stdout == f"{out / 'settings.json'}: 8 settings over 3 languages (held out: kat)\n"
    assert (out / "trainings.txt").read_text().splitlines()[-1] == "train_heldout dev_heldout kat"
    assert set(DataDir.read(out / "train_heldout").utt2lang.values()) == {"eng", "rus"}
    status, _, err = speechml_cls("cls", "settings", *options, "--langs", "eng,ka")
    assert status == 1 and "unknown ISO 639-3 language code 'ka' (did you mean 'kat'?)" in err

    # Score one decode dir per setting's model against the test data, then report.
    exp = tmp_path / "exp"
    for train, lang in [("train_eng", "eng"), ("train_eng", "rus"), ("train_all", "eng")]:
        decode = exp / "e2e" / train / f"decode_{lang}"
        test = DataDir.read(out / f"test_{lang}")
        decode.mkdir(parents=True)
        (decode / "utt2label").write_text("".join(f"{u} even\n" for u in test.utts))
        assert speechml_cls("score", "cls", "--data", test.path, "--decode-dir", decode)[0] == 0
    status, stdout, _ = speechml_cls("cls", "report", "--exp", exp, "--out", exp / "summary.md")
    assert status == 0
    assert stdout == (
        f"{exp / 'summary.md'}: 1 method(s); numbers in {exp / 'summary.json'}; e2e_zero_shot.png\n"
    )
    summary = (exp / "summary.md").read_text()
    accuracy = summary.split("### Macro-F1")[0]
    assert "| method | setting | eng | rus | mean |" in accuracy  # languages with a score
    assert "| e2e | mono | 50.00 | - | 50.00 |" in accuracy  # 2 of the 4 eng utts are even
    assert "| e2e | zero-shot | - | 0.00 | 0.00 |" in accuracy  # both rus utts are odd
    assert (exp / "e2e_zero_shot.png").read_bytes().startswith(b"\x89PNG")


def test_predict_classifies_several_data_dirs_in_one_call(speechml_cls, labelled, tmp_path):
    exp, outs = tmp_path / "exp", [tmp_path / "decode_a", tmp_path / "decode_b"]
    assert speechml_cls("cls", "train-ngram", "--train", labelled.path, "--exp", exp)[0] == 0
    model = exp / "model"
    status, out, _ = speechml_cls(
        "cls", "predict", "--model", model, "--data", labelled.path, labelled.path, "--out", *outs
    )
    assert status == 0 and len(out.splitlines()) == 2
    for decode in outs:
        assert read_table(decode / "utt2label") == labelled.utt2label
    status, _, err = speechml_cls(
        "cls", "predict", "--model", model, "--data", labelled.path, labelled.path,
        "--out", outs[0],
    )  # fmt: skip
    assert status != 0 and "need one each" in err
