"""``speechml data validate | fix | subset | split | split-speakers | combine | durations``."""

from __future__ import annotations

import argparse
from pathlib import Path

from speechml.cli import in_range
from speechml.data.datadir import FIX_REPORT, DataDir
from speechml.data.durations import compute_durations
from speechml.data.ops import (
    combine_data_dirs,
    first_utts,
    random_utts,
    split_by_speaker,
    split_into_parts,
    subset_data_dir,
    utts_from_list,
    utts_of_language,
    utts_per_language,
)
from speechml.data.table import write_table
from speechml.data.validate import fix_data_dir, validate_data_dir
from speechml.errors import ConfigError

#: Dropped utterances that ``fix`` prints (all are in its report).
DROPPED_SHOWN = 20


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the data-dir verbs to the ``data`` group."""
    validate = verbs.add_parser(
        "validate",
        help="check a data dir against the contract (Kaldi's validate_data_dir.sh)",
        description="Print every problem as 'severity: file:line: utterance u: message'; exit "
        "status 1 if any is an error.",
    )
    validate.add_argument("dir", metavar="DIR", help="data dir")
    validate.add_argument(
        "--check-audio",
        action="store_true",
        help="open every audio file: it must exist, be readable and non-empty (other rates "
        "or channels are reported as info)",
    )
    validate.add_argument("--allow-pipes", action="store_true", help="accept 'cmd |' entries")
    validate.add_argument("--no-text", action="store_true", help="the data has no transcripts")
    validate.set_defaults(func=_validate)

    fix = verbs.add_parser(
        "fix",
        help="repair a data dir (Kaldi's fix_data_dir.sh), reporting what it drops",
        description="Remove BOM and CRLF, NFC-normalise, sort, drop duplicated ids and unusable "
        "utterances; the reasons go to <out>/fix_report.txt. In place, the original files are "
        "kept in DIR/.backup/. Other Kaldi tables (spk2gender, utt2uniq...) are kept.",
    )
    fix.add_argument("dir", metavar="DIR", help="data dir")
    fix.add_argument("--out", metavar="DIR", help="write the fixed data dir here (default: DIR)")
    fix.add_argument(
        "--check-audio",
        action="store_true",
        help="open every audio file and drop the utterances whose audio is missing, empty, not "
        "audio or corrupt",
    )
    fix.add_argument(
        "--allow-pipes", action="store_true", help="with --check-audio, run 'cmd |' entries"
    )
    fix.set_defaults(func=_fix)

    subset = verbs.add_parser(
        "subset",
        help="copy part of a data dir (Kaldi's subset_data_dir.sh)",
        description="Keep the utterances chosen by one of --utt-list, --first, --random, "
        "--per-lang, after keeping only --lang if given. The features stored in SRC/fbank/ "
        "(compute-fbank) are shared with DST, hard-linked.",
    )
    subset.add_argument("src", metavar="SRC", help="source data dir")
    subset.add_argument("dst", metavar="DST", help="output data dir")
    how = subset.add_mutually_exclusive_group()
    how.add_argument("--utt-list", metavar="FILE", help="utterance ids, one a line")
    how.add_argument("--first", type=in_range(1), metavar="N", help="the first N utterances")
    how.add_argument("--random", type=in_range(1), metavar="N", help="N random utterances (--seed)")
    how.add_argument(
        "--per-lang", type=in_range(1), metavar="N", help="N random utterances a language"
    )
    subset.add_argument("--lang", metavar="CODE", help="keep one language (ISO 639-3)")
    subset.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    subset.set_defaults(func=_subset)

    split = verbs.add_parser(
        "split",
        help="split by speaker into SRC/split<N>/<1..N> for parallel jobs (split_data.sh)",
    )
    split.add_argument("src", metavar="SRC", help="data dir")
    split.add_argument(
        "--num-parts",
        type=in_range(1),
        required=True,
        metavar="N",
        help="parts (at most the speakers)",
    )
    split.set_defaults(func=_split)

    split_speakers = verbs.add_parser(
        "split-speakers",
        help="split into named parts (train/dev/test) that share no speaker",
        description="Each --part NAME:FRACTION gets about FRACTION of the utterances, in "
        "OUT_DIR/NAME; the fractions sum to 1. The same seed gives the same split.",
    )
    split_speakers.add_argument("src", metavar="SRC", help="data dir")
    split_speakers.add_argument(
        "--part",
        type=_part,
        action="append",
        required=True,
        metavar="NAME:FRACTION",
        help="a part, e.g. train:0.8 (repeat for each part)",
    )
    split_speakers.add_argument("--out-dir", required=True, help="parent of the part data dirs")
    split_speakers.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    split_speakers.set_defaults(func=_split_speakers)

    combine = verbs.add_parser("combine", help="combine data dirs (combine_data.sh)")
    combine.add_argument("dst", metavar="DST", help="output data dir")
    combine.add_argument("srcs", metavar="SRC", nargs="+", help="data dirs to combine")
    combine.set_defaults(func=_combine)

    durations = verbs.add_parser(
        "durations", help="write DIR/utt2dur from audio headers or segments"
    )
    durations.add_argument("dir", metavar="DIR", help="data dir")
    durations.add_argument("--nj", type=in_range(1), default=1, help="parallel readers (default 1)")
    durations.add_argument("--allow-pipes", action="store_true", help="run 'cmd |' entries")
    durations.set_defaults(func=_durations)


#: a part's share of the utterances
_FRACTION = in_range(0, 1, float, low_open=True)


def _part(text: str) -> tuple[str, float]:
    """``"train:0.8"`` -> ``("train", 0.8)``."""
    name, _, fraction = text.rpartition(":")
    try:
        value = _FRACTION(fraction)
    except ValueError:
        value = None
    if not name or value is None:
        raise argparse.ArgumentTypeError(f"expected NAME:FRACTION, e.g. train:0.8, got {text!r}")
    return name, value


def _validate(args: argparse.Namespace) -> int:
    problems = validate_data_dir(
        args.dir,
        check_audio=args.check_audio,
        allow_pipes=args.allow_pipes,
        require_text=not args.no_text,
    )
    for problem in problems:
        print(f"{problem.severity}: {problem}")
    errors = sum(problem.severity == "error" for problem in problems)
    warnings = sum(problem.severity == "warning" for problem in problems)
    verdict = "invalid" if errors else "valid"
    print(f"{args.dir}: {verdict} data dir ({errors} error(s), {warnings} warning(s))")
    return 1 if errors else 0


def _fix(args: argparse.Namespace) -> None:
    report = fix_data_dir(args.dir, args.out, args.check_audio, args.allow_pipes)
    for utt, why in list(report.dropped.items())[:DROPPED_SHOWN]:
        print(f"dropped {utt}: {'; '.join(why)}")
    if len(report.dropped) > DROPPED_SHOWN:
        print(f"... and {len(report.dropped) - DROPPED_SHOWN} more dropped utterance(s)")
    for warning in report.warnings:
        print(f"warning: {warning}")
    audio = "" if args.check_audio else " (audio not opened: --check-audio)"
    print(
        f"{report.out}: kept {report.kept} utterances, dropped {len(report.dropped)}{audio}, "
        f"{len(report.repairs)} other change(s); see {report.out / FIX_REPORT}"
    )


def _subset(args: argparse.Namespace) -> None:
    from speechml.data.feature_store import derive_store  # torch: only for a subset

    if Path(args.src).resolve() == Path(args.dst).resolve():
        raise ConfigError("SRC and DST are the same directory; subset writes a new data dir")
    choices = (args.utt_list, args.first, args.random, args.per_lang)
    if args.lang is None and all(choice is None for choice in choices):
        raise ConfigError(
            "say which utterances: --utt-list, --first, --random, --per-lang or --lang"
        )
    source = data = DataDir.read(args.src)
    if args.lang is not None:
        data = subset_data_dir(data, utts_of_language(data, args.lang))
    if args.utt_list is not None:
        data = subset_data_dir(data, utts_from_list(data, args.utt_list))
    elif args.first is not None:
        data = subset_data_dir(data, first_utts(data, args.first))
    elif args.random is not None:
        data = subset_data_dir(data, random_utts(data, args.random, args.seed))
    elif args.per_lang is not None:
        data = subset_data_dir(data, utts_per_language(data, args.per_lang, args.seed))
    data.write(args.dst)
    derive_store(source, data)
    print(f"{args.dst}: {len(data)} utterances")


def _split(args: argparse.Namespace) -> None:
    parts = split_into_parts(DataDir.read(args.src), args.num_parts)
    out = Path(args.src) / f"split{args.num_parts}"
    for number, part in enumerate(parts, start=1):
        part.write(out / str(number))
    print(f"{out}: {len(parts)} parts of {min(map(len, parts))} to {max(map(len, parts))} utts")


def _split_speakers(args: argparse.Namespace) -> None:
    fractions = dict(args.part)
    if len(fractions) != len(args.part):
        raise ConfigError("each --part needs a different NAME")
    parts = split_by_speaker(DataDir.read(args.src), fractions, args.seed)
    for name, part in parts.items():
        part.write(Path(args.out_dir) / name)
        print(
            f"{Path(args.out_dir) / name}: {len(part)} utterances, {len(part.spk2utt())} speakers"
        )


def _combine(args: argparse.Namespace) -> None:
    combined = combine_data_dirs([DataDir.read(src) for src in args.srcs])
    combined.write(args.dst)
    print(f"{args.dst}: {len(combined)} utterances from {len(args.srcs)} data dirs")


def _durations(args: argparse.Namespace) -> None:
    data = DataDir.read(args.dir)
    durations = compute_durations(data, allow_pipes=args.allow_pipes, nj=args.nj)
    write_table(Path(args.dir) / "utt2dur", durations)
    hours = sum(durations.values()) / 3600
    print(f"{Path(args.dir) / 'utt2dur'}: {len(durations)} utterances, {hours:.2f} hours")
