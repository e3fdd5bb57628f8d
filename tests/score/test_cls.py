"""Classification scores: a hand-computed report, missing and unknown predictions, the files
written into a decode dir (report.txt, report.json, confusion.png)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from speechml.data.datadir import DataDir
from speechml.data.table import write_table
from speechml.errors import DataError
from speechml.score.cls import NO_PREDICTION, score_classification, score_cls_dir

# Reference and predicted labels of six utterances. Confusion (rows reference, columns
# predicted, order bird cat dog):
#   bird  0 0 1
#   cat   0 2 1
#   dog   0 1 1
# cat:  2 right of 3 predicted, 2 of 3 in the reference: P = R = F1 = 2/3
# dog:  1 right of 3 predicted, 1 of 2 in the reference: P = 1/3, R = 1/2,
#       F1 = 2 * (1/3) * (1/2) / (1/3 + 1/2) = 2/5
# bird: never predicted, never right: P = R = F1 = 0
# accuracy = 3/6; macro-F1 = (2/3 + 2/5 + 0) / 3 = 16/45
REFS = {"u1": "cat", "u2": "cat", "u3": "cat", "u4": "dog", "u5": "dog", "u6": "bird"}
HYPS = {"u1": "cat", "u2": "cat", "u3": "dog", "u4": "dog", "u5": "cat", "u6": "dog"}
LANGS = {"u1": "eng", "u2": "eng", "u3": "hin", "u4": "hin", "u5": "hin", "u6": "hin"}


def test_hand_computed_report() -> None:
    report = score_classification(REFS, HYPS, LANGS)
    assert report.labels == ["bird", "cat", "dog"]
    np.testing.assert_array_equal(report.confusion, [[0, 0, 1], [0, 2, 1], [0, 1, 1]])
    expected = {  # label: precision, recall, F1, support
        "cat": (2 / 3, 2 / 3, 2 / 3, 3),
        "dog": (1 / 3, 1 / 2, 2 / 5, 2),
        "bird": (0, 0, 0, 1),
    }
    for label, (precision, recall, f1, support) in expected.items():
        score = report.classes[label]
        assert score.precision == pytest.approx(precision)
        assert score.recall == pytest.approx(recall)
        assert score.f1 == pytest.approx(f1)
        assert score.support == support
    assert report.accuracy == 0.5
    assert report.macro_f1 == pytest.approx(16 / 45)
    assert report.weighted.f1 == pytest.approx((3 * 2 / 3 + 2 * 2 / 5) / 6)
    assert report.per_lang == {"eng": (1.0, 2), "hin": (0.25, 4)}


def test_missing_predictions_count_as_wrong_in_their_own_column() -> None:
    hyps = {u: label for u, label in HYPS.items() if u != "u1"}
    report = score_classification(REFS, hyps)
    assert report.missing == ["u1"]
    assert report.predicted == ["bird", "cat", "dog", NO_PREDICTION]
    assert report.confusion[1].tolist() == [0, 1, 1, 1]
    assert report.accuracy == pytest.approx(2 / 6)
    assert report.classes["cat"].recall == pytest.approx(1 / 3)
    assert report.classes["cat"].precision == pytest.approx(1 / 2)


def test_unknown_prediction_ids_are_an_error() -> None:
    with pytest.raises(DataError, match="not in the reference: zz"):
        score_classification(REFS, {**HYPS, "zz": "cat"})


def test_score_cls_dir_writes_report_json_and_png(tmp_path: Path) -> None:
    data = DataDir(
        wav_scp={u: f"/a/{u}.wav" for u in REFS},
        utt2spk={u: u for u in REFS},
        utt2lang=LANGS,
        utt2label=REFS,
    )
    data.write(tmp_path / "data")
    decode = tmp_path / "exp" / "cls" / "decode_test"
    write_table(decode / "utt2label", HYPS)
    score_cls_dir(tmp_path / "data", decode)

    text = (decode / "report.txt").read_text(encoding="utf-8")
    assert text.split("\n")[1].split() == ["precision", "recall", "f1-score", "support"]
    assert "     dog     0.3333    0.5000    0.4000         2" in text
    assert "accuracy                         0.5000         6" in text
    assert "   macro avg     0.3333    0.3889    0.3556         6" in text
    assert "hin     0.2500         4" in text

    record = json.loads((decode / "report.json").read_text(encoding="utf-8"))
    assert record["accuracy"] == 0.5
    assert record["macro_f1"] == pytest.approx(16 / 45, abs=1e-6)
    assert record["classes"]["dog"] == {
        "precision": 0.333333,
        "recall": 0.5,
        "f1": 0.4,
        "support": 2,
    }
    assert record["confusion"]["matrix"] == [[0, 0, 1], [0, 2, 1], [0, 1, 1]]
    assert record["per_lang"]["hin"] == {"accuracy": 0.25, "num_utts": 4}

    image = imread(decode / "confusion.png")
    assert image.ndim == 3 and min(image.shape[:2]) > 100
    assert not list(decode.glob(".*.tmp"))


def test_label_without_language_names_the_utt2lang_file(tmp_path: Path) -> None:
    langs = {u: lang for u, lang in LANGS.items() if u != "u2"}
    DataDir(wav_scp={u: "/a.wav" for u in REFS}, utt2spk={u: u for u in REFS}).write(
        tmp_path / "data"
    )
    write_table(tmp_path / "data" / "utt2label", REFS)
    write_table(tmp_path / "data" / "utt2lang", langs)
    write_table(tmp_path / "decode" / "utt2label", HYPS)
    with pytest.raises(DataError) as err:
        score_cls_dir(tmp_path / "data", tmp_path / "decode")
    utt2lang = tmp_path / "data" / "utt2lang"
    assert str(err.value) == f"{utt2lang}: utterance u2: has no entry in utt2lang"


def test_score_cls_dir_needs_reference_labels(tmp_path: Path) -> None:
    DataDir(wav_scp={"u1": "/a.wav"}, utt2spk={"u1": "s"}).write(tmp_path / "data")
    with pytest.raises(DataError, match=r"no references to score against \(utt2label is missing"):
        score_cls_dir(tmp_path / "data", tmp_path / "decode")
