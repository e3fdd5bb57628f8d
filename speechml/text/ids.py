"""Language and script id maps, kept with a model that embeds them (LangSAMP).

A model with language and script embeddings numbers its languages (ISO 639-3) and scripts
(ISO 15924) once, when it is built from its training data; the numbering is saved beside the
weights (``lang_script_ids.json``) so that a reloaded model, or a later run on other data,
gives every language the row it was trained with. A text's script is detected from its
characters (:func:`speechml.lang.script.dominant_script`) unless given.

Example:
    >>> ids = LanguageScriptIds.from_data(["eng", "rus", "eng"], ["hello", "привет", "hi"])
    >>> ids.languages, ids.scripts
    (['eng', 'rus'], ['Cyrl', 'Latn'])
    >>> ids.encode(["rus"], ["мир"])
    ([1], [0])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from speechml.config import read_json
from speechml.errors import DataError, SpeechmlError
from speechml.io import atomic_write_text
from speechml.lang.languages import check_language_code
from speechml.lang.script import dominant_script, is_script_code

IDS_FILE = "lang_script_ids.json"


@dataclass(frozen=True)
class LanguageScriptIds:
    """The rows of the language and the script embeddings.

    Attributes:
        languages: ISO 639-3 codes; a language's id is its index.
        scripts: ISO 15924 codes; a script's id is its index.
    """

    languages: list[str]
    scripts: list[str]

    def __post_init__(self) -> None:
        for code in self.languages:
            check_language_code(code)
        unknown = [code for code in self.scripts if not is_script_code(code)]
        if unknown:
            raise DataError(f"not ISO 15924 script codes: {', '.join(unknown)}")
        if not self.languages or not self.scripts:
            raise DataError("a language/script id map needs a language and a script at least")

    @classmethod
    def from_data(cls, langs: Sequence[str], texts: Sequence[str]) -> LanguageScriptIds:
        """The sorted languages of ``langs`` and the sorted dominant scripts of ``texts``."""
        return cls(sorted(set(langs)), sorted({dominant_script(text) for text in texts}))

    def encode(
        self, langs: Sequence[str], texts: Sequence[str], utts: Sequence[str] | None = None
    ) -> tuple[list[int], list[int]]:
        """(language ids, script ids) of each text.

        Raises:
            DataError: naming the utterance (or item number) of a language or a script the map
                does not hold.
        """
        lang_index = {code: i for i, code in enumerate(self.languages)}
        script_index = {code: i for i, code in enumerate(self.scripts)}
        lang_ids, script_ids = [], []
        for n, (lang, text) in enumerate(zip(langs, texts, strict=True)):
            utt = utts[n] if utts is not None else f"item {n + 1}"
            script = dominant_script(text)
            if lang not in lang_index:
                known = ", ".join(self.languages)
                raise DataError(f"language {lang!r} is not one of the model's ({known})", utt=utt)
            if script not in script_index:
                known = ", ".join(self.scripts)
                raise DataError(f"script {script} is not one of the model's ({known})", utt=utt)
            lang_ids.append(lang_index[lang])
            script_ids.append(script_index[script])
        return lang_ids, script_ids

    def save(self, directory: str | Path) -> Path:
        """Write ``lang_script_ids.json`` into ``directory`` (atomically)."""
        path = Path(directory) / IDS_FILE
        text = json.dumps({"languages": self.languages, "scripts": self.scripts}, indent=1)
        atomic_write_text(path, text + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> LanguageScriptIds:
        """Read the map saved in ``directory``.

        Raises:
            SpeechmlError: if the file is missing or malformed (naming it).
        """
        path = Path(directory) / IDS_FILE
        if not path.is_file():
            raise SpeechmlError(f"{directory}: no language/script id map ({IDS_FILE} is missing)")
        data = read_json(path)
        if set(data) != {"languages", "scripts"}:
            raise SpeechmlError(f"{path}: expected the keys 'languages' and 'scripts'")
        try:
            return cls(list(data["languages"]), list(data["scripts"]))
        except DataError as err:
            raise SpeechmlError(f"{path}: {err}") from None
