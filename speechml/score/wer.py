"""Word and character error rates with sclite-style reports, on top of jiwer.

References and hypotheses are normalised alike (:class:`~speechml.lang.normalize.TextNormalizer`,
with each utterance's language from ``utt2lang`` for its case rules), then aligned by jiwer
(Levenshtein over words, and over characters). Totals, breakdowns per language, per speaker and
per voice, and a per-utterance alignment come from the same alignments, so they always add up;
the spread over speakers and voices (:mod:`speechml.score.spread`) names the worst ones.

CER is computed over the characters of the normalised text **without spaces** (Unicode code
points after NFC; a combining vowel sign counts as one character). Spaces are left out so that
scripts written without word spaces (Chinese, Thai, Japanese) and scripts with them are scored
alike, and so that a wrongly placed word boundary does not count as a character error.

A rate is ``100 * (ins + del + sub) / reference tokens``. An empty reference has 0 tokens: in
a set with other words its hypothesis's tokens count as insertions; a set (or a language, a
speaker) whose references are all empty has no rate, printed ``N/A`` (``null`` in
``score.json``), never a percentage of nothing.

Example:
    >>> report = score_wer({"u1": "the cat sat"}, {"u1": "the bat sat down"})
    >>> report.summary_lines("exp/base/decode_test")[0]
    '%WER 66.67 [ 2 / 3, 1 ins, 0 del, 1 sub ] exp/base/decode_test'
"""

from __future__ import annotations

import dataclasses
import json
import logging
import operator
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jiwer

from speechml.data.datadir import DataDir
from speechml.data.table import read_table, sort_key
from speechml.errors import DataError, shorten
from speechml.io import atomic_write_text
from speechml.lang.normalize import TextNormalizer
from speechml.score.decode_dir import transcripts_path
from speechml.score.spread import Spread, group_by_voice, spread
from speechml.score.trn import read_trn, write_trn

logger = logging.getLogger(__name__)

#: How many utterance ids an error or warning lists before it says "and N more".
SHOWN_IDS = 10


@dataclass(frozen=True)
class ErrorCounts:
    """Edit counts against a reference of ``ref`` tokens (words or characters)."""

    ref: int = 0  # tokens in the reference
    ins: int = 0  # insertions
    dels: int = 0  # deletions
    sub: int = 0  # substitutions

    @property
    def errors(self) -> int:
        return self.ins + self.dels + self.sub

    @property
    def hits(self) -> int:
        """Reference tokens recognised correctly."""
        return self.ref - self.dels - self.sub

    @property
    def rate(self) -> float | None:
        """Error rate in percent; None when the reference has no tokens (no rate exists)."""
        return 100.0 * self.errors / self.ref if self.ref else None

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(
            self.ref + other.ref, self.ins + other.ins, self.dels + other.dels, self.sub + other.sub
        )

    def line(self, metric: str, label: str) -> str:
        """The sclite summary line, e.g. ``%WER 12.34 [ 123 / 997, 10 ins, 20 del, 93 sub ] x``
        (``%WER N/A [ 2 / 0, ...`` without reference tokens)."""
        rate = "N/A" if self.rate is None else f"{self.rate:.2f}"
        return (
            f"%{metric} {rate} [ {self.errors} / {self.ref}, {self.ins} ins, "
            f"{self.dels} del, {self.sub} sub ] {label}"
        )

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "ref": self.ref,
            "ins": self.ins,
            "del": self.dels,
            "sub": self.sub,
            "errors": self.errors,
            "rate": None if self.rate is None else round(self.rate, 4),
        }


@dataclass(frozen=True)
class Score:
    """Word and character counts of a set of utterances."""

    words: ErrorCounts = ErrorCounts()
    chars: ErrorCounts = ErrorCounts()
    num_utts: int = 0

    def __add__(self, other: Score) -> Score:
        return Score(
            self.words + other.words, self.chars + other.chars, self.num_utts + other.num_utts
        )

    def lines(self, label: str) -> list[str]:
        """The ``%WER`` and ``%CER`` lines, labelled."""
        return [self.words.line("WER", label), self.chars.line("CER", label)]

    def to_dict(self) -> dict[str, object]:
        return {"num_utts": self.num_utts, "wer": self.words.to_dict(), "cer": self.chars.to_dict()}


@dataclass(frozen=True)
class UttScore:
    """One utterance as scored: normalised texts, counts and the word alignment."""

    utt: str
    ref: str  # normalised reference
    hyp: str  # normalised hypothesis ("" when missing)
    missing: bool  # the hypothesis file had no line for this utterance
    score: Score
    alignment: list[jiwer.AlignmentChunk]  # word-level, indices into ref.split()/hyp.split()


@dataclass(frozen=True)
class WerReport:
    """The result of :func:`score_wer`.

    Attributes:
        total: counts over every reference utterance.
        per_lang: language code -> counts (empty without ``utt2lang``); sums to ``total``.
        per_spk: speaker id -> counts (empty without ``utt2spk``); sums to ``total``.
        per_voice: voice -> counts of its speakers (:func:`~speechml.score.spread.group_by_voice`;
            empty unless every speaker id names a voice); sums to ``total``.
        utts: every reference utterance, in Kaldi order.
        missing: reference utterances without a hypothesis (scored as all deletions).
        normalizer: the normalisation applied to both sides.
    """

    total: Score
    per_lang: dict[str, Score]
    per_spk: dict[str, Score]
    per_voice: dict[str, Score]
    utts: list[UttScore]
    missing: list[str]
    normalizer: TextNormalizer

    def summary_lines(self, label: str) -> list[str]:
        """``%WER ...`` and ``%CER ...`` over the whole set, labelled (the decode dir)."""
        return self.total.lines(label)

    def spreads(self) -> dict[str, Spread]:
        """``"spk"`` and ``"voice"`` -> the WER spread over that breakdown, where there is one
        (two groups or more with reference words)."""
        found = {
            key: spread(kind, {g: s.words.rate for g, s in groups.items()})
            for key, kind, groups in (
                ("spk", "speaker", self.per_spk),
                ("voice", "voice", self.per_voice),
            )
        }
        return {key: found[key] for key in found if found[key] is not None}

    def report_lines(self, label: str) -> list[str]:
        """The ``wer`` file: :meth:`summary_lines`, then ``#`` lines with the spread over
        speakers and voices and the utterances that had no hypothesis.

        Example::

            %WER 45.00 [ 90 / 200, 5 ins, 40 del, 45 sub ] exp/base/decode_test
            %CER 20.00 [ 180 / 900, 10 ins, 90 del, 80 sub ] exp/base/decode_test
            # per speaker (8): median WER 40.00; worst: eng-m3-s160-p45 98.00, ...
            # per voice (2): median WER 45.00; worst: m3 70.00, f2 20.00
        """
        lines = self.summary_lines(label) + [s.line() for s in self.spreads().values()]
        if self.missing:
            lines.append(
                f"# {len(self.missing)} utterances had no hypothesis (scored as deletions): "
                + shorten_ids(self.missing)
            )
        return lines

    def to_dict(self) -> dict[str, object]:
        """Every number, as plain JSON-able values (``spread``: speaker and voice spreads)."""
        return {
            "normalizer": dataclasses.asdict(self.normalizer),
            **self.total.to_dict(),
            "missing": self.missing,
            "per_lang": {lang: s.to_dict() for lang, s in self.per_lang.items()},
            "per_spk": {spk: s.to_dict() for spk, s in self.per_spk.items()},
            "per_voice": {voice: s.to_dict() for voice, s in self.per_voice.items()},
            "spread": {key: s.to_dict() for key, s in self.spreads().items()},
        }


def shorten_ids(ids: Sequence[str]) -> str:
    """``"u1, u2, u3"``, or the first :data:`SHOWN_IDS` and ``"(and N more)"``."""
    return shorten(ids, SHOWN_IDS)


def match_hypotheses(
    refs: Mapping[str, object], hyps: Mapping[str, object], hyp_path: str | Path | None = None
) -> list[str]:
    """Check hypothesis ids against the reference and return the references left without one.

    The missing ones are logged as a warning (they are scored as wrong, never skipped).

    Raises:
        DataError: if a hypothesis has no reference (naming the ids and ``hyp_path``).
    """
    unknown = sorted(set(hyps) - set(refs), key=sort_key)
    if unknown:
        raise DataError(
            f"{len(unknown)} hypotheses for utterances not in the reference: "
            + shorten_ids(unknown),
            path=hyp_path,
        )
    missing = sorted(set(refs) - set(hyps), key=sort_key)
    if missing:
        logger.warning(
            "%d of %d utterances have no hypothesis%s and are scored as wrong: %s",
            len(missing),
            len(refs),
            f" in {hyp_path}" if hyp_path else "",
            shorten_ids(missing),
        )
    return missing


def group_utts(
    utts: Sequence[str],
    utt2group: Mapping[str, str],
    table: str,
    data_dir: str | Path | None = None,
) -> dict[str, list[str]]:
    """Group ``utts`` by ``utt2group`` (sorted groups, utts in their order).

    Args:
        utts: the utterances to group.
        utt2group: utterance id -> group (language, speaker).
        table: the name of ``utt2group``'s file, e.g. ``"utt2spk"``.
        data_dir: the data dir it was read from, if any: the error names the file in it.

    Raises:
        DataError: if an utterance has no entry in ``utt2group``, e.g.
            ``data/test/utt2spk: utterance u3: has no entry in utt2spk``.
    """
    path = Path(data_dir) / table if data_dir is not None else None
    groups: dict[str, list[str]] = {}
    for utt in utts:
        if utt not in utt2group:
            raise DataError(f"has no entry in {table}", path, utt=utt)
        groups.setdefault(utt2group[utt], []).append(utt)
    return {g: groups[g] for g in sorted(groups, key=sort_key)}


def read_references(data_dir: str | Path, table: str) -> tuple[DataDir, dict[str, str]]:
    """Read a data dir and its reference table, ``"text"`` or ``"utt2label"``.

    Raises:
        DataError: if the data dir is invalid or the table is missing or empty.
    """
    data = DataDir.read(data_dir)
    refs = getattr(data, table)
    if not refs:
        raise DataError(f"no references to score against ({table} is missing or empty)", data_dir)
    return data, refs


def _counts(chunks: list[jiwer.AlignmentChunk], ref_len: int) -> ErrorCounts:
    """Insertions, deletions and substitutions of one utterance's alignment."""
    ins = dels = sub = 0
    for chunk in chunks:
        if chunk.type == "insert":
            ins += chunk.hyp_end_idx - chunk.hyp_start_idx
        elif chunk.type == "delete":
            dels += chunk.ref_end_idx - chunk.ref_start_idx
        elif chunk.type == "substitute":
            sub += chunk.ref_end_idx - chunk.ref_start_idx
    return ErrorCounts(ref_len, ins, dels, sub)


def _no_spaces(text: str) -> str:
    return "".join(text.split())


def score_wer(
    refs: Mapping[str, str],
    hyps: Mapping[str, str],
    normalizer: TextNormalizer | None = None,
    utt2lang: Mapping[str, str] | None = None,
    utt2spk: Mapping[str, str] | None = None,
    hyp_path: str | Path | None = None,
    data_dir: str | Path | None = None,
) -> WerReport:
    """Score hypotheses against references (WER and CER, totals and breakdowns).

    Args:
        refs: utterance id -> reference transcript (the data dir's ``text``).
        hyps: utterance id -> hypothesis; a reference without one counts as all deletions.
        normalizer: applied to both sides; default ``TextNormalizer()`` (NFC, lowercase,
            no punctuation but word-internal apostrophes and hyphens).
        utt2lang: utterance id -> language (ISO 639-3), for the per-language breakdown and
            each utterance's case rules.
        utt2spk: utterance id -> speaker, for the per-speaker breakdown.
        hyp_path: where the hypotheses came from, named in errors and warnings.
        data_dir: the data dir that ``utt2lang`` and ``utt2spk`` come from, named in errors.

    Raises:
        DataError: if ``refs`` is empty, a hypothesis id is not in ``refs``, or an utterance
            lacks its language or speaker.
    """
    normalizer = normalizer or TextNormalizer()
    if not refs:
        raise DataError("no reference transcripts to score against")
    missing = match_hypotheses(refs, hyps, hyp_path)
    utts = sorted(refs, key=sort_key)
    langs = [(utt2lang or {}).get(utt) for utt in utts]
    ref_texts = [normalizer(refs[utt], lang) for utt, lang in zip(utts, langs, strict=True)]
    hyp_texts = [normalizer(hyps.get(utt, ""), lang) for utt, lang in zip(utts, langs, strict=True)]
    words = jiwer.process_words(ref_texts, hyp_texts)
    chars = jiwer.process_characters(
        [_no_spaces(t) for t in ref_texts], [_no_spaces(t) for t in hyp_texts]
    )
    scored = [
        UttScore(
            utt=utt,
            ref=ref_texts[i],
            hyp=hyp_texts[i],
            missing=utt not in hyps,
            score=Score(
                words=_counts(words.alignments[i], len(words.references[i])),
                chars=_counts(chars.alignments[i], len(chars.references[i])),
                num_utts=1,
            ),
            alignment=words.alignments[i],
        )
        for i, utt in enumerate(utts)
    ]
    by_utt = {s.utt: s.score for s in scored}

    def breakdown(utt2group: Mapping[str, str] | None, table: str) -> dict[str, Score]:
        if not utt2group:
            return {}
        groups = group_utts(utts, utt2group, table, data_dir)
        return {g: sum((by_utt[u] for u in members), Score()) for g, members in groups.items()}

    per_spk = breakdown(utt2spk, "utt2spk")
    return WerReport(
        total=sum(by_utt.values(), Score()),
        per_lang=breakdown(utt2lang, "utt2lang"),
        per_spk=per_spk,
        per_voice=group_by_voice(per_spk, operator.add),
        utts=scored,
        missing=missing,
        normalizer=normalizer,
    )


def _width(text: str) -> int:
    """Columns a string takes in a terminal (combining marks 0, wide CJK characters 2)."""
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def format_alignment(utt: UttScore) -> str:
    """sclite-style alignment of one utterance.

    Correct words are shown as they are, errors in upper case, ``***`` fills the gap of an
    insertion or deletion, and the ``Eval:`` line marks each error ``S``, ``D`` or ``I`` (for
    scripts without case). Columns are padded to the display width of the longer word.

    Example (``the cat sat`` vs ``the bat sat down``)::

        id: u1
        Scores: (#C #S #D #I) 2 1 0 1
        REF:  the CAT sat ****
        HYP:  the BAT sat DOWN
        Eval:     S       I
    """
    ref_words, hyp_words = utt.ref.split(), utt.hyp.split()
    marks = {"equal": "", "substitute": "S", "delete": "D", "insert": "I"}
    columns: list[tuple[str, str, str]] = []  # (ref cell, hyp cell, eval mark); "" is a gap
    for chunk in utt.alignment:
        mark = marks[chunk.type]
        ref_span = ref_words[chunk.ref_start_idx : chunk.ref_end_idx]
        hyp_span = hyp_words[chunk.hyp_start_idx : chunk.hyp_end_idx]
        for n in range(max(len(ref_span), len(hyp_span))):
            ref_cell = ref_span[n] if n < len(ref_span) else ""
            hyp_cell = hyp_span[n] if n < len(hyp_span) else ""
            if mark:
                ref_cell, hyp_cell = ref_cell.upper(), hyp_cell.upper()
            columns.append((ref_cell, hyp_cell, mark))
    rows = {"REF:  ": [], "HYP:  ": [], "Eval: ": []}
    for ref_cell, hyp_cell, mark in columns:
        width = max(_width(ref_cell), _width(hyp_cell), 1)
        ref_cell = ref_cell or "*" * width
        hyp_cell = hyp_cell or "*" * width
        for name, cell in zip(rows, (ref_cell, hyp_cell, mark), strict=True):
            rows[name].append(cell + " " * (width - _width(cell)))
    words, chars = utt.score.words, utt.score.chars
    lines = [
        f"id: {utt.utt}" + ("  (no hypothesis: scored as deletions)" if utt.missing else ""),
        f"Scores: (#C #S #D #I) {words.hits} {words.sub} {words.dels} {words.ins}",
        f"Chars:  (#C #S #D #I) {chars.hits} {chars.sub} {chars.dels} {chars.ins}",
    ]
    lines += [(name + " ".join(cells)).rstrip() for name, cells in rows.items()]
    return "\n".join(lines) + "\n"


def score_decode_dir(
    data_dir: str | Path, decode_dir: str | Path, normalizer: TextNormalizer | None = None
) -> WerReport:
    """Score ``decode_dir/hyp.trn`` against ``data_dir/text`` and write the reports.

    Writes into ``decode_dir``: ``wer`` (:meth:`WerReport.report_lines`: the ``%WER`` and
    ``%CER`` lines, then ``#`` lines with the median and worst speakers and voices and the
    utterances without hypothesis), ``wer_per_lang`` (with ``utt2lang``), ``wer_per_spk`` and
    ``wer_per_voice`` (both lines per group, labelled ``lang=xxx`` / ``spk=xxx`` /
    ``voice=xxx``; ``wer_per_voice`` when the speaker ids name voices), ``per_utt``
    (alignments), ``ref.trn`` (the normalised references, as scored) and ``score.json``
    (every number, read by :func:`speechml.score.results.write_results`). Lines are labelled
    with ``decode_dir`` as given.

    Example:
        ``score_decode_dir("data/test", "exp/base/decode_test")`` writes
        ``exp/base/decode_test/wer`` holding
        ``%WER 12.34 [ 123 / 997, 10 ins, 20 del, 93 sub ] exp/base/decode_test``.

    Raises:
        DataError: if the data dir has no ``text``, ``hyp.trn`` is missing or malformed, or
            the ids do not match (see :func:`score_wer`).
    """
    data, refs = read_references(data_dir, "text")
    decode_dir = Path(decode_dir)
    hyp_path = transcripts_path(decode_dir)
    report = score_wer(
        refs,
        read_trn(hyp_path),
        normalizer,
        utt2lang=data.utt2lang or None,
        utt2spk=data.utt2spk,
        hyp_path=hyp_path,
        data_dir=data_dir,
    )
    label = str(decode_dir)
    atomic_write_text(decode_dir / "wer", "\n".join(report.report_lines(label)) + "\n")
    for name, groups, key in (
        ("wer_per_lang", report.per_lang, "lang"),
        ("wer_per_spk", report.per_spk, "spk"),
        ("wer_per_voice", report.per_voice, "voice"),
    ):
        lines = [line for g, s in groups.items() for line in s.lines(f"{label} {key}={g}")]
        if lines:
            atomic_write_text(decode_dir / name, "\n".join(lines) + "\n")
        else:
            (decode_dir / name).unlink(missing_ok=True)
    header = (
        "# Alignments as scored (normalised). Errors in upper case; *** fills a gap;\n"
        "# Eval: S substitution, D deletion, I insertion.\n\n"
    )
    atomic_write_text(
        decode_dir / "per_utt", header + "\n".join(format_alignment(u) for u in report.utts)
    )
    write_trn(decode_dir / "ref.trn", {u.utt: u.ref for u in report.utts})
    record = {"data_dir": str(data_dir), "decode_dir": label, **report.to_dict()}
    atomic_write_text(
        decode_dir / "score.json", json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    )
    return report


def score_text_files(
    ref_path: str | Path,
    hyp_path: str | Path,
    normalizer: TextNormalizer | None = None,
    lang: str | None = None,
    utt2lang_path: str | Path | None = None,
) -> WerReport:
    """Score two Kaldi text files (``utt-id transcript`` lines), as Kaldi's ``compute-wer``.

    No data dir, audio or ``wav.scp`` is needed, and nothing is written. A reference without
    a hypothesis counts as all deletions (and is reported); a line holding only an id is an
    empty transcript.

    Args:
        ref_path: the reference transcripts.
        hyp_path: the hypotheses.
        normalizer: applied to both sides; default ``TextNormalizer()``.
        lang: the language (ISO 639-3) of every utterance, for its case rules.
        utt2lang_path: an ``utt2lang`` file giving each utterance's language instead (and a
            per-language breakdown).

    Example:
        >>> report = score_text_files("data/test/text", "data/test/text")
        >>> report.summary_lines("data/test/text")[0]
        '%WER 0.00 [ 0 / 12, 0 ins, 0 del, 0 sub ] data/test/text'

    Raises:
        DataError: a missing, malformed or empty file (naming it and the line), a directory
            given for a file, a hypothesis id that is not in the reference, or an utterance
            without a language in ``utt2lang_path``.
    """
    tables = {"reference": ref_path, "hypothesis": hyp_path, "utt2lang": utt2lang_path}
    for what, path in tables.items():
        if path is not None and Path(path).is_dir():
            raise DataError(
                f"is a directory, not a {what} file (to score a data dir, give "
                "--data DIR --decode-dir DIR)",
                path,
            )
    refs = read_table(ref_path, allow_empty_values=True)
    if not refs:
        raise DataError("no reference transcripts to score against (empty file)", ref_path)
    hyps = read_table(hyp_path, allow_empty_values=True)
    utt2lang = None
    if utt2lang_path is not None:
        utt2lang_path = Path(utt2lang_path)
        utt2lang = read_table(utt2lang_path)
        group_utts(list(refs), utt2lang, utt2lang_path.name, utt2lang_path.parent)
    elif lang is not None:
        utt2lang = dict.fromkeys(refs, lang)
    return score_wer(refs, hyps, normalizer, utt2lang=utt2lang, hyp_path=hyp_path)
