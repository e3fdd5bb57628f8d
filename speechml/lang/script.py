"""Writing systems of text: ISO 15924 script codes from the Unicode Script property.

The Unicode data comes from fontTools (a dependency of matplotlib), which ships its own tables,
so the answer does not depend on the Python version. Besides real scripts (``Latn``, ``Cyrl``,
``Grek``, ``Deva``, ``Arab``, ``Geor``...), Unicode uses ``Zyyy`` (Common: digits, punctuation,
spaces) and ``Zinh`` (Inherited: combining marks, zero-width joiners), and ``Zzzz`` (Unknown).

Example:
    >>> char_script("ა"), char_script("1"), char_script("\\u0301")
    ('Geor', 'Zyyy', 'Zinh')
    >>> scripts_in("ἀθῆναι 2024")
    Counter({'Grek': 6, 'Zyyy': 4})
    >>> dominant_script("Tbilisi თბილისი თბილისი")
    'Geor'
"""

from __future__ import annotations

from collections import Counter

from fontTools import unicodedata as ucd

COMMON = "Zyyy"  # digits, punctuation, symbols and spaces shared by all scripts
INHERITED = "Zinh"  # combining marks and joiners: they take the script of the letter before
UNKNOWN = "Zzzz"  # unassigned code points, and the dominant script of text without letters


def char_script(ch: str) -> str:
    """The ISO 15924 code of one character's Unicode Script property, e.g. ``"ж" -> "Cyrl"``."""
    return ucd.script(ch)


def is_script_code(code: str) -> bool:
    """True if ``code`` is an ISO 15924 code that Unicode knows (``"Geor"`` yes, ``"Xyzw"`` no)."""
    try:
        ucd.script_name(code)
    except KeyError:
        return False
    return True


def scripts_in(text: str) -> Counter[str]:
    """Count the characters of each script in ``text``; whitespace is not counted.

    An inherited character (a combining mark such as Devanagari ``ं`` or Arabic ``َ``, or a
    zero-width joiner) is counted under the script of the character before it, so that a
    Hindi or vocalised Arabic word is entirely ``Deva`` or ``Arab``. Digits and punctuation count
    as ``Zyyy``.

    Args:
        text: any string.

    Returns:
        script code -> number of characters, in order of first appearance.
    """
    counts: Counter[str] = Counter()
    previous = INHERITED
    for ch in text:
        if ch.isspace():
            previous = INHERITED
            continue
        script = char_script(ch)
        if script == INHERITED:
            script = previous
        counts[script] += 1
        previous = script
    return counts


def dominant_script(text: str) -> str:
    """The script of most of the letters of ``text`` (ties: the one that comes first).

    Common and inherited characters only decide when nothing else is present:
    ``dominant_script("2024") == "Zyyy"``; text without any character gives ``"Zzzz"``.
    """
    counts = scripts_in(text)
    real = [(n, s) for s, n in counts.items() if s not in (COMMON, INHERITED, UNKNOWN)]
    if real:
        best = max(n for n, _ in real)
        return next(s for n, s in real if n == best)
    return counts.most_common(1)[0][0] if counts else UNKNOWN
