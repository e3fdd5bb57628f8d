"""``RESULTS.md``: every score of a recipe's experiments, collected into markdown tables.

Scores are read from ``<egs>/<exp>/<system>/decode_<set>/score.json`` (written by
``speechml score wer``) and ``.../report.json`` (``speechml score cls``). The system name is the
experiment dir relative to ``<exp>`` (``base``, ``adapter/hin``); the test set is the decode
dir's name without ``decode_``. A one-line ``system.txt`` in the decode dir (e.g. "most
frequent transcript baseline") is shown as the description. Rows are sorted by system, then
test set; each set's total row (language ``all``) is followed by one row per language, and
names the set's worst voice (or, without voices, its worst speaker) with its WER
(:mod:`speechml.score.spread`). A rate without reference words is ``N/A``. The file holds no
date: the same scores give the same file, so it changes only when a score does.

Example:
    >>> from speechml.asr.decode import decode_to_dir
    >>> from speechml.score.wer import score_decode_dir
    >>> _ = decode_to_dir("data/test", "exp/base/decode_test", model_dir="exp/base/model")
    >>> _ = score_decode_dir("data/test", "exp/base/decode_test")  # writes its score.json
    >>> write_results(".")  # every scored decode dir under exp/
    PosixPath('RESULTS.md')
    >>> print(Path("RESULTS.md").read_text())  # an untrained recogniser's row
    # Results
    ...
    | base | transducer base: greedy, causal pass | test | all | 100.00 | ... | spk1 100.00 |
    ...
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from speechml.config import read_json
from speechml.errors import DataError
from speechml.io import atomic_write_text
from speechml.markdown import abbreviation_legend, markdown_table
from speechml.score.decode_dir import SYSTEM_FILE, read_system

WER_HEADER = (
    "system",
    "description",
    "test set",
    "language",
    "WER %",
    "CER %",
    "word errors / words",
    "ins",
    "del",
    "sub",
    "utts",
    "no hyp",
    "worst voice/speaker WER %",
)
CLS_HEADER = (
    "system",
    "description",
    "test set",
    "language",
    "accuracy %",
    "macro-F1 %",
    "utts",
    "no hyp",
)
#: the note under the classification table
CLS_NOTE = (
    f"`description`: what the system is (its `{SYSTEM_FILE}`): a `speech classifier` hears the "
    "audio (end to end); a classifier `on the texts of` a decode dir reads a recogniser's "
    "hypotheses (a cascade). Per-language rows give the accuracy only."
)


def _field(record: dict[str, Any], path: Path, *keys: str) -> Any:
    """``record[k1][k2]...``, or a DataError naming the file and the missing key."""
    value: Any = record
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise DataError(f"missing key {'.'.join(keys)!r}: rescore this decode dir", path)
        value = value[key]
    return value


def _rate(value: float | None) -> str:
    return "N/A" if value is None else f"{value:.2f}"


def _worst_group(record: dict[str, Any]) -> str:
    """``m3 95.00``: the worst voice of a ``score.json``, else its worst speaker, else ``""``
    (one group only, or a score from before the spreads were recorded)."""
    spreads = record.get("spread") or {}
    found = spreads.get("voice") or spreads.get("spk")
    if not found:
        return ""
    worst = found["worst"][0]
    return f"{worst['id']} {_rate(worst['rate'])}"


def _wer_rows(record: dict[str, Any], path: Path, where: list[str]) -> list[list[object]]:
    no_hyp = len(_field(record, path, "missing"))
    groups = [("all", record), *sorted(_field(record, path, "per_lang").items())]
    rows = []
    for lang, group in groups:
        wer, cer = _field(group, path, "wer"), _field(group, path, "cer")
        rows.append(
            [
                *where,
                lang,
                _rate(_field(wer, path, "rate")),
                _rate(_field(cer, path, "rate")),
                f"{_field(wer, path, 'errors')} / {_field(wer, path, 'ref')}",
                _field(wer, path, "ins"),
                _field(wer, path, "del"),
                _field(wer, path, "sub"),
                _field(group, path, "num_utts"),
                no_hyp if lang == "all" else "",
                _worst_group(record) if lang == "all" else "",
            ]
        )
    return rows


def _cls_rows(record: dict[str, Any], path: Path, where: list[str]) -> list[list[object]]:
    total = [
        *where,
        "all",
        f"{100 * _field(record, path, 'accuracy'):.2f}",
        f"{100 * _field(record, path, 'macro_f1'):.2f}",
        _field(record, path, "num_utts"),
        len(_field(record, path, "missing")),
    ]
    per_lang = [
        [
            *where,
            lang,
            f"{100 * _field(g, path, 'accuracy'):.2f}",
            "",
            _field(g, path, "num_utts"),
            "",
        ]
        for lang, g in sorted(_field(record, path, "per_lang").items())
    ]
    return [total, *per_lang]


def write_results(
    egs_dir: str | Path = ".",
    exp_dir: str | Path = "exp",
    out: str | Path = "RESULTS.md",
    include: Sequence[str | Path] = (),
) -> Path:
    """Collect every score under ``egs_dir/exp_dir`` into ``egs_dir/out`` (markdown).

    Args:
        egs_dir: the recipe directory (default: the current one).
        exp_dir: the experiments, relative to ``egs_dir`` (default ``exp``).
        out: the file to write, relative to ``egs_dir`` (default ``RESULTS.md``).
        include: generated markdown sections (e.g. ``exp/lda_summary.md``, relative to
            ``egs_dir``) placed after the header, before the tables.

    Returns:
        The path written.

    Raises:
        DataError: if no decode dir holds a ``score.json`` or ``report.json``, or one of them
            lacks a number (naming the file).
        ConfigError: if one of them is not a JSON object (naming the file and line).
    """
    egs_dir = Path(egs_dir)
    exp_root = egs_dir / exp_dir
    found = sorted(
        (path.parent.parent.relative_to(exp_root).as_posix(), path.parent.name, path)
        for name in ("score.json", "report.json")
        for path in exp_root.glob(f"**/decode_*/{name}")
    )
    if not found:
        raise DataError(
            "no decode_*/score.json or decode_*/report.json found: score the decode dirs first",
            path=exp_root,
        )
    wer_rows: list[list[object]] = []
    cls_rows: list[list[object]] = []
    for system, decode_name, path in found:
        where = [system, read_system(path.parent), decode_name.removeprefix("decode_")]
        record = read_json(path)
        if path.name == "score.json":
            wer_rows += _wer_rows(record, path, where)
        else:
            cls_rows += _cls_rows(record, path, where)
    included = [egs_dir / path for path in include]
    for path in included:
        if not path.is_file():
            raise DataError("file to include not found", path=path)
    options = [arg for path in include for arg in ("--include", str(path))]
    command = shlex.join(
        ["speechml", "score", "results", str(egs_dir), "--exp", str(exp_dir), "--out", str(out)]
        + options
    )
    lines = [
        "# Results",
        "",
        f"Generated by `speechml score results` with `{command}`,",
        f"from the `decode_*/score.json` and `decode_*/report.json` files under `{exp_dir}/`.",
        "Do not edit this file by hand: rescore and rerun the command.",
    ]
    for path in included:
        lines += ["", path.read_text(encoding="utf-8").strip()]
    if wer_rows:
        table = markdown_table(WER_HEADER, wer_rows)
        lines += ["", "## Speech recognition (WER, CER)", "", abbreviation_legend(table), ""]
        lines += [
            table,
            "",
            "CER counts characters without spaces; `no hyp`: reference utterances without a "
            "hypothesis, scored as deletions; `worst voice/speaker`: the voice (or speaker) "
            "with the highest WER, from the set's `wer` file.",
        ]
    if cls_rows:
        lines += ["", "## Classification", "", markdown_table(CLS_HEADER, cls_rows), "", CLS_NOTE]
    target = egs_dir / out
    atomic_write_text(target, "\n".join(lines) + "\n")
    return target
