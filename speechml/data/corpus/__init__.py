"""The embedded multilingual corpus, synthesised with espeak-ng from babel's CLDR texts.

``speechml corpus build --config FILE --out DIR`` (or :func:`build_corpus`) writes Kaldi data
dirs ``DIR/data/<lang>/<split>/``, WAVs, ``corpus.yaml``, ``README.md`` and ``.done``. Modules:
``config`` (:class:`CorpusConfig`, ``default.yaml``), ``text_sources`` (class items per locale),
``speakers`` (voice variants at drawn or grid speeds and pitches, split by variant), ``plan``
(utterances), ``synth`` (espeak-ng), ``readme`` and ``build``.

Example:
    >>> from speechml.config import load_config
    >>> config = load_config(CorpusConfig, DEFAULT_CONFIG, ["utts_per_lang.train=20"])
    >>> build_corpus(config, "/tmp/corpus", nj=2)  # doctest: +SKIP
"""

from speechml.data.corpus.build import build_corpus
from speechml.data.corpus.config import DEFAULT_CONFIG, CorpusConfig, check_config

__all__ = ["DEFAULT_CONFIG", "CorpusConfig", "build_corpus", "check_config"]
