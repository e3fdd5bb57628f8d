"""Run the ASR benchmarks one after another: training throughput, streaming RTF, loss memory.

Each benchmark is also a script of its own with more options (``--help``); this runner passes
on only what they share: ``--quick``, ``--config``, ``--set``, ``--seed`` and, when given,
``--threads`` (otherwise each keeps its own default: one thread for streaming).

Example:
    .venv/bin/python bench/asr_bench.py            # defaults: a few minutes on 2 CPU cores
    .venv/bin/python bench/asr_bench.py --quick    # a smoke run of a few seconds
    .venv/bin/python bench/asr_bench.py --only streaming --config egs/kat/conf/asr.yaml
"""

from __future__ import annotations

import argparse
import sys

import benchlib
import loss_memory
import streaming_rtf
import train_throughput

BENCHMARKS = {
    "train": train_throughput.main,
    "streaming": streaming_rtf.main,
    "memory": loss_memory.main,
}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks (default: all) and return 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    benchlib.add_common_options(parser)
    parser.add_argument(
        "--only", choices=sorted(BENCHMARKS), action="append", help="run only these (repeatable)"
    )
    args = parser.parse_args(argv)
    shared = ["--seed", str(args.seed), *(["--quick"] if args.quick else [])]
    shared += ["--config", args.config] if args.config else []
    shared += ["--threads", str(args.threads)] if args.threads else []
    for override in args.overrides:
        shared += ["--set", override]
    for index, name in enumerate(args.only or list(BENCHMARKS)):
        if index:
            print(flush=True)
        BENCHMARKS[name](shared)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
