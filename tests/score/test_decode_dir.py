"""The decode dir contract: what a system writes, what scoring and reports read back, and one
module that spells its file names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from speechml.data.datadir import DataDir
from speechml.data.table import read_table
from speechml.errors import DataError
from speechml.score.decode_dir import (
    read_labels,
    read_system,
    read_transcripts,
    write_labels,
    write_transcripts,
)
from speechml.score.results import write_results
from speechml.score.wer import score_decode_dir

PACKAGE = Path(__file__).resolve().parents[2] / "speechml"
OWNER = PACKAGE / "score" / "decode_dir.py"
NAMES = ("hyp.trn", "system.txt")


def test_transcripts_round_trip_with_system_confidence_and_rtf(tmp_path: Path) -> None:
    out = tmp_path / "exp" / "decode_test"
    path = write_transcripts(
        out,
        {"u2": "good  night", "u1": ""},
        "transducer base:\ngreedy",
        confidences={"u1": 0.5, "u2": 0.123456},
        rtf="RTF 0.0100 (1.0 s for 100.0 s of audio, greedy, causal pass) x",
    )
    assert path == out / "hyp.trn"
    assert path.read_text(encoding="utf-8") == "(u1)\ngood night (u2)\n"
    assert read_transcripts(out) == {"u1": "", "u2": "good night"}
    assert (out / "system.txt").read_text(encoding="utf-8") == "transducer base: greedy\n"
    assert read_system(out) == "transducer base: greedy"
    assert read_table(out / "confidence") == {"u1": "0.5000", "u2": "0.1235"}
    assert (out / "rtf").read_text(encoding="utf-8").startswith("RTF 0.0100 (")


def test_labels_round_trip_and_system_is_optional(tmp_path: Path) -> None:
    path = write_labels(tmp_path / "a", {"u2": "no", "u1": "yes"}, "n-gram classifier m")
    assert path.read_text(encoding="utf-8") == "u1 yes\nu2 no\n"
    assert read_labels(tmp_path / "a") == {"u1": "yes", "u2": "no"}
    assert read_system(tmp_path / "a") == "n-gram classifier m"
    write_labels(tmp_path / "b", {"u1": "yes"})
    assert read_system(tmp_path / "b") == ""
    assert not (tmp_path / "b" / "system.txt").exists()


def test_a_missing_hypothesis_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="hyp.trn: file not found"):
        read_transcripts(tmp_path)


def test_scoring_and_results_read_what_was_written(tmp_path: Path) -> None:
    DataDir(utt2spk={"u1": "s1", "u2": "s1"}, text={"u1": "hello", "u2": "good night"}).write(
        tmp_path / "data" / "test"
    )
    decode = tmp_path / "exp" / "base" / "decode_test"
    write_transcripts(decode, {"u1": "hello", "u2": "good"}, "my system")
    report = score_decode_dir(tmp_path / "data" / "test", decode)
    assert (report.total.words.errors, report.total.words.ref) == (1, 3)
    text = write_results(tmp_path).read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| base ")]
    assert [c.strip() for c in rows[0].strip("|").split(" | ")][:5] == [
        "base", "my system", "test", "all", "33.33",
    ]  # fmt: skip


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes of a module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(
            node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
        ) and (node.body and isinstance(node.body[0], ast.Expr)):
            found.add(id(node.body[0].value))
    return found


def test_only_the_owner_spells_the_file_names() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == OWNER:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and any(name in node.value for name in NAMES)
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}")
    assert not offenders, "use speechml.score.decode_dir: " + "; ".join(offenders)
