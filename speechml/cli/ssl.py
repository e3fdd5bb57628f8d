"""``speechml ssl``: wav2vec2 (continued) pretraining, CTC fine-tuning, decoding, report."""

from __future__ import annotations

import argparse

from speechml.cli import add_overrides, in_range, labelled_dirs
from speechml.config import load_config
from speechml.experiment import record_experiment
from speechml.io import atomic_write_text
from speechml.score.decode_dir import HYP_FILE, transcripts_path


def _pretrain(args: argparse.Namespace) -> None:
    from speechml.ssl.pretrain import PretrainConfig, pretrain

    config = load_config(PretrainConfig, args.config, args.overrides)
    record_experiment(args.exp, config, args.argv)
    print(f"{pretrain(config, args.train, args.dev, args.exp, args.init)}: wav2vec2 model")


def _finetune(args: argparse.Namespace) -> None:
    from speechml.ssl.finetune import CtcConfig, train_ctc

    config = load_config(CtcConfig, args.config, args.overrides)
    record_experiment(args.exp, config, args.argv)
    model_dir = train_ctc(config, args.train, args.dev, args.exp, args.init, args.related)
    print(f"{model_dir}: wav2vec2 CTC recogniser")


def _decode(args: argparse.Namespace) -> None:
    from speechml.ssl.finetune import decode_to_dir

    texts = decode_to_dir(args.model, args.data, args.out, args.batch_size)
    print(f"{len(texts)} utterances -> {transcripts_path(args.out)}")


def _report(args: argparse.Namespace) -> None:
    from speechml.ssl.report import cpt_summary

    text = cpt_summary(
        args.lang,
        labelled_dirs(args.systems, "--systems"),
        labelled_dirs(args.pretraining, "--pretraining"),
    )
    atomic_write_text(args.out, text)
    print(text)


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``ssl`` verbs: pretrain, finetune, decode, report."""
    pre = verbs.add_parser(
        "pretrain",
        help="wav2vec2 self-supervised pretraining (from scratch or continued); writes EXP/model",
    )
    pre.add_argument("--config", help="PretrainConfig YAML (default: built-in defaults)")
    pre.add_argument("--train", required=True, help="data dir of the audio (no text needed)")
    pre.add_argument("--dev", required=True, help="data dir of held-out audio (validation)")
    pre.add_argument("--exp", required=True, help="experiment dir")
    pre.add_argument(
        "--init", help="a wav2vec2 pretraining checkpoint dir to continue (XLS-R, MMS, ours)"
    )
    add_overrides(pre)
    pre.set_defaults(func=_pretrain)

    fine = verbs.add_parser(
        "finetune", help="CTC fine-tuning of a wav2vec2 checkpoint; writes EXP/model"
    )
    fine.add_argument("--config", help="CtcConfig YAML (default: built-in defaults)")
    fine.add_argument("--train", required=True, help="labelled data dir of the target language")
    fine.add_argument("--dev", required=True, help="labelled dev data dir (best checkpoint)")
    fine.add_argument("--exp", required=True, help="experiment dir")
    fine.add_argument("--init", required=True, help="the wav2vec2 checkpoint dir to start from")
    fine.add_argument(
        "--related", help="labelled data dir of a related language, mixed in (related_ratio)"
    )
    add_overrides(fine)
    fine.set_defaults(func=_finetune)

    decode = verbs.add_parser("decode", help=f"greedy CTC transcripts into DECODE_DIR/{HYP_FILE}")
    decode.add_argument("--model", required=True, help="model dir (EXP/model of finetune)")
    decode.add_argument("--data", required=True, help="data dir to decode")
    decode.add_argument("--out", required=True, help="decode dir")
    decode.add_argument("--batch-size", type=in_range(1), default=8)
    decode.set_defaults(func=_decode)

    report = verbs.add_parser("report", help="the continued-pretraining summary (markdown)")
    report.add_argument("--lang", required=True, help="the target language")
    report.add_argument(
        "--systems", nargs="+", required=True, metavar="LABEL=EXP",
        help="fine-tuning experiments, each scored in EXP/decode_test_<lang>",
    )  # fmt: skip
    report.add_argument(
        "--pretraining", nargs="+", required=True, metavar="LABEL=EXP",
        help="pretraining experiments (diagnostics from EXP/log/metrics.jsonl)",
    )  # fmt: skip
    report.add_argument("--out", required=True, help="markdown file to write")
    report.set_defaults(func=_report)
