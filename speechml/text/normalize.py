"""Text normalisation shared by every layer: whitespace collapsing and the scoring normaliser.

:func:`collapse_whitespace` is what every table, trn file and tokenizer does to a transcript:
words are what whitespace separates, so runs of whitespace (newlines included) become one
space, with none at either end.

:class:`TextNormalizer` is applied to references and hypotheses alike before scoring, and to
the synthetic corpus's transcripts. Punctuation is found by Unicode category (every ``P*``
category: connector, dash, open, close, initial and final quote, other), so it works for all
scripts: the Arabic comma ``،``, the Devanagari danda ``।``, the CJK full stop ``。``, Greek
and Armenian question marks... Each punctuation character becomes a space (``"yes,no"``
scores as two words, like ``"yes, no"``); this also splits words at apostrophes and hyphens,
the same way in the reference and the hypothesis. Symbols (``$``, ``+``, ``<``) and combining
marks are kept. Whitespace is always collapsed.

Example:
    >>> collapse_whitespace("  a \\t b\\n")
    'a b'
    >>> TextNormalizer()("Hello,  WORLD!")
    'hello world'
    >>> TextNormalizer()("नमस्ते। धन्यवाद")
    'नमस्ते धन्यवाद'
    >>> TextNormalizer(lowercase=False, remove_punctuation=False)("Hello,  WORLD!")
    'Hello, WORLD!'
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


def collapse_whitespace(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) one space, stripped."""
    return " ".join(text.split())


@dataclass(frozen=True)
class TextNormalizer:
    """How references and hypotheses are normalised before scoring (a config dataclass)."""

    lowercase: bool = True  # str.lower() (not casefold: German ß stays ß)
    remove_punctuation: bool = True  # each Unicode P* character becomes a space
    unicode_nfc: bool = True  # compose to NFC, so that NFD and NFC spellings compare equal

    def __call__(self, text: str) -> str:
        """Normalise one transcript (``str`` -> ``str``, single spaces, no outer spaces)."""
        if self.lowercase:
            text = text.lower()
        if self.remove_punctuation:
            text = "".join(" " if unicodedata.category(c)[0] == "P" else c for c in text)
        if self.unicode_nfc:
            text = unicodedata.normalize("NFC", text)
        return collapse_whitespace(text)
