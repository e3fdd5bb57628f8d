"""The comparison report: settings' numbers from hand-written report.json files, dashes for
missing ones, a heat map per method."""

from __future__ import annotations

import json
import logging

import pytest

from speechml.cls.report import METHOD_NAMES, SETTING_LEGEND, collect_scores, write_report
from speechml.cls.settings import SETTING_NAMES
from speechml.errors import DataError

#: method -> train dir -> test language -> (accuracy, macro-F1)
SCORES = {
    "e2e": {
        "train_eng": {"eng": (0.9, 0.8), "rus": (0.5, 0.4), "kat": (0.3, 0.2)},
        "train_rus": {"eng": (0.6, 0.5), "rus": (0.8, 0.7), "kat": (0.5, 0.3)},
        "train_kat": {"eng": (0.4, 0.3), "rus": (0.2, 0.1), "kat": (0.7, 0.6)},
        "train_all": {"eng": (0.85, 0.8), "rus": (0.75, 0.7), "kat": (0.65, 0.6)},
        "train_heldout": {"kat": (0.45, 0.4)},
    },
    # No multi or held-out model, no kat model, train_rus not tested on eng.
    "ca": {"train_eng": {"eng": (1.0, 1.0), "rus": (0.25, 0.2)}, "train_rus": {"rus": (0.5, 0.5)}},
    # Only a multi model (as ca_nn in the recipe): one row, no heat map.
    "ca_nn": {"train_all": {"eng": (0.6, 0.5), "rus": (0.4, 0.3)}},
}


def write_reports(exp, scores=SCORES) -> None:
    for method, trains in scores.items():
        for train, tests in trains.items():
            for lang, (accuracy, macro_f1) in tests.items():
                decode = exp / method / train / f"decode_{lang}"
                decode.mkdir(parents=True)
                record = {"accuracy": accuracy, "macro_f1": macro_f1, "num_utts": 10}
                (decode / "report.json").write_text(json.dumps(record))


def table_rows(text: str, title: str) -> list[str]:
    """The rows of the table under ``### title``, header included."""
    lines = text.split(f"### {title}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [lines[0], *lines[2:]]


def test_the_tables_agree_with_hand_computed_numbers(tmp_path):
    exp = tmp_path / "exp"
    write_reports(exp)
    written = write_report(exp, exp / "summary.md")
    assert written == [
        exp / "summary.md",
        exp / "summary.json",
        exp / "ca_zero_shot.png",
        exp / "e2e_zero_shot.png",
    ]
    text = (exp / "summary.md").read_text()
    assert text.startswith(f"## Classification settings: `{exp}`\n")
    legend = text.split("\n\n")[1]
    assert legend == (
        "Methods: `ca`: cascade: the recogniser, then a character n-gram text classifier of its "
        "hypotheses; `ca_nn`: cascade with a neural text classifier: the recogniser, then a small "
        "transformer text classifier (from scratch, or its encoder pretrained with TransliCo and "
        "its vocabulary expanded with OFA, as its config says); `e2e`: end to end: a speech "
        "classifier (a speech encoder, pooling over time, a linear head)."
    )  # the methods of the tables only: no ca_rom here
    assert text.split("\n\n")[2].startswith(
        "Settings: mono: trained and tested on the language; zero-shot: mean over the models "
        "trained on each other language alone; multi: trained on every language; held-out: "
        "trained on every language but the held-out ones. `mean`: "
    )
    # zero-shot on eng = mean(train_rus, train_kat) = (0.6 + 0.4) / 2; mean column over languages
    assert table_rows(text, "Accuracy %") == [
        "| method | setting | eng | kat | rus | mean |",
        "| ca | mono | 100.00 | - | 50.00 | 75.00 |",
        "| ca | zero-shot | - | - | 25.00 | 25.00 |",  # ca ran neither multi nor held-out
        "| ca_nn | multi | 60.00 | - | 40.00 | 50.00 |",
        "| e2e | mono | 90.00 | 70.00 | 80.00 | 80.00 |",
        "| e2e | zero-shot | 50.00 | 40.00 | 35.00 | 41.67 |",
        "| e2e | multi | 85.00 | 65.00 | 75.00 | 75.00 |",
        "| e2e | held-out | - | 45.00 | - | 45.00 |",
    ]
    assert table_rows(text, "Macro-F1 %")[4:] == [
        "| e2e | mono | 80.00 | 60.00 | 70.00 | 70.00 |",
        "| e2e | zero-shot | 40.00 | 25.00 | 25.00 | 30.00 |",
        "| e2e | multi | 80.00 | 60.00 | 70.00 | 70.00 |",
        "| e2e | held-out | - | 40.00 | - | 40.00 |",
    ]

    record = json.loads((exp / "summary.json").read_text())["methods"]
    assert record["e2e"]["zero_shot"]["kat"] == {"accuracy": 0.4, "macro_f1": 0.25}
    assert record["e2e"]["held_out"] == {"kat": {"accuracy": 0.45, "macro_f1": 0.4}}
    assert record["e2e"]["cross"]["rus"]["kat"] == {"accuracy": 0.5, "macro_f1": 0.3}
    assert record["ca"]["multi"] == {} and record["ca"]["mono"]["eng"]["accuracy"] == 1.0

    for png in written[2:]:
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_other_decode_dirs_are_left_out_with_a_warning(tmp_path, caplog):
    exp = tmp_path / "exp"
    write_reports(exp, {"e2e": {"train_eng": {"eng": (0.5, 0.5)}}})
    write_reports(exp, {"e2e": {"train_large": {"eng": (0.1, 0.1)}}})
    (exp / "e2e" / "train_eng" / "decode_test").mkdir()
    (exp / "e2e" / "train_eng" / "decode_test" / "report.json").write_text("{}")
    with caplog.at_level(logging.WARNING):
        methods = collect_scores(exp)
    assert methods["e2e"].cross == {"eng": {"eng": methods["e2e"].cross["eng"]["eng"]}}
    assert methods["e2e"].pooled == {}
    left_out = sorted(r.getMessage().split(" left out")[0] for r in caplog.records)
    assert left_out == [
        str(exp / "e2e" / "train_eng" / "decode_test"),
        str(exp / "e2e" / "train_large" / "decode_eng"),
    ]


def test_bad_or_missing_reports_are_errors_naming_the_file(tmp_path):
    with pytest.raises(DataError, match="score the decode dirs first"):
        collect_scores(tmp_path)
    write_reports(tmp_path, {"ca": {"train_all": {"eng": (0.5, 0.5)}}})
    report = tmp_path / "ca" / "train_all" / "decode_eng" / "report.json"
    report.write_text(json.dumps({"accuracy": 0.5}))
    with pytest.raises(DataError) as caught:
        collect_scores(tmp_path)
    assert str(caught.value) == f"{report}: no number 'macro_f1': rescore this decode dir"


def test_every_setting_and_recipe_method_is_spelled_out_and_others_named_by_their_dir(tmp_path):
    assert list(SETTING_LEGEND) == list(SETTING_NAMES)
    assert "romanized cascade" in METHOD_NAMES["ca_rom"]
    write_reports(tmp_path, {"ca_rom": {"train_all": {"eng": (0.5, 0.5)}},
                             "mine": {"train_all": {"eng": (0.5, 0.5)}}})  # fmt: skip
    write_report(tmp_path, tmp_path / "summary.md")
    legend = (tmp_path / "summary.md").read_text().split("\n\n")[1]
    assert legend == (
        f"Methods: `ca_rom`: {METHOD_NAMES['ca_rom']}; `mine`: the classifiers of "
        f"`{tmp_path / 'mine'}`."
    )
