"""Embedding rows for new vocabulary pieces, computed from the rows the model already has.

A method is chosen by name (:data:`EMBEDDING_INITS`, the ``init`` of
:class:`speechml.text.vocab.VocabExpansionConfig`); each takes the old embedding matrix
``(V, D)`` and an :class:`InitContext` and returns the new rows ``(N, D)``:

- ``random``: normal, with each dimension's mean and standard deviation over the old rows.
- ``multivariate``: multivariate normal with the old rows' mean and covariance (Hewitt 2021).
- ``mean``: the mean of the old rows of the pieces the old tokenizer splits the new piece into
  (special and unknown pieces left out; the mean of all old rows when nothing else is left).
- ``ofa``: OFA (Liu et al. 2024): the old matrix is factorised by SVD into coordinates
  ``(V, r)`` times primitives ``(r, D)``; a new piece's coordinates are the
  ``softmax(similarity / temperature)``-weighted sum of the coordinates of its ``top_k`` most
  similar old pieces, and its row is coordinates x primitives. Pieces with no similar old piece
  get random coordinates (the old coordinates' per-dimension mean and deviation).

OFA measures similarity with multilingual word vectors; offline we have none, so the default
similarity (:func:`romanized_similarity`) compares the uroman romanizations of the pieces by
character n-grams (TF-IDF, cosine): Georgian ``▁იანვ`` and Russian ``▁январ`` are close because
both read ``ianv...``.

Example:
    >>> old = torch.randn(50, 8)
    >>> context = InitContext(old_pieces=[f"p{i}" for i in range(50)], new_pieces=["x", "y"])
    >>> EMBEDDING_INITS.get_component("random")(old, context).shape
    torch.Size([2, 8])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from speechml.config import Registry
from speechml.text.romanize import Romanizer

#: The word-start marker of sentencepiece pieces.
WORD_START = "▁"

#: ``(new pieces, old pieces) -> (N, V)`` similarities in [-1, 1]; 0 means unrelated.
Similarity = Callable[[Sequence[str], Sequence[str]], np.ndarray]

EMBEDDING_INITS = Registry("embedding initialisation")


def romanized_similarity(new: Sequence[str], old: Sequence[str]) -> np.ndarray:
    """Cosine similarity of the romanized pieces' character 1-3-grams (TF-IDF), ``(N, V)``.

    A piece is romanized without a language (uroman); its word-start marker becomes a space,
    so that word-initial pieces share the n-grams of a word start.
    """
    romanizer = Romanizer()
    forms = romanizer.romanize_many([piece.replace(WORD_START, " ") for piece in [*new, *old]])
    marked = [
        (" " if piece.startswith(WORD_START) else "") + form
        for piece, form in zip([*new, *old], forms, strict=True)
    ]
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), lowercase=True)
    vectors = vectorizer.fit_transform(marked)  # rows are L2-normalised
    return (vectors[: len(new)] @ vectors[len(new) :].T).toarray()


@dataclass
class InitContext:
    """What an initialisation method may use besides the old rows."""

    old_pieces: Sequence[str]  # the old vocabulary, in row order
    new_pieces: Sequence[str]  # the pieces to initialise, in the order of the new rows
    #: the old tokenizer's ids for a text (no special tokens added); needed by ``mean``
    tokenize_with_old: Callable[[str], list[int]] | None = None
    skip_ids: frozenset[int] = frozenset()  # special and unknown ids, never averaged
    similarity: Similarity = romanized_similarity  # for ``ofa``
    rank: int = 0  # OFA's factorisation rank (0: full rank, exact for the old rows)
    top_k: int = 10  # OFA: similar old pieces a new piece's coordinates come from
    temperature: float = 0.1  # OFA: softmax temperature of the similarities
    generator: torch.Generator = field(default_factory=lambda: torch.Generator().manual_seed(0))


def _normal_like(rows: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` rows drawn with the per-dimension mean and deviation of ``rows``."""
    mean, std = rows.mean(0), rows.std(0)
    noise = torch.randn(n, rows.shape[1], generator=generator, dtype=rows.dtype)
    return mean + std * noise


@EMBEDDING_INITS.register("random")
def random_rows(old: torch.Tensor, context: InitContext) -> torch.Tensor:
    """Normal rows with the old rows' per-dimension mean and standard deviation."""
    return _normal_like(old, len(context.new_pieces), context.generator)


@EMBEDDING_INITS.register("multivariate")
def multivariate_rows(old: torch.Tensor, context: InitContext) -> torch.Tensor:
    """Multivariate normal rows with the old rows' mean and covariance."""
    rows = old.double()
    mean = rows.mean(0)
    covariance = torch.cov(rows.T) + 1e-6 * torch.eye(rows.shape[1], dtype=rows.dtype)
    scale = torch.linalg.cholesky(covariance)
    noise = torch.randn(len(context.new_pieces), rows.shape[1], generator=context.generator)
    return (mean + noise.double() @ scale.T).to(old.dtype)


@EMBEDDING_INITS.register("mean")
def subpiece_mean_rows(old: torch.Tensor, context: InitContext) -> torch.Tensor:
    """The mean of the old rows of the pieces that the old tokenizer splits each new piece into."""
    if context.tokenize_with_old is None:
        raise ValueError("the 'mean' initialisation needs the old tokenizer (tokenize_with_old)")
    fallback = old.mean(0)
    rows = []
    for piece in context.new_pieces:
        surface = piece.replace(WORD_START, " ")
        ids = [i for i in context.tokenize_with_old(surface) if i not in context.skip_ids]
        rows.append(old[ids].mean(0) if ids else fallback)
    return torch.stack(rows) if rows else old.new_zeros(0, old.shape[1])


def svd_factors(old: torch.Tensor, rank: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(coordinates ``(V, r)``, primitives ``(r, D)``) with coordinates @ primitives ~ old.

    ``rank`` 0 (or >= D) keeps every singular value: the product is ``old`` itself.
    """
    u, s, vh = torch.linalg.svd(old.double(), full_matrices=False)
    r = s.numel() if rank <= 0 else min(rank, s.numel())
    return (u[:, :r] * s[:r]).to(old.dtype), vh[:r].to(old.dtype)


@EMBEDDING_INITS.register("ofa")
def ofa_rows(old: torch.Tensor, context: InitContext) -> torch.Tensor:
    """OFA: the softmax(sim / T)-weighted coordinates of similar old pieces, x primitives."""
    coordinates, primitives = svd_factors(old, context.rank)
    n = len(context.new_pieces)
    if n == 0:
        return old.new_zeros(0, old.shape[1])
    similarity = torch.as_tensor(
        context.similarity(context.new_pieces, context.old_pieces), dtype=torch.float64
    )
    if context.skip_ids:
        similarity[:, sorted(context.skip_ids)] = float("-inf")
    k = min(context.top_k, similarity.shape[1])
    top, index = similarity.topk(k, dim=1)
    weights = torch.softmax(top / context.temperature, dim=1)
    new_coordinates = torch.einsum("nk,nkr->nr", weights, coordinates.double()[index])
    unrelated = top[:, 0] <= 0.0
    if unrelated.any():
        drawn = _normal_like(coordinates, int(unrelated.sum()), context.generator)
        new_coordinates[unrelated] = drawn.double()
    return (new_coordinates @ primitives.double()).to(old.dtype)
