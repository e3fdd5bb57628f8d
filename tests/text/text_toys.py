"""Small multilingual texts (babel's month and weekday names) and tiny text-model configs."""

from __future__ import annotations

import random

from babel import Locale

from speechml.text.encoder import TextModelConfig
from speechml.text.pretrain import TextPretrainConfig
from speechml.train.trainer import TrainConfig

LOCALES = {"eng": "en", "rus": "ru", "spa": "es", "kat": "ka"}


def names(lang: str) -> dict[str, list[str]]:
    """class -> lowercase month or weekday names of ``lang``."""
    locale = Locale.parse(LOCALES[lang])
    return {
        "month": [m.lower() for m in locale.months["stand-alone"]["wide"].values()],
        "weekday": [d.lower() for d in locale.days["stand-alone"]["wide"].values()],
    }


def phrases(
    langs: list[str], per_lang: int, seed: int = 0
) -> tuple[list[str], list[str], list[str]]:
    """(texts, languages, labels): ``per_lang`` two-name phrases of one class each."""
    rng = random.Random(seed)
    texts, out_langs, labels = [], [], []
    for lang in langs:
        classes = names(lang)
        for i in range(per_lang):
            label = sorted(classes)[i % 2]
            texts.append(" ".join(rng.sample(classes[label], 2)))
            out_langs.append(lang)
            labels.append(label)
    return texts, out_langs, labels


def tiny_pretrain(objective: str, max_steps: int = 30, lr: float = 3e-3) -> TextPretrainConfig:
    """A model and batches small enough for a few seconds of training."""
    return TextPretrainConfig(
        objective=objective,
        model=TextModelConfig(hidden_size=32, num_heads=2, intermediate_size=64, vocab_size=150),
        max_length=16,
        valid_texts=20,
        train=TrainConfig(
            max_steps=max_steps,
            lr=lr,
            warmup_steps=5,
            max_batch_seconds=None,
            max_batch_size=16,
            num_buckets=1,
            log_every=10,
            valid_every=max_steps,
        ),
    )


def month_runs(langs: list[str], repeats: int = 5) -> tuple[list[str], list[str]]:
    """(texts, languages): three consecutive months from each month on, ``repeats`` times.

    A masked month is predictable from its neighbours: a language model learns these fast.
    """
    texts, out_langs = [], []
    for lang in langs:
        months = names(lang)["month"]
        for i in range(len(months)):
            texts.append(" ".join(months[(i + k) % len(months)] for k in range(3)))
            out_langs.append(lang)
    return texts * repeats, out_langs * repeats
