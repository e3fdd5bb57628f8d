"""Smoke runs of the ASR benchmarks with --quick: they finish, print their figures, and the
figures that do not depend on timing hold (padding, analytic sizes, streaming == whole)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench"


def figure(output: str, name: str) -> float:
    """The number after ``name:`` on its own summary line."""
    match = re.search(rf"^{re.escape(name)}: ([0-9.]+)", output, re.MULTILINE)
    assert match, f"no line {name!r} in:\n{output}"
    return float(match.group(1))


def table_rows(output: str, first_cell: str) -> list[list[str]]:
    """Rows of the printed tables whose first cell is ``first_cell``."""
    return [line.split() for line in output.splitlines() if line.split()[:1] == [first_cell]]


@pytest.fixture(scope="module")
def quick_run() -> str:
    """stdout of ``bench/asr_bench.py --quick`` run as the Makefile runs it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, str(BENCH / "asr_bench.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=BENCH.parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture
def bench_modules(monkeypatch):
    """The bench directory on sys.path, as when a script runs; torch's threads restored after."""
    monkeypatch.syspath_prepend(str(BENCH))
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_every_benchmark_prints_header_and_machine(quick_run):
    headers = re.findall(r"^== (.+) ==$", quick_run, re.MULTILINE)
    assert [h.split(":")[0] for h in headers] == [
        "ASR training throughput",
        "ASR streaming decoding",
        "ASR transducer loss memory",
    ]
    machine = r"^machine: (\d+) CPUs.* with (\d+) threads, device ([a-z]+)"
    machines = re.findall(machine, quick_run, re.MULTILINE)
    assert len(machines) == 3
    assert all(int(cpus) >= 1 and device in ("cpu", "cuda") for cpus, _, device in machines)
    assert machines[1][1] == "1"  # streaming runs on one thread by default


def test_training_throughput_figures(quick_run):
    bucketed = figure(quick_run, "throughput bucketed")
    padded = figure(quick_run, "throughput padded")
    assert bucketed > 0 and padded > 0
    assert figure(quick_run, "ratio (bucketed / padded)") == pytest.approx(
        bucketed / padded, rel=0.01
    )
    for name in ("bucketed", "padded"):
        (row,) = table_rows(quick_run, name)
        assert int(row[1]) == 2  # --quick: two timed steps per arm
        assert 0.0 <= float(row[4]) < 100.0  # padding %
    # Bucketing exists to cut padding: over a whole epoch it must pad less.
    assert figure(quick_run, "padding over one epoch, bucketed") < figure(
        quick_run, "padding over one epoch, padded"
    )


def test_streaming_figures_and_agreement(quick_run):
    whole, streaming = figure(quick_run, "RTF whole"), figure(quick_run, "RTF streaming")
    assert whole > 0 and streaming > 0
    assert figure(quick_run, "ratio (streaming / whole)") == pytest.approx(
        streaming / whole, rel=0.02
    )
    latency = r"^chunk latency: mean [0-9.]+ ms, p95 [0-9.]+ ms over \d+ chunks"
    assert re.search(latency, quick_run, re.MULTILINE)
    assert re.search(r"^same hypotheses: 2/2$", quick_run, re.MULTILINE)


def test_loss_memory_compares_full_and_pruned_losses(quick_run):
    assert re.search(r"^method: .*torch\.profiler", quick_run, re.MULTILINE)
    rows = [row for row in (line.split() for line in quick_run.splitlines()) if len(row) == 9]
    sizes = [row for row in rows if row[0].isdigit()]
    assert [row[:5] for row in sizes] == [
        ["2", "20", "5", "16", "full"],
        ["2", "20", "5", "16", "pruned"],
        ["4", "20", "5", "16", "full"],
        ["4", "20", "5", "16", "pruned"],
    ]
    ms, peak = {}, {}
    for b, t, u, v, arm, step_ms, peak_mib, logits_mib, nll in sizes:
        expected = int(b) * int(t) * (int(u) + 1) * int(v) * 4 / 2**20
        assert float(logits_mib) == pytest.approx(expected, rel=1e-3)
        # The full arm holds at least its logits; both losses are proper (positive) NLLs.
        assert float(peak_mib) >= (expected if arm == "full" else 0) and float(nll) > 0
        ms[b, arm], peak[b, arm] = float(step_ms), float(peak_mib)
    for b in ("2", "4"):
        name = f"{b}x20x5x16"
        assert figure(quick_run, f"time ratio {name} (full / pruned)") == pytest.approx(
            ms[b, "full"] / ms[b, "pruned"], rel=0.01
        )
        assert figure(quick_run, f"memory ratio {name} (pruned / full)") == pytest.approx(
            peak[b, "pruned"] / peak[b, "full"], rel=0.01
        )


def test_training_throughput_on_a_data_dir(make_data_dir, bench_modules, capsys):
    import train_throughput

    data = make_data_dir(num_utts=4)
    assert train_throughput.main(["--quick", "--data", str(data), "--threads", "1"]) == 0
    output = capsys.readouterr().out
    # "hello number 0..3": 9 letters, the space and 4 digits, plus <blank> and <unk>.
    assert f"data={data}" in output and "vocab=16" in output
    assert figure(output, "throughput bucketed") > 0
    # All utterances last 0.5 s: no arm pads.
    assert figure(output, "padding over one epoch, bucketed") == 0.0
    assert figure(output, "padding over one epoch, padded") == 0.0


def test_feature_access_with_and_without_the_store(bench_modules, capsys):
    import feature_access

    assert feature_access.main(["--quick", "--nj", "2"]) == 0
    output = capsys.readouterr().out
    assert "settings: data=synthetic, utts=20, nj=2" in output
    assert figure(output, "speed-up") > 0
    assert "same features: 20/20" in output


def test_loss_memory_rejects_a_malformed_setting(bench_modules, capsys):
    import loss_memory

    with pytest.raises(SystemExit) as exit_info:
        loss_memory.main(["--settings", "8x100x40"])
    assert exit_info.value.code == 2
    assert "expected BxTxUxV" in capsys.readouterr().err


def test_streaming_measures_a_saved_recognizer(tmp_path, bench_modules, capsys):
    import benchlib
    import streaming_rtf

    from speechml.asr.recognizer import Recognizer
    from speechml.asr.train import AsrTrainConfig
    from speechml.config import load_config
    from speechml.data.features import FbankConfig
    from speechml.data.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(["abc abd"], "char", None, tmp_path / "tok")
    config = load_config(AsrTrainConfig, None, benchlib.QUICK_MODEL).model
    model = benchlib.build_model(config, tokenizer.vocab_size, seed=0)
    Recognizer(model, tokenizer, FbankConfig(), None).save(tmp_path / "model")
    assert streaming_rtf.main(["--quick", "--model", str(tmp_path / "model")]) == 0
    output = capsys.readouterr().out
    assert f"model={tmp_path / 'model'}" in output
    assert f"params={model.num_parameters() / 1e6:.2f}M" in output
    assert re.search(r"^same hypotheses: 2/2$", output, re.MULTILINE)
    for runtime in ("onnxruntime fp32", "onnxruntime int8", "sherpa-onnx online"):
        assert re.search(rf"^RTF {runtime}: \d+\.\d+ \(\d+\.\d+ x torch streaming\)$", output, re.M)
