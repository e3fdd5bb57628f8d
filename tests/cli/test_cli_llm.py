"""``speechml llm`` pretrain-lm, mixture, train and evaluate, run through speechml.cli.main."""

from __future__ import annotations

import sys
from pathlib import Path

import speechml.cli

sys.path.insert(0, str(Path(__file__).parents[1] / "llm"))
from llm_toys import write_tones  # noqa: E402

TINY = [
    "conformer.encoder.input_dim=20", "conformer.encoder.d_model=16",
    "conformer.encoder.num_heads=2", "conformer.encoder.ffn_dim=32",
    "conformer.encoder.num_layers=1", "conformer.encoder.subsampling_channels=4",
    "conformer.fbank.num_mel_bins=20", "conformer.cmvn_utts=8", "projector.hidden_size=16",
    "projector.num_heads=2", "lora.rank=2", "lora.alpha=4", "valid_examples=4",
    "align.max_steps=2", "align.warmup_steps=1", "align.max_batch_seconds=null",
]  # fmt: skip


def run(*args: object) -> int:
    return speechml.cli.main(["llm", *map(str, args)])


def sets(overrides: list[str]) -> list[str]:
    return [item for override in overrides for item in ("--set", override)]


def test_the_four_verbs(tmp_path, capsys):
    write_tones(tmp_path / "train", 4, 0)
    lm_sets = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2",
               "model.num_kv_heads=1", "model.vocab_size=280", "valid_texts=2",
               "train.max_steps=2", "train.warmup_steps=1"]  # fmt: skip
    assert run("pretrain-lm", "--text", tmp_path / "train", "--exp", tmp_path / "lm",
               *sets(lm_sets)) == 0  # fmt: skip
    assert run("mixture", "--data", tmp_path / "train", "--out", tmp_path / "mix",
               "--set", "examples=8", "--set", "task_weights={asr: 1, cls: 1}") == 0  # fmt: skip
    model = ["--llm", tmp_path / "lm" / "model", *sets(TINY)]
    assert run("train", "--stage", "align", "--train", tmp_path / "mix", "--dev", tmp_path / "mix",
               "--exp", tmp_path / "align", *model) == 0  # fmt: skip
    assert (tmp_path / "align" / "adapter" / "projector.safetensors").is_file()
    assert run("evaluate", "--data", tmp_path / "mix", "--adapter", tmp_path / "align" / "adapter",
               "--out", tmp_path / "eval", "--max-new-tokens", "3", *model) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "| task | language | prompt | metric |" in out
    assert (tmp_path / "eval" / "answers.jsonl").is_file()
    assert run("report", "--title", "Toy", "--systems", f"A={tmp_path / 'eval'}",
               f"B={tmp_path / 'eval'}", "--out", tmp_path / "summary.md") == 0  # fmt: skip
    summary = (tmp_path / "summary.md").read_text()
    assert (
        summary.startswith("## Toy")
        and "| task | language | prompt | metric | A | follows % | B | follows % |" in summary
    )
