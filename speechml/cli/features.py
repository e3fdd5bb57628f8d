"""``speechml data`` verbs for features, augmentation and tokenizers.

- ``compute-fbank DIR [--nj N] [--config YAML] [--set num_mel_bins=80 ...] [--allow-pipes]``
- ``compute-cmvn DIR --out FILE [--max-utts N] [--config YAML] [--set num_mel_bins=80 ...]``
- ``speed-perturb SRC DST [--factors 0.9 1.0 1.1] [--allow-pipes]``
- ``train-tokenizer --out DIR --kind {char,unigram,bpe} [--vocab-size N] [--balance-languages]
  DIR...``
"""

from __future__ import annotations

import argparse
import logging
import time

from speechml.cli import add_overrides, in_range
from speechml.config import load_config
from speechml.data.datadir import DataDir
from speechml.data.tokenizer import KINDS, texts_from_data_dirs, train_tokenizer

logger = logging.getLogger(__name__)


def _compute_fbank(args: argparse.Namespace) -> None:
    """Fbank features of a data dir, stored in DIR/fbank/ for every later stage."""
    from speechml.data.feature_store import STORE_DIR, write_store
    from speechml.data.features import FbankConfig

    config = load_config(FbankConfig, args.config, args.overrides)
    started = time.monotonic()
    summary = write_store(DataDir.read(args.data_dir), config, args.nj, args.allow_pipes)
    store = f"{args.data_dir}/{STORE_DIR}"
    if summary.up_to_date:
        logger.info(
            "%s is up to date: %d utterances, %d frames", store, summary.utts, summary.frames
        )
        return
    logger.info(
        "wrote %s: %d utterances, %d frames, %.1f MB in %.1f s",
        store,
        summary.utts,
        summary.frames,
        summary.bytes / 1e6,
        time.monotonic() - started,
    )


def _compute_cmvn(args: argparse.Namespace) -> None:
    """Global CMVN statistics of a data dir's fbank features."""
    from speechml.data.feature_store import compute_cmvn_stats
    from speechml.data.features import FbankConfig

    config = load_config(FbankConfig, args.config, args.overrides)
    stats = compute_cmvn_stats(
        DataDir.read(args.data_dir), config, max_utts=args.max_utts, allow_pipe=args.allow_pipes
    )
    stats.save(args.out)
    logger.info("wrote %s: %d frames, %d dims", args.out, stats.count, config.num_mel_bins)


def _speed_perturb(args: argparse.Namespace) -> None:
    """Speed-perturbed copy of a data dir."""
    from speechml.data.augment import speed_perturb_data_dir

    result = speed_perturb_data_dir(
        DataDir.read(args.src), args.dst, factors=args.factors, allow_pipes=args.allow_pipes
    )
    logger.info("wrote %s: %d utterances", args.dst, len(result))


def _train_tokenizer(args: argparse.Namespace) -> None:
    """Shared tokenizer trained on the transcripts of data dirs."""
    data_dirs = [DataDir.read(path) for path in args.data_dirs]
    texts = texts_from_data_dirs(data_dirs, balance_languages=args.balance_languages)
    tokenizer = train_tokenizer(
        texts, args.kind, args.vocab_size, args.out, character_coverage=args.character_coverage
    )
    logger.info("wrote %s: %s tokenizer, %d ids", args.out, args.kind, tokenizer.vocab_size)


def register(verbs: argparse._SubParsersAction) -> None:
    """Add ``compute-fbank``, ``compute-cmvn``, ``speed-perturb`` and ``train-tokenizer`` to the
    ``data`` group."""
    fbank = verbs.add_parser(
        "compute-fbank",
        help="compute a data dir's fbank features once, into DIR/fbank/",
        description="Kaldi fbank features of every utterance, stored (numpy shards, an index, "
        "fbank.json with the options and the audio's fingerprints) in DIR/fbank/, where "
        "training, decoding and compute-cmvn read them. Nothing is computed when the store is "
        "up to date; other options or changed audio compute it again.",
    )
    fbank.add_argument("data_dir", metavar="DIR", help="data dir")
    fbank.add_argument("--nj", type=in_range(1), default=1, help="parallel processes (default: 1)")
    fbank.add_argument("--config", help="fbank config YAML (FbankConfig fields)")
    add_overrides(fbank, "num_mel_bins=80")
    fbank.add_argument("--allow-pipes", action="store_true", help="run wav.scp pipe entries")
    fbank.set_defaults(func=_compute_fbank)

    cmvn = verbs.add_parser(
        "compute-cmvn",
        help="global CMVN statistics of fbank features",
        description="Mean and standard deviation of the Kaldi fbank features of a data dir "
        "(read from DIR/fbank/ where compute-fbank stored them).",
    )
    cmvn.add_argument("data_dir", metavar="DIR", help="data dir")
    cmvn.add_argument(
        "--out", required=True, help="stats file: .safetensors, or .json for readable text"
    )
    cmvn.add_argument(
        "--max-utts",
        type=in_range(1),
        help="use at most N utterances, evenly spaced (default: all)",
    )
    cmvn.add_argument("--config", help="fbank config YAML (FbankConfig fields)")
    add_overrides(cmvn, "num_mel_bins=80")
    cmvn.add_argument("--allow-pipes", action="store_true", help="run wav.scp pipe entries")
    cmvn.set_defaults(func=_compute_cmvn)

    speed = verbs.add_parser(
        "speed-perturb",
        help="speed-perturbed copy of a data dir",
        description="Kaldi-style speed perturbation: one copy per factor, ids prefixed sp<f>-, "
        "16 kHz WAVs under DST/wav/. Re-running skips WAVs already written.",
    )
    speed.add_argument("src", metavar="SRC", help="source data dir")
    speed.add_argument("dst", metavar="DST", help="new data dir")
    speed.add_argument(
        "--factors",
        type=in_range(0, kind=float, low_open=True),
        nargs="+",
        default=[0.9, 1.0, 1.1],
        help="speed factors (default: 0.9 1.0 1.1)",
    )
    speed.add_argument("--allow-pipes", action="store_true", help="run wav.scp pipe entries")
    speed.set_defaults(func=_speed_perturb)

    tok = verbs.add_parser(
        "train-tokenizer",
        help="train the shared tokenizer on data dirs' text",
        description="Train one tokenizer (blank id 0) on the transcripts of every data dir given.",
    )
    tok.add_argument("data_dirs", metavar="DIR", nargs="+", help="data dirs with a text file")
    tok.add_argument("--out", required=True, help="tokenizer directory")
    tok.add_argument("--kind", required=True, choices=KINDS, help="tokenizer kind")
    tok.add_argument(
        "--vocab-size",
        type=int,
        help="ids in all (required for unigram/bpe; char: default every character)",
    )
    tok.add_argument(
        "--balance-languages",
        action="store_true",
        help="sample every language (utt2lang) as often as the largest",
    )
    tok.add_argument(
        "--character-coverage",
        type=in_range(0, 1, float, low_open=True),
        default=1.0,
        help="sentencepiece character coverage (default: 1.0, every character)",
    )
    tok.set_defaults(func=_train_tokenizer)
