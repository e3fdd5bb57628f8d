"""``speechml score``: WER/CER of a decode dir, classification reports, RESULTS.md.

Examples::

    speechml score wer --data data/test --decode-dir exp/base/decode_test
    speechml score cls --data data/test --decode-dir exp/intent/decode_test
    speechml score results egs/multi --exp exp --out RESULTS.md
"""

from __future__ import annotations

import argparse

from speechml.score.cls import score_cls_dir
from speechml.score.results import write_results
from speechml.score.wer import score_decode_dir
from speechml.text.normalize import TextNormalizer


def _wer(args: argparse.Namespace) -> None:
    normalizer = TextNormalizer(
        lowercase=not args.no_lowercase, remove_punctuation=not args.keep_punctuation
    )
    report = score_decode_dir(args.data, args.decode_dir, normalizer)
    print("\n".join(report.summary_lines(str(args.decode_dir))))


def _cls(args: argparse.Namespace) -> None:
    for decode_dir in args.decode_dir:
        report = score_cls_dir(args.data, decode_dir)
        print(
            f"accuracy {100 * report.accuracy:.2f} macro-F1 {100 * report.macro_f1:.2f} "
            f"[ {report.num_utts} utts ] {decode_dir}"
        )


def _results(args: argparse.Namespace) -> None:
    print(write_results(args.egs_dir, args.exp, args.out, args.include))


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``wer``, ``cls`` and ``results`` verbs to the ``score`` group."""
    wer = verbs.add_parser(
        "wer",
        help="score hyp.trn of a decode dir against a data dir's text (WER, CER)",
        description=(
            "Score DECODE_DIR/hyp.trn against DATA/text; write wer, wer_per_lang, wer_per_spk, "
            "per_utt, ref.trn and score.json into the decode dir and print the %WER and "
            "%CER lines. Text is lowercased, stripped of punctuation and NFC-normalised "
            "unless told otherwise; CER counts characters without spaces."
        ),
    )
    wer.add_argument(
        "--data", required=True, metavar="DIR", help="Kaldi data dir with text (and utt2lang)"
    )
    wer.add_argument(
        "--decode-dir", required=True, metavar="DIR", help="decode dir holding hyp.trn"
    )
    wer.add_argument("--no-lowercase", action="store_true", help="score case differences")
    wer.add_argument(
        "--keep-punctuation", action="store_true", help="do not remove punctuation before scoring"
    )
    wer.set_defaults(func=_wer)

    cls = verbs.add_parser(
        "cls",
        help="score utt2label of a decode dir against a data dir's utt2label",
        description=(
            "Score DECODE_DIR/utt2label (predicted labels) against DATA/utt2label; write "
            "report.txt, report.json and confusion.png into the decode dir. Several decode "
            "dirs of the same data (e.g. every method's) are scored in one call."
        ),
    )
    cls.add_argument("--data", required=True, metavar="DIR", help="Kaldi data dir with utt2label")
    cls.add_argument(
        "--decode-dir",
        required=True,
        nargs="+",
        metavar="DIR",
        help="decode dirs holding utt2label",
    )
    cls.set_defaults(func=_cls)

    results = verbs.add_parser(
        "results",
        help="collect every score of a recipe into RESULTS.md",
        description=(
            "Collect EGS_DIR/EXP/**/decode_*/score.json and report.json into markdown tables "
            "in EGS_DIR/OUT."
        ),
    )
    results.add_argument(
        "egs_dir", nargs="?", default=".", metavar="EGS_DIR", help="recipe dir (default: .)"
    )
    results.add_argument("--exp", default="exp", help="experiments dir under EGS_DIR (default exp)")
    results.add_argument("--out", default="RESULTS.md", help="output under EGS_DIR (RESULTS.md)")
    results.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="FILE",
        help="a generated markdown section to include (repeatable), e.g. exp/lda_summary.md",
    )
    results.set_defaults(func=_results)
