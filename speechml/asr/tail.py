"""The data plan of the adapter (LDA) recipe: head languages whole, the tail language scarce.

Real multilingual systems see plenty of labelled speech for head languages and little for a
tail language, most of whose audio is untranscribed. :func:`tail_split` makes that situation
from a training data dir: the base trains on every head language plus a small labelled part
of the tail language; the rest of the tail language is kept *without* transcripts for the
teacher to pseudo-label.

Example:
    >>> parts = tail_split(DataDir.read("data/train"), "kat", labelled=100)  # doctest: +SKIP
    >>> sorted(parts)  # doctest: +SKIP
    ['kat_labelled', 'kat_untranscribed', 'train_base']
"""

from __future__ import annotations

import random

from speechml.data.datadir import DataDir
from speechml.data.ops import subset_data_dir, utts_of_language
from speechml.data.table import sort_key
from speechml.errors import DataError


def tail_split(data: DataDir, lang: str, labelled: int, seed: int = 0) -> dict[str, DataDir]:
    """Split ``data`` into ``train_base``, ``<lang>_labelled`` and ``<lang>_untranscribed``.

    Args:
        data: training data with ``utt2lang`` and ``text``.
        lang: the tail language (ISO 639-3).
        labelled: tail-language utterances that keep their transcripts (chosen at random).
        seed: seed of the choice.

    Returns:
        ``train_base`` (head languages + the labelled tail part), ``<lang>_labelled`` and
        ``<lang>_untranscribed`` (the remaining tail utterances, with no ``text``).
    """
    tail = utts_of_language(data, lang)
    if not 0 < labelled < len(tail):
        raise DataError(
            f"{lang} has {len(tail)} training utterances: --labelled must be between 1 and "
            f"{len(tail) - 1}, got {labelled}",
            data.path,
        )
    chosen = set(random.Random(seed).sample(tail, labelled))
    head = [u for u in data.utts if data.utt2lang[u] != lang]
    untranscribed = subset_data_dir(data, [u for u in tail if u not in chosen])
    untranscribed.text = {}
    return {
        "train_base": subset_data_dir(data, sorted([*head, *chosen], key=sort_key)),
        f"{lang}_labelled": subset_data_dir(data, sorted(chosen, key=sort_key)),
        f"{lang}_untranscribed": untranscribed,
    }
