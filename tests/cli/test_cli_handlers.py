"""Every verb's handler is found the same way: ``speechml G V-W`` is ``_v_w`` of G's CLI module."""

from __future__ import annotations

import argparse

from speechml.cli import GROUPS, build_parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_each_verb_handler_is_underscore_verb_of_its_group_module() -> None:
    wrong = []
    for group, parser in subcommands(build_parser()).items():
        modules = GROUPS[group][1]
        for verb, verb_parser in subcommands(parser).items():
            handler = verb_parser.get_default("func")
            expected = "_" + verb.replace("-", "_")
            if handler.__name__ != expected or handler.__module__ not in modules:
                wrong.append(f"{group} {verb}: {handler.__module__}.{handler.__name__}")
    assert not wrong, f"handlers not named _<verb> in their group's module: {wrong}"
