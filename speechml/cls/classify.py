"""Any classifier model dir over data dirs, into decode dirs (``speechml cls predict``).

The kind of model (:func:`~speechml.cls.kinds.model_kind`) is told by its files, and only
that kind's module is imported (an n-gram model needs no torch); the model is loaded once for all
data dirs, and each decode dir gets ``utt2label`` and ``system.txt``
(:func:`speechml.score.decode_dir.write_labels`).

Example:
    >>> from speechml.cls.ngram import NgramConfig, train_ngram
    >>> _ = train_ngram("data/train", NgramConfig()).save("exp/cls_ngram/model")
    >>> written = classify_data_dirs("exp/cls_ngram/model", ["data/dev", "data/test"],
    ...                              ["exp/cls_ngram/decode_dev", "exp/cls_ngram/decode_test"])
    >>> [len(predicted) for predicted in written]  # one model load, two data dirs
    [4, 4]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from speechml.cls.kinds import model_kind
from speechml.cls.predict import PredictFn, predict_data_dir


def _text_predictor(kind: str, model_dir: Path) -> PredictFn:
    """The predict function of a text model; each kind's module imported only for it."""
    if kind == "n-gram":
        from speechml.cls.ngram import NgramClassifier

        return NgramClassifier.load(model_dir).predict
    import torch

    from speechml.cls.text_model import TextClassifier

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return TextClassifier.load(model_dir, device).predict


#: ``(data dir, decode dir, text source, system) -> utt -> label``, writing the decode dir
ClassifyFn = Callable[[str | Path, str | Path, str | Path | None, str], dict[str, str]]


def _classifier(kind: str, model_dir: Path, allow_pipes: bool) -> ClassifyFn:
    """What classifies one data dir with the model of ``model_dir`` (loaded once, text kinds)."""
    if kind == "speech":
        from speechml.cls.speech_model import classify_data_dir

        return lambda data, out, _, system: classify_data_dir(
            model_dir, data, out, allow_pipes=allow_pipes, system=system
        )
    predict = _text_predictor(kind, model_dir)
    return lambda data, out, source, system: predict_data_dir(
        predict, data, out, source, system=system
    )


def classify_data_dirs(
    model_dir: str | Path,
    data_dirs: Sequence[str | Path],
    out_dirs: Sequence[str | Path],
    text_sources: Sequence[str | Path | None] | None = None,
    allow_pipes: bool = False,
) -> list[dict[str, str]]:
    """Classify every utterance of each data dir into its decode dir.

    Args:
        model_dir: a classifier model dir of any kind (:func:`~speechml.cls.kinds.model_kind`).
        data_dirs: the data dirs to classify.
        out_dirs: one decode dir per data dir, in the same order.
        text_sources: text models: one source of texts per data dir (None: its ``text``; a
            decode dir, ``.trn`` file or text table, see :func:`speechml.cls.predict.read_texts`).
        allow_pipes: allow ``wav.scp`` pipes (speech models).

    Returns:
        utt -> predicted label, one dict per data dir.

    Raises:
        SpeechmlError: if ``model_dir`` is no classifier, or a text source or data dir is bad.
    """
    model_dir = Path(model_dir)
    kind = model_kind(model_dir)
    sources = list(text_sources or [None] * len(data_dirs))
    classify = _classifier(kind, model_dir, allow_pipes)
    written = []
    for data, out, source in zip(data_dirs, out_dirs, sources, strict=True):
        texts = "" if source is None else f" on the texts of {source}"
        written.append(classify(data, out, source, f"{kind} classifier {model_dir}{texts}"))
    return written
