"""Transducer search: batched greedy, modified beam search, and chunk-by-chunk streaming.

Greedy search keeps its state in a :class:`GreedyState`, so decoding a whole utterance and
decoding it chunk by chunk (:class:`StreamingGreedyDecoder`) run the same code over the same
encoder frames: with the same chunk mask they give the same hypotheses.

Example:
    >>> out = model.encoder(feats, lengths)  # doctest: +SKIP
    >>> hyps = greedy_search(model, out.causal, out.lengths)  # doctest: +SKIP
    >>> hyps[0].tokens, round(hyps[0].confidence, 2)  # doctest: +SKIP
    ([5, 9, 3], 0.93)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from speechml.asr.transducer import LstmPredictor, Transducer


@dataclass
class Hypothesis:
    """A decoded token sequence with its log-probability and a confidence in [0, 1]."""

    tokens: list[int]
    log_prob: float  # sum of log-probabilities of the emitted tokens
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


@torch.no_grad()
def greedy_step(
    model: Transducer, enc: Tensor, lengths: Tensor, state: GreedyState, max_symbols: int = 3
) -> GreedyState:
    """Advance greedy search over encoder frames ``enc`` (B, T, D) of which ``lengths`` are real.

    Up to ``max_symbols`` tokens may be emitted per frame. ``state`` is updated in place.
    """
    blank = model.config.blank_id
    batch_dim = _batch_dim(model)
    for t in range(enc.shape[1]):
        active = t < lengths
        frame = enc[:, t : t + 1]
        for _ in range(max_symbols):
            log_probs = F.log_softmax(model.joiner(frame, state.pred_out)[:, 0].float(), dim=-1)
            best_lp, best = log_probs.max(dim=-1)
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
    model: Transducer, enc: Tensor, lengths: Tensor, max_symbols: int = 3
) -> list[Hypothesis]:
    """Batched greedy search over encoder outputs ``enc`` (B, T, D) with ``lengths`` (B,)."""
    state = init_greedy(model, enc.shape[0], enc.device)
    return finish_greedy(greedy_step(model, enc, lengths, state, max_symbols))


@torch.no_grad()
def ctc_greedy_search(model: Transducer, enc: Tensor, lengths: Tensor) -> list[Hypothesis]:
    """Best path of the CTC head over ``enc`` (B, T, D): the argmax of each frame, repeats
    merged, blanks removed. The search of a CTC-trained encoder (``ctc_weight`` 1), whose
    predictor and joiner never learned."""
    log_probs = F.log_softmax(model.ctc_head(enc).float(), dim=-1)
    best, best_ids = log_probs.max(dim=-1)  # (B, T)
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


@torch.no_grad()
def modified_beam_search(
    model: Transducer, enc: Tensor, lengths: Tensor, beam: int = 4
) -> list[Hypothesis]:
    """Beam search with at most one symbol per frame; equal token sequences are merged.

    The predictor's output depends only on the token sequence, so a merged hypothesis keeps
    the state of whichever path reached it. Decodes each utterance of the batch in turn and
    returns the best hypothesis of each.
    """
    blank = model.config.blank_id
    results = []
    for b in range(enc.shape[0]):
        start = torch.tensor([[blank]], device=enc.device)
        out, st = model.predictor(start)
        beams: dict[tuple[int, ...], tuple[float, Tensor, Tensor]] = {(): (0.0, out, st)}
        for t in range(int(lengths[b])):
            keys = list(beams)
            pred_out = torch.cat([beams[k][1] for k in keys])  # (K, 1, Dp)
            logits = model.joiner(enc[b : b + 1, t : t + 1].expand(len(keys), -1, -1), pred_out)
            log_probs = F.log_softmax(logits[:, 0].float(), dim=-1)  # (K, V)
            scores: dict[tuple[int, ...], float] = {}
            origin: dict[tuple[int, ...], tuple[int, int]] = {}
            for k, key in enumerate(keys):
                base = beams[key][0]
                extensions = [(key, base + float(log_probs[k, blank]))]
                top_lp, top_ids = log_probs[k].topk(min(beam + 1, log_probs.shape[1]))
                for lp, token in zip(top_lp.tolist(), top_ids.tolist(), strict=True):
                    if token != blank:
                        extensions.append(((*key, token), base + lp))
                        origin.setdefault((*key, token), (k, token))
                for new_key, score in extensions:
                    old = scores.get(new_key)
                    scores[new_key] = score if old is None else float(np.logaddexp(old, score))
            kept = sorted(scores, key=lambda key: -scores[key])[:beam]
            new_beams = {}
            for key in kept:
                if key in beams:
                    _, out, st = beams[key]
                else:
                    k, token = origin[key]
                    token_tensor = torch.tensor([[token]], device=enc.device)
                    out, st = model.predictor(token_tensor, beams[keys[k]][2])
                new_beams[key] = (scores[key], out, st)
            beams = new_beams
        key, (score, _, _) = max(beams.items(), key=lambda kv: kv[1][0])
        n = max(1, int(lengths[b]))
        results.append(Hypothesis(list(key), score, math.exp(score / n)))
    return results


class StreamingGreedyDecoder:
    """Decode one stream chunk by chunk: features in, tokens so far out.

    Example:
        >>> decoder = StreamingGreedyDecoder(model)  # doctest: +SKIP
        >>> for chunk in feature_chunks:  # each (1, 4 * chunk_size, F)
        ...     partial = decoder.accept(chunk)
        >>> final = decoder.finish()
    """

    def __init__(self, model: Transducer, max_symbols: int = 3) -> None:
        self.model = model
        self.max_symbols = max_symbols
        device = next(model.parameters()).device
        self.encoder_state = model.encoder.init_stream()
        self.search_state = init_greedy(model, 1, device)

    @torch.no_grad()
    def accept(self, feats: Tensor) -> list[int]:
        """Feed the next feature chunk (1, frames, F); returns the tokens decoded so far."""
        enc, self.encoder_state = self.model.encoder.forward_chunk(feats, self.encoder_state)
        lengths = torch.tensor([enc.shape[1]], device=enc.device)
        greedy_step(self.model, enc, lengths, self.search_state, self.max_symbols)
        return list(self.search_state.tokens[0])

    def finish(self) -> Hypothesis:
        """The final hypothesis of the stream."""
        return finish_greedy(self.search_state)[0]
