"""``speechml corpus build``: synthesise the embedded multilingual corpus with espeak-ng."""

from __future__ import annotations

import argparse
import os
import shlex

from speechml.cli import add_overrides, in_range
from speechml.config import load_config
from speechml.data.corpus import DEFAULT_CONFIG, CorpusConfig, build_corpus


def _build(args: argparse.Namespace) -> int:
    """Handler of ``speechml corpus build``."""
    config = load_config(CorpusConfig, args.config, args.overrides)
    words = ["speechml", "corpus", "build", "--config", str(args.config), "--out", str(args.out)]
    words += ["--nj", str(args.nj)] + [w for s in args.overrides for w in ("--set", s)]
    words += ["--force"] if args.force else []
    build_corpus(config, args.out, args.nj, args.force, shlex.join(words), args.config)
    return 0


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``corpus`` verbs."""
    parser = verbs.add_parser(
        "build",
        help="synthesise the multilingual corpus (Kaldi data dirs + WAVs) with espeak-ng",
        description=(
            "Synthesise a deterministic multilingual speech corpus with espeak-ng into "
            "OUT/data/<lang>/<split>/ (Kaldi data dirs), OUT/wav/, OUT/README.md, OUT/.done. "
            "A finished corpus with the same config is reused; an interrupted one resumes."
        ),
    )
    parser.add_argument(
        "--config", default=DEFAULT_CONFIG, help="corpus YAML config (default: %(default)s)"
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--nj",
        type=in_range(1),
        default=os.cpu_count() or 1,
        help="parallel synthesis jobs (default: the number of CPUs, %(default)s)",
    )
    add_overrides(parser, "utts_per_lang.train=100")
    parser.add_argument(
        "--force", action="store_true", help="rebuild a corpus made with another config"
    )
    parser.set_defaults(func=_build)
