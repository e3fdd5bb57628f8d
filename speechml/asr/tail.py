"""The data plan of the adapter (LDA) recipe: head languages whole, tail languages scarce.

Real multilingual systems see plenty of labelled speech for head languages and little for each
tail language, most of whose audio is untranscribed. :func:`tail_split` makes that situation
from a training data dir: the base trains on every head language plus a small labelled part
of each tail language (its own size each, so that the languages peak at different times); the
rest of each tail language is kept *without* transcripts for the teacher to pseudo-label. An
up-sampling factor repeats the labelled tail utterances in the base's training data, so that
the base sees them more often than their share.

Example:
    >>> parts = tail_split(DataDir.read("data/train"), {"kat": 2}, upsample=2)
    >>> sorted(parts)
    ['kat_labelled', 'kat_untranscribed', 'train_base']
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from speechml.data.datadir import DataDir
from speechml.data.ops import combine_data_dirs, subset_data_dir, utts_of_language
from speechml.errors import ConfigError, DataError


def upsampled_copy(data: DataDir, copy: int) -> DataDir:
    """The ``copy``-th occurrence (2, 3...) of every utterance of ``data``: ids ``up<copy>-<utt>``.

    A copy has speaker ``up<copy>-<spk>`` (so speakers still sort like their utterances, as
    Kaldi wants) and the same text, language, label, duration and audio: its ``wav.scp`` entry
    (or its ``segments`` line, when there are segments) names the same file.

    Example:
        >>> d = DataDir(wav_scp={"s1-u": "/a/u.wav"}, text={"s1-u": "hi"}, utt2spk={"s1-u": "s1"})
        >>> c = upsampled_copy(d, 2)
        >>> c.utt2spk, c.wav_scp
        ({'up2-s1-u': 'up2-s1'}, {'up2-s1-u': '/a/u.wav'})
    """
    prefix = f"up{copy}-"
    wav_scp = data.wav_scp if data.segments else {prefix + r: w for r, w in data.wav_scp.items()}
    return DataDir(
        wav_scp=dict(wav_scp),
        text={prefix + u: text for u, text in data.text.items()},
        utt2spk={prefix + u: prefix + spk for u, spk in data.utt2spk.items()},
        utt2lang={prefix + u: lang for u, lang in data.utt2lang.items()},
        utt2dur={prefix + u: seconds for u, seconds in data.utt2dur.items()},
        utt2label={prefix + u: label for u, label in data.utt2label.items()},
        segments={prefix + u: segment for u, segment in data.segments.items()},
    )


def tail_split(
    data: DataDir, labelled: Mapping[str, int], upsample: int = 1, seed: int = 0
) -> dict[str, DataDir]:
    """Split ``data`` into ``train_base`` and, for each tail language, its labelled and
    untranscribed parts.

    Each language's labelled utterances are drawn as if it were the only tail language (with
    ``random.Random(seed)``), so adding or resizing another tail language changes nothing else.

    Args:
        data: training data with ``utt2lang`` and ``text``.
        labelled: tail language (ISO 639-3) -> how many of its utterances keep their
            transcripts (drawn at random), e.g. ``{"kat": 300, "ell": 150}``.
        upsample: how many times each labelled tail utterance occurs in ``train_base``: the
            utterance and its copies ``up2-<utt>``, ``up3-<utt>``... (same audio); default 1.
        seed: seed of the choice.

    Returns:
        ``train_base`` (head languages + each tail language's labelled part, ``upsample``
        times), and for each tail language ``<lang>_labelled`` and ``<lang>_untranscribed``
        (its remaining utterances, with no ``text``).

    Raises:
        ConfigError: no tail language, or an up-sampling factor below 1.
        DataError: a tail language that ``data`` lacks, or a count that is not between 1 and
            its number of utterances minus one (naming the language and the data dir).
    """
    if not labelled:
        raise ConfigError("give at least one tail language and its number of labelled utterances")
    if upsample < 1:
        raise ConfigError(f"the up-sampling factor must be at least 1, got {upsample}")
    parts: dict[str, DataDir] = {}
    all_chosen: list[str] = []
    for lang, count in labelled.items():
        tail = utts_of_language(data, lang)
        if not 0 < count < len(tail):
            raise DataError(
                f"{lang} has {len(tail)} training utterances: its labelled count must be "
                f"between 1 and {len(tail) - 1}, got {count}",
                data.path,
            )
        chosen = set(random.Random(seed).sample(tail, count))
        all_chosen += chosen
        untranscribed = subset_data_dir(data, [u for u in tail if u not in chosen])
        untranscribed.text = {}
        parts[f"{lang}_labelled"] = subset_data_dir(data, chosen)
        parts[f"{lang}_untranscribed"] = untranscribed
    head = [u for u in data.utts if data.utt2lang[u] not in labelled]
    base = subset_data_dir(data, [*head, *all_chosen])
    copies = [upsampled_copy(subset_data_dir(data, all_chosen), k) for k in range(2, upsample + 1)]
    return {"train_base": combine_data_dirs([base, *copies]), **parts}
