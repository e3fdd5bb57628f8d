"""Markdown for the reports that speechml writes (``RESULTS.md``, a corpus's README): tables,
and the legend that spells out the abbreviations a report uses.

A cell's ``|`` is escaped (``\\|``) so that it cannot split the cell; other text is kept.

Example:
    >>> print(markdown_table(["system", "WER %"], [["base | v2", 12.5]]))
    | system | WER % |
    |---|---|
    | base \\| v2 | 12.5 |
    >>> abbreviation_legend("| LDA WER % |")
    'Abbreviations: LDA: language-dependent adapters; WER: word error rate.'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

#: abbreviation -> what it stands for, as the reports use them
ABBREVIATIONS = {
    "ASR": "automatic speech recognition",
    "CER": "character error rate (characters without spaces)",
    "CPT": "continued pretraining (self-supervised, on the target language's audio)",
    "CTC": "connectionist temporal classification",
    "FT": "fine-tuning",
    "LDA": "language-dependent adapters",
    "LLM": "large language model",
    "LM": "language model",
    "LoRA": "low-rank adaptation",
    "WER": "word error rate",
    "XLS-R": "cross-lingual speech representations, a wav2vec2 pretrained on 128 languages",
}


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table, one line a row, without a final newline.

    Args:
        header: the column names.
        rows: the cells of each row (any value; written with ``str``), as many as ``header``.
    """
    lines = [_row(header), "|" + "---|" * len(header)]
    lines += [_row(row) for row in rows]
    return "\n".join(lines)


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def abbreviation_legend(text: str, abbreviations: Mapping[str, str] = ABBREVIATIONS) -> str:
    """``Abbreviations: A: ...; B: ....`` for each abbreviation that ``text`` uses as a word
    (case-sensitive, in alphabetical order); ``""`` when it uses none."""
    used = [
        f"{short}: {meaning}"
        for short, meaning in sorted(abbreviations.items())
        if re.search(rf"(?<![\w-]){re.escape(short)}(?![\w-])", text)
    ]
    return f"Abbreviations: {'; '.join(used)}." if used else ""
