"""Confidence of a hypothesis, and how well it predicts the hypothesis's errors.

Two measures (:data:`CONFIDENCES`):

- ``symbols``: the search's own, the geometric mean of the probabilities of every symbol it
  chose, blanks included. Blanks are most of the symbols and are nearly certain, so it stays
  high even for a hypothesis that dropped half the words (measured: 1,700 of 1,700 kept).
- ``length``: the mean token posterior (``exp(log_prob / tokens)``; for beam search the path's
  log-probability a token) times a length-ratio term ``min(r, 1/r)`` where ``r`` is the
  hypothesis's characters (spaces excluded) over the characters expected from the utterance's
  duration at its language's rate, measured on labelled data (:func:`chars_per_second`). A
  hypothesis much shorter (deletions) or longer (insertions) than expected loses confidence.

:func:`confidence_report` measures a confidence against per-utterance CER on a labelled dev set:
Pearson and Spearman correlation (a useful confidence correlates negatively) and the
kept/dropped counts, with the CER of each side, at a threshold.

Example:
    >>> from speechml.asr.recognizer import Recognizer
    >>> rates = chars_per_second(DataDir.read("data/train"))
    >>> sorted(rates)
    ['eng', 'kat']
    >>> dev = DataDir.read("data/dev")
    >>> result = Recognizer.load("exp/base/model").decode_data_dir(dev)
    >>> report = confidence_report(result, dev, 0.5, "length", rates)
    >>> print(report.to_text(), end="")  # an untrained teacher: all is dropped
    confidence length: Pearson ..., Spearman ... with per-utterance CER (4 utterances)
    threshold 0.5: 0 kept (CER -), 4 dropped (CER ...)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from speechml.data.datadir import DataDir
from speechml.data.durations import utterance_durations
from speechml.errors import DataError
from speechml.score.wer import score_wer

if TYPE_CHECKING:  # light to import: the CLI reads CONFIDENCES before any model is loaded
    from speechml.asr.recognizer import DecodeResult

ConfidenceKind = Literal["symbols", "length"]
CONFIDENCES: tuple[str, ...] = ("symbols", "length")
#: The confidence a pseudo-label needs to be kept unless a caller says otherwise (the default of
#: ``speechml asr pseudo-label`` and ``confidence-report``, and so of the recipes).
DEFAULT_MIN_CONFIDENCE = 0.5


def _chars(text: str) -> int:
    return len("".join(text.split()))


def chars_per_second(data: DataDir) -> dict[str, float]:
    """Characters (spaces excluded) a second of audio, per language of ``utt2lang`` (``""``
    for utterances without one), over the transcribed utterances of ``data``.

    Raises:
        DataError: ``data`` has no transcript.
    """
    if not data.text:
        raise DataError("no transcripts to measure characters per second on", data.path)
    seconds = utterance_durations(data)
    chars: dict[str, float] = {}
    total: dict[str, float] = {}
    for utt, text in data.text.items():
        lang = data.utt2lang.get(utt, "")
        chars[lang] = chars.get(lang, 0.0) + _chars(text)
        total[lang] = total.get(lang, 0.0) + seconds[utt]
    return {lang: chars[lang] / max(1e-9, total[lang]) for lang in sorted(chars)}


def length_ratio(hyp_chars: int, seconds: float, rate: float) -> float:
    """``min(r, 1/r)`` of ``r = hyp_chars / (seconds * rate)``: 1 at the expected length, 0
    for an empty hypothesis."""
    expected = seconds * rate
    if hyp_chars == 0 or expected <= 0:
        return 0.0
    ratio = hyp_chars / expected
    return min(ratio, 1.0 / ratio)


def confidences(
    result: DecodeResult,
    data: DataDir,
    kind: ConfidenceKind = "symbols",
    rates: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Utterance -> confidence in [0, 1] of each hypothesis of ``result`` (see the module doc).

    Args:
        result: the decoded ``data``.
        data: its data dir (``utt2lang``, durations).
        kind: ``symbols`` or ``length``.
        rates: ``length``: characters a second by language (:func:`chars_per_second`).

    Raises:
        DataError: ``length`` without a rate for a language of ``data``.
    """
    if kind == "symbols":
        return {utt: hyp.confidence for utt, hyp in result.hypotheses.items()}
    if kind != "length":
        raise ValueError(f"unknown confidence {kind!r} (known: {', '.join(CONFIDENCES)})")
    rates = rates or {}
    seconds = utterance_durations(data)
    found = {}
    for utt, hyp in result.hypotheses.items():
        lang = data.utt2lang.get(utt, "")
        if lang not in rates:
            raise DataError(
                f"no characters-per-second rate for language {lang or '(none)'!r} of {utt} "
                f"(rates of: {', '.join(sorted(rates)) or 'none'})",
                data.path,
            )
        posterior = math.exp(hyp.log_prob / len(hyp.tokens)) if hyp.tokens else 0.0
        ratio = length_ratio(_chars(result.texts[utt]), seconds[utt], rates[lang])
        found[utt] = min(1.0, posterior) * ratio
    return found


def correlation(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """(Pearson, Spearman) correlation of two equally long series; NaN where one is constant
    or has fewer than two values."""
    if len(x) != len(y):
        raise ValueError(f"{len(x)} values against {len(y)}")
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan, math.nan
    from scipy import stats  # 1 s to import: only for a report

    return float(stats.pearsonr(a, b).statistic), float(stats.spearmanr(a, b).statistic)


@dataclass(frozen=True)
class ConfidenceReport:
    """How a confidence predicts per-utterance CER on a labelled set, and a threshold's cut."""

    kind: str  # the confidence measure
    threshold: float
    utts: int
    pearson: float  # of confidence with per-utterance CER (negative: it predicts errors)
    spearman: float
    kept: int  # utterances with confidence >= threshold and a non-empty hypothesis
    dropped: int
    kept_cer: float | None  # CER (percent) of the kept utterances together; None if none
    dropped_cer: float | None

    def to_text(self) -> str:
        """Two lines a person can read and a script can parse."""

        def cer(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f}"

        return (
            f"confidence {self.kind}: Pearson {self.pearson:+.3f}, Spearman {self.spearman:+.3f}"
            f" with per-utterance CER ({self.utts} utterances)\n"
            f"threshold {self.threshold:g}: {self.kept} kept (CER {cer(self.kept_cer)}), "
            f"{self.dropped} dropped (CER {cer(self.dropped_cer)})\n"
        )


def confidence_report(
    result: DecodeResult,
    data: DataDir,
    threshold: float,
    kind: ConfidenceKind = "symbols",
    rates: Mapping[str, float] | None = None,
) -> ConfidenceReport:
    """Correlate :func:`confidences` of ``result`` with per-utterance CER against
    ``data.text``, and count what ``threshold`` keeps (as :func:`pseudo_label` does).

    Raises:
        DataError: ``data`` has no transcripts.
    """
    if not data.text:
        raise DataError("a confidence report needs transcripts (a labelled dev set)", data.path)
    found = confidences(result, data, kind, rates)
    score = score_wer(data.text, result.texts)
    per_utt = {u.utt: u for u in score.utts if u.score.chars.rate is not None}
    utts = [utt for utt in per_utt if utt in found]
    pearson, spearman = correlation(
        [found[u] for u in utts], [per_utt[u].score.chars.rate for u in utts]
    )
    kept = [u for u in utts if found[u] >= threshold and result.texts[u].strip()]
    kept_set = set(kept)
    dropped = [u for u in utts if u not in kept_set]

    def cer(group: list[str]) -> float | None:
        if not group:
            return None
        total = sum((per_utt[u].score for u in group[1:]), per_utt[group[0]].score)
        return total.chars.rate

    return ConfidenceReport(
        kind, threshold, len(utts), pearson, spearman, len(kept), len(dropped), cer(kept),
        cer(dropped),
    )  # fmt: skip
