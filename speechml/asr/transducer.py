"""Conformer transducer (RNN-T): encoder, predictor, joiner, and the training loss.

The transducer loss is chosen by name (``TransducerConfig.loss``): ``full``, torchaudio's RNN-T
loss on the whole ``(T, U+1)`` lattice, or ``pruned``, the pruned RNN-T loss
(:mod:`speechml.asr.pruned_rnnt`: a simple loss on the encoder and predictor projected to the
vocabulary, the joiner only on ``prune_range`` symbols a frame), whose two parts are weighted
(:meth:`Transducer.set_loss_scales`: training from scratch warms them up). It is
mixed with an auxiliary CTC loss on the encoder output, both per target token; with a cascaded
encoder the second (non-causal) pass is trained with the same predictor, joiner and CTC head.

Predictors are chosen by name (``stateless``: embedding + convolution over the last few tokens;
``lstm``). On a few thousand utterances a stateless predictor with CTC learns where an LSTM
predictor dominates the encoder and emits fluent words of the wrong language.

Example:
    >>> config = TransducerConfig(vocab_size=30)
    >>> model = Transducer(config)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn

from speechml.asr.encoder import ConformerEncoder, EncoderConfig, EncoderOutput
from speechml.asr.pruned_rnnt import loss_scales, pruned_transducer_loss
from speechml.config import Registry

PREDICTORS = Registry("predictor")
TRANSDUCER_LOSSES = Registry("transducer loss")


@dataclass
class PredictorConfig:
    """The prediction network (the transducer's 'language model' over previous tokens)."""

    kind: Annotated[str, PREDICTORS] = "stateless"  # PREDICTORS name
    embed_dim: int = 256  # token embedding width
    context_size: int = 2  # stateless: previous tokens the convolution sees
    hidden_dim: int = 256  # lstm: hidden width
    num_layers: int = 1  # lstm: layers
    output_dim: int = 256  # width fed to the joiner
    dropout: float = 0.1  # dropout on the output


@dataclass
class TransducerConfig:
    """The whole model; ``vocab_size`` comes from the tokenizer (blank is id 0)."""

    vocab_size: int = 0  # tokenizer vocabulary including blank (set by the recipe)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)  # the Conformer encoder
    predictor: PredictorConfig = field(default_factory=PredictorConfig)  # the predictor
    joiner_dim: int = 256  # joiner hidden width
    loss: Annotated[str, TRANSDUCER_LOSSES] = "full"  # TRANSDUCER_LOSSES name
    prune_range: int = 5  # pruned: symbols a frame the joiner sees
    simple_loss_scale: float = 0.5  # pruned: the simple loss's weight (after any warm-up)
    lm_scale: float = 0.25  # pruned: weight of the simple loss's LM-only term
    ctc_weight: float = 0.3  # weight of the auxiliary CTC loss (RNN-T gets 1 - ctc_weight);
    # 1.0 trains the encoder and CTC head alone (a CTC stage that initialises a transducer)
    second_pass_weight: float = 0.5  # weight of the second-pass losses when it exists
    blank_id: int = 0  # blank token id

    def __post_init__(self) -> None:
        for name in ("ctc_weight", "second_pass_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    @property
    def ctc_only(self) -> bool:
        """Whether only the CTC loss trains (the predictor and joiner get no gradient)."""
        return self.ctc_weight == 1.0


#: torchaudio's CPU RNN-T loss runs on one thread; batch slices run in parallel on these.
_LOSS_THREADS = ThreadPoolExecutor(max_workers=max(1, torch.get_num_threads()))


def rnnt_loss_sum(
    logits: Tensor, targets: Tensor, logit_lengths: Tensor, target_lengths: Tensor, blank: int
) -> Tensor:
    """``torchaudio.functional.rnnt_loss`` summed over the batch, in parallel slices on CPU.

    The CPU kernel is single-threaded; slicing the batch across ``torch.get_num_threads()``
    threads (the kernel releases the GIL) makes the loss, the costliest part of a training step,
    about that many times faster. Results equal one call's up to float rounding.
    """

    def loss(rows: slice) -> Tensor:
        # torchaudio wants the slice's longest input and target to fill its tensors exactly
        frames, labels = int(logit_lengths[rows].max()), int(target_lengths[rows].max())
        return torchaudio.functional.rnnt_loss(
            logits[rows, :frames, : labels + 1].float().contiguous(),
            targets[rows, :labels].int().contiguous(),
            logit_lengths[rows].int(),
            target_lengths[rows].int(),
            blank=blank,
            reduction="sum",
        )

    batch = logits.shape[0]
    parts = min(batch, torch.get_num_threads())
    if logits.device.type != "cpu" or parts < 2:
        return loss(slice(0, batch))
    bounds = [batch * i // parts for i in range(parts + 1)]
    slices = [slice(bounds[i], bounds[i + 1]) for i in range(parts)]
    return torch.stack(list(_LOSS_THREADS.map(loss, slices))).sum()


@PREDICTORS.register("stateless")
class StatelessPredictor(nn.Module):
    """Embedding, then a grouped convolution over the last ``context_size`` tokens, ReLU, Linear."""

    def __init__(self, vocab_size: int, config: PredictorConfig, blank_id: int) -> None:
        super().__init__()
        self.context_size = config.context_size
        self.blank_id = blank_id
        self.embedding = nn.Embedding(vocab_size, config.embed_dim)
        groups = max(1, config.embed_dim // 4)
        self.conv = nn.Conv1d(
            config.embed_dim, config.embed_dim, config.context_size, groups=groups
        )
        self.proj = nn.Linear(config.embed_dim, config.output_dim)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, tokens: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """tokens (B, U) -> (B, U, output_dim); state: the previous ``context_size - 1`` tokens."""
        if state is None:
            state = tokens.new_full((tokens.shape[0], self.context_size - 1), self.blank_id)
        history = torch.cat([state, tokens], dim=1)
        x = self.embedding(history).transpose(1, 2)
        x = F.relu(self.conv(x)).transpose(1, 2)
        new_state = history[:, history.shape[1] - (self.context_size - 1) :]
        return self.dropout(self.proj(x)), new_state


@PREDICTORS.register("lstm")
class LstmPredictor(nn.Module):
    """Embedding, LSTM, Linear; its state is the LSTM's (h, c) stacked."""

    def __init__(self, vocab_size: int, config: PredictorConfig, blank_id: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, config.embed_dim)
        self.lstm = nn.LSTM(
            config.embed_dim, config.hidden_dim, config.num_layers, batch_first=True
        )
        self.proj = nn.Linear(config.hidden_dim, config.output_dim)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, tokens: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """tokens (B, U) -> (B, U, output_dim); state (2, layers, B, H) or None."""
        hc = None if state is None else (state[0].contiguous(), state[1].contiguous())
        out, (h, c) = self.lstm(self.embedding(tokens), hc)
        return self.dropout(self.proj(out)), torch.stack([h, c])


class Joiner(nn.Module):
    """``Linear(enc) + Linear(pred) -> tanh -> Linear(vocab)``; broadcasts over (T, U)."""

    def __init__(self, enc_dim: int, pred_dim: int, hidden: int, vocab_size: int) -> None:
        super().__init__()
        self.enc_proj = nn.Linear(enc_dim, hidden)
        self.pred_proj = nn.Linear(pred_dim, hidden)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, enc: Tensor, pred: Tensor) -> Tensor:
        """enc (..., 1 or T, D_e)-shaped and pred (..., D_p) broadcastable -> logits (..., V)."""
        return self.combine(self.enc_proj(enc), self.pred_proj(pred))

    def combine(self, enc_projected: Tensor, pred_projected: Tensor) -> Tensor:
        """Logits (..., V) from outputs already projected (..., hidden): the joiner as
        sherpa-onnx runs it, the projections being part of the encoder and decoder."""
        return self.out(torch.tanh(enc_projected + pred_projected))


def full_transducer_loss(
    model: Transducer,
    enc: Tensor,
    pred: Tensor,
    targets: Tensor,
    lengths: Tensor,
    target_lengths: Tensor,
) -> dict[str, Tensor]:
    """``rnnt``: torchaudio's RNN-T loss on the joiner's whole ``(B, T, U+1, V)`` lattice."""
    blank = model.config.blank_id
    logits = model.joiner(enc[:, :, None, :], pred[:, None, :, :])
    return {"rnnt": rnnt_loss_sum(logits, targets, lengths, target_lengths, blank)}


def pruned_loss(
    model: Transducer,
    enc: Tensor,
    pred: Tensor,
    targets: Tensor,
    lengths: Tensor,
    target_lengths: Tensor,
) -> dict[str, Tensor]:
    """``rnnt`` (the weighted sum), ``simple`` and ``pruned``: the pruned RNN-T loss."""
    joiner, config = model.joiner, model.config
    simple, pruned = pruned_transducer_loss(
        joiner.enc_proj(enc),
        joiner.pred_proj(pred),
        joiner.out,
        model.simple_am_proj(enc),
        model.simple_lm_proj(pred),
        targets,
        lengths,
        target_lengths,
        config.blank_id,
        prune_range=config.prune_range,
        lm_scale=config.lm_scale,
    )
    simple_scale, pruned_scale = model.loss_scales
    return {
        "rnnt": simple_scale * simple + pruned_scale * pruned,
        "simple": simple,
        "pruned": pruned,
    }


TRANSDUCER_LOSSES.register("full")(full_transducer_loss)
TRANSDUCER_LOSSES.register("pruned")(pruned_loss)


class Transducer(nn.Module):
    """Conformer encoder + predictor + joiner + CTC head (+ the pruned loss's projections)."""

    def __init__(self, config: TransducerConfig) -> None:
        super().__init__()
        if config.vocab_size < 2:
            raise ValueError("vocab_size must be set from the tokenizer (blank + symbols)")
        self.config = config
        self.encoder = ConformerEncoder(config.encoder)
        make = PREDICTORS.get_component(config.predictor.kind)
        self.predictor = make(config.vocab_size, config.predictor, config.blank_id)
        d = config.encoder.d_model
        self.joiner = Joiner(d, config.predictor.output_dim, config.joiner_dim, config.vocab_size)
        self.ctc_head = nn.Linear(d, config.vocab_size)
        self.transducer_loss = TRANSDUCER_LOSSES.get_component(config.loss)
        if config.loss == "pruned":
            self.simple_am_proj = nn.Linear(d, config.vocab_size)
            self.simple_lm_proj = nn.Linear(config.predictor.output_dim, config.vocab_size)
        #: (simple, pruned) weights of the pruned loss; a from-scratch run warms them up
        self.loss_scales = (config.simple_loss_scale, 1.0)

    def set_loss_scales(self, step: int, warmup_steps: int) -> None:
        """Weigh the pruned loss's parts for training ``step`` of a ``warmup_steps`` warm-up
        (:func:`speechml.asr.pruned_rnnt.loss_scales`; 0: no warm-up)."""
        self.loss_scales = loss_scales(step, warmup_steps, self.config.simple_loss_scale)

    def num_parameters(self) -> int:
        """Parameter count of the whole model."""
        return sum(p.numel() for p in self.parameters())

    def _pass_losses(
        self, enc: Tensor, enc_lengths: Tensor, targets: Tensor, target_lengths: Tensor
    ) -> dict[str, Tensor]:
        """The losses of one pass, each summed over the batch: ``rnnt`` and its parts (not
        computed when it has no weight) and ``ctc``."""
        blank = self.config.blank_id
        losses: dict[str, Tensor] = {}
        if not self.config.ctc_only:
            start = targets.new_full((targets.shape[0], 1), blank)
            pred, _ = self.predictor(torch.cat([start, targets], dim=1))  # (B, U+1, Dp)
            losses.update(
                self.transducer_loss(self, enc, pred, targets, enc_lengths, target_lengths)
            )
        log_probs = F.log_softmax(self.ctc_head(enc).float(), dim=-1).transpose(0, 1)
        losses["ctc"] = F.ctc_loss(
            log_probs,
            targets,
            enc_lengths,
            target_lengths,
            blank=blank,
            reduction="sum",
            zero_infinity=True,
        )
        return losses

    def _weighted(self, losses: dict[str, Tensor]) -> Tensor:
        """A pass's training loss: ``(1 - ctc_weight) * rnnt + ctc_weight * ctc``."""
        w = self.config.ctc_weight
        return (1 - w) * losses.get("rnnt", 0.0) + w * losses["ctc"]

    def forward(
        self, feats: Tensor, feat_lengths: Tensor, targets: Tensor, target_lengths: Tensor
    ) -> tuple[Tensor, dict[str, float]]:
        """Training loss per target token and its parts (for logging).

        Args:
            feats: (B, T, F) features; feat_lengths: (B,).
            targets: (B, U) token ids padded with anything; target_lengths: (B,).
        """
        return self.loss(self.encoder(feats, feat_lengths), targets, target_lengths)

    def loss(
        self, out: EncoderOutput, targets: Tensor, target_lengths: Tensor
    ) -> tuple[Tensor, dict[str, float]]:
        """The loss of :meth:`forward` from encoder outputs already computed (e.g. to decode
        the same outputs during validation)."""
        tokens = target_lengths.sum().clamp(min=1)
        first = self._pass_losses(out.causal, out.lengths, targets, target_lengths)
        loss = self._weighted(first) / tokens
        stats = dict(first)
        if out.second_pass is not None:
            second = self._pass_losses(out.second_pass, out.lengths, targets, target_lengths)
            s = self.config.second_pass_weight
            loss = (1 - s) * loss + s * (self._weighted(second) / tokens)
            stats.update({f"{name}_second": value for name, value in second.items()})
        return loss, {name: float(value.detach() / tokens) for name, value in stats.items()}
