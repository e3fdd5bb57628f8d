"""ISO 639-3 language codes (``utt2lang``), checked against pycountry's ISO 639-3 table.

Codes are three lowercase letters (``kat``, ``eng``, ``yue``). A user who writes an ISO 639-1
code (``ka``), an ISO 639-2/B code (``geo``) or an upper-case code gets a hint naming the
ISO 639-3 code they meant. :func:`language_code_for` maps what other corpora hold (``en-US``,
``English``) to an ISO 639-3 code.

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

import functools
import re
from pathlib import Path

import pycountry
from babel import Locale

from speechml.errors import DataError

#: A language tag: an ISO 639 code, then subtags (``en``, ``en-US``, ``zh_Hant_TW``).
_LANGUAGE_TAG = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*")


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


def language_code_for(value: str) -> str | None:
    """The ISO 639-3 code of a language as corpora write it, or None if it names none.

    ``value`` may be an ISO 639-3, 639-1 or 639-2/B code in any case (``kat``, ``ka``, ``GEO``),
    a language tag whose first subtag is one (``en-US``, ``zh_CN``), or an English language
    name of ISO 639-3 or of CLDR, in any case (``Georgian``, ``Swahili``, ``American English``).
    A code wins over a name (``Ga`` is Irish, ``ga``; the Ga language is ``gaa``).

    Example:
        >>> language_code_for("English"), language_code_for("en-US"), language_code_for("kat")
        ('eng', 'eng', 'kat')
        >>> language_code_for("Elvish") is None
        True
    """
    value = value.strip()
    tag = _LANGUAGE_TAG.fullmatch(value)
    code = _suggestion(tag.group(1)) if tag else None
    return code or _codes_by_name().get(value.casefold())


@functools.cache
def _codes_by_name() -> dict[str, str]:
    """Case-folded English language names -> ISO 639-3 codes: ISO 639-3's names (without
    " (macrolanguage)"), then CLDR's for the languages and varieties it has a code for."""
    codes: dict[str, str] = {}
    for language in pycountry.languages:
        name = language.name.replace(" (macrolanguage)", "")
        codes.setdefault(name.casefold(), language.alpha_3)
    for key, name in Locale("en").languages.items():
        code = _suggestion(key.split("_")[0])
        if code is not None:
            codes.setdefault(name.casefold(), code)
    return codes
