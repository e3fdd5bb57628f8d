"""Class labels of data dirs: the reference ``utt2label`` read with clear errors, predictions
written into a decode dir.

Every classifier reads its training and dev labels through :func:`utt_labels` and writes its
predictions through :func:`write_predictions`, so that ``speechml score cls --data D
--decode-dir X`` finds a label for every utterance of ``D`` in ``X/utt2label``.

Example:
    >>> utt_labels(DataDir(utt2spk={"u1": "s", "u2": "s"}, utt2label={"u1": "a", "u2": "b"}))
    {'u1': 'a', 'u2': 'b'}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from speechml.data.datadir import DataDir
from speechml.errors import DataError
from speechml.score.decode_dir import write_labels
from speechml.score.wer import shorten_ids

UTT2LABEL = "utt2label"


def utt_labels(data: DataDir, min_classes: int = 1) -> dict[str, str]:
    """The label of every utterance of ``data``, in Kaldi order.

    Args:
        data: a data dir with ``utt2label``.
        min_classes: the fewest distinct labels accepted (2 for a training set).

    Raises:
        DataError: naming ``data``'s ``utt2label``, if it is missing or empty, lacks utterances
            (listing them) or holds fewer than ``min_classes`` distinct labels.

    Example:
        >>> utt_labels(DataDir(utt2spk={"u1": "s"}, utt2label={"u1": "a"}), min_classes=2)
        Traceback (most recent call last):
        speechml.errors.DataError: utt2label: labels ['a']: a classifier needs 2 or more classes
    """
    where = data.path / UTT2LABEL if data.path is not None else UTT2LABEL
    if not data.utt2label:
        raise DataError("missing or empty: a classifier needs labelled utterances", where)
    missing = [utt for utt in data.utts if utt not in data.utt2label]
    if missing:
        raise DataError(f"{len(missing)} utterances have no label: {shorten_ids(missing)}", where)
    labels = {utt: data.utt2label[utt] for utt in data.utts}
    classes = sorted(set(labels.values()))
    if len(classes) < min_classes:
        message = f"labels {classes}: a classifier needs {min_classes} or more classes"
        raise DataError(message, where)
    return labels


def write_predictions(
    data: DataDir,
    predicted: Mapping[str, str],
    out_dir: str | Path,
    system: str | None = None,
) -> dict[str, str]:
    """Write ``out_dir/utt2label`` (atomically, sorted): the predicted label of every utterance.

    Args:
        data: the classified data dir.
        predicted: utt -> predicted label, for exactly the utterances of ``data``.
        out_dir: the decode dir (created if needed).
        system: one line describing the classifier, for ``out_dir/system.txt``
            (:func:`speechml.score.decode_dir.write_labels`).

    Returns:
        the labels written, in Kaldi order.

    Raises:
        ValueError: if an utterance of ``data`` has no label or an empty one, or ``predicted``
            holds an utterance that ``data`` lacks (a classifier's fault, not the user's).
    """
    missing = [utt for utt in data.utts if utt not in predicted]
    extra = sorted(set(predicted) - set(data.utts))
    if missing or extra:
        raise ValueError(
            f"predictions do not match the data dir: {len(missing)} utterances without a label "
            f"({shorten_ids(missing)}), {len(extra)} unknown ({shorten_ids(extra)})"
        )
    empty = [utt for utt in data.utts if not predicted[utt].strip()]
    if empty:
        raise ValueError(f"the classifier gave an empty label to {shorten_ids(empty)}")
    labels = {utt: predicted[utt] for utt in data.utts}
    write_labels(out_dir, labels, system)
    return labels
