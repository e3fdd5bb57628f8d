"""The ``speechml`` command: ``speechml <group> <verb> [options]``.

Each group's verbs live in a module of this package that exposes ``register(verbs)``, adding
its sub-parsers to the group; each verb is a thin call into the library. Errors caused by the
user's input (:class:`~speechml.errors.SpeechmlError`) are printed in one line, exit status 1.

A verb pays only for what it uses: a group module imports light modules at its top (file-name
constants, :mod:`speechml.errors`), each handler imports the library it calls, and an option
whose values are a registry's names takes them as :class:`LazyChoices`, so that building the
parser loads no torch, transformers or scikit-learn (``tests/cli/test_cli_imports.py``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from speechml import __version__
from speechml.config import Registry
from speechml.errors import ConfigError, SpeechmlError

#: group name -> (help, modules that register its verbs)
GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "data": (
        "Kaldi data dirs: validate, fix, subset, split, combine, durations, convert, features",
        ("speechml.cli.datadir", "speechml.cli.convert", "speechml.cli.features"),
    ),
    "corpus": (
        "the embedded multilingual corpus synthesised with espeak-ng",
        ("speechml.cli.corpus",),
    ),
    "score": ("WER/CER and classification scoring, RESULTS.md", ("speechml.cli.score",)),
    "text": (
        "text tools: romanize (uroman), pretrain a text encoder (MLM, LangSAMP, TransliCo), "
        "expand its vocabulary (OFA, TransMI...), cross-script retrieval",
        ("speechml.cli.text",),
    ),
    "baseline": (
        "trivial reference systems (most frequent transcript / class)",
        ("speechml.cli.baseline",),
    ),
    "asr": (
        "streaming transducer ASR: train, adapters, pseudo-labels, merge, decode",
        ("speechml.cli.asr",),
    ),
    "cls": (
        "semantic classification of speech: n-gram and text classifiers (on transcripts or ASR "
        "hypotheses), end-to-end speech classifiers; train, predict, settings, report",
        ("speechml.cli.cls",),
    ),
    "ssl": (
        "wav2vec2: (continued) self-supervised pretraining, CTC fine-tuning, decoding",
        ("speechml.cli.ssl",),
    ),
    "llm": (
        "audio LLM: the tiny LLM's text pretraining, instruction mixtures, projector alignment "
        "and LoRA instruction tuning, per-task evaluation",
        ("speechml.cli.llm",),
    ),
    "recipe": ("recipe directories: make egs/<lang> for a new language", ("speechml.cli.recipe",)),
}


def add_overrides(parser: argparse.ArgumentParser, example: str = "train.max_steps=100") -> None:
    """Add ``--set KEY=VALUE`` (repeatable; ``args.overrides``) to a verb that reads a config."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config value, e.g. --set {example} (repeatable)",
    )


def in_range(
    low: float | None = None,
    high: float | None = None,
    kind: type[int] | type[float] = int,
    low_open: bool = False,
) -> Callable[[str], Any]:
    """An argparse ``type=`` that reads a number and refuses one outside its range.

    Args:
        low: the smallest value allowed (None: no bound).
        high: the largest value allowed (None: no bound).
        kind: ``int`` or ``float``; NaN and infinities are refused for floats.
        low_open: ``low`` itself is refused (``> 0`` rather than ``>= 0``).

    Example:
        ``parser.add_argument("--min-confidence", type=in_range(0, 1, float))`` makes
        ``--min-confidence 1.5`` an argument error: ``argument --min-confidence: 1.5 is not
        in [0, 1]``.
    """
    left = "(" if low_open else "["
    if low is not None and high is not None:
        wanted = f"in {left}{low:g}, {high:g}]"
    elif low is not None:
        wanted = f"{'>' if low_open else '>='} {low:g}"
    else:
        wanted = f"<= {high:g}"

    def parse(text: str) -> int | float:
        value = kind(text)  # argparse turns a ValueError into "invalid int value: 'x'"
        fits = math.isfinite(value)
        if low is not None:
            fits = fits and (value > low if low_open else value >= low)
        if high is not None:
            fits = fits and value <= high
        if not fits:
            raise argparse.ArgumentTypeError(f"{text} is not {wanted}")
        return value

    parse.__name__ = kind.__name__
    return parse


def comma_separated(item: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    """An argparse ``type=`` for ``a,b,c`` whose every item is read (and checked) by ``item``.

    Example:
        ``type=comma_separated(in_range(1))`` makes ``--labelled 300,0`` an argument error:
        ``argument --labelled: 0 is not >= 1``.
    """

    def parse(text: str) -> list[Any]:
        return [item(part) for part in text.split(",")]

    parse.__name__ = getattr(item, "__name__", "value")
    return parse


class LazyChoices(Collection[str]):
    """An argparse ``choices=``: the names in ``module.attribute`` (a registry's sorted, a
    tuple's in order), after ``first``, imported when argparse first checks a value or lists
    them (``--help``).

    Give the option a ``metavar``: argparse would otherwise list the names (importing the
    module) when the option is added. ``%(choices)s`` in its help lists them.

    Example:
        >>> searches = LazyChoices("speechml.asr.recognizer", "SEARCHES", first=("none",))
        >>> "beam" in searches, "none" in searches, "nope" in searches
        (True, True, False)
    """

    def __init__(self, module: str, attribute: str, first: Sequence[str] = ()) -> None:
        self.module, self.attribute, self.first = module, attribute, tuple(first)

    def _names(self) -> list[str]:
        names = getattr(importlib.import_module(self.module), self.attribute)
        return [*self.first, *(sorted(names) if isinstance(names, Registry) else names)]

    def __contains__(self, value: object) -> bool:
        return value in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


def labelled_dirs(pairs: list[str], option: str) -> dict[str, Path]:
    """``LABEL=DIR`` arguments as a dict, in order."""
    found = {}
    for pair in pairs:
        label, sep, directory = pair.partition("=")
        if not sep or not label or not directory:
            raise ConfigError(f"{option} {pair!r}: expected LABEL=DIR")
        found[label] = Path(directory)
    return found


def build_parser(verbs_of: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser: every group, with the verbs of the groups in ``verbs_of`` (None: all).

    A group's verb modules import what its verbs need (torch, transformers, scikit-learn...),
    so :func:`main` registers the verbs of the group on the command line only.
    """
    parser = argparse.ArgumentParser(
        prog="speechml", description="Adapt speech models to new and under-served languages."
    )
    parser.add_argument("--version", action="version", version=f"speechml {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    groups = parser.add_subparsers(dest="group", metavar="GROUP", required=True)
    for name, (help_text, modules) in GROUPS.items():
        group = groups.add_parser(name, help=help_text, description=help_text)
        verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)
        if verbs_of is None or name in verbs_of:
            for module in modules:
                importlib.import_module(module).register(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``speechml`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # The group is the first argument that is not an option (the top level has no valued option).
    group = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser({group} if group else set()).parse_args(argv)
    args.argv = argv  # for experiment replay scripts
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        status = args.func(args)
    except SpeechmlError as err:
        print(f"speechml {args.group} {args.verb}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"speechml {args.group} {args.verb}: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
