"""Search speed on a test set: greedy, modified beam search, and beam search with an n-gram LM.

The encoder runs once a batch (its time is printed apart, shared by every arm); then each arm
searches the same encoder outputs: batched greedy (up to 3 symbols a frame), modified beam
search over the batch, the same one utterance at a time (what batching saves), and batched
beam search with shallow fusion of an n-gram LM. Compute time is the search's alone; the RTF
adds the encoder's.

By default the model is freshly initialised (``--config``, ``--vocab-size`` ids), the features
are synthetic (normalised-fbank-like, durations uniform in ``--seconds``) and the LM is trained
on synthetic text (words of 1-8 tokens drawn from a Zipf distribution, ``--lm-order``). A fresh
model emits a symbol at almost every frame, the worst case for the beam and the LM (the most
distinct contexts). ``--model DIR`` measures a trained recogniser (with ``--data`` its features
of a data dir, ``--lm`` an LM dir from ``speechml asr train-lm``).

Example:
    .venv/bin/python bench/decode_search.py --num-utts 150
    .venv/bin/python bench/decode_search.py --model exp/base/model --data data/test --lm data/lm
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial

import benchlib
import numpy as np
import torch
from torch.utils.data import DataLoader

from speechml.asr.data import collate_asr
from speechml.asr.ngram_lm import LmDir, NgramLm, train_ngram_lm
from speechml.asr.recognizer import Recognizer
from speechml.asr.search import (
    Hypothesis,
    ShallowFusion,
    greedy_search,
    modified_beam_search,
)
from speechml.asr.transducer import Transducer
from speechml.data.datadir import DataDir

Batch = tuple[torch.Tensor, torch.Tensor, list[str | None]]  # features, lengths, languages


def synthetic_batches(args: argparse.Namespace, fbank) -> list[Batch]:
    """``--num-utts`` synthetic feature sequences in batches of ``--batch-size``."""
    durations = benchlib.synthetic_durations(args.num_utts, *args.seconds, seed=args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    feats = [benchlib.synthetic_features(s, fbank, gen) for s in durations]
    batches = []
    for start in range(0, len(feats), args.batch_size):
        part = feats[start : start + args.batch_size]
        lengths = torch.tensor([f.shape[0] for f in part])
        padded = torch.nn.utils.rnn.pad_sequence(part, batch_first=True)
        batches.append((padded, lengths, [None] * len(part)))
    return batches


def data_batches(recognizer: Recognizer, data: DataDir, batch_size: int) -> list[Batch]:
    """The recogniser's features of a data dir, in its order, in batches."""
    loader = DataLoader(recognizer.dataset(data), batch_size=batch_size, collate_fn=collate_asr)
    return [
        (b["feats"], b["feat_lengths"], [data.utt2lang.get(u) for u in b["utts"]]) for b in loader
    ]


def synthetic_lm(vocab_size: int, order: int, sentences: int, seed: int) -> NgramLm:
    """An LM of ``order`` on Zipf-distributed words over ids ``3 ..`` (id 2 the space)."""
    rng = np.random.default_rng(seed)
    words = [
        rng.zipf(1.3, size=rng.integers(1, 9)).clip(max=vocab_size - 4) + 2 for _ in range(2000)
    ]
    text = []
    for _ in range(sentences):
        chosen = rng.zipf(1.2, size=rng.integers(1, 5)).clip(max=len(words)) - 1
        ids = [int(t) for i, w in enumerate(chosen) for t in ([2] if i else []) + list(words[w])]
        text.append(ids)
    return train_ngram_lm(text, order, vocab_size)


def timed(search: Callable[[], list[Hypothesis]]) -> tuple[list[Hypothesis], float]:
    """What ``search()`` returns, and its wall time in seconds."""
    started = time.perf_counter()
    hyps = search()
    return hyps, time.perf_counter() - started


def one_by_one(model: Transducer, enc: torch.Tensor, lengths: torch.Tensor, beam: int):
    """Beam search of each utterance alone (batch of one)."""
    return [
        modified_beam_search(model, enc[i : i + 1, :n], lengths[i : i + 1], beam)[0]
        for i, n in enumerate(lengths.tolist())
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    benchlib.add_common_options(parser)
    parser.add_argument("--model", help="a recogniser directory (default: a fresh model)")
    parser.add_argument("--data", help="with --model: a data dir whose audio is decoded")
    parser.add_argument("--lm", help="an LM dir (train-lm; default: an LM of synthetic text)")
    parser.add_argument("--num-utts", type=int, default=150, help="synthetic utterances")
    parser.add_argument(
        "--seconds", type=float, nargs=2, default=[0.8, 2.0], help="synthetic durations range"
    )
    parser.add_argument("--vocab-size", type=int, default=165, help="fresh model's vocabulary")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--lm-weight", type=float, default=0.3)
    parser.add_argument("--lm-order", type=int, default=6, help="order of the synthetic LM")
    parser.add_argument("--lm-sentences", type=int, default=10000, help="synthetic LM text")
    args = parser.parse_args(argv)
    if args.quick:
        args.num_utts, args.vocab_size, args.lm_sentences, args.batch_size = 6, 16, 200, 4
    if args.data and not args.model:
        parser.error("--data needs --model")
    return args


@torch.no_grad()
def main(argv: list[str] | None = None) -> int:
    """Time each search arm over the same encoder outputs; print the table and summaries."""
    args = parse_args(argv)
    threads = benchlib.set_threads(args.threads)
    if args.model:
        recognizer = Recognizer.load(args.model)
        model, fbank = recognizer.model.eval(), recognizer.fbank
    else:
        config = benchlib.load_asr_config(args)
        model = benchlib.build_model(config.model, args.vocab_size, args.seed).eval()
        fbank = config.fbank
    if args.data:
        batches = data_batches(recognizer, DataDir.read(args.data), args.batch_size)
    else:
        batches = synthetic_batches(args, fbank)
    vocab = model.config.vocab_size
    started = time.perf_counter()
    lms = LmDir.load(args.lm) if args.lm else None
    shared = None if lms else synthetic_lm(vocab, args.lm_order, args.lm_sentences, args.seed)
    lm_seconds = time.perf_counter() - started
    utts = sum(len(b[1]) for b in batches)
    audio = sum(int(b[1].sum()) for b in batches) * fbank.frame_shift / 1000
    benchlib.print_header(
        "ASR search: greedy, beam, beam + n-gram LM",
        torch.device("cpu"),
        {
            "model": args.model or "fresh",
            "params": f"{model.num_parameters() / 1e6:.2f}M",
            "vocab": vocab,
            "utts": utts,
            "audio": f"{audio:.1f} s",
            "batch": args.batch_size,
            "beam": args.beam,
            "lm": args.lm or f"synthetic order {args.lm_order}, {args.lm_sentences} sentences",
            "lm_weight": args.lm_weight,
            "threads": threads,
        },
    )
    encoder_seconds = 0.0
    seconds = dict.fromkeys(["greedy", "beam", "beam one by one", "beam + LM"], 0.0)
    tokens = dict.fromkeys(seconds, 0)
    same_alone = same_weight0 = 0
    for feats, lengths, languages in batches:
        started = time.perf_counter()
        out = model.encoder(feats, lengths)
        encoder_seconds += time.perf_counter() - started
        enc, n = out.causal, out.lengths
        picked = [lms.for_language(lang) if lms else shared for lang in languages]
        fusion = [ShallowFusion(lm, args.lm_weight) if lm else None for lm in picked]
        arms = {
            "greedy": partial(greedy_search, model, enc, n),
            "beam": partial(modified_beam_search, model, enc, n, args.beam),
            "beam one by one": partial(one_by_one, model, enc, n, args.beam),
            "beam + LM": partial(modified_beam_search, model, enc, n, args.beam, fusion=fusion),
        }
        results = {}
        for name, search in arms.items():
            results[name], spent = timed(search)
            seconds[name] += spent
            tokens[name] += sum(len(h.tokens) for h in results[name])
        same_alone += sum(
            a.tokens == b.tokens
            for a, b in zip(results["beam"], results["beam one by one"], strict=True)
        )
        zero = [ShallowFusion(lm, 0.0) if lm else None for lm in picked]
        weight0 = modified_beam_search(model, enc, n, args.beam, fusion=zero)
        same_weight0 += sum(
            a.tokens == b.tokens for a, b in zip(results["beam"], weight0, strict=True)
        )
    rows = [
        [name, spent, (spent + encoder_seconds) / audio, tokens[name] / audio]
        for name, spent in seconds.items()
    ]
    print(benchlib.format_table(["search", "search_s", "RTF", "tokens_per_s"], rows))
    print(f"encoder: {encoder_seconds:.3f} s")
    print(f"LM load or training: {lm_seconds:.3f} s")
    for name, spent in seconds.items():
        print(f"{name} total: {spent + encoder_seconds:.3f} s")
    speed_up = seconds["beam one by one"] / seconds["beam"]
    print(f"speed-up of batching (one by one / batched): {speed_up:.2f}")
    print(f"same hypotheses batched and one by one: {same_alone}/{utts}")
    print(f"same hypotheses with LM weight 0: {same_weight0}/{utts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
