"""Experiment records: config, replay script, and a run of another config moved aside."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from speechml.experiment import record_experiment
from speechml.train.trainer import TrainConfig


@dataclass
class Config:
    width: int = 4
    train: TrainConfig = field(default_factory=lambda: TrainConfig(max_steps=10))


def leave_a_run(exp) -> None:
    (exp / "checkpoints" / "step-000010").mkdir(parents=True)
    (exp / "model").mkdir()
    (exp / "log").mkdir()
    (exp / "log" / "metrics.jsonl").write_text('{"step": 10}\n')
    (exp / "log" / "train.log").write_text("the job's own log\n")


def test_records_the_config_and_the_call(tmp_path):
    record_experiment(tmp_path / "exp", Config(), ["asr", "train", "--exp", "exp"])
    assert "width: 4" in (tmp_path / "exp" / "config.yaml").read_text()
    assert "speechml asr train --exp exp" in (tmp_path / "exp" / "replay.sh").read_text()


def test_a_longer_budget_resumes_the_same_run(tmp_path):
    exp = tmp_path / "exp"
    record_experiment(exp, Config(), [])
    leave_a_run(exp)
    longer = Config(train=dataclasses.replace(Config().train, max_steps=20))
    record_experiment(exp, longer, [])
    assert (exp / "checkpoints" / "step-000010").is_dir()  # resumed, not moved
    assert not list(exp.glob("superseded-*"))


def test_a_run_of_another_config_is_moved_aside_whole(tmp_path, caplog):
    exp = tmp_path / "exp"
    record_experiment(exp, Config(), [])
    leave_a_run(exp)
    record_experiment(exp, Config(width=8), [])
    [old] = exp.glob("superseded-*")
    assert (old / "checkpoints" / "step-000010").is_dir() and (old / "model").is_dir()
    assert (old / "log" / "metrics.jsonl").read_text() == '{"step": 10}\n'
    assert "width: 4" in (old / "config.yaml").read_text()
    assert not (exp / "checkpoints").exists() and not (exp / "model").exists()
    assert (exp / "log" / "train.log").is_file()  # the job's log stays where it is written
    assert "width: 8" in (exp / "config.yaml").read_text()
    assert "another config" in caplog.text
