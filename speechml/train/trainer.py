"""The one training entry point of every capability, on top of Hugging Face accelerate.

accelerate chooses the device (CPU or a GPU), mixed precision and, under ``torchrun`` or
``accelerate launch``, data parallelism (DDP; gloo on CPU). This module adds what speech recipes
need around it: duration-bucketed batches with a resumable order, AdamW with warm-up, gradient
clipping, atomic safetensors checkpoints, resume from the last checkpoint, best-checkpoint
tracking by a validation metric, TensorBoard and JSON-lines logs, progress (a bar on a
terminal, a line every ``log_every`` steps in a job log: :mod:`speechml.progress`) and a PNG of
the training curves. :meth:`Trainer.fit_best` also gives back the final model: the best checkpoint's
weights, or the average of the last checkpoints.

Example:
    >>> xs = torch.linspace(-1, 1, 32)
    >>> dataset = [(x, 2 * x) for x in xs]  # learn y = 2x
    >>> def collate(items):  # -> (B, 1) inputs and targets
    ...     return tuple(torch.stack(column)[:, None] for column in zip(*items))
    >>> def loss_fn(model, batch):  # -> (loss, figures to log)
    ...     x, y = batch
    ...     return torch.nn.functional.mse_loss(model(x), y), {}
    >>> def valid_fn(model):
    ...     with torch.no_grad():
    ...         return {"valid_loss": float(loss_fn(model, collate(dataset))[0])}
    >>> config = TrainConfig(max_steps=60, lr=0.1, warmup_steps=1, valid_every=20, max_batch_size=8)
    >>> trainer = Trainer(torch.nn.Linear(1, 1), loss_fn, dataset, [1.0] * len(dataset), collate,
    ...                   config, "exp/line", valid_fn=valid_fn)
    >>> model, result = trainer.fit_best()  # the best checkpoint's weights
    >>> result.step, result.best.path
    (60, PosixPath('exp/line/checkpoints/step-000060'))
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import send_to_device, set_seed
from torch.utils.data import DataLoader, Dataset

from speechml.config import Registry
from speechml.data.batching import DurationBatchSampler
from speechml.io import atomic_write_text
from speechml.progress import progress_bar
from speechml.train.checkpoint import (
    CheckpointInfo,
    average_checkpoints,
    list_checkpoints,
    load_model_weights,
    load_trainer_state,
    prune_checkpoints,
    remove_partial_checkpoints,
    save_checkpoint,
)
from speechml.train.curves import plot_training_curves

logger = logging.getLogger(__name__)

#: ``loss_fn(model, batch) -> (loss, stats)``: the scalar to minimise and numbers to log.
LossFn = Callable[[torch.nn.Module, Any], tuple[torch.Tensor, dict[str, float]]]
#: ``valid_fn(model) -> metrics``, run on the main process: ``{"valid_loss": .., "dev_wer": ..}``.
ValidFn = Callable[[torch.nn.Module], dict[str, float]]
#: ``step_hook(model, step)``: called before each step's loss with the unwrapped model and the
#: number of steps taken so far (e.g. to set a temperature that follows a schedule).
StepHook = Callable[[torch.nn.Module, int], None]


#: Learning-rate decays after warm-up: name -> ``(step, warmup, config) -> multiplier`` of the
#: peak rate, for ``step >= warmup`` (steps counted from 1).
SCHEDULES = Registry("learning-rate schedule")


@SCHEDULES.register("inverse_sqrt")
def _inverse_sqrt(step: int, warmup: int, config: TrainConfig) -> float:
    return math.sqrt(warmup / step)


@SCHEDULES.register("eden")
def _eden(step: int, warmup: int, config: TrainConfig) -> float:
    return ((step / config.decay_steps) ** 2 + 1) ** -0.25


@SCHEDULES.register("cosine")
def _cosine(step: int, warmup: int, config: TrainConfig) -> float:
    span = max(1, config.max_steps - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / span)))


@SCHEDULES.register("constant")
def _constant(step: int, warmup: int, config: TrainConfig) -> float:
    return 1.0


@dataclass
class TrainConfig:
    """Optimisation, batching and bookkeeping of a training run."""

    max_steps: int = 2000  # optimizer steps in total (a resumed run counts on)
    lr: float = 2e-3  # peak learning rate of AdamW
    warmup_steps: int = 300  # linear warm-up from 0 to lr
    schedule: Annotated[str, SCHEDULES] = "inverse_sqrt"  # SCHEDULES name; decay after
    # warm-up; eden (icefall's): about flat until ``decay_steps``, then falling as step^-1/2
    decay_steps: int = 2000  # eden: the step around which the rate starts to fall
    weight_decay: float = 1e-3  # AdamW weight decay
    betas: tuple[float, float] = (0.9, 0.98)  # AdamW betas
    clip_grad_norm: float = 5.0  # clip the global gradient norm to this (0: no clipping)
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = "auto"  # auto: bf16 on GPU, no on CPU
    max_batch_seconds: float | None = 320.0  # padded audio seconds a batch (None: no cap)
    max_batch_size: int = 32  # utterances a batch
    num_buckets: int = 10  # duration buckets (1: plain random batches)
    log_every: int = 25  # steps between log lines
    valid_every: int = 250  # steps between validations (and checkpoints)
    keep_last: int = 5  # checkpoints kept besides the best
    best_metric: str = "valid_loss"  # metric from valid_fn that picks the best checkpoint
    best_mode: Literal["min", "max"] = "min"  # whether lower or higher is better
    keep_best_of: list[str] = field(default_factory=list)  # more metrics (same best_mode), each
    # keeping its own best checkpoint from pruning, e.g. dev_wer_kat, dev_wer_ell: languages
    # that peak at different steps
    seed: int = 0  # seed of initialisation, batch order and augmentation
    num_workers: int = 0  # DataLoader worker processes


@dataclass(frozen=True)
class TrainResult:
    """What a finished run left: its step count and checkpoints."""

    step: int
    last: CheckpointInfo | None
    best: CheckpointInfo | None
    best_of: dict[str, CheckpointInfo] = field(default_factory=dict)  # keep_best_of metric ->
    # its best checkpoint (metrics no checkpoint has are left out)


def lr_lambda(config: TrainConfig) -> Callable[[int], float]:
    """Multiplier of the peak learning rate at a step: warm-up, then the configured decay."""
    warmup = max(1, config.warmup_steps)
    decay = SCHEDULES.get_component(config.schedule)

    def factor(step: int) -> float:
        step = step + 1
        return step / warmup if step < warmup else decay(step, warmup, config)

    return factor


def _numpy_rng_state() -> tuple[str, torch.Tensor, int, int, float]:
    """numpy's global generator state, as types ``torch.load(weights_only=True)`` accepts."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)


def _set_numpy_rng_state(state: tuple[str, torch.Tensor, int, int, float]) -> None:
    name, keys, pos, has_gauss, cached = state
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))


def batched_valid_fn(
    loss_fn: LossFn,
    items: Sequence[Any],
    collate: Callable[[list[Any]], dict[str, torch.Tensor]],
    batch_size: int,
) -> ValidFn:
    """A validation: the mean of ``loss_fn`` (``valid_loss``) and of its statistics
    (``valid_<name>``) over ``items``, batched by ``collate`` (each batch a dict of tensors with
    ``input_ids``). Random masking in ``collate`` draws the same masks at every validation."""

    @torch.no_grad()
    def valid_fn(model: torch.nn.Module) -> dict[str, float]:
        device = next(model.parameters()).device
        totals: dict[str, float] = {}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            batches = [
                collate(list(items[i : i + batch_size])) for i in range(0, len(items), batch_size)
            ]
        for batch in batches:
            loss, stats = loss_fn(model, {k: v.to(device) for k, v in batch.items()})
            for key, value in {"valid_loss": float(loss), **stats}.items():
                totals[key] = totals.get(key, 0.0) + value * len(batch["input_ids"])
        return {
            (key if key == "valid_loss" else f"valid_{key}"): value / len(items)
            for key, value in totals.items()
        }

    return valid_fn


def _record_step(line: str) -> float:
    """The step of a ``metrics.jsonl`` line; infinite for a line a kill cut short."""
    try:
        return float(json.loads(line)["step"])
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf


def best_checkpoint(
    checkpoints: Sequence[CheckpointInfo], metric: str, mode: str
) -> CheckpointInfo | None:
    """The checkpoint with the best value of ``metric`` (the latest among equals)."""
    scored = [c for c in checkpoints if metric in c.metrics]
    if not scored:
        return None
    sign = 1 if mode == "min" else -1
    return min(reversed(scored), key=lambda c: sign * c.metrics[metric])


def best_checkpoints(
    checkpoints: Sequence[CheckpointInfo], metrics: Sequence[str], mode: str
) -> dict[str, CheckpointInfo]:
    """Metric -> its best checkpoint (:func:`best_checkpoint`), for each metric some have."""
    found = {metric: best_checkpoint(checkpoints, metric, mode) for metric in metrics}
    return {metric: info for metric, info in found.items() if info is not None}


class Trainer:
    """Train ``model`` by minimising ``loss_fn`` over ``dataset``.

    Args:
        model: the module; only parameters with ``requires_grad`` are optimised (frozen bases
            stay untouched).
        loss_fn: ``(model, batch) -> (loss, stats)``.
        dataset: map-style dataset; ``collate`` turns a list of its items into a batch.
        durations: seconds of each dataset item, for duration-bucketed batching.
        collate: batch builder.
        config: the :class:`TrainConfig`.
        exp_dir: experiment directory; checkpoints go to ``exp_dir/checkpoints``, logs to
            ``exp_dir/log``, TensorBoard events to ``exp_dir/tensorboard``.
        valid_fn: optional validation, run every ``valid_every`` steps and at the end.
        step_hook: optional, called before each step's loss (a resumed run calls it with the
            resumed step count).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        loss_fn: LossFn,
        dataset: Dataset,
        durations: Sequence[float],
        collate: Callable[[list[Any]], Any],
        config: TrainConfig,
        exp_dir: str | Path,
        valid_fn: ValidFn | None = None,
        step_hook: StepHook | None = None,
    ) -> None:
        self.config = config
        self.step_hook = step_hook
        self.exp_dir = Path(exp_dir)
        self.checkpoint_dir = self.exp_dir / "checkpoints"
        self.loss_fn = loss_fn
        self.valid_fn = valid_fn
        self.dataset = dataset
        self.collate = collate
        precision = config.mixed_precision
        if precision == "auto":
            precision = (
                "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
            )
        self.accelerator = Accelerator(
            cpu=not torch.cuda.is_available(),
            mixed_precision=precision,
            log_with="tensorboard",
            project_dir=str(self.exp_dir),
        )
        set_seed(config.seed)
        self.sampler = DurationBatchSampler(
            durations,
            max_seconds=config.max_batch_seconds,
            max_batch_size=config.max_batch_size,
            num_buckets=config.num_buckets,
            seed=config.seed,
            rank=self.accelerator.process_index,
            world_size=self.accelerator.num_processes,
        )
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameters")
        optimizer = torch.optim.AdamW(
            params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config))
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0

    @property
    def unwrapped(self) -> torch.nn.Module:
        """The model without its DDP wrapper."""
        return self.accelerator.unwrap_model(self.model)

    def _state(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy_rng": _numpy_rng_state(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
        }

    def resume(self) -> bool:
        """Continue from the newest complete checkpoint, if any; True if one was loaded.

        What a killed run left behind is cleared first: half-written checkpoint directories,
        and the log records of the steps after that checkpoint (they are run again), so that
        ``metrics.jsonl`` and the curves read as one uninterrupted run.
        """
        if self.accelerator.is_main_process:
            for path in remove_partial_checkpoints(self.checkpoint_dir):
                logger.warning("removed %s, a checkpoint whose writing was interrupted", path)
        checkpoints = list_checkpoints(self.checkpoint_dir)
        if not checkpoints:
            return False
        last = checkpoints[-1]
        load_model_weights(self.unwrapped, last.path)
        state = load_trainer_state(last.path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        cuda_states = state.get("cuda_rng", [])
        if (
            cuda_states
            and torch.cuda.is_available()
            and len(cuda_states) == torch.cuda.device_count()
        ):
            torch.cuda.set_rng_state_all(cuda_states)  # dropout on the GPU
        if "numpy_rng" in state:
            _set_numpy_rng_state(state["numpy_rng"])  # e.g. transformers' span masks
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        if self.accelerator.is_main_process:
            self._forget_records_after(self.step)
        logger.info("resumed from %s (step %d)", last.path, self.step)
        return True

    def _forget_records_after(self, step: int) -> None:
        """Drop the ``metrics.jsonl`` records of steps after ``step`` (a killed run's tail)."""
        path = self.exp_dir / "log" / "metrics.jsonl"
        if not path.is_file():
            return
        lines = path.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if _record_step(line) <= step]
        if len(kept) < len(lines):
            atomic_write_text(path, "".join(line + "\n" for line in kept))
            logger.info("dropped %d log records after step %d", len(lines) - len(kept), step)

    def _log(self, record: dict[str, float]) -> None:
        self.accelerator.log(record, step=self.step)
        if self.accelerator.is_main_process:
            line = json.dumps({"step": self.step, **record})
            with open(self.exp_dir / "log" / "metrics.jsonl", "a", encoding="utf-8") as file:
                file.write(line + "\n")

    def _validate_and_save(self) -> None:
        metrics: dict[str, float] = {}
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            if self.valid_fn is not None:
                model = self.unwrapped
                model.eval()
                with torch.no_grad():
                    metrics = {k: float(v) for k, v in self.valid_fn(model).items()}
                model.train()
                self._log(metrics)
                logger.info(
                    "step %d: %s", self.step, " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
                )
            save_checkpoint(self.checkpoint_dir, self.unwrapped, self._state(), self.step, metrics)
            checkpoints = list_checkpoints(self.checkpoint_dir)
            metrics_kept = [self.config.best_metric, *self.config.keep_best_of]
            bests = best_checkpoints(checkpoints, metrics_kept, self.config.best_mode)
            keep = {info.path for info in bests.values()}
            prune_checkpoints(self.checkpoint_dir, self.config.keep_last, keep)
            plot_training_curves(
                self.exp_dir / "log" / "metrics.jsonl", self.exp_dir / "training_curves.png"
            )
        self.accelerator.wait_for_everyone()

    def _batches(self) -> DataLoader:
        self.sampler.set_epoch(self.epoch)
        remaining = list(self.sampler)[self.batch_in_epoch :]
        return DataLoader(
            self.dataset,
            batch_sampler=remaining,
            collate_fn=self.collate,
            num_workers=self.config.num_workers,
            # Its own generator: creating an iterator must not consume the global RNG, or a
            # resumed run (one more iterator) would diverge from an uninterrupted one.
            generator=torch.Generator().manual_seed(self.config.seed + self.epoch),
        )

    def fit(self) -> TrainResult:
        """Train until ``max_steps`` (resuming first), then validate and save a last time."""
        config = self.config
        (self.exp_dir / "log").mkdir(parents=True, exist_ok=True)
        self.accelerator.init_trackers("tensorboard")
        self.resume()
        if len(self.sampler) == 0:
            raise ValueError("no training batch: the training set is empty or smaller than ranks")
        self.model.train()
        bar = progress_bar(
            total=config.max_steps,
            initial=self.step,
            desc=f"train {self.exp_dir.name}",
            unit="step",
            every=config.log_every,
            disable=not self.accelerator.is_local_main_process,
        )
        skipped, started, first_step = 0, time.monotonic(), self.step
        while self.step < config.max_steps:
            for batch in self._batches():
                batch = send_to_device(batch, self.accelerator.device)
                if self.step_hook is not None:
                    self.step_hook(self.unwrapped, self.step)
                with self.accelerator.autocast():
                    loss, stats = self.loss_fn(self.model, batch)
                self.batch_in_epoch += 1
                if not torch.isfinite(loss):
                    skipped += 1
                    logger.warning("step %d: non-finite loss, batch skipped", self.step)
                    self.optimizer.zero_grad()
                    continue
                self.accelerator.backward(loss)
                grad_norm = 0.0
                if config.clip_grad_norm > 0:
                    norm = self.accelerator.clip_grad_norm_(
                        self.model.parameters(), config.clip_grad_norm
                    )
                    grad_norm = float(norm)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad()
                self.step += 1
                bar.set_postfix(
                    loss=f"{loss.item():.3f}", lr=f"{self.scheduler.get_last_lr()[0]:.3g}"
                )
                bar.update(1)
                if self.step % config.log_every == 0 or self.step == config.max_steps:
                    self._log(
                        {
                            "loss": loss.item(),
                            "lr": self.scheduler.get_last_lr()[0],
                            "grad_norm": grad_norm,
                            "steps_per_s": (self.step - first_step)
                            / max(1e-9, time.monotonic() - started),
                            **stats,
                        }
                    )
                if self.step % config.valid_every == 0 and self.step < config.max_steps:
                    self._validate_and_save()
                if self.step >= config.max_steps:
                    break
            else:
                self.epoch += 1
                self.batch_in_epoch = 0
        bar.close()
        if skipped:
            logger.warning("%d batches skipped for non-finite loss", skipped)
        checkpoints = list_checkpoints(self.checkpoint_dir)
        if not checkpoints or checkpoints[-1].step != self.step:
            self._validate_and_save()
            checkpoints = list_checkpoints(self.checkpoint_dir)
        self.accelerator.end_training()
        return TrainResult(
            step=self.step,
            last=checkpoints[-1] if checkpoints else None,
            best=best_checkpoint(checkpoints, config.best_metric, config.best_mode),
            best_of=best_checkpoints(checkpoints, config.keep_best_of, config.best_mode),
        )

    def fit_best(self, average_last: int = 0) -> tuple[torch.nn.Module, TrainResult]:
        """:meth:`fit`, then put the final weights into the unwrapped model, in evaluation mode.

        The model stays on the training device, in full precision: the mixed-precision
        wrapper of its forward pass is removed, so that it predicts as the saved model does.

        Args:
            average_last: 0 (default) for the best checkpoint by ``config.best_metric`` (the
                last weights when no checkpoint has the metric); N > 0 for the element-wise
                average of the last N checkpoints.

        Returns:
            (the unwrapped model holding the final weights, the run's :class:`TrainResult`).

        Example:
            >>> model, result = trainer.fit_best()  # doctest: +SKIP
            >>> model.save(exp_dir / "model")  # doctest: +SKIP
        """
        result = self.fit()
        model = self.accelerator.unwrap_model(self.model, keep_fp32_wrapper=False)
        if average_last > 0:
            paths = [c.path for c in list_checkpoints(self.checkpoint_dir)][-average_last:]
            model.load_state_dict(average_checkpoints(paths))
            logger.info("final model: average of the last %d checkpoints", len(paths))
        elif result.best is not None:
            load_model_weights(model, result.best.path)
            logger.info(
                "final model: best checkpoint %s %s", result.best.path.name, result.best.metrics
            )
        return model.eval(), result
