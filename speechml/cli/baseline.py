"""``speechml baseline asr | cls``: trivial reference systems, the floor a model must beat."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from speechml.baseline import MajorityBaseline, label_baseline, transcript_baseline
from speechml.data.datadir import DataDir
from speechml.data.table import write_table
from speechml.io import atomic_write_text
from speechml.score.trn import write_trn

logger = logging.getLogger(__name__)

#: The file of a decode dir that says which system wrote it.
SYSTEM_FILE = "system.txt"


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``asr`` and ``cls`` verbs to the ``baseline`` group."""
    asr = verbs.add_parser(
        "asr",
        help="most frequent training transcript (per language) for every utterance",
        description="Write DECODE_DIR/hyp.trn holding, for every utterance of --data, the most "
        "frequent transcript of --train (per language when utt2lang is present).",
    )
    cls = verbs.add_parser(
        "cls",
        help="majority training label for every utterance",
        description="Write DECODE_DIR/utt2label holding, for every utterance of --data, the "
        "most frequent label of --train.",
    )
    for parser in (asr, cls):
        parser.add_argument("--train", required=True, metavar="DIR", help="training data dir")
        parser.add_argument("--data", required=True, metavar="DIR", help="data dir to decode")
        parser.add_argument("--out", required=True, metavar="DECODE_DIR", help="output dir")
    cls.add_argument(
        "--per-language", action="store_true", help="majority label of each language (utt2lang)"
    )
    asr.set_defaults(func=run_asr)
    cls.set_defaults(func=run_cls)


def _decode(baseline: MajorityBaseline, args: argparse.Namespace, what: str) -> dict[str, str]:
    """Predict for every utterance of ``--data`` and write the system line."""
    predictions = baseline.predict(DataDir.read(args.data))
    system = baseline.describe(what)
    atomic_write_text(Path(args.out) / SYSTEM_FILE, system + "\n")
    logger.info("%s: %d utterances -> %s", system, len(predictions), args.out)
    return predictions


def run_asr(args: argparse.Namespace) -> None:
    """Handler of ``speechml baseline asr``."""
    baseline = transcript_baseline(DataDir.read(args.train))
    write_trn(Path(args.out) / "hyp.trn", _decode(baseline, args, "training transcript"))


def run_cls(args: argparse.Namespace) -> None:
    """Handler of ``speechml baseline cls``."""
    baseline = label_baseline(DataDir.read(args.train), per_language=args.per_language)
    write_table(Path(args.out) / "utt2label", _decode(baseline, args, "training label"))
