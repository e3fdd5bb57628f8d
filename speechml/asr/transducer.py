"""Conformer transducer (RNN-T): encoder, predictor, joiner, and the training loss.

The loss is ``torchaudio.functional.rnnt_loss`` (fused log-softmax) mixed with an auxiliary CTC
loss on the encoder output, both per target token; with a cascaded encoder the second
(non-causal) pass is trained with the same predictor, joiner and CTC head.

Predictors are chosen by name (``stateless``: embedding + convolution over the last few tokens;
``lstm``). On a few thousand utterances a stateless predictor with CTC learns where an LSTM
predictor dominates the encoder and emits fluent words of the wrong language.

Example:
    >>> config = TransducerConfig(vocab_size=30)
    >>> model = Transducer(config)  # doctest: +SKIP
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn

from speechml.asr.encoder import ConformerEncoder, EncoderConfig, EncoderOutput
from speechml.config import Registry


@dataclass
class PredictorConfig:
    """The prediction network (the transducer's 'language model' over previous tokens)."""

    kind: Literal["stateless", "lstm"] = "stateless"  # registry name
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


PREDICTORS = Registry("predictor")

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
        return self.out(torch.tanh(self.enc_proj(enc) + self.pred_proj(pred)))


class Transducer(nn.Module):
    """Conformer encoder + predictor + joiner + CTC head."""

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

    def num_parameters(self) -> int:
        """Parameter count of the whole model."""
        return sum(p.numel() for p in self.parameters())

    def _pass_losses(
        self, enc: Tensor, enc_lengths: Tensor, targets: Tensor, target_lengths: Tensor
    ) -> dict[str, Tensor]:
        """The losses of one pass, each summed over the batch: ``rnnt`` (not computed when it
        has no weight) and ``ctc``."""
        blank = self.config.blank_id
        losses: dict[str, Tensor] = {}
        if not self.config.ctc_only:
            start = targets.new_full((targets.shape[0], 1), blank)
            pred, _ = self.predictor(torch.cat([start, targets], dim=1))  # (B, U+1, Dp)
            logits = self.joiner(enc[:, :, None, :], pred[:, None, :, :])  # (B, T, U+1, V)
            losses["rnnt"] = rnnt_loss_sum(logits, targets, enc_lengths, target_lengths, blank)
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
