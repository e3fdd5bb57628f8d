"""Classification scores: accuracy, per-class precision/recall/F1, macro-F1, confusion matrix.

Computed with numpy (no scikit-learn dependency), with scikit-learn's conventions: the classes
are every label that occurs in the reference or the predictions; a ratio whose denominator is 0
(precision of a class never predicted, recall of a class absent from the reference) is 0; the
macro average is the plain mean over classes, the weighted average is weighted by support.

An utterance of the reference without a prediction counts as wrong (it lowers accuracy and its
class's recall) and is listed as missing; the confusion matrix then has a last column
``(none)``. A prediction for an utterance not in the reference is an error.

Example:
    >>> report = score_classification({"u1": "yes", "u2": "no"}, {"u1": "yes", "u2": "yes"})
    >>> report.accuracy, report.classes["yes"].precision
    (0.5, 0.5)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechml.data.table import read_table, sort_key
from speechml.errors import DataError
from speechml.io import atomic_write_text
from speechml.plots import save_heatmap
from speechml.score.decode_dir import labels_path
from speechml.score.wer import group_utts, match_hypotheses, read_references, shorten_ids

#: The confusion-matrix column of utterances that have no prediction.
NO_PREDICTION = "(none)"


@dataclass(frozen=True)
class ClassScore:
    """Precision, recall and F1 (fractions in [0, 1]) of one class, and its reference count."""

    precision: float
    recall: float
    f1: float
    support: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 6),
            "recall": round(self.recall, 6),
            "f1": round(self.f1, 6),
            "support": self.support,
        }


@dataclass(frozen=True)
class ClsReport:
    """The result of :func:`score_classification`.

    Attributes:
        accuracy: correct / reference utterances (fraction).
        classes: label -> its scores, labels sorted.
        macro: unweighted mean of the class scores (``macro.f1`` is the macro-F1).
        weighted: mean of the class scores weighted by support.
        confusion: counts, shape ``(len(labels), len(predicted))``: rows are reference labels,
            columns predicted labels.
        labels: the row labels (every class).
        predicted: the column labels (every class, then ``(none)`` if a prediction is missing).
        per_lang: language -> (accuracy, utterances); empty without ``utt2lang``.
        missing: reference utterances without a prediction.
        num_utts: reference utterances.
    """

    accuracy: float
    classes: dict[str, ClassScore]
    macro: ClassScore
    weighted: ClassScore
    confusion: np.ndarray
    labels: list[str]
    predicted: list[str]
    per_lang: dict[str, tuple[float, int]]
    missing: list[str]
    num_utts: int

    @property
    def macro_f1(self) -> float:
        return self.macro.f1

    def to_dict(self) -> dict[str, object]:
        """Every number, as plain JSON-able values."""
        return {
            "num_utts": self.num_utts,
            "accuracy": round(self.accuracy, 6),
            "macro_f1": round(self.macro_f1, 6),
            "classes": {label: s.to_dict() for label, s in self.classes.items()},
            "macro_avg": self.macro.to_dict(),
            "weighted_avg": self.weighted.to_dict(),
            "confusion": {
                "labels": self.labels,
                "predicted": self.predicted,
                "matrix": self.confusion.tolist(),
            },
            "per_lang": {
                lang: {"accuracy": round(acc, 6), "num_utts": n}
                for lang, (acc, n) in self.per_lang.items()
            },
            "missing": self.missing,
        }


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Element-wise ``num / den``, 0 where ``den`` is 0."""
    return np.divide(num, den, out=np.zeros(len(num)), where=den > 0)


def score_classification(
    refs: Mapping[str, str],
    hyps: Mapping[str, str],
    utt2lang: Mapping[str, str] | None = None,
    hyp_path: str | Path | None = None,
    data_dir: str | Path | None = None,
) -> ClsReport:
    """Score predicted labels against reference labels.

    Args:
        refs: utterance id -> reference label (the data dir's ``utt2label``).
        hyps: utterance id -> predicted label; a missing one counts as wrong.
        utt2lang: utterance id -> language, for per-language accuracy.
        hyp_path: where the predictions came from, named in errors and warnings.
        data_dir: the data dir that ``utt2lang`` comes from, named in errors.

    Raises:
        DataError: if ``refs`` is empty, a prediction's id is not in ``refs``, or an utterance
            lacks its language.
    """
    if not refs:
        raise DataError("no reference labels to score against")
    missing = match_hypotheses(refs, hyps, hyp_path)
    utts = sorted(refs, key=sort_key)
    labels = sorted(set(refs.values()) | set(hyps.values()), key=sort_key)
    predicted = labels + ([NO_PREDICTION] if missing else [])
    row = {label: i for i, label in enumerate(labels)}
    column = {label: i for i, label in enumerate(predicted)}
    confusion = np.zeros((len(labels), len(predicted)), dtype=np.int64)
    for utt in utts:
        confusion[row[refs[utt]], column[hyps.get(utt, NO_PREDICTION)]] += 1
    hits = np.diag(confusion[:, : len(labels)]).astype(float)
    support = confusion.sum(axis=1)
    precision = _ratio(hits, confusion[:, : len(labels)].sum(axis=0))
    recall = _ratio(hits, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    classes = {
        label: ClassScore(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
        for i, label in enumerate(labels)
    }
    weights = support / support.sum()
    per_lang = {}
    if utt2lang:
        for lang, members in group_utts(utts, utt2lang, "utt2lang", data_dir).items():
            correct = sum(hyps.get(u) == refs[u] for u in members)
            per_lang[lang] = (correct / len(members), len(members))
    return ClsReport(
        accuracy=float(hits.sum() / len(utts)),
        classes=classes,
        macro=ClassScore(
            float(precision.mean()), float(recall.mean()), float(f1.mean()), len(utts)
        ),
        weighted=ClassScore(
            float(precision @ weights), float(recall @ weights), float(f1 @ weights), len(utts)
        ),
        confusion=confusion,
        labels=labels,
        predicted=predicted,
        per_lang=per_lang,
        missing=missing,
        num_utts=len(utts),
    )


def format_report(report: ClsReport, title: str = "") -> str:
    """The familiar classification-report table, then per-language accuracy.

    Example::

                      precision    recall  f1-score   support

                  no     1.0000    0.5000    0.6667         2
                 yes     0.6667    1.0000    0.8000         2

            accuracy                         0.7500         4
           macro avg     0.8333    0.7500    0.7333         4
        weighted avg     0.8333    0.7500    0.7333         4
    """
    names = [*report.classes, "weighted avg"]
    width = max(len(name) for name in names)
    head = f"{'':>{width}} {'precision':>10} {'recall':>9} {'f1-score':>9} {'support':>9}"

    def row(name: str, s: ClassScore) -> str:
        return f"{name:>{width}} {s.precision:>10.4f} {s.recall:>9.4f} {s.f1:>9.4f} {s.support:>9}"

    lines = [title] if title else []
    lines += [head, ""]
    lines += [row(label, s) for label, s in report.classes.items()]
    lines += [
        "",
        f"{'accuracy':>{width}} {'':>10} {'':>9} {report.accuracy:>9.4f} {report.num_utts:>9}",
        row("macro avg", report.macro),
        row("weighted avg", report.weighted),
    ]
    if report.per_lang:
        lines += ["", f"{'language':>{width}} {'accuracy':>10} {'utts':>9}"]
        lines += [
            f"{lang:>{width}} {acc:>10.4f} {n:>9}" for lang, (acc, n) in report.per_lang.items()
        ]
    if report.missing:
        lines += [
            "",
            f"{len(report.missing)} utterances had no prediction (scored as wrong): "
            + shorten_ids(report.missing),
        ]
    return "\n".join(lines) + "\n"


def plot_confusion(report: ClsReport, path: str | Path, title: str = "") -> None:
    """Save the confusion matrix as a PNG (counts in the cells), atomically.

    Rows are reference labels, columns predicted labels; darker cells hold more utterances.
    """
    save_heatmap(
        report.confusion,
        report.labels,
        report.predicted,
        path,
        "utterances",
        title or f"accuracy {100 * report.accuracy:.2f}%",
        ("predicted label", "reference label"),
        lambda count: str(int(count)),
    )


def score_cls_dir(data_dir: str | Path, decode_dir: str | Path) -> ClsReport:
    """Score ``decode_dir/utt2label`` against ``data_dir/utt2label`` and write the reports.

    Writes into ``decode_dir``: ``report.txt`` (:func:`format_report`), ``report.json``
    (every number, read by :func:`speechml.score.results.write_results`) and
    ``confusion.png``.

    Example:
        ``score_cls_dir("data/test", "exp/cls/decode_test")``

    Raises:
        DataError: if either ``utt2label`` is missing or malformed, or the ids do not match.
    """
    data, refs = read_references(data_dir, "utt2label")
    hyp_path = labels_path(decode_dir)
    report = score_classification(
        refs, read_table(hyp_path), data.utt2lang or None, hyp_path, data_dir
    )
    decode_dir = Path(decode_dir)
    atomic_write_text(decode_dir / "report.txt", format_report(report, title=str(decode_dir)))
    record = {"data_dir": str(data_dir), "decode_dir": str(decode_dir), **report.to_dict()}
    atomic_write_text(
        decode_dir / "report.json", json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    )
    plot_confusion(report, decode_dir / "confusion.png", title=str(decode_dir))
    return report
