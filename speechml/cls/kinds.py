"""The three kinds of classifier model dir, each told by the file that marks it.

Light on purpose (no torch, no scikit-learn): ``speechml cls predict`` tells the kind before
it imports the one model module it needs.

Example:
    >>> import tempfile
    >>> model_dir = Path(tempfile.mkdtemp())
    >>> _ = (model_dir / MODEL_MARKERS["n-gram"]).write_text("{}")
    >>> model_kind(model_dir)
    'n-gram'
"""

from __future__ import annotations

from pathlib import Path

from speechml.errors import SpeechmlError

#: model kind -> the file that marks its directory (the n-gram's config, the text classifier's
#: settings, the speech classifier's labels)
MODEL_MARKERS = {
    "n-gram": "ngram_config.json",
    "text": "text_classifier.json",
    "speech": "labels.json",
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
