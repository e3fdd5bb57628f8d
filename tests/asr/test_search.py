"""Transducer search: batched greedy == one by one, streaming == full, beam search finds targets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from speechml.asr.search import (
    StreamingGreedyDecoder,
    ctc_greedy_search,
    greedy_search,
    modified_beam_search,
)

sys.path.insert(0, str(Path(__file__).parent))
from test_transducer import tiny_batch, tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    """A tiny model that has memorised the tiny batch (greedy decodes its targets)."""
    model = tiny_model("stateless")
    feats, lengths, targets, target_lengths = tiny_batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(150):
        loss, _ = model(feats, lengths, targets, target_lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


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
