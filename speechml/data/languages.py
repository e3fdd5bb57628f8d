"""ISO 639-3 language codes (``utt2lang``), checked against pycountry's ISO 639-3 table.

Codes are three lowercase letters (``kat``, ``eng``, ``yue``). A user who writes an ISO 639-1
code (``ka``), an ISO 639-2/B code (``geo``) or an upper-case code gets a hint naming the
ISO 639-3 code they meant.

Example:
    >>> check_language_code("kat")
    'kat'
    >>> language_name("kat")
    'Georgian'
    >>> try:
    ...     check_language_code("ka", path="utt2lang", line=3, utt="u1")
    ... except DataError as err:
    ...     print(err)
    utt2lang:3: utterance u1: unknown ISO 639-3 language code 'ka' (did you mean 'kat'?)
"""

from __future__ import annotations

from pathlib import Path

import pycountry

from speechml.errors import DataError


def _suggestion(code: str) -> str | None:
    """The ISO 639-3 code that ``code`` probably stands for (639-1, 639-2/B or other case)."""
    lowered = code.lower()
    for field in ("alpha_2", "alpha_3", "bibliographic"):
        language = pycountry.languages.get(**{field: lowered})
        if language is not None:
            return language.alpha_3
    return None


def check_language_code(
    code: str,
    path: str | Path | None = None,
    line: int | None = None,
    utt: str | None = None,
) -> str:
    """Return ``code`` if it is an ISO 639-3 code, else raise naming where it was found.

    Args:
        code: the code to check, e.g. ``"kat"``; it must be lowercase.
        path: the file it comes from (``utt2lang``), for the error message.
        line: the 1-based line number in ``path``.
        utt: the utterance id it belongs to.

    Raises:
        DataError: if ``code`` is not in ISO 639-3; the message suggests the ISO 639-3 code when
            ``code`` is an ISO 639-1 (``"ka"``) or ISO 639-2/B (``"geo"``) code or is upper-case.
    """
    if code.isascii() and code.isalpha() and code.islower():
        language = pycountry.languages.get(alpha_3=code)
        if language is not None and language.alpha_3 == code:
            return code
    message = f"unknown ISO 639-3 language code {code!r}"
    suggestion = _suggestion(code) if code.isascii() and code.isalpha() else None
    if suggestion is not None:
        message += f" (did you mean {suggestion!r}?)"
    raise DataError(message, path=path, line=line, utt=utt)


def language_name(code: str) -> str:
    """The English name of an ISO 639-3 code, e.g. ``language_name("kat") == "Georgian"``.

    Raises:
        DataError: if ``code`` is not an ISO 639-3 code (with the same hint as
            :func:`check_language_code`).
    """
    return pycountry.languages.get(alpha_3=check_language_code(code)).name
