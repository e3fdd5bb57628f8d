"""``speechml asr train-lm`` and ``speechml asr decode --lm / --blank-penalty`` through the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from speechml.asr.encoder import EncoderConfig
from speechml.asr.ngram_lm import LM_INDEX
from speechml.asr.recognizer import Recognizer
from speechml.asr.transducer import PredictorConfig, Transducer, TransducerConfig
from speechml.cli import main
from speechml.data.datadir import DataDir
from speechml.data.features import FbankConfig
from speechml.data.tokenizer import train_tokenizer
from speechml.score.trn import read_trn

ENCODER = EncoderConfig(
    d_model=32, num_heads=2, ffn_dim=64, num_layers=2, conv_kernel=5, subsampling_channels=8,
    chunk_size=4, left_chunks=2, dropout=0.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def model_and_data(tmp_path_factory, data_dir_writer):
    """A two-language data dir and an (untrained) recogniser dir with its char tokenizer."""
    root = tmp_path_factory.mktemp("decode_lm")
    data = data_dir_writer(root, num_utts=6, languages=("eng", "kat"))
    tokenizer = train_tokenizer(DataDir.read(data).text.values(), "char", None, root / "lang")
    torch.manual_seed(0)
    predictor = PredictorConfig(embed_dim=16, output_dim=16, dropout=0.0)
    config = TransducerConfig(tokenizer.vocab_size, ENCODER, predictor, joiner_dim=16)
    Recognizer(Transducer(config), tokenizer, FbankConfig(), None).save(root / "model")
    return root, data


def decode(root, data, out, *options) -> int:
    args = ["asr", "decode", "--model", str(root / "model"), "--data", str(data)]
    return main([*args, "--out", str(root / out), *options])


def hyps(root, out) -> str:
    return (root / out / "hyp.trn").read_text(encoding="utf-8")


def test_train_lm_and_decode_with_it(model_and_data, capsys):
    root, data = model_and_data
    lm = root / "lm"
    train = ["asr", "train-lm", "--tokenizer", str(root / "model"), "--data", str(data)]
    assert main([*train, "--per-language", "--order", "4", "--out", str(lm)]) == 0
    index = json.loads((lm / LM_INDEX).read_text())
    assert [m["language"] for m in index["models"]] == ["eng", "kat"]
    assert "LMs of eng, kat" in capsys.readouterr().out

    assert decode(root, data, "beam", "--method", "beam", "--beam", "3") == 0
    lm_options = ["--method", "beam", "--beam", "3", "--lm", str(lm)]
    assert decode(root, data, "beam_lm0", *lm_options, "--lm-weight", "0") == 0
    assert hyps(root, "beam_lm0") == hyps(root, "beam")
    assert decode(root, data, "beam_lm", *lm_options, "--lm-weight", "2", "--no-lm-eos") == 0
    assert hyps(root, "beam_lm") != hyps(root, "beam")
    system = (root / "beam_lm" / "system.txt").read_text()
    assert f"beam 3, LM {lm} (weight 2, no </s>), causal pass" in system
    assert "beam 3" in (root / "beam_lm" / "rtf").read_text()


def test_a_text_file_lm_of_one_language(model_and_data, tmp_path):
    root, data = model_and_data
    text = tmp_path / "eng.txt"
    text.write_text("hello number one\nnumber two\n", encoding="utf-8")
    lm = tmp_path / "lm"
    train = ["asr", "train-lm", "--tokenizer", str(root / "lang"), "--text", str(text)]
    assert main([*train, "--lang", "eng", "--order", "3", "--out", str(lm), "--arpa"]) == 0
    assert (lm / "eng.arpa").read_text().startswith("\\data\\")
    # kat utterances have no LM here: decoded without it
    assert decode(root, data, "eng_lm", "--method", "beam", "--lm", str(lm)) == 0
    assert len(hyps(root, "eng_lm").splitlines()) == 6


@pytest.mark.parametrize("method", ["greedy", "beam", "streaming", "ctc"])
def test_blank_penalty_on_every_method(model_and_data, method):
    root, data = model_and_data
    assert decode(root, data, f"{method}_p", "--method", method, "--blank-penalty", "1.5") == 0
    assert "blank penalty 1.5" in (root / f"{method}_p" / "system.txt").read_text()
    assert any(read_trn(root / f"{method}_p" / "hyp.trn").values())
    assert decode(root, data, f"{method}_m", "--method", method, "--blank-penalty", "-50") == 0
    emptied = read_trn(root / f"{method}_m" / "hyp.trn")  # a blank bonus of 50 deletes all
    assert len(emptied) == 6 and not any(emptied.values())


def test_lm_errors_are_one_line(model_and_data, tmp_path, capsys):
    root, data = model_and_data
    lm = tmp_path / "lm"
    train = ["asr", "train-lm", "--tokenizer", str(root / "lang"), "--data", str(data)]
    assert main([*train, "--order", "2", "--out", str(lm)]) == 0
    capsys.readouterr()
    assert decode(root, data, "bad1", "--method", "greedy", "--lm", str(lm)) == 1
    assert "beam search only" in capsys.readouterr().err
    other = tmp_path / "other"
    train_tokenizer(["completely different"], "char", None, other)
    assert main(["asr", "train-lm", "--tokenizer", str(other), "--data", str(data),
                 "--out", str(tmp_path / "lm_other")]) == 0  # fmt: skip
    capsys.readouterr()
    assert decode(root, data, "bad2", "--method", "beam", "--lm", str(tmp_path / "lm_other")) == 1
    assert "another tokenizer" in capsys.readouterr().err
    assert main([*train, "--per-language", "--out", str(lm)]) == 1  # shared + by language
    assert "cannot share a dir" in capsys.readouterr().err
    (lm / "shared.safetensors").write_bytes(b"garbage")
    assert decode(root, data, "bad3", "--method", "beam", "--lm", str(lm)) == 1
    err = capsys.readouterr().err
    assert "shared.safetensors: unreadable LM file" in err and err.count("\n") == 1


def test_a_teacher_with_the_lm_pseudo_labels_and_reports_with_it(model_and_data, tmp_path):
    root, data = model_and_data
    lm = tmp_path / "lm"
    train = ["asr", "train-lm", "--tokenizer", str(root / "model"), "--data", str(data)]
    assert main([*train, "--per-language", "--order", "4", "--out", str(lm)]) == 0
    label = ["asr", "pseudo-label", "--model", str(root / "model"), "--data", str(data),
             "--min-confidence", "0", "--method", "beam"]  # fmt: skip
    assert main([*label, "--out", str(tmp_path / "plain")]) == 0
    assert main([*label, "--lm", str(lm), "--lm-weight", "2", "--out", str(tmp_path / "lm")]) == 0
    plain = (tmp_path / "plain" / "pseudo_label_report.txt").read_text().splitlines()
    fused = (tmp_path / "lm" / "pseudo_label_report.txt").read_text().splitlines()
    assert "teacher: beam search with the LM (weight 2)" in fused[0]
    assert "with the LM" not in plain[0]
    assert fused[1:] != plain[1:]  # the LM moved the hypotheses (and their confidences)
    out = tmp_path / "report.txt"
    report = ["asr", "confidence-report", "--model", str(root / "model"), "--data", str(data),
              "--method", "beam", "--lm", str(lm), "--out", str(out)]  # fmt: skip
    assert main(report) == 0
    assert "beam search with the LM (weight 0.3)" in out.read_text()
    assert main([*label[:-2], "--method", "greedy", "--lm", str(lm), "--out", "x"]) == 1
