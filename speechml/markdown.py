"""Markdown tables for the reports that speechml writes (``RESULTS.md``, a corpus's README).

A cell's ``|`` is escaped (``\\|``) so that it cannot split the cell; other text is kept.

Example:
    >>> print(markdown_table(["system", "WER %"], [["base | v2", 12.5]]))
    | system | WER % |
    |---|---|
    | base \\| v2 | 12.5 |
"""

from __future__ import annotations

from collections.abc import Sequence


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
