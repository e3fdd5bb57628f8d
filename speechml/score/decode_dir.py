"""The decode dir ``exp/<name>/decode_<set>/``: what one system made of one data dir.

Every writer and reader of these files goes through this module; their names are defined here
only.

- ``hyp.trn`` (:data:`HYP_FILE`): a recogniser's transcripts, sclite trn
  (:mod:`speechml.score.trn`); ``speechml score wer`` scores it.
- ``utt2label`` (:data:`LABELS_FILE`): a classifier's labels, a Kaldi table;
  ``speechml score cls`` scores it.
- ``system.txt`` (:data:`SYSTEM_FILE`): one line describing the system (``transducer base:
  greedy, causal pass``), shown in ``RESULTS.md``.
- ``confidence`` (:data:`CONFIDENCE_FILE`): utt-id -> confidence of the hypothesis, a table.
- ``rtf`` (:data:`RTF_FILE`): one line, the real-time factor of the decoding.

Scoring writes its reports beside them (:func:`speechml.score.wer.score_decode_dir`,
:func:`speechml.score.cls.score_cls_dir`). Each file is written atomically.

Example:
    >>> write_transcripts("exp/b/decode_test", {"u1": "hello"}, "baseline")
    PosixPath('exp/b/decode_test/hyp.trn')
    >>> read_transcripts("exp/b/decode_test"), read_system("exp/b/decode_test")
    ({'u1': 'hello'}, 'baseline')
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from speechml.data.table import read_table, write_table
from speechml.io import atomic_write_text
from speechml.lang.normalize import collapse_whitespace
from speechml.score.trn import read_trn, write_trn

HYP_FILE = "hyp.trn"
LABELS_FILE = "utt2label"
SYSTEM_FILE = "system.txt"
CONFIDENCE_FILE = "confidence"
RTF_FILE = "rtf"


def _write_system(decode_dir: Path, system: str) -> None:
    atomic_write_text(decode_dir / SYSTEM_FILE, collapse_whitespace(system) + "\n")


def write_transcripts(
    decode_dir: str | Path,
    texts: Mapping[str, str],
    system: str,
    confidences: Mapping[str, float] | None = None,
    rtf: str | None = None,
) -> Path:
    """Write a recogniser's decode dir: ``hyp.trn``, ``system.txt`` and, when given,
    ``confidence`` (4 decimals) and ``rtf``.

    Args:
        decode_dir: the decode dir (created if needed).
        texts: utt-id -> transcript.
        system: one line describing the system.
        confidences: utt-id -> confidence of the hypothesis.
        rtf: the line of the real-time factor.

    Returns:
        the path of ``hyp.trn``.

    Raises:
        DataError: if an utterance id is not one a trn file can hold.
    """
    decode_dir = Path(decode_dir)
    write_trn(decode_dir / HYP_FILE, texts)
    if confidences is not None:
        write_table(decode_dir / CONFIDENCE_FILE, {u: f"{c:.4f}" for u, c in confidences.items()})
    _write_system(decode_dir, system)
    if rtf is not None:
        atomic_write_text(decode_dir / RTF_FILE, rtf + "\n")
    return decode_dir / HYP_FILE


def write_labels(
    decode_dir: str | Path, labels: Mapping[str, str], system: str | None = None
) -> Path:
    """Write a classifier's decode dir: ``utt2label`` (sorted) and ``system.txt``.

    Args:
        decode_dir: the decode dir (created if needed).
        labels: utt-id -> predicted label.
        system: one line describing the system; None: no ``system.txt`` is written.

    Returns:
        the path of ``utt2label``.
    """
    decode_dir = Path(decode_dir)
    write_table(decode_dir / LABELS_FILE, labels)
    if system is not None:
        _write_system(decode_dir, system)
    return decode_dir / LABELS_FILE


def transcripts_path(decode_dir: str | Path) -> Path:
    """The ``hyp.trn`` of ``decode_dir`` (which may not exist)."""
    return Path(decode_dir) / HYP_FILE


def labels_path(decode_dir: str | Path) -> Path:
    """The ``utt2label`` of ``decode_dir`` (which may not exist)."""
    return Path(decode_dir) / LABELS_FILE


def read_transcripts(decode_dir: str | Path) -> dict[str, str]:
    """utt-id -> transcript, from ``decode_dir/hyp.trn``.

    Raises:
        DataError: if ``hyp.trn`` is missing or malformed (naming it and the line).
    """
    return read_trn(transcripts_path(decode_dir))


def read_labels(decode_dir: str | Path) -> dict[str, str]:
    """utt-id -> predicted label, from ``decode_dir/utt2label``.

    Raises:
        DataError: if ``utt2label`` is missing or malformed (naming it and the line).
    """
    return read_table(labels_path(decode_dir))


def read_system(decode_dir: str | Path) -> str:
    """The description in ``decode_dir/system.txt`` on one line; ``""`` without the file."""
    path = Path(decode_dir) / SYSTEM_FILE
    if not path.is_file():
        return ""
    return collapse_whitespace(path.read_text(encoding="utf-8"))
