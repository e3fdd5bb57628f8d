"""The comparison report of a classification experiment in SpeechTaxi's settings.

Scores are read from ``EXP/<method>/<train>/decode_<lang>/report.json`` (written by
``speechml score cls``): ``<method>`` is any dir name (``e2e``, ``ca``, ``ca_rom``), ``<train>``
a train dir of :mod:`speechml.cls.settings` (``train_<L>``, ``train_all``, ``train_heldout``)
and ``<lang>`` the test language. Per method and test language ``T``:

- mono: ``train_T`` tested on ``T``;
- zero-shot: the mean over the other languages ``S`` of ``train_S`` tested on ``T``;
- multi: ``train_all`` tested on ``T``;
- held-out: ``train_heldout`` tested on ``T``.

:func:`write_report` writes a markdown section (a legend that spells out each method and
setting, accuracy and macro-F1 tables, a dash where a score is missing), a JSON of every number
beside it, and per method a heat map of the train-language x test-language accuracy
(``<method>_zero_shot.png``; its diagonal is mono). A decode dir whose train or test name fits
none of these is left out with a warning.

Example:
    >>> write_report("exp/cls", "exp/cls/summary.md")  # doctest: +SKIP
    [PosixPath('exp/cls/summary.md'), PosixPath('exp/cls/summary.json'), ...]
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle

from speechml.cls.settings import ALL, HELD_OUT, SETTING_NAMES, data_name
from speechml.config import read_json
from speechml.errors import DataError
from speechml.io import atomic_write_text
from speechml.lang.languages import check_language_code
from speechml.markdown import markdown_table
from speechml.plots import save_heatmap, write_png

logger = logging.getLogger(__name__)

#: what a table shows where a score is missing
MISSING = "-"
#: method dir name -> the method spelled out, for the legend of the tables (the recipe's names)
METHOD_NAMES = {
    "ca": "cascade: the recogniser, then a character n-gram text classifier of its hypotheses",
    "ca_rom": "romanized cascade: a recogniser of uroman-romanized text, then a character n-gram "
    "classifier of romanized text",
    "ca_nn": "cascade with a neural text classifier: the recogniser, then a small transformer "
    "text classifier (from scratch, or its encoder pretrained with TransliCo and its vocabulary "
    "expanded with OFA, as its config says)",
    "e2e": "end to end: a speech classifier (a speech encoder, pooling over time, a linear head)",
}
#: setting -> what it trains and tests, for the legend of the tables
SETTING_LEGEND = {
    "mono": "trained and tested on the language",
    "zero_shot": "mean over the models trained on each other language alone",
    "multi": "trained on every language",
    "held_out": "trained on every language but the held-out ones",
}
#: train dir name -> its setting, for the pooled train dirs
POOLED_SETTINGS = {data_name("train", ALL): "multi", data_name("train", HELD_OUT): "held_out"}


@dataclass(frozen=True)
class Score:
    """Accuracy and macro-F1 (fractions in [0, 1]) of one model on one test language."""

    accuracy: float
    macro_f1: float

    def to_dict(self) -> dict[str, float]:
        return {"accuracy": round(self.accuracy, 6), "macro_f1": round(self.macro_f1, 6)}


def mean_score(scores: list[Score]) -> Score:
    """The score whose accuracy and macro-F1 are the means of ``scores`` (not empty)."""
    return Score(
        float(np.mean([s.accuracy for s in scores])), float(np.mean([s.macro_f1 for s in scores]))
    )


@dataclass
class MethodScores:
    """The scores of one method.

    Attributes:
        cross: train language -> test language -> score of ``train_<train language>``.
        pooled: ``multi`` or ``held_out`` -> test language -> score.
    """

    cross: dict[str, dict[str, Score]] = field(default_factory=dict)
    pooled: dict[str, dict[str, Score]] = field(default_factory=dict)

    def setting(self, name: str) -> dict[str, Score]:
        """Test language -> score in setting ``name`` (one of ``SETTING_NAMES``)."""
        if name == "mono":
            return {t: row[t] for t, row in self.cross.items() if t in row}
        if name == "zero_shot":
            tests = sorted({t for row in self.cross.values() for t in row})
            off_diagonal = {
                t: [row[t] for s, row in self.cross.items() if s != t and t in row] for t in tests
            }
            return {t: mean_score(scores) for t, scores in off_diagonal.items() if scores}
        return self.pooled.get(name, {})

    def languages(self) -> set[str]:
        """Every train and test language with a score."""
        tests = {t for row in [*self.cross.values(), *self.pooled.values()] for t in row}
        return tests | set(self.cross)


def _number(record: dict, key: str, path: Path) -> float:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"no number {key!r}: rescore this decode dir", path)
    return float(value)


def _language(suffix: str) -> str | None:
    """``suffix`` if it is an ISO 639-3 code, else None."""
    try:
        return check_language_code(suffix)
    except DataError:
        return None


def _train_language(train_name: str) -> str | None:
    """The ``L`` of a ``train_<L>`` dir name; None for a pooled train dir or another name."""
    if train_name in POOLED_SETTINGS or not train_name.startswith("train_"):
        return None
    return _language(train_name.removeprefix("train_"))


def collect_scores(exp_dir: str | Path) -> dict[str, MethodScores]:
    """Method -> its scores, from every ``EXP/<method>/<train>/decode_<lang>/report.json``.

    Raises:
        DataError: if no such report exists, or one lacks ``accuracy`` or ``macro_f1``.
        ConfigError: if one is not a JSON object.
    """
    exp_dir = Path(exp_dir)
    paths = sorted(exp_dir.glob("*/*/decode_*/report.json"))
    if not paths:
        raise DataError(
            "no <method>/<train>/decode_<lang>/report.json: score the decode dirs first", exp_dir
        )
    methods: dict[str, MethodScores] = {}
    for path in paths:
        decode_dir = path.parent
        train_name, method = decode_dir.parent.name, decode_dir.parent.parent.name
        test = _language(decode_dir.name.removeprefix("decode_"))
        train, pooled = _train_language(train_name), POOLED_SETTINGS.get(train_name)
        if test is None or (train is None and pooled is None):
            logger.warning(
                "%s left out: not <method>/train_<lang|all|heldout>/decode_<lang>", decode_dir
            )
            continue
        record = read_json(path)
        score = Score(_number(record, "accuracy", path), _number(record, "macro_f1", path))
        scores = methods.setdefault(method, MethodScores())
        if pooled is not None:
            scores.pooled.setdefault(pooled, {})[test] = score
        else:
            scores.cross.setdefault(train, {})[test] = score
    if not methods:
        raise DataError("no report.json in a <method>/train_<...>/decode_<lang> dir", exp_dir)
    return methods


def _languages(methods: dict[str, MethodScores]) -> list[str]:
    """Every language with a score in any method, sorted."""
    return sorted(set().union(*(scores.languages() for scores in methods.values())))


def _percent(score: Score | None, metric: str) -> str:
    return MISSING if score is None else f"{100 * getattr(score, metric):.2f}"


def summary_markdown(methods: dict[str, MethodScores], exp_dir: str | Path) -> str:
    """The markdown section: one table each for accuracy and macro-F1, rows method x setting
    (the settings each method ran in), columns the languages then their mean (over the
    languages with a score in the row)."""
    langs = _languages(methods)
    described = [
        f"`{m}`: {METHOD_NAMES.get(m, f'the classifiers of `{Path(exp_dir) / m}`')}"
        for m in sorted(methods)
    ]
    settings = [f"{name.replace('_', '-')}: {text}" for name, text in SETTING_LEGEND.items()]
    out = [
        f"## Classification settings: `{exp_dir}`",
        "",
        f"Methods: {'; '.join(described)}.",
        "",
        f"Settings: {'; '.join(settings)}. `mean`: over the languages with a score in the row; "
        f"`{MISSING}`: no score.",
    ]
    for metric, title in (("accuracy", "Accuracy %"), ("macro_f1", "Macro-F1 %")):
        rows = []
        for method, scores in sorted(methods.items()):
            for name in SETTING_NAMES:
                by_lang = scores.setting(name)
                if not by_lang:
                    continue  # the method was not run in this setting
                mean = mean_score(list(by_lang.values()))
                cells = [_percent(by_lang.get(lang), metric) for lang in langs]
                rows.append([method, name.replace("_", "-"), *cells, _percent(mean, metric)])
        header = ["method", "setting", *langs, "mean"]
        out += ["", f"### {title}", "", markdown_table(header, rows)]
    return "\n".join(out) + "\n"


def summary_record(methods: dict[str, MethodScores]) -> dict[str, object]:
    """Every number of the report as JSON-able values: per method, each setting's scores by
    test language and the ``cross`` scores by train then test language."""
    return {
        method: {
            **{
                name: {t: s.to_dict() for t, s in sorted(scores.setting(name).items())}
                for name in SETTING_NAMES
            },
            "cross": {
                train: {t: s.to_dict() for t, s in sorted(row.items())}
                for train, row in sorted(scores.cross.items())
            },
        }
        for method, scores in sorted(methods.items())
    }


def plot_zero_shot(
    scores: MethodScores, langs: list[str], path: str | Path, title: str = ""
) -> None:
    """Save the train-language x test-language accuracy of ``scores.cross`` as a PNG, atomically.

    Args:
        scores: one method's scores.
        langs: the rows (train languages) and columns (test languages), in order; the same for
            every method, so that their maps compare.
        path: the PNG to write.
        title: the title (default: says that the diagonal is mono).

    Cells hold the accuracy in percent, a dash where it is missing; the diagonal is outlined.
    """
    matrix = np.full((len(langs), len(langs)), math.nan)
    for i, train in enumerate(langs):
        for j, test in enumerate(langs):
            if test in scores.cross.get(train, {}):
                matrix[i, j] = 100 * scores.cross[train][test].accuracy
    fig = save_heatmap(
        matrix,
        langs,
        langs,
        path,
        "accuracy %",
        title or "accuracy % (diagonal: mono, elsewhere: zero-shot)",
        ("test language", "train language"),
        lambda value: MISSING if math.isnan(value) else f"{value:.1f}",
        (0, 100),
    )
    ax = fig.axes[0]
    for i in range(len(langs)):
        ax.add_patch(Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", lw=2))
    write_png(fig, path)


def write_report(exp_dir: str | Path, out: str | Path) -> list[Path]:
    """Write the comparison report of ``exp_dir`` (see the module docstring).

    Args:
        exp_dir: the experiment dir ``EXP`` holding ``<method>/<train>/decode_<lang>``.
        out: the markdown file, e.g. ``EXP/summary.md``; the JSON goes beside it with the suffix
            ``.json``, the heat maps into its directory as ``<method>_zero_shot.png``.

    Returns:
        The files written: the markdown, the JSON, then one PNG per method (sorted) that has
        models trained on a single language.

    Raises:
        DataError, ConfigError: as :func:`collect_scores`.
    """
    methods = collect_scores(exp_dir)
    out = Path(out)
    langs = _languages(methods)
    atomic_write_text(out, summary_markdown(methods, exp_dir))
    record = {"exp_dir": str(exp_dir), "languages": langs, "methods": summary_record(methods)}
    record_path = out.with_suffix(".json")
    atomic_write_text(record_path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    written = [out, record_path]
    for method, scores in sorted(methods.items()):
        if not scores.cross:
            continue  # no model of this method trained on a single language
        written.append(out.parent / f"{method}_zero_shot.png")
        plot_zero_shot(scores, langs, written[-1], title=f"{method}: accuracy % (diagonal: mono)")
    return written
