"""Markdown tables of RESULTS.md and the corpus README, and the legend of abbreviations."""

from __future__ import annotations

from speechml.markdown import abbreviation_legend, markdown_table


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


def test_the_legend_spells_out_the_abbreviations_used_as_words() -> None:
    text = "| LDA WER % | full FT CER % |\nstand-in for XLS-R; an LM, not an LLM"
    assert abbreviation_legend(text) == (
        "Abbreviations: CER: character error rate (characters without spaces); FT: fine-tuning; "
        "LDA: language-dependent adapters; LLM: large language model; LM: language model; "
        "WER: word error rate; XLS-R: cross-lingual speech representations, a wav2vec2 "
        "pretrained on 128 languages."
    )


def test_no_abbreviation_inside_a_word_or_none_at_all_gives_no_legend() -> None:
    assert abbreviation_legend("WERs, LMs, soft-CTC, lower-case wer") == ""
    assert abbreviation_legend("x ctc y", {"ctc": "connectionist"}) == (
        "Abbreviations: ctc: connectionist."
    )
