"""How WER spreads over speakers and voices: the median group and the worst ones, at a glance.

A set's WER is a mean over words; a voice that the model fails on hides in it. The summary of
a breakdown (per speaker, per voice) gives the median group WER and the :data:`WORST_SHOWN`
worst groups, so that a failing speaker shows beside the ``%WER`` line.

Voices: the embedded corpus names a speaker ``<lang>-<variant>-s<speed>-p<pitch>``
(``kat-m3-s160-p45``: espeak-ng voice variant ``m3`` at 160 words a minute and pitch 45;
:class:`speechml.data.corpus.speakers.Speaker`). When every speaker id of a set has that form,
its voice is the variant, and speakers are grouped by voice across languages, speeds and
pitches (:func:`voice_of_speaker`); a set with any other id has no voice breakdown.

Example:
    >>> voice_of_speaker("kat-m3-s160-p45"), voice_of_speaker("spk1")
    ('m3', None)
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from speechml.data.table import sort_key

#: How many of the worst groups a summary names.
WORST_SHOWN = 3

#: A corpus speaker id: ``<lang>-<variant>-s<speed>-p<pitch>``.
_CORPUS_SPEAKER = re.compile(r"^[^-\s]+-(?P<voice>[A-Za-z0-9_]+)-s\d+-p\d+$")

Counted = TypeVar("Counted")


def voice_of_speaker(speaker: str) -> str | None:
    """The voice variant of a corpus speaker id, or None for any other id."""
    match = _CORPUS_SPEAKER.match(speaker)
    return match["voice"] if match else None


def group_by_voice(
    per_spk: Mapping[str, Counted], add: Callable[[Counted, Counted], Counted]
) -> dict[str, Counted]:
    """Speaker -> counts grouped into voice -> counts (sorted), or {} unless every speaker id
    names a voice (:func:`voice_of_speaker`).

    Args:
        per_spk: speaker id -> counts (e.g. :class:`speechml.score.wer.Score`).
        add: how two counts combine (``operator.add`` for a ``Score``).
    """
    voices = {spk: voice_of_speaker(spk) for spk in per_spk}
    if not voices or None in voices.values():
        return {}
    grouped: dict[str, Counted] = {}
    for spk, counts in per_spk.items():
        voice = voices[spk]
        grouped[voice] = add(grouped[voice], counts) if voice in grouped else counts
    return {voice: grouped[voice] for voice in sorted(grouped, key=sort_key)}


@dataclass(frozen=True)
class Spread:
    """The median and the worst error rates of the groups of a breakdown.

    Attributes:
        kind: what a group is, ``"speaker"`` or ``"voice"``.
        num_groups: groups with reference words (the others have no rate).
        num_unrated: groups without reference words (rate N/A), left out of the figures.
        median: median of the groups' rates (each group counts once), in percent.
        worst: up to :data:`WORST_SHOWN` (group, rate) pairs, highest rate first.
    """

    kind: str
    num_groups: int
    num_unrated: int
    median: float
    worst: list[tuple[str, float]]

    def line(self, metric: str = "WER") -> str:
        """``# per speaker (12): median WER 45.00; worst: s3 98.00, s1 90.00, s7 88.00``."""
        unrated = f", {self.num_unrated} N/A" if self.num_unrated else ""
        worst = ", ".join(f"{group} {rate:.2f}" for group, rate in self.worst)
        return (
            f"# per {self.kind} ({self.num_groups}{unrated}): median {metric} "
            f"{self.median:.2f}; worst: {worst}"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "num_groups": self.num_groups,
            "num_unrated": self.num_unrated,
            "median": round(self.median, 4),
            "worst": [{"id": group, "rate": round(rate, 4)} for group, rate in self.worst],
        }


def spread(kind: str, rates: Mapping[str, float | None]) -> Spread | None:
    """The :class:`Spread` of group -> rate (None: no reference words), or None with fewer
    than two rated groups (nothing to compare).

    Example:
        >>> spread("voice", {"m1": 20.0, "m3": 95.0, "f2": 40.0, "f5": None}).line()
        '# per voice (3, 1 N/A): median WER 40.00; worst: m3 95.00, f2 40.00, m1 20.00'
    """
    rated = {group: rate for group, rate in rates.items() if rate is not None}
    if len(rated) < 2:
        return None
    ranked = sorted(rated.items(), key=lambda item: (-item[1], sort_key(item[0])))
    return Spread(
        kind,
        len(rated),
        len(rates) - len(rated),
        statistics.median(rated.values()),
        ranked[:WORST_SHOWN],
    )
