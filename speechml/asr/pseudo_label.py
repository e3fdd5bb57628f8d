"""Noisy-student pseudo-labels: a teacher transcribes untranscribed audio, confident ones are kept.

The teacher decodes with its best offline pass, more accurate than the streaming pass it will
teach: a non-causal second pass when the model has one, else the full-context pass of a model
trained with dynamic chunks (:func:`teacher_decode`); searched with the transducer or read off its
CTC head's best path (a transducer trained briefly on top of a CTC-trained encoder can lag its own
CTC head: measured on the default corpus, 73% against 15% CER on the tail language's
untranscribed audio). Each
hypothesis has a confidence (by default the geometric mean of the probabilities of the symbols
the search chose, blanks included; or a length-aware one that predicts errors better, see
:mod:`speechml.asr.confidence`); hypotheses below the threshold, and empty ones, are dropped. Every
decision is written to ``pseudo_label_report.txt`` with its confidence, and the counts are
logged, so nothing disappears without a trace.

Example:
    >>> teacher = Recognizer.load("exp/base/model")  # untrained: it says little
    >>> untranscribed = DataDir.read("data/test")
    >>> labelled, report = pseudo_label(teacher, untranscribed, 0.6)
    >>> report.kept + report.dropped, len(labelled) == report.kept
    (4, True)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from speechml.asr.confidence import ConfidenceKind, confidences
from speechml.asr.ngram_lm import LmDir
from speechml.asr.recognizer import DecodeResult, Recognizer, SearchMethod
from speechml.data.datadir import DataDir
from speechml.data.ops import combine_data_dirs, subset_data_dir
from speechml.errors import ConfigError, DataError
from speechml.io import atomic_write_text

logger = logging.getLogger(__name__)

REPORT_FILE = "pseudo_label_report.txt"


@dataclass
class PseudoLabelReport:
    """What the filter kept and dropped, and why."""

    threshold: float
    teacher: str  # how the teacher transcribed, e.g. "CTC head, second pass"
    decisions: dict[str, tuple[float, str]] = field(default_factory=dict)  # utt -> (conf, why)

    @property
    def kept(self) -> int:
        return sum(why == "kept" for _, why in self.decisions.values())

    @property
    def dropped(self) -> int:
        return len(self.decisions) - self.kept

    def to_text(self) -> str:
        """One line per utterance (id, confidence, decision) after a summary line."""
        lines = [
            f"# {self.kept} kept, {self.dropped} dropped of {len(self.decisions)} "
            f"(min confidence {self.threshold}; teacher: {self.teacher})"
        ]
        lines += [f"{u} {c:.4f} {why}" for u, (c, why) in sorted(self.decisions.items())]
        return "\n".join(lines) + "\n"


def teacher_decode(
    teacher: Recognizer,
    data: DataDir,
    second_pass: bool = True,
    method: SearchMethod = "greedy",
    batch_size: int = 16,
    lm: LmDir | None = None,
    lm_weight: float = 0.3,
) -> tuple[DecodeResult, str]:
    """Decode ``data`` as a teacher does (see :func:`pseudo_label`); also says how, e.g.
    ``"greedy search, second pass"``.

    Raises:
        ConfigError: an ``lm`` with another ``method`` than ``beam`` (it is fused in beam search).
    """
    if lm is not None and method != "beam":
        raise ConfigError(f"the teacher's LM is fused in beam search: method beam, not {method}")
    encoder = teacher.model.config.encoder
    use_second = second_pass and encoder.num_second_pass_layers > 0
    use_full = second_pass and not use_second and 0 in encoder.train_chunk_sizes
    result = teacher.decode_data_dir(
        data,
        method=method,
        second_pass=use_second,
        batch_size=batch_size,
        chunk_size=0 if use_full else None,
        lm=lm,
        lm_weight=lm_weight,
    )
    pass_name = "second pass" if use_second else "full-context pass" if use_full else "causal pass"
    search = "CTC head" if method == "ctc" else f"{method} search"
    if lm is not None:
        search += f" with the LM (weight {lm_weight:g})"
    return result, f"{search}, {pass_name}"


def pseudo_label(
    teacher: Recognizer,
    data: DataDir,
    min_confidence: float,
    second_pass: bool = True,
    method: SearchMethod = "greedy",
    batch_size: int = 16,
    confidence: ConfidenceKind = "symbols",
    rates: Mapping[str, float] | None = None,
    lm: LmDir | None = None,
    lm_weight: float = 0.3,
) -> tuple[DataDir, PseudoLabelReport]:
    """Transcribe ``data`` with ``teacher`` and keep confident hypotheses as its ``text``.

    Args:
        teacher: the recogniser that labels.
        data: untranscribed (or to be relabelled) utterances.
        min_confidence: keep hypotheses whose confidence is at least this (0..1).
        second_pass: decode with the teacher's best offline pass: its non-causal second pass
            when it has one, else its full-context pass when it was trained with full context
            among its dynamic chunk sizes (else the streaming causal pass).
        method: ``greedy`` or ``beam`` (transducer) or ``ctc`` (the CTC head's best path).
        batch_size: utterances a batch.
        confidence: ``symbols`` (the search's) or ``length`` (mean token posterior times a
            length-ratio term; :mod:`speechml.asr.confidence`).
        rates: ``length``: characters a second by language, from labelled data
            (:func:`~speechml.asr.confidence.chars_per_second`).
        lm: n-gram LMs fused in the teacher's beam search (``method="beam"``), ``lm_weight``
            their weight: a teacher with the language's LM corrects much of what its acoustic
            model alone gets wrong.

    Returns:
        The kept utterances as a data dir (``text`` = hypotheses; empty when none is kept) and
        the report.
    """
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
    result, teacher_name = teacher_decode(
        teacher, data, second_pass, method, batch_size, lm, lm_weight
    )
    scores = confidences(result, data, confidence, rates)
    report = PseudoLabelReport(min_confidence, f"{teacher_name}; confidence {confidence}")
    for utt, value in scores.items():
        if not result.texts[utt].strip():
            why = "dropped: empty hypothesis"
        elif value < min_confidence:
            why = "dropped: low confidence"
        else:
            why = "kept"
        report.decisions[utt] = (value, why)
    kept = [u for u, (_, why) in report.decisions.items() if why == "kept"]
    if not kept:
        logger.warning(
            "no hypothesis of %s reached confidence %.2f: no pseudo-label",
            data.path,
            min_confidence,
        )
    labelled = subset_data_dir(data, kept)
    labelled.text = {u: result.texts[u] for u in kept}
    logger.info(
        "pseudo-labels: kept %d, dropped %d (threshold %.2f, teacher: %s)",
        report.kept,
        report.dropped,
        min_confidence,
        report.teacher,
    )
    return labelled, report


def write_pseudo_labels(
    labelled: DataDir,
    report: PseudoLabelReport,
    out_dir: str | Path,
    combine_with: DataDir | None = None,
) -> DataDir:
    """Write the kept utterances (plus ``combine_with``, e.g. the labelled data) and the report.

    Raises:
        DataError: nothing to write (no pseudo-label kept and nothing to combine with).
    """
    out_dir = Path(out_dir)
    if combine_with is None:
        student = labelled
    elif len(labelled):
        student = combine_data_dirs([combine_with, labelled])
    else:
        student = combine_with
    if not len(student):
        raise DataError(
            f"no pseudo-label reached confidence {report.threshold}; lower --min-confidence, "
            "improve the teacher, or give labelled data to combine with",
            out_dir,
        )
    student.write(out_dir)
    atomic_write_text(out_dir / REPORT_FILE, report.to_text())
    return student
