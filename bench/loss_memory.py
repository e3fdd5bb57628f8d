"""Peak memory of the transducer loss: the joiner over (T, U+1) and torchaudio's RNN-T loss.

For each setting ``BxTxUxV`` (batch, encoder frames, target tokens, vocabulary) the script runs
what training runs for one pass: the joiner on encoder output ``(B, T, D)`` and predictor
output ``(B, U+1, Dp)``, giving logits ``(B, T, U+1, V)``; ``torchaudio.functional.rnnt_loss``;
backward. Inputs and the joiner exist before the measurement starts, so it counts the memory
of the step itself.

How it is measured (``tracemalloc`` cannot see torch's allocations):

- analytic: the float32 logits, ``B*T*(U+1)*V*4`` bytes; rnnt_loss (fused log-softmax) keeps a
  gradient of the same size, and the joiner's tanh hidden adds ``B*T*(U+1)*H*4`` per copy.
- GPU: ``torch.cuda.max_memory_allocated`` during the step minus the memory allocated before.
- CPU: the process's resident set size (psutil), sampled every millisecond by a thread during
  the step, highest sample minus the RSS just before. It counts every page the step touched
  (allocator overhead included) and can miss a peak shorter than a millisecond, or memory the
  allocator reused from an earlier setting.

Example:
    .venv/bin/python bench/loss_memory.py --settings 8x100x40x256 16x100x40x256
"""

from __future__ import annotations

import argparse
import gc
import sys
import threading
import time
from dataclasses import dataclass

import benchlib
import psutil
import torch
import torchaudio
from tqdm import tqdm

from speechml.asr.transducer import Joiner

MIB = 2**20
DEFAULT_SETTINGS = ["8x100x40x256", "16x100x40x256", "8x200x80x256", "8x100x40x1024"]
QUICK_SETTINGS = ["2x20x5x16", "4x20x5x16"]


@dataclass(frozen=True)
class Setting:
    """One loss shape: batch, encoder frames, target tokens, vocabulary."""

    batch: int
    frames: int
    tokens: int
    vocab: int

    @classmethod
    def parse(cls, text: str) -> Setting:
        """``"8x100x40x256"`` -> Setting(8, 100, 40, 256)."""
        try:
            values = [int(part) for part in text.lower().split("x")]
            setting = cls(*values)
        except (TypeError, ValueError):
            message = f"{text!r}: expected BxTxUxV, e.g. 8x100x40x256"
            raise argparse.ArgumentTypeError(message) from None
        if min(values) < 1 or setting.vocab < 2:
            raise argparse.ArgumentTypeError(f"{text!r}: sizes must be positive, V at least 2")
        return setting

    def cells(self) -> int:
        """Entries of the (B, T, U+1) lattice."""
        return self.batch * self.frames * (self.tokens + 1)


class RssPeak:
    """Context manager: the highest resident set size sampled while it is open, minus the start."""

    def __init__(self, interval: float = 0.001) -> None:
        self.process = psutil.Process()
        self.interval = interval
        self.start = self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> RssPeak:
        self.start = self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = max(self.peak, self.process.memory_info().rss)
        self._done.set()
        self._thread.join()

    @property
    def delta(self) -> int:
        """Bytes above the resident set size at the start."""
        return self.peak - self.start


def loss_step(joiner: Joiner, enc: torch.Tensor, pred: torch.Tensor, targets: torch.Tensor) -> None:
    """Joiner, RNN-T loss and backward over full-length ``enc`` (B, T, D) and ``pred``."""
    batch, frames, _ = enc.shape
    logits = joiner(enc[:, :, None], pred[:, None])
    frame_lengths = torch.full((batch,), frames, dtype=torch.int32, device=enc.device)
    token_lengths = torch.full((batch,), targets.shape[1], dtype=torch.int32, device=enc.device)
    rnnt_loss = torchaudio.functional.rnnt_loss
    rnnt_loss(logits, targets, frame_lengths, token_lengths, blank=0, reduction="sum").backward()


def measure(
    setting: Setting, enc_dim: int, pred_dim: int, hidden: int, device: torch.device
) -> tuple[int, float]:
    """Peak bytes and seconds of one loss step of ``setting`` on ``device``."""
    joiner = Joiner(enc_dim, pred_dim, hidden, setting.vocab).to(device)
    b, t, u, v = setting.batch, setting.frames, setting.tokens, setting.vocab
    enc = torch.randn(b, t, enc_dim, device=device, requires_grad=True)
    pred = torch.randn(b, u + 1, pred_dim, device=device, requires_grad=True)
    targets = torch.randint(1, v, (b, u), dtype=torch.int32, device=device)
    gc.collect()
    benchlib.synchronize(device)
    started = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        loss_step(joiner, enc, pred, targets)
        benchlib.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
    else:
        with RssPeak() as rss:
            loss_step(joiner, enc, pred, targets)
        peak = rss.delta
    return peak, time.perf_counter() - started


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    benchlib.add_common_options(parser)
    parser.add_argument("--device", default="auto", help="auto (GPU if any), cpu or cuda")
    parser.add_argument(
        "--settings",
        type=Setting.parse,
        nargs="+",
        metavar="BxTxUxV",
        help=f"loss shapes (default: {' '.join(DEFAULT_SETTINGS)})",
    )
    args = parser.parse_args(argv)
    if args.settings is None:
        names = QUICK_SETTINGS if args.quick else DEFAULT_SETTINGS
        args.settings = [Setting.parse(name) for name in names]
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure every setting and print the table and the method; returns 0."""
    args = parse_args(argv)
    threads = benchlib.set_threads(args.threads)
    device = benchlib.resolve_device(args.device)
    model = benchlib.load_asr_config(args).model
    enc_dim, pred_dim, hidden = model.encoder.d_model, model.predictor.output_dim, model.joiner_dim
    benchlib.print_header(
        "ASR transducer loss memory: joiner + torchaudio rnnt_loss, forward and backward",
        device,
        {"enc_dim": enc_dim, "pred_dim": pred_dim, "joiner_dim": hidden, "threads": threads},
    )
    if device.type == "cuda":
        print("method: torch.cuda.max_memory_allocated during the step minus memory before it")
    else:
        print(
            "method: peak RSS (psutil, sampled every 1 ms) during the step minus RSS before it; "
            "analytic logits = B*T*(U+1)*V*4 bytes, hidden = B*T*(U+1)*H*4 bytes"
        )
    rows = []
    torch.manual_seed(args.seed)
    measure(Setting(1, 2, 1, 2), enc_dim, pred_dim, hidden, device)  # warm-up: lazy set-up
    for setting in tqdm(args.settings, desc="loss memory", leave=False, file=sys.stderr):
        peak, seconds = measure(setting, enc_dim, pred_dim, hidden, device)
        logits = setting.cells() * setting.vocab * 4
        rows.append(
            [
                setting.batch,
                setting.frames,
                setting.tokens,
                setting.vocab,
                logits / MIB,
                setting.cells() * hidden * 4 / MIB,
                peak / MIB,
                peak / logits,
                1000 * seconds,
            ]
        )
    print(
        benchlib.format_table(
            ["B", "T", "U", "V", "logits_MiB", "hidden_MiB", "peak_MiB", "peak/logits", "ms"],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
