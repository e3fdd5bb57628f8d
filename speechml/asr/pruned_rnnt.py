"""Pruned RNN-T loss in pure PyTorch: the method of "Pruned RNN-T for fast, memory-efficient ASR
training" (Kuang et al., 2022), as k2 and icefall use it, without k2.

The full RNN-T loss runs the joiner on every cell of the ``(T, U+1)`` lattice, so it holds logits
``(B, T, U+1, V)`` and their gradient. The pruned loss runs it on ``prune_range`` symbols a frame:

1. The *simple* loss: a trivial joiner ``am + lm`` (the encoder and the predictor each projected
   to the vocabulary), smoothed with an LM-only and an AM-only term (k2's ``rnnt_loss_smoothed``).
   Its lattice costs ``(B, U+1, T)``, never ``V`` times more.
2. Pruning windows: for each frame, the ``prune_range`` consecutive symbols where the simple
   lattice's posterior occupancy is largest, made monotonic and gap-free (:func:`prune_windows`).
3. The real joiner on the pruned lattice ``(B, T, prune_range, H)`` only.
4. The *pruned* loss: the RNN-T loss on those logits, every cell outside the windows impossible.

Topology: the regular RNN-T of ``torchaudio.functional.rnnt_loss``: node ``(s, t)`` has emitted
``s`` symbols before frame ``t``; emitting symbol ``s + 1`` stays on frame ``t``, a blank moves to
frame ``t + 1``; an utterance of ``T_b`` frames and ``U_b`` symbols ends with the blank that
leaves node ``(U_b, T_b - 1)``. A lattice is given by its arcs' log-probabilities: ``px
(B, U, T)`` (emit symbol ``s + 1`` at ``(s, t)``) and ``py (B, U+1, T)`` (blank at ``(s, t)``).

:func:`lattice_nll` runs the forward-backward recursion over anti-diagonals (``s + t``
constant: ``U + T + 1`` vectorised steps each way) and returns the arcs' posterior occupancies,
which are the gradient of the log-likelihood: the backward is closed-form and keeps nothing but
two ``(B, U+1, T)`` tensors, whatever the number of steps.

The training loss is a weighted sum whose weights warm up (:func:`loss_scales`, icefall's
schedule): the simple loss from 1.0 to 0.5, the pruned from 0.1 to 1.0.

Example:
    >>> B, T, U, V, H = 2, 6, 3, 8, 4
    >>> out = torch.nn.Linear(H, V)
    >>> simple, pruned = pruned_transducer_loss(
    ...     torch.randn(B, T, H), torch.randn(B, U + 1, H), out,
    ...     torch.randn(B, T, V), torch.randn(B, U + 1, V), torch.randint(1, V, (B, U)),
    ...     torch.tensor([6, 4]), torch.tensor([3, 2]), blank=0, prune_range=2)
    >>> simple.shape, bool(pruned > 0)
    (torch.Size([]), True)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

NEG_INF = float("-inf")


def loss_scales(
    step: int, warm_steps: int = 2000, simple_scale: float = 0.5
) -> tuple[float, float]:
    """(simple, pruned) weights of the total loss at training ``step`` (icefall's warm-up).

    The simple loss's weight falls linearly from 1.0 to ``simple_scale`` and the pruned loss's
    rises from 0.1 to 1.0 over ``warm_steps``; both stay there after. ``warm_steps=0``: no warm-up.

    Example:
        >>> loss_scales(0), loss_scales(1000), loss_scales(5000)
        ((1.0, 0.1), (0.75, 0.55), (0.5, 1.0))
    """
    if step < 0 or warm_steps < 0:
        raise ValueError(f"step and warm_steps must be >= 0, got {step} and {warm_steps}")
    done = 1.0 if step >= warm_steps else step / warm_steps
    return 1.0 - done * (1.0 - simple_scale), 0.1 + 0.9 * done


def _arc_masks(
    symbols: int, frames: int, symbol_lengths: Tensor, frame_lengths: Tensor
) -> tuple[Tensor, Tensor]:
    """(B, U, T) and (B, U+1, T) booleans: the emission and blank arcs inside ``(U_b, T_b)``."""
    s = torch.arange(symbols + 1, device=symbol_lengths.device)[None, :, None]
    t = torch.arange(frames, device=symbol_lengths.device)[None, None, :]
    in_time = t < frame_lengths[:, None, None]
    return in_time & (s[:, :-1] < symbol_lengths[:, None, None]), in_time & (
        s <= symbol_lengths[:, None, None]
    )


def _by_diagonal(diag: Tensor, kind: int, rows: int, frames: int) -> Tensor:
    """View (B, rows, T) of ``diag`` (D, B, W, 2) at ``[s + t, b, 1 + s, kind]``."""
    _, batch, width, _ = diag.shape
    plane = 2 * batch * width
    return diag.as_strided((batch, rows, frames), (2 * width, plane + 2, plane), 2 + kind)


def _pairs(nodes: Tensor, column: int) -> Tensor:
    """(N, B, W) -> (N, 2, B, W - 2) view: columns ``column + j`` and ``column + 1 + j``."""
    count, batch, width = nodes.shape
    size, stride = (count, 2, batch, width - 2), (batch * width, 1, width, 1)
    return nodes.as_strided(size, stride, column)


def _forward_backward(
    px: Tensor, py: Tensor, symbol_lengths: Tensor, frame_lengths: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Log-likelihood (B,) and arc occupancies (B, U, T), (B, U+1, T) of float arcs; arcs
    outside each utterance's lattice are ignored (their occupancy is 0)."""
    batch, rows, frames = py.shape
    diagonals = rows + frames  # d = s + t for s in 0..U, t in 0..T (t = T: after the last blank)
    # Arcs by diagonal (D, B, W, 2): column 1 + s of row d holds node (s, d - s)'s blank arc
    # ([..., 0]) and emission arc ([..., 1]); columns 0, U + 2 and arcs off the lattice: -inf.
    width = rows + 2
    arcs = px.new_full((diagonals, batch, width, 2), NEG_INF)
    emit_ok, blank_ok = _arc_masks(rows - 1, frames, symbol_lengths, frame_lengths)
    impossible = px.new_tensor(NEG_INF)
    torch.where(blank_ok, py, impossible, out=_by_diagonal(arcs, 0, rows, frames))
    torch.where(emit_ok, px, impossible, out=_by_diagonal(arcs, 1, rows - 1, frames))
    plane = 2 * batch * width
    # Node (s, t) is entered by the emission of (s - 1, t) and the blank of (s, t - 1): one
    # diagonal back, columns s and s + 1; it leaves by its own blank and emission.
    into = arcs.as_strided((diagonals, 2, batch, width - 2), (plane, 1, 2 * width, 2), 1)
    out_of = arcs.as_strided((diagonals, 2, batch, width - 2), (plane, 1, 2 * width, 2), 2)
    step = px.new_empty(2, batch, rows)

    alpha = px.new_full((diagonals, batch, width), NEG_INF)
    alpha[0, :, 1] = 0.0
    alpha_pairs, alpha_here = _pairs(alpha, 0), alpha[:, :, 1:-1]  # pairs: (s - 1, s)
    for d in range(1, diagonals):
        torch.add(alpha_pairs[d - 1], into[d - 1], out=step)
        torch.logaddexp(step[0], step[1], out=alpha_here[d])

    finals: dict[int, list[int]] = {}  # diagonal -> utterances whose final node is on it
    for b, d in enumerate((symbol_lengths + frame_lengths).tolist()):
        finals.setdefault(d, []).append(b)
    beta = px.new_full((diagonals + 1, batch, width), NEG_INF)
    beta_pairs, beta_here = _pairs(beta, 1), beta[:, :, 1:-1]  # pairs: (s, s + 1)
    for d in range(diagonals - 1, -1, -1):
        torch.add(beta_pairs[d + 1], out_of[d], out=step)
        torch.logaddexp(step[0], step[1], out=beta_here[d])
        if d in finals:  # the final node (U_b, T_b): log 1
            which = torch.tensor(finals[d], device=px.device)
            beta[d, which, 1 + symbol_lengths[which]] = 0.0

    arange = torch.arange(batch, device=px.device)
    total = alpha[symbol_lengths + frame_lengths, arange, 1 + symbol_lengths]  # (B,)
    # occupancy[d, b, c, k] = exp(alpha[d, b, c] + arc + beta[d + 1, b, c + k] - total)
    occupancy = alpha[:, :, :-1, None] + arcs[:, :, :-1]
    occupancy += beta.as_strided(occupancy.shape, (batch * width, width, 1, 1), batch * width)
    occupancy.sub_(total[None, :, None, None]).exp_()
    occ_emit = _by_diagonal(occupancy, 1, rows - 1, frames).contiguous()
    return total, occ_emit, _by_diagonal(occupancy, 0, rows, frames).contiguous()


class _LatticeNll(torch.autograd.Function):
    """Negative log-likelihood of a lattice; the backward is minus the saved occupancies."""

    @staticmethod
    def forward(
        ctx, px: Tensor, py: Tensor, symbol_lengths: Tensor, frame_lengths: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        total, occ_emit, occ_blank = _forward_backward(
            px.detach().float(), py.detach().float(), symbol_lengths, frame_lengths
        )
        ctx.save_for_backward(occ_emit, occ_blank)
        ctx.mark_non_differentiable(occ_emit, occ_blank)
        return -total, occ_emit, occ_blank

    @staticmethod
    def backward(ctx, grad_nll: Tensor, *_unused: Tensor) -> tuple[Tensor | None, ...]:
        occ_emit, occ_blank = ctx.saved_tensors
        scale = -grad_nll[:, None, None]
        return occ_emit * scale, occ_blank * scale, None, None


def lattice_nll(
    px: Tensor, py: Tensor, symbol_lengths: Tensor, frame_lengths: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Negative log-likelihood of each utterance's RNN-T lattice, and its arc occupancies.

    Args:
        px: (B, U, T) log-probability of emitting symbol ``s + 1`` at node ``(s, t)``.
        py: (B, U+1, T) log-probability of blank at node ``(s, t)``.
        symbol_lengths: (B,) int, ``U_b <= U``; frame_lengths: (B,) int, ``1 <= T_b <= T``.
            Arcs outside ``(U_b, T_b)`` never count (their values are ignored).

    Returns:
        nll (B,) float32, differentiable wrt px and py; occupancies (B, U, T) and (B, U+1, T):
        the posterior probability of each arc (``-d nll / d px``), not differentiable.

    Example:
        >>> px, py = torch.zeros(1, 1, 2), torch.zeros(1, 2, 2)  # every arc has probability 1
        >>> nll, occ_emit, _ = lattice_nll(px, py, torch.tensor([1]), torch.tensor([2]))
        >>> round(nll.item(), 4), occ_emit.tolist()  # two paths: emit on frame 0 or frame 1
        (-0.6931, [[[0.5, 0.5]]])
    """
    return _LatticeNll.apply(px, py, symbol_lengths.long(), frame_lengths.long())


def simple_lattice(
    am: Tensor,
    lm: Tensor,
    targets: Tensor,
    target_lengths: Tensor,
    blank: int,
    lm_scale: float = 0.25,
    am_scale: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Arcs of the smoothed simple lattice (k2's ``get_rnnt_logprobs_smoothed``, regular RNN-T).

    Each arc's log-probability mixes three models of the next symbol ``k`` at node ``(s, t)``:
    ``(1 - lm_scale - am_scale) * log softmax_k(am[t] + lm[s])`` (the trivial joiner)
    ``+ lm_scale * log softmax_k(lm[s])`` (LM only) ``+ am_scale * log(softmax_k(am[t] +
    log unigram))``, the unigram being the batch's mean of ``softmax(lm)`` over its valid
    positions (k2 averages over the padding too). Nothing of size ``(B, T, U+1, V)`` exists:
    the joint normaliser is one matrix product of exponentials, in float32 even under autocast.

    Args:
        am: (B, T, V) encoder projected to the vocabulary; lm: (B, U+1, V) predictor projected.
        targets: (B, U) symbol ids, valid ids everywhere (pad with ``blank``);
        target_lengths: (B,) ``U_b``.

    Returns:
        px (B, U, T) and py (B, U+1, T), float32, differentiable wrt am and lm.
    """
    am, lm = am.float(), lm.float()
    frames = am.shape[1]
    with torch.autocast(am.device.type, enabled=False):  # float32 products under autocast
        am_max = am.detach().amax(-1, keepdim=True)  # (B, T, 1): keeps exp() in range
        lm_max = lm.detach().amax(-1, keepdim=True)  # (B, U+1, 1)
        am_exp, lm_exp = (am - am_max).exp(), (lm - lm_max).exp()
        tiny = torch.finfo(torch.float32).tiny
        products = lm_exp @ am_exp.transpose(1, 2)  # (B, U+1, T)
        joint_norm = (products + tiny).log() + lm_max + am_max.transpose(1, 2)
        lm_sum = lm_exp.sum(-1, keepdim=True)
        lm_norm = lm_sum.log() + lm_max  # (B, U+1, 1)
        valid = torch.arange(lm.shape[1], device=lm.device)[None, :] <= target_lengths[:, None]
        unigram = (lm_exp / lm_sum)[valid].mean(0)  # (V,)
        am_norm = (am_exp @ unigram + tiny).log()[:, None, :] + am_max.transpose(1, 2)  # (B, 1, T)
        log_unigram = (unigram + tiny).log()

    am_emit = am.transpose(1, 2).gather(1, targets[:, :, None].expand(-1, -1, frames))  # (B, U, T)
    lm_emit = lm[:, :-1].gather(2, targets[:, :, None])  # (B, U, 1)
    am_blank, lm_blank = am[:, None, :, blank], lm[:, :, blank, None]  # (B, 1, T), (B, U+1, 1)
    joint = 1.0 - lm_scale - am_scale
    px = (
        joint * (am_emit + lm_emit - joint_norm[:, :-1])
        + lm_scale * (lm_emit - lm_norm[:, :-1])
        + am_scale * (am_emit + log_unigram[targets][:, :, None] - am_norm)
    )
    py = (
        joint * (am_blank + lm_blank - joint_norm)
        + lm_scale * (lm_blank - lm_norm)
        + am_scale * (am_blank + log_unigram[blank] - am_norm)
    )
    return px, py


def _suffix_min(x: Tensor) -> Tensor:
    """(B, T) -> out[b, t] = min(x[b, t:])."""
    return x.flip(1).cummin(1).values.flip(1)


def prune_windows(
    occ_emit: Tensor,
    occ_blank: Tensor,
    symbol_lengths: Tensor,
    frame_lengths: Tensor,
    prune_range: int,
) -> Tensor:
    """First symbol position (B, T) of each frame's window of ``min(prune_range, U+1)`` symbols.

    Each frame takes the window holding most of the lattice's posterior mass (the occupancy of
    the arcs leaving its nodes), then the starts are made to hold a path: 0 on frame 0,
    non-decreasing, rising at most ``window - 1`` from a frame to the next, and ending on the
    window ``[U_b - window + 1, U_b]`` (clamped to 0) from frame ``T_b - 1`` on, so that frame
    ``T_b - 1`` holds the final blank. Every window lies within ``[0, U]``. A path exists when
    ``U_b <= (window - 1) * T_b`` (:func:`pruned_transducer_loss` checks it).

    Args:
        occ_emit: (B, U, T), occ_blank: (B, U+1, T) arc occupancies (:func:`lattice_nll`).
        symbol_lengths, frame_lengths: (B,) ``U_b`` and ``T_b``.
        prune_range: symbols a frame, >= 2.

    Example:
        One path of U = 4 symbols over T = 4 frames: frame 0 emits none, frame 1 one,
        frame 2 two, frame 3 the last; windows of 3 symbols from 0, 0, 1, 2 hold it.

        >>> occ_emit, occ_blank = torch.zeros(1, 4, 4), torch.zeros(1, 5, 4)
        >>> occ_emit[0, [0, 1, 2, 3], [1, 2, 2, 3]] = 1.0
        >>> occ_blank[0, [0, 1, 3, 4], [0, 1, 2, 3]] = 1.0
        >>> prune_windows(occ_emit, occ_blank, torch.tensor([4]), torch.tensor([4]), 3).tolist()
        [[0, 0, 1, 2]]
    """
    _, rows, frames = occ_blank.shape
    window = min(prune_range, rows)
    node = occ_blank.clone()
    node[:, :-1] += occ_emit  # mass leaving each node
    cumulative = torch.nn.functional.pad(node.cumsum(1), (0, 0, 1, 0))  # (B, U+2, T)
    starts = (cumulative[:, window:] - cumulative[:, :-window]).argmax(1)  # (B, T)
    t = torch.arange(frames, device=starts.device)
    last = (symbol_lengths - window + 1).clamp(min=0)[:, None]
    starts = torch.where(t[None, :] < frame_lengths[:, None] - 1, starts, last)
    starts = _suffix_min(starts)  # non-decreasing, ending on `last`
    # A rise of at most window - 1 a frame is (window - 1) * t - starts non-decreasing; the clamp
    # at 0 puts frame 0 on symbol 0 (cf. k2's _adjust_pruning_lower_bound).
    slack = _suffix_min((window - 1) * t - starts).clamp(min=0)
    return (window - 1) * t - slack


class _WindowLogProbs(torch.autograd.Function):
    """Pruned logits (B, T, R, V) -> log-probabilities (B, T, R) of each cell's next symbol
    and of blank. Float32 inside; it keeps the logits (no other copy when they are float32) and
    its backward allocates one (B, T, R, V) gradient: beyond the logits, a peak of 2x their size
    where ``log_softmax`` then ``gather`` take 3x (measured at B16 T500 R5 V500)."""

    @staticmethod
    def forward(ctx, logits: Tensor, symbols: Tensor, blank: int) -> tuple[Tensor, Tensor]:
        scores = logits.float()
        norm = torch.logsumexp(scores, dim=-1)
        emit = scores.gather(-1, symbols[..., None]).squeeze(-1) - norm
        stay = scores[..., blank] - norm
        ctx.save_for_backward(scores, norm, symbols)
        ctx.blank, ctx.dtype = blank, logits.dtype
        return emit, stay

    @staticmethod
    def backward(ctx, grad_emit: Tensor, grad_blank: Tensor) -> tuple[Tensor | None, ...]:
        scores, norm, symbols = ctx.saved_tensors
        grad = scores.sub(norm[..., None]).exp_().mul_(-(grad_emit + grad_blank)[..., None])
        grad.scatter_add_(-1, symbols[..., None], grad_emit[..., None])
        grad[..., ctx.blank] += grad_blank
        return grad.to(ctx.dtype), None, None


def _rows_at(values: Tensor, cells: Tensor) -> Tensor:
    """values (B, N, ...) at row indices cells (B, T, R) -> (B, T, R, ...)."""
    batch, rows = values.shape[:2]
    offsets = torch.arange(batch, device=cells.device)[:, None, None] * rows
    flat = values.reshape(batch * rows, *values.shape[2:])
    return flat.index_select(0, (cells + offsets).reshape(-1)).view(*cells.shape, *values.shape[2:])


def _window_to_lattice(values: Tensor, cells: Tensor, symbols: int) -> Tensor:
    """Window values (B, T, R) at symbol positions cells -> (B, U+1, T), -inf off the windows."""
    batch, frames, _ = values.shape
    full = values.new_full((batch, symbols + 1, frames), NEG_INF)
    return full.scatter(1, cells.transpose(1, 2), values.transpose(1, 2))


def _check_inputs(
    enc: Tensor,
    pred: Tensor,
    am: Tensor,
    lm: Tensor,
    targets: Tensor,
    enc_lengths: Tensor,
    target_lengths: Tensor,
    prune_range: int,
) -> None:
    """Raise ValueError on shapes that disagree, lengths out of range or a window too small."""
    batch, frames = enc.shape[:2]
    symbols = targets.shape[1]
    expected = {
        "pred": (pred.shape[:2], (batch, symbols + 1)),
        "am_simple": (am.shape[:2], (batch, frames)),
        "lm_simple": (lm.shape[:2], (batch, symbols + 1)),
        "enc_lengths": (enc_lengths.shape, (batch,)),
        "target_lengths": (target_lengths.shape, (batch,)),
    }
    for name, (got, want) in expected.items():
        if tuple(got) != want:
            raise ValueError(f"{name}: expected leading shape {want}, got {tuple(got)}")
    if enc.shape[-1] != pred.shape[-1] or am.shape[-1] != lm.shape[-1]:
        raise ValueError("enc and pred, and am_simple and lm_simple, must have the same width")
    if prune_range < 2:
        raise ValueError(f"prune_range must be >= 2 (a window must hold a path), got {prune_range}")
    if enc_lengths.min() < 1 or enc_lengths.max() > frames:
        raise ValueError(f"enc_lengths must be in [1, {frames}], got {enc_lengths.tolist()}")
    if target_lengths.min() < 0 or target_lengths.max() > symbols:
        raise ValueError(f"target_lengths must be in [0, {symbols}], got {target_lengths.tolist()}")
    reach = (min(prune_range, symbols + 1) - 1) * enc_lengths
    if (target_lengths > reach).any():
        b = int((target_lengths > reach).nonzero()[0])
        raise ValueError(
            f"utterance {b} of the batch has {int(target_lengths[b])} symbols for "
            f"{int(enc_lengths[b])} frames: no path through windows of {prune_range} symbols "
            f"(at most {prune_range - 1} a frame); raise prune_range"
        )


def pruned_transducer_loss(
    enc: Tensor,
    pred: Tensor,
    joiner_out: Callable[[Tensor], Tensor],
    am_simple: Tensor,
    lm_simple: Tensor,
    targets: Tensor,
    enc_lengths: Tensor,
    target_lengths: Tensor,
    blank: int,
    prune_range: int = 5,
    lm_scale: float = 0.25,
    am_scale: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """The simple and the pruned RNN-T losses, each summed over the batch (float32).

    The joiner hidden ``tanh(enc + pred)`` and ``joiner_out`` run only on the pruned lattice
    ``(B, T, min(prune_range, U+1), H)``. With ``prune_range >= U + 1`` the pruned loss is the
    full RNN-T loss (``torchaudio.functional.rnnt_loss`` of ``joiner_out(tanh(enc + pred))``).
    Frames beyond ``enc_lengths`` and symbols beyond ``target_lengths`` never affect either loss.

    Args:
        enc: (B, T, H) encoder frames already projected by the joiner's ``enc_proj``.
        pred: (B, U+1, H) predictor outputs already projected by the joiner's ``pred_proj``.
        joiner_out: hidden (..., H) -> logits (..., V), applied to ``tanh(enc + pred)``.
        am_simple: (B, T, V) the encoder projected to the vocabulary (simple loss).
        lm_simple: (B, U+1, V) the predictor projected to the vocabulary (simple loss).
        targets: (B, U) symbol ids, padded with anything; enc_lengths, target_lengths: (B,).
        blank: blank id.
        prune_range: symbols a frame (default 5, icefall's), >= 2; at most
            ``prune_range - 1`` symbols a frame can be aligned.
        lm_scale, am_scale: weights of the LM-only and AM-only terms of the simple loss
            (icefall's 0.25 and 0.0; :func:`simple_lattice`).

    Returns:
        (simple loss, pruned loss): scalars, negative log-likelihoods summed over the batch.
    """
    _check_inputs(
        enc, pred, am_simple, lm_simple, targets, enc_lengths, target_lengths, prune_range
    )
    symbols = targets.shape[1]
    positions = torch.arange(symbols, device=targets.device)[None, :]
    targets = targets.long().masked_fill(positions >= target_lengths[:, None], blank)
    simple_px, simple_py = simple_lattice(
        am_simple, lm_simple, targets, target_lengths, blank, lm_scale, am_scale
    )
    simple_nll, occ_emit, occ_blank = lattice_nll(simple_px, simple_py, target_lengths, enc_lengths)
    starts = prune_windows(occ_emit, occ_blank, target_lengths, enc_lengths, prune_range)
    window = torch.arange(min(prune_range, symbols + 1), device=starts.device)
    cells = starts[:, :, None] + window  # (B, T, R) symbol positions
    hidden = torch.tanh(enc[:, :, None, :] + _rows_at(pred, cells))
    next_symbol = _rows_at(torch.nn.functional.pad(targets, (0, 1), value=blank), cells)
    emit, stay = _WindowLogProbs.apply(joiner_out(hidden), next_symbol, blank)
    pruned_nll, _, _ = lattice_nll(
        _window_to_lattice(emit, cells, symbols)[:, :-1],
        _window_to_lattice(stay, cells, symbols),
        target_lengths,
        enc_lengths,
    )
    return simple_nll.sum(), pruned_nll.sum()
