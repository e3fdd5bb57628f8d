"""Texts of a data dir in, class labels out: what every text classifier reads and writes.

A classifier is used through a plain function ``predict(texts) -> labels`` (one label per
text, in order). :func:`predict_data_dir` runs it over every utterance of a data dir and writes
``utt2label`` into a decode dir (:func:`speechml.cls.labels.write_predictions`), where
``speechml score cls`` finds it. The texts are the data dir's reference ``text``, or, for the
cascade, the ASR hypotheses of a decode dir (``hyp.trn``, as ``speechml asr decode`` writes it)
or any Kaldi ``text`` table (:func:`read_texts`).

Example:
    >>> def by_parity(texts):  # a classifier: texts in, labels out
    ...     return ["odd" if int(text.split()[-1]) % 2 else "even" for text in texts]
    >>> predicted = predict_data_dir(by_parity, "data/test", "exp/cls/decode_test")
    >>> sorted(set(predicted.values()))
    ['even', 'odd']
    >>> Path("exp/cls/decode_test/utt2label").is_file()
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from speechml.cls.labels import utt_labels, write_predictions
from speechml.data.datadir import DataDir
from speechml.data.table import read_table, sort_key
from speechml.errors import DataError
from speechml.progress import progress_bar
from speechml.score.decode_dir import HYP_FILE
from speechml.score.trn import read_trn
from speechml.score.wer import shorten_ids

#: ``predict(texts) -> labels``: one label per text, in order.
PredictFn = Callable[[list[str]], list[str]]


def _text_file(source: Path) -> Path:
    """The file holding the texts: a decode dir's ``hyp.trn``, else ``source`` itself."""
    if not source.is_dir():
        return source
    if not (source / HYP_FILE).is_file():
        raise DataError(f"is a directory without {HYP_FILE} (not a decode dir)", source)
    return source / HYP_FILE


def read_texts(data: DataDir, text_source: str | Path | None = None) -> dict[str, str]:
    """The text of every utterance of ``data``, in Kaldi order.

    Args:
        data: the data dir (its utterances are those of ``utt2spk``).
        text_source: None for ``data``'s own ``text``; else a decode dir (its ``hyp.trn``), a
            ``.trn`` file or a Kaldi ``text`` table, e.g. ASR hypotheses. Empty texts are kept.

    Raises:
        DataError: if the source is missing or malformed, lacks an utterance of ``data`` or
            holds one that ``data`` lacks (naming the file and the ids).

    Example:
        >>> read_texts(DataDir(utt2spk={"u1": "s"}, text={"u1": "hello"}))
        {'u1': 'hello'}
    """
    if text_source is None:
        where: Path | str = data.path / "text" if data.path is not None else "text"
        texts = data.text
    else:
        where = _text_file(Path(text_source))
        texts = (
            read_trn(where)
            if where.suffix == ".trn"
            else read_table(where, allow_empty_values=True)
        )
    missing = [utt for utt in data.utts if utt not in texts]
    if missing:
        raise DataError(f"{len(missing)} utterances have no text: {shorten_ids(missing)}", where)
    unknown = sorted(set(texts) - set(data.utt2spk), key=sort_key)
    if unknown:
        message = f"{len(unknown)} texts of utterances not in the data dir: {shorten_ids(unknown)}"
        raise DataError(message, where)
    return {utt: texts[utt] for utt in data.utts}


def read_labelled_texts(
    data_dir: str | Path, text_source: str | Path | None = None, min_classes: int = 2
) -> tuple[list[str], list[str]]:
    """(texts, labels) of every utterance of a data dir with ``utt2label``, for training.

    Args:
        data_dir: a data dir with ``utt2label`` (and ``text`` unless ``text_source`` is given).
        text_source: where the texts come from (see :func:`read_texts`).
        min_classes: the fewest distinct labels accepted (1 for a dev set).

    Raises:
        DataError: if a text or a label is missing, or fewer than ``min_classes`` classes occur
            (see :func:`read_texts` and :func:`speechml.cls.labels.utt_labels`).

    Example:
        >>> texts, labels = read_labelled_texts("data/train")
        >>> texts[0], labels[0]
        ('hello number 0', 'even')
    """
    data = DataDir.read(data_dir)
    labels = utt_labels(data, min_classes)
    return list(read_texts(data, text_source).values()), list(labels.values())


def predict_labels(predict: PredictFn, texts: Sequence[str], batch_size: int = 256) -> list[str]:
    """``predict`` over ``texts`` in batches (with a progress bar); checks one label per text.

    Raises:
        ValueError: if ``predict`` returns a wrong number of labels.
    """
    labels: list[str] = []
    for start in progress_bar(range(0, len(texts), batch_size), desc="classify", unit="batch"):
        batch = list(texts[start : start + batch_size])
        found = list(predict(batch))
        if len(found) != len(batch):
            raise ValueError(f"the classifier gave {len(found)} labels for {len(batch)} texts")
        labels.extend(found)
    return labels


def predict_data_dir(
    predict: PredictFn,
    data_dir: str | Path,
    out_dir: str | Path,
    text_source: str | Path | None = None,
    batch_size: int = 256,
    system: str | None = None,
) -> dict[str, str]:
    """Classify every utterance of ``data_dir`` and write ``out_dir/utt2label``.

    Args:
        predict: ``predict(texts) -> labels``, e.g. ``NgramClassifier.load(d).predict``.
        data_dir: the data dir to classify.
        out_dir: the decode dir (created); ``utt2label`` is written atomically, sorted.
        text_source: None for the reference ``text``; else a decode dir (``hyp.trn``), a
            ``.trn`` file or a ``text`` table holding a text for every utterance.
        batch_size: texts given to ``predict`` at once.
        system: one line describing the classifier, for ``out_dir/system.txt``.

    Returns:
        utt -> predicted label, for every utterance of ``data_dir``.

    Example:
        >>> predicted = predict_data_dir(lambda texts: ["even"] * len(texts), "data/test",
        ...                              "exp/cls/decode_test")
        >>> len(predicted), set(predicted.values())
        (4, {'even'})
    """
    data = DataDir.read(data_dir)
    texts = read_texts(data, text_source)
    labels = predict_labels(predict, list(texts.values()), batch_size)
    return write_predictions(data, dict(zip(texts, labels, strict=True)), out_dir, system)
