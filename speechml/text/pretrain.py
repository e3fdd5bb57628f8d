"""Masked-LM pretraining of the text encoder, with the objective chosen by name.

- ``mlm``: plain masked language modelling (15% of the tokens, BERT's 80/10/10 replacement, by
  transformers' ``DataCollatorForLanguageModeling``).
- ``langsamp``: MLM with language and script embeddings before the head
  (:mod:`speechml.text.langsamp`); the batch carries one language and one script id a text.
- ``translico``: MLM on each text and on its uroman transliteration, plus
  ``contrastive_weight`` x the contrastive loss of :mod:`speechml.text.translico` between the
  mean-pooled middle layer of the two.

The model is an XLM-RoBERTa-layout masked LM, from scratch (:class:`TextModelConfig`, a
tokenizer trained on the texts) or from a local directory (``init_from``: a real XLM-R or
Glot500, or an earlier ``exp/*/model``). Training goes through the shared trainer (resumable;
bucketed by tokens; ``valid_loss`` on held-out texts with a fixed mask). The best model is saved
to ``exp_dir/model`` with ``save_pretrained`` and its tokenizer, so that
``AutoModelForMaskedLM``, ``AutoModel`` or a classifier (``speechml cls train-text --init``)
load it; a LangSAMP model adds its tables and id map.

Example:
    >>> from speechml.text.adapt import texts_and_langs
    >>> texts, langs = texts_and_langs(["data/train"])
    >>> config = TextPretrainConfig(
    ...     objective="translico", model=TextModelConfig(hidden_size=32, vocab_size=64),
    ...     valid_texts=2, train=text_training(max_steps=2, valid_every=2, warmup_steps=1))
    >>> tokenizer, model = pretrain_text_encoder(config, texts, langs, "exp/text_lm")
    >>> Path("exp/text_lm/model/config.json").is_file()
    True
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import (
    AutoModelForMaskedLM,
    AutoTokenizer,
    DataCollatorForLanguageModeling,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    XLMRobertaForMaskedLM,
)

from speechml.errors import DataError, SpeechmlError
from speechml.io import atomic_dir, require_model_dir
from speechml.text.encoder import (
    TextModelConfig,
    saved_or_new_tokenizer,
    text_training,
    train_text_tokenizer,
    xlmr_config,
)
from speechml.text.ids import LanguageScriptIds
from speechml.text.langsamp import EMBEDDINGS_FILE, LangSampForMaskedLM
from speechml.text.romanize import Romanizer
from speechml.text.translico import info_nce, mean_pool, middle_layer
from speechml.train.trainer import TrainConfig, Trainer, batched_valid_fn

logger = logging.getLogger(__name__)

Objective = Literal["mlm", "langsamp", "translico"]
TOKENIZER_DIR = "tokenizer"  # in the experiment dir: the tokenizer trained from scratch
LossFn = Callable[[torch.nn.Module, dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, float]]]


@dataclass
class TextPretrainConfig:
    """A masked-LM pretraining run of the text encoder."""

    objective: Objective = "mlm"  # mlm | langsamp | translico
    model: TextModelConfig = field(default_factory=TextModelConfig)  # from scratch only
    max_length: int = 64  # tokens a text (special tokens included); longer texts are cut
    mlm_probability: float = 0.15  # share of the tokens masked
    contrastive_weight: float = 0.5  # translico: weight of the contrastive loss
    temperature: float = 0.1  # translico: temperature of the contrastive loss
    contrastive_layer: int = 0  # translico: hidden state pooled (0: the middle layer)
    valid_texts: int = 200  # texts held out for valid_loss (taken from the end, after shuffling)
    valid_batch_size: int = 64  # texts a validation batch
    train: TrainConfig = field(
        default_factory=lambda: text_training(max_batch_size=64, valid_every=250)
    )  # optimisation; train.max_batch_seconds counts padded tokens

    def __post_init__(self) -> None:
        if not 0.0 < self.mlm_probability < 1.0:
            raise ValueError("mlm_probability must be in (0, 1)")
        if self.max_length < 3 or self.temperature <= 0 or self.contrastive_weight < 0:
            raise ValueError("max_length >= 3, temperature > 0, contrastive_weight >= 0 needed")
        if self.valid_texts < 1 or self.valid_batch_size < 1 or self.contrastive_layer < 0:
            raise ValueError("valid_texts and valid_batch_size >= 1, contrastive_layer >= 0")


class PretrainCollator:
    """Masks a batch for MLM; passes language/script ids and masks the transliterations too."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, mlm_probability: float) -> None:
        self.mask = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability)

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = dict(self.mask([{"input_ids": item["input_ids"]} for item in items]))
        if "lang_id" in items[0]:
            batch["lang_ids"] = torch.tensor([item["lang_id"] for item in items])
            batch["script_ids"] = torch.tensor([item["script_id"] for item in items])
        if "translit_ids" in items[0]:
            other = self.mask([{"input_ids": item["translit_ids"]} for item in items])
            batch.update({f"translit_{key}": value for key, value in other.items()})
        return batch


def mlm_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
    """The ``mlm`` and ``langsamp`` objective: the masked-LM cross-entropy."""
    return model(**batch).loss, {}


def translico_loss(layer: int, weight: float, temperature: float) -> LossFn:
    """The ``translico`` objective: MLM on both sides + ``weight`` x InfoNCE of ``layer``."""

    def loss_fn(
        model: torch.nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict]:
        sides = []
        for prefix in ("", "translit_"):
            out = model(
                input_ids=batch[f"{prefix}input_ids"],
                attention_mask=batch[f"{prefix}attention_mask"],
                labels=batch[f"{prefix}labels"],
                output_hidden_states=True,
            )
            pooled = mean_pool(out.hidden_states[layer], batch[f"{prefix}attention_mask"])
            sides.append((out.loss, pooled))
        mlm = sides[0][0] + sides[1][0]
        contrastive = info_nce(sides[0][1], sides[1][1], temperature)
        return mlm + weight * contrastive, {
            "mlm": float(mlm.detach()),
            "contrastive": float(contrastive.detach()),
        }

    return loss_fn


def load_masked_lm(
    path: str | Path,
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel | LangSampForMaskedLM]:
    """(tokenizer, model) of a local masked-LM directory; a LangSAMP dir loads as one.

    Raises:
        SpeechmlError: if the directory is not a transformers masked LM with a tokenizer.
    """
    path = require_model_dir(path)
    options = {"local_files_only": True, "trust_remote_code": False}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **options)
        if (path / EMBEDDINGS_FILE).is_file():
            return tokenizer, LangSampForMaskedLM.load(path)
        return tokenizer, AutoModelForMaskedLM.from_pretrained(path, **options)
    except (OSError, ValueError, KeyError) as err:
        raise SpeechmlError(f"{path}: cannot load the masked LM or tokenizer: {err}") from None


def _model_for(
    config: TextPretrainConfig,
    texts: Sequence[str],
    langs: Sequence[str],
    romanized: Sequence[str],
    exp_dir: Path,
    init_from: Path | None,
) -> tuple[PreTrainedTokenizerBase, torch.nn.Module]:
    """The tokenizer and the model to train, wrapped for LangSAMP when asked.

    A tokenizer from scratch is trained on the texts and their ``romanized`` forms (TransliCo
    reads both).
    """
    if init_from is not None:
        tokenizer, model = load_masked_lm(init_from)
    else:
        sizes, corpus = config.model, [*texts, *romanized]
        tokenizer = saved_or_new_tokenizer(
            exp_dir / TOKENIZER_DIR,
            lambda: train_text_tokenizer(
                corpus, sizes.tokenizer, sizes.vocab_size, config.max_length
            ),
        )
        model = XLMRobertaForMaskedLM(xlmr_config(config.model, len(tokenizer), config.max_length))
    if config.objective == "langsamp" and not isinstance(model, LangSampForMaskedLM):
        model = LangSampForMaskedLM(model, LanguageScriptIds.from_data(langs, texts))
    if config.objective != "langsamp" and isinstance(model, LangSampForMaskedLM):
        model = model.mlm  # the encoder and head go on; the tables are left behind
    return tokenizer, model


def _items(
    config: TextPretrainConfig,
    tokenizer: PreTrainedTokenizerBase,
    model: torch.nn.Module,
    texts: Sequence[str],
    langs: Sequence[str],
    romanized: Sequence[str],
) -> list[dict[str, Any]]:
    """The training items: token ids, and ids or transliterations as the objective needs."""

    def encode(batch: Sequence[str]) -> list[list[int]]:
        return tokenizer(list(batch), truncation=True, max_length=config.max_length)["input_ids"]

    items: list[dict[str, Any]] = [{"input_ids": ids} for ids in encode(texts)]
    if isinstance(model, LangSampForMaskedLM):
        lang_ids, script_ids = model.ids.encode(langs, texts)
        for item, lang_id, script_id in zip(items, lang_ids, script_ids, strict=True):
            item.update(lang_id=lang_id, script_id=script_id)
    if config.objective == "translico":
        for item, ids in zip(items, encode(romanized), strict=True):
            item["translit_ids"] = ids
    return items


def pretrain_text_encoder(
    config: TextPretrainConfig,
    texts: Sequence[str],
    langs: Sequence[str],
    exp_dir: str | Path,
    init_from: str | Path | None = None,
) -> tuple[PreTrainedTokenizerBase, torch.nn.Module]:
    """Train (or resume) a masked LM on ``texts``; the best one is saved to ``exp_dir/model``.

    Args:
        config: the objective, the model from scratch and the optimisation.
        texts: the training texts, normalised (as the classifier will see them).
        langs: the ISO 639-3 code of each text (LangSAMP's ids, TransliCo's uroman language).
        exp_dir: the experiment directory; a run there resumes.
        init_from: a local masked-LM directory to continue from; None builds one from scratch.

    Returns:
        (tokenizer, the trained model: a transformers masked LM, or a LangSampForMaskedLM).

    Raises:
        DataError: if there are fewer texts than ``valid_texts`` + 1, or a text is empty.
    """
    if len(texts) != len(langs):
        raise ValueError(f"{len(texts)} texts but {len(langs)} languages")
    empty = [i + 1 for i, text in enumerate(texts) if not text.strip()]
    if empty:
        raise DataError(f"empty texts cannot be pretrained on (items {empty[:5]})")
    if len(texts) <= config.valid_texts:
        raise DataError(f"{len(texts)} texts: more than valid_texts={config.valid_texts} needed")
    exp_dir = Path(exp_dir)
    torch.manual_seed(config.train.seed)
    order = torch.randperm(len(texts)).tolist()
    texts, langs = [texts[i] for i in order], [langs[i] for i in order]
    romanized = []
    if config.objective == "translico":
        romanized = Romanizer().romanize_many(texts, langs)
    start = None if init_from is None else Path(init_from)
    tokenizer, model = _model_for(config, texts, langs, romanized, exp_dir, start)
    items = _items(config, tokenizer, model, texts, langs, romanized)
    train_items, valid_items = items[: -config.valid_texts], items[-config.valid_texts :]
    if config.objective == "translico":
        layer = config.contrastive_layer or middle_layer(model.config.num_hidden_layers)
        loss_fn = translico_loss(layer, config.contrastive_weight, config.temperature)
    else:
        loss_fn = mlm_loss
    collate = PretrainCollator(tokenizer, config.mlm_probability)
    logger.info(
        "text pretraining (%s): %.2fM parameters, %d tokens, %d texts (%d held out)",
        config.objective,
        sum(p.numel() for p in model.parameters()) / 1e6,
        len(tokenizer),
        len(train_items),
        len(valid_items),
    )
    trainer = Trainer(
        model,
        loss_fn,
        train_items,
        [len(item["input_ids"]) for item in train_items],
        collate,
        config.train,
        exp_dir,
        valid_fn=batched_valid_fn(loss_fn, valid_items, collate, config.valid_batch_size),
    )
    model, _ = trainer.fit_best()
    save_masked_lm(model, tokenizer, exp_dir / "model")
    return tokenizer, model


def save_masked_lm(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, directory: str | Path
) -> Path:
    """Write a masked LM (LangSAMP or plain) and its tokenizer to ``directory``, atomically."""
    if isinstance(model, LangSampForMaskedLM):
        return model.save(directory, tokenizer)
    with atomic_dir(directory) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return Path(directory)
