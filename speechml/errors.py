"""Errors that the ``speechml`` command reports in one line, without a traceback.

Every error raised for bad user input is a :class:`SpeechmlError`; its message names the
file, the line or the utterance, and what is wrong, so that the user can fix the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class SpeechmlError(Exception):
    """Base class of all errors caused by the user's input or configuration."""


class ConfigError(SpeechmlError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


class DataError(SpeechmlError):
    """A data file is invalid.

    Args:
        message: what is wrong.
        path: the file concerned, if any.
        line: the 1-based line number in ``path``, if known.
        utt: the utterance id concerned, if known.

    Example:
        >>> str(DataError("empty transcript", path="data/train/text", line=3, utt="u1"))
        'data/train/text:3: utterance u1: empty transcript'
    """

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        utt: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.utt = utt
        self.reason = message
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "") + ": "
        if utt is not None:
            where += f"utterance {utt}: "
        super().__init__(where + message)


class AudioError(DataError):
    """An audio file is missing, unreadable, corrupt, empty or refused (pipe)."""


class ModelError(DataError):
    """A model file or directory given by path (weights, checkpoint, tokenizer, adapter,
    CMVN statistics, a transformers directory) is missing, corrupt, refused or does not fit."""


def shorten(items: Sequence[str], shown: int = 10, sep: str = ", ") -> str:
    """The first ``shown`` items joined, then ``(and N more)``: lists in one-line errors.

    Example:
        >>> shorten(["u1", "u2", "u3"], shown=2)
        'u1, u2 (and 1 more)'
    """
    text = sep.join(items[:shown])
    return text + (f" (and {len(items) - shown} more)" if len(items) > shown else "")
