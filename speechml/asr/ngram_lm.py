"""An n-gram language model over a recogniser's tokens, for shallow fusion in beam search.

The model is interpolated Kneser-Ney with one discount an order (``D = n1 / (n1 + 2 n2)``,
from the counts of n-grams seen once and twice). The highest order, and n-grams that start at
the sentence start, count occurrences; lower orders count the distinct tokens seen before them;
the lowest order is interpolated with a uniform distribution. Every token therefore has a
probability, and those of one context sum to 1 over the tokens and the end of sentence.

LM ids are the tokenizer's ids, with two additions: id 0 (the blank, never in text) stands for
the sentence start ``<s>`` in contexts, and id ``vocab_size`` is the end of sentence ``</s>``.
Word boundaries are what the tokenizer makes of spaces (``▁`` tokens or pieces).

An LM dir holds one LM for every language, or one LM a language (the decoder picks each
utterance's by its ``utt2lang``)::

    lm.json                 format, tokenizer fingerprint, and each LM's language, file, order
    shared.safetensors      the LM of every language, or
    <lang>.safetensors      one LM a language: grams_K (N, K) int32 and counts_K (N,) int64
    <lang>.arpa             optional ARPA export (``write_arpa``), for other tools

Example:
    >>> lm = train_ngram_lm([[3, 4, 2, 3], [3, 4]], order=3, vocab_size=5)
    >>> round(float(lm.probs(lm.context([3])).sum()), 6)
    1.0
    >>> int(lm.probs(lm.context([3])).argmax())
    4
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from speechml.config import read_json
from speechml.data.datadir import DataDir
from speechml.data.tokenizer import Tokenizer
from speechml.errors import ConfigError, DataError
from speechml.io import atomic_path, atomic_write_text

logger = logging.getLogger(__name__)

BOS = 0  # the sentence start in contexts (the blank's id)
LM_INDEX = "lm.json"
LM_FORMAT = "speechml-ngram-lm"
SHARED = "shared"  # file stem of the one LM of every language
_LANGUAGE_CODE = re.compile(r"^[A-Za-z0-9_-]+$")  # a language code is also a file stem
_CACHE_SIZE = 20_000  # distributions kept per LM before the cache is cleared


_Span = tuple[int, int, float]  # start, end, gamma = D * distinct tokens / total count


@dataclass
class _Order:
    """The n-grams of one order grouped by context, with what each adds to the probabilities.

    The n-grams of ``context`` are rows ``start:end`` of ``words`` and ``shares``: its
    probabilities are ``gamma * P_lower`` plus ``shares`` at ``words``.
    """

    words: np.ndarray  # (N,) the last id of each n-gram
    shares: np.ndarray  # (N,) (count - D) / total count of the context
    contexts: dict[tuple[int, ...], _Span]  # context -> its rows and gamma


def _discount(counts: np.ndarray) -> float:
    """Ney's discount ``n1 / (n1 + 2 n2)`` of one order (in (0, 1]); 0.5 when n1 is 0."""
    n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
    return n1 / (n1 + 2 * n2) if n1 else 0.5


class NgramLm:
    """Interpolated Kneser-Ney n-gram LM over ids ``1 .. vocab_size - 1`` and ``</s>``.

    Args:
        vocab_size: the tokenizer's vocabulary size (blank included); ``</s>`` is this id.
        levels: for each order ``K = 1 .. N``, the n-grams ``(M, K)`` and their Kneser-Ney
            counts ``(M,)`` (as :func:`train_ngram_lm` makes them).
    """

    def __init__(self, vocab_size: int, levels: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        self.vocab_size = vocab_size
        self.eos = vocab_size
        self.levels = [
            (grams.astype(np.int32), counts.astype(np.int64)) for grams, counts in levels
        ]
        self.order = len(self.levels)
        self.discounts = [_discount(counts) for _, counts in self.levels]
        self._orders = [self._group(k) for k in range(1, self.order + 1)]
        self._uniform = np.full(vocab_size + 1, 1.0 / vocab_size)
        self._uniform[BOS] = 0.0
        self._probs: dict[tuple[int, ...], np.ndarray] = {}
        self._log_probs: dict[tuple[int, ...], np.ndarray] = {}

    def _group(self, k: int) -> _Order:
        """The n-grams of order ``k`` grouped by their context (``k - 1`` ids)."""
        grams, counts = self.levels[k - 1]
        order = np.lexsort(grams.T[::-1])
        grams, counts = grams[order], counts[order]
        history = grams[:, :-1]
        changed = np.any(history[1:] != history[:-1], axis=1)
        starts = np.flatnonzero(np.concatenate([[len(grams) > 0], changed]))
        ends = np.append(starts[1:], len(grams))
        totals = np.add.reduceat(counts, starts) if len(grams) else counts
        discount = self.discounts[k - 1]
        shares = (counts - discount) / np.repeat(totals, ends - starts)
        gammas = discount * (ends - starts) / totals
        keys = map(tuple, history[starts].tolist())
        spans = zip(starts.tolist(), ends.tolist(), gammas.tolist(), strict=True)
        return _Order(grams[:, -1], shares, dict(zip(keys, spans, strict=True)))

    def context(self, tokens: Sequence[int]) -> tuple[int, ...]:
        """The LM's context after ``tokens``: the last ``order - 1`` ids of ``<s>`` + tokens."""
        history = (BOS, *tokens)
        return tuple(history[max(0, len(history) - self.order + 1) :])

    def probs(self, context: tuple[int, ...]) -> np.ndarray:
        """``P(w | context)`` for every id ``w`` (``vocab_size + 1``; ``</s>`` last, 0 at 0);
        read-only (cached)."""
        cached = self._probs.get(context)
        if cached is not None:
            return cached
        lower = self.probs(context[1:]) if context else self._uniform
        level = self._orders[len(context)] if len(context) < self.order else None
        span = level.contexts.get(context) if level else None
        if span is None:
            probs = lower
        else:
            start, end, gamma = span
            probs = lower * gamma
            probs[level.words[start:end]] += level.shares[start:end]
        probs.flags.writeable = False  # shared by the cache and the contexts that back off
        if len(self._probs) >= _CACHE_SIZE:
            self._probs.clear()
        self._probs[context] = probs
        return probs

    def log_probs(self, context: tuple[int, ...]) -> np.ndarray:
        """Natural-log :meth:`probs` (``-inf`` at id 0), float32."""
        cached = self._log_probs.get(context)
        if cached is None:
            with np.errstate(divide="ignore"):
                cached = np.log(self.probs(context)).astype(np.float32)
            cached.flags.writeable = False
            if len(self._log_probs) >= _CACHE_SIZE:
                self._log_probs.clear()
            self._log_probs[context] = cached
        return cached

    def sentence_log_prob(self, tokens: Sequence[int]) -> float:
        """Natural-log probability of ``tokens`` followed by ``</s>``."""
        total = 0.0
        for i, token in enumerate([*tokens, self.eos]):
            total += math.log(self.probs(self.context(tokens[:i]))[token])
        return total

    def save(self, path: str | Path) -> None:
        """Write the n-grams and counts to ``path`` (safetensors), atomically."""
        tensors = {}
        for k, (grams, counts) in enumerate(self.levels, 1):
            tensors[f"grams_{k}"] = np.ascontiguousarray(grams)
            tensors[f"counts_{k}"] = np.ascontiguousarray(counts)
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp))

    @classmethod
    def load(cls, path: str | Path, vocab_size: int, order: int) -> NgramLm:
        """Read an LM written by :meth:`save`, checked to be one of ``order`` over ``vocab_size``.

        Raises:
            DataError: unreadable, or n-grams of another shape, ids out of range, ``<s>``
                elsewhere than first, ``</s>`` elsewhere than last, repeated n-grams, counts < 1.
        """
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError) as err:
            raise DataError(f"unreadable LM file: {err}", path=path) from None
        levels = []
        for k in range(1, order + 1):
            grams, counts = tensors.get(f"grams_{k}"), tensors.get(f"counts_{k}")
            if grams is None or counts is None:
                raise DataError(f"no grams_{k} or counts_{k} (order {order})", path=path)
            problem = _level_problem(grams, counts, k, vocab_size)
            if problem:
                raise DataError(f"grams_{k}: {problem}", path=path)
            levels.append((grams, counts))
        return cls(vocab_size, levels)

    def write_arpa(self, path: str | Path, token_names: Sequence[str]) -> None:
        """Write the LM in ARPA format (log10; backoff weights are the interpolation weights).

        ``token_names`` are the tokenizer's tokens in id order; id 0 is written ``<s>``.
        """
        names = ["<s>", *token_names[1 : self.vocab_size], "</s>"]
        if len(names) != self.vocab_size + 1 or any(not n or n.split() != [n] for n in names):
            raise ConfigError("ARPA needs one token name an id, without white space")
        sections = []
        for k in range(1, self.order + 1):
            grams = self.levels[k - 1][0].tolist()
            if k == 1:
                grams = [[BOS], *([w] for w in range(1, self.vocab_size + 1))]
            lines = []
            for gram in grams:
                prob = self.probs(tuple(gram[:-1]))[gram[-1]]
                text = "-99" if gram == [BOS] else f"{math.log10(prob):.6f}"
                line = f"{text}\t{' '.join(names[i] for i in gram)}"
                span = self._orders[k].contexts.get(tuple(gram)) if k < self.order else None
                lines.append(line + (f"\t{math.log10(span[2]):.6f}" if span else ""))
            sections.append((k, lines))
        head = ["\\data\\", *(f"ngram {k}={len(lines)}" for k, lines in sections), ""]
        body = [f"\\{k}-grams:\n" + "\n".join(lines) + "\n" for k, lines in sections]
        atomic_write_text(path, "\n".join(head) + "\n" + "\n".join(body) + "\n\\end\\\n")


def _level_problem(grams: np.ndarray, counts: np.ndarray, k: int, vocab_size: int) -> str:
    """What is wrong with the n-grams of order ``k``, or ``""``."""
    if grams.ndim != 2 or grams.shape[1] != k or counts.shape != (len(grams),):
        return f"shapes {grams.shape} and {counts.shape}, expected (N, {k}) and (N,)"
    if not (np.issubdtype(grams.dtype, np.integer) and np.issubdtype(counts.dtype, np.integer)):
        return "ids and counts must be integers"
    if len(grams) and (grams.min() < 0 or grams.max() > vocab_size):
        return f"ids outside 0..{vocab_size}"
    if (grams[:, 1:] == BOS).any() or (grams[:, -1] == BOS).any():
        return "<s> is only first in an n-gram, never the token predicted"
    if (grams[:, :-1] == vocab_size).any():
        return "</s> is only last in an n-gram"
    if len(np.unique(grams, axis=0)) != len(grams):
        return "repeated n-grams"
    if len(counts) and counts.min() < 1:
        return "counts must be at least 1"
    return ""


def train_ngram_lm(sentences: Iterable[Sequence[int]], order: int, vocab_size: int) -> NgramLm:
    """Count the n-grams of tokenised sentences into an interpolated Kneser-Ney LM.

    Args:
        sentences: token ids of each sentence (no blank); empty ones are skipped.
        order: the longest n-gram (e.g. 6 for characters, 3 or 4 for word pieces).
        vocab_size: the tokenizer's vocabulary size.

    Raises:
        ConfigError: an order below 1, or no sentence.
    """
    if order < 1:
        raise ConfigError(f"the LM order must be at least 1, got {order}")
    longest: Counter[tuple[int, ...]] = Counter()  # the longest n-gram at each position
    for ids in sentences:
        if not ids:
            continue
        if min(ids) <= BOS or max(ids) >= vocab_size:
            raise ConfigError(f"token ids must be in 1..{vocab_size - 1}")
        history = (BOS, *ids, vocab_size)
        for i in range(1, len(history)):
            longest[history[max(0, i - order + 1) : i + 1]] += 1
    if not longest:
        raise ConfigError("no text to train the LM on")
    counts: list[dict[tuple[int, ...], int]] = [{} for _ in range(order)]
    for gram, count in longest.items():
        counts[len(gram) - 1][gram] = count
    for k in range(order - 1, 0, -1):  # order k from the distinct tokens before it in k + 1
        lower = counts[k - 1]
        for gram in counts[k]:
            lower[gram[1:]] = lower.get(gram[1:], 0) + 1
    levels = [
        (np.array(list(level), dtype=np.int32).reshape(-1, k), np.array(list(level.values())))
        for k, level in enumerate(counts, 1)
    ]
    return NgramLm(vocab_size, levels)


def tokenizer_fingerprint(tokenizer: Tokenizer) -> str:
    """A short hash of the tokenizer's vocabulary: an LM is only valid with the same ids."""
    return hashlib.sha256("\n".join(tokenizer.tokens).encode("utf-8")).hexdigest()[:16]


def read_text_lines(path: str | Path) -> list[str]:
    """The non-empty lines of a UTF-8 text file (one sentence a line).

    Raises:
        DataError: a missing file, or a line that is not UTF-8 (named by its number).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("text file not found", path=path)
    lines = []
    for number, raw in enumerate(path.read_bytes().splitlines(), 1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise DataError("not UTF-8 text", path=path, line=number) from None
        if line:
            lines.append(line)
    return lines


def lm_texts(
    data_dirs: Sequence[DataDir] = (),
    text_files: Sequence[str | Path] = (),
    lang: str | None = None,
    per_language: bool = False,
) -> dict[str | None, list[str]]:
    """The sentences of each LM to train: language -> sentences (``None``: a shared LM).

    Args:
        data_dirs: data dirs whose ``text`` is used.
        text_files: plain text files, one sentence a line.
        lang: every sentence is of this language (one LM of ``lang``).
        per_language: split the data dirs' sentences by ``utt2lang`` (one LM a language).

    Raises:
        ConfigError: both ``lang`` and ``per_language``, text files with ``per_language``, or
            no source. DataError: a data dir without text, an utterance without a language.
    """
    if lang is not None and per_language:
        raise ConfigError("give a language or split by utt2lang, not both")
    if per_language and text_files:
        raise ConfigError("text files have no utt2lang: give their language (--lang)")
    if not data_dirs and not text_files:
        raise ConfigError("no text for the LM: give data dirs or text files")
    if lang is not None:
        _file_name(lang)  # a usable language code
    by_lang: dict[str | None, list[str]] = {}
    for data in data_dirs:
        if not data.text:
            raise DataError("data dir has no transcripts (text)", path=data.path)
        for utt, sentence in data.text.items():
            key = lang
            if per_language:
                key = data.utt2lang.get(utt)
                if key is None:
                    where = data.path / "utt2lang" if data.path else "utt2lang"
                    raise DataError("no language for the per-language LMs", where, utt=utt)
            by_lang.setdefault(key, []).append(sentence)
    for path in text_files:
        by_lang.setdefault(lang, []).extend(read_text_lines(path))
    return by_lang


@dataclass
class LmDir:
    """The LMs of an LM dir: one shared (key ``None``) or one a language.

    Example:
        >>> from speechml.data.tokenizer import load_tokenizer
        >>> texts = lm_texts([DataDir.read("data/train")], per_language=True)
        >>> _ = train_lm_dir(load_tokenizer("data/lang_char"), texts, 3, "data/lm_char")
        >>> lms = LmDir.load("data/lm_char")
        >>> lms.languages
        ['eng', 'kat']
        >>> lms.for_language("kat")
        <speechml.asr.ngram_lm.NgramLm object at ...>
    """

    path: Path
    fingerprint: str  # tokenizer_fingerprint of the tokenizer the LMs were trained with
    lms: dict[str | None, NgramLm] = field(default_factory=dict)

    def for_language(self, lang: str | None) -> NgramLm | None:
        """The LM of an utterance of ``lang``: the shared LM, else ``lang``'s, else None."""
        return self.lms.get(None) or self.lms.get(lang)

    @property
    def languages(self) -> list[str]:
        """The languages with an LM of their own (empty for a shared LM)."""
        return sorted(lang for lang in self.lms if lang is not None)

    @classmethod
    def load(cls, directory: str | Path) -> LmDir:
        """Read the LMs of ``directory`` (``lm.json`` and the safetensors files it names).

        Raises:
            ConfigError: no ``lm.json`` or not JSON. DataError: a malformed index or LM file.
        """
        directory = Path(directory)
        index_path = directory / LM_INDEX
        index = read_json(index_path)
        try:
            if index["format"] != LM_FORMAT or index["version"] != 1:
                raise ValueError(f"not a {LM_FORMAT} version 1 index")
            fingerprint, vocab_size = str(index["tokenizer"]), int(index["vocab_size"])
            entries = [(m["language"], m["file"], int(m["order"])) for m in index["models"]]
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"malformed LM index: {err!r}", path=index_path) from None
        lms: dict[str | None, NgramLm] = {}
        for lang, name, order in entries:
            try:
                expected = _file_name(lang)
            except ConfigError as err:
                raise DataError(str(err), path=index_path) from None
            if name != expected or order < 1:
                raise DataError(f"bad LM entry {lang!r}: {name!r}, order {order}", index_path)
            lms[lang] = NgramLm.load(directory / name, vocab_size, order)
        if not lms or (None in lms and len(lms) > 1):
            raise DataError("an LM dir holds one shared LM or LMs by language", index_path)
        return cls(directory, fingerprint, lms)


def _file_name(lang: str | None) -> str:
    """The LM file of ``lang`` (``None``: the shared LM); a language code must be a plain word."""
    if lang is None:
        return f"{SHARED}.safetensors"
    if not isinstance(lang, str) or not _LANGUAGE_CODE.match(lang) or lang == SHARED:
        raise ConfigError(f"language code {lang!r} must be letters, digits, '-' or '_'")
    return f"{lang}.safetensors"


def _entry(lang: str | None, lm: NgramLm) -> dict[str, object]:
    """The index entry of ``lang``'s LM."""
    return {"language": lang, "file": _file_name(lang), "order": lm.order}


def save_lms(
    directory: str | Path,
    tokenizer: Tokenizer,
    lms: dict[str | None, NgramLm],
    arpa: bool = False,
) -> LmDir:
    """Write ``lms`` into an LM dir, beside the LMs of other languages it already holds.

    An LM of a language already there is replaced. A shared LM and LMs by language never
    share a dir; nor do LMs of different tokenizers.

    Args:
        directory: the LM dir (created if missing).
        tokenizer: the tokenizer the LMs were trained with.
        lms: language (``None``: shared) -> LM.
        arpa: also write ``<lang>.arpa`` (or ``shared.arpa``).

    Raises:
        ConfigError: the dir holds LMs of another tokenizer or of the other kind.
    """
    directory = Path(directory)
    fingerprint = tokenizer_fingerprint(tokenizer)
    models: dict[str | None, dict] = {}
    if (directory / LM_INDEX).is_file():
        old = LmDir.load(directory)
        if old.fingerprint != fingerprint:
            raise ConfigError(f"{directory}: holds LMs of another tokenizer")
        if (None in old.lms) != (None in lms):
            raise ConfigError(f"{directory}: a shared LM and LMs by language cannot share a dir")
        models = {lang: _entry(lang, lm) for lang, lm in old.lms.items()}
    for lang, lm in lms.items():
        name = _file_name(lang)
        lm.save(directory / name)
        if arpa:
            lm.write_arpa(directory / name.replace(".safetensors", ".arpa"), tokenizer.tokens)
        models[lang] = _entry(lang, lm)
    index = {
        "format": LM_FORMAT,
        "version": 1,
        "tokenizer": fingerprint,
        "vocab_size": tokenizer.vocab_size,
        "models": sorted(models.values(), key=lambda m: m["language"] or ""),
    }
    atomic_write_text(directory / LM_INDEX, json.dumps(index, ensure_ascii=False, indent=1) + "\n")
    return LmDir.load(directory)


def train_lm_dir(
    tokenizer: Tokenizer,
    texts: dict[str | None, list[str]],
    order: int,
    out_dir: str | Path,
    arpa: bool = False,
) -> LmDir:
    """Tokenise each language's sentences, train one LM each, and save them into ``out_dir``.

    Args:
        tokenizer: the recogniser's tokenizer (its ids are the LM's).
        texts: language (``None``: shared) -> sentences, as :func:`lm_texts` gives them.
        order: n-gram order of every LM.
        out_dir: the LM dir.
        arpa: also write ARPA files.
    """
    lms = {}
    for lang, sentences in texts.items():
        tokenizer.unknown.clear()
        encoded = [tokenizer.encode(sentence) for sentence in sentences]
        if tokenizer.unknown:
            common = ", ".join(repr(c) for c, _ in tokenizer.unknown.most_common(5))
            logger.warning(
                "LM %s: %d characters unknown to the tokenizer (%s) count as <unk>",
                lang or SHARED,
                sum(tokenizer.unknown.values()),
                common,
            )
        lms[lang] = train_ngram_lm(encoded, order, tokenizer.vocab_size)
        logger.info(
            "LM %s: order %d, %d sentences, %d tokens, %s n-grams",
            lang or SHARED,
            order,
            len(encoded),
            sum(len(ids) for ids in encoded),
            "/".join(str(len(grams)) for grams, _ in lms[lang].levels),
        )
    return save_lms(out_dir, tokenizer, lms, arpa)
