"""Transducer search: batched greedy, modified beam search, and chunk-by-chunk streaming.

Greedy search keeps its state in a :class:`GreedyState`, so decoding a whole utterance and
decoding it chunk by chunk (:class:`StreamingGreedyDecoder`) run the same code over the same
encoder frames: with the same chunk mask they give the same hypotheses.

Every search takes a ``blank_penalty``, subtracted from the blank's log-probability before
each choice. Modified beam search (at most one symbol a frame, as in icefall) searches the
utterances of a batch together and can fuse an n-gram LM a utterance (:class:`ShallowFusion`).

Example:
    >>> import torch
    >>> from speechml.asr.recognizer import Recognizer
    >>> model = Recognizer.load("exp/base/model").model  # a recogniser dir (asr train)
    >>> feats, lengths = torch.randn(2, 100, 80), torch.tensor([100, 60])  # (B, T, F) fbank
    >>> out = model.encoder(feats, lengths)
    >>> hyps = greedy_search(model, out.causal, out.lengths)
    >>> len(hyps), all(0.0 < hyp.confidence <= 1.0 for hyp in hyps)
    (2, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from speechml.asr.adapters import joiner_rows
from speechml.asr.ngram_lm import NgramLm
from speechml.asr.transducer import LstmPredictor, Transducer


@dataclass
class Hypothesis:
    """A decoded token sequence with its log-probability and a confidence in [0, 1]."""

    tokens: list[int]
    log_prob: float  # greedy, CTC: sum over the emitted tokens; beam: log P(tokens | audio)
    confidence: float  # exp(mean log-probability of the chosen symbols, blanks included)


@dataclass
class GreedyState:
    """Greedy search state of a batch: predictor output and state, tokens, scores."""

    pred_out: Tensor  # (B, 1, Dp)
    pred_state: Tensor
    tokens: list[list[int]]
    token_log_prob: Tensor  # (B,) sum over emitted tokens
    symbol_log_prob: Tensor  # (B,) sum over every chosen symbol (blanks too)
    symbols: Tensor  # (B,) count of chosen symbols
    frames_done: int = 0
    hypotheses: list[Hypothesis] = field(default_factory=list)


def _batch_dim(model: Transducer) -> int:
    return 2 if isinstance(model.predictor, LstmPredictor) else 0


def _select(new: Tensor, old: Tensor, rows: Tensor, batch_dim: int) -> Tensor:
    shape = [1] * new.dim()
    shape[batch_dim] = -1
    return torch.where(rows.view(shape), new, old)


def init_greedy(model: Transducer, batch_size: int, device: torch.device) -> GreedyState:
    """The state before any frame: the predictor has seen the blank start symbol."""
    start = torch.full((batch_size, 1), model.config.blank_id, dtype=torch.long, device=device)
    pred_out, pred_state = model.predictor(start)
    zeros = torch.zeros(batch_size, device=device)
    return GreedyState(
        pred_out, pred_state, [[] for _ in range(batch_size)], zeros, zeros.clone(), zeros.clone()
    )


def _penalised(log_probs: Tensor, blank: int, blank_penalty: float) -> Tensor:
    """``log_probs`` (..., V) with ``blank_penalty`` subtracted from the blank's column."""
    if not blank_penalty:
        return log_probs
    penalised = log_probs.clone()
    penalised[..., blank] -= blank_penalty
    return penalised


@torch.no_grad()
def greedy_step(
    model: Transducer,
    enc: Tensor,
    lengths: Tensor,
    state: GreedyState,
    max_symbols: int = 3,
    blank_penalty: float = 0.0,
) -> GreedyState:
    """Advance greedy search over encoder frames ``enc`` (B, T, D) of which ``lengths`` are real.

    Up to ``max_symbols`` tokens may be emitted per frame. ``blank_penalty`` is subtracted
    from the blank's log-probability before each choice (positive: fewer deletions); the
    scores and confidences stay the model's. ``state`` is updated in place.
    """
    blank = model.config.blank_id
    batch_dim = _batch_dim(model)
    for t in range(enc.shape[1]):
        active = t < lengths
        frame = enc[:, t : t + 1]
        for _ in range(max_symbols):
            log_probs = F.log_softmax(model.joiner(frame, state.pred_out)[:, 0].float(), dim=-1)
            best = _penalised(log_probs, blank, blank_penalty).argmax(dim=-1)
            best_lp = log_probs.gather(1, best[:, None])[:, 0]
            state.symbol_log_prob += torch.where(active, best_lp, 0.0)
            state.symbols += active.float()
            emit = active & (best != blank)
            if not emit.any():
                break
            for row in emit.nonzero().flatten().tolist():
                state.tokens[row].append(int(best[row]))
            state.token_log_prob += torch.where(emit, best_lp, 0.0)
            new_out, new_state = model.predictor(best[:, None], state.pred_state)
            state.pred_out = _select(new_out, state.pred_out, emit, 0)
            state.pred_state = _select(new_state, state.pred_state, emit, batch_dim)
            active = emit
    state.frames_done += enc.shape[1]
    return state


def finish_greedy(state: GreedyState) -> list[Hypothesis]:
    """The hypotheses of a finished greedy search."""
    return [
        Hypothesis(
            tokens=list(tokens),
            log_prob=float(state.token_log_prob[i]),
            confidence=math.exp(
                float(state.symbol_log_prob[i]) / max(1.0, float(state.symbols[i]))
            ),
        )
        for i, tokens in enumerate(state.tokens)
    ]


def greedy_search(
    model: Transducer,
    enc: Tensor,
    lengths: Tensor,
    max_symbols: int = 3,
    blank_penalty: float = 0.0,
) -> list[Hypothesis]:
    """Batched greedy search over encoder outputs ``enc`` (B, T, D) with ``lengths`` (B,).

    With ``max_symbols=1`` it equals :func:`modified_beam_search` with ``beam=1``.
    """
    state = init_greedy(model, enc.shape[0], enc.device)
    return finish_greedy(greedy_step(model, enc, lengths, state, max_symbols, blank_penalty))


@torch.no_grad()
def ctc_greedy_search(
    model: Transducer, enc: Tensor, lengths: Tensor, blank_penalty: float = 0.0
) -> list[Hypothesis]:
    """Best path of the CTC head over ``enc`` (B, T, D): the argmax of each frame, repeats
    merged, blanks removed. The search of a CTC-trained encoder (``ctc_weight`` 1), whose
    predictor and joiner never learned. ``blank_penalty`` is subtracted from the blank's
    log-probability before each frame's choice."""
    log_probs = F.log_softmax(model.ctc_head(enc).float(), dim=-1)
    best_ids = _penalised(log_probs, model.config.blank_id, blank_penalty).argmax(dim=-1)
    best = log_probs.gather(2, best_ids[..., None])[..., 0]  # (B, T)
    hypotheses = []
    for row, length in enumerate(lengths.tolist()):
        ids = best_ids[row, :length]
        keep = (ids != model.config.blank_id) & torch.cat(
            [ids.new_ones(1, dtype=torch.bool), ids[1:] != ids[:-1]]
        )
        chosen = best[row, :length]
        hypotheses.append(
            Hypothesis(
                tokens=ids[keep].tolist(),
                log_prob=float(chosen[keep].sum()),
                confidence=math.exp(float(chosen.mean())) if length else 1.0,
            )
        )
    return hypotheses


@dataclass(frozen=True)
class ShallowFusion:
    """An n-gram LM's part in the beam search of one utterance (shallow fusion).

    Each non-blank token adds ``weight * log P_lm(token | context)`` to a hypothesis's score;
    with ``eos``, each final hypothesis adds ``weight * log P_lm(</s> | context)`` before the
    best is chosen.
    """

    lm: NgramLm  # over the recogniser's token ids
    weight: float = 0.3  # the LM's weight; 0 is plain beam search
    eos: bool = True  # score the end of sentence at the end


@dataclass
class _BeamHyp:
    """A hypothesis of modified beam search; its token sequence is its key in the beam."""

    acoustic: float  # the model's log-probability of the tokens, summed over merged alignments
    extra: float  # weighted LM log-probability of the tokens minus the penalty of each blank
    row: int  # row of its predictor output and state in the search's tables

    @property
    def score(self) -> float:
        """What the search ranks by."""
        return self.acoustic + self.extra


@dataclass
class _Candidate:
    """An extension of one frame: where its predictor state comes from, and its score."""

    acoustic: float
    extra: float
    reuse_row: int | None  # the row of an unchanged token sequence (a blank was chosen)
    parent_row: int  # else the predictor runs on ``token`` from the parent's row
    token: int

    def add_path(self, acoustic: float) -> None:
        """Merge another alignment of the same tokens (same LM score and blank count)."""
        high, low = max(self.acoustic, acoustic), min(self.acoustic, acoustic)
        self.acoustic = high + math.log1p(math.exp(low - high))


def _lm_scores(
    rows: list[tuple[int, tuple[int, ...], _BeamHyp]],
    fusion: Sequence[ShallowFusion | None],
    vocab_size: int,
    blank: int,
) -> np.ndarray:
    """``(K, V)``: each row's weighted LM log-probability of every token (0 for the blank)."""
    scores = np.zeros((len(rows), vocab_size), dtype=np.float32)
    for i, (b, key, _) in enumerate(rows):
        part = fusion[b]
        if part is not None and part.weight:
            scores[i] = part.weight * part.lm.log_probs(part.lm.context(key))[:vocab_size]
    scores[:, blank] = 0.0
    return scores


def _extend(
    beam: dict[tuple[int, ...], _BeamHyp],
    rows: list[tuple[int, tuple[int, ...], _BeamHyp]],
    log_probs: np.ndarray,
    lm_scores: np.ndarray,
    top_ids: list[list[int]],
    blank: int,
    blank_penalty: float,
    size: int,
) -> dict[tuple[int, ...], _Candidate]:
    """One utterance's ``size`` best extensions of one frame, equal token sequences merged.

    ``rows`` are ``(row in log_probs, key, hypothesis)`` of this utterance. Each hypothesis
    extends by the blank, by its ``top_ids`` and by every token that leads to another
    hypothesis of the beam, so that every alignment of a kept sequence is counted.
    """
    candidates: dict[tuple[int, ...], _Candidate] = {}

    def add(key: tuple[int, ...], candidate: _Candidate) -> None:
        known = candidates.setdefault(key, candidate)
        if known is not candidate:
            known.add_path(candidate.acoustic)
            if candidate.reuse_row is not None:
                known.reuse_row = candidate.reuse_row

    for i, key, hyp in rows:
        stay = hyp.acoustic + float(log_probs[i, blank])
        add(key, _Candidate(stay, hyp.extra - blank_penalty, hyp.row, -1, blank))
        into_beam = [k[-1] for k in beam if len(k) == len(key) + 1 and k[:-1] == key]
        for token in dict.fromkeys([*top_ids[i], *into_beam]):
            acoustic = hyp.acoustic + float(log_probs[i, token])
            extra = hyp.extra + float(lm_scores[i, token])
            add((*key, token), _Candidate(acoustic, extra, None, hyp.row, token))
    kept = sorted(candidates, key=lambda k: -(candidates[k].acoustic + candidates[k].extra))
    return {key: candidates[key] for key in kept[:size]}


@torch.no_grad()
def modified_beam_search(
    model: Transducer,
    enc: Tensor,
    lengths: Tensor,
    beam: int = 4,
    blank_penalty: float = 0.0,
    fusion: Sequence[ShallowFusion | None] | None = None,
) -> list[Hypothesis]:
    """Beam search with at most one symbol per frame; equal token sequences are merged.

    The utterances of the batch are searched together: one joiner call and one predictor call
    a frame for every hypothesis of every utterance. The predictor's output depends only on
    the token sequence, so a merged hypothesis keeps the state of whichever path reached it.

    Args:
        model: the transducer (in eval mode).
        enc: encoder outputs (B, T, D); lengths: (B,) real frames.
        beam: hypotheses kept a frame, per utterance (1: greedy with one symbol a frame).
        blank_penalty: subtracted from the blank's log-probability (with one symbol a frame
            the same as a bonus of that much a token); positive means fewer deletions.
        fusion: an LM for each utterance (or None there), added to the scores of tokens.

    Returns:
        The best hypothesis of each utterance: ``log_prob`` is the model's own (without
        penalty or LM), ``confidence`` its exp over the frames.
    """
    if beam < 1:
        raise ValueError(f"beam must be at least 1, got {beam}")
    batch, vocab = enc.shape[0], model.config.vocab_size
    fusion = list(fusion) if fusion is not None else [None] * batch
    if len(fusion) != batch:
        raise ValueError(f"{len(fusion)} fusion entries for {batch} utterances")
    if any(part is not None and part.lm.vocab_size != vocab for part in fusion):
        raise ValueError(f"the LM's vocabulary is not the model's ({vocab} ids)")
    blank, batch_dim, device = model.config.blank_id, _batch_dim(model), enc.device
    pred_out, pred_state = model.predictor(
        torch.full((batch, 1), blank, dtype=torch.long, device=device)
    )
    beams = [{(): _BeamHyp(0.0, 0.0, b)} for b in range(batch)]
    frames = lengths.tolist()
    for t in range(max(frames, default=0)):
        rows = [
            (b, key, hyp) for b in range(batch) if t < frames[b] for key, hyp in beams[b].items()
        ]
        utts = torch.tensor([b for b, _, _ in rows], device=device)
        pred_rows = torch.tensor([hyp.row for _, _, hyp in rows], device=device)
        with joiner_rows(model, [b for b, _, _ in rows]):  # language adapters: by utterance
            logits = model.joiner(enc[utts, t][:, None], pred_out[pred_rows])
        log_probs = F.log_softmax(logits[:, 0].float(), dim=-1).cpu()
        lm_scores = _lm_scores(rows, fusion, vocab, blank)
        fused = log_probs + torch.from_numpy(lm_scores)
        fused[:, blank] = -math.inf
        top_ids = fused.topk(min(beam, vocab - 1), dim=-1).indices.tolist()
        log_probs_np = log_probs.numpy()
        extended: list[dict[tuple[int, ...], _Candidate]] = []
        for b in range(batch):
            own = [(i, key, hyp) for i, (u, key, hyp) in enumerate(rows) if u == b]
            if own:
                scores = (log_probs_np, lm_scores, top_ids)
                extended.append(_extend(beams[b], own, *scores, blank, blank_penalty, beam))
            else:  # finished: its hypotheses stay as they are
                kept = {
                    k: _Candidate(h.acoustic, h.extra, h.row, -1, blank)
                    for k, h in beams[b].items()
                }
                extended.append(kept)
        pred_out, pred_state, beams = _advance(model, extended, pred_out, pred_state, batch_dim)
    return [_best(beams[b], fusion[b], int(frames[b])) for b in range(batch)]


def _advance(
    model: Transducer,
    extended: list[dict[tuple[int, ...], _Candidate]],
    pred_out: Tensor,
    pred_state: Tensor,
    batch_dim: int,
) -> tuple[Tensor, Tensor, list[dict[tuple[int, ...], _BeamHyp]]]:
    """The predictor tables and beams after a frame: kept rows reused, new tokens run in one
    predictor call."""
    reuse = [c.reuse_row for beam in extended for c in beam.values() if c.reuse_row is not None]
    grown = [c for beam in extended for c in beam.values() if c.reuse_row is None]
    device = pred_out.device
    reuse_index = torch.tensor(reuse, dtype=torch.long, device=device)
    outs, states = [pred_out[reuse_index]], [pred_state.index_select(batch_dim, reuse_index)]
    if grown:
        parents = torch.tensor([c.parent_row for c in grown], dtype=torch.long, device=device)
        tokens = torch.tensor([[c.token] for c in grown], dtype=torch.long, device=device)
        out, state = model.predictor(tokens, pred_state.index_select(batch_dim, parents))
        outs.append(out)
        states.append(state)
    beams, reused, new = [], 0, len(reuse)
    for beam in extended:
        hyps = {}
        for key, c in beam.items():
            if c.reuse_row is not None:
                row, reused = reused, reused + 1
            else:
                row, new = new, new + 1
            hyps[key] = _BeamHyp(c.acoustic, c.extra, row)
        beams.append(hyps)
    return torch.cat(outs), torch.cat(states, dim=batch_dim), beams


def _best(
    beam: dict[tuple[int, ...], _BeamHyp], fusion: ShallowFusion | None, frames: int
) -> Hypothesis:
    """The best hypothesis of a finished beam (with the LM's end-of-sentence score if asked)."""

    def final(item: tuple[tuple[int, ...], _BeamHyp]) -> float:
        key, hyp = item
        if fusion is None or not fusion.eos or not fusion.weight:
            return hyp.score
        eos = fusion.lm.log_probs(fusion.lm.context(key))[fusion.lm.eos]
        return hyp.score + fusion.weight * float(eos)

    key, hyp = max(beam.items(), key=final)
    return Hypothesis(list(key), hyp.acoustic, math.exp(hyp.acoustic / max(1, frames)))


class StreamingGreedyDecoder:
    """Decode one stream chunk by chunk: features in, tokens so far out.

    Example:
        >>> import torch
        >>> from speechml.asr.recognizer import Recognizer
        >>> model = Recognizer.load("exp/base/model").model  # a recogniser dir (asr train)
        >>> feats, lengths = torch.randn(2, 100, 80), torch.tensor([100, 60])  # (B, T, F) fbank
        >>> decoder = StreamingGreedyDecoder(model)
        >>> step = 4 * model.config.encoder.chunk_size  # feature frames a chunk
        >>> for start in range(0, 100, step):
        ...     partial = decoder.accept(feats[:1, start : start + step])  # tokens so far
        >>> final = decoder.finish()
        >>> out = model.encoder(feats, lengths)  # the whole batch at once: the same tokens
        >>> final.tokens == greedy_search(model, out.causal, out.lengths)[0].tokens
        True
    """

    def __init__(
        self,
        model: Transducer,
        max_symbols: int = 3,
        blank_penalty: float = 0.0,
        chunk_size: int | None = None,
    ) -> None:
        self.model = model
        self.max_symbols = max_symbols
        self.blank_penalty = blank_penalty
        device = next(model.parameters()).device
        self.encoder_state = model.encoder.init_stream(chunk_size)
        self.search_state = init_greedy(model, 1, device)

    @torch.no_grad()
    def accept(self, feats: Tensor) -> list[int]:
        """Feed the next feature chunk (1, frames, F); returns the tokens decoded so far."""
        enc, self.encoder_state = self.model.encoder.forward_chunk(feats, self.encoder_state)
        lengths = torch.tensor([enc.shape[1]], device=enc.device)
        greedy_step(
            self.model, enc, lengths, self.search_state, self.max_symbols, self.blank_penalty
        )
        return list(self.search_state.tokens[0])

    def finish(self) -> Hypothesis:
        """The final hypothesis of the stream."""
        return finish_greedy(self.search_state)[0]
