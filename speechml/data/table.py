"""Kaldi tables: text files of ``key value`` lines (``wav.scp``, ``text``, ``utt2spk``...).

The first whitespace-separated field is the key, the rest of the line (stripped) is the value.
Files are UTF-8, one entry a line. Reading keeps line numbers so that every error names the
file and line; writing sorts by key (byte order, as Kaldi's ``LC_ALL=C sort``) atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from speechml.errors import DataError
from speechml.io import atomic_write_text


@dataclass(frozen=True)
class TableLine:
    """One entry of a table as found in the file."""

    key: str
    value: str
    line: int  # 1-based line number in the file


@dataclass(frozen=True)
class RawTable:
    """A table as it is on disk, before any check: entries in file order, duplicates kept."""

    path: Path
    lines: list[TableLine]
    has_bom: bool  # the file starts with a UTF-8 byte-order mark
    has_crlf: bool  # at least one line ends with CR LF
    blank_lines: list[int]  # 1-based numbers of empty lines


def sort_key(key: str) -> bytes:
    """The order of Kaldi's ``LC_ALL=C sort``: by UTF-8 bytes."""
    return key.encode("utf-8")


def read_raw_table(path: str | Path) -> RawTable:
    """Read a table leniently (for validation and fixing).

    Raises:
        DataError: if the file is missing or is not UTF-8 (naming the line).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    has_bom = data.startswith(b"\xef\xbb\xbf")
    if has_bom:
        data = data[3:]
    has_crlf = b"\r\n" in data
    lines: list[TableLine] = []
    blanks: list[int] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            message = f"not valid UTF-8 ({err.reason} at byte {err.start})"
            raise DataError(message, path, number) from None
        text = text.rstrip("\r")
        stripped = text.strip()
        if not stripped:
            if number <= data.count(b"\n"):  # the empty string after the last newline is no line
                blanks.append(number)
            continue
        parts = stripped.split(maxsplit=1)
        lines.append(TableLine(parts[0], parts[1].strip() if len(parts) > 1 else "", number))
    return RawTable(path, lines, has_bom, has_crlf, blanks)


def read_table(path: str | Path, allow_empty_values: bool = False) -> dict[str, str]:
    """Read a table strictly into a dict (file order).

    Args:
        path: the table file.
        allow_empty_values: accept lines that hold only a key (e.g. an empty transcript).

    Raises:
        DataError: on a missing file, bad UTF-8, a duplicated key or an empty value,
            naming the file and line.
    """
    raw = read_raw_table(path)
    table: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for entry in raw.lines:
        if entry.key in table:
            raise DataError(
                f"duplicated id {entry.key!r} (first on line {first_line[entry.key]})",
                raw.path,
                entry.line,
            )
        if not entry.value and not allow_empty_values:
            raise DataError(f"id {entry.key!r} has no value", raw.path, entry.line)
        table[entry.key] = entry.value
        first_line[entry.key] = entry.line
    return table


def write_table(path: str | Path, table: Mapping[str, object]) -> None:
    """Write ``key value`` lines sorted by key, atomically; floats are written with %g-like text.

    Raises:
        DataError: if a key is empty or contains whitespace (Kaldi ids cannot).
    """
    lines = []
    for key in sorted(table, key=sort_key):
        if not key or any(c.isspace() for c in key):
            raise DataError(f"invalid id {key!r}: ids must be non-empty without whitespace", path)
        value = table[key]
        if isinstance(value, float):
            value = f"{value:.3f}"
        lines.append(f"{key} {value}".rstrip() + "\n")
    atomic_write_text(path, "".join(lines))
