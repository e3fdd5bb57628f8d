"""Pruned RNN-T loss: the lattice against the textbook recursion, the simple loss against its
definition, the pruned loss against torchaudio's full loss, padding, pruning windows, training."""

from __future__ import annotations

import pytest
import torch
import torchaudio

from speechml.asr.pruned_rnnt import (
    lattice_nll,
    loss_scales,
    prune_windows,
    pruned_transducer_loss,
    simple_lattice,
)
from speechml.asr.transducer import Joiner

BLANK = 0


def textbook_nll(px: torch.Tensor, py: torch.Tensor, symbols: int, frames: int) -> torch.Tensor:
    """-log P of one utterance by Graves' recursion over nodes (s, t), t < frames."""
    alpha: dict[tuple[int, int], torch.Tensor] = {(0, 0): px.new_zeros(())}
    for t in range(frames):
        for s in range(symbols + 1):
            terms = []
            if s > 0:
                terms.append(alpha[s - 1, t] + px[s - 1, t])
            if t > 0:
                terms.append(alpha[s, t - 1] + py[s, t - 1])
            if terms:
                alpha[s, t] = torch.logsumexp(torch.stack(terms), 0)
    return -(alpha[symbols, frames - 1] + py[symbols, frames - 1])


def random_batch(seed: int = 0, batch: int = 3, frames: int = 7, symbols: int = 5, vocab: int = 9):
    """Inputs of pruned_transducer_loss with ragged lengths and garbage in the padding."""
    gen = torch.Generator().manual_seed(seed)
    enc_dim, pred_dim, hidden = 6, 5, 8
    torch.manual_seed(seed)
    joiner = Joiner(enc_dim, pred_dim, hidden, vocab)
    enc = torch.randn(batch, frames, enc_dim, generator=gen)
    pred = torch.randn(batch, symbols + 1, pred_dim, generator=gen)
    am = torch.randn(batch, frames, vocab, generator=gen)
    lm = torch.randn(batch, symbols + 1, vocab, generator=gen)
    targets = torch.randint(1, vocab, (batch, symbols), generator=gen)
    enc_lengths = torch.tensor([frames, frames - 2, 3][:batch])
    target_lengths = torch.tensor([symbols, 2, 0][:batch])
    for b in range(batch):  # padding that must not matter: huge values, invalid ids
        enc[b, enc_lengths[b] :] = 1e3
        am[b, enc_lengths[b] :] = -1e3
        lm[b, target_lengths[b] + 1 :] = 1e3
        pred[b, target_lengths[b] + 1 :] = -1e3
        targets[b, target_lengths[b] :] = -1
    for tensor in (enc, pred, am, lm):
        tensor.requires_grad_(True)
    return joiner, enc, pred, am, lm, targets, enc_lengths, target_lengths


def losses(joiner, enc, pred, am, lm, targets, enc_lengths, target_lengths, **options):
    """(simple, pruned) of pruned_transducer_loss with ``joiner``'s projections."""
    return pruned_transducer_loss(
        joiner.enc_proj(enc),
        joiner.pred_proj(pred),
        joiner.out,
        am,
        lm,
        targets,
        enc_lengths,
        target_lengths,
        blank=BLANK,
        **options,
    )


def torchaudio_full(joiner, enc, pred, targets, enc_lengths, target_lengths):
    """torchaudio's RNN-T loss on the joiner's full lattice, summed."""
    logits = joiner(enc[:, :, None], pred[:, None])
    targets = targets.clamp(min=0).int()
    return torchaudio.functional.rnnt_loss(
        logits, targets, enc_lengths.int(), target_lengths.int(), blank=BLANK, reduction="sum"
    )


def test_lattice_equals_the_textbook_recursion_and_ignores_arcs_off_the_lattice():
    gen = torch.Generator().manual_seed(1)
    symbols, frames = 4, 6
    symbol_lengths, frame_lengths = torch.tensor([4, 1, 0, 3]), torch.tensor([6, 2, 4, 1])
    px = torch.randn(4, symbols, frames, generator=gen).log_softmax(1)
    py = torch.randn(4, symbols + 1, frames, generator=gen).log_softmax(1)
    for b in range(4):  # NaN off each utterance's lattice: must be ignored, not propagated
        px[b, symbol_lengths[b] :], px[b, :, frame_lengths[b] :] = float("nan"), float("nan")
        py[b, symbol_lengths[b] + 1 :], py[b, :, frame_lengths[b] :] = float("nan"), float("nan")
    px.requires_grad_(True)
    py.requires_grad_(True)
    nll, occ_emit, occ_blank = lattice_nll(px, py, symbol_lengths, frame_lengths)
    nll.sum().backward()
    for b in range(4):
        u, t = int(symbol_lengths[b]), int(frame_lengths[b])
        ref_px = px.detach()[b].double().requires_grad_(True)
        ref_py = py.detach()[b].double().requires_grad_(True)
        expected = textbook_nll(ref_px, ref_py, u, t)
        grad_px, grad_py = torch.autograd.grad(
            expected, [ref_px, ref_py], allow_unused=True, materialize_grads=True
        )
        assert nll[b].item() == pytest.approx(expected.item(), abs=1e-5)
        assert torch.allclose(px.grad[b, :u, :t].double(), grad_px[:u, :t], atol=1e-6)
        assert torch.allclose(py.grad[b, : u + 1, :t].double(), grad_py[: u + 1, :t], atol=1e-6)
        assert torch.all(px.grad[b, u:] == 0) and torch.all(px.grad[b, :, t:] == 0)
        assert torch.all(py.grad[b, u + 1 :] == 0) and torch.all(py.grad[b, :, t:] == 0)
    # Occupancies are minus the gradient; every path has one final blank.
    assert torch.equal(occ_emit, -px.grad) and torch.equal(occ_blank, -py.grad)
    final = occ_blank[torch.arange(4), symbol_lengths, frame_lengths - 1]
    assert torch.allclose(final, torch.ones(4))


def test_simple_loss_without_smoothing_is_the_rnnt_loss_of_am_plus_lm():
    joiner, enc, pred, am, lm, targets, enc_lengths, target_lengths = random_batch(seed=2)
    batch = (joiner, enc, pred, am, lm, targets, enc_lengths, target_lengths)
    simple, _ = losses(*batch, lm_scale=0.0, am_scale=0.0)
    logits = am[:, :, None] + lm[:, None]
    expected = torchaudio.functional.rnnt_loss(
        logits,
        targets.clamp(min=0).int(),
        enc_lengths.int(),
        target_lengths.int(),
        blank=BLANK,
        reduction="sum",
    )
    assert simple.item() == pytest.approx(expected.item(), rel=1e-5)
    got = torch.autograd.grad(simple, [am, lm])
    want = torch.autograd.grad(expected, [am, lm])
    for g, w in zip(got, want, strict=True):
        assert torch.allclose(g, w, atol=1e-5)


def test_smoothed_simple_loss_follows_its_definition():
    """Each arc mixes log softmax(am + lm), log softmax(lm) and log softmax(am + log unigram),
    the unigram being the mean of softmax(lm) over the batch's valid positions."""
    _, _, _, am, lm, targets, enc_lengths, target_lengths = random_batch(seed=3)
    targets = targets.clamp(min=0)
    lm_scale, am_scale = 0.25, 0.1
    px, py = simple_lattice(am, lm, targets, target_lengths, BLANK, lm_scale, am_scale)
    nll, _, _ = lattice_nll(px, py, target_lengths, enc_lengths)
    am64, lm64 = am.detach().double(), lm.detach().double()
    valid_lm = torch.cat([lm64[b, : target_lengths[b] + 1] for b in range(len(lm64))])
    log_unigram = valid_lm.softmax(-1).mean(0).log()
    joint = (am64[:, None] + lm64[:, :, None]).log_softmax(-1)  # (B, U+1, T, V)
    lm_only = lm64.log_softmax(-1)[:, :, None]  # (B, U+1, 1, V)
    am_only = (am64 + log_unigram).log_softmax(-1)[:, None]  # (B, 1, T, V)
    mixed = (1 - lm_scale - am_scale) * joint + lm_scale * lm_only + am_scale * am_only
    for b in range(len(am)):
        u, t = int(target_lengths[b]), int(enc_lengths[b])
        emit = mixed[b, torch.arange(u)[:, None], torch.arange(t)[None], targets[b, :u, None]]
        expected = textbook_nll(emit, mixed[b, : u + 1, :t, BLANK], u, t)
        assert nll[b].item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("prune_range", [6, 50])  # U + 1 and more: the whole lattice
def test_pruned_loss_with_a_full_window_equals_torchaudio_in_value_and_gradients(prune_range):
    joiner, enc, pred, am, lm, targets, enc_lengths, target_lengths = random_batch(seed=4)
    batch = (joiner, enc, pred, am, lm, targets, enc_lengths, target_lengths)
    _, pruned = losses(*batch, prune_range=prune_range)
    expected = torchaudio_full(joiner, enc, pred, targets, enc_lengths, target_lengths)
    assert pruned.item() == pytest.approx(expected.item(), rel=1e-5)
    wrt = [enc, pred, *joiner.parameters()]
    got = torch.autograd.grad(pruned, wrt)
    want = torch.autograd.grad(expected, wrt)
    for g, w in zip(got, want, strict=True):
        assert torch.allclose(g, w, rtol=1e-4, atol=1e-5)


def test_a_padded_batch_equals_its_utterances_one_by_one():
    joiner, enc, pred, am, lm, targets, enc_lengths, target_lengths = random_batch(seed=5)
    options = {"prune_range": 3, "lm_scale": 0.25}
    simple, pruned = losses(
        joiner, enc, pred, am, lm, targets, enc_lengths, target_lengths, **options
    )
    (simple + pruned).backward()
    one_by_one = [0.0, 0.0]
    for b in range(3):
        t, u = int(enc_lengths[b]), int(target_lengths[b])
        alone = [x[b : b + 1].detach().clone().requires_grad_(True) for x in (enc, am)]
        symbol_side = [x[b : b + 1, : u + 1].detach() for x in (pred, lm)]
        one_simple, one_pruned = losses(
            joiner,
            alone[0][:, :t],
            symbol_side[0],
            alone[1][:, :t],
            symbol_side[1],
            targets[b : b + 1, :u],
            enc_lengths[b : b + 1],
            target_lengths[b : b + 1],
            **options,
        )
        one_by_one[0] += one_simple.item()
        one_by_one[1] += one_pruned.item()
        (one_simple + one_pruned).backward()
        assert torch.allclose(enc.grad[b, :t], alone[0].grad[0, :t], atol=1e-5)
        assert torch.allclose(am.grad[b, :t], alone[1].grad[0, :t], atol=1e-5)
        assert torch.all(enc.grad[b, t:] == 0) and torch.all(am.grad[b, t:] == 0)
        assert torch.all(pred.grad[b, u + 1 :] == 0) and torch.all(lm.grad[b, u + 1 :] == 0)
    assert simple.item() == pytest.approx(one_by_one[0], rel=1e-6)
    assert pruned.item() == pytest.approx(one_by_one[1], rel=1e-6)


def test_pruning_only_removes_paths():
    """A window smaller than U+1 keeps a subset of the paths: its loss is never lower, and a
    window that covers every symbol gives the full loss."""
    joiner, enc, pred, am, lm, targets, enc_lengths, target_lengths = random_batch(
        seed=6, batch=2, frames=9, symbols=7
    )
    batch = (joiner, enc, pred, am, lm, targets, enc_lengths, target_lengths)
    full = torchaudio_full(joiner, enc, pred, targets, enc_lengths, target_lengths).item()
    pruned = {r: losses(*batch, prune_range=r)[1].item() for r in range(2, 9)}
    assert all(value >= full - 1e-4 for value in pruned.values())
    assert pruned[2] > full + 1e-3  # two symbols a frame do cut paths here
    assert pruned[8] == pytest.approx(full, rel=1e-5)


@pytest.mark.parametrize("prune_range", [2, 3, 5])
def test_windows_start_at_zero_rise_without_gaps_and_hold_the_final_blank(prune_range):
    _, _, _, am, lm, targets, enc_lengths, target_lengths = random_batch(
        seed=7, frames=12, symbols=9
    )
    targets = targets.clamp(min=0)
    _, occ_emit, occ_blank = lattice_nll(
        *simple_lattice(am, lm, targets, target_lengths, BLANK), target_lengths, enc_lengths
    )
    starts = prune_windows(occ_emit, occ_blank, target_lengths, enc_lengths, prune_range)
    assert starts.shape == (3, 12)
    rises = starts.diff(dim=1)
    assert torch.all(starts[:, 0] == 0)
    assert torch.all(rises >= 0) and torch.all(rises <= prune_range - 1)
    assert torch.all(starts + prune_range - 1 <= 9)  # windows stay within [0, U]
    for b in range(3):
        last = max(int(target_lengths[b]) - prune_range + 1, 0)
        assert torch.all(starts[b, enc_lengths[b] - 1 :] == last)


def test_windows_follow_a_sharp_alignment():
    """When the simple lattice is sure of one path, every frame's window holds its symbols."""
    path = [0, 0, 1, 3, 3, 4, 6, 6]  # the symbol position that each frame's blank leaves
    frames, symbols, prune_range = len(path), 6, 3
    occ_emit, occ_blank = torch.zeros(1, symbols, frames), torch.zeros(1, symbols + 1, frames)
    entered = 0
    for t, leave in enumerate(path):
        occ_emit[0, entered:leave, t] = 1.0
        occ_blank[0, leave, t] = 1.0
        entered = leave
    lengths = torch.tensor([symbols]), torch.tensor([frames])
    starts = prune_windows(occ_emit, occ_blank, *lengths, prune_range)[0]
    entered = 0
    for t, leave in enumerate(path):
        assert starts[t] <= entered and leave <= starts[t] + prune_range - 1, (t, starts.tolist())
        entered = leave


@pytest.mark.parametrize(
    "change, message",
    [
        ({"prune_range": 1}, "prune_range must be >= 2"),
        ({"enc_lengths": torch.tensor([7, 5, 0])}, "enc_lengths must be in"),
        ({"target_lengths": torch.tensor([6, 2, 0])}, "target_lengths must be in"),
        ({"enc_lengths": torch.tensor([7, 1, 3]), "prune_range": 2}, "utterance 1 of the batch"),
        ({"lm": torch.zeros(3, 5, 9)}, "lm_simple: expected leading shape"),
    ],
)
def test_inconsistent_inputs_are_refused(change, message):
    joiner, enc, pred, am, lm, targets, enc_lengths, target_lengths = random_batch(seed=8)
    args = {
        "enc": enc,
        "pred": pred,
        "am": am,
        "lm": lm,
        "targets": targets,
        "enc_lengths": enc_lengths,
        "target_lengths": target_lengths,
    }
    args.update({k: v for k, v in change.items() if k != "prune_range"})
    with pytest.raises(ValueError, match=message):
        losses(joiner, *args.values(), prune_range=change.get("prune_range", 5))


def test_bfloat16_inputs_give_float32_losses_close_to_float32():
    joiner, enc, pred, am, lm, targets, enc_lengths, target_lengths = random_batch(seed=9)
    reference = losses(joiner, enc, pred, am, lm, targets, enc_lengths, target_lengths)
    half = joiner.to(torch.bfloat16)
    low = [x.detach().bfloat16() for x in (enc, pred, am, lm)]
    got = losses(half, *low, targets, enc_lengths, target_lengths)
    for value, expected in zip(got, reference, strict=True):
        assert value.dtype == torch.float32
        assert value.item() == pytest.approx(expected.item(), rel=0.03)


def test_the_simple_loss_stays_float32_under_autocast():
    """Autocast may run the joiner in bfloat16, never the simple loss's normalisers."""
    joiner, enc, pred, am, lm, targets, enc_lengths, target_lengths = random_batch(seed=10)
    batch = (joiner, enc, pred, am, lm, targets, enc_lengths, target_lengths)
    reference, _ = losses(*batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        simple, pruned = losses(*batch)
    assert simple.item() == pytest.approx(reference.item(), rel=1e-6)
    assert pruned.dtype == torch.float32


def test_loss_falls_when_a_tiny_model_trains_on_it():
    torch.manual_seed(0)
    vocab, feat_dim, dim = 8, 6, 12
    encoder = torch.nn.Linear(feat_dim, dim)
    embed = torch.nn.Embedding(vocab, dim)
    joiner = Joiner(dim, dim, 16, vocab)
    am_proj, lm_proj = torch.nn.Linear(dim, vocab), torch.nn.Linear(dim, vocab)
    modules = torch.nn.ModuleList([encoder, embed, joiner, am_proj, lm_proj])
    optimizer = torch.optim.Adam(modules.parameters(), lr=0.03)
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(4, 10, feat_dim, generator=gen)
    targets = torch.randint(1, vocab, (4, 6), generator=gen)
    enc_lengths, target_lengths = torch.tensor([10, 9, 8, 10]), torch.tensor([6, 5, 4, 6])
    history = torch.cat([targets.new_zeros(4, 1), targets], dim=1)  # blank, then the targets
    labels = (targets, enc_lengths, target_lengths)
    trace = []
    for _ in range(25):
        enc, pred = encoder(feats), embed(history)
        simple, pruned = losses(
            joiner, enc, pred, am_proj(enc), lm_proj(pred), *labels, prune_range=3
        )
        optimizer.zero_grad()
        (0.5 * simple + pruned).backward()
        optimizer.step()
        trace.append(pruned.item())
    assert trace[-1] < 0.5 * trace[0], trace


def test_loss_scales_warm_up_as_icefall():
    assert loss_scales(0, 2000) == (1.0, pytest.approx(0.1))
    assert loss_scales(500, 2000) == (pytest.approx(0.875), pytest.approx(0.325))
    assert loss_scales(2000, 2000) == (0.5, 1.0) == loss_scales(10**6, 2000)
    assert loss_scales(0, 0) == (0.5, 1.0)  # no warm-up
    assert loss_scales(100, 200, simple_scale=0.2) == (pytest.approx(0.6), pytest.approx(0.55))
    with pytest.raises(ValueError, match="must be >= 0"):
        loss_scales(-1)
