"""A tiny regression task for trainer tests (also run as a script under torchrun)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset

from speechml.train import checkpoint
from speechml.train.trainer import TrainConfig, Trainer


class Points(Dataset):
    """y = x @ w_true + noise, with a fake 'duration' per item."""

    def __init__(self, count: int = 96) -> None:
        gen = torch.Generator().manual_seed(1)
        self.x = torch.randn(count, 4, generator=gen)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.01 * torch.randn(
            count, generator=gen
        )
        self.durations = (1.0 + torch.rand(count, generator=gen) * 4).tolist()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]


def collate(items):
    xs, ys = zip(*items, strict=True)
    return {"x": torch.stack(xs), "y": torch.stack(ys)}


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.frozen = torch.nn.Linear(4, 4)
        self.head = torch.nn.Linear(4, 1)
        self.dropout = torch.nn.Dropout(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(x + 0.0 * self.frozen(x))).squeeze(-1)


def mse(model, batch):
    loss = torch.nn.functional.mse_loss(model(batch["x"]), batch["y"])
    return loss, {}


def make_trainer(exp_dir: Path, max_steps: int, freeze: bool = False) -> Trainer:
    torch.manual_seed(0)
    model = Net()
    if freeze:
        model.frozen.requires_grad_(False)
    data = Points()
    valid = Points(32)

    def validate(m):
        device = next(m.parameters()).device  # the trainer's: a GPU when there is one
        loss = torch.nn.functional.mse_loss(m(valid.x.to(device)), valid.y.to(device))
        return {"valid_loss": float(loss)}

    config = TrainConfig(
        max_steps=max_steps,
        lr=0.05,
        warmup_steps=5,
        schedule="constant",
        max_batch_size=8,
        max_batch_seconds=None,
        valid_every=10,
        log_every=5,
        num_buckets=3,
    )
    return Trainer(model, mse, data, data.durations, collate, config, exp_dir, valid_fn=validate)


def die_while_writing_checkpoint(step: int) -> None:
    """Make the process kill itself (SIGKILL) half-way through writing checkpoint ``step``."""
    save_safetensors = checkpoint.save_safetensors

    def dying_save_safetensors(state, path: Path) -> Path:
        if f"step-{step:06d}" in str(path):
            Path(path).write_bytes(b"half a safetensors file")
            os.kill(os.getpid(), signal.SIGKILL)
        return save_safetensors(state, path)

    checkpoint.save_safetensors = dying_save_safetensors


if __name__ == "__main__":
    # tiny_task.py OUT MAX_STEPS [SECONDS_A_STEP]; TINY_DIE_IN_CHECKPOINT=STEP kills the process
    # while it writes that step's checkpoint.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = Path(sys.argv[1])
    trainer = make_trainer(out, max_steps=int(sys.argv[2]))
    if len(sys.argv) > 3:
        pause = float(sys.argv[3])
        trainer.step_hook = lambda model, step: time.sleep(pause)
    if "TINY_DIE_IN_CHECKPOINT" in os.environ:
        die_while_writing_checkpoint(int(os.environ["TINY_DIE_IN_CHECKPOINT"]))
    result = trainer.fit()
    rank = trainer.accelerator.process_index
    weights = torch.cat([p.detach().flatten() for p in trainer.unwrapped.parameters()])
    torch.save(
        {
            "weights": weights,
            "world": trainer.accelerator.num_processes,
            "batches": len(trainer.sampler),
        },
        out / f"rank{rank}.pt",
    )
