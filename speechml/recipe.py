"""Make the recipe directory of a language, ``egs/<iso>/``, from the template ``recipe_template/``.

The template holds ``run.sh``, ``path.sh``, ``cmd.sh``, ``conf/corpus.yaml``, ``local/`` and
``README.md`` with ``@@{name}`` placeholders: ``iso`` (ISO 639-3 code), ``name`` (its English
name), ``languages`` (the ``languages:`` lines of the corpus config: the head languages
:data:`HEAD_LANGUAGES`, this one and the other tail languages :data:`TAIL_COMPANIONS`),
``tail_langs`` and ``labelled`` (the adapter stages' tail languages and their labelled amounts,
:data:`TAIL_LABELLED`). The rendered corpus config is checked like any other
before anything is written. Files whose first line is a ``#!`` line are made executable (0755,
others 0644).

Example:
    >>> spec = language_spec("kat")
    >>> spec
    LanguageSpec(code='kat', espeak='ka', locale='ka', script='Geor')
    >>> render_recipe(spec, "egs")
    PosixPath('egs/kat')
    >>> Path("egs/kat/run.sh").is_file()
    True
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Iterator
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import pycountry
import yaml
from babel.core import get_global, parse_locale

from speechml.config import from_dict, parse_yaml
from speechml.data.corpus.config import CorpusConfig, LanguageSpec, check_config
from speechml.data.corpus.synth import check_voices
from speechml.errors import ConfigError
from speechml.io import atomic_write_text
from speechml.lang.languages import check_language_code, language_name

#: The head languages of a new recipe's corpus (four of the corpus's defaults, three scripts):
#: the whole default list would make the base model of the default run too slow to train on
#: 2 CPU cores within the recipe's 30-minute budget.
HEAD_LANGUAGES = ("eng", "spa", "rus", "hin")
#: The other tail languages of a new recipe (two more scripts), so that its adapter stages train
#: several tail languages in one run, as the method they reproduce does.
TAIL_COMPANIONS = ("ell", "ara")
#: Labelled utterances of each tail language (the recipe's own first, then the companions) in
#: the base's training data: different amounts, so that the languages peak at different steps.
TAIL_LABELLED = (300, 150, 600)

#: The files of a new egs dir, with placeholders.
TEMPLATE_DIR = resources.files("speechml") / "recipe_template"


class _Template(string.Template):
    """``@@{name}`` placeholders, so that shell's ``${name}`` is left alone."""

    delimiter = "@@"


def _likely_script(locale: str) -> str | None:
    """The script CLDR expects for ``locale`` (``"ka"`` -> ``"Geor"``), if it knows one."""
    likely = get_global("likely_subtags").get(locale.replace("-", "_"))
    return parse_locale(likely)[2] if likely else None


def language_spec(
    iso: str, espeak: str | None = None, locale: str | None = None, script: str | None = None
) -> LanguageSpec:
    """The corpus entry of language ``iso``, from the defaults, ISO 639-1 and CLDR where not given.

    Args:
        iso: ISO 639-3 code, e.g. ``"kat"``.
        espeak: espeak-ng voice; default: the corpus default's, else the ISO 639-1 code.
        locale: babel/CLDR locale of the texts; default: as ``espeak``.
        script: ISO 15924 script; default: the corpus default's, else CLDR's likely script of
            ``locale``.

    Raises:
        DataError: ``iso`` is not an ISO 639-3 code (with a hint for ``"ka"`` or ``"KAT"``).
        ConfigError: a value cannot be derived and was not given.

    Example:
        >>> language_spec("amh")
        LanguageSpec(code='amh', espeak='am', locale='am', script='Ethi')
    """
    check_language_code(iso)
    default = next((lang for lang in CorpusConfig().languages if lang.code == iso), None)
    alpha_2 = getattr(pycountry.languages.get(alpha_3=iso), "alpha_2", None)
    espeak = espeak or (default.espeak if default else alpha_2)
    locale = locale or (default.locale if default else alpha_2)
    if espeak is None or locale is None:
        raise ConfigError(f"{iso} has no ISO 639-1 code: pass --espeak VOICE and --locale LOCALE")
    script = script or (default.script if default else _likely_script(locale))
    if script is None:
        raise ConfigError(
            f"no likely script known for locale {locale!r}: pass --script (e.g. Latn)"
        )
    return LanguageSpec(code=iso, espeak=espeak, locale=locale, script=script)


def tail_languages(lang: LanguageSpec) -> list[str]:
    """``lang`` and the :data:`TAIL_COMPANIONS` that are neither it nor a head language."""
    others = [x for x in TAIL_COMPANIONS if x != lang.code and x not in HEAD_LANGUAGES]
    return [lang.code, *others]


def corpus_languages(lang: LanguageSpec) -> list[LanguageSpec]:
    """The :data:`HEAD_LANGUAGES` with ``lang`` in place of its entry (or added after them),
    then the other tail languages of :func:`tail_languages`."""
    defaults = CorpusConfig().languages
    heads = [x for x in defaults if x.code in HEAD_LANGUAGES]
    if any(x.code == lang.code for x in heads):
        languages = [lang if x.code == lang.code else x for x in heads]
    else:
        languages = [*heads, lang]
    others = tail_languages(lang)[1:]
    return languages + [x for code in others for x in defaults if x.code == code]


def _language_lines(languages: list[LanguageSpec]) -> str:
    """``  - {code: kat, espeak: ka, locale: ka, script: Geor}`` a language, quoted where needed."""
    flow = (
        yaml.safe_dump(dataclasses.asdict(x), default_flow_style=True, sort_keys=False, width=1000)
        for x in languages
    )
    return "\n".join(f"  - {line.strip()}" for line in flow)


def _template_files(folder: Traversable, prefix: Path = Path()) -> Iterator[tuple[Path, str]]:
    """(relative path, text) of every file of the template, sorted."""
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _template_files(entry, prefix / entry.name)
        else:
            yield prefix / entry.name, entry.read_text(encoding="utf-8")


def render_template(lang: LanguageSpec, out: str | Path | None = None) -> dict[Path, str]:
    """The files of ``egs/<lang.code>/``: relative path -> text, the corpus config checked.

    Args:
        lang: the language.
        out: the directory the files are meant for, named in errors (default ``egs/<code>``).

    Raises:
        ConfigError: the corpus config would be invalid (unknown locale or script, ...).
    """
    values = {
        "iso": lang.code,
        "name": language_name(lang.code),
        "languages": _language_lines(corpus_languages(lang)),
        "tail_langs": " ".join(tails := tail_languages(lang)),
        "labelled": " ".join(str(n) for n in TAIL_LABELLED[: len(tails)]),
    }
    files = {
        path: _Template(text).substitute(values) for path, text in _template_files(TEMPLATE_DIR)
    }
    corpus_yaml = Path(out or Path("egs", lang.code)) / "conf/corpus.yaml"
    config = parse_yaml(files[Path("conf/corpus.yaml")], str(corpus_yaml))
    check_config(from_dict(CorpusConfig, config, str(corpus_yaml)), corpus_yaml)
    return files


def render_recipe(lang: LanguageSpec, egs_root: str | Path = "egs", force: bool = False) -> Path:
    """Write ``egs_root/<lang.code>/`` from the template and return its path.

    Args:
        lang: the language, e.g. ``language_spec("kat")``.
        egs_root: the directory of the recipes (default ``egs``).
        force: write over an existing directory (its template files are replaced; other files,
            such as ``data/``, ``exp/`` or ``local/`` scripts, are kept).

    Raises:
        ConfigError: the directory exists and ``force`` is false; an invalid corpus config.
        SpeechmlError: espeak-ng is missing or has no voice ``lang.espeak`` (checked before
            anything is written, so that the corpus stage cannot fail on it later).
    """
    out = Path(egs_root) / lang.code
    if out.exists() and not force:
        raise ConfigError(f"{out} exists: pass --force to write the template over it")
    files = render_template(lang, out)
    check_voices({lang.code: lang.espeak}, [], source=f"--espeak {lang.espeak}")
    for path, text in files.items():
        atomic_write_text(out / path, text)
        (out / path).chmod(0o755 if text.startswith("#!") else 0o644)
    return out
