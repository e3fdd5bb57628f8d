"""The data of a classification comparison in SpeechTaxi's settings: mono, zero-shot, multi,
held-out.

From one train, dev and test data dir with ``utt2lang``, :func:`write_settings` writes per-language
and pooled data dirs into ``OUT``:

- ``train_<L>``, ``dev_<L>``, ``test_<L>`` for every language ``L``;
- ``train_all``, ``dev_all``: every language (the multi setting);
- ``train_heldout``, ``dev_heldout``: every language but the held-out ones (only with held-out
  languages).

and lists the settings, one :class:`Setting` each, in ``OUT/settings.json``:

- ``mono``: ``train_<L>`` tested on ``L``, for each ``L``;
- ``zero_shot``: the same ``train_<L>`` tested on every other language;
- ``multi``: ``train_all`` tested on every language;
- ``held_out``: ``train_heldout`` tested on the held-out languages.

A zero-shot or held-out test language never occurs in its setting's train or dev dir.
``OUT/trainings.txt`` gives the shell one line per train dir: ``<train> <dev> <test-lang>...``
(every language its model is tested on), so a recipe trains each model once and then decodes
``test_<lang>`` into ``EXP/<method>/<train>/decode_<lang>``.

Example::

    data = [DataDir.read(f"data/{part}") for part in ("train", "dev", "test")]
    settings = write_settings(*data, ["eng", "rus", "kat"], ["kat"], "data/cls")
    settings[-1] == Setting("held_out", "train_heldout", "dev_heldout", ("eng", "rus"), ("kat",))
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from speechml.data.datadir import DataDir
from speechml.data.feature_store import derive_store
from speechml.data.ops import subset_data_dir, utts_of_language
from speechml.errors import ConfigError
from speechml.io import atomic_write_text
from speechml.lang.languages import check_language_code, language_name

#: the settings, in the order they are listed and reported
SETTING_NAMES = ("mono", "zero_shot", "multi", "held_out")
#: the pooled data dirs' suffix: ``train_all`` (multi), ``train_heldout`` (held-out)
ALL, HELD_OUT = "all", "heldout"
SETTINGS_FILE = "settings.json"
TRAININGS_FILE = "trainings.txt"


def data_name(part: str, suffix: str) -> str:
    """The name of a data dir of the settings, e.g. ``data_name("train", "eng") == "train_eng"``.

    Args:
        part: ``train``, ``dev`` or ``test``.
        suffix: a language code, :data:`ALL` or :data:`HELD_OUT`.
    """
    return f"{part}_{suffix}"


@dataclass(frozen=True)
class Setting:
    """One setting of the comparison: a model trained on ``train`` tested on ``test_langs``.

    Attributes:
        name: one of :data:`SETTING_NAMES`.
        train: the train data dir's name inside the settings dir, e.g. ``train_eng``.
        dev: the dev data dir's name, e.g. ``dev_eng``.
        train_langs: the languages of ``train`` and ``dev``.
        test_langs: the languages tested, each on ``test_<lang>``.
    """

    name: str
    train: str
    dev: str
    train_langs: tuple[str, ...]
    test_langs: tuple[str, ...]


def _check_codes(codes: Sequence[str], option: str) -> None:
    """Each code ISO 639-3 and listed once."""
    for code in codes:
        check_language_code(code)
    repeated = sorted({code for code in codes if list(codes).count(code) > 1})
    if repeated:
        raise ConfigError(f"{option}: {', '.join(repeated)} listed more than once")


def plan_settings(
    train: DataDir,
    dev: DataDir,
    test: DataDir,
    langs: Sequence[str] | None = None,
    held_out: Sequence[str] = (),
) -> list[Setting]:
    """The settings over ``langs``, checked against the data (see the module docstring).

    Args:
        train, dev, test: data dirs with ``utt2lang``; each must have every language.
        langs: ISO 639-3 codes to compare, in table order (default: every language of
            ``train``, sorted); at least two.
        held_out: languages (among ``langs``) left out of ``train_heldout``; none: no held-out
            setting.

    Returns:
        ``mono`` and ``zero_shot`` for each language, then ``multi``, then ``held_out``.

    Raises:
        DataError: for a code that is not ISO 639-3, a data dir without ``utt2lang``, or a
            language absent from one of the data dirs (naming it and the languages it has).
        ConfigError: for fewer than two languages, a repeated code, a held-out language not
            in ``langs``, every language held out, or the code ``all`` (it would be read as the
            multi setting's ``train_all``).
    """
    langs = list(langs) if langs is not None else train.languages()
    _check_codes(langs, "languages")
    _check_codes(held_out, "held-out languages")
    if len(langs) < 2:
        raise ConfigError(f"the settings compare languages: need at least two, got {langs}")
    if ALL in langs:
        raise ConfigError(
            f"language {ALL!r} ({language_name(ALL)}) cannot be compared: its data dirs would "
            f"be the multi setting's {data_name('train', ALL)}"
        )
    outside = [code for code in held_out if code not in langs]
    if outside:
        raise ConfigError(
            f"held-out language(s) {', '.join(outside)} not among the languages {', '.join(langs)}"
        )
    if set(held_out) == set(langs):
        raise ConfigError("every language is held out: nothing is left to train on")
    for data in (train, dev, test):
        for code in langs:
            utts_of_language(data, code)  # raises if the language is absent
    settings = []
    for code in langs:
        model = (data_name("train", code), data_name("dev", code), (code,))
        others = tuple(other for other in langs if other != code)
        settings += [Setting("mono", *model, (code,)), Setting("zero_shot", *model, others)]
    settings.append(
        Setting("multi", data_name("train", ALL), data_name("dev", ALL), tuple(langs), tuple(langs))
    )
    if held_out:
        seen = tuple(code for code in langs if code not in held_out)
        settings.append(
            Setting(
                "held_out",
                data_name("train", HELD_OUT),
                data_name("dev", HELD_OUT),
                seen,
                tuple(held_out),
            )
        )
    return settings


def _write_languages(data: DataDir, langs: Sequence[str], path: Path) -> None:
    """Write the utterances of ``data`` in ``langs`` to ``path``, sharing ``data``'s stored
    features (:func:`~speechml.data.feature_store.derive_store`)."""
    part = subset_data_dir(data, [utt for code in langs for utt in utts_of_language(data, code)])
    part.write(path)
    derive_store(data, part)


def write_settings(
    train: DataDir,
    dev: DataDir,
    test: DataDir,
    langs: Sequence[str] | None,
    held_out: Sequence[str],
    out_dir: str | Path,
) -> list[Setting]:
    """Write the data dirs of :func:`plan_settings`'s settings, ``settings.json`` and
    ``trainings.txt`` into ``out_dir`` (see the module docstring); return the settings.

    ``settings.json`` is removed first and written last: its presence means every data dir is
    complete.

    Raises:
        DataError, ConfigError: as :func:`plan_settings`, before anything is written.
    """
    settings = plan_settings(train, dev, test, langs, held_out)
    languages = next(s for s in settings if s.name == "multi").test_langs
    out_dir = Path(out_dir)
    (out_dir / SETTINGS_FILE).unlink(missing_ok=True)  # a rerun is complete only when rewritten
    tested: dict[tuple[str, str], set[str]] = {}
    for setting in settings:
        if (setting.train, setting.dev) not in tested:
            _write_languages(train, setting.train_langs, out_dir / setting.train)
            _write_languages(dev, setting.train_langs, out_dir / setting.dev)
        tested.setdefault((setting.train, setting.dev), set()).update(setting.test_langs)
    for code in languages:
        _write_languages(test, [code], out_dir / data_name("test", code))
    lines = [
        " ".join([train_dir, dev_dir, *(code for code in languages if code in codes)]) + "\n"
        for (train_dir, dev_dir), codes in tested.items()
    ]
    atomic_write_text(out_dir / TRAININGS_FILE, "".join(lines))
    record = {
        "languages": list(languages),
        "held_out": list(held_out),
        "settings": [asdict(setting) for setting in settings],
    }
    atomic_write_text(out_dir / SETTINGS_FILE, json.dumps(record, indent=2) + "\n")
    return settings
