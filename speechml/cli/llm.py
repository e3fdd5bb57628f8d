"""``speechml llm``: the audio LLM's stages, one verb each.

Example::

    speechml llm pretrain-lm --text data/train --exp exp/llm_lm
    speechml llm mixture --data data/train --out data/llm_train --set examples=2000
    speechml llm train --config conf/llm.yaml --stage align --train data/llm_train \\
        --dev data/llm_dev --llm exp/llm_lm/model --encoder-from exp/base/model --exp exp/llm_align
    speechml llm train --config conf/llm.yaml --stage instruct \\
        --init-adapter exp/llm_align/adapter --train data/llm_train --dev data/llm_dev \\
        --llm exp/llm_lm/model --encoder-from exp/base/model --exp exp/llm_instruct
    speechml llm evaluate --config conf/llm.yaml --data data/llm_test --llm exp/llm_lm/model \\
        --encoder-from exp/base/model --adapter exp/llm_instruct/adapter --out exp/llm_instruct/eval
"""

from __future__ import annotations

import argparse
from pathlib import Path

from speechml.cli import add_overrides, in_range, labelled_dirs
from speechml.config import load_config
from speechml.data.datadir import DataDir
from speechml.experiment import record_experiment
from speechml.io import atomic_write_text
from speechml.lang.normalize import TextNormalizer


def _pretrain_lm(args: argparse.Namespace) -> None:
    from speechml.llm.train import LmPretrainConfig, pretrain_lm

    config = load_config(LmPretrainConfig, args.config, args.overrides)
    record_experiment(args.exp, config, args.argv)
    normalize = TextNormalizer()
    texts = [normalize(text) for path in args.text for text in DataDir.read(path).text.values()]
    print(f"{pretrain_lm(config, texts, args.exp)}: tiny LLM and its chat tokenizer")


def _mixture(args: argparse.Namespace) -> None:
    from speechml.llm.mixture import MixtureConfig, build_mixture, write_examples
    from speechml.llm.spoken import SPOKEN_DIR, render_spoken

    config = load_config(MixtureConfig, args.config, args.overrides)
    examples = build_mixture(config, [DataDir.read(path) for path in args.data])
    examples = render_spoken(
        examples, Path(args.out) / SPOKEN_DIR, config.spoken_speed, args.sample_rate, nj=args.nj
    )
    print(f"{write_examples(examples, args.out)}: {len(examples)} examples")


def _train(args: argparse.Namespace) -> None:
    from speechml.llm.train import AudioLlmConfig, train_audio_llm

    config = load_config(AudioLlmConfig, args.config, args.overrides)
    record_experiment(args.exp, config, args.argv)
    train_audio_llm(
        config, args.train, args.dev, args.exp, args.llm, args.encoder_from, args.stage,
        args.init_adapter,
    )  # fmt: skip
    print(f"{Path(args.exp) / 'adapter'}: projector and LoRA adapter ({args.stage})")


def _evaluate(args: argparse.Namespace) -> None:
    from speechml.llm.evaluate import answer_examples, score_answers, write_report
    from speechml.llm.mixture import read_examples
    from speechml.llm.train import AudioLlmConfig, build_audio_llm

    config = load_config(AudioLlmConfig, args.config, args.overrides)
    examples = read_examples(args.data)
    model = build_audio_llm(config, args.llm, args.encoder_from, DataDir.read(examples[0].data_dir))
    model.load_trainable(args.adapter)
    answers = answer_examples(model, examples, config.system, max_new_tokens=args.max_new_tokens)
    report = write_report(examples, answers, score_answers(examples, answers), args.out)
    print(report.read_text(encoding="utf-8"))


def _report(args: argparse.Namespace) -> None:
    from speechml.llm.evaluate import compare_systems

    text = compare_systems(args.title, labelled_dirs(args.systems, "--systems"))
    atomic_write_text(args.out, text)
    print(text)


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="AudioLlmConfig YAML (default: built-in defaults)")
    parser.add_argument("--llm", required=True, help="the base causal LM dir (and tokenizer)")
    parser.add_argument(
        "--encoder-from",
        help="speech encoder: a recogniser dir (conformer) or a transformers dir (hf, whisper)",
    )
    add_overrides(parser)


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``llm`` verbs: pretrain-lm, mixture, train, evaluate, report."""
    lm = verbs.add_parser(
        "pretrain-lm", help="train the tiny LLM and its chat tokenizer on text; writes EXP/model"
    )
    lm.add_argument("--config", help="LmPretrainConfig YAML (default: built-in defaults)")
    lm.add_argument("--text", action="append", required=True, help="data dir; repeatable")
    lm.add_argument("--exp", required=True, help="experiment dir")
    add_overrides(lm)
    lm.set_defaults(func=_pretrain_lm)

    mix = verbs.add_parser(
        "mixture",
        help="draw an instruction mixture from data dirs; writes OUT/instructions.jsonl and the "
        "spoken instructions' audio (the data dir OUT/spoken)",
    )
    mix.add_argument("--config", help="MixtureConfig YAML (default: built-in defaults)")
    mix.add_argument("--data", action="append", required=True, help="data dir; repeatable")
    mix.add_argument("--out", required=True, help="output dir")
    mix.add_argument(
        "--sample-rate",
        type=in_range(1),
        default=16000,
        help="Hz of the spoken instructions' audio",
    )
    mix.add_argument("--nj", type=in_range(1), default=1, help="espeak-ng jobs at once (default 1)")
    add_overrides(mix, "examples=100")
    mix.set_defaults(func=_mixture)

    train = verbs.add_parser(
        "train", help="projector alignment or LoRA instruction tuning; writes EXP/adapter"
    )
    _model_options(train)
    train.add_argument("--stage", required=True, choices=["align", "instruct"])
    train.add_argument("--train", required=True, help="dir with instructions.jsonl")
    train.add_argument("--dev", required=True, help="dir with instructions.jsonl (valid_loss)")
    train.add_argument("--exp", required=True, help="experiment dir")
    train.add_argument("--init-adapter", help="an earlier stage's EXP/adapter to start from")
    train.set_defaults(func=_train)

    evaluate = verbs.add_parser(
        "evaluate", help="answer an instruction set and score it per task and language"
    )
    _model_options(evaluate)
    evaluate.add_argument("--data", required=True, help="dir with instructions.jsonl")
    evaluate.add_argument("--adapter", required=True, help="EXP/adapter of a training stage")
    evaluate.add_argument("--out", required=True, help="where the answers and report go")
    evaluate.add_argument(
        "--max-new-tokens",
        type=in_range(1),
        default=32,
        help="longest answer in tokens (default 32)",
    )
    evaluate.set_defaults(func=_evaluate)

    report = verbs.add_parser("report", help="several systems' evaluations side by side (markdown)")
    report.add_argument("--title", default="Audio LLM", help="the section's title")
    report.add_argument(
        "--systems", nargs="+", required=True, metavar="NAME=DIR", help="evaluation dirs"
    )
    report.add_argument("--out", required=True, help="the markdown file")
    report.set_defaults(func=_report)
