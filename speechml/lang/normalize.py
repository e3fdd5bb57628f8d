"""Text normalisation shared by every layer: whitespace collapsing and the scoring normaliser.

:func:`collapse_whitespace` is what every table, trn file and tokenizer does to a transcript:
words are what whitespace separates, so runs of whitespace (newlines included) become one
space, with none at either end.

:class:`TextNormalizer` is applied to references and hypotheses alike before scoring, and to
the synthetic corpus's transcripts. It never creates words:

- Punctuation is found by Unicode category (every ``P*`` category: connector, dash, open,
  close, initial and final quote, other), so it works for all scripts: the Arabic comma ``،``,
  the Devanagari danda ``।``, the CJK full stop ``。``, Greek and Armenian question marks...
  Each punctuation character becomes a space (``"yes,no"`` scores as two words, like
  ``"yes, no"``), except an apostrophe or a hyphen *inside* a word, between two letters,
  marks or digits: ``don't``, ``rock'n'roll``, ``well-known`` and ``covid-19`` stay one word
  each (the typographic apostrophe ``’`` is written ``'``, the Unicode hyphens ``‐`` and
  ``‑`` are written ``-``, so that every spelling of a word compares equal). Quotes and
  dashes around words go: ``'yes'`` is ``yes``, ``a - b`` is ``a b``.
  ``keep_word_internal=False`` splits words there too (the synthetic corpus's transcripts
  are made so: espeak-ng reads a hyphen as a word break).
- Case is folded by the utterance's language (:func:`lowercase`): Turkish, Azerbaijani,
  Crimean Tatar and Gagauz write ``I``/``ı`` and ``İ``/``i`` as two letter pairs, every
  other language uses ``str.lower()`` (not ``casefold``: German ``ß`` stays ``ß``; Greek
  final sigma is kept).
- Symbols (``$``, ``+``, ``<``) and combining marks are kept; NFC is applied before anything
  else, so that NFD and NFC spellings compare equal. Whitespace is always collapsed.

Example:
    >>> collapse_whitespace("  a \\t b\\n")
    'a b'
    >>> TextNormalizer()("Hello,  WORLD! Don't.")
    "hello world don't"
    >>> TextNormalizer()("'Well-known' - or not")
    'well-known or not'
    >>> TextNormalizer()("नमस्ते। धन्यवाद")
    'नमस्ते धन्यवाद'
    >>> TextNormalizer()("DİYARBAKIR", lang="tur"), TextNormalizer()("DIYARBAKIR", lang="eng")
    ('diyarbakır', 'diyarbakir')
    >>> TextNormalizer(lowercase=False, remove_punctuation=False)("Hello,  WORLD!")
    'Hello, WORLD!'
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

#: ISO 639-3 codes of the languages whose alphabet pairs ``I``/``ı`` and ``İ``/``i``.
DOTLESS_I_LANGUAGES = frozenset({"tur", "aze", "azj", "azb", "crh", "gag"})

#: Punctuation kept inside a word, and how it is written: apostrophes as ``'``, hyphens ``-``.
WORD_INTERNAL = {"'": "'", "\u2019": "'", "-": "-", "\u2010": "-", "\u2011": "-"}


def collapse_whitespace(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) one space, stripped."""
    return " ".join(text.split())


def lowercase(text: str, lang: str | None = None) -> str:
    """``text`` in lower case by the rules of ``lang`` (an ISO 639-3 code; None: no language).

    Languages of :data:`DOTLESS_I_LANGUAGES` map ``I`` to ``ı`` and ``İ`` (or ``I`` followed
    by a combining dot above) to ``i``; every other language gets ``str.lower()``.

    Example:
        >>> lowercase("IĞDIR İL", "tur"), lowercase("IGDIR", None)
        ('ığdır il', 'igdir')
    """
    if lang in DOTLESS_I_LANGUAGES:
        text = text.replace("I\u0307", "i").replace("\u0130", "i").replace("I", "\u0131")
    return text.lower()


def _is_word_character(char: str) -> bool:
    return unicodedata.category(char)[0] in "LMN"


def remove_punctuation(text: str, keep_word_internal: bool = True) -> str:
    """Every Unicode punctuation character a space, but word-internal apostrophes and hyphens
    (:data:`WORD_INTERNAL`, between two letters, marks or digits) kept, in their one spelling,
    unless ``keep_word_internal`` is False.

    Example:
        >>> remove_punctuation("«Don’t», he said—rock-n-roll!")
        " Don't   he said rock-n-roll "
        >>> remove_punctuation("Don’t", keep_word_internal=False)
        'Don t'
    """
    out = []
    for i, char in enumerate(text):
        if unicodedata.category(char)[0] != "P":
            out.append(char)
        elif (
            keep_word_internal
            and char in WORD_INTERNAL
            and 0 < i < len(text) - 1
            and _is_word_character(text[i - 1])
            and _is_word_character(text[i + 1])
        ):
            out.append(WORD_INTERNAL[char])
        else:
            out.append(" ")
    return "".join(out)


@dataclass(frozen=True)
class TextNormalizer:
    """How references and hypotheses are normalised before scoring (a config dataclass).

    Call it as ``normalizer(text, lang=None)``: ``lang`` (ISO 639-3) picks the case rules.
    """

    lowercase: bool = True  # lower case by the language's rules (lowercase())
    remove_punctuation: bool = True  # P* characters a space (but see keep_word_internal)
    keep_word_internal: bool = True  # keep apostrophes and hyphens inside words (don't)
    unicode_nfc: bool = True  # compose to NFC, so that NFD and NFC spellings compare equal

    def __call__(self, text: str, lang: str | None = None) -> str:
        """Normalise one transcript (``str`` -> ``str``, single spaces, no outer spaces)."""
        if self.unicode_nfc:
            text = unicodedata.normalize("NFC", text)
        if self.lowercase:
            text = lowercase(text, lang)
        if self.remove_punctuation:
            text = remove_punctuation(text, self.keep_word_internal)
        return collapse_whitespace(text)
