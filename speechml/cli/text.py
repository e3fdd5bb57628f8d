"""``speechml text romanize``: text tools over data dirs.

Example::

    speechml text romanize data/train data/train_rom
"""

from __future__ import annotations

import argparse

from speechml.text.romanize import romanize_data_dir


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``romanize`` verb to the ``text`` group."""
    romanize = verbs.add_parser(
        "romanize",
        help="copy a data dir with its text romanized by uroman (per utt2lang language)",
        description="Write OUT_DIR, a copy of SRC_DIR whose text is romanized by uroman in each "
        "utterance's language (utt2lang, ISO 639-3), lowercased and whitespace-collapsed; "
        "every other table is copied unchanged. OUT_DIR may be SRC_DIR.",
    )
    romanize.add_argument("src", metavar="SRC_DIR", help="source data dir")
    romanize.add_argument("out", metavar="OUT_DIR", help="output data dir")
    romanize.add_argument(
        "--keep-case", action="store_true", help="keep uroman's letter case (default: lowercase)"
    )
    romanize.set_defaults(func=run_romanize)


def run_romanize(args: argparse.Namespace) -> None:
    data = romanize_data_dir(args.src, args.out, lowercase=not args.keep_case)
    languages = ", ".join(data.languages()) or "no utt2lang"
    print(f"{args.out}: romanized {len(data.text)} transcripts ({languages})")
