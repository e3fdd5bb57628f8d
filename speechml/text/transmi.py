"""TransMI: teach a model romanized text by transliterating its own vocabulary.

TransMI (Liu et al. 2024) needs no training: every piece of the vocabulary is romanized with
uroman (``▁январ`` -> ``▁ianvar``); a romanized form that the vocabulary lacks becomes a new
piece whose embedding is its source piece's. Several pieces can romanize to the same form
(``▁март`` and ``▁мартъ``...): a merge of :data:`TRANSMI_MERGES` gives the new piece its score and
its embedding row: ``max`` (``min``) the highest (lowest) source score and that source's row,
``mean`` the mean score and the average of the sources' rows (the reference code sums them and
forgets to divide).

Example:
    >>> pieces = [("<unk>", 0.0), ("▁мар", -3.0), ("▁map", -5.0), ("▁мор", -4.0)]
    >>> [(p.piece, p.score, p.sources) for p in transliterated_pieces(pieces, "max")]
    [('▁mar', -3.0, (1,)), ('▁mor', -4.0, (3,))]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from speechml.config import Registry
from speechml.text.embedding_init import WORD_START
from speechml.text.romanize import Romanizer
from speechml.text.vocab import (
    ExpansionReport,
    append_embedding_rows,
    special_ids,
    unigram_vocab,
    with_added_pieces,
)

TRANSMI_MERGES = Registry("TransMI merge")


@dataclass(frozen=True)
class Merge:
    """How the source pieces of one romanized form give it a score and an embedding row."""

    score: Callable[[list[float]], float]  # the sources' scores -> the new piece's
    row: Callable[[torch.Tensor, list[float]], torch.Tensor]  # (sources' rows, scores) -> row


def _row_of_the_source_scored(pick: Callable[[list[float]], float]) -> Merge:
    return Merge(pick, lambda rows, scores: rows[scores.index(pick(scores))])


@TRANSMI_MERGES.register("max")
def max_merge() -> Merge:
    """The highest source score, and that source's row."""
    return _row_of_the_source_scored(max)


@TRANSMI_MERGES.register("min")
def min_merge() -> Merge:
    """The lowest source score, and that source's row."""
    return _row_of_the_source_scored(min)


@TRANSMI_MERGES.register("mean")
def mean_merge() -> Merge:
    """The mean source score, and the mean of the sources' rows."""
    return Merge(lambda scores: sum(scores) / len(scores), lambda rows, _: rows.mean(0))


@dataclass(frozen=True)
class RomanizedPiece:
    """A new piece and the old pieces it is the romanization of."""

    piece: str  # the romanized form, with the word-start marker of its sources
    score: float  # the sources' scores, merged
    sources: tuple[int, ...]  # ids of the old pieces that romanize to it, in id order


def transliterated_pieces(
    vocab: Sequence[tuple[str, float]],
    merge: str = "max",
    skip_ids: frozenset[int] = frozenset(),
    romanizer: Romanizer | None = None,
) -> list[RomanizedPiece]:
    """The romanized forms of ``vocab``'s pieces that ``vocab`` lacks, in first-source order.

    Their scores are merged by ``merge`` (a :data:`TRANSMI_MERGES` name).
    Pieces in ``skip_ids``, pieces of a lone word-start marker, and pieces whose romanization
    is empty or themselves are left out. Special tokens (``<...>``) are always left out.
    """
    merge_scores = TRANSMI_MERGES.get_component(merge)().score
    romanizer = romanizer or Romanizer()
    candidates = [
        i
        for i, (piece, _) in enumerate(vocab)
        if i not in skip_ids
        and piece.strip(WORD_START)
        and not (piece.startswith("<") and piece.endswith(">"))
    ]
    bodies = [vocab[i][0].lstrip(WORD_START) for i in candidates]
    forms = romanizer.romanize_many(bodies)
    known = {piece for piece, _ in vocab}
    groups: dict[str, list[int]] = {}
    for i, form in zip(candidates, forms, strict=True):
        marker = WORD_START if vocab[i][0].startswith(WORD_START) else ""
        new = marker + form.replace(" ", WORD_START)
        if form and new not in known:
            groups.setdefault(new, []).append(i)
    return [
        RomanizedPiece(piece, merge_scores([vocab[i][1] for i in ids]), tuple(ids))
        for piece, ids in groups.items()
    ]


def source_rows(
    embeddings: torch.Tensor,
    vocab: Sequence[tuple[str, float]],
    new: Sequence[RomanizedPiece],
    merge: str,
) -> torch.Tensor:
    """The embedding row of each new piece, from its sources' rows as ``merge`` says."""
    merged_row = TRANSMI_MERGES.get_component(merge)().row
    rows = []
    for item in new:
        ids = list(item.sources)
        rows.append(merged_row(embeddings[ids], [vocab[i][1] for i in ids]))
    return torch.stack(rows) if rows else embeddings.new_zeros(0, embeddings.shape[1])


def expand_with_transliterations(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    merge: str = "max",
    romanizer: Romanizer | None = None,
) -> tuple[PreTrainedTokenizerBase, ExpansionReport]:
    """Add the romanized forms of ``tokenizer``'s pieces to it and to ``model`` (in place).

    ``merge`` is a :data:`TRANSMI_MERGES` name.

    Returns:
        (the expanded tokenizer, what was done; its ``init`` is ``transmi-<merge>``).
    """
    vocab = unigram_vocab(tokenizer)
    new = transliterated_pieces(vocab, merge, special_ids(tokenizer), romanizer)
    old_rows = model.get_input_embeddings().weight.detach()[: len(vocab)]
    rows = source_rows(old_rows, vocab, new, merge)
    expanded = with_added_pieces(tokenizer, [(item.piece, item.score) for item in new])
    append_embedding_rows(model, rows)
    return expanded, ExpansionReport(len(vocab), len(new), f"transmi-{merge}")
