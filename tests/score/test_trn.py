"""sclite trn files: round trip, order, and errors naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from speechml.errors import DataError
from speechml.score.trn import read_trn, write_trn


def test_round_trip_sorted_with_empty_and_unicode(tmp_path: Path) -> None:
    path = tmp_path / "decode" / "hyp.trn"
    hyps = {"u2": "good  night\n", "u1": "नमस्ते दुनिया", "u10": ""}
    write_trn(path, hyps)
    assert path.read_text(encoding="utf-8") == ("नमस्ते दुनिया (u1)\n(u10)\ngood night (u2)\n")
    assert read_trn(path) == {"u1": "नमस्ते दुनिया", "u10": "", "u2": "good night"}


def test_read_accepts_bom_crlf_blank_lines_and_parentheses_in_text(tmp_path: Path) -> None:
    path = tmp_path / "hyp.trn"
    path.write_bytes("\ufeffa (b) c (u1)\r\n\r\nhello(u2)\r\n".encode())
    assert read_trn(path) == {"u1": "a (b) c", "u2": "hello"}


def test_line_without_id_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "hyp.trn"
    path.write_text("hello (u1)\nno id here\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"hyp\.trn:2: .*no id here") as err:
        read_trn(path)
    assert err.value.line == 2


def test_duplicated_id_names_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "hyp.trn"
    path.write_text("a (u1)\nb (u2)\nc (u1)\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"hyp\.trn:3: duplicated id 'u1' \(first on line 1\)"):
        read_trn(path)


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_trn(tmp_path / "hyp.trn")


@pytest.mark.parametrize("bad", ["", "u 1", "u(1)"])
def test_write_refuses_ids_that_cannot_be_read_back(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "hyp.trn"
    with pytest.raises(DataError, match="invalid id"):
        write_trn(path, {bad: "x"})
    assert not path.exists()
