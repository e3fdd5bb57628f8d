"""Texts with a semantic class, in every language, from babel's CLDR data (shipped offline).

A class (``month``, ``weekday``, ``country``, ``language``, ``currency``, ``city``) gives native
names in each locale; the class is the utterance's label, shared by all languages. Items are
kept only if they can be read aloud as written: letters of the language's script (with their
combining marks), spaces and hyphens, and no digits, other punctuation or acronyms (which
espeak-ng would spell or expand, so that the audio would not match the transcript).

An utterance joins a few items of one class with the locale's own list pattern ("Januar, März
und Mai"): espeak-ng reads that punctuated form; the transcript is its normalised form
(NFC, lowercase, punctuation removed, single spaces: "januar märz und mai").

Example:
    >>> from babel import Locale, UnknownLocaleError
    >>> usable_items(["Bosnia & Herzegovina", "Guinea-Bissau", "US Dollar"], "Latn")
    ['Guinea-Bissau']
    >>> utterance_text(["Januar", "März", "Mai"], Locale.parse("de"))
    ('Januar, März und Mai', 'januar märz und mai')
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import get_timezone_location
from babel.lists import format_list

from speechml.config import Registry
from speechml.errors import ConfigError
from speechml.lang.normalize import TextNormalizer
from speechml.lang.script import scripts_in

if TYPE_CHECKING:
    from speechml.data.corpus.config import LanguageSpec

#: class name -> function(Locale) -> the locale's names of that class (unfiltered)
TEXT_CLASSES = Registry("text class")

HYPHENS = "-\u2010"  # hyphen-minus and hyphen: kept inside names, read as a word break

#: NFC, lowercase, every punctuation character (apostrophes and hyphens too) a space
normalize_transcript = TextNormalizer(keep_word_internal=False)


@TEXT_CLASSES.register("month")
def month_names(locale: Locale) -> Iterable[str]:
    """Month names in the nominative (stand-alone) form: "январь", not "января"."""
    return locale.months["stand-alone"]["wide"].values()


@TEXT_CLASSES.register("weekday")
def weekday_names(locale: Locale) -> Iterable[str]:
    """Names of the days of the week (stand-alone form)."""
    return locale.days["stand-alone"]["wide"].values()


@TEXT_CLASSES.register("country")
def country_names(locale: Locale) -> Iterable[str]:
    """Names of countries and territories (not of numeric regions such as "001" = World)."""
    return (name for code, name in locale.territories.items() if code.isalpha())


@TEXT_CLASSES.register("language")
def language_names(locale: Locale) -> Iterable[str]:
    """Names of languages."""
    return locale.languages.values()


@TEXT_CLASSES.register("currency")
def currency_names(locale: Locale) -> Iterable[str]:
    """Names of currencies."""
    return locale.currencies.values()


@TEXT_CLASSES.register("city")
def city_names(locale: Locale) -> Iterable[str]:
    """Exemplar cities of the time zones (CLDR's translation, else the name in the zone id)."""
    zones = sorted(z for z in get_global("zone_territories") if not z.startswith("Etc/"))
    return (get_timezone_location(zone, locale, return_city=True) for zone in zones)


def is_usable(item: str, script: str) -> bool:
    """True if espeak-ng reads ``item`` as written and it is all in ``script``.

    Every character must be a letter or mark of ``script`` (ISO 15924), a space or a hyphen;
    digits of any script and words written all in capitals (acronyms) are refused.
    """
    words = "".join(" " if ch in HYPHENS else ch for ch in item)
    if set(scripts_in(words)) != {script}:
        return False
    if any(unicodedata.category(ch)[0] not in "LM" for ch in words if not ch.isspace()):
        return False
    return not any(len(word) > 1 and word.isupper() for word in words.split())


def usable_items(items: Iterable[str], script: str) -> list[str]:
    """The distinct usable items (NFC), sorted: the order does not depend on babel's dicts."""
    normalized = {unicodedata.normalize("NFC", item.strip()) for item in items}
    return sorted(item for item in normalized if is_usable(item, script))


def class_items(
    lang: LanguageSpec, classes: Iterable[str], min_items: int, source: str | Path = ""
) -> dict[str, list[str]]:
    """The usable items of each class for one language.

    Args:
        lang: the language (its ``locale`` and ``script`` are used).
        classes: class names of :data:`TEXT_CLASSES`.
        min_items: the fewest usable items a class may have.
        source: the config file, for error messages.

    Returns:
        class -> sorted items, e.g. ``{"weekday": ["Friday", "Monday", ...]}``.

    Raises:
        ConfigError: if the locale is unknown to babel or a class has fewer than ``min_items``
            items (naming the language, the class and ``source``).
    """
    where = f"{source}: " if source else ""
    try:
        locale = Locale.parse(lang.locale)
    except (UnknownLocaleError, ValueError):
        message = f"{where}language {lang.code}: babel has no locale {lang.locale!r}"
        raise ConfigError(message) from None
    out = {}
    for name in classes:
        items = usable_items(TEXT_CLASSES.get_component(name)(locale), lang.script)
        if len(items) < min_items:
            raise ConfigError(
                f"{where}language {lang.code} (locale {lang.locale}): class {name!r} has "
                f"{len(items)} items written in {lang.script} only, fewer than "
                f"min_items_per_class={min_items}; drop the class or fix the locale/script"
            )
        out[name] = items
    return out


def utterance_text(items: list[str], locale: Locale) -> tuple[str, str]:
    """(spoken text, transcript): the items joined by the locale's list pattern, normalised.

    The spoken text keeps case and punctuation (espeak-ng pauses at commas); the transcript
    is :data:`normalize_transcript` of it. Python's ``str.lower`` gives Greek final sigma.
    """
    spoken = format_list(items, locale=locale)
    return spoken, normalize_transcript(spoken)
