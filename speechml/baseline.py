"""Trivial baselines, not models: the honest floor that every real system must beat.

- ASR: the most frequent training transcript (per language when ``utt2lang`` is present),
  output for every test utterance.
- Classification: the most frequent training label (the majority class), globally or per
  language, output for every test utterance.

Ties are broken deterministically: the value first in byte order wins. A test utterance whose
language has no training data gets the global choice (and a warning says so).
:func:`write_transcript_baseline` and :func:`write_label_baseline` write a decode dir
(:mod:`speechml.score.decode_dir`) that ``speechml score`` scores like a model's.

Example:
    >>> majority = fit_majority({"a": "yes", "b": "yes", "c": "no"})
    >>> majority.overall
    'yes'
    >>> majority.predict(DataDir(utt2spk={"t1": "t1"}))
    {'t1': 'yes'}
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from speechml.data.datadir import DataDir
from speechml.data.table import sort_key
from speechml.errors import DataError
from speechml.score.decode_dir import write_labels, write_transcripts

logger = logging.getLogger(__name__)


def most_frequent(values: Iterable[str]) -> str:
    """The most frequent value; among equally frequent ones, the first in byte order.

    Raises:
        ValueError: if ``values`` is empty.

    Example:
        >>> most_frequent(["b", "a", "b", "a", "c"])
        'a'
    """
    counts = Counter(values)
    if not counts:
        raise ValueError("no values")
    return min(counts, key=lambda value: (-counts[value], sort_key(value)))


@dataclass(frozen=True)
class MajorityBaseline:
    """The most frequent training value, overall and per language.

    Attributes:
        overall: the most frequent value over all training utterances.
        per_language: language code -> its most frequent value; empty when not per language.
    """

    overall: str
    per_language: dict[str, str]

    def predict(self, test: DataDir) -> dict[str, str]:
        """Utterance id -> the value for its language (or ``overall``), for every test utterance."""
        unseen: Counter[str] = Counter()
        out = {}
        for utt in test.utts:
            language = test.utt2lang.get(utt)
            if self.per_language and language not in self.per_language:
                unseen[language or "(none)"] += 1
            out[utt] = self.per_language.get(language, self.overall)
        for language, count in sorted(unseen.items()):
            logger.warning(
                "%d test utterance(s) of language %s that training lacks get the global choice",
                count,
                language,
            )
        return out

    def describe(self, what: str) -> str:
        """One line naming the system, e.g. ``describe("training transcript")``."""
        scope = "per language" if self.per_language else "over all languages"
        return f"baseline: most frequent {what} {scope} (not a model)"


def fit_majority(
    values: Mapping[str, str], utt2lang: Mapping[str, str] | None = None
) -> MajorityBaseline:
    """Count training values, overall and (if ``utt2lang`` is given and not empty) per language.

    Args:
        values: utterance id -> transcript or label.
        utt2lang: utterance id -> language code; an utterance it lacks counts only overall.

    Raises:
        ValueError: if ``values`` is empty.
    """
    by_language: dict[str, list[str]] = defaultdict(list)
    for utt, value in values.items() if utt2lang else ():
        if utt in utt2lang:
            by_language[utt2lang[utt]].append(value)
    per_language = {lang: most_frequent(vals) for lang, vals in sorted(by_language.items())}
    return MajorityBaseline(most_frequent(values.values()), per_language)


def transcript_baseline(train: DataDir) -> MajorityBaseline:
    """Most frequent training transcript, per language when ``utt2lang`` is present.

    Raises:
        DataError: if the training dir has no transcripts.
    """
    if not train.text:
        raise DataError("has no transcripts (text); the ASR baseline needs them", train.path)
    return fit_majority(train.text, train.utt2lang)


def label_baseline(train: DataDir, per_language: bool = False) -> MajorityBaseline:
    """Majority training label (``utt2label``), globally or per language.

    Raises:
        DataError: if the training dir has no labels, or has no ``utt2lang`` while
            ``per_language`` is asked for.
    """
    if not train.utt2label:
        raise DataError("has no labels (utt2label); the class baseline needs them", train.path)
    if per_language and not train.utt2lang:
        raise DataError("has no utt2lang; a per-language baseline needs it", train.path)
    return fit_majority(train.utt2label, train.utt2lang if per_language else None)


def _predict(
    baseline: MajorityBaseline, data_dir: str | Path, out_dir: str | Path, what: str
) -> tuple[dict[str, str], str]:
    """The prediction for every utterance of ``data_dir``, and the system line (logged)."""
    predictions = baseline.predict(DataDir.read(data_dir))
    system = baseline.describe(what)
    logger.info("%s: %d utterances -> %s", system, len(predictions), out_dir)
    return predictions, system


def write_transcript_baseline(
    train_dir: str | Path, data_dir: str | Path, out_dir: str | Path
) -> dict[str, str]:
    """Write the decode dir ``out_dir`` (``hyp.trn``, ``system.txt``) of the transcript
    baseline of ``train_dir`` on ``data_dir``; return utt -> transcript.

    Raises:
        DataError: if a data dir is bad or ``train_dir`` has no transcripts.
    """
    baseline = transcript_baseline(DataDir.read(train_dir))
    predictions, system = _predict(baseline, data_dir, out_dir, "training transcript")
    write_transcripts(out_dir, predictions, system)
    return predictions


def write_label_baseline(
    train_dir: str | Path, data_dir: str | Path, out_dir: str | Path, per_language: bool = False
) -> dict[str, str]:
    """Write the decode dir ``out_dir`` (``utt2label``, ``system.txt``) of the label baseline
    of ``train_dir`` on ``data_dir``; return utt -> label.

    Raises:
        DataError: if a data dir is bad or lacks what :func:`label_baseline` needs.
    """
    baseline = label_baseline(DataDir.read(train_dir), per_language=per_language)
    predictions, system = _predict(baseline, data_dir, out_dir, "training label")
    write_labels(out_dir, predictions, system)
    return predictions
