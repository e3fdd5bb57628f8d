"""wav2vec 2.0 (continued) self-supervised pretraining on untranscribed audio.

The model is transformers' ``Wav2Vec2ForPreTraining``: loaded by path from a pretrained
checkpoint (XLS-R or MMS layout) to continue its pretraining on a new language, or built from
:class:`Wav2Vec2Size` (the small offline stand-in for XLS-R). Each step masks spans of the
feature frames and samples distractors with transformers' own helpers
(``_compute_mask_indices``, ``_sample_negative_indices``); the loss is the contrastive loss
plus ``diversity_loss_weight`` times the diversity loss, both per masked frame; the Gumbel
temperature of the quantizer follows :class:`GumbelSchedule` by step (resumed runs included).

Guard-rails that peers lack: every logged step records the contrastive and diversity losses,
the codebook perplexity (of ``num_codevector_groups * num_codevectors_per_group``), the mask
ratio, the temperature and the gradient norm (``log/metrics.jsonl``, TensorBoard and
``training_curves.png``). A codebook whose perplexity stays under ``collapse_floor`` of its size
for ``collapse_patience`` steps is reported (and, with ``stop_on_collapse``, stops the run with
advice): a falling contrastive loss with a collapsed codebook proves nothing. Non-finite losses
are skipped and counted by the trainer.

Example:
    >>> from speechml.config import load_config
    >>> config = load_config(PretrainConfig, "conf/w2v_pretrain.yaml")  # a tiny wav2vec2
    >>> pretrain(config, "data/train", "data/dev", "exp/w2v_multi")  # from scratch
    PosixPath('exp/w2v_multi/model')
    >>> pretrain(config, "data/test", "data/dev", "exp/w2v_cpt", init="exp/w2v_multi/model")
    PosixPath('exp/w2v_cpt/model')
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.utils import send_to_device
from torch import nn
from torch.utils.data import DataLoader
from transformers import (
    AutoFeatureExtractor,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2ForPreTraining,
)
from transformers.models.wav2vec2.modeling_wav2vec2 import (
    _compute_mask_indices,
    _sample_negative_indices,
)

from speechml.data.datadir import DataDir
from speechml.data.ops import at_most
from speechml.data.waveform import WaveformCollator, WaveformDataset, attention_mask_for
from speechml.errors import SpeechmlError
from speechml.io import atomic_dir, require_model_dir
from speechml.model_files import from_pretrained
from speechml.train.trainer import LossFn, StepHook, TrainConfig, Trainer, ValidFn

logger = logging.getLogger(__name__)

PREPROCESSOR_FILE = "preprocessor_config.json"


@dataclass
class Wav2Vec2Size:
    """A wav2vec2 built from scratch: the offline stand-in for XLS-R (same layout, tiny)."""

    hidden_size: int = 144  # width of the transformer
    num_layers: int = 4  # transformer layers
    num_heads: int = 4  # attention heads (hidden_size must be a multiple)
    intermediate_size: int = 576  # feed-forward width
    conv_channels: int = 128  # channels of each of the 7 convolutions (320x downsampling)
    num_codevector_groups: int = 2  # quantizer groups G
    num_codevectors_per_group: int = 64  # entries V of each group's codebook
    codevector_dim: int = 128  # width of a quantized vector (all groups)
    dropout: float = 0.1  # dropout of hidden states, attention and feature projection

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of num_heads")
        if self.codevector_dim % self.num_codevector_groups:
            raise ValueError("codevector_dim must be a multiple of num_codevector_groups")

    def hf_config(self) -> Wav2Vec2Config:
        """The transformers config: XLS-R's layout (layer-norm feature encoder, pre-LN)."""
        return Wav2Vec2Config(
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            intermediate_size=self.intermediate_size,
            conv_dim=(self.conv_channels,) * 7,
            feat_extract_norm="layer",
            do_stable_layer_norm=True,
            num_conv_pos_embeddings=32,
            num_conv_pos_embedding_groups=4,
            num_codevector_groups=self.num_codevector_groups,
            num_codevectors_per_group=self.num_codevectors_per_group,
            codevector_dim=self.codevector_dim,
            proj_codevector_dim=self.codevector_dim,
            hidden_dropout=self.dropout,
            attention_dropout=self.dropout,
            activation_dropout=0.0,
            feat_proj_dropout=self.dropout,
            feat_quantizer_dropout=0.0,
            layerdrop=0.0,
        )


@dataclass
class GumbelSchedule:
    """Temperature of the quantizer's Gumbel softmax: ``max(start * decay ** step, end)``."""

    start: float = 2.0
    end: float = 0.5
    decay: float = 0.995  # per step (wav2vec 2.0: 0.999995 over 400k steps)

    def __post_init__(self) -> None:
        if not 0 < self.end <= self.start or not 0 < self.decay <= 1:
            raise ValueError("need 0 < end <= start and 0 < decay <= 1")

    def at(self, step: int) -> float:
        """The temperature of step ``step`` (0-based)."""
        return max(self.start * self.decay**step, self.end)


def wav2vec2_training(**changes: Any) -> TrainConfig:
    """The default optimisation of the wav2vec2 runs (pretraining and fine-tuning), changed."""
    defaults = {"max_steps": 1000, "lr": 5e-4, "warmup_steps": 100, "max_batch_seconds": 60.0}
    return TrainConfig(**{**defaults, "max_batch_size": 16, "valid_every": 100, **changes})


@dataclass
class PretrainConfig:
    """Everything a pretraining run needs besides the data paths and the starting model."""

    model: Wav2Vec2Size = field(default_factory=Wav2Vec2Size)  # from scratch only
    mask_time_prob: float = 0.65  # share of frames that start a masked span (wav2vec 2.0)
    mask_time_length: int = 10  # frames a masked span
    num_negatives: int = 50  # distractors per masked frame, drawn with replacement
    diversity_loss_weight: float = 0.1  # weight of the codebook diversity loss
    gumbel: GumbelSchedule = field(default_factory=GumbelSchedule)
    collapse_floor: float = 0.1  # codebook perplexity under this share of its size: collapse
    collapse_patience: int = 50  # consecutive steps under the floor before it is reported
    stop_on_collapse: bool = False  # stop the run (the last checkpoint stays) on collapse
    valid_utts: int = 100  # dev utterances a validation (a fixed random subset)
    train: TrainConfig = field(default_factory=lambda: wav2vec2_training())

    def __post_init__(self) -> None:
        if not 0 < self.mask_time_prob < 1 or self.mask_time_length < 1:
            raise ValueError("need 0 < mask_time_prob < 1 and mask_time_length >= 1")
        if self.num_negatives < 1 or self.diversity_loss_weight < 0:
            raise ValueError("need num_negatives >= 1 and diversity_loss_weight >= 0")
        if not 0 <= self.collapse_floor < 1 or self.collapse_patience < 1:
            raise ValueError("need 0 <= collapse_floor < 1 and collapse_patience >= 1")


class CodebookCollapseError(SpeechmlError):
    """The codebook perplexity stayed under the floor (``stop_on_collapse``)."""


def _core(model: nn.Module) -> Wav2Vec2ForPreTraining:
    """The model without a DDP wrapper."""
    return getattr(model, "module", model)


def codebook_size(model: nn.Module) -> int:
    """Number of codevectors G * V of the quantizer."""
    config = _core(model).config
    return config.num_codevector_groups * config.num_codevectors_per_group


def feature_extractor_for(model: nn.Module, directory: Path | None = None) -> Any:
    """The feature extractor saved in ``directory``, or else one that fits ``model``'s feature
    encoder: normalised audio, with an attention mask for layer-norm encoders only."""
    if directory is not None and (directory / PREPROCESSOR_FILE).is_file():
        return from_pretrained(AutoFeatureExtractor.from_pretrained, directory)
    layer_norm = _core(model).config.feat_extract_norm == "layer"
    return Wav2Vec2FeatureExtractor(return_attention_mask=layer_norm, do_normalize=True)


def load_pretraining_model(
    config: PretrainConfig, init: str | Path | None = None
) -> tuple[Wav2Vec2ForPreTraining, Any]:
    """The model to pretrain and its feature extractor.

    Args:
        config: the run's config (``model`` is used from scratch only; the diversity weight
            always).
        init: a directory written by ``save_pretrained`` (XLS-R, MMS, or an earlier run's
            ``model``) to continue from; None builds ``config.model``.

    Raises:
        ConfigError: ``init`` is not a wav2vec2 pretraining checkpoint directory.
    """
    if init is None:
        hf_config = config.model.hf_config()
        hf_config.diversity_loss_weight = config.diversity_loss_weight
        model = Wav2Vec2ForPreTraining(hf_config)
        return model, feature_extractor_for(model)
    init = require_model_dir(init)
    model = from_pretrained(Wav2Vec2ForPreTraining.from_pretrained, init, dtype=torch.float32)
    model.config.diversity_loss_weight = config.diversity_loss_weight
    return model, feature_extractor_for(model, init)


def sample_masks(
    model: nn.Module, batch: dict[str, Any], config: PretrainConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Span masks and distractor indices of a batch of waveforms.

    Returns:
        ``frames`` (B, T) bool: the real (unpadded) feature frames; ``masked`` (B, T) bool:
        the frames to predict; ``negatives`` (B, T, K) long: for each masked frame, K indices
        into the flattened (B * T) frames, drawn from the masked frames of the same utterance
        and never the frame itself.
    """
    core = _core(model).wav2vec2
    inputs, lengths = batch["inputs"], batch["input_lengths"]
    frame_lengths = core._get_feat_extract_output_lengths(lengths.cpu())
    num_frames = int(core._get_feat_extract_output_lengths(torch.tensor(inputs.shape[1])))
    frames = torch.arange(num_frames)[None, :] < frame_lengths[:, None]
    masked = _compute_mask_indices(
        (len(lengths), num_frames),
        config.mask_time_prob,
        config.mask_time_length,
        attention_mask=frames.long(),
        min_masks=2,
    )
    negatives = _sample_negative_indices((len(lengths), num_frames), config.num_negatives, masked)
    device = inputs.device
    return (
        frames.to(device),
        torch.from_numpy(masked).to(device),
        torch.from_numpy(negatives).to(device),
    )


def pretraining_loss(
    model: nn.Module, batch: dict[str, Any], config: PretrainConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """Contrastive + weighted diversity loss per masked frame, and the diagnostics."""
    frames, masked, negatives = sample_masks(model, batch, config)
    out = model(
        batch["inputs"],
        attention_mask=attention_mask_for(model, batch),
        mask_time_indices=masked,
        sampled_negative_indices=negatives,
    )
    num_masked = masked.sum().clamp(min=1)
    stats = {
        "contrastive": float(out.contrastive_loss.detach() / num_masked),
        "diversity": float(out.diversity_loss.detach() / num_masked),
        "perplexity": float(out.codevector_perplexity.detach()),
        "mask_ratio": float(num_masked / frames.sum().clamp(min=1)),
    }
    return out.loss / num_masked, stats


@dataclass
class CollapseGuard:
    """Watches the codebook perplexity step by step; reports (or stops) a collapse."""

    floor: float  # perplexity under this is collapsed
    patience: int  # steps in a row under the floor before acting
    stop: bool
    below: int = 0
    reported: bool = False

    def check(self, perplexity: float, step: int) -> None:
        """Count a step; warn once per collapse, or raise with ``stop``."""
        if perplexity >= self.floor:
            self.below, self.reported = 0, False
            return
        self.below += 1
        if self.below < self.patience or self.reported:
            return
        message = (
            f"codebook collapse at step {step}: perplexity under {self.floor:.1f} for "
            f"{self.below} steps; raise diversity_loss_weight (or the Gumbel temperature) and "
            "resume from the last checkpoint"
        )
        if self.stop:
            raise CodebookCollapseError(message)
        logger.warning(message)
        self.reported = True


@contextmanager
def _numpy_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global generator (transformers' masking helpers use it) for a block."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def make_valid_fn(dev: WaveformDataset, collate: WaveformCollator, config: PretrainConfig) -> Any:
    """Validation: the loss and codebook perplexity on ``dev``, the same masks every time."""

    @torch.no_grad()
    def validate(model: nn.Module) -> dict[str, float]:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        losses, perplexities, weights = [], [], []
        with _numpy_seed(0):
            for batch in DataLoader(dev, batch_size=8, collate_fn=collate):
                batch = send_to_device(batch, device)
                loss, stats = pretraining_loss(model, batch, config)
                losses.append(stats["contrastive"])
                perplexities.append(stats["perplexity"])
                weights.append(len(batch["utts"]))
        model.train(was_training)
        total = sum(weights)
        return {
            "valid_loss": sum(w * x for w, x in zip(weights, losses, strict=True)) / total,
            "valid_perplexity": sum(w * x for w, x in zip(weights, perplexities, strict=True))
            / total,
        }

    return validate


def fit_waveforms(
    model: nn.Module,
    loss_fn: LossFn,
    train_set: WaveformDataset,
    collate: WaveformCollator,
    config: TrainConfig,
    exp_dir: str | Path,
    valid_fn: ValidFn,
    step_hook: StepHook | None = None,
) -> nn.Module:
    """Train (or resume) ``model`` on waveforms through the shared trainer, duration-bucketed;
    returns it with the best checkpoint's weights."""
    trainer = Trainer(
        model,
        loss_fn,
        train_set,
        train_set.durations,
        collate,
        config,
        exp_dir,
        valid_fn=valid_fn,
        step_hook=step_hook,
    )
    return trainer.fit_best()[0]


def save_pretrained_dir(model: nn.Module, extractor: Any, out_dir: str | Path) -> Path:
    """Write ``model`` and its feature extractor with ``save_pretrained``, atomically."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as staging:
        _core(model).save_pretrained(staging)
        extractor.save_pretrained(staging)
    return out_dir


def pretrain(
    config: PretrainConfig,
    train_dir: str | Path,
    dev_dir: str | Path,
    exp_dir: str | Path,
    init: str | Path | None = None,
) -> Path:
    """Pretrain (or resume) on the audio of ``train_dir``; write ``exp_dir/model``.

    Args:
        config: the run's config.
        train_dir: data dir of the audio (no ``text`` needed).
        dev_dir: data dir of held-out audio (validation loss, best checkpoint).
        exp_dir: experiment dir (checkpoints, logs, curves; the model in ``model/``).
        init: a wav2vec2 pretraining checkpoint dir to continue from (None: from scratch).

    Returns:
        ``exp_dir/model``: ``save_pretrained`` output with the feature extractor, loadable by
        ``Wav2Vec2ForPreTraining`` and by :func:`speechml.ssl.finetune.train_ctc`.
    """
    torch.manual_seed(config.train.seed)
    model, extractor = load_pretraining_model(config, init)
    rate = extractor.sampling_rate
    train_set = WaveformDataset(DataDir.read(train_dir), rate)
    dev_data = DataDir.read(dev_dir)
    dev_data = at_most(dev_data, config.valid_utts)
    collate = WaveformCollator(extractor)
    guard = CollapseGuard(
        config.collapse_floor * codebook_size(model),
        config.collapse_patience,
        config.stop_on_collapse,
    )
    steps = {"now": 0}

    def set_temperature(core: nn.Module, step: int) -> None:
        steps["now"] = step
        _core(core).set_gumbel_temperature(config.gumbel.at(step))

    def loss_fn(net: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        loss, stats = pretraining_loss(net, batch, config)
        stats["gumbel_temperature"] = config.gumbel.at(steps["now"])
        if math.isfinite(stats["perplexity"]):
            guard.check(stats["perplexity"], steps["now"])
        return loss, stats

    logger.info(
        "wav2vec2 pretraining: %.2fM parameters (%s), codebook %d, %d utterances (%.2f h)",
        model.num_parameters() / 1e6,
        init or "from scratch",
        codebook_size(model),
        len(train_set),
        sum(train_set.durations) / 3600,
    )
    trained = fit_waveforms(
        model,
        loss_fn,
        train_set,
        collate,
        config.train,
        exp_dir,
        make_valid_fn(WaveformDataset(dev_data, rate), collate, config),
        step_hook=set_temperature,
    )
    return save_pretrained_dir(trained, extractor, Path(exp_dir) / "model")
