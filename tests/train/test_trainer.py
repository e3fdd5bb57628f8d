"""The shared trainer: learning, frozen parameters, resume, checkpoints, final weights, DDP."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from speechml.train.checkpoint import average_checkpoints, list_checkpoints
from speechml.train.trainer import TrainConfig, lr_lambda

sys.path.insert(0, str(Path(__file__).parent))
from tiny_task import make_trainer  # noqa: E402


def metric_values(exp: Path, name: str) -> list[float]:
    lines = (exp / "log" / "metrics.jsonl").read_text().splitlines()
    return [json.loads(x)[name] for x in lines if name in json.loads(x)]


def test_loss_falls_and_artifacts_are_written(tmp_path):
    result = make_trainer(tmp_path, max_steps=40).fit()
    valid = metric_values(tmp_path, "valid_loss")
    assert result.step == 40
    assert valid[-1] < 0.2 * valid[0]
    assert (tmp_path / "training_curves.png").stat().st_size > 1000
    assert list((tmp_path / "tensorboard").rglob("events.out.tfevents*"))
    assert result.best is not None and result.best.metrics["valid_loss"] == min(valid)
    assert not list((tmp_path / "checkpoints").glob(".*tmp"))


def test_frozen_parameters_stay_bit_identical(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=15, freeze=True)
    before = {k: v.clone() for k, v in trainer.unwrapped.frozen.state_dict().items()}
    head_before = trainer.unwrapped.head.weight.detach().clone()
    trainer.fit()
    for key, value in trainer.unwrapped.frozen.state_dict().items():
        assert torch.equal(value, before[key])
    assert not torch.equal(trainer.unwrapped.head.weight, head_before)


def test_resumed_run_continues_where_it_stopped(tmp_path):
    straight = make_trainer(tmp_path / "a", max_steps=30)
    straight.fit()
    make_trainer(tmp_path / "b", max_steps=15).fit()  # stops mid-epoch (12 batches an epoch)
    resumed = make_trainer(tmp_path / "b", max_steps=30)
    result = resumed.fit()
    assert result.step == 30
    for a, b in zip(straight.unwrapped.parameters(), resumed.unwrapped.parameters(), strict=True):
        assert torch.equal(a, b)


TINY_TASK = Path(__file__).parent / "tiny_task.py"
RUN_LOCAL = Path(__file__).parents[2] / "recipes" / "utils" / "run_local.sh"


def tiny_run(exp: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``tiny_task.py EXP ARGS...`` in a process of its own."""
    command = [sys.executable, str(TINY_TASK), str(exp), *args]
    return subprocess.Popen(command, env={**os.environ, **(env or {})}, stderr=subprocess.PIPE)


def records(exp: Path) -> list[dict[str, float]]:
    """The metrics.jsonl records without their timing."""
    lines = (exp / "log" / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "steps_per_s"} for x in lines]


def final_weights(exp: Path) -> torch.Tensor:
    """The flattened weights a tiny_task.py run saved at its end."""
    return torch.load(exp / "rank0.pt", weights_only=True)["weights"]


def finished(process: subprocess.Popen) -> None:
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()[-3000:]


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """An uninterrupted run of 40 steps in its own process."""
    exp = tmp_path_factory.mktemp("straight")
    finished(tiny_run(exp, "40"))
    return exp


def test_a_run_killed_at_a_random_step_resumes_as_if_uninterrupted(tmp_path, straight):
    kill_after = random.Random().randint(12, 36)
    run = tiny_run(tmp_path / "killed", "40", "0.05")
    log = tmp_path / "killed" / "log" / "metrics.jsonl"
    for _ in range(1200):
        if log.is_file() and any(r["step"] >= kill_after for r in records(tmp_path / "killed")):
            break
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    assert run.returncode == -signal.SIGKILL, f"the run ended before step {kill_after}"
    finished(tiny_run(tmp_path / "killed", "40"))
    assert records(tmp_path / "killed") == records(straight)
    assert torch.equal(final_weights(straight), final_weights(tmp_path / "killed"))


def test_a_checkpoint_write_killed_half_way_leaves_the_previous_one(tmp_path, straight):
    exp = tmp_path / "killed"
    run = tiny_run(exp, "40", env={"TINY_DIE_IN_CHECKPOINT": "20"})
    run.wait(timeout=120)
    assert run.returncode == -signal.SIGKILL
    assert [c.step for c in list_checkpoints(exp / "checkpoints")] == [10]
    assert list((exp / "checkpoints").glob(".step-000020*.tmp"))
    load_file(exp / "checkpoints" / "step-000010" / "model.safetensors")
    resumed = tiny_run(exp, "40")
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err.decode()[-3000:]
    assert "a checkpoint whose writing was interrupted" in err.decode()
    assert not list((exp / "checkpoints").glob(".*"))
    assert records(exp) == records(straight)
    assert torch.equal(final_weights(straight), final_weights(exp))


def test_checkpoints_are_pruned_but_best_is_kept(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=60)
    trainer.config.keep_last = 2
    result = trainer.fit()
    steps = [c.step for c in list_checkpoints(tmp_path / "checkpoints")]
    assert steps[-2:] == [50, 60]
    assert result.best.step in steps
    assert len(steps) <= 3


def test_each_keep_best_of_metric_keeps_its_own_best_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=60)
    curves = {"dev_wer_kat": [9, 5, 2, 4, 6, 7], "dev_wer_ell": [9, 8, 7, 6, 1, 3]}
    trainer.valid_fn = lambda model: {
        "valid_loss": 1.0,
        **{name: values[trainer.step // 10 - 1] for name, values in curves.items()},
    }  # scripted: kat peaks at step 30, ell at step 50, valid_loss never improves
    trainer.config.keep_last = 1
    trainer.config.keep_best_of = ["dev_wer_kat", "dev_wer_ell", "dev_wer_amh"]
    result = trainer.fit()
    assert {m: c.step for m, c in result.best_of.items()} == {"dev_wer_kat": 30, "dev_wer_ell": 50}
    assert result.best.step == 60  # the latest among equals
    assert [c.step for c in list_checkpoints(tmp_path / "checkpoints")] == [30, 50, 60]


def test_average_of_checkpoints_is_elementwise_mean(tmp_path):
    make_trainer(tmp_path, max_steps=30).fit()
    checkpoints = [c.path for c in list_checkpoints(tmp_path / "checkpoints")][-2:]
    average = average_checkpoints(checkpoints)
    first, second = (load_file(str(p / "model.safetensors")) for p in checkpoints)
    key = "head.weight"
    assert torch.allclose(average[key], (first[key] + second[key]) / 2)


def test_fit_best_gives_the_best_or_the_averaged_weights(tmp_path):
    trainer = make_trainer(tmp_path / "best", max_steps=30)
    trainer.config.best_mode = "max"  # the highest loss, so that the best is not the last
    model, result = trainer.fit_best()
    assert result.best.step == 10 and result.last.step == 30 and not model.training
    best, last = (load_file(str(c.path / "model.safetensors")) for c in (result.best, result.last))
    assert all(torch.equal(value.cpu(), best[key]) for key, value in model.state_dict().items())
    assert not torch.equal(model.head.weight.cpu(), last["head.weight"])

    model, _ = make_trainer(tmp_path / "average", max_steps=30).fit_best(average_last=2)
    paths = [c.path for c in list_checkpoints(tmp_path / "average" / "checkpoints")][-2:]
    average = average_checkpoints(paths)
    assert all(torch.equal(value.cpu(), average[key]) for key, value in model.state_dict().items())


@pytest.mark.slow
def test_a_job_log_gets_a_line_every_log_every_steps_and_no_bar(tmp_path):
    log = tmp_path / "log" / "train.log"
    command = [str(RUN_LOCAL), str(log), sys.executable, str(TINY_TASK), str(tmp_path), "20"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    text = log.read_text()
    assert "\r" not in text
    line = r"train \S+: step (\d+)/20 loss [0-9.]+ lr [0-9.e-]+ [0-9.e+]+ step/s$"
    steps = re.findall(line, text, re.M)
    assert steps == ["5", "10", "15", "20"]
    assert re.findall(r"step (\d+): valid_loss=", text) == ["10", "20"]


def test_a_terminal_gets_the_training_bar(tmp_path, on_terminal):
    shown = on_terminal([sys.executable, str(TINY_TASK), str(tmp_path), "20"])
    assert f"train {tmp_path.name}: 100%|" in shown and "20/20 [" in shown
    assert "step 5/20" not in shown


def test_ddp_on_two_cpu_processes_keeps_replicas_in_sync(tmp_path):
    script = Path(__file__).parent / "tiny_task.py"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29517",
        str(script),
        str(tmp_path),
        "12",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert rank0["world"] == rank1["world"] == 2
    assert rank0["batches"] == rank1["batches"] == 6  # 12 batches shared by 2 ranks
    assert torch.equal(rank0["weights"], rank1["weights"])


def test_eden_schedule_is_flat_then_falls_as_inverse_square_root():
    factor = lr_lambda(TrainConfig(warmup_steps=100, schedule="eden", decay_steps=1000))
    assert factor(49) == pytest.approx(0.5)  # warm-up
    assert factor(199) > 0.99 and factor(499) > 0.94  # about flat well before decay_steps
    assert factor(999) == pytest.approx(2**-0.25, rel=1e-3)
    assert factor(39_999) == pytest.approx((1000 / 40_000) ** 0.5, rel=1e-3)
