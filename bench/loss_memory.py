"""Time and peak memory of the transducer loss step: torchaudio's full loss against the pruned loss.

For each setting ``BxTxUxV`` (batch, encoder frames, target tokens, vocabulary) both arms run what
training runs for one pass, forward and backward, from encoder output ``(B, T, D)`` and
predictor output ``(B, U+1, Dp)`` (full-length utterances, random targets):

- full: the joiner on every cell, logits ``(B, T, U+1, V)``, and
  ``speechml.asr.transducer.rnnt_loss_sum`` (``torchaudio.functional.rnnt_loss`` in batch slices,
  one a thread, on the CPU);
- pruned: the simple projections ``(B, T, V)`` and ``(B, U+1, V)``,
  ``speechml.asr.pruned_rnnt.pruned_transducer_loss`` (the joiner on ``(B, T, prune_range, H)``),
  and icefall's weights after warm-up, ``0.5 * simple + pruned``.

Both arms share the joiner's weights and the inputs, which exist before the measurement starts,
so the figures are those of the step itself. The timed steps alternate between the arms, so that
load from other jobs slows both alike; ``ms`` is the median of ``--repeats`` steps.

How peak memory is measured (``tracemalloc`` cannot see torch's allocations):

- CPU: ``torch.profiler`` with ``profile_memory=True`` records every allocation and free of
  torch's CPU allocator during one more, untimed step; the peak is the highest running sum of
  those. The profiler sees only the threads it runs on, so in that step the full arm calls
  ``torchaudio.functional.rnnt_loss`` once on the main thread (``rnnt_loss_sum``'s slices,
  one a worker thread, allocate the same in sum).
- GPU: ``torch.cuda.max_memory_allocated`` during the step minus the memory allocated before.

``logits_MiB`` is analytic: the full arm's float32 logits, ``B*T*(U+1)*V*4`` bytes.

Example:
    .venv/bin/python bench/loss_memory.py --settings 16x35x15x170 16x500x100x500
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from dataclasses import dataclass

import benchlib
import torch
import torchaudio
from torch import nn
from torch.profiler import ProfilerActivity, profile

from speechml.asr.pruned_rnnt import loss_scales, pruned_transducer_loss
from speechml.asr.transducer import Joiner, rnnt_loss_sum
from speechml.progress import progress_bar

MIB = 2**20
#: The recipe's size (the default corpus: ~35 encoder frames and ~15 tokens an utterance, a
#: character vocabulary of ~170) and the issue's.
DEFAULT_SETTINGS = ["16x35x15x170", "16x500x100x500"]
QUICK_SETTINGS = ["2x20x5x16", "4x20x5x16"]
ARMS = ("full", "pruned")


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

    def __str__(self) -> str:
        return f"{self.batch}x{self.frames}x{self.tokens}x{self.vocab}"

    def cells(self) -> int:
        """Entries of the (B, T, U+1) lattice."""
        return self.batch * self.frames * (self.tokens + 1)


class LossStep:
    """The parts of a transducer that one loss step trains, on fixed inputs of a setting.

    Args:
        setting: the shapes; enc_dim, pred_dim, hidden: encoder, predictor and joiner widths.
        prune_range: symbols a frame of the pruned arm.
        device: where everything lives.
    """

    def __init__(
        self,
        setting: Setting,
        enc_dim: int,
        pred_dim: int,
        hidden: int,
        prune_range: int,
        device: torch.device,
    ) -> None:
        b, t, u, v = setting.batch, setting.frames, setting.tokens, setting.vocab
        self.joiner = Joiner(enc_dim, pred_dim, hidden, v).to(device)
        self.am_proj = nn.Linear(enc_dim, v).to(device)  # the pruned arm's simple projections
        self.lm_proj = nn.Linear(pred_dim, v).to(device)
        self.enc = torch.randn(b, t, enc_dim, device=device, requires_grad=True)
        self.pred = torch.randn(b, u + 1, pred_dim, device=device, requires_grad=True)
        self.targets = torch.randint(1, v, (b, u), dtype=torch.int32, device=device)
        self.enc_lengths = torch.full((b,), t, dtype=torch.int32, device=device)
        self.target_lengths = torch.full((b,), u, dtype=torch.int32, device=device)
        self.prune_range = prune_range
        self.tokens = b * u
        modules = (self.joiner, self.am_proj, self.lm_proj)
        self.trained = [self.enc, self.pred, *(p for m in modules for p in m.parameters())]

    def clear_grads(self) -> None:
        """Drop every gradient, as ``zero_grad(set_to_none=True)`` does between steps."""
        for tensor in self.trained:
            tensor.grad = None

    def full(self, one_call: bool = False) -> float:
        """Joiner on (B, T, U+1), torchaudio's loss, backward; the loss per token.

        ``one_call``: torchaudio in one call on this thread instead of ``rnnt_loss_sum``.
        """
        logits = self.joiner(self.enc[:, :, None], self.pred[:, None])
        args = (logits, self.targets, self.enc_lengths, self.target_lengths)
        if one_call:
            loss = torchaudio.functional.rnnt_loss(*args, blank=0, reduction="sum")
        else:
            loss = rnnt_loss_sum(*args, blank=0)
        loss.backward()
        return loss.item() / self.tokens

    def pruned(self) -> float:
        """Simple projections, the pruned loss, backward; the pruned loss per token."""
        joiner = self.joiner
        simple, pruned = pruned_transducer_loss(
            joiner.enc_proj(self.enc),
            joiner.pred_proj(self.pred),
            joiner.out,
            self.am_proj(self.enc),
            self.lm_proj(self.pred),
            self.targets,
            self.enc_lengths,
            self.target_lengths,
            blank=0,
            prune_range=self.prune_range,
        )
        simple_scale, pruned_scale = loss_scales(step=1, warm_steps=0)
        (simple_scale * simple + pruned_scale * pruned).backward()
        return pruned.item() / self.tokens


def timed(step: LossStep, arm: str, device: torch.device) -> tuple[float, float]:
    """(seconds, loss per token) of one step of ``arm``."""
    step.clear_grads()
    gc.collect()
    benchlib.synchronize(device)
    started = time.perf_counter()
    loss = step.full() if arm == "full" else step.pruned()
    benchlib.synchronize(device)
    return time.perf_counter() - started, loss


def profiler_peak(prof: profile) -> int:
    """Highest running sum of the CPU allocations and frees a profiler recorded (bytes)."""
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    running = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        running += event.nbytes()
        peak = max(peak, running)
    return peak


def peak_bytes(step: LossStep, arm: str, device: torch.device) -> int:
    """Peak bytes allocated during one untimed step of ``arm`` above what existed before it."""
    step.clear_grads()
    gc.collect()
    run = (lambda: step.full(one_call=True)) if arm == "full" else step.pruned
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        run()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    return profiler_peak(prof)


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
    parser.add_argument("--prune-range", type=int, default=5, help="pruned arm: symbols a frame")
    parser.add_argument(
        "--repeats", type=int, help="timed steps per arm and setting (default 2; --quick: 1)"
    )
    args = parser.parse_args(argv)
    if args.settings is None:
        names = QUICK_SETTINGS if args.quick else DEFAULT_SETTINGS
        args.settings = [Setting.parse(name) for name in names]
    if args.repeats is None:
        args.repeats = 1 if args.quick else 2
    if args.repeats < 1 or args.prune_range < 2:
        parser.error("--repeats must be >= 1 and --prune-range >= 2")
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure every setting; print the table, the method and the ratios; returns 0."""
    args = parse_args(argv)
    threads = benchlib.set_threads(args.threads)
    device = benchlib.resolve_device(args.device)
    model = benchlib.load_asr_config(args).model
    dims = (model.encoder.d_model, model.predictor.output_dim, model.joiner_dim)
    benchlib.print_header(
        "ASR transducer loss memory: joiner + torchaudio full loss vs pruned loss, "
        "forward and backward",
        device,
        {
            "enc_dim": dims[0],
            "pred_dim": dims[1],
            "joiner_dim": dims[2],
            "prune_range": args.prune_range,
            "repeats": args.repeats,
            "threads": threads,
        },
    )
    if device.type == "cuda":
        print("method: torch.cuda.max_memory_allocated during the step minus memory before it")
    else:
        print(
            "method: peak of torch's CPU allocations (torch.profiler, profile_memory=True) "
            "during one untimed step; full arm: torchaudio in one call on the main thread; "
            "analytic logits = B*T*(U+1)*V*4 bytes"
        )
    torch.manual_seed(args.seed)
    warm_up = LossStep(Setting(2, 4, 2, 4), *dims, args.prune_range, device)
    for arm in ARMS:  # lazy set-up: kernels, thread pools
        timed(warm_up, arm, device)
    rows, ratios = [], []
    for setting in progress_bar(args.settings, desc="loss memory", leave=False):
        step = LossStep(setting, *dims, args.prune_range, device)
        seconds: dict[str, list[float]] = {arm: [] for arm in ARMS}
        losses: dict[str, float] = {}
        for _ in range(args.repeats):
            for arm in ARMS:
                elapsed, losses[arm] = timed(step, arm, device)
                seconds[arm].append(elapsed)
        ms = {arm: 1000 * statistics.median(seconds[arm]) for arm in ARMS}
        peak = {arm: peak_bytes(step, arm, device) for arm in ARMS}
        logits = setting.cells() * setting.vocab * 4
        for arm in ARMS:
            size = [setting.batch, setting.frames, setting.tokens, setting.vocab]
            rows.append([*size, arm, ms[arm], peak[arm] / MIB, logits / MIB, losses[arm]])
        ratios.append((setting, ms["full"] / ms["pruned"], peak["pruned"] / peak["full"]))
        del step
    print(
        benchlib.format_table(
            ["B", "T", "U", "V", "loss", "ms", "peak_MiB", "logits_MiB", "nll_per_token"], rows
        )
    )
    for setting, speed_up, memory in ratios:
        print(f"time ratio {setting} (full / pruned): {speed_up:.3f}")
        print(f"memory ratio {setting} (pruned / full): {memory:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
