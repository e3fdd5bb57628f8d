"""Vocabulary expansion and the new rows: random, multivariate, mean, OFA, TransMI."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch
from transformers import XLMRobertaForMaskedLM

from speechml.errors import SpeechmlError
from speechml.text.embedding_init import EMBEDDING_INITS, InitContext, svd_factors
from speechml.text.encoder import TextModelConfig, train_text_tokenizer, xlmr_config
from speechml.text.romanize import Romanizer
from speechml.text.transmi import expand_with_transliterations, source_rows, transliterated_pieces
from speechml.text.vocab import VocabExpansionConfig, expand_vocabulary, unigram_vocab

sys.path.insert(0, str(Path(__file__).parent))
from text_toys import phrases  # noqa: E402


@pytest.fixture(scope="module")
def old_model():
    texts, _, _ = phrases(["eng", "rus", "spa"], 60)
    tokenizer = train_text_tokenizer(texts, vocab_size=120, max_length=16)
    torch.manual_seed(0)
    model = XLMRobertaForMaskedLM(xlmr_config(TextModelConfig(hidden_size=16), len(tokenizer), 16))
    return tokenizer, model


def fresh_copy(model: XLMRobertaForMaskedLM) -> XLMRobertaForMaskedLM:
    return copy.deepcopy(model)  # config included: resizing changes it


@pytest.mark.parametrize("init", sorted(EMBEDDING_INITS))
def test_expansion_keeps_old_rows_and_covers_the_new_script(old_model, init):
    tokenizer, base = old_model
    model = fresh_copy(base)
    old_rows = model.get_input_embeddings().weight.detach().clone()
    kat, _, _ = phrases(["kat"], 40)
    new_tokenizer, report = expand_vocabulary(
        model, tokenizer, kat, VocabExpansionConfig(init=init, vocab_size=60)
    )
    weights = model.get_input_embeddings().weight
    assert report.added > 0 and len(new_tokenizer) == len(tokenizer) + report.added
    assert weights.shape[0] == len(new_tokenizer)
    assert torch.equal(weights[: len(tokenizer)], old_rows)  # old rows bit-identical
    assert model.lm_head.decoder.weight.shape[0] == len(new_tokenizer)
    assert model.lm_head.bias.shape[0] == len(new_tokenizer)
    assert torch.isfinite(weights).all()
    # the new script is no longer unknown; old text keeps its ids; decoding gives the text back
    assert new_tokenizer.unk_token_id not in new_tokenizer(kat[0])["input_ids"]
    assert tokenizer.unk_token_id in tokenizer(kat[0])["input_ids"]
    eng = "january march"
    assert new_tokenizer(eng)["input_ids"] == tokenizer(eng)["input_ids"]
    ids = new_tokenizer(kat[0])["input_ids"]
    assert new_tokenizer.decode(ids, skip_special_tokens=True) == kat[0]
    assert unigram_vocab(new_tokenizer)[: len(tokenizer)] == unigram_vocab(tokenizer)


def test_random_rows_follow_the_old_statistics():
    generator = torch.Generator().manual_seed(0)
    old = torch.randn(500, 4, generator=generator) * torch.tensor([1.0, 2.0, 0.5, 3.0]) + 5.0
    context = InitContext(old_pieces=["x"] * 500, new_pieces=["y"] * 4000)
    rows = EMBEDDING_INITS["random"](old, context)
    assert torch.allclose(rows.mean(0), old.mean(0), atol=0.15)
    assert torch.allclose(rows.std(0), old.std(0), rtol=0.1)


def test_multivariate_rows_follow_the_old_covariance():
    generator = torch.Generator().manual_seed(1)
    mix = torch.tensor([[1.0, 0.9, 0.0], [0.0, 0.4, 0.0], [0.0, 0.0, 2.0]])
    old = torch.randn(800, 3, generator=generator) @ mix
    context = InitContext(old_pieces=["x"] * 800, new_pieces=["y"] * 6000)
    rows = EMBEDDING_INITS["multivariate"](old, context)
    assert torch.allclose(torch.cov(rows.T), torch.cov(old.T), atol=0.15)
    random_rows = EMBEDDING_INITS["random"](old, context)
    off_diagonal = torch.cov(random_rows.T)[0, 1]
    assert abs(off_diagonal) < 0.1 < torch.cov(rows.T)[0, 1]  # only multivariate correlates


def test_mean_rows_average_the_old_subpieces():
    old = torch.arange(12.0).view(4, 3)
    pieces = {"▁mar": [1], "zo": [2], "▁x": [3, 0]}  # id 0 is special: never averaged
    context = InitContext(
        old_pieces=["<s>", "▁mar", "zo", "▁x"],
        new_pieces=["▁marzo", "▁qq"],
        tokenize_with_old=lambda text: {" marzo": [1, 2], " qq": [0]}[text],
        skip_ids=frozenset({0}),
    )
    rows = EMBEDDING_INITS["mean"](old, context)
    assert torch.equal(rows[0], old[[1, 2]].mean(0))
    assert torch.equal(rows[1], old[1:].mean(0) * 0 + old.mean(0))  # nothing left: all rows
    assert pieces  # the table above documents the split


def test_ofa_rows_are_softmax_weighted_sums_of_similar_old_rows():
    generator = torch.Generator().manual_seed(2)
    old = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    similarity = torch.tensor([[0.9, 0.5, 0.0, 0.0, 0.0, 0.1], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    context = InitContext(
        old_pieces=[str(i) for i in range(6)],
        new_pieces=["a", "b"],
        similarity=lambda new, known: similarity.numpy(),
        top_k=2,
        temperature=0.1,
    )
    rows = EMBEDDING_INITS["ofa"](old, context)
    weights = torch.softmax(torch.tensor([0.9, 0.5], dtype=torch.float64) / 0.1, 0)
    assert torch.allclose(rows[0], weights[0] * old[0] + weights[1] * old[1])  # convex hull
    assert torch.isfinite(rows[1]).all()  # no similar piece: random coordinates
    coordinates, primitives = svd_factors(old, rank=2)
    low = EMBEDDING_INITS["ofa"](old, InitContext(**{**context.__dict__, "rank": 2}))
    # low rank: the row lies in the span of the 2 primitives
    solution = torch.linalg.lstsq(primitives.T, low[0].unsqueeze(1)).solution
    assert torch.allclose(primitives.T @ solution, low[0].unsqueeze(1), atol=1e-8)
    assert coordinates.shape == (6, 2)


def test_ofa_similarity_from_romanization_pairs_cognates():
    from speechml.text.embedding_init import romanized_similarity

    sim = romanized_similarity(["▁იანვარი", "▁ოთხ"], ["▁январь", "▁четверг", "▁xyz"])
    assert sim[0].argmax() == 0 and sim[0, 0] > sim[0, 2]


def test_transmi_merges_and_averages_in_mean_mode():
    vocab = [("<unk>", 0.0), ("▁мар", -2.0), ("▁map", -6.0), ("▁mar", -1.0), ("▁мор", -4.0)]
    vocab += [("▁mоr", -3.0)]  # a Cyrillic о among Latin letters: romanized "mor" too
    pieces = transliterated_pieces(vocab, "mean", skip_ids=frozenset({0}))
    assert [p.piece for p in pieces] == ["▁mor"]  # "▁mar" exists; "▁мор" and "▁mоr" merge
    assert pieces[0].sources == (4, 5) and pieces[0].score == pytest.approx(-3.5)
    assert transliterated_pieces(vocab, "max", frozenset({0}))[0].score == -3.0
    assert transliterated_pieces(vocab, "min", frozenset({0}))[0].score == -4.0
    rows = torch.arange(12.0).view(6, 2)
    assert torch.equal(source_rows(rows, vocab, pieces, "mean")[0], (rows[4] + rows[5]) / 2)
    assert torch.equal(source_rows(rows, vocab, pieces, "max")[0], rows[5])
    assert torch.equal(source_rows(rows, vocab, pieces, "min")[0], rows[4])


def test_transmi_expansion_lets_romanized_text_use_the_source_rows(old_model):
    tokenizer, base = old_model
    model = fresh_copy(base)
    old_rows = model.get_input_embeddings().weight.detach().clone()
    new_tokenizer, report = expand_with_transliterations(model, tokenizer, "max")
    assert report.added > 0 and report.init == "transmi-max"
    assert torch.equal(model.get_input_embeddings().weight[: len(tokenizer)], old_rows)
    romanized = Romanizer().romanize("январь апрель", "rus")
    ids = new_tokenizer(romanized, add_special_tokens=False)["input_ids"]
    assert max(ids) >= len(tokenizer)  # romanized Russian reads through the added pieces
    assert new_tokenizer.decode(ids) == romanized


def test_bpe_tokenizers_are_refused(old_model):
    _, base = old_model
    bpe = train_text_tokenizer(["january march"], "bpe", 50)
    with pytest.raises(SpeechmlError, match="only Unigram"):
        expand_vocabulary(fresh_copy(base), bpe, ["x"], VocabExpansionConfig())
