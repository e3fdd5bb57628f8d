"""``speechml score``: WER/CER of a decode dir, classification reports, RESULTS.md.

Examples::

    speechml score wer --data data/test --decode-dir exp/base/decode_test
    speechml score wer data/test/text exp/base/hyp.txt --lang tur
    speechml score cls --data data/test --decode-dir exp/intent/decode_test
    speechml score results egs/multi --exp exp --out RESULTS.md
"""

from __future__ import annotations

import argparse

from speechml.errors import ConfigError
from speechml.lang.normalize import TextNormalizer
from speechml.score.decode_dir import HYP_FILE
from speechml.score.results import write_results
from speechml.score.wer import score_decode_dir, score_text_files


def _wer(args: argparse.Namespace) -> None:
    normalizer = TextNormalizer(
        lowercase=not args.no_lowercase, remove_punctuation=not args.keep_punctuation
    )
    files = [name for name in (args.ref, args.hyp) if name is not None]
    dirs = [name for name in (args.data, args.decode_dir) if name is not None]
    if files and dirs:
        raise ConfigError("give either REF HYP or --data DIR --decode-dir DIR, not both")
    if len(files) == 2:
        report = score_text_files(args.ref, args.hyp, normalizer, args.lang, args.utt2lang)
        label = args.hyp
    elif len(dirs) == 2:
        if args.lang or args.utt2lang:
            raise ConfigError("--lang and --utt2lang are for REF HYP; a data dir has utt2lang")
        report = score_decode_dir(args.data, args.decode_dir, normalizer)
        label = args.decode_dir
    else:
        raise ConfigError("give two text files REF HYP, or --data DIR and --decode-dir DIR")
    print("\n".join(report.report_lines(str(label))))


def _cls(args: argparse.Namespace) -> None:
    from speechml.score.cls import score_cls_dir  # matplotlib, for its confusion matrix

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
        help="WER, CER of a decode dir against a data dir, or of two Kaldi text files",
        description=(
            f"With --data and --decode-dir: score DECODE_DIR/{HYP_FILE} against DATA/text; write "
            "wer, wer_per_lang, wer_per_spk, wer_per_voice, per_utt, ref.trn and score.json "
            "into the decode dir and print the wer file: the %%WER and %%CER lines, the median "
            "and worst speakers and voices. With REF HYP (two Kaldi text files, 'utt-id "
            "transcript' lines, as Kaldi's compute-wer): print the same lines, write nothing. "
            "A reference without hypothesis counts as deletions. Text is NFC-normalised, "
            "lowercased by each utterance's language, stripped of punctuation but word-internal "
            "apostrophes and hyphens, unless told otherwise; CER counts characters without "
            "spaces; a set whose references are all empty has no rate (N/A)."
        ),
    )
    wer.add_argument("ref", nargs="?", metavar="REF", help="reference text file")
    wer.add_argument("hyp", nargs="?", metavar="HYP", help="hypothesis text file")
    wer.add_argument("--data", metavar="DIR", help="Kaldi data dir with text (and utt2lang)")
    wer.add_argument("--decode-dir", metavar="DIR", help=f"decode dir holding {HYP_FILE}")
    wer.add_argument(
        "--lang", metavar="L", help="REF HYP: the language (ISO 639-3) of every utterance"
    )
    wer.add_argument(
        "--utt2lang", metavar="FILE", help="REF HYP: each utterance's language (utt2lang file)"
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
