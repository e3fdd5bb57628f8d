"""One text encoder made ready for a task: pretrained, then its vocabulary adapted.

:class:`TextEncoderConfig` is the ``encoder`` section of the text classifier's config
(:class:`speechml.cls.text_model.TextClassifierConfig`): it names the pretraining objective
(``mlm``, ``langsamp``, ``translico``), the initialisation of new pieces from unlabelled text of
new languages (``random``, ``multivariate``, ``mean``, ``ofa``) and TransMI's merge mode for
romanized pieces. :func:`prepare_text_encoder` runs them in that order and returns the directory
of the resulting masked LM, which a classifier then fine-tunes.

Example (``conf/cls_text.yaml``)::

    encoder:
      pretraining: {objective: translico, train: {max_steps: 1000}}
      expansion: {init: ofa, vocab_size: 1000}
      transmi: max
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from speechml.data.datadir import DataDir
from speechml.errors import DataError
from speechml.lang.normalize import TextNormalizer
from speechml.text.pretrain import (
    TextPretrainConfig,
    load_masked_lm,
    pretrain_text_encoder,
    save_masked_lm,
)
from speechml.text.transmi import TRANSMI_MERGES, expand_with_transliterations
from speechml.text.vocab import ExpansionReport, VocabExpansionConfig, expand_vocabulary

logger = logging.getLogger(__name__)


@dataclass
class TextEncoderConfig:
    """How the classifier's encoder is prepared before fine-tuning (each step optional)."""

    pretraining: TextPretrainConfig | None = None  # masked-LM pretraining on the training text
    expansion: VocabExpansionConfig | None = None  # new pieces from the unlabelled text
    # add romanized pieces, merged this way (TRANSMI_MERGES name: TransMI); None: none
    transmi: Annotated[str, TRANSMI_MERGES] | None = None

    @property
    def active(self) -> bool:
        """True if any step is configured."""
        return (
            self.pretraining is not None or self.expansion is not None or self.transmi is not None
        )


def texts_and_langs(
    dirs: Sequence[str | Path], normalize: TextNormalizer | None = None
) -> tuple[list[str], list[str]]:
    """The normalised transcripts of data dirs (utterance order) and their ``utt2lang`` codes.

    Raises:
        DataError: naming the first utterance without a language, and its ``utt2lang``.
    """
    normalize = normalize or TextNormalizer()
    texts, langs = [], []
    for path in dirs:
        data = DataDir.read(path)
        for utt in sorted(data.text):
            if utt not in data.utt2lang:
                raise DataError("no language in utt2lang", Path(path) / "utt2lang", utt=utt)
            texts.append(normalize(data.text[utt]))
            langs.append(data.utt2lang[utt])
    return texts, langs


def adapt_vocabulary(
    model_dir: str | Path,
    out_dir: str | Path,
    new_texts: Sequence[str] = (),
    expansion: VocabExpansionConfig | None = None,
    transmi: str | None = None,
) -> list[ExpansionReport]:
    """Copy the masked LM of ``model_dir`` to ``out_dir`` with an expanded vocabulary.

    Args:
        model_dir: a masked-LM directory with its tokenizer (LangSAMP tables are kept).
        out_dir: where the expanded model and tokenizer go (written atomically).
        new_texts: unlabelled text of the new language(s), for ``expansion``.
        expansion: the sentencepiece size and initialisation; None adds no new-text pieces.
        transmi: TransMI's merge (a ``TRANSMI_MERGES`` name); None adds no romanized pieces.

    Raises:
        DataError: if ``expansion`` is set but there is no new text.
    """
    if expansion is not None and not new_texts:
        raise DataError("vocabulary expansion needs unlabelled text of the new language(s)")
    tokenizer, model = load_masked_lm(model_dir)
    mlm = getattr(model, "mlm", model)
    reports = []
    if expansion is not None:
        tokenizer, report = expand_vocabulary(mlm, tokenizer, new_texts, expansion)
        reports.append(report)
    if transmi is not None:
        tokenizer, report = expand_with_transliterations(mlm, tokenizer, transmi)
        reports.append(report)
    for report in reports:
        logger.info("%s: %s", model_dir, report)
    save_masked_lm(model, tokenizer, out_dir)
    return reports


def prepare_text_encoder(
    config: TextEncoderConfig,
    texts: Sequence[str],
    langs: Sequence[str],
    new_texts: Sequence[str],
    exp_dir: str | Path,
    init_from: str | Path | None = None,
) -> Path | None:
    """Pretrain and adapt an encoder as ``config`` says; the directory to fine-tune from.

    Args:
        config: the steps.
        texts, langs: the training texts (normalised) and their ISO 639-3 codes.
        new_texts: unlabelled texts of new languages (for the expansion).
        exp_dir: the pretraining goes to ``exp_dir/pretrain``, the adapted model to
            ``exp_dir/adapted``; a finished pretraining is reused.
        init_from: a masked-LM directory to start from (a real XLM-R...); None: from scratch.

    Returns:
        The model directory, or ``init_from`` unchanged when no step is configured.
    """
    exp_dir = Path(exp_dir)
    model_dir = None if init_from is None else Path(init_from)
    if config.pretraining is not None:
        pretrain_text_encoder(config.pretraining, texts, langs, exp_dir / "pretrain", model_dir)
        model_dir = exp_dir / "pretrain" / "model"
    if config.expansion is not None or config.transmi is not None:
        if model_dir is None:
            raise DataError(
                "vocabulary adaptation needs a pretrained encoder (pretraining or --init)"
            )
        adapt_vocabulary(
            model_dir, exp_dir / "adapted", new_texts, config.expansion, config.transmi
        )
        model_dir = exp_dir / "adapted"
    return model_dir
