"""``speechml baseline asr | cls``: trivial reference systems, the floor a model must beat."""

from __future__ import annotations

import argparse

from speechml.baseline import write_label_baseline, write_transcript_baseline
from speechml.score.decode_dir import HYP_FILE, LABELS_FILE


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``asr`` and ``cls`` verbs to the ``baseline`` group."""
    asr = verbs.add_parser(
        "asr",
        help="most frequent training transcript (per language) for every utterance",
        description=f"Write DECODE_DIR/{HYP_FILE} holding, for every utterance of --data, the "
        "most frequent transcript of --train (per language when utt2lang is present).",
    )
    cls = verbs.add_parser(
        "cls",
        help="majority training label for every utterance",
        description=f"Write DECODE_DIR/{LABELS_FILE} holding, for every utterance of --data, "
        "the most frequent label of --train.",
    )
    for parser in (asr, cls):
        parser.add_argument("--train", required=True, metavar="DIR", help="training data dir")
        parser.add_argument("--data", required=True, metavar="DIR", help="data dir to decode")
        parser.add_argument("--out", required=True, metavar="DECODE_DIR", help="output dir")
    cls.add_argument(
        "--per-language", action="store_true", help="majority label of each language (utt2lang)"
    )
    asr.set_defaults(func=_asr)
    cls.set_defaults(func=_cls)


def _asr(args: argparse.Namespace) -> None:
    """Handler of ``speechml baseline asr``."""
    write_transcript_baseline(args.train, args.data, args.out)


def _cls(args: argparse.Namespace) -> None:
    """Handler of ``speechml baseline cls``."""
    write_label_baseline(args.train, args.data, args.out, args.per_language)
