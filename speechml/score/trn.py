"""sclite ``trn`` files: one utterance a line, ``words of the transcript (utt-id)``.

A decode dir holds the hypotheses as ``hyp.trn``; scoring writes the references it used as
``ref.trn``, so that the pair can also be given to NIST sclite. An empty transcript is a line
holding only ``(utt-id)``. Lines are written sorted by utterance id (Kaldi byte order).

Example:
    >>> write_trn("hyp.trn", {"u2": "good night", "u1": "hello"})
    >>> Path("hyp.trn").read_text()
    'hello (u1)\\ngood night (u2)\\n'
    >>> read_trn("hyp.trn")
    {'u1': 'hello', 'u2': 'good night'}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from speechml.data.table import sort_key
from speechml.errors import DataError
from speechml.io import atomic_write_text
from speechml.lang.normalize import collapse_whitespace

#: ``words (utt-id)``: the id is the last parenthesised field, without spaces or parentheses.
_TRN_LINE = re.compile(r"^(?P<text>.*?)\s*\((?P<utt>[^()\s]+)\)\s*$")


def read_trn(path: str | Path) -> dict[str, str]:
    """Read a trn file into utterance id -> transcript (file order, spaces collapsed).

    Args:
        path: the trn file; UTF-8, an optional byte-order mark and CR LF endings are accepted.

    Raises:
        DataError: if the file is missing or not UTF-8, if a non-blank line does not end with
            ``(utt-id)``, or if an id is repeated; the message names the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except UnicodeDecodeError as err:
        raise DataError(f"not valid UTF-8 ({err.reason} at byte {err.start})", path) from None
    hyps: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _TRN_LINE.match(line)
        if match is None:
            raise DataError(f"expected 'words (utt-id)', got {line.strip()!r}", path, number)
        utt = match["utt"]
        if utt in hyps:
            message = f"duplicated id {utt!r} (first on line {first_line[utt]})"
            raise DataError(message, path, number)
        hyps[utt] = collapse_whitespace(match["text"])
        first_line[utt] = number
    return hyps


def write_trn(path: str | Path, hyps: Mapping[str, str]) -> None:
    """Write utterance id -> transcript as a trn file, sorted by id, atomically.

    Whitespace inside a transcript (newlines included) is collapsed to single spaces.

    Args:
        path: the trn file to write (parent directories are created).
        hyps: utterance id -> transcript (may be empty).

    Raises:
        DataError: if an id is empty or holds whitespace or parentheses.
    """
    lines = []
    for utt in sorted(hyps, key=sort_key):
        if not utt or any(c.isspace() or c in "()" for c in utt):
            raise DataError(
                f"invalid id {utt!r}: ids must be non-empty, without whitespace or parentheses",
                path,
            )
        words = collapse_whitespace(hyps[utt])
        lines.append(f"{words} ({utt})\n" if words else f"({utt})\n")
    atomic_write_text(path, "".join(lines))
