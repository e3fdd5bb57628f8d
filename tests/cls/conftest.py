"""Fixtures of the text-classifier tests: labelled data dirs and a toy two-script task.

``labelled_dir(name, examples)`` writes a data dir ``tmp_path/name`` whose utterance
``utt{i:03d}`` has the text and label ``examples[i]`` (audio paths are never read);
``labelled_dir_writer(root, name, examples)`` does so under any ``root``.

``names(locale, label)`` gives the names of one class in one babel locale: ``month`` (12),
``weekday`` (7) or ``country`` (12 country names). ``name_pairs(labels, step=1, form="{} {}",
seen=9)`` gives (text, label) examples in English and Russian (two scripts, Latin and
Cyrillic): for each locale and label, the first ``seen`` names ``n`` give the texts
``form.format(n[i], n[(i + step) % seen])``; names after the first ``seen`` never occur.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from babel import Locale

from speechml.data.datadir import DataDir


def _write_labelled_dir(root: Path, name: str, examples: Sequence[tuple[str, str]]) -> Path:
    path = root / name
    utts = [f"utt{i:03d}" for i in range(len(examples))]
    DataDir(
        wav_scp={utt: f"/unused/{utt}.wav" for utt in utts},
        utt2spk={utt: utt for utt in utts},
        text={utt: text for utt, (text, _) in zip(utts, examples, strict=True)},
        utt2label={utt: label for utt, (_, label) in zip(utts, examples, strict=True)},
    ).write(path)
    return path


@pytest.fixture
def labelled_dir(tmp_path: Path) -> Callable[[str, Sequence[tuple[str, str]]], Path]:
    """``labelled_dir(name, [(text, label), ...]) -> path`` (see the module docstring)."""
    return functools.partial(_write_labelled_dir, tmp_path)


@pytest.fixture(scope="session")
def labelled_dir_writer() -> Callable[[Path, str, Sequence[tuple[str, str]]], Path]:
    """``labelled_dir_writer(root, name, examples)``, for module-scoped fixtures."""
    return _write_labelled_dir


@functools.cache
def _names(locale: str, label: str) -> tuple[str, ...]:
    parsed = Locale.parse(locale)
    if label == "month":
        return tuple(parsed.months["stand-alone"]["wide"].values())
    if label == "weekday":
        return tuple(parsed.days["stand-alone"]["wide"].values())
    countries = sorted(
        n for code, n in parsed.territories.items() if n.isalpha() and code.isalpha()
    )
    return tuple(countries[:36:3])


def _name_pairs(
    labels: Sequence[str] = ("month", "country"), step: int = 1, form: str = "{} {}", seen: int = 9
) -> list[tuple[str, str]]:
    out = []
    for locale in ("en", "ru"):
        for label in labels:
            items = _names(locale, label)[:seen]
            out += [
                (form.format(a, items[(i + step) % len(items)]), label) for i, a in enumerate(items)
            ]
    return out


@pytest.fixture(scope="session")
def names() -> Callable[[str, str], tuple[str, ...]]:
    """``names(locale, label)``: the names of a class (see the module docstring)."""
    return _names


@pytest.fixture(scope="session")
def name_pairs() -> Callable[..., list[tuple[str, str]]]:
    """``name_pairs(labels, step, form, seen)``: (text, label) examples (module docstring)."""
    return _name_pairs
