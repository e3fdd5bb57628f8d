"""Tokenizers: one vocabulary shared by every language, with the CTC/RNN-T blank at id 0.

Two kinds, chosen by name: ``char`` (the characters of the training text, a space written as
the visible ``▁``) and ``sentencepiece`` (unigram or BPE pieces, trained with the
sentencepiece package on every character, ``character_coverage=1.0``, so that a small
language's letters are in the vocabulary). Both normalise text the same way (Unicode NFC,
runs of whitespace to one space); ``decode(encode(x)) == normalize_text(x)`` for text whose
characters are in the vocabulary, and an unknown character becomes ``unk_id`` (decoded as
``⁇``) and is counted in :attr:`Tokenizer.unknown`.

A tokenizer directory holds ``tokenizer.json`` (its kind and settings) and, for
sentencepiece, ``tokenizer.model`` beside it.

Example:
    >>> texts = ["hello world", "привет мир"]
    >>> tok = train_tokenizer(texts, "char", None, "exp/tok")
    >>> tok.decode(tok.encode("мир hello"))
    'мир hello'
    >>> load_tokenizer("exp/tok").blank_id
    0
"""

from __future__ import annotations

import io
import json
import logging
import random
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sentencepiece

from speechml.config import Registry
from speechml.data.datadir import DataDir
from speechml.errors import ConfigError, DataError, ModelError
from speechml.io import atomic_write_bytes, atomic_write_text, reading
from speechml.lang.normalize import TextNormalizer

logger = logging.getLogger(__name__)

BLANK = "<blank>"  # id 0: the CTC / RNN-T blank, never produced by encode
UNK = "<unk>"  # id 1: a character the vocabulary lacks
UNK_SURFACE = "⁇"  # what decode writes for unk
SPACE = "▁"  # a space, as a visible symbol (sentencepiece's convention)
CONFIG_FILE = "tokenizer.json"
MODEL_FILE = "tokenizer.model"
KINDS = ("char", "unigram", "bpe")  # the kinds train_tokenizer accepts


#: NFC and single spaces, as every tokenizer sees text: ``" a  b "`` -> ``"a b"``.
normalize_text = TextNormalizer(lowercase=False, remove_punctuation=False)


class Tokenizer(ABC):
    """Text <-> token ids over one multilingual vocabulary.

    Attributes:
        blank_id: 0, reserved for the CTC/RNN-T blank.
        unk_id: the id of unknown characters.
        unknown: characters (or spans) that :meth:`encode` mapped to ``unk_id``, with counts.
    """

    blank_id = 0
    unk_id = 1

    def __init__(self) -> None:
        self.unknown: Counter[str] = Counter()

    @property
    @abstractmethod
    def tokens(self) -> list[str]:
        """The vocabulary in id order (``tokens[0] == "<blank>"``)."""

    @property
    def vocab_size(self) -> int:
        """Number of ids, blank included."""
        return len(self.tokens)

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (normalised first); never contains ``blank_id``."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``; blanks are skipped, ``unk_id`` becomes ``⁇``."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """What ``tokenizer.json`` records besides the kind."""

    @abstractmethod
    def save_files(self, out_dir: Path) -> None:
        """Write the files other than ``tokenizer.json``."""

    def save(self, out_dir: str | Path) -> None:
        """Write ``out_dir/tokenizer.json`` (and the model file of the kind), atomically."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.save_files(out_dir)
        record = {"kind": KIND_OF[type(self)], "vocab_size": self.vocab_size, **self.settings()}
        text = json.dumps(record, ensure_ascii=False, indent=1)
        atomic_write_text(out_dir / CONFIG_FILE, text + "\n")


class CharTokenizer(Tokenizer):
    """One id per character; a space is the token ``▁``.

    Args:
        symbols: the vocabulary after ``<blank>`` and ``<unk>`` (characters and ``▁``).

    Example:
        >>> tok = CharTokenizer(["▁", "a", "b"])
        >>> tok.encode("ab a"), tok.decode([3, 4, 2, 3])
        ([3, 4, 2, 3], 'ab a')
    """

    def __init__(self, symbols: Sequence[str]) -> None:
        super().__init__()
        self._tokens = [BLANK, UNK, *symbols]
        if len(set(self._tokens)) != len(self._tokens):
            raise ValueError("char tokenizer symbols must be distinct")
        self._ids = {token: i for i, token in enumerate(self._tokens)}

    @property
    def tokens(self) -> list[str]:
        return list(self._tokens)

    def encode(self, text: str) -> list[int]:
        ids = []
        for char in normalize_text(text).replace(" ", SPACE):
            token_id = self._ids.get(char)
            if token_id is None:
                self.unknown[char] += 1
                token_id = self.unk_id
            ids.append(token_id)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        pieces = [UNK_SURFACE if i == self.unk_id else self._tokens[i] for i in ids if i != 0]
        return "".join(pieces).replace(SPACE, " ")

    def settings(self) -> dict[str, Any]:
        return {"tokens": self._tokens}

    def save_files(self, out_dir: Path) -> None:
        """A char tokenizer has no file besides ``tokenizer.json``."""

    @classmethod
    def from_settings(cls, settings: dict[str, Any], out_dir: Path) -> CharTokenizer:
        tokens = settings["tokens"]
        if tokens[:2] != [BLANK, UNK]:
            raise ValueError(f"tokens must start with {BLANK}, {UNK}")
        return cls(tokens[2:])


class SentencePieceTokenizer(Tokenizer):
    """Sentencepiece unigram or BPE pieces (``<blank>`` is its pad piece, id 0).

    Args:
        model_proto: the serialised sentencepiece model (the bytes of ``tokenizer.model``).
        model_type: ``"unigram"`` or ``"bpe"``, as trained (recorded in ``tokenizer.json``).
    """

    def __init__(self, model_proto: bytes, model_type: str) -> None:
        super().__init__()
        self.model_type = model_type
        self._model_proto = model_proto
        self._processor = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
        pieces = [self._processor.id_to_piece(0), self._processor.id_to_piece(1)]
        if pieces != [BLANK, UNK]:
            raise ValueError(f"ids 0 and 1 must be {BLANK} and {UNK}, got {pieces}")

    @property
    def tokens(self) -> list[str]:
        return [self._processor.id_to_piece(i) for i in range(self._processor.get_piece_size())]

    def encode(self, text: str) -> list[int]:
        proto = self._processor.encode(normalize_text(text), out_type="proto")
        for piece in proto.pieces:
            if piece.id == self.unk_id:
                self.unknown[piece.surface] += 1
        return [piece.id for piece in proto.pieces]

    def decode(self, ids: Sequence[int]) -> str:
        return self._processor.decode([int(i) for i in ids if i != 0])

    def settings(self) -> dict[str, Any]:
        return {"model_type": self.model_type, "model_file": MODEL_FILE}

    def save_files(self, out_dir: Path) -> None:
        atomic_write_bytes(out_dir / MODEL_FILE, self._model_proto)

    @classmethod
    def from_settings(cls, settings: dict[str, Any], out_dir: Path) -> SentencePieceTokenizer:
        name = settings["model_file"]
        if not isinstance(name, str) or Path(name).name != name:
            raise ValueError(f"model_file {name!r} must be a file name in {out_dir}")
        model_file = out_dir / name
        if not model_file.is_file():
            raise ModelError("sentencepiece model file not found", path=model_file)
        with reading(model_file, "sentencepiece model"):
            return cls(model_file.read_bytes(), settings["model_type"])


TOKENIZERS = Registry("tokenizer kind")
TOKENIZERS.register("char")(CharTokenizer.from_settings)
TOKENIZERS.register("sentencepiece")(SentencePieceTokenizer.from_settings)
KIND_OF: dict[type[Tokenizer], str] = {
    CharTokenizer: "char",
    SentencePieceTokenizer: "sentencepiece",
}


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """Load the tokenizer saved in ``directory`` (its ``tokenizer.json`` names the kind).

    Raises:
        ModelError: if ``tokenizer.json`` or the model file is missing or malformed (naming
            the file); ConfigError for an unknown kind.
    """
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ModelError("tokenizer file not found", path=path)
    with reading(path, "tokenizer"):
        settings = json.loads(path.read_text(encoding="utf-8"))
        loader = TOKENIZERS.get_component(settings["kind"])
        return loader(settings, path.parent)


def train_tokenizer(
    texts: Iterable[str],
    kind: str,
    vocab_size: int | None,
    out_dir: str | Path,
    character_coverage: float = 1.0,
) -> Tokenizer:
    """Train a tokenizer on ``texts`` and save it into ``out_dir``.

    Args:
        texts: training sentences (normalised with :data:`normalize_text`; empty ones skipped).
        kind: ``"char"``, ``"unigram"`` or ``"bpe"``.
        vocab_size: ids in all, blank and unk included. For ``char``, None keeps every
            character; a smaller number keeps the most frequent ones (the dropped count is
            logged). Required for ``unigram`` and ``bpe``.
        out_dir: where ``tokenizer.json`` (and ``tokenizer.model``) are written.
        character_coverage: sentencepiece's share of characters that must be single pieces;
            1.0 keeps every character of every language.

    Raises:
        ConfigError: on an unknown kind, a missing or unworkable ``vocab_size`` (with
            sentencepiece's reason), or no text.
    """
    sentences = [s for s in (normalize_text(t) for t in texts) if s]
    if not sentences:
        raise ConfigError("no training text for the tokenizer")
    if kind == "char":
        tokenizer: Tokenizer = _train_char(sentences, vocab_size)
    elif kind in ("unigram", "bpe"):
        if vocab_size is None:
            raise ConfigError(f"a {kind} tokenizer needs a vocabulary size")
        tokenizer = _train_sentencepiece(sentences, kind, vocab_size, character_coverage)
    else:
        raise ConfigError(f"unknown tokenizer kind {kind!r} (choose one of: {', '.join(KINDS)})")
    tokenizer.save(out_dir)
    return tokenizer


def _train_char(sentences: list[str], vocab_size: int | None) -> CharTokenizer:
    counts = Counter(char for sentence in sentences for char in sentence.replace(" ", SPACE))
    ranked = sorted(counts, key=lambda c: (-counts[c], c))
    if vocab_size is not None:
        if vocab_size < 3:
            raise ConfigError(f"vocab_size {vocab_size} leaves no room beside <blank> and <unk>")
        dropped = ranked[vocab_size - 2 :]
        if dropped:
            logger.warning(
                "char vocabulary of %d keeps the %d most frequent of %d characters; "
                "%d dropped (%d occurrences) will be <unk>",
                vocab_size,
                vocab_size - 2,
                len(ranked),
                len(dropped),
                sum(counts[c] for c in dropped),
            )
        ranked = ranked[: vocab_size - 2]
    return CharTokenizer(sorted(ranked))


def _train_sentencepiece(
    sentences: list[str], model_type: str, vocab_size: int, character_coverage: float
) -> SentencePieceTokenizer:
    model = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            model_type=model_type,
            vocab_size=vocab_size,
            character_coverage=character_coverage,
            pad_id=0,
            pad_piece=BLANK,
            unk_id=1,
            unk_piece=UNK,
            unk_surface=UNK_SURFACE,
            bos_id=-1,
            eos_id=-1,
            normalization_rule_name="identity",
            minloglevel=2,
        )
    except RuntimeError as err:
        raise ConfigError(f"sentencepiece cannot train a {model_type} model: {err}") from None
    return SentencePieceTokenizer(model.getvalue(), model_type)


def texts_from_data_dirs(
    data_dirs: Sequence[DataDir], balance_languages: bool = False, seed: int = 0
) -> list[str]:
    """The transcripts of ``data_dirs``, optionally balanced across languages.

    Args:
        data_dirs: data dirs with a ``text`` file (and ``utt2lang`` when balancing).
        balance_languages: repeat the sentences of every language (cycling through a shuffled
            copy) until each has as many as the largest, so pieces are learnt for all of them.
        seed: seed of the shuffles.

    Raises:
        DataError: a data dir without text, or an utterance without a language when balancing.
    """
    by_lang: dict[str, list[str]] = {}
    for data in data_dirs:
        if not data.text:
            raise DataError("data dir has no transcripts (text)", path=data.path)
        for utt, sentence in data.text.items():
            lang = data.utt2lang.get(utt) if balance_languages else ""
            if lang is None:
                where = data.path / "utt2lang" if data.path else "utt2lang"
                raise DataError("no language to balance on", where, utt=utt)
            by_lang.setdefault(lang, []).append(sentence)
    if not balance_languages:
        return by_lang[""]
    target = max(len(sentences) for sentences in by_lang.values())
    rng = random.Random(seed)
    balanced = []
    for lang in sorted(by_lang):
        sentences = list(by_lang[lang])
        rng.shuffle(sentences)
        balanced.extend(sentences[i % len(sentences)] for i in range(target))
        logger.info("language %s: %d sentences, sampled %d", lang, len(sentences), target)
    return balanced
