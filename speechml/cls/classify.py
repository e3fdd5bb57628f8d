"""Any classifier model dir over data dirs, into decode dirs (``speechml cls predict``).

The kind of model (:func:`model_kind`) is told by its files; the model is loaded once for all
data dirs, and each decode dir gets ``utt2label`` and ``system.txt``
(:func:`speechml.score.decode_dir.write_labels`).

Example:
    >>> classify_data_dirs("exp/cls_text/model", ["data/test"], ["exp/cls_text/decode_test"],
    ...                    ["exp/asr/decode_test"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from speechml.cls import ngram, speech_model, text_model
from speechml.cls.ngram import NgramClassifier
from speechml.cls.predict import PredictFn, predict_data_dir
from speechml.cls.speech_model import classify_data_dir
from speechml.cls.text_model import TextClassifier
from speechml.errors import SpeechmlError

#: model kind -> the file that marks its directory
MODEL_MARKERS = {
    "n-gram": ngram.CONFIG_FILE,
    "text": text_model.CLASSIFIER_FILE,
    "speech": speech_model.LABELS_FILE,
}


def model_kind(model_dir: Path) -> str:
    """``n-gram``, ``text`` or ``speech``: the kind of classifier in ``model_dir``.

    Raises:
        SpeechmlError: if ``model_dir`` holds none of the three (naming it and their files).
    """
    for kind, marker in MODEL_MARKERS.items():
        if (model_dir / marker).is_file():
            return kind
    markers = ", ".join(MODEL_MARKERS.values())
    raise SpeechmlError(f"{model_dir}: not a classifier model dir (it has none of {markers})")


def _text_predictor(kind: str, model_dir: Path) -> PredictFn:
    if kind == "n-gram":
        return NgramClassifier.load(model_dir).predict
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return TextClassifier.load(model_dir, device).predict


def classify_data_dirs(
    model_dir: str | Path,
    data_dirs: Sequence[str | Path],
    out_dirs: Sequence[str | Path],
    text_sources: Sequence[str | Path | None] | None = None,
    allow_pipes: bool = False,
) -> list[dict[str, str]]:
    """Classify every utterance of each data dir into its decode dir.

    Args:
        model_dir: a classifier model dir of any kind (:func:`model_kind`).
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
    predict = None if kind == "speech" else _text_predictor(kind, model_dir)
    written = []
    for data, out, source in zip(data_dirs, out_dirs, sources, strict=True):
        texts = "" if source is None else f" on the texts of {source}"
        system = f"{kind} classifier {model_dir}{texts}"
        if predict is None:
            written.append(
                classify_data_dir(model_dir, data, out, allow_pipes=allow_pipes, system=system)
            )
        else:
            written.append(predict_data_dir(predict, data, out, source, system=system))
    return written
