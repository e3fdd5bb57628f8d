"""Transducer search: batched greedy == one by one, streaming == full, beam search finds targets;
the blank penalty, beam 1 == greedy, exhaustive beam == brute force, shallow fusion with an LM."""

from __future__ import annotations

import itertools
import math
import random
import sys
from pathlib import Path

import jiwer
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from speechml.asr.ngram_lm import train_ngram_lm
from speechml.asr.search import (
    ShallowFusion,
    StreamingGreedyDecoder,
    ctc_greedy_search,
    greedy_search,
    modified_beam_search,
)
from speechml.asr.transducer import PredictorConfig, Transducer, TransducerConfig
from speechml.data.tokenizer import CharTokenizer

sys.path.insert(0, str(Path(__file__).parent))
from test_transducer import ENCODER, tiny_batch, tiny_model  # noqa: E402


def memorise(steps: int) -> Transducer:
    """A tiny model trained ``steps`` Adam steps on the tiny batch, in eval mode."""
    model = tiny_model("stateless")
    feats, lengths, targets, target_lengths = tiny_batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(steps):
        loss, _ = model(feats, lengths, targets, target_lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained():
    """A tiny model that has memorised the tiny batch (greedy decodes its targets)."""
    return memorise(150)


def expected_targets():
    _, _, targets, target_lengths = tiny_batch()
    return [targets[i, : int(n)].tolist() for i, n in enumerate(target_lengths)]


@pytest.mark.parametrize("kind", ["stateless", "lstm"])
def test_batched_greedy_equals_one_by_one(kind):
    model = tiny_model(kind).eval()
    feats, lengths, _, _ = tiny_batch()
    out = model.encoder(feats, lengths)
    batched = greedy_search(model, out.causal, out.lengths)
    assert any(h.tokens for h in batched)
    for i in range(len(lengths)):
        n = int(lengths[i])
        alone = model.encoder(feats[i : i + 1, :n], lengths[i : i + 1])
        single = greedy_search(model, alone.causal, alone.lengths)[0]
        assert single.tokens == batched[i].tokens
        assert single.confidence == pytest.approx(batched[i].confidence, rel=1e-4)


def test_streaming_decoding_equals_full_decoding():
    model = tiny_model("stateless").eval()
    feats = torch.randn(1, 90, 20, generator=torch.Generator().manual_seed(5))
    out = model.encoder(feats, torch.tensor([90]))
    full = greedy_search(model, out.causal, out.lengths)[0]
    decoder = StreamingGreedyDecoder(model)
    step = 4 * model.config.encoder.chunk_size
    partials = [decoder.accept(feats[:, s : s + step]) for s in range(0, 90, step)]
    final = decoder.finish()
    assert final.tokens == full.tokens and full.tokens
    assert all(partials[i] == full.tokens[: len(partials[i])] for i in range(len(partials)))


def test_greedy_and_beam_recover_memorised_targets(trained):
    feats, lengths, _, _ = tiny_batch()
    out = trained.encoder(feats, lengths)
    greedy = greedy_search(trained, out.causal, out.lengths)
    beam = modified_beam_search(trained, out.causal, out.lengths, beam=4)
    assert [h.tokens for h in greedy] == expected_targets()
    assert [h.tokens for h in beam] == expected_targets()
    assert all(0.5 < h.confidence <= 1.0 for h in greedy)


def test_confidence_is_low_for_an_untrained_model():
    model = tiny_model("stateless").eval()
    feats, lengths, _, _ = tiny_batch()
    out = model.encoder(feats, lengths)
    assert all(h.confidence < 0.5 for h in greedy_search(model, out.causal, out.lengths))


def test_ctc_greedy_merges_repeats_and_drops_blanks():
    model = tiny_model().eval()
    with torch.no_grad():  # the CTC head reads token i off dimension i of the encoder output
        model.ctc_head.weight.zero_()
        model.ctc_head.bias.zero_()
        model.ctc_head.weight[:, :12] = 10 * torch.eye(12)
    frames = [[3, 3, 0, 3, 5, 5, 0], [0, 4, 4, 7, 7, 7, 7]]  # row 2: 3 frames, then padding
    enc = torch.nn.functional.one_hot(torch.tensor(frames), 32).float()
    hyps = ctc_greedy_search(model, enc, torch.tensor([7, 3]))
    assert [h.tokens for h in hyps] == [[3, 3, 5], [4]]
    assert all(0.99 < h.confidence <= 1.0 for h in hyps)


def token_errors(hyps, references) -> jiwer.WordOutput:
    """The edit-distance alignment of ``hyps`` against ``references`` (token id lists)."""
    return jiwer.process_words(
        [" ".join(map(str, r)) for r in references],
        [" ".join(map(str, h.tokens)) for h in hyps],
    )


def transducer_searches(model, enc, lengths, blank_penalty):
    """The hypotheses of greedy and beam search at ``blank_penalty``."""
    return {
        "greedy": greedy_search(model, enc, lengths, blank_penalty=blank_penalty),
        "beam": modified_beam_search(model, enc, lengths, beam=3, blank_penalty=blank_penalty),
    }


def test_blank_penalty_trades_deletions_for_insertions(trained):
    feats, lengths, _, _ = tiny_batch()
    out = trained.encoder(feats, lengths)
    targets = expected_targets()
    penalties = (-8.0, 0.0, 8.0)
    by_penalty = {p: transducer_searches(trained, out.causal, out.lengths, p) for p in penalties}
    for name in ("greedy", "beam"):
        emitted = {p: sum(len(h.tokens) for h in hyps[name]) for p, hyps in by_penalty.items()}
        assert emitted[-8.0] < emitted[0.0] < emitted[8.0], name
        deleted = {p: token_errors(hyps[name], targets).deletions for p, hyps in by_penalty.items()}
        assert deleted[-8.0] > deleted[0.0] >= deleted[8.0], name
    # the scores stay the model's own: the penalty only changes the choices
    plain = greedy_search(trained, out.causal, out.lengths)
    assert by_penalty[0.0]["greedy"][0].confidence == plain[0].confidence


def test_streaming_applies_the_blank_penalty_like_greedy():
    model = tiny_model("stateless").eval()  # it emits 3 symbols a frame without a penalty
    feats = torch.randn(1, 90, 20, generator=torch.Generator().manual_seed(5))
    out = model.encoder(feats, torch.tensor([90]))
    step = 4 * model.config.encoder.chunk_size
    emitted = []
    for penalty in (-0.9, 0.0):  # a blank bonus of 0.9 makes it emit less
        decoder = StreamingGreedyDecoder(model, blank_penalty=penalty)
        for start in range(0, 90, step):
            decoder.accept(feats[:, start : start + step])
        full = greedy_search(model, out.causal, out.lengths, blank_penalty=penalty)[0]
        assert decoder.finish().tokens == full.tokens
        emitted.append(len(full.tokens))
    assert 0 < emitted[0] < emitted[1]


def test_ctc_blank_penalty_flips_a_close_frame():
    """A penalty turns a close blank into the token; a bonus (negative) deletes a close token.
    (The count of CTC tokens need not grow with the penalty: a blank between two equal
    symbols keeps both.)"""
    model = tiny_model().eval()
    with torch.no_grad():  # the CTC head reads token i off dimension i of the encoder output
        model.ctc_head.weight.zero_()
        model.ctc_head.bias.zero_()
        model.ctc_head.weight[:, :12] = torch.eye(12)
    enc = torch.zeros(1, 3, 32)
    enc[0, :, 0] = 10.0  # blank everywhere, token 4 a close second on frame 1
    enc[0, 1, 4] = 9.5
    lengths = torch.tensor([3])
    assert ctc_greedy_search(model, enc, lengths)[0].tokens == []
    assert ctc_greedy_search(model, enc, lengths, blank_penalty=1.0)[0].tokens == [4]
    enc[0, 2, 0], enc[0, 2, 5] = 9.5, 10.0  # token 5 a close first on frame 2
    assert ctc_greedy_search(model, enc, lengths)[0].tokens == [5]
    assert ctc_greedy_search(model, enc, lengths, blank_penalty=-1.0)[0].tokens == []


@pytest.mark.parametrize("kind", ["stateless", "lstm"])
def test_beam_one_equals_greedy_with_one_symbol_a_frame(kind):
    """Modified beam search emits at most one symbol a frame; greedy defaults to 3."""
    model = tiny_model(kind).eval()
    feats, lengths, _, _ = tiny_batch()
    out = model.encoder(feats, lengths)
    for penalty in (0.0, 1.5):
        greedy = greedy_search(model, out.causal, out.lengths, 1, blank_penalty=penalty)
        beam = modified_beam_search(model, out.causal, out.lengths, 1, blank_penalty=penalty)
        assert [h.tokens for h in beam] == [h.tokens for h in greedy]
        assert any(h.tokens for h in beam)
        for b, g in zip(beam, greedy, strict=True):  # one path: the same mean log-probability
            assert b.confidence == pytest.approx(g.confidence, rel=1e-4)


@pytest.mark.parametrize("kind", ["stateless", "lstm"])
def test_batched_beam_search_equals_one_by_one(kind):
    model = tiny_model(kind).eval()
    feats, lengths, _, _ = tiny_batch()
    out = model.encoder(feats, lengths)
    batched = modified_beam_search(model, out.causal, out.lengths, beam=3)
    for i, n in enumerate(out.lengths.tolist()):
        alone = modified_beam_search(model, out.causal[i : i + 1, :n], out.lengths[i : i + 1], 3)
        assert alone[0].tokens == batched[i].tokens
        assert alone[0].log_prob == pytest.approx(batched[i].log_prob, abs=1e-4)


def small_vocab_model(kind: str) -> Transducer:
    """A random transducer over blank + 3 tokens: few enough sequences to enumerate."""
    torch.manual_seed(1)
    predictor = PredictorConfig(kind=kind, embed_dim=8, hidden_dim=8, output_dim=8, dropout=0)
    config = TransducerConfig(vocab_size=4, encoder=ENCODER, predictor=predictor, joiner_dim=8)
    return Transducer(config).eval()


def exact_log_probs(model: Transducer, enc: Tensor, length: int) -> dict[tuple[int, ...], float]:
    """log P(y | enc (1, T, D)) of every y of ``length`` tokens of 1..3, summed over every
    alignment of at most one symbol a frame (the forward recursion over frames)."""
    sequences = list(itertools.product([1, 2, 3], repeat=length))
    ys = torch.tensor(sequences, dtype=torch.long).reshape(len(sequences), length)
    start = torch.zeros(len(ys), 1, dtype=torch.long)
    pred, _ = model.predictor(torch.cat([start, ys], dim=1))  # (N, U + 1, Dp): after each prefix
    log_probs = F.log_softmax(model.joiner(enc[:, :, None], pred[:, None]), dim=-1)  # (N,T,U+1,V)
    emit = log_probs[:, :, :-1].gather(3, ys[:, None, :, None].expand(-1, enc.shape[1], -1, 1))
    alpha = torch.full((len(ys), length + 1), -math.inf)
    alpha[:, 0] = 0.0  # emitted u tokens after the frames so far
    for t in range(enc.shape[1]):
        stay = alpha + log_probs[:, t, :, 0]
        moved = torch.cat(
            [torch.full((len(ys), 1), -math.inf), alpha[:, :-1] + emit[:, t, :, 0]], 1
        )
        alpha = torch.logaddexp(stay, moved)
    return {y: float(a) for y, a in zip(sequences, alpha[:, -1], strict=True)}


@pytest.mark.parametrize("kind", ["stateless", "lstm"])
def test_wide_beam_search_finds_the_exact_best_sequence_with_penalty_and_lm(kind):
    """With a beam that keeps every prefix, the search is exhaustive: its best sequence and its
    log-probability (all alignments merged) are those of brute-force enumeration, under
    ``log P(y) - penalty * blanks + weight * log P_lm(y </s>)``."""
    model, frames = small_vocab_model(kind), 5
    with torch.no_grad():
        enc = torch.randn(1, frames, 32, generator=torch.Generator().manual_seed(2))
        exact = {
            y: lp for n in range(frames + 1) for y, lp in exact_log_probs(model, enc, n).items()
        }
    gen = random.Random(0)
    lm = train_ngram_lm([[gen.choice([1, 1, 2]) for _ in range(4)] for _ in range(30)], 3, 4)
    for penalty, weight in ((0.0, 0.0), (0.7, 0.0), (0.0, 0.8), (-0.5, 0.8)):
        fusion = [ShallowFusion(lm, weight)]
        wide = modified_beam_search(model, enc, torch.tensor([frames]), 400, penalty, fusion)[0]

        total = {
            y: exact[y] - penalty * (frames - len(y)) + weight * lm.sentence_log_prob(list(y))
            for y in exact
        }
        best = max(total, key=total.get)
        assert tuple(wide.tokens) == best
        assert wide.log_prob == pytest.approx(exact[best], abs=1e-4)
        narrow = modified_beam_search(model, enc, torch.tensor([frames]), 2, penalty, fusion)[0]
        assert total[tuple(narrow.tokens)] <= total[best] + 1e-6


def test_fusion_of_weight_zero_is_plain_beam_search():
    model = tiny_model("stateless").eval()
    feats, lengths, _, _ = tiny_batch()
    out = model.encoder(feats, lengths)
    gen = random.Random(0)
    lm = train_ngram_lm([[gen.randrange(1, 12) for _ in range(6)] for _ in range(50)], 4, 12)
    plain = modified_beam_search(model, out.causal, out.lengths, beam=4)
    for weight in (0.0, 2.0):
        fusion = [ShallowFusion(lm, weight)] * 3
        fused = modified_beam_search(model, out.causal, out.lengths, 4, fusion=fusion)
        same = [h.tokens for h in fused] == [h.tokens for h in plain]
        assert same == (weight == 0.0)
    fused = modified_beam_search(model, out.causal, out.lengths, 4, fusion=[None, None, None])
    assert [(h.tokens, h.log_prob) for h in fused] == [(h.tokens, h.log_prob) for h in plain]


class FrameLogits(torch.nn.Module):
    """A joiner that ignores the predictor: the logits are the encoder frame's first V dims."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size

    def forward(self, enc: Tensor, pred: Tensor) -> Tensor:
        return enc[..., : self.vocab_size] + 0.0 * pred[..., :1]


def test_lm_flips_an_ambiguous_vowel_to_the_word_it_knows():
    tokenizer = CharTokenizer(list("▁acdehnost"))  # 12 ids with blank and unk
    model = tiny_model("stateless").eval()
    model.joiner = FrameLogits(12)
    ids = {c: tokenizer.encode(c)[0] for c in "cota"}
    enc = torch.zeros(1, 6, 32)
    enc[0, :, 0] = 8.0  # blank, except where a letter is said
    for frame, letter in ((0, "c"), (2, "o"), (4, "t")):
        enc[0, frame, 0] = 0.0
        enc[0, frame, ids[letter]] = 8.0
    enc[0, 2, ids["o"]], enc[0, 2, ids["a"]] = 5.0, 4.6  # "cot" or "cat"?
    texts = ["cat", "a cat sat", "the cat", "hat", "that cat", "cats", "no", "dots"]
    lm = train_ngram_lm([tokenizer.encode(t) for t in texts], 4, tokenizer.vocab_size)
    lengths = torch.tensor([6])

    def decode(weight: float) -> str:
        hyp = modified_beam_search(model, enc, lengths, 4, fusion=[ShallowFusion(lm, weight)])[0]
        return tokenizer.decode(hyp.tokens)

    assert decode(0.0) == "cot"
    assert decode(0.5) == "cat"


def test_beam_search_is_not_worse_than_greedy_on_a_partly_trained_model():
    """60 steps into memorising the tiny batch (greedy still wrong on 4 of 10 tokens here;
    beam 4 right on all), the wider search makes no more token errors than greedy."""
    model = memorise(60)
    feats, lengths, _, _ = tiny_batch()
    out = model.encoder(feats, lengths)

    def errors(hyps) -> int:
        words = token_errors(hyps, expected_targets())
        return words.substitutions + words.deletions + words.insertions

    greedy = errors(greedy_search(model, out.causal, out.lengths))
    assert greedy > 0  # still something to gain
    assert errors(modified_beam_search(model, out.causal, out.lengths, beam=4)) <= greedy
