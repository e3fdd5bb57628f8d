"""Confidence measures: the length-ratio term, rates, and their correlation with CER."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from speechml.asr.confidence import (
    chars_per_second,
    confidence_report,
    confidences,
    correlation,
    length_ratio,
)
from speechml.asr.recognizer import DecodeResult
from speechml.asr.search import Hypothesis
from speechml.cli import main
from speechml.data.datadir import DataDir
from speechml.errors import DataError

#: a scripted dev set: references, durations (10 characters a second), hypotheses whose
#: symbol confidence is high even when words are dropped
REFS = {
    "u1": "abcde fghij",  # 10 characters, 1 s
    "u2": "abcde fghij",
    "u3": "abcde fghij",
    "u4": "abcde fghij",
    "u5": "abcde fghij",
}
HYPS = {  # (text, log-prob a token, symbol confidence)
    "u1": ("abcde fghij", -0.05, 0.95),  # right
    "u2": ("abcde fghix", -0.20, 0.94),  # one character wrong
    "u3": ("abcde", -0.10, 0.97),  # half deleted: the symbols' confidence is the highest
    "u4": ("ab", -0.10, 0.98),  # most deleted
    "u5": ("abcde fghij klmno pqrst", -0.10, 0.93),  # inserted
}


def scripted() -> tuple[DataDir, DecodeResult]:
    data = DataDir()
    for utt, ref in REFS.items():
        data.wav_scp[utt] = f"/nonexistent/{utt}.wav"
        data.utt2spk[utt] = utt
        data.text[utt] = ref
        data.utt2lang[utt] = "kat"
        data.utt2dur[utt] = 1.0
    hypotheses = {
        utt: Hypothesis(list(range(len(text.replace(" ", "")))),
                        lp * len(text.replace(" ", "")), conf)
        for utt, (text, lp, conf) in HYPS.items()
    }  # fmt: skip
    result = DecodeResult({u: t for u, (t, _, _) in HYPS.items()}, hypotheses, 5.0, 1.0)
    return data, result


def test_length_ratio_is_one_at_the_expected_length_and_falls_both_ways():
    assert length_ratio(10, 1.0, 10.0) == 1.0
    assert length_ratio(5, 1.0, 10.0) == 0.5
    assert length_ratio(20, 1.0, 10.0) == 0.5
    assert length_ratio(0, 1.0, 10.0) == 0.0


def test_chars_per_second_by_language():
    data, _ = scripted()
    data.utt2lang["u5"] = "ell"
    data.utt2dur["u5"] = 2.0
    assert chars_per_second(data) == {"ell": 5.0, "kat": 10.0}
    with pytest.raises(DataError, match="no transcripts"):
        chars_per_second(DataDir())


def test_length_aware_confidence_predicts_errors_where_the_symbols_do_not():
    data, result = scripted()
    rates = chars_per_second(data)
    length = confidences(result, data, "length", rates)
    assert length["u1"] == pytest.approx(math.exp(-0.05))
    assert length["u3"] == pytest.approx(math.exp(-0.10) * 0.5)
    assert length["u5"] == pytest.approx(math.exp(-0.10) * 0.5)
    symbols = confidence_report(result, data, 0.8, "symbols")
    aware = confidence_report(result, data, 0.8, "length", rates)
    cers = [0.0, 10.0, 50.0, 80.0, 100.0]  # per utterance, u1..u5
    expected = stats.pearsonr([length[u] for u in REFS], cers).statistic
    assert aware.pearson == pytest.approx(expected)
    assert aware.spearman == pytest.approx(
        stats.spearmanr([length[u] for u in REFS], cers).statistic
    )
    assert aware.pearson < -0.8 and aware.spearman < -0.8
    assert symbols.pearson > aware.pearson
    assert (symbols.kept, symbols.dropped) == (5, 0)  # the symbols keep everything
    assert (aware.kept, aware.dropped) == (2, 3)
    assert aware.kept_cer == pytest.approx(5.0) and aware.dropped_cer > 50
    assert "2 kept (CER 5.00), 3 dropped" in aware.to_text()
    del rates["kat"]
    with pytest.raises(DataError, match="no characters-per-second rate for language 'kat'"):
        confidences(result, data, "length", rates)


def test_correlation_of_a_constant_is_undefined():
    assert all(math.isnan(v) for v in correlation([1.0, 1.0, 1.0], [0.0, 1.0, 2.0]))
    assert correlation([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx((-1.0, -1.0))


def test_cli_confidence_report_and_length_aware_pseudo_labels(trained, tmp_path):
    data, root, _ = trained
    model = str(root / "exp" / "model")
    out = tmp_path / "confidence.txt"
    args = [
        "asr",
        "confidence-report",
        "--model",
        model,
        "--data",
        str(data),
        "--confidence",
        "symbols",
        "length",
        "--rates-from",
        str(data),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith(f"# {model} on {data}: greedy search, second pass")
    assert [x.split(":")[0] for x in lines[1::2]] == ["confidence symbols", "confidence length"]
    counts = [x for x in lines[2::2] if x.startswith("threshold 0.5: ")]
    assert len(counts) == 2 and all(" kept (CER " in x for x in counts)
    assert main(args[:-5] + ["length"]) == 1  # no --rates-from
    pseudo = tmp_path / "pseudo"
    assert main(["asr", "pseudo-label", "--model", model, "--data", str(data), "--out",
                 str(pseudo), "--min-confidence", "0", "--confidence", "length",
                 "--rates-from", str(data)]) == 0  # fmt: skip
    report = (pseudo / "pseudo_label_report.txt").read_text().splitlines()
    assert "confidence length" in report[0] and len(report) == 1 + 8
