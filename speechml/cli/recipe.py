"""``speechml recipe`` verbs: ``new-lang`` makes ``egs/<iso>/`` for a language from the template."""

from __future__ import annotations

import argparse

from speechml.recipe import language_spec, render_recipe


def _new_lang(args: argparse.Namespace) -> int:
    """Render the recipe dir of ``args.iso`` and print its path."""
    spec = language_spec(args.iso, espeak=args.espeak, locale=args.locale, script=args.script)
    print(render_recipe(spec, egs_root=args.egs_root, force=args.force))
    return 0


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``recipe`` verbs."""
    new_lang = verbs.add_parser(
        "new-lang",
        help="make egs/<iso>/ (run.sh, path.sh, cmd.sh, conf/, local/, README.md) for a language",
        description="Render the recipe template for a language, given by its ISO 639-3 code. "
        "Its conf/corpus.yaml lists the corpus's default languages plus this one; the espeak-ng "
        "voice and the locale default to the ISO 639-1 code, the script to CLDR's likely one.",
    )
    new_lang.add_argument("iso", metavar="ISO", help="ISO 639-3 code, e.g. kat")
    new_lang.add_argument("--egs-root", default="egs", help="recipes directory (default: egs)")
    new_lang.add_argument("--espeak", metavar="VOICE", help="espeak-ng voice, e.g. ka")
    new_lang.add_argument("--locale", metavar="LOC", help="babel/CLDR locale of the texts, e.g. ka")
    new_lang.add_argument("--script", metavar="SCRIPT", help="ISO 15924 script, e.g. Geor")
    new_lang.add_argument(
        "--force", action="store_true", help="write over an existing directory's template files"
    )
    new_lang.set_defaults(func=_new_lang)
