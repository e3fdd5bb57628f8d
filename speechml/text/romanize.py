"""Romanization with uroman: any script to Latin letters, for the romanized cascade.

One :class:`uroman.Uroman` is loaded per process, the first time it is needed (loading its
tables takes a couple of seconds), and shared by every :class:`Romanizer`. A Romanizer keeps
uroman's output for each ``(text, language)`` pair it has seen, so a transcript repeated in a
corpus is romanized once.

The language is an ISO 639-3 code, passed to uroman as ``lcode``: it changes the output where
languages read the same letters differently (Ukrainian ``гора`` is ``hora``, Russian ``gora``;
Persian and Arabic, Bengali...). ``None`` romanizes without a language. Codes are checked
with :func:`speechml.lang.languages.check_language_code`.

uroman raises on some inputs (``AttributeError: 'Edge' object has no attribute 'value'`` for
Chinese ``分之`` not followed by a number, e.g. ``一分之差``). Such a failure is a
:class:`RomanizationError` naming the utterance; :meth:`Romanizer.romanize_many` and
:func:`romanize_data_dir` romanize every other text first, then report all failures at once.

Output is whitespace-collapsed and, by default, lowercased.

Example:
    >>> romanizer = Romanizer()
    >>> romanizer.romanize("Привет,  мир")
    'privet, mir'
    >>> romanizer.romanize("гора", "ukr"), romanizer.romanize("гора", "rus")
    ('hora', 'gora')
    >>> romanizer.romanize_many(["გამარჯობა", "नमस्ते"], ["kat", "hin"])
    ['gamarjoba', 'namaste']
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path

import uroman

from speechml.data.datadir import DataDir
from speechml.data.table import sort_key
from speechml.errors import DataError
from speechml.lang.languages import check_language_code
from speechml.lang.normalize import collapse_whitespace
from speechml.progress import progress_bar

#: romanize_many shows a progress bar when it has at least this many distinct texts to romanize.
PROGRESS_MIN_TEXTS = 200

#: How many uroman error messages a combined failure report quotes.
QUOTED_FAILURES = 3


class RomanizationError(DataError):
    """uroman failed on a text (same arguments as :class:`~speechml.errors.DataError`)."""


@functools.cache
def shared_uroman() -> uroman.Uroman:
    """The process's one :class:`uroman.Uroman`, loaded on the first call (about 2 s)."""
    return uroman.Uroman()


class Romanizer:
    """uroman with a cache keyed by ``(text, ISO 639-3 code)``.

    Example:
        >>> Romanizer().romanize("Київ", "ukr", lowercase=False)
        'Kyiv'
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str | None], str] = {}

    def romanize(
        self, text: str, lang: str | None = None, lowercase: bool = True, utt: str | None = None
    ) -> str:
        """Romanize one text.

        Args:
            text: the text, any script.
            lang: its ISO 639-3 code (uroman's ``lcode``), or None for no language.
            lowercase: lowercase the output (default True).
            utt: the utterance it belongs to, named in errors.

        Returns:
            The Latin text, whitespace collapsed.

        Raises:
            DataError: if ``lang`` is not an ISO 639-3 code.
            RomanizationError: if uroman fails on ``text``.
        """
        if lang is not None:
            check_language_code(lang, utt=utt)
        return _finish(self._uroman_output(text, lang, utt), lowercase)

    def romanize_many(
        self,
        texts: Sequence[str],
        langs: Sequence[str | None] | None = None,
        lowercase: bool = True,
        utts: Sequence[str] | None = None,
        path: str | Path | None = None,
    ) -> list[str]:
        """Romanize a batch, each distinct ``(text, language)`` once (progress shown for long ones).

        Args:
            texts: the texts.
            langs: the ISO 639-3 code of each text (None entries: no language); None: no
                language for any text.
            lowercase: lowercase the output (default True).
            utts: the utterance id of each text, named in errors (default: ``item <n>``).
            path: the file the texts come from, named in errors.

        Returns:
            The romanized texts, in the order of ``texts``.

        Raises:
            DataError: if a language code is not ISO 639-3 (naming its first utterance).
            RomanizationError: after romanizing every other text, if uroman failed on some:
                lists every failed utterance and quotes the first messages.
        """
        langs = [None] * len(texts) if langs is None else list(langs)
        names = [f"item {i + 1}" for i in range(len(texts))] if utts is None else list(utts)
        if not len(texts) == len(langs) == len(names):
            raise ValueError(
                f"{len(texts)} texts, {len(langs)} languages and {len(names)} utterance ids"
            )
        keys = list(zip(texts, langs, strict=True))
        first_name: dict[tuple[str, str | None], str] = {}
        for key, name in zip(keys, names, strict=True):
            first_name.setdefault(key, name)
        for lang in {lang for lang in langs if lang is not None}:
            check_language_code(lang, path, utt=names[langs.index(lang)])
        todo = [key for key in first_name if key not in self._cache]
        failures: dict[tuple[str, str | None], str] = {}
        progress = progress_bar(
            todo, desc="romanize", unit="text", disable=len(todo) < PROGRESS_MIN_TEXTS
        )
        for text, lang in progress:
            try:
                self._uroman_output(text, lang, first_name[text, lang], path)
            except RomanizationError as err:
                failures[text, lang] = f"{err.utt}: {_describe_failure(text, lang, err.__cause__)}"
        if failures:
            raise _combined_failure(keys, names, failures, path)
        return [_finish(self._cache[key], lowercase) for key in keys]

    def _uroman_output(
        self, text: str, lang: str | None, utt: str | None, path: str | Path | None = None
    ) -> str:
        """uroman's string for ``(text, lang)``, from the cache or computed and cached."""
        key = (text, lang)
        if key not in self._cache:
            try:
                self._cache[key] = shared_uroman().romanize_string(text, lcode=lang)
            except Exception as err:  # uroman has no error class: its bugs raise anything
                message = f"uroman failed on {_describe_failure(text, lang, err)}"
                raise RomanizationError(message, path, utt=utt) from err
        return self._cache[key]


def _finish(romanized: str, lowercase: bool) -> str:
    """The output form: whitespace collapsed, lowercased if asked."""
    return collapse_whitespace(romanized.lower() if lowercase else romanized)


def _describe_failure(text: str, lang: str | None, err: BaseException | None) -> str:
    """``'text' (language xyz): ErrorType: message``, for error messages."""
    language = "" if lang is None else f" (language {lang})"
    return f"{text!r}{language}: {type(err).__name__}: {err}"


def _combined_failure(
    keys: Sequence[tuple[str, str | None]],
    names: Sequence[str],
    failures: dict[tuple[str, str | None], str],
    path: str | Path | None,
) -> RomanizationError:
    """One error listing every utterance whose text failed and quoting the first failures."""
    failed = [name for key, name in zip(keys, names, strict=True) if key in failures]
    quoted = "; ".join(list(failures.values())[:QUOTED_FAILURES])
    message = (
        f"uroman failed on {len(failed)} utterance(s): {', '.join(failed)} (first errors: {quoted})"
    )
    return RomanizationError(message, path)


def romanize_data_dir(
    src: DataDir | str | Path,
    out: str | Path,
    lowercase: bool = True,
    romanizer: Romanizer | None = None,
) -> DataDir:
    """Write a copy of a data dir whose ``text`` is romanized in each utterance's language.

    The language of an utterance is its ``utt2lang`` entry (no language when the dir has no
    ``utt2lang``). Every other table is copied unchanged; files are written only when every
    transcript has been romanized, each atomically. ``out`` may be the source dir.

    Args:
        src: the data dir, or its path.
        out: the output data dir (created if missing).
        lowercase: lowercase the romanized text (default True).
        romanizer: the Romanizer (and cache) to use; default a new one.

    Returns:
        The romanized DataDir (its ``path`` is ``out``).

    Raises:
        DataError: if ``utt2lang`` exists but lacks utterances of ``text`` (listing them), or
            holds a code that is not ISO 639-3.
        RomanizationError: if uroman failed on some transcripts (listing their utterances).

    Example:
        >>> romanized = romanize_data_dir("data/train", "data/train_rom")
        >>> sorted(romanized.languages())
        ['eng', 'kat']
    """
    data = src if isinstance(src, DataDir) else DataDir.read(src)
    utts = sorted(data.text, key=sort_key)
    if data.utt2lang:
        missing = [utt for utt in utts if utt not in data.utt2lang]
        if missing:
            message = f"{len(missing)} utterance(s) of text have no language: {', '.join(missing)}"
            raise DataError(message, _file_of(data, "utt2lang"))
    langs = [data.utt2lang.get(utt) for utt in utts]
    for utt, lang in zip(utts, langs, strict=True):
        if lang is not None:
            check_language_code(lang, _file_of(data, "utt2lang"), utt=utt)
    romanized = (romanizer or Romanizer()).romanize_many(
        [data.text[utt] for utt in utts], langs, lowercase, utts, _file_of(data, "text")
    )
    copy = dataclasses.replace(data, text=dict(zip(utts, romanized, strict=True)))
    copy.write(out)
    return copy


def _file_of(data: DataDir, name: str) -> Path | str:
    """How errors name a file of ``data``: its path when ``data`` was read from disk."""
    return name if data.path is None else data.path / name
