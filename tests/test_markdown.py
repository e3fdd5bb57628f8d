"""Markdown tables of RESULTS.md and the corpus README."""

from __future__ import annotations

from speechml.markdown import markdown_table


def test_table_has_a_header_a_rule_and_one_line_a_row() -> None:
    table = markdown_table(["system", "WER %"], [["base", 12.5], ["adapter/hin", "9.00"]])
    assert table.splitlines() == [
        "| system | WER % |",
        "|---|---|",
        "| base | 12.5 |",
        "| adapter/hin | 9.00 |",
    ]


def test_a_bar_in_a_cell_cannot_split_it() -> None:
    assert markdown_table(["a"], [["x | y"]]).splitlines()[2] == "| x \\| y |"


def test_no_rows_gives_the_header_only() -> None:
    assert markdown_table(["a", "b"], []) == "| a | b |\n|---|---|"
