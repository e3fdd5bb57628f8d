"""The cheap strong baseline of the cascade: character n-gram TF-IDF + logistic regression.

Texts are normalised as references and hypotheses are for scoring (NFC, lowercase,
punctuation removed: :class:`~speechml.lang.normalize.TextNormalizer`), turned into TF-IDF
weights of character n-grams (scikit-learn's ``TfidfVectorizer``, by default ``char_wb``
n-grams of 1 to 4 characters), and classified by a multinomial ``LogisticRegression``.

Nothing is pickled: loading a pickle runs code. A model directory holds

    ngram_config.json     NgramConfig (speechml.config.to_dict)
    vocabulary.json       {"ngrams": [n-gram of each column], "classes": [label of each row]}
    weights.safetensors   idf (F,), coef (K, F) (1 row for 2 classes), intercept (K,)

and :meth:`NgramClassifier.load` rebuilds an equivalent vectorizer and regression from them.

Example:
    >>> classifier = train_ngram("data/train", NgramConfig(ngram_range=(2, 5)))
    >>> classifier.classes  # data/train's utt2label
    ['even', 'odd']
    >>> len(classifier.predict(["hello number 3", "hello number 4"]))
    2
    >>> classifier.save("exp/cls_ngram/model")
    PosixPath('exp/cls_ngram/model')
    >>> NgramClassifier.load("exp/cls_ngram/model").classes
    ['even', 'odd']
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from safetensors.numpy import save_file
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from speechml.cls.kinds import MODEL_MARKERS
from speechml.cls.predict import read_labelled_texts
from speechml.config import from_dict, read_json, to_dict
from speechml.errors import DataError, SpeechmlError
from speechml.io import atomic_dir
from speechml.lang.normalize import TextNormalizer
from speechml.model_files import load_safetensors

logger = logging.getLogger(__name__)

CONFIG_FILE = MODEL_MARKERS["n-gram"]
VOCABULARY_FILE = "vocabulary.json"
WEIGHTS_FILE = "weights.safetensors"


@dataclass
class NgramConfig:
    """Features and regression of the n-gram classifier (YAML, ``--set`` overrides)."""

    analyzer: Literal["char_wb", "char", "word"] = "char_wb"  # char_wb: n-grams inside words
    ngram_range: tuple[int, int] = (1, 4)  # shortest and longest n-gram (characters or words)
    min_df: int = 1  # keep n-grams found in at least this many training texts
    max_features: int | None = None  # keep the most frequent n-grams only (None: all)
    sublinear_tf: bool = True  # 1 + log(count) instead of the raw count
    normalizer: TextNormalizer = field(default_factory=TextNormalizer)  # applied to every text
    inverse_regularization: float = 10.0  # LogisticRegression's C: larger fits training closer
    class_weight: Literal["balanced"] | None = None  # balanced: reweight rare classes up
    max_iter: int = 1000  # iterations of the LBFGS solver

    def __post_init__(self) -> None:
        low, high = self.ngram_range
        if not 1 <= low <= high:
            raise ValueError(f"ngram_range must have 1 <= low <= high, got ({low}, {high})")
        if self.min_df < 1 or self.max_iter < 1 or self.inverse_regularization <= 0:
            raise ValueError("min_df and max_iter must be >= 1 and inverse_regularization > 0")
        if self.max_features is not None and self.max_features < 1:
            raise ValueError("max_features must be >= 1 (or None for all)")


def make_vectorizer(
    config: NgramConfig, vocabulary: Sequence[str] | None = None
) -> TfidfVectorizer:
    """The TF-IDF vectorizer of ``config``; with ``vocabulary``, its columns are fixed."""
    return TfidfVectorizer(
        analyzer=config.analyzer,
        ngram_range=config.ngram_range,
        min_df=config.min_df,
        max_features=config.max_features,
        sublinear_tf=config.sublinear_tf,
        preprocessor=config.normalizer,
        lowercase=False,  # the normaliser's job
        vocabulary=vocabulary,
    )


class NgramClassifier:
    """A fitted TF-IDF vectorizer and logistic regression, used as ``predict(texts)``.

    Args:
        config: the settings it was built with.
        vectorizer: fitted (or given its vocabulary and ``idf_``).
        regression: fitted (or given ``classes_``, ``coef_`` and ``intercept_``).
    """

    def __init__(
        self, config: NgramConfig, vectorizer: TfidfVectorizer, regression: LogisticRegression
    ) -> None:
        self.config = config
        self.vectorizer = vectorizer
        self.regression = regression

    @property
    def classes(self) -> list[str]:
        """The labels, in the order of :meth:`predict_proba`'s columns."""
        return [str(label) for label in self.regression.classes_]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape ``(len(texts), len(classes))``, rows summing to 1."""
        return self.regression.predict_proba(self.vectorizer.transform(texts))

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most probable label of each text."""
        return [str(label) for label in self.regression.predict(self.vectorizer.transform(texts))]

    def save(self, directory: str | Path) -> Path:
        """Write the model directory (JSON + safetensors, no pickle), replacing it whole."""
        directory = Path(directory)
        terms = sorted(self.vectorizer.vocabulary_, key=self.vectorizer.vocabulary_.__getitem__)
        vocabulary = {"ngrams": terms, "classes": self.classes}
        weights = {
            "idf": self.vectorizer.idf_,
            "coef": self.regression.coef_,
            "intercept": self.regression.intercept_,
        }
        with atomic_dir(directory) as tmp:
            config_text = json.dumps(to_dict(self.config), indent=1)
            (tmp / CONFIG_FILE).write_text(config_text + "\n", encoding="utf-8")
            vocabulary_text = json.dumps(vocabulary, ensure_ascii=False)
            (tmp / VOCABULARY_FILE).write_text(vocabulary_text + "\n", encoding="utf-8")
            save_file({k: np.ascontiguousarray(v) for k, v in weights.items()}, tmp / WEIGHTS_FILE)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> NgramClassifier:
        """Rebuild the classifier saved in ``directory``; its predictions equal the original's.

        Raises:
            SpeechmlError: if a file is missing or malformed, or the arrays do not fit the
                vocabulary and classes (naming the file).
        """
        directory = Path(directory)
        for name in (CONFIG_FILE, VOCABULARY_FILE, WEIGHTS_FILE):
            if not (directory / name).is_file():
                raise SpeechmlError(f"{directory}: not an n-gram classifier ({name} is missing)")
        config_path = directory / CONFIG_FILE
        config = from_dict(NgramConfig, read_json(config_path), str(config_path))
        ngrams, classes = _read_vocabulary(directory / VOCABULARY_FILE)
        weights_path = directory / WEIGHTS_FILE
        weights = load_safetensors(weights_path, framework="numpy")
        _check_shapes(weights, len(ngrams), len(classes), weights_path)
        vectorizer = make_vectorizer(config, ngrams)
        vectorizer.idf_ = weights["idf"]
        regression = LogisticRegression()
        regression.classes_ = np.array(classes)
        regression.coef_ = weights["coef"]
        regression.intercept_ = weights["intercept"]
        return cls(config, vectorizer, regression)


def _read_vocabulary(path: Path) -> tuple[list[str], list[str]]:
    """The n-grams (distinct) and the classes (at least 2, distinct) of ``vocabulary.json``."""
    data = read_json(path)
    ngrams, classes = data.get("ngrams"), data.get("classes")
    for name, values, least in (("ngrams", ngrams, 1), ("classes", classes, 2)):
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SpeechmlError(f"{path}: {name!r} must be a list of strings")
        if len(set(values)) != len(values) or len(values) < least:
            raise SpeechmlError(f"{path}: {name!r} must hold {least} or more distinct strings")
    return ngrams, classes


def _check_shapes(
    weights: dict[str, np.ndarray], num_ngrams: int, num_classes: int, path: Path
) -> None:
    """Check that the arrays fit ``num_ngrams`` columns and ``num_classes`` labels."""
    rows = 1 if num_classes == 2 else num_classes  # scikit-learn keeps 1 row for 2 classes
    expected = {"idf": (num_ngrams,), "coef": (rows, num_ngrams), "intercept": (rows,)}
    for name, shape in expected.items():
        found = weights.get(name)
        if found is None or found.shape != shape:
            got = "missing" if found is None else f"shape {found.shape}"
            raise SpeechmlError(
                f"{path}: {name!r} should have shape {shape} for {num_ngrams} n-grams and "
                f"{num_classes} classes, got {got}"
            )


def train_ngram(
    train_dir: str | Path,
    config: NgramConfig | None = None,
    text_source: str | Path | None = None,
) -> NgramClassifier:
    """Fit the n-gram classifier on a data dir's texts and ``utt2label``.

    Args:
        train_dir: data dir with ``utt2label`` (and ``text``).
        config: features and regression; None for the defaults.
        text_source: train on other texts of the same utterances, e.g. ASR hypotheses of the
            training set (a decode dir, ``.trn`` file or ``text`` table; see
            :func:`speechml.cls.predict.read_texts`).

    Raises:
        DataError: if labels are missing, fewer than two classes occur, or no n-gram is left.
    """
    config = config or NgramConfig()
    texts, labels = read_labelled_texts(train_dir, text_source)
    vectorizer = make_vectorizer(config)
    try:
        features = vectorizer.fit_transform(texts)
    except ValueError as err:  # e.g. "empty vocabulary" when every text is empty
        raise DataError(f"no n-gram to learn from: {err}", text_source or train_dir) from None
    regression = LogisticRegression(
        C=config.inverse_regularization,
        class_weight=config.class_weight,
        max_iter=config.max_iter,
    )
    regression.fit(features, labels)
    logger.info(
        "n-gram classifier: %d texts, %d n-grams, %d classes",
        len(texts),
        features.shape[1],
        len(regression.classes_),
    )
    return NgramClassifier(config, vectorizer, regression)
