"""Vocabulary expansion: new pieces for a new language or script, with initialised embeddings.

A model whose tokenizer never saw a script turns its text into ``<unk>``. :func:`expand_vocabulary`
trains a sentencepiece unigram model on the new text, appends the pieces the tokenizer lacks to
its Unigram vocabulary (old ids and old segmentations unchanged), resizes the input embeddings
and the language-modelling head (tied or not), and fills the new rows by the method named in
:class:`VocabExpansionConfig` (:mod:`speechml.text.embedding_init`). Old rows stay bit-identical.

Only Unigram tokenizers are expanded (ours, XLM-R's, sentencepiece unigram models): a BPE
vocabulary would need new merges, which no initialisation paper defines.

Example:
    >>> from speechml.text.encoder import TextModelConfig, train_text_tokenizer, xlmr_config
    >>> from transformers import AutoModelForMaskedLM
    >>> tokenizer = train_text_tokenizer(["january march may", "june july"], vocab_size=40)
    >>> config = xlmr_config(TextModelConfig(hidden_size=32), len(tokenizer), max_length=16)
    >>> model = AutoModelForMaskedLM.from_config(config)
    >>> kat_texts = ["იანვარი მარტი", "მაისი ივნისი"]  # a script the tokenizer never saw
    >>> tokenizer, report = expand_vocabulary(model, tokenizer, kat_texts,
    ...                                       VocabExpansionConfig(init="ofa", vocab_size=30))
    >>> report.added > 0, model.get_input_embeddings().num_embeddings == len(tokenizer)
    (True, True)
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sentencepiece
import torch
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from speechml.errors import ConfigError, SpeechmlError
from speechml.text.embedding_init import EMBEDDING_INITS, InitContext

TOKENIZER_FILE = "tokenizer.json"


@dataclass
class VocabExpansionConfig:
    """How to expand a vocabulary with the pieces of a new text."""

    init: str = "ofa"  # random | multivariate | mean | ofa (speechml.text.embedding_init)
    vocab_size: int = 1000  # pieces of the sentencepiece model trained on the new text
    rank: int = 0  # ofa: factorisation rank (0: full rank)
    top_k: int = 10  # ofa: similar old pieces a new piece comes from
    temperature: float = 0.1  # ofa: softmax temperature of the similarities
    seed: int = 0  # seed of the random initialisations

    def __post_init__(self) -> None:
        if self.init not in EMBEDDING_INITS:
            choices = ", ".join(sorted(EMBEDDING_INITS))
            raise ValueError(f"unknown init {self.init!r} (choose one of: {choices})")
        if self.vocab_size < 2 or self.top_k < 1 or self.temperature <= 0 or self.rank < 0:
            raise ValueError("vocab_size >= 2, top_k >= 1, temperature > 0 and rank >= 0 needed")


@dataclass(frozen=True)
class ExpansionReport:
    """What an expansion did."""

    old_size: int  # tokens before
    added: int  # new pieces (and rows)
    init: str  # the initialisation method

    def __str__(self) -> str:
        return f"{self.added} pieces added to {self.old_size} ({self.init} initialisation)"


def unigram_vocab(tokenizer: PreTrainedTokenizerBase) -> list[tuple[str, float]]:
    """The ``(piece, score)`` list of a fast tokenizer's Unigram model, in id order.

    Raises:
        SpeechmlError: if the tokenizer is not a fast tokenizer over a Unigram model.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    state = json.loads(backend.to_str()) if backend is not None else {}
    model = state.get("model", {})
    if model.get("type") != "Unigram":
        kind = model.get("type", type(tokenizer).__name__)
        raise SpeechmlError(f"only Unigram tokenizers can be expanded, not {kind}")
    return [(piece, float(score)) for piece, score in model["vocab"]]


def train_pieces(texts: Sequence[str], vocab_size: int) -> list[tuple[str, float]]:
    """The ``(piece, log-probability)`` pieces of a sentencepiece unigram model of ``texts``.

    Every character is covered; the vocabulary may come out smaller than ``vocab_size`` on a
    small text. Control and unknown pieces are left out.

    Raises:
        ConfigError: if sentencepiece cannot train on the texts (e.g. none are given).
    """
    model = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_writer=model,
            model_type="unigram",
            vocab_size=vocab_size,
            hard_vocab_limit=False,
            character_coverage=1.0,
            normalization_rule_name="identity",
            bos_id=-1,
            eos_id=-1,
            minloglevel=2,
        )
    except RuntimeError as err:
        raise ConfigError(f"sentencepiece cannot train on the new text: {err}") from None
    processor = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())
    return [
        (processor.id_to_piece(i), processor.get_score(i))
        for i in range(processor.get_piece_size())
        if processor.is_unused(i) is False
        and not processor.is_control(i)
        and not processor.is_unknown(i)
    ]


def with_added_pieces(
    tokenizer: PreTrainedTokenizerBase, pieces: Sequence[tuple[str, float]]
) -> PreTrainedTokenizerBase:
    """A copy of a Unigram tokenizer with ``pieces`` appended (ids ``len(tokenizer)`` on).

    The special tokens and their settings are kept; pieces already in the vocabulary are an
    error (the caller filters them).
    """
    known = {piece for piece, _ in unigram_vocab(tokenizer)}
    repeated = [piece for piece, _ in pieces if piece in known]
    if repeated:
        raise ValueError(f"pieces already in the vocabulary: {repeated[:5]}")
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        path = Path(tmp) / TOKENIZER_FILE
        state = json.loads(path.read_text(encoding="utf-8"))
        state["model"]["vocab"].extend([piece, score] for piece, score in pieces)
        path.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
        for stale in Path(tmp).glob("*.model"):  # a slow tokenizer's vocabulary, now outdated
            stale.unlink()
        return AutoTokenizer.from_pretrained(tmp, local_files_only=True)


def append_embedding_rows(model: PreTrainedModel, rows: torch.Tensor) -> None:
    """Resize the input embeddings (and an untied output layer) by ``rows``, and fill them in.

    The old rows are not touched; a tied language-modelling head shares the new rows; the new
    entries of an output bias are zero.
    """
    embeddings = model.get_input_embeddings()
    old_size = embeddings.weight.shape[0]
    model.resize_token_embeddings(old_size + rows.shape[0], mean_resizing=False)
    with torch.no_grad():
        model.get_input_embeddings().weight[old_size:] = rows.to(embeddings.weight.dtype)
        output = model.get_output_embeddings()
        if output is not None and output.weight is not model.get_input_embeddings().weight:
            output.weight[old_size:] = rows.to(output.weight.dtype)
        if output is not None and getattr(output, "bias", None) is not None:
            output.bias[old_size:] = 0.0


def special_ids(tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    """The ids of the special tokens and of ``<unk>``: never a source of a new row."""
    return frozenset(tokenizer.all_special_ids)


def expand_vocabulary(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    config: VocabExpansionConfig,
) -> tuple[PreTrainedTokenizerBase, ExpansionReport]:
    """Add the pieces of ``texts`` that ``tokenizer`` lacks to it and to ``model`` (in place).

    Args:
        model: a transformers model with input embeddings (and maybe an LM head).
        tokenizer: its Unigram fast tokenizer.
        texts: text of the new language(s), normalised as the model's training text was.
        config: the sentencepiece size and the initialisation method.

    Returns:
        (the expanded tokenizer, what was done).
    """
    old_vocab = unigram_vocab(tokenizer)
    known = {piece for piece, _ in old_vocab}
    new = [(piece, score) for piece, score in train_pieces(texts, config.vocab_size)]
    new = [(piece, score) for piece, score in new if piece not in known]
    old_rows = model.get_input_embeddings().weight.detach()[: len(old_vocab)]
    context = InitContext(
        old_pieces=[piece for piece, _ in old_vocab],
        new_pieces=[piece for piece, _ in new],
        tokenize_with_old=lambda text: tokenizer(text, add_special_tokens=False)["input_ids"],
        skip_ids=special_ids(tokenizer),
        rank=config.rank,
        top_k=config.top_k,
        temperature=config.temperature,
        generator=torch.Generator().manual_seed(config.seed),
    )
    rows = EMBEDDING_INITS.get_component(config.init)(old_rows.float(), context)
    expanded = with_added_pieces(tokenizer, new)
    append_embedding_rows(model, rows)
    return expanded, ExpansionReport(len(old_vocab), len(new), config.init)
